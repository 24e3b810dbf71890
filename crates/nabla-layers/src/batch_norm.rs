//! Batch normalisation (Ioffe & Szegedy, 2015): every channel is normalised with the mean and
//! variance of the batch, then scaled and shifted by a learned `γ` and `β`.
//!
//! ```text
//! training:    y = (x − μ_B) / √(σ²_B + ε) · γ + β      μ_B, σ²_B of this batch, per channel
//! evaluation:  y = (x − μ̂)  / √(σ̂²  + ε) · γ + β      μ̂, σ̂² the running estimates
//!
//! after each training batch (momentum m = 0.1):
//!     μ̂  ← (1 − m)·μ̂  + m·μ_B
//!     σ̂² ← (1 − m)·σ̂² + m·σ²_B · n/(n − 1)            n values per channel
//! ```
//!
//! | layer | input and output | statistics over |
//! |---|---|---|
//! | [`BatchNorm1d`] | `[n, c]` or `[n, c, l]` | the batch (and length) axes |
//! | [`BatchNorm2d`] | `[n, c, h, w]` | the batch, height and width axes |
//!
//! | tensor | shape | kind | starts at |
//! |---|---|---|---|
//! | `weight` `γ` | `[c]` | parameter | ones |
//! | `bias` `β` | `[c]` | parameter | zeros |
//! | `running_mean` `μ̂` | `[c]` | buffer (saved, not learned) | zeros |
//! | `running_var` `σ̂²` | `[c]` | buffer (saved, not learned) | ones |
//!
//! The batch is normalised with its *population* variance `σ²_B = Σ(x − μ_B)²/n`, while the
//! running variance tracks the *unbiased* `Σ(x − μ_B)²/(n − 1)`, as PyTorch does. The update
//! happens inside `forward` (the buffers are `Var` leaves whose value is replaced) and computes
//! on plain tensors, so nothing of it is recorded on the tape. In evaluation mode
//! ([`ModuleExt::eval`](crate::ModuleExt::eval)) the running estimates are used and left alone,
//! so a prediction no longer depends on the other samples of its batch.
//!
//! **Momentum conventions.** Here, as in PyTorch, `m` is the weight of the *new* batch:
//! `μ̂ ← (1 − m)·μ̂ + m·μ_B`, default `0.1`. Keras writes the same update with the weight of the
//! *old* estimate, `μ̂ ← k·μ̂ + (1 − k)·μ_B`, so `k = 1 − m`: PyTorch's 0.1 is Keras' 0.9, and
//! Keras' default `momentum=0.99` is `with_momentum(0.01)` here. (Keras also defaults to
//! `ε = 10⁻³` and tracks the population variance.)
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{BatchNorm2dConfig, Module, ModuleExt};
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut bn = BatchNorm2dConfig::new(16).init(&mut rng(0));
//! let x = Var::constant(Tensor::ones(&[8, 16, 5, 5], DType::F32));
//! assert_eq!(bn.forward(&x).shape(), vec![8, 16, 5, 5]);
//! // μ̂ moved a tenth of the way from 0 towards the batch mean 1.
//! assert!((bn.running_mean.value().to_vec_f32()[0] - 0.1).abs() < 1e-7);
//! bn.eval();
//! assert_eq!(bn.forward(&x).shape(), vec![8, 16, 5, 5]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng, Tensor};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// What the shared forward pass needs to know of either layer.
struct BatchNormParts<'a> {
    kind: &'static str,
    /// The accepted input, `{c}` standing for the channel count.
    expected: &'static str,
    ranks: &'static [usize],
    weight: &'a Option<Var>,
    bias: &'a Option<Var>,
    running_mean: &'a Var,
    running_var: &'a Var,
    eps: f64,
    momentum: f64,
    training: bool,
}

