//! # nabla
//!
//! A deep-learning course in Rust: tensors, backpropagation, layers, architectures, datasets
//! and the training loop, each a focused crate, re-exported here.
//!
//! | crate | what it holds | depends on |
//! |---|---|---|
//! | [`tensor`] (`nabla-tensor`) | n-d arrays and their kernels: gemm matmul, im2col conv, pooling | ndarray, gemm, rayon |
//! | [`autograd`] (`nabla-autograd`) | [`Var`](autograd::Var), the tape, backward, gradient checks | `nabla-tensor` |
//! | [`layers`] (`nabla-layers`) | `Module`, layers, losses, `summary`, safetensors weights | `nabla-autograd` |
//! | [`data`] (`nabla-data`) | datasets (MNIST, CIFAR-10, CSV, text), `DataLoader`, transforms | `nabla-tensor` |
//! | [`train`] (`nabla-train`) | optimizers, schedules, metrics, `Trainer::fit`, callbacks, checkpoints | `nabla-layers`, `nabla-data` |
//! | [`models`] (`nabla-models`) | architectures: MLP, LeNet-5, VGG-style CNNs, ResNet-18/34/50 and the CIFAR ResNets | `nabla-layers` |
//!
//! ```
//! use nabla::prelude::*;
//! let x = Var::new(Tensor::from_vec(vec![2.0f64], &[1]));
//! let y = (&x * &x).sum(); // y = x²
//! assert_eq!(y.backward().get(&x).unwrap().to_vec_f64(), vec![4.0]);
//! ```
//!
//! ## The allocator
//!
//! Training allocates and frees the same large buffers every step (activations, im2col
//! matrices, gradients). The system allocator on Linux (glibc) hands big blocks back to the
//! operating system when they are freed, so every step pays for fresh pages again: on the
//! benchmark CNNs that was a third of the step time. With the default feature `mimalloc`, this
//! crate makes [mimalloc](https://github.com/microsoft/mimalloc) the program's global allocator,
//! which keeps freed memory for reuse; nothing needs to be set in the environment. A program
//! with its own `#[global_allocator]` depends on `nabla` with `default-features = false`.
#![warn(missing_docs)]

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use nabla_autograd as autograd;
pub use nabla_data as data;
pub use nabla_layers as layers;
pub use nabla_models as models;
pub use nabla_tensor as tensor;
pub use nabla_train as train;

/// The names most programs need: `use nabla::prelude::*;`.
pub mod prelude {
    pub use nabla_autograd::functional::losses;
    pub use nabla_autograd::gradcheck;
    pub use nabla_autograd::{grad, in_thread_pool, no_grad, Gradients, Var};
    pub use nabla_data::{DataLoader, Dataset, Split, TensorDataset};
    pub use nabla_layers::loss::{
        BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MaeLoss, MseLoss, NllLoss, Target,
    };
    pub use nabla_layers::{summary, Module, ModuleExt, Sequential};
    pub use nabla_tensor::{init, rng, DType, Rng, Tensor};
    pub use nabla_train::metrics::{Accuracy, Metric};
    pub use nabla_train::optim::{AdamConfig, AdamWConfig, Optimizer, SgdConfig};
    pub use nabla_train::{Trainer, Verbosity};
}
