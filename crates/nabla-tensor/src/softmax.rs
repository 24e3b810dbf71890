//! Softmax, log-softmax and log-sum-exp along one axis, computed so that they cannot overflow.
//!
//! Each works on the lanes along `axis` (for `[batch, classes]` and `axis = 1`, each row). For a
//! lane `x` with largest element `m = max_j x_j`:
//!
//! ```text
//! softmax(x)_i     = e^(x_i − m) / Σ_j e^(x_j − m)
//! log_softmax(x)_i = x_i − m − ln Σ_j e^(x_j − m)
//! logsumexp(x)     = m + ln Σ_j e^(x_j − m)
//! ```
//!
//! Subtracting `m` changes nothing mathematically (it cancels), but it keeps every exponent at
//! or below 0, so `e^(…)` never overflows, and the sum holds the term `e^0 = 1`, so it is at
//! least 1 and its logarithm is finite. Without the shift, `[1000, 0, −1000]` in `f32` gives
//! `e^1000 = ∞` and a NaN; with it, softmax is `[1, 0, 0]` and log-softmax `[0, −1000, −2000]`.
//! Computing log-softmax directly, rather than as `ln(softmax(x))`, also keeps the
//! `−2000`, which `ln(0) = −∞` would lose.
//!
//! | call | input | output |
//! |---|---|---|
//! | `x.softmax(1)` | `[batch, classes]` | `[batch, classes]` |
//! | `x.log_softmax(1)` | `[batch, classes]` | `[batch, classes]` |
//! | `x.logsumexp(1, false)` | `[batch, classes]` | `[batch]` |
//! | `x.logsumexp(1, true)` | `[batch, classes]` | `[batch, 1]` |
//!
//! A lane of only `−∞` has log-sum-exp `−∞` (an empty sum), and softmax NaN (0/0), as in
//! PyTorch. Tensors of at least [`PARALLEL_THRESHOLD`] elements are processed on rayon's thread
//! pool: a row-major tensor with the lanes along its last axis (a classifier's logits) in
//! blocks of whole rows, any other lane by lane.
//!
//! ```
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec(vec![1000.0f32, 0.0, -1000.0], &[1, 3]);
//! assert_eq!(x.softmax(1).to_vec_f32(), vec![1.0, 0.0, 0.0]);
//! assert_eq!(x.log_softmax(1).to_vec_f32(), vec![0.0, -1000.0, -2000.0]);
//! assert_eq!(x.logsumexp(1, false).to_vec_f32(), vec![1000.0]);
//! ```

use ndarray::{ArcArray, ArrayD, ArrayView1, ArrayViewMut1, Axis, IxDyn, Zip};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::parallel::PARALLEL_THRESHOLD;
use crate::reduce::{check_axes, sum_slice};
use crate::scalar;
use crate::tensor::{dispatch, Tensor};
use crate::vector_math::with_widest_vectors;

/// The shift `m` of a lane: its largest element, or 0 when all are `−∞` (then `x − m` stays
/// `−∞` and `e^(x − m)` is 0, where `−∞ − (−∞)` would be NaN).
///
/// A contiguous lane is scanned with 16 running maxima, which fill the vector lanes (one
/// running maximum is a chain of dependent compares); the maximum, NaN included, does not
/// depend on the order.
#[inline(always)]
fn shift<E: Element>(lane: &ArrayView1<'_, E>) -> E {
    const LANES: usize = 16;
    let m = match lane.as_slice() {
        Some(xs) => {
            let mut maxima = [E::neg_infinity(); LANES];
            let blocks = xs.chunks_exact(LANES);
            let rest = blocks.remainder().iter().fold(E::neg_infinity(), |m, &x| scalar::maximum(x, m));
            for block in blocks {
                for l in 0..LANES {
                    maxima[l] = scalar::maximum(block[l], maxima[l]);
                }
            }
            maxima.iter().fold(rest, |m, &x| scalar::maximum(x, m))
        }
        None => lane.iter().fold(E::neg_infinity(), |m, &x| scalar::maximum(x, m)),
    };
    if m == E::neg_infinity() {
        E::zero()
    } else {
        m
    }
}

