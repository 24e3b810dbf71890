//! Reductions over axes: sum, mean, max, min, variance, argmax, and `sum_to` (the reverse of
//! broadcasting).
//!
//! `axes` lists the axes to reduce; with `keepdim` they stay as extent-1 axes, so the result
//! still broadcasts against the input (`x - x.mean_axes(&[1], true)` centres each row):
//!
//! | input | axes | keepdim | output |
//! |---|---|---|---|
//! | `[2, 3, 4]` | `[1]` | false | `[2, 4]` |
//! | `[2, 3, 4]` | `[1]` | true | `[2, 1, 4]` |
//! | `[2, 3, 4]` | `[0, 2]` | false | `[3]` |
//! | `[2, 3, 4]` | all | false | `[]` (a scalar) |

use ndarray::{ArcArray, ArrayD, Axis, IxDyn};

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::tensor::row_major_array;
use crate::tensor::{dispatch, Tensor};
use crate::vector_math::with_widest_vectors;

/// Checks that `axes` are distinct and in range for rank `ndim`; returns them sorted.
pub fn check_axes(op: &'static str, shape: &[usize], axes: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    for (i, &axis) in sorted.iter().enumerate() {
        if axis >= shape.len() {
            return Err(ShapeError::new(
                op,
                &[shape],
                Some(axis),
                format!("axis {axis} is out of range for a tensor of shape {shape:?} (rank {})", shape.len()),
            ));
        }
        if i > 0 && sorted[i - 1] == axis {
            return Err(ShapeError::new(op, &[shape], Some(axis), format!("axis {axis} is listed twice")));
        }
    }
    Ok(sorted)
}

