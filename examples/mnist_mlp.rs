//! # Lesson 1 — What deep learning is: a dense network on MNIST
//!
//! The course's first demo. A multilayer perceptron reads each 28×28 digit as 784 numbers and
//! learns to say which digit it is:
//!
//! ```text
//! [batch, 1, 28, 28] ─Flatten─▶ [batch, 784] ─Linear─▶ 512 ─ReLU─Dropout(0.2)─▶
//!                    ─Linear─▶ 512 ─ReLU─Dropout(0.2)─▶ ─Linear─▶ [batch, 10] logits
//! ```
//!
//! trained with softmax cross-entropy and Adam (learning rate 10⁻³, cosine decay) on the full
//! MNIST training set that ships in `data/mnist` (55,000 images for training, 5,000 held out
//! for validation), then scored on the 10,000 test images.
//!
//! Run: `cargo run --release --example mnist_mlp` (flags: `--epochs`, `--batch-size`, `--lr`,
//! `--seed`, `--out`, `--resume`, `--quiet`; see `--help`). It prints the model summary, a
//! progress bar per epoch and the final test accuracy, and writes the history (CSV, JSON), an
//! SVG plot of loss and accuracy, the weights and a checkpoint under `target/runs/mnist_mlp/`.
//!
//! Measured on the 2-core reference machine with the defaults (seed 0): 98.45% test accuracy
//! after 10 epochs, 74 s of training (about 7 s an epoch).

mod common;

use clap::Parser;
use nabla::data::{mnist, Normalize, Split};
use nabla::layers::{DropoutConfig, Flatten, LinearConfig, ReLU};
use nabla::prelude::*;

fn main() {
    common::report_errors(|| {
        let args = common::Args::parse();
        let mut r = rng(args.seed);
        let model = Sequential::new()
            .add(Flatten)
            .add(LinearConfig::new(784, 512).init(&mut r))
            .add(ReLU)
            .add(DropoutConfig::new(0.2).init(&mut r))
            .add(LinearConfig::new(512, 512).init(&mut r))
            .add(ReLU)
            .add(DropoutConfig::new(0.2).init(&mut r))
            .add(LinearConfig::new(512, 10).init(&mut r));
        let settings = common::Settings { name: "mnist_mlp", epochs: 10, batch_size: 128, lr: 1e-3, validation: 5000 };
        let accuracy = common::run(
            model,
            mnist::load(Split::Train)?,
            mnist::load(Split::Test)?,
            Normalize::mnist(),
            settings,
            &args,
        )?;
        if accuracy < 0.98 {
            eprintln!("note: below the course's 98.0% target");
        }
        Ok(())
    })
}
