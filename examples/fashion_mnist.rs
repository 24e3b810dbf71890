//! # Fashion-MNIST: the same network and API on harder images
//!
//! Zalando's Fashion-MNIST has MNIST's format — 60,000 + 10,000 grey 28×28 images in 10
//! classes — but shows clothes (T-shirt, trouser, pullover, dress, coat, sandal, shirt,
//! sneaker, bag, ankle boot), which are harder to tell apart than digits. The dense network of
//! lesson 1 reaches 89.70% here (10 epochs, 51 s of training on the 2-core reference machine,
//! seed 0), where it reaches 98.45% on digits.
//!
//! The data is not stored in this repository: it is read from `$NABLA_DATA/fashion-mnist/`
//! (or the course machines' `../shared/data/fashion-mnist/`); when it is absent the example
//! says where it looked and how to get it.
//!
//! Run: `cargo run --release --example fashion_mnist` (same flags as `mnist_mlp`; `--help`).
//! Writes history, plot, weights and checkpoint under `target/runs/fashion_mnist/`.

mod common;

use clap::Parser;
use nabla::data::{mnist, Normalize, Split};
use nabla::layers::{DropoutConfig, Flatten, LinearConfig, ReLU};
use nabla::prelude::*;

fn main() {
    common::report_errors(|| {
        let args = common::Args::parse();
        let train = mnist::load_fashion(Split::Train)?;
        let test = mnist::load_fashion(Split::Test)?;
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
        let settings =
            common::Settings { name: "fashion_mnist", epochs: 10, batch_size: 128, lr: 1e-3, validation: 5000 };
        common::run(model, train, test, Normalize::fashion_mnist(), settings, &args)?;
        Ok(())
    })
}
