//! Layer normalisation (Ba, Kiros & Hinton, 2016): every sample is normalised over its last
//! axes, then scaled and shifted elementwise by a learned `γ` and `β`.
//!
//! ```text
//! y = (x − μ) / √(σ² + ε) ⊙ γ + β      μ, σ² over the last k axes of each sample (population variance)
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x`, output `y` | `[..., d₁, …, dₖ]` (any leading axes) |
//! | `normalized_shape` | `[d₁, …, dₖ]`, the trailing axes normalised together |
//! | `weight` `γ` (ones), `bias` `β` (zeros) | `[d₁, …, dₖ]` |
//!
//! Unlike [`BatchNorm1d`](crate::BatchNorm1d), the statistics come from the sample itself, so
//! training and evaluation compute the same thing and there are no running statistics —
//! which is why Transformers use it. `ε = 10⁻⁵` as in PyTorch (Keras' default is `10⁻³`).
//! The normalisation is [`Var::normalize`]; its gradient comes from the ops it is made of.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LayerNormConfig, Module};
//! use nabla_tensor::{rng, DType, Tensor};
//! let norm = LayerNormConfig::new(&[64]).init(&mut rng(0));
//! let x = Var::constant(Tensor::ones(&[2, 10, 64], DType::F32));
//! assert_eq!(norm.forward(&x).shape(), vec![2, 10, 64]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How to build a [`LayerNorm`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// The trailing axes normalised together, e.g. `[d_model]`.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance before the square root (`1e-5`).
    pub eps: f64,
    /// Whether to learn `γ` and `β`.
    pub elementwise_affine: bool,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl LayerNormConfig {
    /// Normalisation over trailing axes of `normalized_shape`, `ε = 1e-5`, learned `γ`, `β`, `f32`.
    ///
    /// # Panics
    /// If `normalized_shape` is empty.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        assert!(!normalized_shape.is_empty(), "LayerNormConfig: normalized_shape must name at least one axis");
        LayerNormConfig {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
            dtype: DType::F32,
        }
    }

    /// Sets `ε`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets whether `γ` and `β` are learned.
    pub fn with_elementwise_affine(mut self, affine: bool) -> Self {
        self.elementwise_affine = affine;
        self
    }

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer. Nothing is random (`γ = 1`, `β = 0`); `rng` is taken for uniformity
    /// with the other configs.
    pub fn init(&self, rng: &mut Rng) -> LayerNorm {
        let shape = &self.normalized_shape;
        let weight = self.elementwise_affine.then(|| Var::new(Initializer::Ones.init(shape, self.dtype, rng)));
        let bias = self.elementwise_affine.then(|| Var::new(Initializer::Zeros.init(shape, self.dtype, rng)));
        LayerNorm { normalized_shape: shape.clone(), eps: self.eps, weight, bias }
    }
}

/// Layer normalisation; see the [module docs](self).
pub struct LayerNorm {
    /// The trailing axes normalised together.
    pub normalized_shape: Vec<usize>,
    /// `ε`.
    pub eps: f64,
    /// `γ`, of `normalized_shape`, if affine.
    pub weight: Option<Var>,
    /// `β`, of `normalized_shape`, if affine.
    pub bias: Option<Var>,
}

impl Module for LayerNorm {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let k = self.normalized_shape.len();
        assert!(
            shape.len() >= k && shape[shape.len() - k..] == self.normalized_shape[..],
            "LayerNorm: expected input [..., {}] but received {shape:?}",
            self.normalized_shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        );
        // One fused op (`Var::layer_norm`): normalise each row of the last k axes, scale by
        // γ and shift by β.
        input.layer_norm(k, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }

    fn kind(&self) -> &'static str {
        "LayerNorm"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        if let Some(w) = &self.weight {
            visitor.parameter("weight", w);
        }
        if let Some(b) = &self.bias {
            visitor.parameter("bias", b);
        }
    }
}
