//! 2-D convolution over NCHW images, computed by im2col + gemm, and its two adjoints.
//!
//! [`Tensor::conv2d`] slides a bank of filters over a batch of images. The backward pass of a
//! convolution needs its adjoints: [`Tensor::conv2d_backward_input`] (the adjoint in the input,
//! also called a transposed convolution) and [`Tensor::conv2d_backward_weight`] (the adjoint in
//! the weight). All three unfold the image patches into the columns of a matrix ("im2col"), so
//! that the sliding window becomes one matrix product done by the `gemm` crate; the picture is
//! in the docs of [`Tensor::try_conv2d`]. [`Tensor::conv2d_fused`] is the forward kernel with a
//! convolution layer's bias and ReLU applied as the output is written.
//!
//! For `f32` with stride 1 (most layers of a CIFAR ResNet), batches of two images or more can
//! skip the patch matrix altogether: `conv/direct` slides the filters over the zero-padded
//! image itself, a tile of outputs held in vector registers (the forward pass and the input
//! gradient with AVX-512, the weight gradient with AVX-512 or AVX2). It is used where it was
//! measured faster; the tests check it against im2col.
//!
//! This file knows nothing about gradients: the autograd crate calls these kernels.

use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::{ArcArray, IxDyn};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::{or_panic, same_dtype, ShapeError};
use crate::layout::transpose_into;
use crate::scalar;
use crate::scratch::Scratch;
use crate::short_rows::{add_rows, copy_rows, copy_short};
use crate::tensor::{dispatch2, Tensor};

mod direct;

/// How a 2-D convolution slides its kernel: stride, zero padding, dilation and channel groups.
///
/// Each `[usize; 2]` field is `[along the height, along the width]`. Along one axis, an input of
/// size `in` and a kernel of size `k` give an output of size
///
/// ```text
/// out = (in + 2·pad − dil·(k − 1) − 1) / stride + 1        (integer division)
/// ```
///
/// because the dilated kernel spans `dil·(k − 1) + 1` pixels and the formula counts how many
/// positions, `stride` apart, it takes inside the padded input.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `stride` | `[1, 1]` | step between neighbouring windows |
/// | `padding` | `[0, 0]` | rows (columns) of zeros added on each side |
/// | `dilation` | `[1, 1]` | step between kernel taps (2 reads every other pixel) |
/// | `groups` | `1` | the channels split into this many independent convolutions; `groups = c_in` is a depthwise convolution |
///
/// ```
/// use nabla_tensor::Conv2dSpec;
/// let same = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
/// assert_eq!(same.output_hw([28, 28], [3, 3]), Some([28, 28]));
/// let halve = Conv2dSpec { stride: [2, 2], ..Conv2dSpec::default() };
/// assert_eq!(halve.output_hw([28, 28], [3, 3]), Some([13, 13]));
/// assert_eq!(Conv2dSpec::default().output_hw([2, 2], [3, 3]), None); // does not fit
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// Step between neighbouring windows, `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zeros added on each side of the input, `[ph, pw]` (`ph` rows on top and `ph` at the bottom).
    pub padding: [usize; 2],
    /// Step between kernel taps, `[dh, dw]`; 1 is an ordinary convolution.
    pub dilation: [usize; 2],
    /// Number of channel groups; `c_in` and `c_out` must both be multiples of it.
    pub groups: usize,
}