impl BatchNormParts<'_> {
    /// The forward pass of both layers: checks the input; in training, the fused batch-norm op
    /// and an update of the running statistics; in evaluation, the running statistics and
    /// `γ`, `β`.
    #[track_caller]
    fn forward(&self, x: &Var) -> Var {
        let (kind, eps, momentum) = (self.kind, self.eps, self.momentum);
        let channels = self.running_mean.shape()[0];
        let shape = x.shape();
        assert!(
            self.ranks.contains(&shape.len()) && shape[1] == channels,
            "{kind}: expected input {} but received {shape:?}",
            self.expected.replace("{c}", &channels.to_string())
        );
        // Statistics are per channel (axis 1), over every other axis.
        let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
        let mut broadcast = vec![1; shape.len()];
        broadcast[1] = channels;

        if self.training {
            let n: usize = axes.iter().map(|&d| shape[d]).product();
            assert!(
                n > 1,
                "{kind}: training needs more than one value per channel to estimate a variance, but input \
                 {shape:?} has {n} (use a larger batch, or switch to evaluation mode with `eval()`)"
            );
            // One fused op (`Var::batch_norm`): normalise with the batch statistics, scale by γ
            // and shift by β; it also hands back the statistics for the running averages.
            let (y, stats) = x.batch_norm(self.weight.as_ref(), self.bias.as_ref(), eps);

            // Running statistics: plain tensors, so nothing is recorded on the tape.
            let dtype = self.running_mean.dtype();
            let unbiased = stats.var.mul_scalar(n as f64 / (n - 1) as f64).to_dtype(dtype);
            let blend = |old: Tensor, new: Tensor| old.mul_scalar(1.0 - momentum).add(&new.mul_scalar(momentum));
            self.running_mean.set_value(blend(self.running_mean.value(), stats.mean.to_dtype(dtype)));
            self.running_var.set_value(blend(self.running_var.value(), unbiased));
            return y;
        }

        // Evaluation: the running statistics, then γ and β.
        let dtype = x.dtype();
        let mean = self.running_mean.value().reshape(&broadcast).to_dtype(dtype);
        let inv_std = self.running_var.value().reshape(&broadcast).to_dtype(dtype).add_scalar(eps).sqrt().recip();
        let normalised = x.sub(&Var::constant(mean)).mul(&Var::constant(inv_std));
        let scaled = match self.weight {
            Some(w) => normalised.mul(&w.reshape(&broadcast)),
            None => normalised,
        };
        match self.bias {
            Some(b) => scaled.add(&b.reshape(&broadcast)),
            None => scaled,
        }
    }
}

