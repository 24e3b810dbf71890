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

pub mod attention;
pub mod batch_norm;
pub mod binary;
pub mod concat;
pub mod conv;
pub mod dtype;
pub mod error;
pub mod gelu;
pub mod index;
pub mod init;
pub mod layer_norm;
pub mod layout;
pub mod linear;
pub mod lstm_cell;
pub mod lstm_sequence;
pub mod matmul;
pub mod parallel;
pub mod pool;
pub mod reduce;
pub mod scalar;
mod scratch;
mod short_rows;
pub mod slice;
mod small_product;
pub mod softmax;
pub mod tensor;
pub mod unary;
pub mod vector_math;

pub use binary::broadcast_shapes;
pub use conv::Conv2dSpec;
pub use dtype::{DType, Element};
pub use error::{or_panic, ShapeError};
pub use init::{rng, Rng};
pub use pool::Pool2dSpec;
pub use reduce::check_axes;
pub use tensor::Tensor;

/// Re-exported so users can build arrays of the version nabla uses.
pub use ndarray;
