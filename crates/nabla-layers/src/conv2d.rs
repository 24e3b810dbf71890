//! 2-D convolution layer (Keras: Conv2D) on NCHW images: `y = conv2d(x, W) + b`.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[n, c_in, h, w]` |
//! | `weight` `W` | `[c_out, c_in/groups, kh, kw]` (PyTorch's layout) |
//! | `bias` `b` | `[c_out]`, added to every pixel of its channel |
//! | output `y` | `[n, c_out, oh, ow]` |
//!
//! Output pixel `(i, j)` of channel `o` is a weighted sum over a `kh × kw` window of the input
//! channels of `o`'s group, plus the channel's bias (`nabla_tensor`'s `Tensor::conv2d` has the
//! full formula and the im2col picture):
//!
//! ```text
//! y[n, o, i, j] = b[o] + Σ_{c, p, q} x[n, g·C + c, i·sh − top + p·dh, j·sw − left + q·dw] · W[o, c, p, q]
//! ```
//!
//! Along each axis the dilated kernel spans `span = dil·(k − 1) + 1` pixels, and [`Padding`]
//! decides how many zeros surround the input:
//!
//! | padding | zeros (before, after) | output size |
//! |---|---|---|
//! | `Valid` | `(0, 0)` | `(in − span) / stride + 1` |
//! | `Same` | `total = max((out − 1)·stride + span − in, 0)`, split `(total/2, total − total/2)` | `⌈in / stride⌉` |
//! | `Explicit(p)` | `(p, p)` | `(in + 2p − span) / stride + 1` |
//!
//! `Same` is Keras' (and TensorFlow's) definition: the output has `⌈in/stride⌉` pixels, and an
//! odd total puts the extra zero on the bottom (right). The convolution kernel pads
//! symmetrically, so that one extra row (column) is added first by writing the input into a
//! slightly larger zero tensor with `slice_scatter`, which is differentiable.
//!
//! With [`Conv2dConfig::with_relu`] (Keras' `activation="relu"`) the layer computes
//! `relu(conv2d(x, W) + b)`; convolution, bias and ReLU then run as one op, written once.
//!
//! Weights start Glorot-uniform, as in Keras, with `fan_in = c_in/groups·kh·kw` and
//! `fan_out = c_out·kh·kw`. For deep ReLU networks He initialisation ([`Initializer::HeUniform`])
//! keeps the activations' scale from shrinking layer after layer; it is one
//! [`Conv2dConfig::with_weight_init`] away.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Conv2dConfig, Module, Padding};
//! use nabla_tensor::{rng, DType, Tensor};
//! let conv = Conv2dConfig::new(1, 8, [3, 3]).with_padding(Padding::Same).init(&mut rng(0));
//! let y = conv.forward(&Var::constant(Tensor::zeros(&[32, 1, 28, 28], DType::F32)));
//! assert_eq!(y.shape(), vec![32, 8, 28, 28]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{Conv2dSpec, DType, Rng, Tensor};

use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How much zero padding surrounds the input of a convolution or pooling; see the
/// [module docs](self) for the output sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// No padding: only windows that fit inside the input (Keras' default, `"valid"`).
    #[default]
    Valid,
    /// Enough padding for `⌈in / stride⌉` outputs, the extra pixel of an odd total on the
    /// bottom/right (Keras' `"same"`; with stride 1 the output keeps the input's size).
    Same,
    /// `[ph, pw]` pixels on each side (PyTorch's `padding=(ph, pw)`).
    Explicit([usize; 2]),
}