impl Default for Conv2dSpec {
    /// Stride 1, no padding, dilation 1, one group: the textbook convolution.
    fn default() -> Self {
        Conv2dSpec { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

impl Conv2dSpec {
    /// The output size `[oh, ow]` of an input of size `in_hw = [h, w]` under a kernel of size
    /// `kernel_hw = [kh, kw]`, by `out = (in + 2·pad − dil·(k − 1) − 1) / stride + 1`.
    ///
    /// `None` when the dilated kernel does not fit inside the padded input, or when a kernel
    /// size, stride or dilation is zero.
    pub fn output_hw(&self, in_hw: [usize; 2], kernel_hw: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |d: usize| {
            if self.stride[d] == 0 || self.dilation[d] == 0 || kernel_hw[d] == 0 {
                return None;
            }
            let span = self.dilation[d] * (kernel_hw[d] - 1) + 1;
            let padded = in_hw[d] + 2 * self.padding[d];
            padded.checked_sub(span).map(|room| room / self.stride[d] + 1)
        };
        Some([axis(0)?, axis(1)?])
    }
}

impl Tensor {
    /// The 2-D convolution (strictly, cross-correlation, as in every deep-learning library) of a
    /// batch of images `self` with a bank of filters `weight`. No bias: add one by broadcasting.
    ///
    /// With `C = c_in/groups` input channels and `O = c_out/groups` filters per group, filter
    /// `o` belongs to group `g = o / O` and sees only that group's input channels:
    ///
    /// ```text
    /// y[n, o, i, j] = Σ_{c<C, p<kh, q<kw} x[n, g·C + c, i·sh − ph + p·dh, j·sw − pw + q·dw] · w[o, c, p, q]
    /// ```
    ///
    /// where `x` reads as 0 outside the image (the zero padding). Output sizes come from
    /// [`Conv2dSpec::output_hw`].
    ///
    /// | tensor | shape |
    /// |---|---|
    /// | `self` (input `x`) | `[n, c_in, h, w]` |
    /// | `weight` (`w`) | `[c_out, c_in/groups, kh, kw]` |
    /// | result (`y`) | `[n, c_out, oh, ow]` |
    ///
    /// ```
    /// use nabla_tensor::{Conv2dSpec, Tensor};
    /// let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]);
    /// let w = Tensor::from_vec(vec![1.0f32; 4], &[1, 1, 2, 2]); // sums each 2×2 patch
    /// let y = x.conv2d(&w, Conv2dSpec::default());
    /// assert_eq!(y.shape(), &[1, 1, 2, 2]);
    /// assert_eq!(y.to_vec_f32(), vec![12.0, 16.0, 24.0, 28.0]);
    /// ```
    ///
    /// # How it is computed: im2col + one matrix product
    ///
    /// For each image, im2col copies the patch under every output pixel into one column of a
    /// matrix with a row per (channel, kernel tap). The convolution is then the product of the
    /// filters, flattened to rows, with that matrix. For the example above:
    ///
    /// ```text
    ///   x [1, 3, 3]           cols [c·kh·kw = 4, oh·ow = 4]         w as [c_out = 1, 4]
    ///                         pixel (0,0) (0,1) (1,0) (1,1)
    ///   1 2 3        im2col   tap (0,0):  1     2     4     5
    ///   4 5 6       ───────▶  tap (0,1):  2     3     5     6        y = [1 1 1 1] · cols
    ///   7 8 9                 tap (1,0):  4     5     7     8          = [12 16 24 28]
    ///                         tap (1,1):  5     6     8     9
    /// ```
    ///
    /// With groups, group `g` multiplies its `O` rows of the weight by its `C·kh·kw` rows of
    /// `cols`. Consecutive images are taken in runs whose patch matrices sit side by side, so
    /// each gemm is wide even for small feature maps; runs are spread over threads (each writes
    /// its own output block), and the operands are passed to gemm with their strides.
    ///
    /// For `f32` with stride 1, dilation 1 and one group, two images or more, on a CPU with
    /// AVX-512, shapes where it was measured faster skip the patch matrix: the filters slide over
    /// the zero-padded image directly, a tile of outputs kept in vector registers (the
    /// `conv/direct` module docs say how). These are shapes where few positions are wasted on
    /// the padded rows' extra columns (CIFAR's 32×32 and 16×16 images with padding 1, MNIST's
    /// 28×28) with at most 64 channels of 3×3, and, for a multiple of 64 filters with at most
    /// 576 taps each, the rest (MNIST's unpadded 13×13, CIFAR's 8×8). The input gradient of such a
    /// convolution takes the same road, and the weight gradient a similar one (with AVX2 too).
    pub fn try_conv2d(&self, weight: &Tensor, spec: Conv2dSpec) -> Result<Tensor, ShapeError> {
        let op = "conv2d";
        let operands: &[&[usize]] = &[self.shape(), weight.shape()];
        let geo = Geometry::check(op, self.shape(), weight.shape(), spec, operands)?;
        same_dtype(op, operands, ("the input", self), ("the weight", weight))?;
        let (x, w) = (self.contiguous(), weight.contiguous());
        Ok(dispatch2!(op, x, w, x, w => {
            let plain = Epilogue { bias: None, relu: false };
            Tensor::from_vec(conv2d_kernel(row_major(x), row_major(w), &geo, plain), &geo.output_shape())
        }))
    }

    /// [`try_conv2d`](Self::try_conv2d), panicking at the caller's line.
    #[track_caller]
    pub fn conv2d(&self, weight: &Tensor, spec: Conv2dSpec) -> Tensor {
        or_panic(self.try_conv2d(weight, spec))
    }

    /// A convolution layer's whole forward pass in one kernel: the convolution, then the bias
    /// `[c_out]` added to every pixel of its channel, then (if `relu`) `max(·, 0)`:
    ///
    /// ```text
    /// y[n, o, i, j] = relu(conv2d(x, w)[n, o, i, j] + b[o])
    /// ```
    ///
    /// The bias and the ReLU are applied as each output element is copied out of the product's
    /// work matrix, while it is still in cache, instead of in two more passes over the whole
    /// feature map (the first convolution of an MNIST CNN writes 22 MB per batch of 256). The
    /// composed form `x.conv2d(&w, spec).add(&b.reshape(&[c_out, 1, 1])).relu()` gives the
    /// same numbers and is this kernel's oracle.
    ///
    /// A [`ShapeError`] as for [`try_conv2d`](Self::try_conv2d), or when `bias` is not
    /// `[c_out]` or not of the input's dtype.
    ///
    /// ```
    /// use nabla_tensor::{Conv2dSpec, Tensor};
    /// let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]);
    /// let w = Tensor::from_vec(vec![1.0f32, 1.0, -1.0, -1.0], &[1, 1, 2, 2]); // top − bottom
    /// let b = Tensor::from_vec(vec![5.0f32], &[1]);
    /// let y = x.conv2d_fused(&w, Some(&b), true, Conv2dSpec::default());
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 0.0, 0.0, 0.0]); // −6 + 5 < 0 everywhere
    /// let y = x.conv2d_fused(&w, Some(&b), false, Conv2dSpec::default());
    /// assert_eq!(y.to_vec_f32(), vec![-1.0; 4]);
    /// ```
    pub fn try_conv2d_fused(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        relu: bool,
        spec: Conv2dSpec,
    ) -> Result<Tensor, ShapeError> {
        let op = "conv2d_fused";
        let mut operands: Vec<&[usize]> = vec![self.shape(), weight.shape()];
        operands.extend(bias.map(Tensor::shape));
        let geo = Geometry::check(op, self.shape(), weight.shape(), spec, &operands)?;
        same_dtype(op, &operands, ("the input", self), ("the weight", weight))?;
        if let Some(b) = bias {
            if b.shape() != [geo.c_out] {
                let reason = format!("the bias must have shape [{}], got {:?}", geo.c_out, b.shape());
                return Err(ShapeError::new(op, &operands, None, reason));
            }
            same_dtype(op, &operands, ("the input", self), ("the bias", b))?;
        }
        let (x, w) = (self.contiguous(), weight.contiguous());
        let b = bias.map(Tensor::contiguous);
        Ok(dispatch2!(op, x, w, x, w => {
            let bias = b.as_ref().map(|b| row_major(b.as_array().expect("dtype checked above")));
            let epilogue = Epilogue { bias, relu };
            Tensor::from_vec(conv2d_kernel(row_major(x), row_major(w), &geo, epilogue), &geo.output_shape())
        }))
    }

    /// [`try_conv2d_fused`](Self::try_conv2d_fused), panicking at the caller's line.
    #[track_caller]
    pub fn conv2d_fused(&self, weight: &Tensor, bias: Option<&Tensor>, relu: bool, spec: Conv2dSpec) -> Tensor {
        or_panic(self.try_conv2d_fused(weight, bias, relu, spec))
    }

    /// The adjoint of `x ↦ x.conv2d(weight, spec)`: the gradient of a convolution with respect
    /// to its input, given the gradient `grad_out` of its output (a "transposed convolution").
    ///
    /// Every input pixel collects the output gradients of the windows that read it, weighted
    /// by the kernel tap that read it:
    ///
    /// ```text
    /// dx[n, g·C + c, a, b] = Σ_{o in group g, p, q, i, j with i·sh − ph + p·dh = a, j·sw − pw + q·dw = b}
    ///                            grad_out[n, o, i, j] · w[o, c, p, q]
    /// ```
    ///
    /// so that `⟨x.conv2d(w), g⟩ = ⟨x, conv2d_backward_input(g, w)⟩` for every `x` and `g`.
    /// `input_shape` is needed because with a stride several input sizes give the same output
    /// size; rows and columns no window reads get a zero gradient.
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `grad_out` | `[n, c_out, oh, ow]` |
    /// | `weight` | `[c_out, c_in/groups, kh, kw]` |
    /// | `input_shape`, result | `[n, c_in, h, w]` |
    ///
    /// Computed per image and group as `cols = W_gᵀ · grad_out_g` (one gemm, `Wᵀ` read through
    /// its strides), then col2im, the reverse of im2col, which adds every entry of `cols` back
    /// onto the input pixel it was copied from. With stride 1 in `f32` (see
    /// [`try_conv2d`](Self::try_conv2d)) it is instead a direct correlation of the padded
    /// `grad_out` with the flipped filters.
    ///
    /// ```
    /// use nabla_tensor::{Conv2dSpec, Tensor};
    /// let g = Tensor::ones(&[1, 1, 2, 2], nabla_tensor::DType::F64);
    /// let w = Tensor::ones(&[1, 1, 2, 2], nabla_tensor::DType::F64);
    /// let dx = Tensor::conv2d_backward_input(&g, &w, &[1, 1, 3, 3], Conv2dSpec::default());
    /// // how many 2×2 windows cover each pixel of a 3×3 image
    /// assert_eq!(dx.to_vec_f64(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// ```
    pub fn try_conv2d_backward_input(
        grad_out: &Tensor,
        weight: &Tensor,
        input_shape: &[usize],
        spec: Conv2dSpec,
    ) -> Result<Tensor, ShapeError> {
        let op = "conv2d_backward_input";
        let operands: &[&[usize]] = &[grad_out.shape(), weight.shape(), input_shape];
        let geo = Geometry::check(op, input_shape, weight.shape(), spec, operands)?;
        geo.check_grad_out(op, grad_out.shape(), operands)?;
        same_dtype(op, operands, ("grad_out", grad_out), ("the weight", weight))?;
        let (g, w) = (grad_out.contiguous(), weight.contiguous());
        Ok(dispatch2!(op, g, w, g, w => {
            Tensor::from_vec(conv2d_backward_input_kernel(row_major(g), row_major(w), &geo), &geo.input_shape())
        }))
    }

    /// [`try_conv2d_backward_input`](Self::try_conv2d_backward_input), panicking at the
    /// caller's line.
    #[track_caller]
    pub fn conv2d_backward_input(
        grad_out: &Tensor,
        weight: &Tensor,
        input_shape: &[usize],
        spec: Conv2dSpec,
    ) -> Tensor {
        or_panic(Tensor::try_conv2d_backward_input(grad_out, weight, input_shape, spec))
    }

    /// The adjoint of `w ↦ input.conv2d(w, spec)`: the gradient of a convolution with respect
    /// to its weight, given the gradient `grad_out` of its output.
    ///
    /// Each weight entry sums, over the batch and all output pixels, the output gradient times
    /// the input value that the entry multiplied:
    ///
    /// ```text
    /// dw[o, c, p, q] = Σ_{n, i, j} grad_out[n, o, i, j] · x[n, g·C + c, i·sh − ph + p·dh, j·sw − pw + q·dw]
    /// ```
    ///
    /// so that `⟨x.conv2d(w), g⟩ = ⟨w, conv2d_backward_weight(x, g)⟩` for every `w` and `g`.
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `input` | `[n, c_in, h, w]` |
    /// | `grad_out` | `[n, c_out, oh, ow]` |
    /// | `weight_shape`, result | `[c_out, c_in/groups, kh, kw]` |
    ///
    /// Computed per run of consecutive images and group as `dW_g = grad_out_g · cols_gᵀ`, the
    /// run's output gradients and patch matrices side by side (im2col, then one gemm with
    /// `colsᵀ` read through its strides); runs are summed on rayon's threads and the partial
    /// sums added in run order. (For `f32` stride-1 shapes the direct kernel of
    /// [`try_conv2d`](Self::try_conv2d) sums over the padded image instead, in chunks of images.)
    /// The runs and chunks depend only on the shapes, so the result is bit-identical from run to
    /// run and for any number of threads; CPUs with other vector instructions may round
    /// differently.
    ///
    /// ```
    /// use nabla_tensor::{Conv2dSpec, DType, Tensor};
    /// let x = Tensor::from_vec((1..=9).map(|v| v as f64).collect(), &[1, 1, 3, 3]);
    /// let g = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    /// let dw = Tensor::conv2d_backward_weight(&x, &g, &[1, 1, 2, 2], Conv2dSpec::default());
    /// // each tap's sum over the four windows: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9
    /// assert_eq!(dw.to_vec_f64(), vec![12.0, 16.0, 24.0, 28.0]);
    /// ```
    pub fn try_conv2d_backward_weight(
        input: &Tensor,
        grad_out: &Tensor,
        weight_shape: &[usize],
        spec: Conv2dSpec,
    ) -> Result<Tensor, ShapeError> {
        let op = "conv2d_backward_weight";
        let operands: &[&[usize]] = &[input.shape(), grad_out.shape(), weight_shape];
        let geo = Geometry::check(op, input.shape(), weight_shape, spec, operands)?;
        geo.check_grad_out(op, grad_out.shape(), operands)?;
        same_dtype(op, operands, ("the input", input), ("grad_out", grad_out))?;
        let (x, g) = (input.contiguous(), grad_out.contiguous());
        Ok(dispatch2!(op, x, g, x, g => {
            Tensor::from_vec(conv2d_backward_weight_kernel(row_major(x), row_major(g), &geo), &geo.weight_shape())
        }))
    }

    /// [`try_conv2d_backward_weight`](Self::try_conv2d_backward_weight), panicking at the
    /// caller's line.
    #[track_caller]
    pub fn conv2d_backward_weight(
        input: &Tensor,
        grad_out: &Tensor,
        weight_shape: &[usize],
        spec: Conv2dSpec,
    ) -> Tensor {
        or_panic(Tensor::try_conv2d_backward_weight(input, grad_out, weight_shape, spec))
    }
}

/// The sizes of one convolution, checked once and shared by the three kernels.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    in_hw: [usize; 2],
    c_out: usize,
    kernel: [usize; 2],
    out_hw: [usize; 2],
    spec: Conv2dSpec,
}