macro_rules! batch_norm_layer {
    (
        $(#[$config_doc:meta])* $config:ident,
        $(#[$layer_doc:meta])* $layer:ident,
        ranks $ranks:expr, expected $expected:literal
    ) => {
        $(#[$config_doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $config {
            /// Channels `c` (axis 1 of the input).
            pub num_features: usize,
            /// Added to the variance before the square root (`1e-5`, PyTorch's default).
            pub eps: f64,
            /// Weight of the new batch in the running averages (`0.1`; Keras' `0.99` is `0.01`
            /// here, see the [module docs](self)).
            pub momentum: f64,
            /// Whether to learn `γ` and `β` (otherwise the output is just normalised).
            pub affine: bool,
            /// Element type of the parameters and buffers.
            pub dtype: DType,
        }

        impl $config {
            /// `num_features` channels, `ε = 1e-5`, momentum `0.1`, learned `γ`, `β`, `f32`.
            pub fn new(num_features: usize) -> Self {
                $config { num_features, eps: 1e-5, momentum: 0.1, affine: true, dtype: DType::F32 }
            }

            /// Sets `ε`.
            pub fn with_eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }

            /// Sets the momentum (PyTorch's convention: the weight of the new batch).
            ///
            /// # Panics
            /// If `momentum` is not in `[0, 1]`.
            #[track_caller]
            pub fn with_momentum(mut self, momentum: f64) -> Self {
                assert!(
                    (0.0..=1.0).contains(&momentum),
                    concat!(stringify!($config), ": momentum {} must be in [0, 1]"),
                    momentum
                );
                self.momentum = momentum;
                self
            }

            /// Sets whether `γ` and `β` are learned.
            pub fn with_affine(mut self, affine: bool) -> Self {
                self.affine = affine;
                self
            }

            /// Sets the element type.
            pub fn with_dtype(mut self, dtype: DType) -> Self {
                self.dtype = dtype;
                self
            }

            /// Builds the layer, in training mode. Nothing is random (`γ = 1`, `β = 0`); `rng`
            /// is taken for uniformity with the other configs.
            pub fn init(&self, rng: &mut Rng) -> $layer {
                let c = [self.num_features];
                let param = |init: Initializer, rng: &mut Rng| Var::new(init.init(&c, self.dtype, rng));
                let weight = self.affine.then(|| param(Initializer::Ones, rng));
                let bias = self.affine.then(|| param(Initializer::Zeros, rng));
                $layer {
                    weight,
                    bias,
                    running_mean: Var::constant(Tensor::zeros(&c, self.dtype)),
                    running_var: Var::constant(Tensor::ones(&c, self.dtype)),
                    eps: self.eps,
                    momentum: self.momentum,
                    training: true,
                }
            }
        }

        $(#[$layer_doc])*
        pub struct $layer {
            /// `γ`, `[c]`, if the layer is affine.
            pub weight: Option<Var>,
            /// `β`, `[c]`, if the layer is affine.
            pub bias: Option<Var>,
            /// `μ̂`, `[c]`: a buffer, updated by training-mode forward passes.
            pub running_mean: Var,
            /// `σ̂²`, `[c]`: a buffer, updated by training-mode forward passes.
            pub running_var: Var,
            /// `ε`.
            pub eps: f64,
            /// Weight of the new batch in the running averages.
            pub momentum: f64,
            training: bool,
        }

        impl $layer {
            /// Whether the layer normalises with batch statistics (and updates the running ones).
            pub fn is_training(&self) -> bool {
                self.training
            }
        }

        impl Module for $layer {
            #[track_caller]
            fn forward(&self, input: &Var) -> Var {
                BatchNormParts {
                    kind: self.kind(),
                    expected: $expected,
                    ranks: &$ranks,
                    weight: &self.weight,
                    bias: &self.bias,
                    running_mean: &self.running_mean,
                    running_var: &self.running_var,
                    eps: self.eps,
                    momentum: self.momentum,
                    training: self.training,
                }
                .forward(input)
            }

            fn kind(&self) -> &'static str {
                stringify!($layer)
            }

            fn visit(&self, visitor: &mut Visitor<'_>) {
                if let Some(w) = &self.weight {
                    visitor.parameter("weight", w);
                }
                if let Some(b) = &self.bias {
                    visitor.parameter("bias", b);
                }
                visitor.buffer("running_mean", &self.running_mean);
                visitor.buffer("running_var", &self.running_var);
            }

            fn set_training(&mut self, training: bool) {
                self.training = training;
            }
        }
    };
}

batch_norm_layer!(
    /// How to build a [`BatchNorm1d`]: `BatchNorm1dConfig::new(128).init(&mut rng)`.
    BatchNorm1dConfig,
    /// Batch normalisation of `[n, c]` features or `[n, c, l]` sequences; see the
    /// [module docs](self).
    BatchNorm1d,
    ranks [2, 3], expected "[batch, {c}] or [batch, {c}, length]"
);

batch_norm_layer!(
    /// How to build a [`BatchNorm2d`]: `BatchNorm2dConfig::new(16).init(&mut rng)`.
    BatchNorm2dConfig,
    /// Batch normalisation of `[n, c, h, w]` feature maps; see the [module docs](self).
    BatchNorm2d,
    ranks [4], expected "[batch, {c}, height, width]"
);