/// Reduces `a` over `axes` (sorted, distinct) with `lane_fold`, which folds one lane into a value.
fn reduce<E: Element>(
    a: &ArcArray<E, IxDyn>,
    axes: &[usize],
    keepdim: bool,
    lane_fold: impl Fn(ndarray::ArrayView1<'_, E>) -> E + Copy,
) -> ArrayD<E> {
    if axes.is_empty() {
        return a.to_owned();
    }
    // Move the reduced axes last and view them as one axis; each row is then one lane.
    let kept: Vec<usize> = (0..a.ndim()).filter(|d| !axes.contains(d)).collect();
    let order: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let permuted = a.view().permuted_axes(IxDyn(&order));
    let kept_shape: Vec<usize> = kept.iter().map(|&d| a.shape()[d]).collect();
    let lane_len: usize = axes.iter().map(|&d| a.shape()[d]).product();
    let rows: usize = kept_shape.iter().product();
    let standard = permuted.as_standard_layout();
    let matrix = standard.to_shape((rows, lane_len)).expect("row-major reshape");
    let values: Vec<E> = matrix.outer_iter().map(lane_fold).collect();
    let out_shape: Vec<usize> = if keepdim {
        (0..a.ndim()).map(|d| if axes.contains(&d) { 1 } else { a.shape()[d] }).collect()
    } else {
        kept_shape
    };
    row_major_array(values, &out_shape)
}

fn sum_lane<E: Element>(lane: ndarray::ArrayView1<'_, E>) -> E {
    match lane.as_slice() {
        Some(xs) => sum_slice(xs),
        None => lane.iter().fold(E::zero(), |s, &x| s + x),
    }
}

/// `Σ xs`, in chunks of 256 whose sums are then added (which keeps the rounding error of long
/// `f32` sums small). Within a chunk, 16 running sums take every 16th element: one running
/// sum is a chain of dependent additions, 4 cycles each, while 16 independent ones fill the
/// vector lanes (a bias gradient's sum over a feature map went 4× faster). The order is fixed
/// by the length alone, so the result is the same run after run. Inlined, so that inside a
/// [`with_widest_vectors`](crate::vector_math::with_widest_vectors) caller it uses the widest
/// vectors too.
#[inline(always)]
pub(crate) fn sum_slice<E: Element>(xs: &[E]) -> E {
    const LANES: usize = 16;
    let mut total = E::zero();
    for chunk in xs.chunks(256) {
        let mut lanes = [E::zero(); LANES];
        let blocks = chunk.chunks_exact(LANES);
        let rest = blocks.remainder();
        for block in blocks {
            for l in 0..LANES {
                lanes[l] = lanes[l] + block[l];
            }
        }
        let mut sum = rest.iter().fold(E::zero(), |s, &x| s + x);
        for lane in lanes {
            sum = sum + lane;
        }
        total = total + sum;
    }
    total
}

/// The sum of a row-major array over `axes` (sorted, distinct, not empty), reading the input
/// once in memory order instead of gathering each lane: the fast path of [`Tensor::sum_axes`].
///
/// Neighbouring axes that are both reduced or both kept act as one, so the shape becomes
/// alternating *blocks*; for `x` of shape `[N, C, H, W]` summed over `[0, 2, 3]` (BatchNorm's
/// statistics) they are `N` reduced, `C` kept, `H·W` reduced:
///
/// ```text
/// for n in 0..N { for c in 0..C { out[c] += Σ x[n, c, ..] } }      (innermost: one contiguous lane)
/// ```
///
/// and a bias gradient, `[B, F]` over `[0]`, is `for b in 0..B { out[..] += x[b, ..] }`, a vector
/// add that the compiler vectorises. Large inputs are split into pieces of whole rows of the
/// first block, summed on rayon's threads and then added in piece order; pieces depend only on
/// the shape, so the result is the same on any number of threads.
pub(crate) fn sum_row_major<E: Element>(xs: &[E], shape: &[usize], axes: &[usize], keepdim: bool) -> ArrayD<E> {
    use rayon::prelude::*;

    let mut blocks: Vec<Block> = Vec::new();
    for (d, &len) in shape.iter().enumerate().filter(|&(_, &len)| len != 1) {
        let reduced = axes.contains(&d);
        match blocks.last_mut() {
            Some(last) if last.reduced == reduced => last.len *= len,
            _ => blocks.push(Block { len, reduced }),
        }
    }
    let out_len: usize = blocks.iter().filter(|b| !b.reduced).map(|b| b.len).product();
    let out_shape: Vec<usize> = if keepdim {
        shape.iter().enumerate().map(|(d, &len)| if axes.contains(&d) { 1 } else { len }).collect()
    } else {
        shape.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &len)| len).collect()
    };
    let mut out = vec![E::zero(); out_len];
    match blocks.first() {
        // Empty input, or every axis of extent 1.
        _ if xs.is_empty() || blocks.is_empty() => {
            if !xs.is_empty() {
                out.copy_from_slice(xs);
            }
        }
        Some(first) if first.reduced && blocks.len() > 1 && xs.len() <= PIECE => {
            // Small enough to be one piece: its rows are summed straight into the output.
            let row = xs.len() / first.len;
            xs.chunks(row).for_each(|r| accumulate(r, &blocks[1..], &mut out));
        }
        Some(first) if first.reduced && blocks.len() > 1 => {
            // Pieces of whole rows of the reduced first block, each summed into its own partial.
            let row = xs.len() / first.len;
            let rows_per_piece = (PIECE / row).max(1);
            let partial = |piece: &[E]| {
                let mut acc = vec![E::zero(); out_len];
                for r in piece.chunks(row) {
                    accumulate(r, &blocks[1..], &mut acc);
                }
                acc
            };
            let partials: Vec<Vec<E>> = if xs.len() >= crate::parallel::PARALLEL_THRESHOLD_CHEAP / 2 {
                xs.par_chunks(rows_per_piece * row).map(partial).collect()
            } else {
                xs.chunks(rows_per_piece * row).map(partial).collect()
            };
            for p in partials {
                out.iter_mut().zip(p).for_each(|(o, p)| *o = *o + p);
            }
        }
        Some(first) if !first.reduced && xs.len() >= crate::parallel::PARALLEL_THRESHOLD_CHEAP / 2 => {
            // Rows of a kept first block write disjoint parts of the output.
            let (row, out_row) = (xs.len() / first.len, out_len / first.len);
            out.par_chunks_mut(out_row).zip(xs.par_chunks(row)).for_each(|(o, r)| accumulate(r, &blocks[1..], o));
        }
        _ => accumulate(xs, &blocks, &mut out),
    }
    row_major_array(out, &out_shape)
}