impl Geometry {
    /// Checks that an input of `input` shape and a weight of `weight` shape can be convolved
    /// under `spec`; errors name `op` and its `operands`.
    fn check(
        op: &'static str,
        input: &[usize],
        weight: &[usize],
        spec: Conv2dSpec,
        operands: &[&[usize]],
    ) -> Result<Geometry, ShapeError> {
        let fail = |dim: Option<usize>, reason: String| Err(ShapeError::new(op, operands, dim, reason));
        if spec.stride.contains(&0) || spec.dilation.contains(&0) || spec.groups == 0 {
            return fail(None, format!("stride, dilation and groups must be at least 1, got {spec:?}"));
        }
        if input.len() != 4 {
            return fail(None, format!("expected an input of rank 4 [n, c_in, h, w], got shape {input:?}"));
        }
        if weight.len() != 4 {
            return fail(
                None,
                format!("expected a weight of rank 4 [c_out, c_in/groups, kh, kw], got shape {weight:?}"),
            );
        }
        let (batch, c_in, in_hw) = (input[0], input[1], [input[2], input[3]]);
        let (c_out, c_per_group, kernel) = (weight[0], weight[1], [weight[2], weight[3]]);
        let groups = spec.groups;
        if c_in % groups != 0 {
            return fail(
                Some(1),
                format!("the input {input:?} has c_in = {c_in} channels, which do not split into groups = {groups}"),
            );
        }
        if c_out % groups != 0 {
            return fail(
                Some(0),
                format!("the weight {weight:?} has c_out = {c_out} filters, which do not split into groups = {groups}"),
            );
        }
        if c_per_group != c_in / groups {
            return fail(
                Some(1),
                format!(
                    "the weight {weight:?} expects {c_per_group} input channels per group (its axis 1), but the \
                     input {input:?} has c_in = {c_in} channels in {groups} group(s), i.e. {} per group",
                    c_in / groups
                ),
            );
        }
        if kernel.contains(&0) {
            return fail(Some(2), format!("the weight {weight:?} has an empty {}×{} kernel", kernel[0], kernel[1]));
        }
        let Some(out_hw) = spec.output_hw(in_hw, kernel) else {
            let span = |d: usize| spec.dilation[d] * (kernel[d] - 1) + 1;
            let padded = |d: usize| in_hw[d] + 2 * spec.padding[d];
            let d = if span(0) > padded(0) { 0 } else { 1 };
            return fail(
                Some(2 + d),
                format!(
                    "the {}×{} kernel of the weight {weight:?} with dilation {:?} spans {}×{} pixels, more than \
                     the {}×{} padded input (input {input:?}, padding {:?})",
                    kernel[0],
                    kernel[1],
                    spec.dilation,
                    span(0),
                    span(1),
                    padded(0),
                    padded(1),
                    spec.padding
                ),
            );
        };
        Ok(Geometry { batch, c_in, in_hw, c_out, kernel, out_hw, spec })
    }

    /// Checks that a gradient of `grad_out` shape has the shape of this convolution's output.
    fn check_grad_out(&self, op: &'static str, grad_out: &[usize], operands: &[&[usize]]) -> Result<(), ShapeError> {
        if grad_out == self.output_shape() {
            return Ok(());
        }
        Err(ShapeError::new(
            op,
            operands,
            None,
            format!(
                "grad_out has shape {grad_out:?}, but convolving an input {:?} with a weight {:?} under {:?} \
                 gives an output of shape {:?}",
                self.input_shape(),
                self.weight_shape(),
                self.spec,
                self.output_shape()
            ),
        ))
    }

    fn groups(&self) -> usize {
        self.spec.groups
    }

    /// Filters per group, `O = c_out/groups`.
    fn c_out_per_group(&self) -> usize {
        self.c_out / self.groups()
    }

    /// Rows of one group's patch matrix, `K = (c_in/groups)·kh·kw`: also the length of a filter.
    fn patch_len(&self) -> usize {
        self.c_in / self.groups() * self.kernel[0] * self.kernel[1]
    }

    /// Columns of the patch matrix, one per output pixel: `L = oh·ow`.
    fn out_pixels(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// Elements of one input image, `c_in·h·w`.
    fn input_len(&self) -> usize {
        self.c_in * self.in_hw[0] * self.in_hw[1]
    }

    /// Elements of one output image, `c_out·oh·ow`.
    fn output_len(&self) -> usize {
        self.c_out * self.out_pixels()
    }

    fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.c_in, self.in_hw[0], self.in_hw[1]]
    }

    fn weight_shape(&self) -> [usize; 4] {
        [self.c_out, self.c_in / self.groups(), self.kernel[0], self.kernel[1]]
    }

    fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.c_out, self.out_hw[0], self.out_hw[1]]
    }
}

/// The elements of an array made row-major by [`Tensor::contiguous`].
fn row_major<E: Element>(array: &ArcArray<E, IxDyn>) -> &[E] {
    array.as_slice().expect("made row-major by .contiguous()")
}