/// `e^(x_j − m)` into `out`, and their sum. On contiguous lanes the exponentials are an index
/// loop and the sum is [`sum_slice`]'s 16 running sums, so both fill the vector lanes: one
/// running sum of `exp`s (a chain of dependent additions) made a `[2048, 65]` log-softmax take
/// 0.48 ms.
#[inline(always)]
fn exp_shifted<E: Element>(x: &ArrayView1<'_, E>, out: &mut ArrayViewMut1<'_, E>, m: E) -> E {
    match (x.as_slice(), out.as_slice_mut()) {
        // An index loop, which inlines into the wide-vector caller (ndarray's zip would not).
        (Some(xs), Some(os)) => {
            for i in 0..os.len().min(xs.len()) {
                os[i] = (xs[i] - m).exp_vectorised();
            }
            sum_slice(os)
        }
        _ => {
            out.zip_mut_with(x, |o, &x| *o = (x - m).exp_vectorised());
            out.iter().fold(E::zero(), |s, &e| s + e)
        }
    }
}

#[inline(always)]
fn softmax_lane<E: Element>(x: ArrayView1<'_, E>, mut out: ArrayViewMut1<'_, E>) {
    let m = shift(&x);
    let total = exp_shifted(&x, &mut out, m);
    out.mapv_inplace(|e| e / total);
}

/// The exponentials go to `out` first (for their sum), then `out` is overwritten with the result.
#[inline(always)]
fn log_softmax_lane<E: Element>(x: ArrayView1<'_, E>, mut out: ArrayViewMut1<'_, E>) {
    let m = shift(&x);
    let offset = m + exp_shifted(&x, &mut out, m).ln();
    match (x.as_slice(), out.as_slice_mut()) {
        (Some(xs), Some(os)) => {
            for i in 0..os.len().min(xs.len()) {
                os[i] = xs[i] - offset;
            }
        }
        _ => out.zip_mut_with(&x, |o, &x| *o = x - offset),
    }
}

fn logsumexp_lane<E: Element>(x: ArrayView1<'_, E>) -> E {
    let m = shift(&x);
    m + x.iter().fold(E::zero(), |s, &x| s + (x - m).exp_vectorised()).ln()
}

