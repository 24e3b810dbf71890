//! Functions composed from the primitive ops: they need no backward rule of their own, because
//! the tape differentiates the primitives they are made of. Where a composite was too slow it
//! has a fused twin in `ops/` (one recorded op, its own backward), and the composed version here
//! is kept as that twin's oracle, named `*_composed`.
//!
//! * [`activations`] — leaky ReLU, ELU, softplus, SiLU, clamp; `gelu_composed` (oracle of the fused `Var::gelu`).
//! * [`stats`] — mean and variance over axes.
//! * [`softmax`] — log-sum-exp; `softmax_composed`, `log_softmax_composed` (oracles of the fused ops).
//! * [`losses`] — MSE (fused, with `mse_composed`), MAE, Huber, cross-entropies, NLL.
//! * [`normalization`] — `(x − mean)/√(var + ε)` and its gradient in `Var` ops, the core of
//!   LayerNorm and BatchNorm (whose fused ops live in `ops/`).

pub mod activations;
pub mod losses;
pub mod normalization;
pub mod softmax;
pub mod stats;
