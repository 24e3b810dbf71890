//! W1 and W1i: the multilayer perceptron 784-512-512-10 with ReLU (`WORKLOADS.md`).
//!
//! ```text
//! [batch, 784] ─Linear─▶ 512 ─ReLU─▶ ─Linear─▶ 512 ─ReLU─▶ ─Linear─▶ [batch, 10] logits
//! ```
//!
//! - **W1**: one training step on a batch of 128 (softmax cross-entropy, backward, update),
//!   variants `sgd` (SGD, learning rate 0.01, momentum 0.9) and `adam` (Adam, learning rate
//!   10⁻³, β = (0.9, 0.999)), in samples/s;
//! - **W1i**: inference (`no_grad`) on a batch of 256, variant `infer`, in samples/s.
//!
//! The network is built as a user builds it, a [`Sequential`] of [`LinearConfig`] layers with
//! their default (Glorot-uniform) initialisation and [`ReLU`]; the steps, the synthetic
//! batches and the checks are in [`super::training`].

use nabla_autograd::Var;
use nabla_layers::{LinearConfig, ReLU, Sequential};
use nabla_tensor::Rng;
use nabla_train::optim::{AdamConfig, Optimizer, SgdConfig};

use super::training::{measure_inference, measure_training, module_forward, sequential_parts, Case, Input};
use super::{Measurement, Runner, Settings, Workload};
use crate::system::NABLA_VERSION;

/// The W1 entry of the registry.
pub const W1: Workload = Workload {
    id: "W1",
    summary: "MLP 784-512-512-10 ReLU, softmax cross-entropy, training step, batch 128 (samples/s)",
    notes: NOTES,
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_train }],
};

/// The W1i entry of the registry.
pub const W1I: Workload = Workload {
    id: "W1i",
    summary: "MLP 784-512-512-10 ReLU, inference (no_grad), batch 256 (samples/s)",
    notes: NOTES,
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_infer }],
};

const NOTES: &str = "inputs N(0,1) f32, seed 0, 4 batches in rotation; training: each batch with 2 random label sets \
                     on alternate rounds, so the loss cannot collapse (floor ~0.62); SGD lr 0.01 momentum 0.9, Adam lr 1e-3";

/// Training batch size.
const TRAIN_BATCH: usize = 128;
/// Inference batch size.
const INFER_BATCH: usize = 256;

/// The network: 784 → 512 → 512 → 10, ReLU between.
pub fn mlp(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .add(LinearConfig::new(784, 512).init(rng))
        .add(ReLU)
        .add(LinearConfig::new(512, 512).init(rng))
        .add(ReLU)
        .add(LinearConfig::new(512, 10).init(rng))
}

/// The MLP as a benchmark case.
pub const MLP: Case<Sequential> = Case {
    workload: "W1",
    model: mlp,
    forward: module_forward,
    parts: sequential_parts,
    parameters: 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10,
    input: Input::Normal,
    sample: &[784],
    classes: 10,
};

/// SGD with momentum 0.9, the `sgd` variant's optimizer.
pub fn sgd(parameters: Vec<(String, Var)>) -> Box<dyn Optimizer> {
    Box::new(SgdConfig::new(0.01).with_momentum(0.9).init(parameters))
}

/// Adam with PyTorch's and Keras' defaults, the `adam` variant's optimizer.
pub fn adam(parameters: Vec<(String, Var)>) -> Box<dyn Optimizer> {
    Box::new(AdamConfig::new(1e-3).init(parameters))
}

fn run_train(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    // SGD first: it keeps less state than Adam, so its peak-memory figure is its own.
    sink(measure_training(settings, &MLP, "sgd", TRAIN_BATCH, sgd)?);
    sink(measure_training(settings, &MLP, "adam", TRAIN_BATCH, adam)?);
    Ok(())
}

fn run_infer(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_inference(settings, &Case { workload: "W1i", ..MLP }, INFER_BATCH)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::training::{check_inference, check_training};

    #[test]
    fn the_mlp_is_the_workloads_network_and_trains() {
        check_inference(&MLP, 3).unwrap();
        check_training(&MLP, 16, sgd).unwrap();
        check_training(&MLP, 16, adam).unwrap();
    }
}