impl Padding {
    /// The padding `[[top, bottom], [left, right]]` for an input of `in_hw = [h, w]` under a
    /// window spanning `span_hw` pixels (for a convolution `dil·(k − 1) + 1`) moved `stride` apart.
    ///
    /// ```
    /// use nabla_layers::Padding;
    /// assert_eq!(Padding::Same.amounts([5, 5], [3, 3], [2, 2]), [[1, 1], [1, 1]]);
    /// assert_eq!(Padding::Same.amounts([4, 6], [3, 4], [2, 1]), [[0, 1], [1, 2]]); // extra after
    /// assert_eq!(Padding::Explicit([2, 0]).amounts([4, 4], [3, 3], [1, 1]), [[2, 2], [0, 0]]);
    /// ```
    pub fn amounts(self, in_hw: [usize; 2], span_hw: [usize; 2], stride: [usize; 2]) -> [[usize; 2]; 2] {
        let axis = |d: usize| match self {
            Padding::Valid => [0, 0],
            Padding::Explicit(p) => [p[d], p[d]],
            Padding::Same => {
                let out = in_hw[d].div_ceil(stride[d].max(1));
                let total = ((out.max(1) - 1) * stride[d] + span_hw[d]).saturating_sub(in_hw[d]);
                [total / 2, total - total / 2]
            }
        };
        [axis(0), axis(1)]
    }
}

/// Splits `[[top, bottom], [left, right]]` into the symmetric part a kernel can apply,
/// `[top, left]`, and the extra `[bottom − top, right − left]` to add explicitly after the input.
pub(crate) fn split_padding(amounts: [[usize; 2]; 2]) -> ([usize; 2], [usize; 2]) {
    let [[top, bottom], [left, right]] = amounts;
    ([top, left], [bottom.saturating_sub(top), right.saturating_sub(left)])
}

/// Appends `extra = [rows, columns]` pixels of value `fill` after the last row and column of
/// `x` (`[n, c, h, w]`). Differentiable: `x` is written into a larger zero tensor with
/// `slice_scatter`, and a constant tensor that is `fill` outside `x` (and 0 inside) is added.
pub(crate) fn pad_after(x: &Var, extra: [usize; 2], fill: f64) -> Var {
    if extra == [0, 0] {
        return x.clone();
    }
    let s = x.shape();
    let (h, w) = (s[2], s[3]);
    let tall = [s[0], s[1], h + extra[0], w];
    let padded = [s[0], s[1], h + extra[0], w + extra[1]];
    let y = x.slice_scatter(&tall, 2, 0, h, 1).slice_scatter(&padded, 3, 0, w, 1);
    if fill == 0.0 {
        return y;
    }
    let dtype = x.dtype();
    let inside = Tensor::ones(s, dtype).slice_scatter(&tall, 2, 0, h, 1).slice_scatter(&padded, 3, 0, w, 1);
    let outside = Tensor::where_cond(&inside, &Tensor::zeros(&[], dtype), &Tensor::full(&[], fill, dtype));
    y.add(&Var::constant(outside))
}

