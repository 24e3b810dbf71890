//! Pooling layers on NCHW images: [`MaxPool2d`], [`AvgPool2d`] and [`GlobalAvgPool2d`].
//!
//! Pooling summarises each `kh × kw` window of every channel by one number — its largest value
//! or its mean — so it shrinks the image without learning anything (no parameters):
//!
//! ```text
//! max:  y[n, c, i, j] = max_{p<kh, q<kw}       x[n, c, i·sh − top + p, j·sw − left + q]
//! avg:  y[n, c, i, j] = (1/D) · Σ_{p<kh, q<kw} x[n, c, i·sh − top + p, j·sw − left + q]
//! ```
//!
//! | layer | input | output |
//! |---|---|---|
//! | [`MaxPool2d`], [`AvgPool2d`] | `[n, c, h, w]` | `[n, c, oh, ow]`, sizes as for a convolution with that window (see [`Padding`]) |
//! | [`GlobalAvgPool2d`] | `[n, c, h, w]` | `[n, c]`, the mean of each channel |
//!
//! The stride defaults to the kernel (non-overlapping windows), as in Keras and PyTorch.
//! Padding never wins a maximum (it counts as −∞). For the average, the divisor `D` is the
//! number of window pixels inside the input unless `count_include_pad` is set, in which case
//! it is `kh·kw` and padding counts as zeros. `Padding::Same` follows Keras: `⌈in/stride⌉`
//! outputs, the extra pixel of an odd padding on the bottom/right.
//!
//! Gradients: max pooling sends each output's gradient to the input that was the maximum, so
//! it is only differentiable away from ties; average pooling spreads it evenly over the window.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{MaxPool2d, Module};
//! use nabla_tensor::{DType, Tensor};
//! let y = MaxPool2d::new([2, 2]).forward(&Var::constant(Tensor::zeros(&[32, 8, 28, 28], DType::F32)));
//! assert_eq!(y.shape(), vec![32, 8, 14, 14]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{Pool2dSpec, Tensor};

use crate::conv2d::{pad_after, split_padding, Padding};
use crate::module::{Module, Visitor};

/// The window geometry shared by max and average pooling.
#[track_caller]
fn pool_geometry(
    layer: &str,
    shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
) -> (Pool2dSpec, [usize; 2]) {
    assert!(shape.len() == 4, "{layer}: expected input [n, c, h, w] but received {shape:?}");
    assert!(
        kernel.iter().chain(&stride).all(|&v| v > 0),
        "{layer}: kernel {kernel:?} and stride {stride:?} must be positive"
    );
    let in_hw = [shape[2], shape[3]];
    let (symmetric, extra) = split_padding(padding.amounts(in_hw, kernel, stride));
    assert!(
        symmetric[0] <= kernel[0] / 2 && symmetric[1] <= kernel[1] / 2,
        "{layer}: padding {symmetric:?} is more than half the {}×{} window",
        kernel[0],
        kernel[1]
    );
    let spec = Pool2dSpec { kernel, stride, padding: symmetric };
    let fits = spec.output_hw([in_hw[0] + extra[0], in_hw[1] + extra[1]]).is_some_and(|[oh, ow]| oh > 0 && ow > 0);
    assert!(
        fits,
        "{layer}: the {}×{} window does not fit the {}×{} input of {shape:?} with padding {padding:?}",
        kernel[0], kernel[1], in_hw[0], in_hw[1]
    );
    (spec, extra)
}

/// Max pooling: the largest value of each window; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows `[sh, sw]`.
    pub stride: [usize; 2],
    /// Padding (counts as −∞); explicit padding may be at most half the window.
    pub padding: Padding,
}

impl MaxPool2d {
    /// Non-overlapping `kernel` windows: stride equal to the kernel, no padding.
    /// A layer without parameters is its own configuration: there is nothing to draw.
    pub fn new(kernel: [usize; 2]) -> Self {
        MaxPool2d { kernel, stride: kernel, padding: Padding::Valid }
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
}

impl Module for MaxPool2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let (spec, extra) = pool_geometry("MaxPool2d", input.shape(), self.kernel, self.stride, self.padding);
        pad_after(input, extra, f64::NEG_INFINITY).max_pool2d(spec)
    }

    fn kind(&self) -> &'static str {
        "MaxPool2d"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}

    /// One comparison per window element: `(output elements) · kh · kw`.
    fn flops(&self, _input_shape: &[usize], output_shape: &[usize]) -> u64 {
        (output_shape.iter().product::<usize>() * self.kernel[0] * self.kernel[1]) as u64
    }
}

/// Average pooling: the mean of each window; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows `[sh, sw]`.
    pub stride: [usize; 2],
    /// Padding; explicit padding may be at most half the window.
    pub padding: Padding,
    /// Divide by `kh·kw`, counting padding as zeros (PyTorch's default), instead of by the
    /// number of real pixels in the window (Keras' behaviour, and the default here).
    pub count_include_pad: bool,
}

impl AvgPool2d {
    /// Non-overlapping `kernel` windows: stride equal to the kernel, no padding, padding not
    /// counted in the mean.
    pub fn new(kernel: [usize; 2]) -> Self {
        AvgPool2d { kernel, stride: kernel, padding: Padding::Valid, count_include_pad: false }
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

    /// Sets whether padding counts in the divisor.
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }
}

impl Module for AvgPool2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        let (spec, extra) = pool_geometry("AvgPool2d", shape, self.kernel, self.stride, self.padding);
        if extra == [0, 0] || self.count_include_pad {
            return pad_after(input, extra, 0.0).avg_pool2d(spec, self.count_include_pad);
        }
        // The kernel would count the explicitly added zeros as real pixels, so divide each
        // window's sum by its count of real pixels: the same pooling applied to a mask of ones.
        let sums = pad_after(input, extra, 0.0).avg_pool2d(spec, true);
        let ones = Var::constant(Tensor::ones(shape, input.dtype()));
        let counts = pad_after(&ones, extra, 0.0).avg_pool2d(spec, true);
        sums.div(&counts)
    }

    fn kind(&self) -> &'static str {
        "AvgPool2d"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}

    /// One addition per window element: `(output elements) · kh · kw`.
    fn flops(&self, _input_shape: &[usize], output_shape: &[usize]) -> u64 {
        (output_shape.iter().product::<usize>() * self.kernel[0] * self.kernel[1]) as u64
    }
}

/// Global average pooling (Keras: GlobalAveragePooling2D): the mean of each channel,
/// `[n, c, h, w] -> [n, c]`; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2d;

impl Module for GlobalAvgPool2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        assert!(shape.len() == 4, "GlobalAvgPool2d: expected input [n, c, h, w] but received {shape:?}");
        input.global_avg_pool2d()
    }

    fn kind(&self) -> &'static str {
        "GlobalAvgPool2d"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}

    /// One addition per input element.
    fn flops(&self, input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        input_shape.iter().product::<usize>() as u64
    }
}
