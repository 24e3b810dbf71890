//! # Lesson 6 — Major architectures: a residual network on CIFAR-10
//!
//! ResNet-20 (He et al., 2015) reads 32×32 colour photos of ten kinds of things — airplane,
//! automobile, bird, cat, deer, dog, frog, horse, ship, truck — through 19 convolutions in
//! residual blocks and one dense layer:
//!
//! ```text
//! [b, 3, 32, 32] ─conv 3×3, 16─BN─ReLU─▶ 3 blocks at 16 ─▶ [b, 16, 32, 32]
//!                ─▶ 3 blocks at 32 (first stride 2) ─▶ [b, 32, 16, 16]
//!                ─▶ 3 blocks at 64 (first stride 2) ─▶ [b, 64, 8, 8] ─avg pool─▶ [b, 64] ─dense─▶ [b, 10]
//! block: x ─conv─BN─ReLU─conv─BN─(+ x, or a 1×1 projection of x)─ReLU─▶
//! ```
//!
//! Training uses the standard CIFAR recipe: each image is padded by 4 pixels and a random
//! 32×32 window cut from it, mirrored half of the time, and normalised with the per-channel
//! statistics of CIFAR-10; SGD with Nesterov momentum 0.9 and weight decay 5·10⁻⁴, batches of
//! 32, the learning rate rising over the first epoch to 0.05 and then decaying along a cosine
//! to 1% of it. (`--lr` sets that peak rate.)
//!
//! The data is not stored in this repository: it is read from `$NABLA_DATA/cifar10-subset/`
//! (or `cifar-10-batches-bin/`; on the course machines `../shared/data/cifar10-subset/`, a
//! subset of 4,000 training and 1,000 test images); when it is absent the example says where
//! it looked. All training images are used for training (no validation split); the test
//! images are scored once, at the end. On the full CIFAR-10 (50,000 + 10,000 images, the
//! official `cifar-10-batches-bin/` folder) it is the same command with more epochs, e.g.
//! `--epochs 30` (about 12 times longer per epoch).
//!
//! Run: `cargo run --release --example cifar_resnet` (flags: `--epochs`, `--batch-size`,
//! `--lr`, `--seed`, `--out`, `--resume`, `--quiet`; see `--help`). Writes history, plot,
//! weights and checkpoint under `target/runs/cifar_resnet/`.
//!
//! Measured on the 2-core reference machine with the defaults (seed 0) on the 4,000-image
//! subset, other builds mostly idle (load average about 2, the run itself included):
//! **50.30% test accuracy** after 6 epochs, 307 s of training (about 51 s an epoch), 5 min 15 s
//! from the command to the last line. The run is deterministic: under a load average of 6–7
//! from other builds the same 50.30% took 606 s of training. Seed 1 reaches 54.40%; eight
//! epochs of batches of 64 at a peak rate of 0.1 reach 52.70%.
//!
//! Where the time goes: a training step costs about 13–17 ms per image, the backward pass
//! about three quarters of it. Batch normalisation (a composite of reductions and broadcast
//! arithmetic) takes about half, the convolutions of the first stage (32×32 maps of 16
//! channels, whose weight gradients are the dearest part) most of the rest.

mod common;

use clap::Parser;
use nabla::data::{cifar, Compose, Normalize, RandomCrop, RandomHorizontalFlip, Split};
use nabla::models::ResNetConfig;
use nabla::prelude::*;

fn main() {
    common::report_errors(|| {
        let args = common::Args::parse();
        let train = cifar::load(Split::Train)?;
        let test = cifar::load(Split::Test)?;
        let model = ResNetConfig::resnet20(10).init(&mut rng(args.seed));
        let settings = common::Settings { name: "cifar_resnet", epochs: 6, batch_size: 32, lr: 0.05, validation: 0 };
        let extras = common::Extras {
            augment: Some(Compose::new().with(RandomCrop::new(32, 4)).with(RandomHorizontalFlip::new(0.5))),
            sgd: Some(SgdConfig::new(0.05).with_momentum(0.9).with_nesterov(true).with_weight_decay(5e-4)),
            warmup_epochs: 1,
        };
        let accuracy = common::run_with(model, train, test, Normalize::cifar10(), settings, extras, &args)?;
        if accuracy < 0.45 {
            eprintln!("note: below the course's 45% target for the 4,000-image subset");
        }
        Ok(())
    })
}
