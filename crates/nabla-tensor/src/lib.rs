//! # nabla-tensor
//!
//! Dynamic-rank `f32`/`f64` tensors on [`ndarray`], with the kernels a deep-learning course
//! needs: elementwise maps with broadcasting, reductions, matrix products through the `gemm`
//! crate, convolution by im2col + gemm, pooling, softmax, indexing and seeded random
//! initialisation.
//!
//! This crate knows nothing about gradients; `nabla-autograd` builds on it.
//!
//! ```
//! use nabla_tensor::{DType, Tensor};
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
//! let w = Tensor::ones(&[2, 3], DType::F32);
//! let y = x.matmul(&w).relu();
//! assert_eq!(y.shape(), &[2, 3]);
//! assert_eq!(y.to_vec_f32(), vec![3.0, 3.0, 3.0, 7.0, 7.0, 7.0]);
//! ```
#![warn(missing_docs)]

mod binary;
mod dtype;
mod error;
pub mod init;
mod layout;
mod matmul;
pub mod parallel;
mod reduce;
mod slice;
pub mod scalar;
mod tensor;
mod unary;

pub use binary::broadcast_shapes;
pub use dtype::{DType, Element};
pub use error::{or_panic, ShapeError};
pub use init::{rng, Rng};
pub use reduce::check_axes;
pub use tensor::Tensor;

/// Re-exported so users can build arrays of the version nabla uses.
pub use ndarray;
