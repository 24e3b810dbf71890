//! Transposed 2-D convolution (Keras: Conv2DTranspose; sometimes, wrongly, "deconvolution") on
//! NCHW images: the adjoint of a convolution, used to upsample in decoders and segmentation nets.
//!
//! Where a convolution gathers a window of inputs into one output, a transposed convolution
//! scatters each input pixel, weighted by the kernel, onto a window of the output; windows are
//! `stride` apart, so the image grows by about `stride`:
//!
//! ```text
//! y[n, g·C' + o, i·sh − ph + p·dh, j·sw − pw + q·dw] += x[n, c, i, j] · W[c, o, p, q]     (c in group g)
//! y[n, o, ·, ·] += b[o]
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[n, c_in, h, w]` |
//! | `weight` `W` | `[c_in, c_out/groups, kh, kw]` (PyTorch's layout) |
//! | `bias` `b` | `[c_out]` |
//! | output `y` | `[n, c_out, oh, ow]` |
//!
//! Along each axis (PyTorch's formula, with `padding` cropped from both sides of the full
//! scatter and `output_padding` extra rows/columns at the end):
//!
//! ```text
//! out = (in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1
//! ```
//!
//! **It is the adjoint of convolution.** `Conv2d` with the same kernel, stride, padding,
//! dilation and groups maps an `[n, c_out, oh, ow]` image to `[n, c_in, h, w]` with a weight of
//! exactly this shape, and this layer computes `Var::conv2d_backward_input` — the gradient of
//! that convolution with respect to its input — so that, for every `x` and `z`,
//!
//! ```text
//! ⟨conv2d(z, W), x⟩ = ⟨z, conv_transpose2d(x, W)⟩
//! ```
//!
//! Several image sizes convolve to the same size when `stride > 1`; `output_padding` picks
//! which one to return (`output_padding < stride` or `< dilation`, as PyTorch requires). Its
//! gradients are those of convolution read backwards: `x̄ = conv2d(ȳ, W)`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{ConvTranspose2dConfig, Module};
//! use nabla_tensor::{rng, DType, Tensor};
//! // Doubles 7×7 to 14×14: (7 − 1)·2 − 2·1 + 3 + 1 = 14.
//! let up = ConvTranspose2dConfig::new(16, 8, [3, 3])
//!     .with_stride([2, 2])
//!     .with_padding([1, 1])
//!     .with_output_padding([1, 1])
//!     .init(&mut rng(0));
//! let y = up.forward(&Var::constant(Tensor::zeros(&[4, 16, 7, 7], DType::F32)));
//! assert_eq!(y.shape(), vec![4, 8, 14, 14]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{Conv2dSpec, DType, Rng};

use crate::conv2d::pad_after;
use crate::init::Initializer;
use crate::module::{Module, Visitor};

/// How to build a [`ConvTranspose2d`] layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose2dConfig {
    /// Channels of the input, `c_in`.
    pub in_channels: usize,
    /// Channels of the output, `c_out`.
    pub out_channels: usize,
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Distance between the windows scattered by neighbouring input pixels (`[1, 1]`).
    pub stride: [usize; 2],
    /// Rows (columns) cropped from each side of the full output (`[0, 0]`).
    pub padding: [usize; 2],
    /// Rows (columns) added at the bottom (right) of the output (`[0, 0]`).
    pub output_padding: [usize; 2],
    /// Step between kernel taps (`[1, 1]`).
    pub dilation: [usize; 2],
    /// Channel groups: `c_in` and `c_out` must be multiples (1).
    pub groups: usize,
    /// Whether to add a bias.
    pub bias: bool,
    /// How the weight starts (Glorot uniform, as in Keras, by default).
    pub weight_init: Initializer,
    /// How the bias starts (zeros by default).
    pub bias_init: Initializer,
    /// Element type of the parameters.
    pub dtype: DType,
}

