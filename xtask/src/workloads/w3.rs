//! W3: ResNet-20, CIFAR style (`WORKLOADS.md`), one training step with SGD.
//!
//! ```text
//! [b, 3, 32, 32] ─conv 3×3, 16─BN─ReLU─▶ layer1: 3 basic blocks at 16 channels, 32×32
//!                ─▶ layer2: 3 basic blocks at 32 channels, 16×16 (the first stride 2)
//!                ─▶ layer3: 3 basic blocks at 64 channels, 8×8 (the first stride 2)
//!                ─global average pool─▶ [b, 64] ─dense─▶ [b, 10] logits
//!
//! basic block:  x ─conv 3×3─BN─ReLU─conv 3×3─BN─┐
//!                 └─ identity, or 1×1 conv (stride 2)─BN ┴─ + ─ReLU─▶
//! ```
//!
//! The network is nabla-models' [`ResNetConfig::resnet20`]: convolutions padded to keep the
//! side, without bias, He-normal; batch norms in training mode (batch statistics, running
//! statistics updated); projection shortcuts ("option B") where the shape changes, as W3
//! specifies — 272,474 parameters, checked against [`resnet20_parameters`].
//!
//! **W3**: one training step on a batch of 32 (softmax cross-entropy, backward, SGD with
//! learning rate 0.01 and momentum 0.9), variant `sgd`, in samples/s. The steps, the synthetic
//! batches (`N(0, 1)` images, 4 batches × 2 label sets in rotation) and the checks are in
//! [`super::training`]; `--verbose` times the stem, each of the nine blocks, the pool and the
//! head alone.

use nabla_layers::{GlobalAvgPool2d, Module, ReLU};
use nabla_models::{ResNet, ResNetConfig};
use nabla_tensor::Rng;

use super::training::{measure_training, module_forward, Case, Input, Part};
use super::w1::sgd;
use super::{Measurement, Runner, Settings, Workload};
use crate::system::NABLA_VERSION;

/// The W3 entry of the registry.
pub const W3: Workload = Workload {
    id: "W3",
    summary: "ResNet-20 (CIFAR, BatchNorm, projection shortcuts) on 3x32x32, SGD training step, batch 32 (samples/s)",
    notes: "inputs N(0,1) f32, seed 0, 4 batches in rotation, each with 2 random label sets on alternate rounds \
            (floor ~0.62); BatchNorm in training mode; SGD lr 0.01 momentum 0.9",
    reference: None,
    runners: &[Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_train }],
};

/// Training batch size.
const TRAIN_BATCH: usize = 32;

/// The network, as nabla-models builds it.
pub fn resnet20(rng: &mut Rng) -> ResNet {
    ResNetConfig::resnet20(10).init(rng)
}

/// Learned parameters of a CIFAR ResNet whose stages are `(blocks, width)`, from the
/// architecture: a 3×3 stem convolution (no bias) and its batch norm; per basic block two 3×3
/// convolutions and two batch norms, plus a 1×1 convolution and a batch norm on the shortcut
/// where the channels change; a dense head. (Batch norms learn `γ` and `β`.)
pub const fn cifar_resnet_parameters(stages: &[(usize, usize)], classes: usize) -> usize {
    let mut channels = stages[0].1;
    let mut total = 3 * channels * 9 + 2 * channels;
    let mut s = 0;
    while s < stages.len() {
        let (blocks, width) = stages[s];
        let mut b = 0;
        while b < blocks {
            total += 9 * channels * width + 9 * width * width + 4 * width;
            if channels != width {
                total += channels * width + 2 * width;
            }
            channels = width;
            b += 1;
        }
        s += 1;
    }
    total + channels * classes + classes
}

/// W3's parameter count: ResNet-20 with projection shortcuts, 10 classes.
pub const fn resnet20_parameters() -> usize {
    cifar_resnet_parameters(&[(3, 16), (3, 32), (3, 64)], 10)
}

/// The stem, the nine blocks, the pool and the head, for the `--verbose` table.
fn parts(model: &ResNet) -> Vec<Part<'_>> {
    let mut parts = vec![Part::of("conv1", &model.conv1), Part::of("bn1", &model.bn1), Part::of("relu", &ReLU)];
    for (i, stage) in model.stages().iter().enumerate() {
        parts.extend(stage.layers().map(|(name, block)| Part::of(format!("layer{}.{name}", i + 1), block)));
    }
    parts.push(Part::of("avgpool", &GlobalAvgPool2d as &dyn Module));
    parts.push(Part::of("fc", &model.fc));
    parts
}

/// ResNet-20 as a benchmark case.
pub const RESNET20: Case<ResNet> = Case {
    workload: "W3",
    model: resnet20,
    forward: module_forward,
    parts,
    parameters: resnet20_parameters(),
    input: Input::Normal,
    sample: &[3, 32, 32],
    classes: 10,
};

fn run_train(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    sink(measure_training(settings, &RESNET20, "sgd", TRAIN_BATCH, sgd)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::training::check_training;

    #[test]
    fn resnet20_is_the_workloads_network_and_trains() {
        // The paper's 0.27 M, with the two projection shortcuts (16·32 + 2·32 + 32·64 + 2·64).
        assert_eq!(resnet20_parameters(), 272_474);
        check_training(&RESNET20, 4, sgd).unwrap();
    }
}
