//! # nabla-autograd
//!
//! Reverse-mode automatic differentiation on a tape, over [`nabla_tensor`] tensors.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_tensor::{init, rng, DType, Tensor};
//! let mut r = rng(0);
//! let x = Var::constant(init::normal(&[4, 3], 0.0, 1.0, DType::F32, &mut r));
//! let w = Var::new(init::glorot_uniform(&[3, 2], DType::F32, &mut r));
//! let b = Var::new(Tensor::zeros(&[2], DType::F32));
//! let y = x.matmul(&w).add(&b).relu();
//! let grads = y.sum().backward();
//! assert_eq!(grads.get(&w).unwrap().shape(), &[3, 2]);
//! ```
//!
//! * [`Var`] — a tensor that records the op that made it ([`var`]).
//! * [`Var::backward`], [`grad`] — walk the tape backwards ([`backward`]).
//! * [`no_grad`] — run without recording ([`mode`]).
//! * [`in_thread_pool`] — run a training loop on rayon's workers, so its thread computes too
//!   ([`threads`]).
//! * `ops/` — the primitive ops, one file each: forward, backward, derivative formula; and the
//!   fused ops (dense layer, BatchNorm, LayerNorm, softmax, GELU, LSTM cell, LSTM recurrence,
//!   attention), each beside the
//!   composed form that is its oracle.
//! * [`functional`] — softmax, losses, normalisation and activations built from primitives.
//! * [`gradcheck`] — finite-difference checks of every backward rule.
//!
//! This crate knows nothing about layers; `nabla-layers` builds on it.
#![warn(missing_docs)]

pub mod backward;
pub mod functional;
pub mod gradcheck;
pub mod mode;
mod operators;
mod ops;
pub mod threads;
pub mod var;

#[cfg(test)]
mod testing;

pub use backward::{grad, Gradients};
pub use mode::{is_grad_enabled, no_grad, NoGradGuard};
pub use nabla_tensor::{or_panic, ShapeError};
pub use ops::attention::attention_composed;
pub use ops::batch_norm::{batch_norm_composed, BatchStats};
pub use ops::conv2d_fused::conv2d_fused_composed;
pub use ops::layer_norm::layer_norm_composed;
pub use ops::lstm_cell::lstm_cell_composed;
pub use ops::lstm_sequence::lstm_sequence_composed;
pub use threads::in_thread_pool;
pub use var::{Var, VarId};
