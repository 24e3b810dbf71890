//! 2-D max and average pooling over NCHW images, with the kernels their backward passes need.
//!
//! Pooling summarises each `kh × kw` window of every channel plane by one number: its largest
//! value ([`Tensor::max_pool2d`]) or its mean ([`Tensor::avg_pool2d`]). Channels and images are
//! pooled independently, so the work is spread over the `n·c` planes.
//!
//! Max pooling is two steps: find the index of the maximum of each window
//! ([`Tensor::max_pool2d_with_indices`]), then pick the input values at those indices
//! ([`Tensor::max_pool2d_gather`]). Its backward scatters the output gradient back to those
//! indices ([`Tensor::max_pool2d_backward`]); gather and scatter are adjoints of each other,
//! which is what the autograd crate's second-order gradients use. Training stores no indices:
//! its backward, [`Tensor::max_pool2d_input_grad`], finds the maxima again from the input.
//!
//! This file knows nothing about gradients: the autograd crate calls these kernels.

use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::{ArcArray, ArrayD, IxDyn};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::{or_panic, same_dtype, ShapeError};
use crate::parallel::PARALLEL_THRESHOLD;
use crate::tensor::row_major_array;
use crate::tensor::{dispatch, dispatch2, Tensor};

/// The window of a 2-D pooling: kernel size, stride and zero padding, each `[height, width]`.
///
/// Along one axis, an input of size `in` gives an output of size
///
/// ```text
/// out = (in + 2·pad − k) / stride + 1        (integer division)
/// ```
///
/// Padding may be at most half the kernel (`pad ≤ k/2`, as in PyTorch), so that every window
/// overlaps the input.
///
/// | field | [`Pool2dSpec::new`] | meaning |
/// |---|---|---|
/// | `kernel` | given | window size `[kh, kw]` |
/// | `stride` | `= kernel` | step between windows; below the kernel, windows overlap |
/// | `padding` | `[0, 0]` | pixels added on each side (−∞ for max, 0 or skipped for average) |
///
/// ```
/// use nabla_tensor::Pool2dSpec;
/// let halve = Pool2dSpec::new([2, 2]);
/// assert_eq!(halve.output_hw([28, 28]), Some([14, 14]));
/// let overlapping = Pool2dSpec { stride: [2, 2], padding: [1, 1], ..Pool2dSpec::new([3, 3]) };
/// assert_eq!(overlapping.output_hw([32, 32]), Some([16, 16]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dSpec {
    /// The window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// The step between neighbouring windows `[sh, sw]`.
    pub stride: [usize; 2],
    /// Pixels added on each side `[ph, pw]`, at most half the kernel.
    pub padding: [usize; 2],
}

impl Pool2dSpec {
    /// Non-overlapping `kernel` windows: stride equal to the kernel, no padding (the default of
    /// PyTorch and Keras).
    pub fn new(kernel: [usize; 2]) -> Self {
        Pool2dSpec { kernel, stride: kernel, padding: [0, 0] }
    }

    /// The output size `[oh, ow]` for an input of size `in_hw = [h, w]`, by
    /// `out = (in + 2·pad − k) / stride + 1`.
    ///
    /// `None` when the window does not fit inside the padded input, or when a kernel size or
    /// stride is zero.
    pub fn output_hw(&self, in_hw: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |d: usize| {
            if self.kernel[d] == 0 || self.stride[d] == 0 {
                return None;
            }
            let padded = in_hw[d] + 2 * self.padding[d];
            padded.checked_sub(self.kernel[d]).map(|room| room / self.stride[d] + 1)
        };
        Some([axis(0)?, axis(1)?])
    }
}

impl Tensor {
    /// Max pooling that also returns where each maximum was found.
    ///
    /// ```text
    /// y[n, c, i, j]   = max_{p<kh, q<kw} x[n, c, i·sh − ph + p, j·sw − pw + q]
    /// idx[n, c, i, j] = a·w + b, the position (a, b) of that maximum in its h × w plane
    /// ```
    ///
    /// Padding counts as −∞ (never chosen). On ties the first maximum in row-major window order
    /// wins; a NaN wins over numbers, so NaNs propagate.
    ///
    /// | tensor | shape |
    /// |---|---|
    /// | `self` (input `x`) | `[n, c, h, w]` |
    /// | values `y`, indices `idx` | `[n, c, oh, ow]` |
    ///
    /// The values are `self.max_pool2d_gather(&idx)`; the backward of max pooling is
    /// [`Tensor::max_pool2d_backward`] with the same indices.
    ///
    /// ```
    /// use nabla_tensor::{Pool2dSpec, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 2.0, 0.0, 3.0, 4.0, 7.0, 7.0, 6.0], &[1, 1, 3, 3]);
    /// let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec { stride: [1, 1], ..Pool2dSpec::new([2, 2]) });
    /// assert_eq!(y.to_vec_f32(), vec![5.0, 5.0, 7.0, 7.0]);
    /// assert_eq!(idx.iter().copied().collect::<Vec<_>>(), vec![1, 1, 6, 7]); // the first 7 wins the tie
    /// ```
    pub fn try_max_pool2d_with_indices(&self, spec: Pool2dSpec) -> Result<(Tensor, ArrayD<usize>), ShapeError> {
        let geo = Geometry::check("max_pool2d", self.shape(), spec, &[self.shape()])?;
        let x = self.contiguous();
        let shape = geo.output_shape();
        let (values, indices) = dispatch!(x, a => {
            let xs = row_major(a);
            let (values, indices) = if spec == Pool2dSpec::new([2, 2]) {
                max_2x2_with_indices(xs, &geo)
            } else {
                let indices = argmax_kernel(xs, &geo);
                (gather_kernel(xs, &indices, geo.in_plane(), geo.out_plane(), geo.parallel()), indices)
            };
            (Tensor::from_vec(values, &shape), indices)
        });
        let indices = row_major_array(indices, &shape);
        Ok((values, indices))
    }

    /// [`try_max_pool2d_with_indices`](Self::try_max_pool2d_with_indices), panicking at the
    /// caller's line.
    #[track_caller]
    pub fn max_pool2d_with_indices(&self, spec: Pool2dSpec) -> (Tensor, ArrayD<usize>) {
        or_panic(self.try_max_pool2d_with_indices(spec))
    }

