//! Functions composed from the primitive ops: they need no backward rule of their own, because
//! the tape differentiates the primitives they are made of.
//!
//! * [`activations`] — GELU, leaky ReLU, ELU, softplus, SiLU, clamp.
//! * [`stats`] — mean and variance over axes.
//! * [`softmax`] — softmax, log-softmax, log-sum-exp (numerically stable).
//! * [`losses`] — MSE, MAE, Huber, cross-entropies, NLL.
//! * [`normalization`] — `(x − mean)/√(var + ε)`, the core of LayerNorm and BatchNorm.

pub mod activations;
pub mod losses;
pub mod normalization;
pub mod softmax;
pub mod stats;