/// Columns one run's patch matrix should reach. One image of a small feature map (8×8 pixels
/// in the last stage of a CIFAR ResNet) gives a patch matrix only 64 columns wide, and gemm on
/// such thin matrices spends more time packing than multiplying; placing the patch matrices
/// of several consecutive images side by side gives one wide product instead.
const RUN_COLUMNS: usize = 4096;

/// How many consecutive images form one run: enough for [`RUN_COLUMNS`] columns, at most half
/// the batch (so two threads share the work), at least one. It depends only on the shapes, so
/// every result, including the weight gradient's sum over runs, is the same for every thread
/// count.
fn images_per_run(geo: &Geometry) -> usize {
    RUN_COLUMNS.div_ceil(geo.out_pixels().max(1)).min(geo.batch.div_ceil(2)).max(1)
}

/// The two work matrices of a run of `r` images, `W = r·L` columns wide (image `j` of the run
/// owns columns `j·L .. (j+1)·L`): the patch matrix `cols` `[c_in·kh·kw, W]` and the
/// output-side matrix `wide` `[c_out, W]`. Taken from the thread's [`Scratch`] pool, so a
/// training loop reuses them every step; each kernel writes them before reading them.
struct RunBuffers<E: Element> {
    cols: Scratch<E>,
    wide: Scratch<E>,
}

impl<E: Element> RunBuffers<E> {
    fn new(geo: &Geometry) -> Self {
        let width = images_per_run(geo) * geo.out_pixels();
        RunBuffers { cols: Scratch::new(geo.groups() * geo.patch_len() * width), wide: Scratch::new(geo.c_out * width) }
    }
}

/// The block of image `j` and output channel `oc` in a run's images (`[r, c_out, L]`,
/// row-major) and in its `wide` matrix (`[c_out, r·L]`): the element ranges the two layouts
/// exchange.
fn run_blocks(geo: &Geometry, r: usize) -> impl Iterator<Item = (Range<usize>, Range<usize>)> {
    let (l, c_out) = (geo.out_pixels(), geo.c_out);
    (0..r).flat_map(move |j| {
        (0..c_out).map(move |oc| {
            let image = (j * c_out + oc) * l;
            let column = oc * r * l + j * l;
            (image..image + l, column..column + l)
        })
    })
}

/// The run's image blocks into the columns of `wide`.
fn images_to_wide<E: Element>(images: &[E], wide: &mut [E], geo: &Geometry, r: usize) {
    for (image, column) in run_blocks(geo, r) {
        wide[column].copy_from_slice(&images[image]);
    }
}

/// What [`Tensor::conv2d_fused`] applies to each output element on its way out of `wide`:
/// `+ bias[o]` for channel `o`, then ReLU.
#[derive(Clone, Copy)]
struct Epilogue<'a, E> {
    bias: Option<&'a [E]>,
    relu: bool,
}

impl<E: Element> Epilogue<'_, E> {
    /// Writes `src` (values of output channel `channel`) into `dst` through the epilogue, one
    /// loop per case so that each is a plain vector loop.
    #[inline(always)]
    fn write<'s>(&self, channel: usize, dst: &mut [MaybeUninit<E>], src: impl Iterator<Item = &'s E>)
    where
        E: 's,
    {
        let pairs = dst.iter_mut().zip(src);
        match (self.bias.map(|b| b[channel]), self.relu) {
            (None, false) => pairs.for_each(|(d, &v)| *d = MaybeUninit::new(v)),
            (Some(b), false) => pairs.for_each(|(d, &v)| *d = MaybeUninit::new(v + b)),
            (None, true) => pairs.for_each(|(d, &v)| *d = MaybeUninit::new(scalar::relu(v))),
            (Some(b), true) => pairs.for_each(|(d, &v)| *d = MaybeUninit::new(scalar::relu(v + b))),
        }
    }
}

/// The columns of `wide` back into the run's image blocks, through the `epilogue`.
fn wide_to_images<E: Element>(
    wide: &[E],
    images: &mut [MaybeUninit<E>],
    geo: &Geometry,
    r: usize,
    epilogue: Epilogue<'_, E>,
) {
    for (block, (image, column)) in run_blocks(geo, r).enumerate() {
        // Blocks are image-major (the channel varies fastest), so block % c_out is the channel.
        epilogue.write(block % geo.c_out, &mut images[image], wide[column].iter());
    }
}

/// Runs `f(images, out_run, buffers, parallelism)` for every run of images, where `out_run` is
/// the run's block of `out` (`image_len` elements per image).
///
/// With several runs, runs are spread over rayon's threads (each writes only its own block)
/// and gemm runs single-threaded inside; with one run, gemm uses the threads.
fn for_each_run<E, T, F>(out: &mut [T], image_len: usize, geo: &Geometry, f: F)
where
    E: Element,
    T: Send,
    F: Fn(Range<usize>, &mut [T], &mut RunBuffers<E>, gemm::Parallelism) + Send + Sync,
{
    if out.is_empty() {
        return;
    }
    let r = images_per_run(geo);
    let images = |i: usize| i * r..((i + 1) * r).min(geo.batch);
    if geo.batch > r {
        out.par_chunks_mut(r * image_len).enumerate().for_each_init(
            || RunBuffers::new(geo),
            |buffers, (i, out_run)| f(images(i), out_run, buffers, gemm::Parallelism::None),
        );
    } else {
        f(images(0), out, &mut RunBuffers::new(geo), gemm::Parallelism::Rayon(0));
    }
}

/// `y` by the direct kernel where it applies (see [`direct`]); otherwise, for every run of
/// images: im2col of each image into the run's patch matrix, then `wide_g = W_g · cols_g` for
/// each group, then the columns of `wide` back into images.
fn conv2d_kernel<E: Element>(x: &[E], w: &[E], geo: &Geometry, epilogue: Epilogue<'_, E>) -> Vec<E> {
    if let Some(y) = direct::conv2d(x, w, geo, epilogue) {
        return y;
    }
    let (k, l, o) = (geo.patch_len(), geo.out_pixels(), geo.c_out_per_group());
    // Every element of `y` is written by `wide_to_images` below, so it starts uninitialised
    // (a pass of zeros over a large feature map cost as much as the copy itself).
    let len = geo.batch * geo.output_len();
    let mut y: Vec<E> = Vec::with_capacity(len);
    for_each_run(&mut y.spare_capacity_mut()[..len], geo.output_len(), geo, |images, y_run, buf, parallelism| {
        let (r, width) = (images.len(), images.len() * l);
        for (j, n) in images.enumerate() {
            im2col(&x[n * geo.input_len()..][..geo.input_len()], geo, &mut buf.cols, width, j * l);
        }
        for g in 0..geo.groups() {
            // wide_g [O, W] = W_g [O, K] · cols_g [K, W]
            let lhs = (&w[g * o * k..], [k, 1]);
            let rhs = (&buf.cols[g * k * width..], [width, 1]);
            gemm_into([o, k, width], &mut buf.wide[g * o * width..][..o * width], false, lhs, rhs, parallelism);
        }
        wide_to_images(&buf.wide, y_run, geo, r, epilogue);
    });
    // SAFETY: the runs cover all `len` elements (`batch` images of `output_len`), and
    // `wide_to_images` wrote each one.
    unsafe { y.set_len(len) };
    y
}

/// `dx` for every run of images: the output gradients side by side in `wide`, then
/// `cols_g = W_gᵀ · wide_g` for each group, then col2im of each image's columns (or the direct
/// kernel, where it applies).
fn conv2d_backward_input_kernel<E: Element>(grad_out: &[E], w: &[E], geo: &Geometry) -> Vec<E> {
    if let Some(dx) = direct::conv2d_backward_input(grad_out, w, geo) {
        return dx;
    }
    let (k, l, o) = (geo.patch_len(), geo.out_pixels(), geo.c_out_per_group());
    let mut dx = vec![E::zero(); geo.batch * geo.input_len()];
    for_each_run(&mut dx, geo.input_len(), geo, |images, dx_run, buf, parallelism| {
        let (r, width) = (images.len(), images.len() * l);
        let g_run = &grad_out[images.start * geo.output_len()..][..r * geo.output_len()];
        images_to_wide(g_run, &mut buf.wide, geo, r);
        for g in 0..geo.groups() {
            // cols_g [K, W] = W_gᵀ [K, O] · wide_g [O, W]; W_g is [O, K] row-major, so its
            // transpose has row stride 1 and column stride K.
            let lhs = (&w[g * o * k..], [1, k]);
            let rhs = (&buf.wide[g * o * width..], [width, 1]);
            gemm_into([k, o, width], &mut buf.cols[g * k * width..][..k * width], false, lhs, rhs, parallelism);
        }
        for j in 0..r {
            col2im(&buf.cols, width, j * l, geo, &mut dx_run[j * geo.input_len()..][..geo.input_len()]);
        }
    });
    dx
}