    /// Max pooling: the largest value of each window, `[n, c, h, w] -> [n, c, oh, ow]`; see
    /// [`try_max_pool2d_with_indices`](Self::try_max_pool2d_with_indices) for the formula.
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F32).reshape(&[1, 1, 4, 4]);
    /// let y = x.max_pool2d(Pool2dSpec::new([2, 2]));
    /// assert_eq!(y.to_vec_f32(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    pub fn try_max_pool2d(&self, spec: Pool2dSpec) -> Result<Tensor, ShapeError> {
        if spec != Pool2dSpec::new([2, 2]) {
            return self.try_max_pool2d_with_indices(spec).map(|(values, _)| values);
        }
        // The common 2×2 case without recording where the maxima were (inference).
        let geo = Geometry::check("max_pool2d", self.shape(), spec, &[self.shape()])?;
        let x = self.contiguous();
        Ok(dispatch!(x, a => Tensor::from_vec(max_2x2(row_major(a), &geo), &geo.output_shape())))
    }

    /// [`try_max_pool2d`](Self::try_max_pool2d), panicking at the caller's line.
    #[track_caller]
    pub fn max_pool2d(&self, spec: Pool2dSpec) -> Tensor {
        or_panic(self.try_max_pool2d(spec))
    }

    /// Picks from every input plane the values at `indices`: what max pooling does once the
    /// positions of the maxima are known.
    ///
    /// ```text
    /// out[n, c, i, j] = x[n, c, a, b]   where   indices[n, c, i, j] = a·w + b
    /// ```
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `self` (input `x`) | `[n, c, h, w]` |
    /// | `indices`, result | `[n, c, oh, ow]` (any `oh`, `ow`), every index below `h·w` |
    ///
    /// It is the adjoint of [`Tensor::max_pool2d_backward`] with the same indices,
    /// `⟨x.max_pool2d_gather(idx), g⟩ = ⟨x, max_pool2d_backward(g, idx, x.shape())⟩`, so it is
    /// also the backward of max pooling's backward (for second-order gradients).
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F64).reshape(&[1, 1, 4, 4]);
    /// let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
    /// assert_eq!(x.max_pool2d_gather(&idx).to_vec_f64(), y.to_vec_f64());
    /// ```
    pub fn try_max_pool2d_gather(&self, indices: &ArrayD<usize>) -> Result<Tensor, ShapeError> {
        let op = "max_pool2d_gather";
        let planes = check_indices(op, indices, self.shape(), &[self.shape(), indices.shape()])?;
        let x = self.contiguous();
        let idx = indices.as_standard_layout();
        let idx = idx.as_slice().expect("standard layout");
        let parallel = x.len().max(idx.len()) >= PARALLEL_THRESHOLD;
        Ok(dispatch!(x, a => {
            Tensor::from_vec(gather_kernel(row_major(a), idx, planes.in_plane, planes.out_plane, parallel), indices.shape())
        }))
    }

    /// [`try_max_pool2d_gather`](Self::try_max_pool2d_gather), panicking at the caller's line.
    #[track_caller]
    pub fn max_pool2d_gather(&self, indices: &ArrayD<usize>) -> Tensor {
        or_panic(self.try_max_pool2d_gather(indices))
    }

    /// The backward of max pooling: adds each output gradient onto the input pixel its window
    /// took the maximum from, zeros elsewhere.
    ///
    /// ```text
    /// dx[n, c, a, b] = Σ_{i, j with indices[n, c, i, j] = a·w + b} grad_out[n, c, i, j]
    /// ```
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `grad_out`, `indices` | `[n, c, oh, ow]` |
    /// | `input_shape`, result | `[n, c, h, w]` |
    ///
    /// A pixel that is the maximum of several overlapping windows receives the sum of their
    /// gradients. This scatter is the adjoint of [`Tensor::max_pool2d_gather`] with the same
    /// indices: `⟨x.max_pool2d_gather(idx), g⟩ = ⟨x, max_pool2d_backward(g, idx, x.shape())⟩`.
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F64).reshape(&[1, 1, 4, 4]);
    /// let (_, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
    /// let g = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    /// let dx = Tensor::max_pool2d_backward(&g, &idx, x.shape());
    /// assert_eq!(dx.to_vec_f64().iter().sum::<f64>(), 4.0);
    /// assert_eq!(dx.get(&[0, 0, 1, 1]), 1.0); // 5 was the maximum of the first window
    /// ```
    pub fn try_max_pool2d_backward(
        grad_out: &Tensor,
        indices: &ArrayD<usize>,
        input_shape: &[usize],
    ) -> Result<Tensor, ShapeError> {
        let op = "max_pool2d_backward";
        let operands: &[&[usize]] = &[grad_out.shape(), indices.shape(), input_shape];
        let planes = check_indices(op, indices, input_shape, operands)?;
        if grad_out.shape() != indices.shape() {
            return Err(ShapeError::new(
                op,
                operands,
                None,
                format!(
                    "grad_out has shape {:?} but the indices have shape {:?}; they must be equal",
                    grad_out.shape(),
                    indices.shape()
                ),
            ));
        }
        let g = grad_out.contiguous();
        let idx = indices.as_standard_layout();
        let idx = idx.as_slice().expect("standard layout");
        let parallel = idx.len().max(input_shape.iter().product()) >= PARALLEL_THRESHOLD;
        Ok(dispatch!(g, a => {
            Tensor::from_vec(scatter_kernel(row_major(a), idx, &planes, parallel), input_shape)
        }))
    }

    /// [`try_max_pool2d_backward`](Self::try_max_pool2d_backward), panicking at the caller's
    /// line.
    #[track_caller]
    pub fn max_pool2d_backward(grad_out: &Tensor, indices: &ArrayD<usize>, input_shape: &[usize]) -> Tensor {
        or_panic(Tensor::try_max_pool2d_backward(grad_out, indices, input_shape))
    }

    /// The backward of max pooling computed from the input `x` (`self`) rather than from
    /// stored indices: each window's maximum is found again, by the same comparisons as the
    /// forward pass, and receives the window's output gradient.
    ///
    /// ```text
    /// x.max_pool2d_input_grad(g, spec)
    ///     = max_pool2d_backward(g, x.max_pool2d_with_indices(spec).1, x.shape())
    /// ```
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `self` (input `x`), result | `[n, c, h, w]` |
    /// | `grad_out` | `[n, c, oh, ow]`, the output of pooling `x` under `spec` |
    ///
    /// Training keeps `x` for the backward pass anyway, so the forward pass can skip writing
    /// one index per output (8 bytes each, twice the size of the f32 values it pools). For the
    /// common 2×2 windows with stride 2, the positions are found a piece of a row at a time and
    /// never stored; other windows find all the indices, then scatter.
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0, DType::F64).reshape(&[1, 1, 4, 4]);
    /// let g = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    /// let dx = x.max_pool2d_input_grad(&g, Pool2dSpec::new([2, 2]));
    /// // 5, 7, 13 and 15 were the maxima of the four windows.
    /// assert_eq!(dx.to_vec_f64(), vec![0., 0., 0., 0., 0., 1., 0., 2., 0., 0., 0., 0., 0., 3., 0., 4.]);
    /// ```
    pub fn try_max_pool2d_input_grad(&self, grad_out: &Tensor, spec: Pool2dSpec) -> Result<Tensor, ShapeError> {
        let op = "max_pool2d_input_grad";
        let operands: &[&[usize]] = &[self.shape(), grad_out.shape()];
        let geo = Geometry::check(op, self.shape(), spec, operands)?;
        geo.check_grad_out(op, grad_out.shape(), operands)?;
        same_dtype(op, operands, ("the input", self), ("grad_out", grad_out))?;
        if spec != Pool2dSpec::new([2, 2]) {
            let (_, indices) = self.try_max_pool2d_with_indices(spec)?;
            return Tensor::try_max_pool2d_backward(grad_out, &indices, self.shape());
        }
        let (x, g) = (self.contiguous(), grad_out.contiguous());
        Ok(dispatch2!(op, x, g, a, b => {
            Tensor::from_vec(max_2x2_input_grad(row_major(a), row_major(b), &geo), self.shape())
        }))
    }

    /// [`try_max_pool2d_input_grad`](Self::try_max_pool2d_input_grad), panicking at the
    /// caller's line.
    #[track_caller]
    pub fn max_pool2d_input_grad(&self, grad_out: &Tensor, spec: Pool2dSpec) -> Tensor {
        or_panic(self.try_max_pool2d_input_grad(grad_out, spec))
    }

    /// Average pooling: the mean of each window, `[n, c, h, w] -> [n, c, oh, ow]`.
    ///
    /// ```text
    /// y[n, c, i, j] = (1/D) · Σ_{p<kh, q<kw} x[n, c, i·sh − ph + p, j·sw − pw + q]
    /// ```
    ///
    /// where the sum skips the padding (it adds zeros) and the divisor `D` is
    ///
    /// | `count_include_pad` | `D` | like |
    /// |---|---|---|
    /// | `true` | `kh·kw`, padding counts as zeros | PyTorch's default |
    /// | `false` | the number of window pixels inside the input | Keras' `padding="same"` |
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let x = Tensor::ones(&[1, 1, 2, 2], DType::F32);
    /// let spec = Pool2dSpec { padding: [1, 1], ..Pool2dSpec::new([2, 2]) };
    /// assert_eq!(x.avg_pool2d(spec, true).to_vec_f32(), vec![0.25; 4]); // 1 of 4 pixels is real
    /// assert_eq!(x.avg_pool2d(spec, false).to_vec_f32(), vec![1.0; 4]);
    /// ```
    pub fn try_avg_pool2d(&self, spec: Pool2dSpec, count_include_pad: bool) -> Result<Tensor, ShapeError> {
        let geo = Geometry::check("avg_pool2d", self.shape(), spec, &[self.shape()])?;
        let x = self.contiguous();
        Ok(dispatch!(x, a => {
            Tensor::from_vec(avg_pool_kernel(row_major(a), &geo, count_include_pad), &geo.output_shape())
        }))
    }

    /// [`try_avg_pool2d`](Self::try_avg_pool2d), panicking at the caller's line.
    #[track_caller]
    pub fn avg_pool2d(&self, spec: Pool2dSpec, count_include_pad: bool) -> Tensor {
        or_panic(self.try_avg_pool2d(spec, count_include_pad))
    }

    /// The backward of average pooling: each output gradient, divided by its window's divisor
    /// `D`, is added to every input pixel of that window.
    ///
    /// ```text
    /// dx[n, c, a, b] = Σ_{windows (i, j) containing (a, b)} grad_out[n, c, i, j] / D(i, j)
    /// ```
    ///
    /// This is the exact adjoint of `x ↦ x.avg_pool2d(spec, count_include_pad)`:
    /// `⟨x.avg_pool2d(spec, cip), g⟩ = ⟨x, avg_pool2d_backward(g, x.shape(), spec, cip)⟩`.
    ///
    /// | argument | shape |
    /// |---|---|
    /// | `grad_out` | `[n, c, oh, ow]` |
    /// | `input_shape`, result | `[n, c, h, w]` |
    ///
    /// ```
    /// use nabla_tensor::{DType, Pool2dSpec, Tensor};
    /// let g = Tensor::ones(&[1, 1, 1, 1], DType::F64);
    /// let dx = Tensor::avg_pool2d_backward(&g, &[1, 1, 2, 2], Pool2dSpec::new([2, 2]), true);
    /// assert_eq!(dx.to_vec_f64(), vec![0.25; 4]);
    /// ```
    pub fn try_avg_pool2d_backward(
        grad_out: &Tensor,
        input_shape: &[usize],
        spec: Pool2dSpec,
        count_include_pad: bool,
    ) -> Result<Tensor, ShapeError> {
        let op = "avg_pool2d_backward";
        let operands: &[&[usize]] = &[grad_out.shape(), input_shape];
        let geo = Geometry::check(op, input_shape, spec, operands)?;
        geo.check_grad_out(op, grad_out.shape(), operands)?;
        let g = grad_out.contiguous();
        Ok(dispatch!(g, a => {
            Tensor::from_vec(avg_pool_backward_kernel(row_major(a), &geo, count_include_pad), input_shape)
        }))
    }

    /// [`try_avg_pool2d_backward`](Self::try_avg_pool2d_backward), panicking at the caller's
    /// line.
    #[track_caller]
    pub fn avg_pool2d_backward(
        grad_out: &Tensor,
        input_shape: &[usize],
        spec: Pool2dSpec,
        count_include_pad: bool,
    ) -> Tensor {
        or_panic(Tensor::try_avg_pool2d_backward(grad_out, input_shape, spec, count_include_pad))
    }
}

