//! W2 and W2i: the small convolutional network of `WORKLOADS.md`.
//!
//! ```text
//! [b, 1, 28, 28] ─Conv 3×3, 32─ReLU─▶ [b, 32, 26, 26] ─MaxPool 2─▶ [b, 32, 13, 13]
//!                ─Conv 3×3, 64─ReLU─▶ [b, 64, 11, 11] ─MaxPool 2─▶ [b, 64, 5, 5]
//!                ─Flatten─▶ [b, 1600] ─Linear─▶ 128 ─ReLU─▶ ─Linear─▶ [b, 10] logits
//! ```
//!
//! (convolutions unpadded, `Padding::Valid`, the [`Conv2dConfig`] default).
//!
//! - **W2**: one training step on a batch of 64 with Adam (learning rate 10⁻³), variant
//!   `adam`, in samples/s;
//! - **W2i**: inference (`no_grad`) on a batch of 256, variant `infer`, in samples/s.
//!
//! The steps, the synthetic batches and the checks are in [`super::training`].

use nabla_layers::{Conv2dConfig, Flatten, LinearConfig, MaxPool2d, ReLU, Sequential};
use nabla_tensor::Rng;

use super::training::{measure_inference, measure_training, module_forward, sequential_parts, Case, Input};
use super::w1::adam;
use super::{Measurement, Runner, Settings, Workload};
use crate::system::NABLA_VERSION;

/// The W2 entry of the registry.
pub const W2: Workload = Workload {
    id: "W2",
    summary: "CNN conv32-pool-conv64-pool-dense128-dense10 on 1x28x28, Adam training step, batch 64 (samples/s)",
    notes: NOTES,
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_train }],
};

/// The W2i entry of the registry.
pub const W2I: Workload = Workload {
    id: "W2i",
    summary: "CNN conv32-pool-conv64-pool-dense128-dense10 on 1x28x28, inference (no_grad), batch 256 (samples/s)",
    notes: NOTES,
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_infer }],
};

const NOTES: &str = "inputs N(0,1) f32, seed 0, 4 batches in rotation; training: each batch with 2 random label sets \
                     on alternate rounds, so the loss cannot collapse (floor ~0.62); Adam lr 1e-3";

/// Training batch size.
const TRAIN_BATCH: usize = 64;
/// Inference batch size.
const INFER_BATCH: usize = 256;

/// The network, with the layers' default initialisation. Each convolution ends with its ReLU
/// (`with_relu`, Keras' `activation="relu"`), so that convolution, bias and ReLU run as one op.
pub fn cnn(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .add(Conv2dConfig::new(1, 32, [3, 3]).with_relu(true).init(rng))
        .add(MaxPool2d::new([2, 2]))
        .add(Conv2dConfig::new(32, 64, [3, 3]).with_relu(true).init(rng))
        .add(MaxPool2d::new([2, 2]))
        .add(Flatten)
        .add(LinearConfig::new(64 * 5 * 5, 128).init(rng))
        .add(ReLU)
        .add(LinearConfig::new(128, 10).init(rng))
}

/// The CNN as a benchmark case.
pub const CNN: Case<Sequential> = Case {
    workload: "W2",
    model: cnn,
    forward: module_forward,
    parts: sequential_parts,
    parameters: (32 * 9 + 32) + (64 * 32 * 9 + 64) + (1600 * 128 + 128) + (128 * 10 + 10),
    input: Input::Normal,
    sample: &[1, 28, 28],
    classes: 10,
};

fn run_train(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_training(settings, &CNN, "adam", TRAIN_BATCH, adam)?);
    Ok(())
}

fn run_infer(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_inference(settings, &Case { workload: "W2i", ..CNN }, INFER_BATCH)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::training::{check_inference, check_training};

    #[test]
    fn the_cnn_is_the_workloads_network_and_trains() {
        check_inference(&CNN, 3).unwrap();
        check_training(&CNN, 8, adam).unwrap();
    }
}