impl ConvTranspose2dConfig {
    /// `in_channels → out_channels` with a `kernel = [kh, kw]`: stride 1, no padding or output
    /// padding, no dilation, one group, a bias, Glorot-uniform weights, `f32`.
    pub fn new(in_channels: usize, out_channels: usize, kernel: [usize; 2]) -> Self {
        ConvTranspose2dConfig {
            in_channels,
            out_channels,
            kernel,
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
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

    /// Sets the padding `[ph, pw]` cropped from each side.
    pub fn with_padding(mut self, padding: [usize; 2]) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the output padding `[oph, opw]` added at the end.
    pub fn with_output_padding(mut self, output_padding: [usize; 2]) -> Self {
        self.output_padding = output_padding;
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

    /// Sets the element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Builds the layer, drawing its weights from `rng`.
    ///
    /// # Panics
    /// If a size, stride, dilation or `groups` is zero, the channels are not multiples of
    /// `groups`, or an output padding is not below its stride or its dilation.
    #[track_caller]
    pub fn init(&self, rng: &mut Rng) -> ConvTranspose2d {
        let c = self;
        assert!(
            c.in_channels > 0 && c.out_channels > 0 && c.groups > 0,
            "ConvTranspose2dConfig: channels ({} → {}) and groups ({}) must be positive",
            c.in_channels,
            c.out_channels,
            c.groups
        );
        assert!(
            c.in_channels.is_multiple_of(c.groups) && c.out_channels.is_multiple_of(c.groups),
            "ConvTranspose2dConfig: in_channels {} and out_channels {} must both be multiples of groups {}",
            c.in_channels,
            c.out_channels,
            c.groups
        );
        assert!(
            c.kernel.iter().chain(&c.stride).chain(&c.dilation).all(|&v| v > 0),
            "ConvTranspose2dConfig: kernel {:?}, stride {:?} and dilation {:?} must be positive",
            c.kernel,
            c.stride,
            c.dilation
        );
        assert!(
            (0..2).all(|d| c.output_padding[d] < c.stride[d].max(c.dilation[d])),
            "ConvTranspose2dConfig: output_padding {:?} must be smaller than the stride {:?} or the dilation {:?}",
            c.output_padding,
            c.stride,
            c.dilation
        );
        let shape = [c.in_channels, c.out_channels / c.groups, c.kernel[0], c.kernel[1]];
        let weight = Var::new(c.weight_init.init(&shape, c.dtype, rng));
        let bias = c.bias.then(|| Var::new(c.bias_init.init(&[c.out_channels], c.dtype, rng)));
        ConvTranspose2d {
            weight,
            bias,
            stride: c.stride,
            padding: c.padding,
            output_padding: c.output_padding,
            dilation: c.dilation,
            groups: c.groups,
        }
    }
}

/// A transposed 2-D convolution layer; see the [module docs](self).
pub struct ConvTranspose2d {
    /// `[c_in, c_out/groups, kh, kw]`.
    pub weight: Var,
    /// `[c_out]`, if the layer has a bias.
    pub bias: Option<Var>,
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl ConvTranspose2d {
    /// The input channels the layer expects.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[1] * self.groups
    }

    /// The convolution this layer is the adjoint of (`Conv2d` with these settings maps the
    /// output's shape back to the input's).
    pub fn spec(&self) -> Conv2dSpec {
        Conv2dSpec { stride: self.stride, padding: self.padding, dilation: self.dilation, groups: self.groups }
    }

    /// The output size `[oh, ow]` for an input of `in_hw = [h, w]`,
    /// `(in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1`, or `None` if the
    /// padding crops everything (or the input is empty).
    pub fn output_hw(&self, in_hw: [usize; 2]) -> Option<[usize; 2]> {
        let k = self.weight.shape();
        let axis = |d: usize| {
            let full = (in_hw[d].checked_sub(1)?) * self.stride[d]
                + self.dilation[d] * (k[2 + d] - 1)
                + self.output_padding[d]
                + 1;
            full.checked_sub(2 * self.padding[d]).filter(|&out| out > 0)
        };
        Some([axis(0)?, axis(1)?])
    }
}

impl Module for ConvTranspose2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let c_in = self.in_channels();
        assert!(
            shape.len() == 4 && shape[1] == c_in,
            "ConvTranspose2d: expected input [n, {c_in}, h, w] but received {shape:?}"
        );
        let Some([oh, ow]) = self.output_hw([shape[2], shape[3]]) else {
            panic!(
                "ConvTranspose2d: padding {:?} crops the whole output of the {}×{} input of {shape:?}",
                self.padding, shape[2], shape[3]
            );
        };
        // A convolution of an oh × ow image gives h + ⌊output_padding / stride⌋ rows (columns):
        // more than h only when output_padding ≥ stride, and those extra rows scatter nothing.
        let extra = [self.output_padding[0] / self.stride[0], self.output_padding[1] / self.stride[1]];
        let x = pad_after(input, extra, 0.0);
        let out_shape = [shape[0], self.out_channels(), oh, ow];
        let y = Var::conv2d_backward_input(&x, &self.weight, &out_shape, self.spec());
        match &self.bias {
            Some(b) => y.add(&b.reshape(&[out_shape[1], 1, 1])),
            None => y,
        }
    }

    fn kind(&self) -> &'static str {
        "ConvTranspose2d"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("weight", &self.weight);
        if let Some(b) = &self.bias {
            visitor.parameter("bias", b);
        }
    }

    /// `2 · (input elements) · (c_out/groups · kh · kw)`: each input pixel is scattered through
    /// every tap of its group's kernels.
    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        let taps: usize = self.weight.shape()[1..].iter().product();
        2 * taps as u64 * input_shape.iter().product::<usize>() as u64
    }
}
