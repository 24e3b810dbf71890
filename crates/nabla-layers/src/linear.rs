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
//! strided view, so the product reads `W` in place; only no-grad passes (inference, evaluation)
//! over a large weight read a row-major copy of `Wᵀ` instead, kept while the weight is unchanged
//! (see `InferenceWeight` in the source).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LinearConfig, Module};
//! use nabla_tensor::{rng, DType, Tensor};
//! let layer = LinearConfig::new(784, 128).init(&mut rng(0));
//! let y = layer.forward(&Var::constant(Tensor::zeros(&[32, 784], DType::F32)));
//! assert_eq!(y.shape(), vec![32, 128]);
//! ```

use std::sync::Mutex;

use nabla_autograd::{is_grad_enabled, Var, VarId};
use nabla_tensor::{DType, Rng, Tensor};

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
        Linear { weight, bias, inference_weight: Mutex::default() }
    }
}

/// A linear (dense) layer; see the [module docs](self).
pub struct Linear {
    /// `[out, in]`.
    pub weight: Var,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// `Wᵀ` stored as `[in, out]`, for forward passes in no-grad mode (see [`InferenceWeight`]).
    inference_weight: Mutex<InferenceWeight>,
}

/// A row-major copy of `Wᵀ` (`[in, out]`) that no-grad forward passes read instead of the
/// strided view of `W`.
///
/// gemm packs a contiguous `[in, out]` operand faster than the transposed view of `[out, in]`:
/// `[256, 512]·[512, 512]` takes 0.62 ms instead of 0.87 ms on two threads. Copying `W` every
/// call would cost as much as it saves, and during training `W` changes every step, so the
/// copy is made only for a weight that is seen a second time unchanged (the same
/// ([`Var::id`], [`Var::version`]) pair: inference, evaluation), and kept until it changes.
/// The copy holds the same values in another order, so the outputs agree with the tape's
/// forward pass up to rounding (gemm may sum in another order). It costs the weight's size
/// again, and stays allocated until the next no-grad pass finds the weight changed.
#[derive(Default)]
struct InferenceWeight {
    /// The weight last seen in no-grad mode.
    seen: Option<(VarId, u64)>,
    /// `Wᵀ` as `[in, out]`, made from the weight `seen` names.
    transposed: Option<Tensor>,
}

/// Weights smaller than this many elements are read in place: the copy would save little.
const TRANSPOSE_FROM: usize = 1 << 16;

impl Linear {
    /// `Wᵀ` as a row-major `[in, out]` tensor, if a no-grad forward pass should read it
    /// (see [`InferenceWeight`]); `None` to read `W` in place.
    fn transposed_weight(&self) -> Option<Tensor> {
        if self.weight.shape().iter().product::<usize>() < TRANSPOSE_FROM {
            return None;
        }
        // The version is read before the value: if the weight changes in between, the copy
        // is labelled with the older version and so is remade next time, never the reverse.
        let now = (self.weight.id(), self.weight.version());
        let mut cache = self.inference_weight.lock().expect("the inference weight lock is never poisoned");
        if cache.seen != Some(now) {
            *cache = InferenceWeight { seen: Some(now), transposed: None };
            return None;
        }
        let transposed = cache.transposed.get_or_insert_with(|| self.weight.value().t().contiguous());
        Some(transposed.clone())
    }
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
        if !is_grad_enabled() {
            if let Some(transposed) = self.transposed_weight() {
                // `transposed.t()` is `W` again, as a view whose rows are strided: the kernel
                // then reads `Wᵀ` as the contiguous `[in, out]` buffer.
                let bias = self.bias.as_ref().map(Var::value);
                return Var::fixed(input.value().linear(&transposed.t(), bias.as_ref()));
            }
        }
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

#[cfg(test)]
mod tests {
    use nabla_autograd::no_grad;
    use nabla_tensor::{init, rng};

    use super::*;

    fn has_copy(layer: &Linear) -> bool {
        layer.inference_weight.lock().unwrap().transposed.is_some()
    }

    #[test]
    fn no_grad_passes_read_a_transposed_copy_that_follows_the_weight() {
        let mut layer = LinearConfig::new(300, 260).init(&mut rng(0));
        let x = Var::constant(init::uniform(&[7, 300], -1.0, 1.0, DType::F32, &mut rng(1)));
        let expected = |layer: &Linear| layer.forward(&x).value();
        let close = |a: &Tensor, b: &Tensor| a.allclose(b, 1e-5, 1e-5);

        // The first no-grad pass reads W in place, the second makes the copy, the third reuses it.
        for call in 0..3 {
            let y = no_grad(|| layer.forward(&x));
            assert!(!y.requires_grad());
            assert!(close(&y.value(), &expected(&layer)), "call {call}");
            assert_eq!(has_copy(&layer), call >= 1, "call {call}");
        }
        // A forward pass with the tape never makes or reads the copy.
        assert!(layer.forward(&x).requires_grad());

        // An optimizer-style in-place update: the copy is stale and is dropped.
        layer.weight.update_value(|w| w.as_slice_mut::<f32>().iter_mut().for_each(|v| *v *= -2.0));
        let y = no_grad(|| layer.forward(&x));
        assert!(!has_copy(&layer));
        assert!(close(&y.value(), &expected(&layer)));
        let y = no_grad(|| layer.forward(&x));
        assert!(has_copy(&layer));
        assert!(close(&y.value(), &expected(&layer)));

        // set_value (as load_state_dict and to_dtype use it) changes the version too.
        let version = layer.weight.version();
        layer.weight.set_value(init::uniform(&[260, 300], -1.0, 1.0, DType::F32, &mut rng(3)));
        assert_eq!(layer.weight.version(), version + 1);
        let y = no_grad(|| layer.forward(&x));
        assert!(!has_copy(&layer));
        assert!(close(&y.value(), &expected(&layer)));

        // A new weight Var (version 0 again) is told apart by its id.
        layer.weight = Var::new(init::uniform(&[260, 300], -1.0, 1.0, DType::F32, &mut rng(2)));
        let y = no_grad(|| layer.forward(&x));
        assert!(close(&y.value(), &expected(&layer)));
        assert!(close(&no_grad(|| layer.forward(&x)).value(), &expected(&layer)));
    }

    #[test]
    fn small_weights_are_read_in_place() {
        let layer = LinearConfig::new(16, 16).init(&mut rng(0));
        let x = Var::constant(init::uniform(&[4, 16], -1.0, 1.0, DType::F32, &mut rng(1)));
        for _ in 0..3 {
            no_grad(|| layer.forward(&x));
        }
        assert!(!has_copy(&layer));
    }
}