/// The sizes of one pooling, checked once and shared by its kernels.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// `n·c`: images times channels, each pooled on its own.
    planes: usize,
    batch: usize,
    channels: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    spec: Pool2dSpec,
}

impl Geometry {
    /// Checks that an input of `input` shape can be pooled under `spec`; errors name `op` and
    /// its `operands`.
    fn check(
        op: &'static str,
        input: &[usize],
        spec: Pool2dSpec,
        operands: &[&[usize]],
    ) -> Result<Geometry, ShapeError> {
        let fail = |dim: Option<usize>, reason: String| Err(ShapeError::new(op, operands, dim, reason));
        if spec.kernel.contains(&0) || spec.stride.contains(&0) {
            return fail(None, format!("kernel and stride must be at least 1, got {spec:?}"));
        }
        if (0..2).any(|d| 2 * spec.padding[d] > spec.kernel[d]) {
            return fail(
                None,
                format!(
                    "padding {:?} is more than half the kernel {:?}; a window could then lie wholly in the padding",
                    spec.padding, spec.kernel
                ),
            );
        }
        if input.len() != 4 {
            return fail(None, format!("expected an input of rank 4 [n, c, h, w], got shape {input:?}"));
        }
        let in_hw = [input[2], input[3]];
        if in_hw.contains(&0) {
            return fail(Some(2), format!("the input {input:?} has empty {}×{} planes", in_hw[0], in_hw[1]));
        }
        let Some(out_hw) = spec.output_hw(in_hw) else {
            let d = if spec.kernel[0] > in_hw[0] + 2 * spec.padding[0] { 0 } else { 1 };
            return fail(
                Some(2 + d),
                format!(
                    "the {}×{} window is larger than the {}×{} padded input (input {input:?}, padding {:?})",
                    spec.kernel[0],
                    spec.kernel[1],
                    in_hw[0] + 2 * spec.padding[0],
                    in_hw[1] + 2 * spec.padding[1],
                    spec.padding
                ),
            );
        };
        Ok(Geometry { planes: input[0] * input[1], batch: input[0], channels: input[1], in_hw, out_hw, spec })
    }

    /// Checks that a gradient of `grad_out` shape has the shape of this pooling's output.
    fn check_grad_out(&self, op: &'static str, grad_out: &[usize], operands: &[&[usize]]) -> Result<(), ShapeError> {
        if grad_out == self.output_shape() {
            return Ok(());
        }
        Err(ShapeError::new(
            op,
            operands,
            None,
            format!(
                "grad_out has shape {grad_out:?}, but pooling an input {:?} under {:?} gives an output of shape {:?}",
                [self.batch, self.channels, self.in_hw[0], self.in_hw[1]],
                self.spec,
                self.output_shape()
            ),
        ))
    }

    fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.out_hw[0], self.out_hw[1]]
    }

    /// Pixels of one input plane, `h·w`.
    fn in_plane(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }

    /// Pixels of one output plane, `oh·ow`.
    fn out_plane(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// Whether the tensor is large enough to spread its planes over threads.
    fn parallel(&self) -> bool {
        self.planes * self.in_plane().max(self.out_plane()) >= PARALLEL_THRESHOLD
    }

    /// The input rows (`axis` 0) or columns (`axis` 1) under window `o`, clipped to the input:
    /// the window covers padded positions `o·stride .. o·stride + k`, i.e. input positions
    /// `o·stride − pad .. o·stride − pad + k`.
    fn window(&self, axis: usize, o: usize) -> Range<usize> {
        let start = o * self.spec.stride[axis];
        let end = start + self.spec.kernel[axis];
        let pad = self.spec.padding[axis];
        start.saturating_sub(pad)..(end - pad).min(self.in_hw[axis])
    }

    /// [`window`](Self::window) for every output position along `axis`, computed once per call.
    fn windows(&self, axis: usize) -> Vec<Range<usize>> {
        (0..self.out_hw[axis]).map(|o| self.window(axis, o)).collect()
    }

    /// The divisor `D` of average pooling for a window covering `rows × cols` of the input.
    fn divisor<E: Element>(&self, rows: &Range<usize>, cols: &Range<usize>, count_include_pad: bool) -> E {
        let count = if count_include_pad { self.spec.kernel[0] * self.spec.kernel[1] } else { rows.len() * cols.len() };
        E::of(count as f64)
    }
}