/// The column sums of a row-major `[rows, cols]` matrix, `out[j] = Σᵢ xs[i, j]` (a bias
/// gradient): [`sum_row_major`] over axis 0 without its general bookkeeping, which costs more
/// than the additions on the small gradients of a tiny network. Up to one [`PIECE`] it adds
/// the rows in order as `sum_row_major` does, so the two give the same bits; above, it is
/// `sum_row_major` (pieces, on rayon's threads from 2^18 elements). A single column is one
/// whole sum, added in `sum_row_major`'s order. On the `[32, 16]` bias gradient of the tiny MLP
/// workload (W6) the general path took about 250 ns, most of it bookkeeping.
pub(crate) fn column_sums<E: Element>(xs: &[E], cols: usize) -> Vec<E> {
    if cols == 0 {
        return Vec::new();
    }
    if cols == 1 && xs.len() > 1 {
        // One column is a sum of everything: `sum_row_major`'s whole-sum order, without its
        // bookkeeping (the regression head's `[32, 1]` bias gradient).
        return vec![E::zero() + sum_slice(xs)];
    }
    if xs.len() > PIECE || cols == 1 {
        return sum_row_major(xs, &[xs.len() / cols, cols], &[0], false).into_raw_vec_and_offset().0;
    }
    // Each column still summed row after row (the same bits), the columns side by side in
    // vector lanes.
    let mut sums = vec![E::zero(); cols];
    with_widest_vectors(
        #[inline(always)]
        || {
            for row in xs.chunks_exact(cols) {
                sums.iter_mut().zip(row).for_each(
                    #[inline(always)]
                    |(s, &x)| *s = *s + x,
                );
            }
        },
    );
    sums
}

/// Elements per piece that [`sum_row_major`] sums on its own before adding the pieces.
const PIECE: usize = 1 << 16;

/// A run of neighbouring axes that are all reduced or all kept, seen as one axis of `len`.
struct Block {
    len: usize,
    reduced: bool,
}

/// Adds the sums of `xs` (row-major, shaped by `blocks`) into `out` (shaped by the kept blocks).
fn accumulate<E: Element>(xs: &[E], blocks: &[Block], out: &mut [E]) {
    let Some((first, rest)) = blocks.split_first() else {
        // No axis left: one element.
        out[0] = out[0] + xs[0];
        return;
    };
    if rest.is_empty() {
        if first.reduced {
            out[0] = out[0] + sum_lane(ndarray::ArrayView1::from(xs));
        } else {
            out.iter_mut().zip(xs).for_each(|(o, &x)| *o = *o + x);
        }
        return;
    }
    let row = xs.len() / first.len;
    if first.reduced {
        for r in xs.chunks(row) {
            accumulate(r, rest, out);
        }
    } else {
        let out_row = out.len() / first.len;
        for (r, o) in xs.chunks(row).zip(out.chunks_mut(out_row)) {
            accumulate(r, rest, o);
        }
    }
}

fn max_lane<E: Element>(lane: ndarray::ArrayView1<'_, E>) -> E {
    lane.iter().fold(E::neg_infinity(), |m, &x| crate::scalar::maximum(x, m))
}

fn min_lane<E: Element>(lane: ndarray::ArrayView1<'_, E>) -> E {
    lane.iter().fold(E::infinity(), |m, &x| crate::scalar::minimum(x, m))
}

impl Tensor {
    /// Sum over `axes`; see the [module docs](self) for shapes.
    pub fn try_sum_axes(&self, axes: &[usize], keepdim: bool) -> Result<Tensor, ShapeError> {
        let axes = check_axes("sum", self.shape(), axes)?;
        Ok(dispatch!(self, a => Tensor::from_array(match a.as_slice() {
            Some(xs) if !axes.is_empty() => sum_row_major(xs, a.shape(), &axes, keepdim),
            _ => reduce(a, &axes, keepdim, sum_lane),
        })))
    }

    /// Sum over `axes`; panics at the caller's line on a bad axis.
    #[track_caller]
    pub fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Tensor {
        or_panic(self.try_sum_axes(axes, keepdim))
    }

