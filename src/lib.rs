//! # nabla
//!
//! A deep-learning course in Rust: tensors, backpropagation, layers, architectures, datasets
//! and the training loop, each a focused crate, re-exported here.
//!
//! | crate | what it holds | depends on |
//! |---|---|---|
//! | [`tensor`] (`nabla-tensor`) | n-d arrays and their kernels: gemm matmul, im2col conv, pooling | ndarray, gemm, rayon |
//! | [`autograd`] (`nabla-autograd`) | [`Var`](autograd::Var), the tape, backward, gradient checks | `nabla-tensor` |
//!
//! ```
//! use nabla::prelude::*;
//! let x = Var::new(Tensor::from_vec(vec![2.0f64], &[1]));
//! let y = (&x * &x).sum(); // y = x²
//! assert_eq!(y.backward().get(&x).unwrap().to_vec_f64(), vec![4.0]);
//! ```
#![warn(missing_docs)]

pub use nabla_autograd as autograd;
pub use nabla_tensor as tensor;

/// The names most programs need: `use nabla::prelude::*;`.
pub mod prelude {
    pub use nabla_autograd::gradcheck;
    pub use nabla_autograd::{grad, no_grad, Gradients, Var};
    pub use nabla_tensor::{init, rng, DType, Rng, Tensor};
}