/// The planes that `indices` point into: how many, and the pixels per input and output plane.
#[derive(Clone, Copy, Debug)]
struct Planes {
    count: usize,
    in_plane: usize,
    out_plane: usize,
}

/// Checks that `indices` (`[n, c, oh, ow]`) can point into planes of an `input` of shape
/// `[n, c, h, w]`: ranks 4, the same `n` and `c`, every index below `h·w`.
fn check_indices(
    op: &'static str,
    indices: &ArrayD<usize>,
    input: &[usize],
    operands: &[&[usize]],
) -> Result<Planes, ShapeError> {
    let fail = |dim: Option<usize>, reason: String| Err(ShapeError::new(op, operands, dim, reason));
    if input.len() != 4 {
        return fail(None, format!("expected an input of rank 4 [n, c, h, w], got shape {input:?}"));
    }
    let idx = indices.shape();
    if idx.len() != 4 || idx[..2] != input[..2] {
        return fail(
            None,
            format!(
                "the indices must have shape [{}, {}, oh, ow] to match the input {input:?}, got {idx:?}",
                input[0], input[1]
            ),
        );
    }
    let in_plane = input[2] * input[3];
    let flat = indices.as_standard_layout();
    let flat = flat.as_slice().expect("standard layout");
    if let Some(position) = flat.iter().position(|&index| index >= in_plane) {
        let mut at = [0; 4];
        let mut rest = position;
        for d in (0..4).rev() {
            (at[d], rest) = (rest % idx[d], rest / idx[d]);
        }
        return fail(
            None,
            format!(
                "index {} at {at:?} is outside the {}×{} input planes (indices must be below {in_plane})",
                flat[position], input[2], input[3]
            ),
        );
    }
    Ok(Planes { count: input[0] * input[1], in_plane, out_plane: idx[2] * idx[3] })
}

/// The elements of an array made row-major by [`Tensor::contiguous`].
fn row_major<E: Element>(array: &ArcArray<E, IxDyn>) -> &[E] {
    array.as_slice().expect("made row-major by .contiguous()")
}

/// Runs `f(plane, out_plane)` on every `plane_len` chunk of `out`, on rayon's threads when
/// `parallel`; each call writes only its own chunk, so the result never depends on scheduling.
fn for_each_plane<T: Send>(out: &mut [T], plane_len: usize, parallel: bool, f: impl Fn(usize, &mut [T]) + Send + Sync) {
    if out.is_empty() {
        return;
    }
    if parallel {
        out.par_chunks_mut(plane_len).enumerate().for_each(|(p, chunk)| f(p, chunk));
    } else {
        out.chunks_mut(plane_len).enumerate().for_each(|(p, chunk)| f(p, chunk));
    }
}

/// The in-plane index `a·w + b` of the maximum of every window (the first on ties, a NaN over
/// any number).
fn argmax_kernel<E: Element>(x: &[E], geo: &Geometry) -> Vec<usize> {
    let mut indices = vec![0; geo.planes * geo.out_plane()];
    let (in_plane, w, ow) = (geo.in_plane(), geo.in_hw[1], geo.out_hw[1]);
    let (row_windows, col_windows) = (geo.windows(0), geo.windows(1));
    for_each_plane(&mut indices, geo.out_plane(), geo.parallel(), |p, out| {
        let plane = &x[p * in_plane..][..in_plane];
        for (out_row, rows) in out.chunks_exact_mut(ow).zip(&row_windows) {
            for (slot, cols) in out_row.iter_mut().zip(&col_windows) {
                let mut best = rows.start * w + cols.start;
                let mut top = plane[best];
                for a in rows.clone() {
                    for (b, &v) in cols.clone().zip(&plane[a * w..][cols.clone()]) {
                        if v > top || (v.is_nan() && !top.is_nan()) {
                            (best, top) = (a * w + b, v);
                        }
                    }
                }
                *slot = best;
            }
        }
    });
    indices
}

/// The winner of one 2×2 window whose rows start at `top` and `bottom` (`w` apart in the
/// plane): its value and its position relative to the window's corner. Candidates are taken
/// in row-major window order; the first largest wins, a NaN over any number.
///
/// The comparisons pick with selects, not branches: on real activations which candidate wins
/// is a coin toss, and a mispredicted branch per comparison made max pooling several times
/// slower than the memory traffic it needs.
#[inline(always)]
fn pick_2x2<E: Element>(top: &[E], bottom: &[E], w: usize) -> (E, usize) {
    let (mut best, mut offset) = (top[0], 0);
    for (v, at) in [(top[1], 1), (bottom[0], w), (bottom[1], w + 1)] {
        let take = (v > best) | (v.is_nan() & !best.is_nan());
        best = if take { v } else { best };
        offset = if take { at } else { offset };
    }
    (best, offset)
}

/// Output rows shorter than this many windows take [`max_2x2_with_indices`]'s two-pass loop:
/// the compiler vectorises the one-pass loop only from 6 windows on.
const SHORT_ROW: usize = 6;

/// [`argmax_kernel`] and the gathered values at once, for the most common pooling: 2×2
/// windows with stride 2 and no padding. The four candidates of each window are read from two
/// input rows directly; see [`pick_2x2`].
fn max_2x2_with_indices<E: Element>(x: &[E], geo: &Geometry) -> (Vec<E>, Vec<usize>) {
    // Two copies of the kernel, chosen once: a test on the row length inside the loop made
    // the compiler give up on both forms.
    if geo.out_hw[1] >= SHORT_ROW {
        max_2x2_with_indices_by(x, geo, one_pass_row)
    } else {
        max_2x2_with_indices_by(x, geo, two_pass_row)
    }
}

/// One output row of [`max_2x2_with_indices`] (the winners of the windows over `top_row` and
/// `bottom_row`, input rows `2i` and `2i + 1` of a plane `w` wide, the first starting at
/// `top_start`): values and positions in one pass over the row's windows.
#[inline(always)]
fn one_pass_row<E: Element>(
    top_row: &[E],
    bottom_row: &[E],
    w: usize,
    top_start: usize,
    value_row: &mut [MaybeUninit<E>],
    index_row: &mut [MaybeUninit<usize>],
) {
    let windows = top_row.chunks_exact(2).zip(bottom_row.chunks_exact(2));
    for (j, ((value, index), (top, bottom))) in value_row.iter_mut().zip(index_row.iter_mut()).zip(windows).enumerate()
    {
        let (best, offset) = pick_2x2(top, bottom, w);
        (*value, *index) = (MaybeUninit::new(best), MaybeUninit::new(top_start + 2 * j + offset));
    }
}

/// Values, then positions, in two passes over the row's windows: on rows of fewer than
/// [`SHORT_ROW`] windows (W2's 11×11 → 5×5) the one-pass loop ran at 8.5 ns per window.
#[inline(always)]
fn two_pass_row<E: Element>(
    top_row: &[E],
    bottom_row: &[E],
    w: usize,
    top_start: usize,
    value_row: &mut [MaybeUninit<E>],
    index_row: &mut [MaybeUninit<usize>],
) {
    let windows = || top_row.chunks_exact(2).zip(bottom_row.chunks_exact(2));
    for (value, (top, bottom)) in value_row.iter_mut().zip(windows()) {
        *value = MaybeUninit::new(pick_2x2(top, bottom, w).0);
    }
    for (j, (index, (top, bottom))) in index_row.iter_mut().zip(windows()).enumerate() {
        *index = MaybeUninit::new(top_start + 2 * j + pick_2x2(top, bottom, w).1);
    }
}