/// How to build a [`Conv2d`] layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dConfig {
    /// Channels of the input, `c_in`.
    pub in_channels: usize,
    /// Channels of the output (number of filters), `c_out`.
    pub out_channels: usize,
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows `[sh, sw]` (`[1, 1]` by default).
    pub stride: [usize; 2],
    /// Zero padding ([`Padding::Valid`] by default, as in Keras).
    pub padding: Padding,
    /// Step between kernel taps `[dh, dw]` (`[1, 1]` by default).
    pub dilation: [usize; 2],
    /// Channel groups: `c_in` and `c_out` must be multiples; `groups = c_in` is depthwise (1 by default).
    pub groups: usize,
    /// Whether to add a bias.
    pub bias: bool,
    /// Whether the layer ends with a ReLU (Keras: `activation="relu"`; `false` by default).
    pub relu: bool,
    /// How the weight starts (Glorot uniform, as in Keras, by default).
    pub weight_init: Initializer,
    /// How the bias starts (zeros by default).
    pub bias_init: Initializer,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl Conv2dConfig {
    /// `in_channels → out_channels` with a `kernel = [kh, kw]` window: stride 1, no padding,
    /// no dilation, one group, a bias, Glorot-uniform weights, `f32`.
    pub fn new(in_channels: usize, out_channels: usize, kernel: [usize; 2]) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel,
            stride: [1, 1],
            padding: Padding::Valid,
            dilation: [1, 1],
            groups: 1,
            bias: true,
            relu: false,
            weight_init: Initializer::GlorotUniform,
            bias_init: Initializer::Zeros,
            dtype: DType::F32,
        }
    }

    /// Sets the stride `[sh, sw]`.
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation `[dh, dw]`.
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets the number of channel groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets whether the layer has a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets whether the layer ends with a ReLU, Keras' `Conv2D(..., activation="relu")`: the
    /// same as a [`ReLU`](crate::ReLU) layer after it, but the convolution, the bias and the
    /// ReLU then run as one op ([`Var::conv2d_fused`]), which skips two passes over the
    /// output and keeps one tensor for the backward pass instead of three.
    pub fn with_relu(mut self, relu: bool) -> Self {
        self.relu = relu;
        self
    }

    /// Sets the weight initializer.
    pub fn with_weight_init(mut self, init: Initializer) -> Self {
        self.weight_init = init;
        self
    }

    /// Sets the bias initializer.
    pub fn with_bias_init(mut self, init: Initializer) -> Self {
        self.bias_init = init;
        self
    }

    /// Sets the element type of the parameters.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer, drawing its weights from `rng`.
    ///
    /// # Panics
    /// If a size, stride, dilation or `groups` is zero, or the channels are not multiples of
    /// `groups`.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> Conv2d {
        let c = self;
        assert!(
            c.in_channels > 0 && c.out_channels > 0 && c.groups > 0,
            "Conv2dConfig: channels ({} → {}) and groups ({}) must be positive",
            c.in_channels,
            c.out_channels,
            c.groups
        );
        assert!(
            c.in_channels.is_multiple_of(c.groups) && c.out_channels.is_multiple_of(c.groups),
            "Conv2dConfig: in_channels {} and out_channels {} must both be multiples of groups {}",
            c.in_channels,
            c.out_channels,
            c.groups
        );
        assert!(
            c.kernel.iter().chain(&c.stride).chain(&c.dilation).all(|&v| v > 0),
            "Conv2dConfig: kernel {:?}, stride {:?} and dilation {:?} must be positive",
            c.kernel,
            c.stride,
            c.dilation
        );
        let shape = [c.out_channels, c.in_channels / c.groups, c.kernel[0], c.kernel[1]];
        let weight = Var::new(c.weight_init.init(&shape, c.dtype, rng));
        let bias = c.bias.then(|| Var::new(c.bias_init.init(&[c.out_channels], c.dtype, rng)));
        Conv2d {
            weight,
            bias,
            relu: c.relu,
            stride: c.stride,
            padding: c.padding,
            dilation: c.dilation,
            groups: c.groups,
        }
    }
}

/// A 2-D convolution layer; see the [module docs](self).
pub struct Conv2d {
    /// `[c_out, c_in/groups, kh, kw]`.
    pub weight: Var,
    /// `[c_out]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// Whether a ReLU follows (see [`Conv2dConfig::with_relu`]).
    relu: bool,
    stride: [usize; 2],
    padding: Padding,
    dilation: [usize; 2],
    groups: usize,
}

impl Conv2d {
    /// The input channels the layer expects.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.groups
    }

    /// The padding `[[top, bottom], [left, right]]` applied to an input of `in_hw = [h, w]`.
    pub fn padding_for(&self, in_hw: [usize; 2]) -> [[usize; 2]; 2] {
        let k = self.weight.shape();
        let span = [self.dilation[0] * (k[2] - 1) + 1, self.dilation[1] * (k[3] - 1) + 1];
        self.padding.amounts(in_hw, span, self.stride)
    }

    /// The output size `[oh, ow]` for an input of `in_hw = [h, w]`, or `None` if the kernel
    /// does not fit.
    pub fn output_hw(&self, in_hw: [usize; 2]) -> Option<[usize; 2]> {
        let (symmetric, extra) = split_padding(self.padding_for(in_hw));
        let spec = Conv2dSpec { stride: self.stride, padding: symmetric, dilation: self.dilation, groups: self.groups };
        let k = self.weight.shape();
        spec.output_hw([in_hw[0] + extra[0], in_hw[1] + extra[1]], [k[2], k[3]])
    }
}