/// `dW` by the direct kernel where it applies (see [`direct`]); otherwise
/// `dW = Σ_runs wide · rows`, one product per run of images: the run's output gradients side
/// by side (`wide`, `[c_out, W]`) times its patches laid out one pixel per row (`rows`,
/// `[W, c_in·kh·kw]`, see [`im2row`]); the partial sums are added in run order, and the taps
/// of each filter reordered from `rows`' channels-last order to the weight's.
///
/// The patch matrix is transposed here on purpose. `wide · colsᵀ` would hand gemm two operands
/// that are both contiguous along the summed axis, a layout its packing handles 3–10× slower
/// (measured on the CIFAR ResNet shapes) than `wide · rows`, where the right operand is
/// contiguous along its own rows.
fn conv2d_backward_weight_kernel<E: Element>(x: &[E], grad_out: &[E], geo: &Geometry) -> Vec<E> {
    if let Some(dw) = direct::conv2d_backward_weight(x, grad_out, geo) {
        return dw;
    }
    let (k, l, o) = (geo.patch_len(), geo.out_pixels(), geo.c_out_per_group());
    let weight_len = geo.c_out * k;
    if geo.batch == 0 || weight_len == 0 {
        return vec![E::zero(); weight_len];
    }
    let r = images_per_run(geo);
    let runs = geo.batch.div_ceil(r);
    let parallelism = if runs > 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(0) };
    let all_taps = geo.groups() * k;
    let pixels = geo.in_hw[0] * geo.in_hw[1];
    let partial_sum = |buf: &mut RunBuffers<E>, run: usize| {
        let images = run * r..((run + 1) * r).min(geo.batch);
        let (r, width) = (images.len(), images.len() * l);
        let mut x_last = Scratch::new(geo.input_len());
        for (j, n) in images.clone().enumerate() {
            // The image channels last: `[c_in, h·w]` transposed to `[h·w, c_in]`.
            transpose_into(&x[n * geo.input_len()..][..geo.input_len()], geo.c_in, pixels, &mut x_last);
            im2row(&x_last, geo, &mut buf.cols[j * l * all_taps..][..l * all_taps]);
        }
        let g_run = &grad_out[images.start * geo.output_len()..][..r * geo.output_len()];
        images_to_wide(g_run, &mut buf.wide, geo, r);
        let mut dw = vec![E::zero(); weight_len];
        for g in 0..geo.groups() {
            // dW_g [O, K] = wide_g [O, W] · rows_g [W, K]; rows_g is columns g·K.. of rows.
            let lhs = (&buf.wide[g * o * width..], [width, 1]);
            let rhs = (&buf.cols[g * k..], [all_taps, 1]);
            gemm_into([o, width, k], &mut dw[g * o * k..][..o * k], false, lhs, rhs, parallelism);
        }
        dw
    };
    let partials: Vec<Vec<E>> = if runs > 1 {
        (0..runs).into_par_iter().map_init(|| RunBuffers::new(geo), partial_sum).collect()
    } else {
        vec![partial_sum(&mut RunBuffers::new(geo), 0)]
    };
    let mut partials = partials.into_iter();
    let mut dw = partials.next().expect("at least one run");
    for partial in partials {
        for (total, v) in dw.iter_mut().zip(partial) {
            *total = *total + v;
        }
    }
    // Each filter's taps from im2row's (p, q, c) order into the weight's (c, p, q).
    let ([kh, kw], c) = (geo.kernel, geo.c_in / geo.groups());
    let mut weight = vec![E::zero(); weight_len];
    for (filter, taps) in weight.chunks_exact_mut(k).zip(dw.chunks_exact(k)) {
        for (tap, &v) in taps.iter().enumerate() {
            let (pq, ch) = (tap / c, tap % c);
            filter[ch * kh * kw + pq] = v;
        }
    }
    weight
}