/// [`max_2x2_with_indices`] with the given row kernel ([`one_pass_row`] or [`two_pass_row`]).
fn max_2x2_with_indices_by<E, R>(x: &[E], geo: &Geometry, row: R) -> (Vec<E>, Vec<usize>)
where
    E: Element,
    R: Fn(&[E], &[E], usize, usize, &mut [MaybeUninit<E>], &mut [MaybeUninit<usize>]) + Sync,
{
    let (in_plane, out_plane, w, ow) = (geo.in_plane(), geo.out_plane(), geo.in_hw[1], geo.out_hw[1]);
    let len = geo.planes * out_plane;
    // Both outputs start uninitialised: every window writes its value and index below.
    let (mut values, mut indices) = (Vec::<E>::with_capacity(len), Vec::<usize>::with_capacity(len));
    if len == 0 {
        return (values, indices);
    }
    let plane = |p: usize, (values, indices): (&mut [MaybeUninit<E>], &mut [MaybeUninit<usize>])| {
        let plane = &x[p * in_plane..][..in_plane];
        for (i, (value_row, index_row)) in values.chunks_exact_mut(ow).zip(indices.chunks_exact_mut(ow)).enumerate() {
            let top_start = 2 * i * w;
            let (top_row, bottom_row) = (&plane[top_start..][..2 * ow], &plane[top_start + w..][..2 * ow]);
            row(top_row, bottom_row, w, top_start, value_row, index_row);
        }
    };
    let (value_slots, index_slots) =
        (&mut values.spare_capacity_mut()[..len], &mut indices.spare_capacity_mut()[..len]);
    if geo.parallel() {
        let planes = value_slots.par_chunks_mut(out_plane).zip(index_slots.par_chunks_mut(out_plane));
        planes.enumerate().for_each(|(p, pair)| plane(p, pair));
    } else {
        let planes = value_slots.chunks_mut(out_plane).zip(index_slots.chunks_mut(out_plane));
        planes.enumerate().for_each(|(p, pair)| plane(p, pair));
    }
    // SAFETY: the planes cover all `len` windows (`planes · oh` rows of `ow`), each written above.
    unsafe {
        values.set_len(len);
        indices.set_len(len);
    }
    (values, indices)
}

/// The values [`max_2x2_with_indices`] would pick, without the positions: `x[argmax]`
/// exactly, signed zeros and NaN included, since the same comparisons choose.
fn max_2x2<E: Element>(x: &[E], geo: &Geometry) -> Vec<E> {
    let (in_plane, w, ow) = (geo.in_plane(), geo.in_hw[1], geo.out_hw[1]);
    let mut out = vec![E::zero(); geo.planes * geo.out_plane()];
    for_each_plane(&mut out, geo.out_plane(), geo.parallel(), |p, out| {
        let plane = &x[p * in_plane..][..in_plane];
        for (i, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let (top_row, bottom_row) = (&plane[2 * i * w..][..2 * ow], &plane[(2 * i + 1) * w..][..2 * ow]);
            for ((slot, top), bottom) in out_row.iter_mut().zip(top_row.chunks_exact(2)).zip(bottom_row.chunks_exact(2))
            {
                *slot = pick_2x2(top, bottom, w).0;
            }
        }
    });
    out
}

/// [`Tensor::max_pool2d_input_grad`] for 2×2 windows with stride 2 and no padding, one output
/// row at a time: the two input rows under it are zeroed while they are in the cache,
/// [`winner_2x2`] names each window's winner again (a piece of the row at a time, into a buffer
/// on the stack), and each window's `0 + g` is stored at its winner. The same comparisons as
/// the forward pass pick the same pixels, so the result is that of the stored-index backward
/// ([`scatter_kernel`]), bit for bit.
///
/// Measured on W2's first pooling (`[64, 32, 26, 26]`), against 0.52 ms for this kernel:
/// writing each window's four pixels with a test per pixel took 2.8 ms (which pixel wins is a
/// coin toss, the compiler turned the tests into branches, and most were mispredicted);
/// finding the positions with the forward's row kernels (`usize` positions beside the values)
/// took 0.65 ms, and naming the winner as a value of `E` 0.73 ms.
fn max_2x2_input_grad<E: Element>(x: &[E], g: &[E], geo: &Geometry) -> Vec<E> {
    /// Windows named at a time (the stack buffer's length).
    const PIECE: usize = 64;
    let (in_plane, out_plane, w, ow) = (geo.in_plane(), geo.out_plane(), geo.in_hw[1], geo.out_hw[1]);
    let len = geo.planes * in_plane;
    let mut dx = Vec::<E>::with_capacity(len);
    let zero = MaybeUninit::new(E::zero());
    for_each_plane(&mut dx.spare_capacity_mut()[..len], in_plane, geo.parallel(), |p, dx| {
        let (x, g) = (&x[p * in_plane..][..in_plane], &g[p * out_plane..][..out_plane]);
        let mut winners = [0u32; PIECE];
        let (covered, uncovered) = dx.split_at_mut(2 * geo.out_hw[0] * w);
        for (i, (pair, g_row)) in covered.chunks_exact_mut(2 * w).zip(g.chunks_exact(ow)).enumerate() {
            pair.fill(zero);
            for start in (0..ow).step_by(PIECE) {
                let n = PIECE.min(ow - start);
                let top_start = 2 * i * w + 2 * start;
                let (top_row, bottom_row) = (&x[top_start..][..2 * n], &x[top_start + w..][..2 * n]);
                let windows = top_row.chunks_exact(2).zip(bottom_row.chunks_exact(2));
                for (winner, (top, bottom)) in winners[..n].iter_mut().zip(windows) {
                    *winner = winner_2x2(top, bottom);
                }
                for (j, (&k, &gv)) in winners[..n].iter().zip(&g_row[start..][..n]).enumerate() {
                    // Pixel k of the window (row-major) is at row k / 2, column k % 2 of it;
                    // `pair` starts at the window row's top row.
                    let k = k as usize;
                    pair[(k / 2) * w + 2 * (start + j) + k % 2] = MaybeUninit::new(E::zero() + gv);
                }
            }
        }
        // Rows no window reaches (odd `h`).
        uncovered.fill(zero);
    });
    // SAFETY: every plane's `in_plane` pixels were written above: the `2·oh` rows under the
    // windows by `pair.fill`, the rows below them by `uncovered.fill`.
    unsafe { dx.set_len(len) };
    dx
}

/// Which pixel of a 2×2 window [`pick_2x2`] takes, numbered 0 to 3 in row-major order: the
/// same comparisons, with 32-bit selects that a loop over a row's windows vectorises.
#[inline(always)]
fn winner_2x2<E: Element>(top: &[E], bottom: &[E]) -> u32 {
    let (mut best, mut winner) = (top[0], 0);
    for (v, k) in [(top[1], 1), (bottom[0], 2), (bottom[1], 3)] {
        let take = (v > best) | (v.is_nan() & !best.is_nan());
        best = if take { v } else { best };
        winner = if take { k } else { winner };
    }
    winner
}

/// `out[p, o] = x[p, indices[p, o]]` for every plane `p`.
fn gather_kernel<E: Element>(x: &[E], indices: &[usize], in_plane: usize, out_plane: usize, parallel: bool) -> Vec<E> {
    let mut out = vec![E::zero(); indices.len()];
    for_each_plane(&mut out, out_plane, parallel, |p, out| {
        let plane = &x[p * in_plane..][..in_plane];
        for (slot, &index) in out.iter_mut().zip(&indices[p * out_plane..][..out_plane]) {
            *slot = plane[index];
        }
    });
    out
}

/// `dx[p, indices[p, o]] += g[p, o]` for every plane `p`, into zeros: the adjoint of
/// [`gather_kernel`].
fn scatter_kernel<E: Element>(g: &[E], indices: &[usize], planes: &Planes, parallel: bool) -> Vec<E> {
    let Planes { count, in_plane, out_plane } = *planes;
    let mut dx = vec![E::zero(); count * in_plane];
    for_each_plane(&mut dx, in_plane, parallel, |p, dx| {
        let range = p * out_plane..(p + 1) * out_plane;
        for (&index, &v) in indices[range.clone()].iter().zip(&g[range]) {
            dx[index] = dx[index] + v;
        }
    });
    dx
}