impl Module for Conv2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let c_in = self.in_channels();
        assert!(
            shape.len() == 4 && shape[1] == c_in,
            "Conv2d: expected input [n, {c_in}, h, w] but received {shape:?}"
        );
        let in_hw = [shape[2], shape[3]];
        let k = self.weight.shape();
        if self.output_hw(in_hw).is_none_or(|[oh, ow]| oh == 0 || ow == 0) {
            panic!(
                "Conv2d: the {}×{} kernel (dilation {:?}) does not fit the {}×{} input of {shape:?} with padding {:?}",
                k[2], k[3], self.dilation, in_hw[0], in_hw[1], self.padding
            );
        }
        let (symmetric, extra) = split_padding(self.padding_for(in_hw));
        let spec = Conv2dSpec { stride: self.stride, padding: symmetric, dilation: self.dilation, groups: self.groups };
        let x = pad_after(input, extra, 0.0);
        if self.bias.is_none() && !self.relu {
            return x.conv2d(&self.weight, spec);
        }
        // Bias and ReLU are applied as the convolution writes its output (`conv2d_fused`).
        x.conv2d_fused(&self.weight, self.bias.as_ref(), self.relu, spec)
    }

    fn kind(&self) -> &'static str {
        "Conv2d"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight", &self.weight);
        if let Some(b) = &self.bias {
            visitor.parameter("bias", b);
        }
    }

    /// `2 · (output elements) · (c_in/groups · kh · kw)`: one multiply-add per kernel tap.
    fn flops(&self, _input_shape: &[usize], output_shape: &[usize]) -> u64 {
        let taps: usize = self.weight.shape()[1..].iter().product();
        2 * taps as u64 * output_shape.iter().product::<usize>() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_relu_is_a_relu_layer_after_the_convolution() {
        use crate::{ModuleExt, ReLU, Sequential};
        use nabla_tensor::init;
        let config = Conv2dConfig::new(2, 3, [3, 3]).with_padding(Padding::Same).with_stride([2, 1]);
        let (fused, plain) =
            (config.clone().with_relu(true).init(&mut nabla_tensor::rng(4)), config.init(&mut nabla_tensor::rng(4)));
        fused.bias.as_ref().unwrap().set_value(Tensor::from_vec(vec![0.3f32, -0.2, 0.1], &[3]));
        plain.bias.as_ref().unwrap().set_value(Tensor::from_vec(vec![0.3f32, -0.2, 0.1], &[3]));
        let composed = Sequential::new().add(plain).add(ReLU);
        let x = Var::new(init::uniform(&[2, 2, 5, 6], -1.0, 1.0, DType::F32, &mut nabla_tensor::rng(5)));
        let (y, z) = (fused.forward(&x), composed.forward(&x));
        assert_eq!(y.value().to_vec_f32(), z.value().to_vec_f32());
        assert!(y.value().to_vec_f32().contains(&0.0), "the ReLU cuts something");
        let (gy, gz) = (y.square().sum().backward(), z.square().sum().backward());
        let params = composed.parameters();
        for (a, b) in [&x, &fused.weight, fused.bias.as_ref().unwrap()].into_iter().zip([&x, &params[0], &params[1]]) {
            assert!(gy.get(a).unwrap().allclose(gz.get(b).unwrap(), 1e-6, 1e-6));
        }
    }

    #[test]
    fn same_padding_follows_tensorflow() {
        // (in, span, stride) → (before, after)
        let cases = [
            (5, 3, 1, [1, 1]),
            (5, 3, 2, [1, 1]),
            (4, 3, 2, [0, 1]),
            (6, 4, 1, [1, 2]),
            (7, 1, 3, [0, 0]),
            (5, 5, 1, [2, 2]), // 3×3 with dilation 2
            (2, 5, 3, [1, 2]),
        ];
        for (n, span, stride, expected) in cases {
            assert_eq!(
                Padding::Same.amounts([n, n], [span, span], [stride, stride])[0],
                expected,
                "{n} {span} {stride}"
            );
        }
    }

    #[test]
    fn pad_after_appends_fill_values() {
        let x = Var::constant(Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
        let y = pad_after(&x, [1, 0], -1.0);
        assert_eq!(y.shape(), vec![1, 1, 3, 2]);
        assert_eq!(y.value().to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0, -1.0, -1.0]);
        let y = pad_after(&x, [0, 1], 0.0);
        assert_eq!(y.value().to_vec_f64(), vec![1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
    }
}
