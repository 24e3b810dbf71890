//! Linear (Keras: Dense) layer: `y = x·Wᵀ + b`.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[..., in]` (any leading axes, usually `[batch, in]`) |
//! | `weight` `W` | `[out, in]` (PyTorch's layout) |
//! | `bias` `b` | `[out]` |
//! | output `y` | `[..., out]` |
//!
//! Every output is a weighted sum of all inputs plus a bias: `yⱼ = Σᵢ Wⱼᵢ xᵢ + bⱼ`. `Wᵀ` is a
//! strided view, so the product reads `W` in place.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LinearConfig, Module};
//! use nabla_tensor::{rng, DType, Tensor};
//! let layer = LinearConfig::new(784, 128).init(&mut rng(0));
//! let y = layer.forward(&Var::constant(Tensor::zeros(&[32, 784], DType::F32)));
//! assert_eq!(y.shape(), vec![32, 128]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Rng};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How to build a [`Linear`] layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Whether to add a bias.
    pub bias: bool,
    /// How the weight starts (Glorot uniform, as in Keras, by default).
    pub weight_init: Initializer,
    /// How the bias starts (zeros by default).
    pub bias_init: Initializer,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl LinearConfig {
    /// `in_features → out_features` with a bias, Glorot-uniform weights, `f32`.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
            weight_init: Initializer::GlorotUniform,
            bias_init: Initializer::Zeros,
            dtype: DType::F32,
        }
    }

    /// Sets whether the layer has a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the weight initializer.
    pub fn with_weight_init(mut self, init: Initializer) -> Self {
        self.weight_init = init;
        self
    }

    /// Sets the element type of the parameters.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer, drawing its weights from `rng`.
    pub fn init(&self, rng: &mut Rng) -> Linear {
        let weight = Var::new(self.weight_init.init(&[self.out_features, self.in_features], self.dtype, rng));
        let bias = self.bias.then(|| Var::new(self.bias_init.init(&[self.out_features], self.dtype, rng)));
        Linear { weight, bias }
    }
}

/// A linear (dense) layer; see the [module docs](self).
pub struct Linear {
    /// `[out, in]`.
    pub weight: Var,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Var>,
}

impl Module for Linear {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let in_features = self.weight.shape()[1];
        let shape = input.shape();
        assert!(
            shape.last() == Some(&in_features),
            "Linear: expected input [..., {in_features}] but received {shape:?}"
        );
        // One fused op (`Var::linear`): the bias is written into the output and gemm adds
        // x·Wᵀ on top; leading axes ([batch, time, in]) are folded into one row axis, so one
        // large product (and its backward) replaces a batch of small ones.
        input.linear(&self.weight, self.bias.as_ref())
    }

    fn kind(&self) -> &'static str {
        "Linear"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight", &self.weight);
        if let Some(b) = &self.bias {
            visitor.parameter("bias", b);
        }
    }

    fn flops(&self, _input_shape: &[usize], output_shape: &[usize]) -> u64 {
        let in_features = self.weight.shape()[1] as u64;
        2 * in_features * output_shape.iter().product::<usize>() as u64
    }
}