    /// Sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Tensor {
        let all: Vec<usize> = (0..self.ndim()).collect();
        self.sum_axes(&all, false)
    }

    /// Mean over `axes`.
    #[track_caller]
    pub fn mean_axes(&self, axes: &[usize], keepdim: bool) -> Tensor {
        let count: usize = axes.iter().map(|&d| self.shape().get(d).copied().unwrap_or(1)).product();
        self.sum_axes(axes, keepdim).mul_scalar(1.0 / count as f64)
    }

    /// Mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Tensor {
        self.sum_all().mul_scalar(1.0 / self.len() as f64)
    }

    /// Maximum over `axes` (NaN propagates).
    pub fn try_max_axes(&self, axes: &[usize], keepdim: bool) -> Result<Tensor, ShapeError> {
        let axes = check_axes("max", self.shape(), axes)?;
        Ok(dispatch!(self, a => Tensor::from_array(reduce(a, &axes, keepdim, max_lane))))
    }

    /// Maximum over `axes`; panics at the caller's line on a bad axis.
    #[track_caller]
    pub fn max_axes(&self, axes: &[usize], keepdim: bool) -> Tensor {
        or_panic(self.try_max_axes(axes, keepdim))
    }

    /// Minimum over `axes`; panics at the caller's line on a bad axis.
    #[track_caller]
    pub fn min_axes(&self, axes: &[usize], keepdim: bool) -> Tensor {
        let axes = or_panic(check_axes("min", self.shape(), axes));
        dispatch!(self, a => Tensor::from_array(reduce(a, &axes, keepdim, min_lane)))
    }

    /// Largest element of the whole tensor.
    pub fn max_all(&self) -> f64 {
        let all: Vec<usize> = (0..self.ndim()).collect();
        self.max_axes(&all, false).to_scalar()
    }

    /// Smallest element of the whole tensor.
    pub fn min_all(&self) -> f64 {
        let all: Vec<usize> = (0..self.ndim()).collect();
        self.min_axes(&all, false).to_scalar()
    }

    /// Variance over `axes`: `Σ(x − mean)² / (n − correction)`. `correction = 0` is the
    /// population variance (what BatchNorm uses), `1` the unbiased sample variance.
    #[track_caller]
    pub fn var_axes(&self, axes: &[usize], keepdim: bool, correction: usize) -> Tensor {
        let n: usize = axes.iter().map(|&d| self.shape().get(d).copied().unwrap_or(1)).product();
        let centred = self.sub(&self.mean_axes(axes, true));
        centred.square().sum_axes(axes, keepdim).mul_scalar(1.0 / (n as f64 - correction as f64))
    }

    /// Index of the largest element along `axis` (the first one on ties).
    ///
    /// `[batch, classes].argmax(1, false)` gives the predicted class of each row.
    #[track_caller]
    pub fn argmax(&self, axis: usize, keepdim: bool) -> ArrayD<usize> {
        or_panic(check_axes("argmax", self.shape(), &[axis]));
        dispatch!(self, a => {
            let out = a.map_axis(Axis(axis), |lane| {
                let mut best = 0;
                for (i, &x) in lane.iter().enumerate() {
                    if x > lane[best] || (x.is_nan() && !lane[best].is_nan()) {
                        best = i;
                    }
                }
                best
            });
            if keepdim { out.insert_axis(Axis(axis)) } else { out }
        })
    }

    /// Index of the smallest element along `axis` (the first one on ties).
    #[track_caller]
    pub fn argmin(&self, axis: usize, keepdim: bool) -> ArrayD<usize> {
        self.neg().argmax(axis, keepdim)
    }

    /// Sums this tensor down to `shape`, undoing a broadcast from `shape` to `self.shape()`.
    ///
    /// This is the backward of broadcasting: a gradient of shape `[4, 3]` flowing to an operand
    /// that was broadcast from `[3]` is summed over axis 0.
    pub fn try_sum_to(&self, shape: &[usize]) -> Result<Tensor, ShapeError> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let from = self.shape();
        let target = crate::binary::broadcast_shapes("sum_to", shape, from)?;
        if target != from {
            return Err(ShapeError::new(
                "sum_to",
                &[from, shape],
                None,
                format!("{from:?} is not a broadcast of {shape:?}"),
            ));
        }
        let lead = from.len() - shape.len();
        let axes: Vec<usize> =
            (0..from.len()).filter(|&d| d < lead || (shape[d - lead] == 1 && from[d] != 1)).collect();
        let summed = self.sum_axes(&axes, true);
        summed.try_reshape(shape)
    }

    /// [`try_sum_to`](Self::try_sum_to), panicking at the caller's line.
    #[track_caller]
    pub fn sum_to(&self, shape: &[usize]) -> Tensor {
        or_panic(self.try_sum_to(shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t234() -> Tensor {
        Tensor::arange(0.0, 24.0, 1.0, crate::DType::F64).reshape(&[2, 3, 4])
    }

    #[test]
    fn sums_over_axes() {
        let x = t234();
        assert_eq!(x.sum_axes(&[1], false).shape(), &[2, 4]);
        assert_eq!(x.sum_axes(&[1], true).shape(), &[2, 1, 4]);
        assert_eq!(x.sum_axes(&[0, 2], false).to_vec_f64(), vec![60.0, 92.0, 124.0]);
        assert_eq!(x.sum_all().to_scalar(), 276.0);
        assert_eq!(x.mean_all().to_scalar(), 11.5);
        assert_eq!(x.max_axes(&[2], false).to_vec_f64(), vec![3.0, 7.0, 11.0, 15.0, 19.0, 23.0]);
    }

    #[test]
    fn variance_and_argmax() {
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 9.0, 0.0], &[2, 3]);
        assert!((x.var_axes(&[1], false, 0).to_vec_f64()[0] - 2.0 / 3.0).abs() < 1e-15);
        assert!((x.var_axes(&[1], false, 1).to_vec_f64()[0] - 1.0).abs() < 1e-15);
        assert_eq!(x.argmax(1, false).into_raw_vec_and_offset().0, vec![2, 1]);
        assert_eq!(x.argmin(0, false).into_raw_vec_and_offset().0, vec![0, 0, 1]);
    }

    #[test]
    fn sum_to_undoes_broadcast() {
        let g = Tensor::ones(&[2, 3, 4], crate::DType::F64);
        assert_eq!(g.sum_to(&[3, 1]).to_vec_f64(), vec![8.0, 8.0, 8.0]);
        assert_eq!(g.sum_to(&[]).to_scalar(), 24.0);
        assert!(g.try_sum_to(&[5]).is_err());
    }

    #[test]
    fn bad_axis_is_an_error() {
        let err = t234().try_sum_axes(&[3], false).unwrap_err();
        assert!(err.to_string().contains("axis 3 is out of range"), "{err}");
    }

    use proptest::prelude::*;

    /// A shape of rank 1–4 with extents 0–5 (1 and 0 included on purpose), a subset of its
    /// axes, and values.
    fn sum_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<f64>, bool)> {
        prop::collection::vec(0usize..6, 1..5)
            .prop_flat_map(|shape| {
                let n: usize = shape.iter().product();
                let rank = shape.len();
                (
                    Just(shape),
                    prop::collection::vec(any::<bool>(), rank),
                    prop::collection::vec(-4i32..5, n),
                    any::<bool>(),
                )
            })
            .prop_map(|(shape, pick, values, keepdim)| {
                let axes = (0..shape.len()).filter(|&d| pick[d]).collect();
                (shape, axes, values.into_iter().map(f64::from).collect(), keepdim)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The row-major fast path against the lane-gathering one (small integers, so both
        /// sums are exact whatever the order).
        #[test]
        fn row_major_sum_equals_lane_sum((shape, axes, values, keepdim) in sum_case()) {
            let x = Tensor::from_vec(values, &shape);
            let fast = x.sum_axes(&axes, keepdim);
            let a = x.as_array::<f64>().unwrap();
            let slow = if axes.is_empty() { a.to_owned() } else { reduce(a, &axes, keepdim, sum_lane) };
            prop_assert_eq!(fast.shape(), slow.shape());
            prop_assert_eq!(fast.to_vec_f64(), slow.iter().copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn large_row_major_sums_split_into_pieces_and_stay_exact() {
        // Enough elements for the parallel pieces, in both the reduced-first and kept-first forms.
        let (n, c, hw) = (64, 16, 1024);
        let values: Vec<f64> = (0..n * c * hw).map(|i| (i % 7) as f64).collect();
        let x = Tensor::from_vec(values, &[n, c, hw]);
        let a = x.as_array::<f64>().unwrap();
        for axes in [vec![0, 2], vec![0], vec![1], vec![2], vec![0, 1]] {
            let slow = reduce(a, &axes, false, sum_lane);
            assert_eq!(x.sum_axes(&axes, false).to_vec_f64(), slow.iter().copied().collect::<Vec<_>>(), "{axes:?}");
        }
    }

    #[test]
    fn column_sums_are_the_bits_of_sum_row_major() {
        // One piece (summed here), several (handed to sum_row_major), one column (summed here
        // at any length), one element, and no rows.
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        for (rows, cols) in [(32, 16), (32, 1), (1, 1), (0, 1), (100_000, 1), (7, 37), (0, 3), (3000, 40)] {
            let x = crate::init::uniform(&[rows, cols], -1.0, 1.0, crate::DType::F32, &mut crate::rng(7));
            let xs = x.to_vec_f32();
            let general = sum_row_major(&xs, &[rows, cols], &[0], false).into_raw_vec_and_offset().0;
            assert_eq!(bits(column_sums(&xs, cols)), bits(general), "[{rows}, {cols}]");
        }
        // A lone −0 stays −0, as in sum_row_major (0 + (−0) would be +0).
        assert_eq!(bits(column_sums(&[-0.0f32], 1)), bits(vec![-0.0]));
        assert!(column_sums::<f32>(&[], 0).is_empty());
    }
}