/// `dst := lhs · rhs`, or `dst += lhs · rhs` when `accumulate`, through the `gemm` crate.
///
/// `dst` is `m × n` row-major; `lhs` (`m × k`) and `rhs` (`k × n`) are slices read through
/// their `[row, column]` strides, so a transposed operand is read in place.
fn gemm_into<E: Element>(
    [m, k, n]: [usize; 3],
    dst: &mut [E],
    accumulate: bool,
    (lhs, [lhs_rs, lhs_cs]): (&[E], [usize; 2]),
    (rhs, [rhs_rs, rhs_cs]): (&[E], [usize; 2]),
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(E::zero());
        }
        return;
    }
    assert!(dst.len() >= m * n, "gemm_into: destination too short");
    assert!((m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len(), "gemm_into: left operand too short");
    assert!((k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len(), "gemm_into: right operand too short");
    // SAFETY: the assertions above keep every element gemm reads or writes inside the three
    // slices, and `dst` is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// The output positions `o` (of `out_len`) whose input position `o·stride + tap − pad` lies in
/// `0..in_len`; the others read padding.
fn valid_outputs(out_len: usize, in_len: usize, stride: usize, tap: usize, pad: usize) -> Range<usize> {
    // o·stride ≥ pad − tap   and   o·stride < in_len + pad − tap
    let start = pad.saturating_sub(tap).div_ceil(stride).min(out_len);
    let end = (in_len + pad).saturating_sub(tap).div_ceil(stride).min(out_len);
    start..end.max(start)
}

/// Unfolds one image `x` of shape `[c_in, h, w]` into its patch matrix, `[c_in·kh·kw, oh·ow]`,
/// stored in `cols` at column `col0` of a matrix with `ld` columns per row (a run's wide patch
/// matrix): row `(c, p, q)`, column `(i, j)` holds the input value that tap `(p, q)` of the
/// kernel reads on channel `c` for output pixel `(i, j)` (0 in the padding).
fn im2col<E: Element>(x: &[E], geo: &Geometry, cols: &mut [E], ld: usize, col0: usize) {
    let ([h, w], [kh, kw], [oh, ow]) = (geo.in_hw, geo.kernel, geo.out_hw);
    let Conv2dSpec { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], .. } = geo.spec;
    for c in 0..geo.c_in {
        let plane = &x[c * h * w..][..h * w];
        for p in 0..kh {
            let rows = valid_outputs(oh, h, sh, p * dh, ph);
            for q in 0..kw {
                let columns = valid_outputs(ow, w, sw, q * dw, pw);
                let row = &mut cols[((c * kh + p) * kw + q) * ld + col0..][..oh * ow];
                // Output rows whose input row is padding, then the padding columns of the others.
                row[..rows.start * ow].fill(E::zero());
                row[rows.end * ow..].fill(E::zero());
                if columns.len() < ow {
                    for dst in row[rows.start * ow..rows.end * ow].chunks_exact_mut(ow) {
                        dst[..columns.start].fill(E::zero());
                        dst[columns.end..].fill(E::zero());
                    }
                }
                if rows.is_empty() || columns.is_empty() {
                    continue;
                }
                // Input position of output (rows.start, columns.start) under tap (p, q).
                let first = (rows.start * sh + p * dh - ph) * w + columns.start * sw + q * dw - pw;
                if sw == 1 {
                    // Stride 1: the valid columns of each output row are one contiguous run of an
                    // input row, and the runs of consecutive output rows are `sh` input rows apart.
                    let dst = &mut row[rows.start * ow + columns.start..];
                    copy_rows(dst, ow, &plane[first..], sh * w, rows.len(), columns.len());
                } else {
                    for (n, i) in rows.clone().enumerate() {
                        let (dst, src) = (&mut row[i * ow..][columns.clone()], &plane[first + n * sh * w..]);
                        for (d, s) in dst.iter_mut().zip(src.iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// The patch matrix one output pixel per row, taps in channels-last order: `rows` is
/// `[oh·ow, groups·K]` row-major (`K = C·kh·kw`, `C = c_in/groups`); row `(i, j)` holds the
/// patch that output pixel `(i, j)` reads, the value of tap `(p, q)` on channel `c` of group
/// `g` at column `g·K + (p·kw + q)·C + c` (0 in the padding).
///
/// `x_last` is the image channels last (`[h, w, c_in]`, see [`transpose_into`]), so the `C`
/// channels of one tap are one contiguous copy, and with one group and no dilation so are all
/// the taps of a kernel row that fall inside the image. The filters that multiply this matrix
/// are in the same `(p, q, c)` order; [`conv2d_backward_weight_kernel`] puts its result back
/// into `(c, p, q)` order.
fn im2row<E: Element>(x_last: &[E], geo: &Geometry, rows: &mut [E]) {
    let ([h, w], [kh, kw], [oh, ow]) = (geo.in_hw, geo.kernel, geo.out_hw);
    let Conv2dSpec { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], .. } = geo.spec;
    let (c_in, groups, k) = (geo.c_in, geo.groups(), geo.patch_len());
    let c = c_in / groups;
    let taps = groups * k;
    // The output columns whose input column is inside the image depend only on q, so the taps
    // q_start..q_end that output column j reads inside the image depend only on j.
    let valid_by_q: Vec<Range<usize>> = (0..kw).map(|q| valid_outputs(ow, w, sw, q * dw, pw)).collect();
    let taps_by_j: Vec<(usize, usize)> = (0..ow)
        .map(|j| {
            let q_start = valid_by_q.iter().position(|v| v.contains(&j)).unwrap_or(kw);
            let q_end = valid_by_q.iter().rposition(|v| v.contains(&j)).map_or(q_start, |q| q + 1);
            (q_start, q_end)
        })
        .collect();
    // The output columns that read no padding: every tap of theirs is inside the image.
    let inside = valid_by_q.iter().fold(0..ow, |all, v| all.start.max(v.start)..all.end.min(v.end));
    // With one group and no dilation, a kernel row's taps over those columns are one copy of
    // `kw·c` values per column, `sw·c_in` apart in the input: all done by one `copy_rows`.
    let inside = if groups == 1 && dw == 1 && !inside.is_empty() { inside } else { 0..0 };
    for i in 0..oh {
        for p in 0..kh {
            // Input row a = i·sh + p·dh − ph, or padding when outside 0..h.
            let a = (i * sh + p * dh).wrapping_sub(ph);
            if a >= h {
                for row in rows[i * ow * taps..][..ow * taps].chunks_exact_mut(taps) {
                    for g in 0..groups {
                        row[g * k + p * kw * c..][..kw * c].fill(E::zero());
                    }
                }
                continue;
            }
            let input_row = &x_last[a * w * c_in..][..w * c_in];
            if !inside.is_empty() {
                let dst = &mut rows[(i * ow + inside.start) * taps + p * kw * c..];
                let src = &input_row[(inside.start * sw - pw) * c_in..];
                copy_rows(dst, taps, src, sw * c_in, inside.len(), kw * c);
            }
            for (j, &(q_start, q_end)) in taps_by_j.iter().enumerate() {
                if inside.contains(&j) {
                    continue;
                }
                let row = &mut rows[(i * ow + j) * taps..][..taps];
                for g in 0..groups {
                    let dst = &mut row[g * k + p * kw * c..][..kw * c];
                    dst[..q_start * c].fill(E::zero());
                    dst[q_end * c..].fill(E::zero());
                    if q_start == q_end {
                        continue;
                    }
                    let b0 = j * sw + q_start * dw - pw;
                    if groups == 1 && dw == 1 {
                        // Neighbouring taps read neighbouring pixels: one copy for the row.
                        copy_short(
                            &mut dst[q_start * c..q_end * c],
                            &input_row[b0 * c_in..][..(q_end - q_start) * c_in],
                        );
                    } else {
                        for (n, q) in (q_start..q_end).enumerate() {
                            let b = b0 + n * dw;
                            copy_short(&mut dst[q * c..][..c], &input_row[b * c_in + g * c..][..c]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of the patch matrix (at column `col0` of `cols`,
/// `ld` columns per row) onto the pixel of the image `dx` (`[c_in, h, w]`) it would have been
/// copied from; entries in the padding are dropped.
fn col2im<E: Element>(cols: &[E], ld: usize, col0: usize, geo: &Geometry, dx: &mut [E]) {
    let ([h, w], [kh, kw], [oh, ow]) = (geo.in_hw, geo.kernel, geo.out_hw);
    let Conv2dSpec { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], .. } = geo.spec;
    for c in 0..geo.c_in {
        let plane = &mut dx[c * h * w..][..h * w];
        for p in 0..kh {
            let rows = valid_outputs(oh, h, sh, p * dh, ph);
            for q in 0..kw {
                let columns = valid_outputs(ow, w, sw, q * dw, pw);
                let row = &cols[((c * kh + p) * kw + q) * ld + col0..][..oh * ow];
                if rows.is_empty() || columns.is_empty() {
                    continue;
                }
                // Input position of output (rows.start, columns.start) under tap (p, q).
                let first = (rows.start * sh + p * dh - ph) * w + columns.start * sw + q * dw - pw;
                let src = &row[rows.start * ow + columns.start..];
                if sw == 1 {
                    // Stride 1: each output row adds onto one contiguous run of an input row.
                    add_rows(&mut plane[first..], sh * w, src, ow, rows.len(), columns.len());
                } else {
                    for n in 0..rows.len() {
                        let dst = plane[first + n * sh * w..].iter_mut().step_by(sw);
                        for (d, s) in dst.zip(&src[n * ow..][..columns.len()]) {
                            *d = *d + *s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use proptest::prelude::*;

    /// One convolution to test: an input, a weight, an output gradient and the spec.
    struct Case {
        x: Tensor,
        w: Tensor,
        g: Tensor,
        spec: Conv2dSpec,
    }

    fn sample(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, dtype, &mut crate::rng(seed))
    }

    /// Random data for `batch` images of `c_in` channels and `hw` pixels, `c_out` filters of
    /// size `k`.
    fn case(
        batch: usize,
        [c_in, c_out]: [usize; 2],
        hw: [usize; 2],
        k: [usize; 2],
        spec: Conv2dSpec,
        seed: u64,
    ) -> Case {
        let out = spec.output_hw(hw, k).expect("the test kernel fits");
        Case {
            x: sample(&[batch, c_in, hw[0], hw[1]], DType::F64, seed),
            w: sample(&[c_out, c_in / spec.groups, k[0], k[1]], DType::F64, seed + 1),
            g: sample(&[batch, c_out, out[0], out[1]], DType::F64, seed + 2),
            spec,
        }
    }

    /// The definition, loop by loop, as the oracle: `y`, and `dx`, `dw` by running the same
    /// seven loops with the roles of the factors exchanged.
    fn naive(case: &Case) -> [Vec<f64>; 3] {
        let Case { x, w, g, spec } = case;
        let (xs, ws, gs) = (x.to_vec_f64(), w.to_vec_f64(), g.to_vec_f64());
        let [batch, c_in, h, wd] = x.shape().try_into().unwrap();
        let [c_out, cg, kh, kw] = w.shape().try_into().unwrap();
        let [oh, ow] = [g.shape()[2], g.shape()[3]];
        let og = c_out / spec.groups;
        let (mut y, mut dx, mut dw) = (vec![0.0; gs.len()], vec![0.0; xs.len()], vec![0.0; ws.len()]);
        for n in 0..batch {
            for o in 0..c_out {
                let group = o / og;
                for i in 0..oh {
                    for j in 0..ow {
                        let yi = ((n * c_out + o) * oh + i) * ow + j;
                        for c in 0..cg {
                            for p in 0..kh {
                                for q in 0..kw {
                                    let a =
                                        (i * spec.stride[0] + p * spec.dilation[0]) as isize - spec.padding[0] as isize;
                                    let b =
                                        (j * spec.stride[1] + q * spec.dilation[1]) as isize - spec.padding[1] as isize;
                                    if a < 0 || b < 0 || a >= h as isize || b >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((n * c_in + group * cg + c) * h + a as usize) * wd + b as usize;
                                    let wi = ((o * cg + c) * kh + p) * kw + q;
                                    y[yi] += xs[xi] * ws[wi];
                                    dx[xi] += gs[yi] * ws[wi];
                                    dw[wi] += gs[yi] * xs[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= 1e-12 * scale, "{what}[{i}]: got {a}, want {b}");
        }
    }

    fn inner(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.shape(), b.shape());
        a.to_vec_f64().iter().zip(b.to_vec_f64()).map(|(x, y)| x * y).sum()
    }

    /// `conv2d` and both backward kernels agree with [`naive`].
    fn check_against_naive(case: &Case) {
        let Case { x, w, g, spec } = case;
        let [y, dx, dw] = naive(case);
        let got_y = x.conv2d(w, *spec);
        assert_eq!(got_y.shape(), g.shape());
        assert_close(&got_y.to_vec_f64(), &y, "y");
        let got_dx = Tensor::conv2d_backward_input(g, w, x.shape(), *spec);
        assert_eq!(got_dx.shape(), x.shape());
        assert_close(&got_dx.to_vec_f64(), &dx, "dx");
        let got_dw = Tensor::conv2d_backward_weight(x, g, w.shape(), *spec);
        assert_eq!(got_dw.shape(), w.shape());
        assert_close(&got_dw.to_vec_f64(), &dw, "dw");
    }

    /// `⟨conv2d(x, w), g⟩ = ⟨x, backward_input(g, w)⟩ = ⟨w, backward_weight(x, g)⟩`.
    fn check_adjoints(case: &Case) {
        let Case { x, w, g, spec } = case;
        let forward = inner(&x.conv2d(w, *spec), g);
        let via_input = inner(x, &Tensor::conv2d_backward_input(g, w, x.shape(), *spec));
        let via_weight = inner(w, &Tensor::conv2d_backward_weight(x, g, w.shape(), *spec));
        let scale = 1.0 + forward.abs();
        assert!((forward - via_input).abs() < 1e-11 * scale, "{forward} vs {via_input} (input adjoint)");
        assert!((forward - via_weight).abs() < 1e-11 * scale, "{forward} vs {via_weight} (weight adjoint)");
    }

    fn spec(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups: usize) -> Conv2dSpec {
        Conv2dSpec { stride, padding, dilation, groups }
    }

    /// `(batch, [c_in, c_out], [h, w], [kh, kw], spec)`
    type Config = (usize, [usize; 2], [usize; 2], [usize; 2], Conv2dSpec);

    /// One of each feature, and mixtures.
    fn configs() -> Vec<Config> {
        let plain = Conv2dSpec::default();
        vec![
            (1, [1, 1], [5, 5], [3, 3], plain),
            (3, [3, 4], [7, 6], [3, 3], spec([1, 1], [1, 1], [1, 1], 1)),
            (2, [2, 3], [9, 8], [3, 3], spec([2, 2], [1, 1], [1, 1], 1)),
            (2, [2, 2], [9, 9], [3, 3], spec([1, 1], [0, 0], [2, 2], 1)),
            (2, [4, 6], [6, 6], [3, 3], spec([1, 1], [1, 1], [1, 1], 2)),
            (2, [3, 3], [5, 5], [3, 3], spec([1, 1], [1, 1], [1, 1], 3)),
            (2, [3, 6], [5, 4], [3, 3], spec([2, 1], [1, 0], [1, 1], 3)),
            (1, [2, 3], [6, 7], [2, 4], spec([1, 2], [0, 1], [2, 1], 1)),
            (3, [4, 5], [4, 4], [1, 1], plain),
            (1, [1, 2], [8, 8], [3, 3], spec([3, 3], [0, 0], [1, 1], 1)),
            (3, [2, 2], [3, 3], [5, 5], spec([1, 1], [1, 1], [1, 1], 1)),
            (11, [2, 4], [5, 5], [3, 2], spec([2, 2], [1, 1], [2, 1], 2)),
        ]
    }

    #[test]
    fn matches_the_seven_loops() {
        for (seed, (batch, channels, hw, k, spec)) in configs().into_iter().enumerate() {
            check_against_naive(&case(batch, channels, hw, k, spec, 10 * seed as u64));
        }
    }

    #[test]
    fn fused_bias_and_relu_equal_the_composed_ops() {
        // Every configuration (a batch of 11 images makes several runs on threads), with and
        // without bias and ReLU, in both dtypes: bit for bit, as the same additions and
        // comparisons happen in the same order.
        for (seed, (batch, channels, hw, k, spec)) in configs().into_iter().enumerate() {
            let Case { x, w, .. } = case(batch, channels, hw, k, spec, 200 + 10 * seed as u64);
            let c_out = channels[1];
            for dtype in [DType::F64, DType::F32] {
                let (x, w) = (x.to_dtype(dtype), w.to_dtype(dtype));
                let b = sample(&[c_out], dtype, 300 + seed as u64);
                for (bias, relu) in [(None, false), (Some(&b), false), (None, true), (Some(&b), true)] {
                    let fused = x.conv2d_fused(&w, bias, relu, spec);
                    let mut composed = x.conv2d(&w, spec);
                    if let Some(b) = bias {
                        composed = composed.add(&b.reshape(&[c_out, 1, 1]));
                    }
                    if relu {
                        composed = composed.relu();
                    }
                    assert_eq!(fused.shape(), composed.shape());
                    assert_eq!(fused.to_vec_f64(), composed.to_vec_f64(), "config {seed} {dtype} {bias:?} {relu}");
                }
            }
        }
    }

    #[test]
    fn fused_rejects_a_bias_of_the_wrong_shape_or_dtype() {
        let Case { x, w, .. } = case(1, [2, 3], [5, 5], [3, 3], Conv2dSpec::default(), 1);
        let err = x.try_conv2d_fused(&w, Some(&sample(&[2], DType::F64, 2)), true, Conv2dSpec::default()).unwrap_err();
        assert!(
            err.to_string().contains("conv2d_fused") && err.to_string().contains("bias must have shape [3]"),
            "{err}"
        );
        let err = x.try_conv2d_fused(&w, Some(&sample(&[3], DType::F32, 2)), true, Conv2dSpec::default()).unwrap_err();
        assert!(err.to_string().contains("dtype mismatch"), "{err}");
    }

    #[test]
    fn backward_kernels_are_adjoints_of_conv2d() {
        for (seed, (batch, channels, hw, k, spec)) in configs().into_iter().enumerate() {
            check_adjoints(&case(batch, channels, hw, k, spec, 100 + 10 * seed as u64));
        }
    }

    #[test]
    fn strided_views_give_the_same_result() {
        let spec = spec([2, 1], [1, 1], [1, 1], 1);
        let nhwc = sample(&[2, 6, 5, 3], DType::F64, 7);
        let x = nhwc.permute(&[0, 3, 1, 2]);
        assert!(!x.is_contiguous());
        let w_last = sample(&[4, 3, 3, 2], DType::F64, 8);
        let w = w_last.permute(&[0, 1, 3, 2]); // [4, 3, 2, 3]
        let y = x.conv2d(&w, spec);
        assert_eq!(y.to_vec_f64(), x.contiguous().conv2d(&w.contiguous(), spec).to_vec_f64());
        let g = sample(y.shape(), DType::F64, 9).permute(&[0, 1, 3, 2]).contiguous().permute(&[0, 1, 3, 2]);
        assert!(!g.is_contiguous());
        let dx = Tensor::conv2d_backward_input(&g, &w, x.shape(), spec);
        assert_eq!(
            dx.to_vec_f64(),
            Tensor::conv2d_backward_input(&g.contiguous(), &w.contiguous(), x.shape(), spec).to_vec_f64()
        );
        let dw = Tensor::conv2d_backward_weight(&x, &g, w.shape(), spec);
        assert_eq!(
            dw.to_vec_f64(),
            Tensor::conv2d_backward_weight(&x.contiguous(), &g.contiguous(), w.shape(), spec).to_vec_f64()
        );
    }

    #[test]
    fn results_are_bit_identical_run_after_run() {
        let c = case(21, [3, 4], [10, 9], [3, 3], spec([1, 1], [1, 1], [1, 1], 1), 55);
        let first = Tensor::conv2d_backward_weight(&c.x, &c.g, c.w.shape(), c.spec).to_vec_f64();
        let first_y = c.x.conv2d(&c.w, c.spec).to_vec_f64();
        let first_dx = Tensor::conv2d_backward_input(&c.g, &c.w, c.x.shape(), c.spec).to_vec_f64();
        for _ in 0..5 {
            assert_eq!(Tensor::conv2d_backward_weight(&c.x, &c.g, c.w.shape(), c.spec).to_vec_f64(), first);
            assert_eq!(c.x.conv2d(&c.w, c.spec).to_vec_f64(), first_y);
            assert_eq!(Tensor::conv2d_backward_input(&c.g, &c.w, c.x.shape(), c.spec).to_vec_f64(), first_dx);
        }
    }

    #[test]
    fn f32_agrees_with_f64() {
        let c = case(3, [4, 6], [8, 7], [3, 2], spec([2, 1], [1, 1], [1, 2], 2), 77);
        let as32 = |t: &Tensor| t.to_dtype(DType::F32);
        let pairs = [
            (c.x.conv2d(&c.w, c.spec), as32(&c.x).conv2d(&as32(&c.w), c.spec)),
            (
                Tensor::conv2d_backward_input(&c.g, &c.w, c.x.shape(), c.spec),
                Tensor::conv2d_backward_input(&as32(&c.g), &as32(&c.w), c.x.shape(), c.spec),
            ),
            (
                Tensor::conv2d_backward_weight(&c.x, &c.g, c.w.shape(), c.spec),
                Tensor::conv2d_backward_weight(&as32(&c.x), &as32(&c.g), c.w.shape(), c.spec),
            ),
        ];
        for (f64s, f32s) in pairs {
            assert_eq!(f32s.dtype(), DType::F32);
            assert!(f32s.to_dtype(DType::F64).allclose(&f64s, 1e-4, 1e-5), "{f32s:?} vs {f64s:?}");
        }
    }

    #[test]
    fn empty_batches_and_channels() {
        let x = Tensor::zeros(&[0, 2, 4, 4], DType::F32);
        let w = Tensor::ones(&[3, 2, 3, 3], DType::F32);
        assert_eq!(x.conv2d(&w, Conv2dSpec::default()).shape(), &[0, 3, 2, 2]);
        let g = Tensor::zeros(&[0, 3, 2, 2], DType::F32);
        assert_eq!(
            Tensor::conv2d_backward_weight(&x, &g, &[3, 2, 3, 3], Conv2dSpec::default()).to_vec_f32(),
            vec![0.0; 54]
        );
        let x = Tensor::ones(&[2, 0, 4, 4], DType::F64);
        let w = Tensor::ones(&[3, 0, 3, 3], DType::F64);
        assert_eq!(x.conv2d(&w, Conv2dSpec::default()).to_vec_f64(), vec![0.0; 24]);
    }

    #[test]
    fn shape_errors_say_what_was_expected() {
        let x = Tensor::zeros(&[2, 3, 8, 8], DType::F32);
        let message = |r: Result<Tensor, ShapeError>| r.unwrap_err().to_string();
        let rank = message(
            Tensor::zeros(&[3, 8, 8], DType::F32)
                .try_conv2d(&Tensor::zeros(&[4, 3, 3, 3], DType::F32), Conv2dSpec::default()),
        );
        assert!(rank.starts_with("conv2d: expected an input of rank 4 [n, c_in, h, w], got shape [3, 8, 8]"), "{rank}");
        let channels = message(x.try_conv2d(&Tensor::zeros(&[4, 2, 3, 3], DType::F32), Conv2dSpec::default()));
        assert!(channels.contains("expects 2 input channels per group") && channels.contains("c_in = 3"), "{channels}");
        let groups = message(x.try_conv2d(&Tensor::zeros(&[4, 1, 3, 3], DType::F32), spec([1, 1], [0, 0], [1, 1], 2)));
        assert!(groups.contains("c_in = 3 channels, which do not split into groups = 2"), "{groups}");
        let filters = message(x.try_conv2d(&Tensor::zeros(&[5, 1, 3, 3], DType::F32), spec([1, 1], [0, 0], [1, 1], 3)));
        assert!(filters.contains("c_out = 5 filters, which do not split into groups = 3"), "{filters}");
        let big = message(x.try_conv2d(&Tensor::zeros(&[4, 3, 5, 5], DType::F32), spec([1, 1], [0, 0], [2, 2], 1)));
        assert!(big.contains("spans 9×9 pixels, more than the 8×8 padded input"), "{big}");
        let zero = message(x.try_conv2d(&Tensor::zeros(&[4, 3, 3, 3], DType::F32), spec([0, 1], [0, 0], [1, 1], 1)));
        assert!(zero.contains("must be at least 1"), "{zero}");
        let dtype = message(x.try_conv2d(&Tensor::zeros(&[4, 3, 3, 3], DType::F64), Conv2dSpec::default()));
        assert!(
            dtype.contains("dtype mismatch: the input is f32 [2, 3, 8, 8] but the weight is f64 [4, 3, 3, 3]"),
            "{dtype}"
        );
        let w = Tensor::zeros(&[4, 3, 3, 3], DType::F32);
        let bad_g = Tensor::zeros(&[2, 4, 5, 6], DType::F32);
        let grad = message(Tensor::try_conv2d_backward_input(&bad_g, &w, x.shape(), Conv2dSpec::default()));
        assert!(grad.starts_with("conv2d_backward_input: grad_out has shape [2, 4, 5, 6]"), "{grad}");
        assert!(grad.contains("gives an output of shape [2, 4, 6, 6]"), "{grad}");
        let grad = message(Tensor::try_conv2d_backward_weight(&x, &bad_g, w.shape(), Conv2dSpec::default()));
        assert!(grad.starts_with("conv2d_backward_weight: grad_out has shape [2, 4, 5, 6]"), "{grad}");
        let err = Tensor::try_conv2d_backward_weight(&x, &bad_g, &[4, 3, 3], Conv2dSpec::default()).unwrap_err();
        assert_eq!(err.op, "conv2d_backward_weight");
        assert_eq!(err.shapes, vec![vec![2, 3, 8, 8], vec![2, 4, 5, 6], vec![4, 3, 3]]);
    }

    #[test]
    #[should_panic(expected = "conv2d: the weight [4, 2, 3, 3] expects 2 input channels per group")]
    fn the_panicking_twin_reports_the_same_words() {
        Tensor::zeros(&[1, 3, 5, 5], DType::F32)
            .conv2d(&Tensor::zeros(&[4, 2, 3, 3], DType::F32), Conv2dSpec::default());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn random_configs_match_the_definition_and_are_adjoint(
            (batch, groups, c_per_group, o_per_group) in (1usize..4, 1usize..4, 1usize..3, 1usize..3),
            (h, w, kh, kw) in (1usize..9, 1usize..9, 1usize..4, 1usize..4),
            (sh, sw, ph, pw) in (1usize..4, 1usize..4, 0usize..3, 0usize..3),
            (dh, dw, seed) in (1usize..3, 1usize..3, 0u64..1_000_000),
        ) {
            let spec = spec([sh, sw], [ph, pw], [dh, dw], groups);
            prop_assume!(spec.output_hw([h, w], [kh, kw]).is_some());
            let channels = [groups * c_per_group, groups * o_per_group];
            let c = case(batch, channels, [h, w], [kh, kw], spec, seed);
            check_against_naive(&c);
            check_adjoints(&c);
        }
    }
}