/// `y[p, o]` = the sum of window `o` of plane `p`, over its divisor.
fn avg_pool_kernel<E: Element>(x: &[E], geo: &Geometry, count_include_pad: bool) -> Vec<E> {
    let (in_plane, w, ow) = (geo.in_plane(), geo.in_hw[1], geo.out_hw[1]);
    let (row_windows, col_windows) = (geo.windows(0), geo.windows(1));
    let mut y = vec![E::zero(); geo.planes * geo.out_plane()];
    for_each_plane(&mut y, geo.out_plane(), geo.parallel(), |p, out| {
        let plane = &x[p * in_plane..][..in_plane];
        for (out_row, rows) in out.chunks_exact_mut(ow).zip(&row_windows) {
            for (slot, cols) in out_row.iter_mut().zip(&col_windows) {
                let mut sum = E::zero();
                for a in rows.clone() {
                    for &v in &plane[a * w..][cols.clone()] {
                        sum = sum + v;
                    }
                }
                *slot = sum / geo.divisor::<E>(rows, cols, count_include_pad);
            }
        }
    });
    y
}

/// `dx[p, ·] += g[p, o] / D` over window `o` of plane `p`, for every `o`: the adjoint of
/// [`avg_pool_kernel`].
fn avg_pool_backward_kernel<E: Element>(g: &[E], geo: &Geometry, count_include_pad: bool) -> Vec<E> {
    let (out_plane, w, ow) = (geo.out_plane(), geo.in_hw[1], geo.out_hw[1]);
    let (row_windows, col_windows) = (geo.windows(0), geo.windows(1));
    let mut dx = vec![E::zero(); geo.planes * geo.in_plane()];
    for_each_plane(&mut dx, geo.in_plane(), geo.parallel(), |p, dx| {
        let g_plane = &g[p * out_plane..][..out_plane];
        for (g_row, rows) in g_plane.chunks_exact(ow).zip(&row_windows) {
            for (&grad, cols) in g_row.iter().zip(&col_windows) {
                let share = grad / geo.divisor::<E>(rows, cols, count_include_pad);
                for a in rows.clone() {
                    for d in &mut dx[a * w..][cols.clone()] {
                        *d = *d + share;
                    }
                }
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use proptest::prelude::*;

    fn sample(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, dtype, &mut crate::rng(seed))
    }

    fn spec(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Pool2dSpec {
        Pool2dSpec { kernel, stride, padding }
    }

    /// The input positions (as `Some(a·w + b)`, or `None` in the padding) of every window, by
    /// the definition: one entry per output pixel, in row-major order over `[n, c, oh, ow]`.
    fn naive_windows(shape: &[usize], spec: Pool2dSpec) -> Vec<Vec<Option<usize>>> {
        let [n, c, h, w] = shape.try_into().unwrap();
        let [oh, ow] = spec.output_hw([h, w]).unwrap();
        let mut windows = vec![];
        for _ in 0..n * c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut window = vec![];
                    for p in 0..spec.kernel[0] {
                        for q in 0..spec.kernel[1] {
                            let a = (i * spec.stride[0] + p) as isize - spec.padding[0] as isize;
                            let b = (j * spec.stride[1] + q) as isize - spec.padding[1] as isize;
                            let inside = a >= 0 && b >= 0 && a < h as isize && b < w as isize;
                            window.push(inside.then(|| a as usize * w + b as usize));
                        }
                    }
                    windows.push(window);
                }
            }
        }
        windows
    }

    /// Max pooling by the definition: values and first-maximum indices (padding is −∞).
    fn naive_max(x: &Tensor, spec: Pool2dSpec) -> (Vec<f64>, Vec<usize>) {
        let xs = x.to_vec_f64();
        let in_plane = x.shape()[2] * x.shape()[3];
        let windows = naive_windows(x.shape(), spec);
        let per_plane = windows.len() / (x.shape()[0] * x.shape()[1]);
        let (mut values, mut indices) = (vec![], vec![]);
        for (o, window) in windows.iter().enumerate() {
            let plane = &xs[o / per_plane * in_plane..][..in_plane];
            let (mut best, mut at) = (f64::NEG_INFINITY, usize::MAX);
            for &index in window.iter().flatten() {
                if plane[index] > best {
                    (best, at) = (plane[index], index);
                }
            }
            values.push(best);
            indices.push(at);
        }
        (values, indices)
    }

    /// Average pooling by the definition, and its backward for `g` by the same loops.
    fn naive_avg(x: &Tensor, g: &Tensor, spec: Pool2dSpec, count_include_pad: bool) -> (Vec<f64>, Vec<f64>) {
        let (xs, gs) = (x.to_vec_f64(), g.to_vec_f64());
        let in_plane = x.shape()[2] * x.shape()[3];
        let windows = naive_windows(x.shape(), spec);
        let per_plane = windows.len() / (x.shape()[0] * x.shape()[1]);
        let (mut y, mut dx) = (vec![], vec![0.0; xs.len()]);
        for (o, window) in windows.iter().enumerate() {
            let base = o / per_plane * in_plane;
            let inside: Vec<usize> = window.iter().flatten().map(|i| base + i).collect();
            let divisor = if count_include_pad { window.len() } else { inside.len() } as f64;
            y.push(inside.iter().map(|&i| xs[i]).sum::<f64>() / divisor);
            for &i in &inside {
                dx[i] += gs[o] / divisor;
            }
        }
        (y, dx)
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{what}[{i}]: got {a}, want {b}");
        }
    }

    fn inner(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.shape(), b.shape());
        a.to_vec_f64().iter().zip(b.to_vec_f64()).map(|(x, y)| x * y).sum()
    }

    /// Input shapes and specs: non-overlapping, padded, overlapping (stride < kernel),
    /// non-square, and one large enough for the threaded path.
    fn configs() -> Vec<(Vec<usize>, Pool2dSpec)> {
        vec![
            (vec![2, 3, 6, 6], Pool2dSpec::new([2, 2])),
            (vec![1, 2, 7, 5], spec([3, 3], [2, 2], [1, 1])),
            (vec![2, 2, 5, 6], spec([3, 3], [1, 1], [0, 0])),
            (vec![1, 1, 4, 7], spec([2, 3], [1, 2], [1, 1])),
            (vec![3, 2, 5, 5], spec([3, 2], [2, 1], [1, 1])),
            (vec![1, 1, 5, 5], Pool2dSpec::new([2, 2])), // the last row and column are never read
            (vec![4, 8, 32, 32], spec([3, 3], [2, 2], [1, 1])),
        ]
    }

    #[test]
    fn max_pool_2x2_values_equal_the_values_at_the_indices() {
        // Rows of 4 windows (the two-pass kernel) and of 12 (the one-pass kernel).
        for width in [8, 24] {
            let shape = [2, 3, 9, width];
            let mut values = sample(&shape, DType::F32, 11).to_vec_f64();
            values[5] = f64::NAN;
            values[20] = -0.0;
            values[21] = 0.0;
            let x = Tensor::from_vec(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), &shape);
            let (with_indices, _) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
            let direct = x.max_pool2d(Pool2dSpec::new([2, 2]));
            let bits = |t: &Tensor| t.to_vec_f32().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&direct), bits(&with_indices), "width {width}");
        }
    }

    #[test]
    fn max_pool_2x2_fast_path_keeps_ties_and_nan_rules() {
        // Windows: a maximum in second place, a NaN (wins over 9), a maximum in first place, a
        // maximum in third place.
        let x = Tensor::from_vec(
            vec![1.0f32, 3.0, 5.0, f32::NAN, 2.0, 2.0, 0.0, 9.0, 3.0, 1.0, 5.0, 1.0, 2.0, 2.0, 0.0, 0.0],
            &[1, 1, 4, 4],
        );
        let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
        assert_eq!(idx.iter().copied().collect::<Vec<_>>(), vec![1, 3, 8, 10]);
        assert!(y.to_vec_f32()[1].is_nan());
        // Many ties (values rounded to integers) and an odd height: the definition agrees, on
        // rows of 4 windows (the two-pass kernel) and of 7 and 13 (the one-pass kernel).
        for width in [8, 14, 27] {
            let shape = [3, 4, 9, width];
            let values = sample(&shape, DType::F64, 5).to_vec_f64().iter().map(|v| (4.0 * v).round()).collect();
            let x = Tensor::from_vec::<f64>(values, &shape);
            let (fast_values, fast) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
            let (values, naive) = naive_max(&x, Pool2dSpec::new([2, 2]));
            assert_eq!(fast.iter().copied().collect::<Vec<_>>(), naive, "width {width}");
            assert_eq!(fast_values.to_vec_f64(), values, "width {width}");
        }
    }

    #[test]
    fn input_grad_equals_the_scatter_to_the_forward_indices() {
        // Every config, plus 2×2 windows over odd and even planes with rows of 2 to 12
        // windows, ties (values rounded to integers), a NaN, signed zeros, and -0.0 gradients.
        let mut cases = configs();
        for (h, w) in [(4, 4), (5, 7), (9, 24), (11, 11), (2, 25)] {
            cases.push((vec![2, 3, h, w], Pool2dSpec::new([2, 2])));
        }
        cases.push((vec![4, 8, 33, 32], Pool2dSpec::new([2, 2]))); // spread over the threads
        cases.push((vec![1, 2, 3, 141], Pool2dSpec::new([2, 2]))); // rows of 70 windows, past one piece
        for (seed, (shape, spec)) in cases.into_iter().enumerate() {
            let mut values: Vec<f64> =
                sample(&shape, DType::F64, 70 + seed as u64).to_vec_f64().iter().map(|v| (3.0 * v).round()).collect();
            values[1] = f64::NAN;
            values[2] = -0.0;
            let x = Tensor::from_vec(values, &shape);
            let [oh, ow] = spec.output_hw([shape[2], shape[3]]).unwrap();
            let mut g = sample(&[shape[0], shape[1], oh, ow], DType::F64, 90 + seed as u64).to_vec_f64();
            g[0] = -0.0;
            let g = Tensor::from_vec(g, &[shape[0], shape[1], oh, ow]);
            for dtype in [DType::F64, DType::F32] {
                let (x, g) = (x.to_dtype(dtype), g.to_dtype(dtype));
                let (_, idx) = x.max_pool2d_with_indices(spec);
                let want = Tensor::max_pool2d_backward(&g, &idx, &shape);
                let got = x.max_pool2d_input_grad(&g, spec);
                let bits = |t: &Tensor| t.to_vec_f64().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(got.shape(), &shape[..]);
                assert_eq!(got.dtype(), dtype);
                assert_eq!(bits(&got), bits(&want), "{shape:?} {spec:?} {dtype:?}");
            }
        }
        let x = Tensor::zeros(&[1, 2, 4, 4], DType::F32);
        let err = x.try_max_pool2d_input_grad(&Tensor::zeros(&[1, 2, 3, 3], DType::F32), Pool2dSpec::new([2, 2]));
        assert!(err.unwrap_err().to_string().contains("[1, 2, 2, 2]"));
        let err = x.try_max_pool2d_input_grad(&Tensor::zeros(&[1, 2, 2, 2], DType::F64), Pool2dSpec::new([2, 2]));
        assert!(err.unwrap_err().to_string().contains("dtype mismatch"));
        let empty = Tensor::zeros(&[0, 2, 4, 4], DType::F32);
        let dx = empty.max_pool2d_input_grad(&Tensor::zeros(&[0, 2, 2, 2], DType::F32), Pool2dSpec::new([2, 2]));
        assert_eq!(dx.shape(), &[0, 2, 4, 4]);
    }

    #[test]
    fn max_pool_matches_the_definition() {
        for (seed, (shape, spec)) in configs().into_iter().enumerate() {
            let x = sample(&shape, DType::F64, seed as u64);
            let (y, idx) = x.max_pool2d_with_indices(spec);
            let (values, indices) = naive_max(&x, spec);
            assert_eq!(y.shape(), idx.shape());
            assert_eq!(y.to_vec_f64(), values, "{shape:?} {spec:?}");
            assert_eq!(idx.iter().copied().collect::<Vec<_>>(), indices, "{shape:?} {spec:?}");
            assert_eq!(x.max_pool2d(spec).to_vec_f64(), values);
            assert_eq!(x.max_pool2d_gather(&idx).to_vec_f64(), values);
        }
    }

    #[test]
    fn avg_pool_and_its_backward_match_the_definition() {
        for (seed, (shape, spec)) in configs().into_iter().enumerate() {
            let x = sample(&shape, DType::F64, 10 + seed as u64);
            let [oh, ow] = spec.output_hw([shape[2], shape[3]]).unwrap();
            let g = sample(&[shape[0], shape[1], oh, ow], DType::F64, 20 + seed as u64);
            for count_include_pad in [true, false] {
                let (y, dx) = naive_avg(&x, &g, spec, count_include_pad);
                assert_close(&x.avg_pool2d(spec, count_include_pad).to_vec_f64(), &y, "y");
                let got = Tensor::avg_pool2d_backward(&g, &shape, spec, count_include_pad);
                assert_eq!(got.shape(), &shape[..]);
                assert_close(&got.to_vec_f64(), &dx, "dx");
            }
        }
    }

    #[test]
    fn backward_kernels_are_adjoints() {
        for (seed, (shape, spec)) in configs().into_iter().enumerate() {
            let x = sample(&shape, DType::F64, 30 + seed as u64);
            let [oh, ow] = spec.output_hw([shape[2], shape[3]]).unwrap();
            let g = sample(&[shape[0], shape[1], oh, ow], DType::F64, 40 + seed as u64);
            for cip in [true, false] {
                let forward = inner(&x.avg_pool2d(spec, cip), &g);
                let backward = inner(&x, &Tensor::avg_pool2d_backward(&g, &shape, spec, cip));
                assert!((forward - backward).abs() < 1e-11 * (1.0 + forward.abs()), "{forward} vs {backward}");
            }
            // Any fixed indices, here those of another input.
            let (_, idx) = sample(&shape, DType::F64, 50 + seed as u64).max_pool2d_with_indices(spec);
            let forward = inner(&x.max_pool2d_gather(&idx), &g);
            let backward = inner(&x, &Tensor::max_pool2d_backward(&g, &idx, &shape));
            assert!((forward - backward).abs() < 1e-11 * (1.0 + forward.abs()), "{forward} vs {backward}");
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_padding_is_never_chosen() {
        let x = Tensor::ones(&[1, 1, 3, 3], DType::F32);
        let (y, idx) = x.max_pool2d_with_indices(spec([2, 2], [1, 1], [1, 1]));
        assert_eq!(y.to_vec_f32(), vec![1.0; 16]);
        let first_inside = vec![0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8];
        assert_eq!(idx.iter().copied().collect::<Vec<_>>(), first_inside);
        let negative = x.mul_scalar(-2.0);
        assert_eq!(negative.max_pool2d(spec([2, 2], [1, 1], [1, 1])).to_vec_f32(), vec![-2.0; 16]);
    }

    #[test]
    fn nan_propagates() {
        let x = Tensor::from_vec(vec![1.0f64, f64::NAN, 3.0, 2.0], &[1, 1, 2, 2]);
        let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
        assert!(y.to_scalar().is_nan());
        assert_eq!(idx[[0, 0, 0, 0]], 1);
    }

    #[test]
    fn overlapping_windows_add_their_gradients() {
        // The centre of a 3×3 plane is the maximum of all four 2×2 windows (stride 1).
        let x = Tensor::from_vec(vec![0.0f64, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0], &[1, 1, 3, 3]);
        let (_, idx) = x.max_pool2d_with_indices(spec([2, 2], [1, 1], [0, 0]));
        let g = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let dx = Tensor::max_pool2d_backward(&g, &idx, x.shape());
        assert_eq!(dx.to_vec_f64(), vec![0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn strided_views_and_f32() {
        let spec = spec([3, 3], [2, 2], [1, 1]);
        let x = sample(&[2, 7, 6, 3], DType::F64, 60).permute(&[0, 3, 1, 2]);
        assert!(!x.is_contiguous());
        let xc = x.contiguous();
        assert_eq!(x.max_pool2d(spec).to_vec_f64(), xc.max_pool2d(spec).to_vec_f64());
        assert_eq!(x.avg_pool2d(spec, false).to_vec_f64(), xc.avg_pool2d(spec, false).to_vec_f64());
        let x32 = x.to_dtype(DType::F32);
        let (y32, idx32) = x32.max_pool2d_with_indices(spec);
        let (y64, idx64) = x.max_pool2d_with_indices(spec);
        assert_eq!(y32.dtype(), DType::F32);
        assert_eq!(idx32, idx64);
        assert!(y32.to_dtype(DType::F64).allclose(&y64, 1e-6, 1e-6));
        let a32 = x32.avg_pool2d(spec, true);
        assert_eq!(a32.dtype(), DType::F32);
        assert!(a32.to_dtype(DType::F64).allclose(&x.avg_pool2d(spec, true), 1e-5, 1e-6));
        let g = Tensor::ones(y32.shape(), DType::F32);
        assert_eq!(Tensor::max_pool2d_backward(&g, &idx32, x.shape()).dtype(), DType::F32);
        assert_eq!(Tensor::avg_pool2d_backward(&g, x.shape(), spec, true).dtype(), DType::F32);
    }

    #[test]
    fn empty_batches() {
        let x = Tensor::zeros(&[0, 3, 4, 4], DType::F32);
        let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
        assert_eq!((y.shape(), idx.shape()), (&[0, 3, 2, 2][..], &[0, 3, 2, 2][..]));
        assert_eq!(Tensor::max_pool2d_backward(&y, &idx, x.shape()).shape(), x.shape());
        assert_eq!(x.avg_pool2d(Pool2dSpec::new([2, 2]), true).shape(), &[0, 3, 2, 2]);
        let no_indices = ArrayD::<usize>::zeros(IxDyn(&[1, 2, 0, 0]));
        let g = Tensor::zeros(&[1, 2, 0, 0], DType::F64);
        assert_eq!(Tensor::max_pool2d_backward(&g, &no_indices, &[1, 2, 2, 2]).to_vec_f64(), vec![0.0; 8]);
        assert_eq!(Tensor::ones(&[1, 2, 2, 2], DType::F64).max_pool2d_gather(&no_indices).shape(), &[1, 2, 0, 0]);
    }

    #[test]
    fn shape_errors_say_what_was_expected() {
        let x = Tensor::zeros(&[2, 3, 8, 8], DType::F32);
        let message = |r: Result<Tensor, ShapeError>| r.unwrap_err().to_string();
        let rank = message(Tensor::zeros(&[3, 8, 8], DType::F32).try_max_pool2d(Pool2dSpec::new([2, 2])));
        assert_eq!(rank, "max_pool2d: expected an input of rank 4 [n, c, h, w], got shape [3, 8, 8]");
        let pad = message(x.try_avg_pool2d(spec([2, 2], [2, 2], [2, 2]), true));
        assert!(pad.starts_with("avg_pool2d: padding [2, 2] is more than half the kernel [2, 2]"), "{pad}");
        let big = message(x.try_max_pool2d(Pool2dSpec::new([9, 3])));
        assert!(big.contains("the 9×3 window is larger than the 8×8 padded input"), "{big}");
        let zero = message(x.try_max_pool2d(spec([2, 2], [0, 1], [0, 0])));
        assert!(zero.contains("must be at least 1"), "{zero}");
        let bad_g = Tensor::zeros(&[2, 3, 3, 4], DType::F32);
        let grad = message(Tensor::try_avg_pool2d_backward(&bad_g, x.shape(), Pool2dSpec::new([2, 2]), true));
        assert!(grad.starts_with("avg_pool2d_backward: grad_out has shape [2, 3, 3, 4]"), "{grad}");
        assert!(grad.contains("output of shape [2, 3, 4, 4]"), "{grad}");
        let (y, idx) = x.max_pool2d_with_indices(Pool2dSpec::new([2, 2]));
        let mismatch = message(Tensor::try_max_pool2d_backward(&bad_g, &idx, x.shape()));
        assert!(
            mismatch.contains("grad_out has shape [2, 3, 3, 4] but the indices have shape [2, 3, 4, 4]"),
            "{mismatch}"
        );
        let other = message(Tensor::try_max_pool2d_backward(&y, &idx, &[2, 4, 8, 8]));
        assert!(other.contains("the indices must have shape [2, 4, oh, ow]"), "{other}");
        let mut outside = idx.clone();
        outside[[1, 2, 0, 3]] = 64;
        let range = message(x.try_max_pool2d_gather(&outside));
        assert_eq!(
            range,
            "max_pool2d_gather: index 64 at [1, 2, 0, 3] is outside the 8×8 input planes (indices must be below 64)"
        );
    }

    #[test]
    #[should_panic(expected = "max_pool2d: the 9×3 window is larger than the 8×8 padded input")]
    fn the_panicking_twin_reports_the_same_words() {
        Tensor::zeros(&[2, 3, 8, 8], DType::F32).max_pool2d(Pool2dSpec::new([9, 3]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn random_configs_match_the_definition_and_are_adjoint(
            (n, c, h, w) in (1usize..3, 1usize..3, 1usize..9, 1usize..9),
            (kh, kw, sh, sw) in (1usize..4, 1usize..4, 1usize..4, 1usize..4),
            (ph, pw, seed) in (0usize..2, 0usize..2, 0u64..1_000_000),
        ) {
            let spec = spec([kh, kw], [sh, sw], [ph, pw]);
            prop_assume!(2 * ph <= kh && 2 * pw <= kw && spec.output_hw([h, w]).is_some());
            let x = sample(&[n, c, h, w], DType::F64, seed);
            let [oh, ow] = spec.output_hw([h, w]).unwrap();
            let g = sample(&[n, c, oh, ow], DType::F64, seed + 1);
            let (y, idx) = x.max_pool2d_with_indices(spec);
            let (values, indices) = naive_max(&x, spec);
            prop_assert_eq!(y.to_vec_f64(), values);
            prop_assert_eq!(idx.iter().copied().collect::<Vec<_>>(), indices);
            let forward = inner(&x.max_pool2d_gather(&idx), &g);
            let backward = inner(&x, &Tensor::max_pool2d_backward(&g, &idx, x.shape()));
            prop_assert!((forward - backward).abs() < 1e-11 * (1.0 + forward.abs()));
            for cip in [true, false] {
                let (want_y, want_dx) = naive_avg(&x, &g, spec, cip);
                assert_close(&x.avg_pool2d(spec, cip).to_vec_f64(), &want_y, "y");
                assert_close(&Tensor::avg_pool2d_backward(&g, x.shape(), spec, cip).to_vec_f64(), &want_dx, "dx");
                let forward = inner(&x.avg_pool2d(spec, cip), &g);
                let backward = inner(&x, &Tensor::avg_pool2d_backward(&g, x.shape(), spec, cip));
                prop_assert!((forward - backward).abs() < 1e-11 * (1.0 + forward.abs()));
            }
        }
    }
}
