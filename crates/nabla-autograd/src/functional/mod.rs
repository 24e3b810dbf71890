//! Functions composed from the primitive ops: they need no backward rule of their own, because
//! the tape differentiates the primitives they are made of.
//!
//! * [`activations`] — GELU, leaky ReLU, ELU, softplus, SiLU, clamp.
//! * [`stats`] — mean and variance over axes.
//! * [`softmax`] — softmax, log-softmax, log-sum-exp (numerically stable).

pub mod activations;
pub mod softmax;
pub mod stats;