/// Runs `f` on every lane along `axis`, writing a same-shaped output (callers pass an
/// `#[inline(always)]` closure, not the lane function itself: a function item is called
/// through a shim that was compiled apart, for baseline x86-64, and ran `exp` 4 lanes wide); rayon splits the lanes
/// across threads for large tensors. Each lane runs compiled for the CPU's widest vectors
/// (`exp` is [`Element::exp_vectorised`]: `x − m ≤ 0` cannot overflow).
fn per_lane<E: Element>(
    a: &ArcArray<E, IxDyn>,
    axis: usize,
    lane: impl Fn(ArrayView1<'_, E>, ArrayViewMut1<'_, E>) + Sync + Send,
) -> ArrayD<E> {
    let f = |x, out| {
        with_widest_vectors(
            #[inline(always)]
            || lane(x, out),
        )
    };
    let mut out = ArrayD::zeros(a.raw_dim());
    if let (Some(xs), true) = (a.as_slice(), axis + 1 == a.ndim()) {
        // Row-major with the lanes as rows (the logits of a classifier): blocks of whole rows,
        // each block one wide-vector call, instead of one call per lane.
        let width = a.shape()[axis];
        let os = out.as_slice_mut().expect("a new array is row-major");
        for_row_blocks(os, width, |first, block| {
            with_widest_vectors(
                #[inline(always)]
                || {
                    for (i, o) in block.chunks_exact_mut(width).enumerate() {
                        let x = &xs[(first + i) * width..][..width];
                        lane(ArrayView1::from(x), ArrayViewMut1::from(o));
                    }
                },
            )
        });
        return out;
    }
    let zip = Zip::from(a.lanes(Axis(axis))).and(out.lanes_mut(Axis(axis)));
    if a.len() >= PARALLEL_THRESHOLD {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
    out
}

/// Runs `f(first_row, block)` over `out` (rows of `width`) cut into blocks of whole rows; on
/// rayon's threads when `out` has at least [`PARALLEL_THRESHOLD`] elements (blocks of an
/// eighth of that, at least one row). `f` wraps its loop in [`with_widest_vectors`] itself, so
/// that the lane function inlines into the wide-vector code.
fn for_row_blocks<E: Element>(out: &mut [E], width: usize, f: impl Fn(usize, &mut [E]) + Sync + Send) {
    if width == 0 || out.is_empty() {
        return;
    }
    let rows_per_block = (PARALLEL_THRESHOLD / 8 / width).max(1);
    if out.len() >= PARALLEL_THRESHOLD {
        out.par_chunks_mut(rows_per_block * width).enumerate().for_each(|(b, block)| f(b * rows_per_block, block));
    } else {
        f(0, out);
    }
}

/// `x̄ = y ⊙ (ȳ − Σ_j ȳ_j·y_j)` on one lane: the backward of softmax, from its output `y`.
#[inline(always)]
fn softmax_backward_lane<E: Element>(y: ArrayView1<'_, E>, g: ArrayView1<'_, E>, mut out: ArrayViewMut1<'_, E>) {
    let dot = y.iter().zip(&g).fold(E::zero(), |s, (&y, &g)| s + y * g);
    Zip::from(&mut out).and(&y).and(&g).for_each(|o, &y, &g| *o = y * (g - dot));
}

/// `x̄ = ȳ − e^y · Σ_j ȳ_j` on one lane: the backward of log-softmax, from its output `y`
/// (`e^y` is the softmax).
#[inline(always)]
fn log_softmax_backward_lane<E: Element>(y: ArrayView1<'_, E>, g: ArrayView1<'_, E>, mut out: ArrayViewMut1<'_, E>) {
    let total = match g.as_slice() {
        Some(gs) => sum_slice(gs),
        None => g.iter().fold(E::zero(), |s, &g| s + g),
    };
    match (y.as_slice(), g.as_slice(), out.as_slice_mut()) {
        (Some(ys), Some(gs), Some(os)) => {
            for i in 0..os.len().min(ys.len()).min(gs.len()) {
                os[i] = gs[i] - ys[i].exp_vectorised() * total;
            }
        }
        _ => Zip::from(&mut out).and(&y).and(&g).for_each(|o, &y, &g| *o = g - y.exp_vectorised() * total),
    }
}

/// [`per_lane`] for the backward kernels: `f(y_lane, g_lane, out_lane)`.
fn per_lane_backward<E: Element>(
    y: &ArcArray<E, IxDyn>,
    g: &ArcArray<E, IxDyn>,
    axis: usize,
    lane: impl Fn(ArrayView1<'_, E>, ArrayView1<'_, E>, ArrayViewMut1<'_, E>) + Sync + Send,
) -> ArrayD<E> {
    let f = |y, g, out| {
        with_widest_vectors(
            #[inline(always)]
            || lane(y, g, out),
        )
    };
    let mut out = ArrayD::zeros(y.raw_dim());
    if let (Some(ys), Some(gs), true) = (y.as_slice(), g.as_slice(), axis + 1 == y.ndim()) {
        let width = y.shape()[axis];
        let os = out.as_slice_mut().expect("a new array is row-major");
        for_row_blocks(os, width, |first, block| {
            with_widest_vectors(
                #[inline(always)]
                || {
                    for (i, o) in block.chunks_exact_mut(width).enumerate() {
                        let (y, g) = (&ys[(first + i) * width..][..width], &gs[(first + i) * width..][..width]);
                        lane(ArrayView1::from(y), ArrayView1::from(g), ArrayViewMut1::from(o));
                    }
                },
            )
        });
        return out;
    }
    let zip = Zip::from(y.lanes(Axis(axis))).and(g.lanes(Axis(axis))).and(out.lanes_mut(Axis(axis)));
    if y.len() >= PARALLEL_THRESHOLD {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
    out
}

impl Tensor {
    /// The backward of [`softmax`](Self::softmax) along `axis`, from its output `y = self` and
    /// the output's gradient `grad`: `x̄ = y ⊙ (ȳ − Σ ȳ ⊙ y)`, lane by lane in one pass.
    ///
    /// # Panics
    /// If the shapes or dtypes differ or `axis` is out of range.
    #[track_caller]
    pub fn softmax_backward(&self, grad: &Tensor, axis: usize) -> Tensor {
        or_panic(check_axes("softmax_backward", self.shape(), &[axis]));
        assert_eq!(
            self.shape(),
            grad.shape(),
            "softmax_backward: output {:?} vs gradient {:?}",
            self.shape(),
            grad.shape()
        );
        crate::tensor::dispatch2!("softmax_backward", self, grad, y, g => {
            Tensor::from_array(per_lane_backward(y, g, axis, #[inline(always)] |y, g, o| softmax_backward_lane(y, g, o)))
        })
    }

    /// The backward of [`log_softmax`](Self::log_softmax) along `axis`, from its output
    /// `y = self` and the output's gradient `grad`: `x̄ = ȳ − e^y ⊙ Σ ȳ`.
    ///
    /// # Panics
    /// If the shapes or dtypes differ or `axis` is out of range.
    #[track_caller]
    pub fn log_softmax_backward(&self, grad: &Tensor, axis: usize) -> Tensor {
        or_panic(check_axes("log_softmax_backward", self.shape(), &[axis]));
        assert_eq!(
            self.shape(),
            grad.shape(),
            "log_softmax_backward: output {:?} vs gradient {:?}",
            self.shape(),
            grad.shape()
        );
        crate::tensor::dispatch2!("log_softmax_backward", self, grad, y, g => {
            Tensor::from_array(per_lane_backward(y, g, axis, #[inline(always)] |y, g, o| log_softmax_backward_lane(y, g, o)))
        })
    }

    /// `softmax(x)_i = e^(x_i − m) / Σ_j e^(x_j − m)` along `axis`, with `m` the lane's maximum;
    /// same shape out. Every lane is positive and sums to 1; subtracting `m` keeps `e^(…)` from
    /// overflowing, so `[1000, 0, −1000]` gives `[1, 0, 0]` even in `f32`.
    pub fn try_softmax(&self, axis: usize) -> Result<Tensor, ShapeError> {
        check_axes("softmax", self.shape(), &[axis])?;
        Ok(dispatch!(self, a => Tensor::from_array(per_lane(a, axis, #[inline(always)] |x, o| softmax_lane(x, o)))))
    }

    /// [`try_softmax`](Self::try_softmax), panicking at the caller's line on a bad axis.
    #[track_caller]
    pub fn softmax(&self, axis: usize) -> Tensor {
        or_panic(self.try_softmax(axis))
    }

    /// `log_softmax(x)_i = x_i − m − ln Σ_j e^(x_j − m)` along `axis`, with `m` the lane's
    /// maximum; same shape out. Finite wherever `x` is, even when softmax underflows to 0.
    pub fn try_log_softmax(&self, axis: usize) -> Result<Tensor, ShapeError> {
        check_axes("log_softmax", self.shape(), &[axis])?;
        Ok(dispatch!(self, a => Tensor::from_array(per_lane(a, axis, #[inline(always)] |x, o| log_softmax_lane(x, o)))))
    }

    /// [`try_log_softmax`](Self::try_log_softmax), panicking at the caller's line on a bad axis.
    #[track_caller]
    pub fn log_softmax(&self, axis: usize) -> Tensor {
        or_panic(self.try_log_softmax(axis))
    }

    /// `logsumexp(x) = m + ln Σ_j e^(x_j − m)` over `axis`, with `m` the lane's maximum: a
    /// smooth maximum. `axis` is removed, or kept with extent 1 when `keepdim`.
    pub fn try_logsumexp(&self, axis: usize, keepdim: bool) -> Result<Tensor, ShapeError> {
        check_axes("logsumexp", self.shape(), &[axis])?;
        Ok(dispatch!(self, a => {
            let lanes = Zip::from(a.lanes(Axis(axis)));
            let out = if a.len() >= PARALLEL_THRESHOLD {
                lanes.par_map_collect(logsumexp_lane)
            } else {
                lanes.map_collect(logsumexp_lane)
            };
            Tensor::from_array(if keepdim { out.insert_axis(Axis(axis)) } else { out })
        }))
    }

    /// [`try_logsumexp`](Self::try_logsumexp), panicking at the caller's line on a bad axis.
    #[track_caller]
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Tensor {
        or_panic(self.try_logsumexp(axis, keepdim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use proptest::prelude::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn golden_values() {
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
        let expected = [0.09003057317038046, 0.24472847105479767, 0.6652409557748219];
        assert!(close(&x.softmax(0).to_vec_f64(), &expected, 1e-15), "{:?}", x.softmax(0));
        let lse = 3.40760596444438;
        assert!((x.logsumexp(0, false).to_scalar() - lse).abs() < 1e-14);
        assert!(close(&x.log_softmax(0).to_vec_f64(), &[1.0 - lse, 2.0 - lse, 3.0 - lse], 1e-14));
    }

    #[test]
    fn extreme_inputs_stay_finite_in_f32() {
        let x = Tensor::from_vec(vec![1000.0f32, 0.0, -1000.0, -1000.0, 0.0, 1000.0], &[2, 3]);
        assert_eq!(x.softmax(1).to_vec_f32(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(x.log_softmax(1).to_vec_f32(), vec![0.0, -1000.0, -2000.0, -2000.0, -1000.0, 0.0]);
        assert_eq!(x.logsumexp(1, false).to_vec_f32(), vec![1000.0, 1000.0]);
        let s = x.softmax(0);
        assert!(s.all_finite() && x.log_softmax(0).all_finite(), "{s:?}");
        assert_eq!(s.to_vec_f32(), vec![1.0, 0.5, 0.0, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn negative_infinity_is_masked_out() {
        let x = Tensor::from_vec(vec![0.0f32, f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, f32::NEG_INFINITY], &[5]);
        assert_eq!(x.softmax(0).to_vec_f32(), vec![0.5, 0.0, 0.5, 0.0, 0.0]);
        let all = Tensor::full(&[2], f64::NEG_INFINITY, DType::F64);
        assert_eq!(all.logsumexp(0, false).to_scalar(), f64::NEG_INFINITY);
        assert!(all.softmax(0).to_vec_f64().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn axes_and_shapes() {
        let x = crate::init::uniform(&[2, 3, 4], -3.0, 3.0, DType::F64, &mut crate::rng(7));
        for axis in 0..3 {
            let s = x.softmax(axis);
            assert_eq!(s.shape(), &[2, 3, 4]);
            let ones = s.sum_axes(&[axis], false).to_vec_f64();
            assert!(ones.iter().all(|v| (v - 1.0).abs() < 1e-14), "{ones:?}");
        }
        // Softmax over axis 1 is softmax over the last axis of the transposed tensor.
        let moved = x.transpose(1, 2).softmax(2).transpose(1, 2);
        assert!(close(&x.softmax(1).to_vec_f64(), &moved.contiguous().to_vec_f64(), 1e-15));
        assert_eq!(x.logsumexp(1, false).shape(), &[2, 4]);
        assert_eq!(x.logsumexp(1, true).shape(), &[2, 1, 4]);
        let lse = x.logsumexp(2, true);
        assert!(close(&x.log_softmax(2).to_vec_f64(), &x.sub(&lse).to_vec_f64(), 1e-14));
    }

    #[test]
    fn bad_axis_is_an_error() {
        let x = Tensor::zeros(&[2, 3], DType::F32);
        let err = x.try_softmax(2).unwrap_err();
        assert_eq!((err.op, err.dim), ("softmax", Some(2)));
        assert!(err.to_string().contains("axis 2 is out of range"), "{err}");
        assert!(x.try_log_softmax(5).is_err());
        assert!(x.try_logsumexp(2, true).is_err());
        assert!(Tensor::scalar(1.0, DType::F32).try_softmax(0).is_err());
    }

    #[test]
    fn row_blocks_match_each_row_alone_and_f64() {
        // Rows of 65 (four 16-wide blocks and one more) over the parallel threshold, forward
        // and backward: each row equals the row computed alone (no block boundary changes a
        // bit), and the f64 computation to f32 accuracy.
        let x = crate::init::uniform(&[600, 65], -5.0, 5.0, DType::F32, &mut crate::rng(4));
        let g = crate::init::uniform(&[600, 65], -1.0, 1.0, DType::F32, &mut crate::rng(5));
        let (s, l) = (x.softmax(1), x.log_softmax(1));
        let (ds, dl) = (s.softmax_backward(&g, 1), l.log_softmax_backward(&g, 1));
        for r in (0..600).step_by(97) {
            let (xr, gr) = (x.narrow(0, r, 1).contiguous(), g.narrow(0, r, 1).contiguous());
            let (sr, lr) = (xr.softmax(1), xr.log_softmax(1));
            assert_eq!(s.narrow(0, r, 1).to_vec_f32(), sr.to_vec_f32());
            assert_eq!(l.narrow(0, r, 1).to_vec_f32(), lr.to_vec_f32());
            assert_eq!(ds.narrow(0, r, 1).to_vec_f32(), sr.softmax_backward(&gr, 1).to_vec_f32());
            assert_eq!(dl.narrow(0, r, 1).to_vec_f32(), lr.log_softmax_backward(&gr, 1).to_vec_f32());
        }
        let sums = s.sum_axes(&[1], false).to_vec_f64();
        assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-5), "{sums:?}");
        // A far larger value in a full 16-wide block, then in the remainder: the running maxima
        // must find it (else e^(x − m) overflows to ∞ and the result is NaN).
        for at in [5, 64] {
            let mut row = vec![0.0f32; 65];
            row[at] = 1000.0;
            let big = Tensor::from_vec(row, &[1, 65]);
            let (sb, lb) = (big.softmax(1).to_vec_f32(), big.log_softmax(1).to_vec_f32());
            assert_eq!((sb[at], lb[at], lb[0]), (1.0, 0.0, -1000.0), "1000 at {at}");
        }
        let (x64, g64) = (x.to_dtype(DType::F64), g.to_dtype(DType::F64));
        let (s64, l64) = (x64.softmax(1), x64.log_softmax(1));
        assert!(close(&s.to_vec_f64(), &s64.to_vec_f64(), 1e-6));
        assert!(close(&l.to_vec_f64(), &l64.to_vec_f64(), 1e-5));
        assert!(close(&ds.to_vec_f64(), &s64.softmax_backward(&g64, 1).to_vec_f64(), 1e-6));
        assert!(close(&dl.to_vec_f64(), &l64.log_softmax_backward(&g64, 1).to_vec_f64(), 1e-5));
    }

    #[test]
    fn parallel_path_matches_serial() {
        let rows = PARALLEL_THRESHOLD / 16 + 3;
        let x = crate::init::uniform(&[rows, 16], -5.0, 5.0, DType::F32, &mut crate::rng(3));
        let (s, l, lse) = (x.softmax(1), x.log_softmax(1), x.logsumexp(1, false));
        for r in (0..rows).step_by(331) {
            let row = x.narrow(0, r, 1);
            assert_eq!(s.narrow(0, r, 1).to_vec_f32(), row.softmax(1).to_vec_f32());
            assert_eq!(l.narrow(0, r, 1).to_vec_f32(), row.log_softmax(1).to_vec_f32());
            assert_eq!(lse.narrow(0, r, 1).to_vec_f32(), row.logsumexp(1, false).to_vec_f32());
        }
        let down = x.softmax(0).sum_axes(&[0], false).to_vec_f64();
        assert!(down.iter().all(|v| (v - 1.0).abs() < 1e-4), "{down:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn softmax_lanes_are_positive_and_sum_to_one(
            shape in prop::collection::vec(1usize..5, 1..4),
            axis_pick in any::<prop::sample::Index>(),
            scale in 0.1f64..30.0,
            seed in any::<u64>(),
        ) {
            let axis = axis_pick.index(shape.len());
            let x = crate::init::uniform(&shape, -scale, scale, DType::F64, &mut crate::rng(seed));
            let s = x.softmax(axis);
            prop_assert!(s.to_vec_f64().iter().all(|&v| v > 0.0 && v <= 1.0));
            let sums = s.sum_axes(&[axis], false).to_vec_f64();
            prop_assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-13), "{:?}", sums);
            // exp(log_softmax) = softmax, and logsumexp = ln Σ e^x where that cannot overflow.
            prop_assert!(close(&x.log_softmax(axis).exp().to_vec_f64(), &s.to_vec_f64(), 1e-14));
            let naive = x.exp().sum_axes(&[axis], false).ln();
            prop_assert!(close(&x.logsumexp(axis, false).to_vec_f64(), &naive.to_vec_f64(), 1e-12));
        }

        #[test]
        fn softmax_ignores_a_constant_shift(
            values in prop::collection::vec(-10.0f64..10.0, 1..8),
            c in -500.0f64..500.0,
        ) {
            let n = values.len();
            let x = Tensor::from_vec(values, &[1, n]);
            let shifted = x.add_scalar(c);
            prop_assert!(close(&shifted.softmax(1).to_vec_f64(), &x.softmax(1).to_vec_f64(), 1e-12));
            prop_assert!(close(&shifted.log_softmax(1).to_vec_f64(), &x.log_softmax(1).to_vec_f64(), 1e-10));
        }
    }
}
