//! Picking elements by index, the kernels that put them back, and selecting by a condition.
//!
//! | call | rule | shapes |
//! |---|---|---|
//! | `x.index_select(axis, idx)` | `out[.., k, ..] = x[.., idx[k], ..]` | `[a, n, b]` → `[a, idx.len(), b]` |
//! | `g.index_add(axis, idx, n)` | `out[.., idx[k], ..] += g[.., k, ..]` | `[a, idx.len(), b]` → `[a, n, b]` |
//! | `x.gather(1, &index)` | `out[i][j][k] = x[i][index[i][j][k]][k]` | `x: [a, n, b]`, `index: [a', m, b']` → `[a', m, b']` |
//! | `g.scatter_add(1, &index, shape)` | `out[i][index[i][j][k]][k] += g[i][j][k]` | `g` and `index`: `[a', m, b']` → `shape` |
//! | `Tensor::where_cond(c, a, b)` | `a` where `c ≠ 0`, else `b` | `c`, `a`, `b` broadcast together |
//! | `x.masked_fill(mask, v)` | `v` where `mask ≠ 0`, else `x` | `mask` broadcasts to `x`'s shape |
//! | `Tensor::one_hot(labels, n, dtype)` | `out[i][labels[i]] = 1`, else 0 | `[labels.len(), n]` |
//!
//! `gather` follows PyTorch: `index` has the rank of `x`, is at most as large as `x` on every
//! axis but `axis`, and the output has `index`'s shape.
//!
//! The adding kernels are the exact adjoints of the picking ones: with `⟨u, v⟩ = Σ u·v`, for
//! every `x` and `g`
//!
//! ```text
//! ⟨x.index_select(axis, idx), g⟩ = ⟨x, g.index_add(axis, idx, x.shape()[axis])⟩
//! ⟨x.gather(axis, index), g⟩     = ⟨x, g.scatter_add(axis, index, x.shape())⟩
//! ```
//!
//! so the autograd crate uses them as backward kernels. An index that is picked twice receives
//! both gradients, which is why they add rather than write.
//!
//! ```
//! use nabla_tensor::{DType, Tensor};
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
//! assert_eq!(x.index_select(0, &[2, 0, 2]).to_vec_f32(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
//! let y = Tensor::one_hot(&[1, 0], 3, DType::F32);
//! assert_eq!(y.to_vec_f32(), vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
//! ```

use ndarray::{ArcArray, ArrayD, ArrayView1, ArrayViewMut1, Axis, AxisDescription, Dimension, IxDyn, Slice, Zip};
use num_traits::Zero;

use crate::binary::broadcast_shapes;
use crate::dtype::{DType, Element};
use crate::error::{or_panic, ShapeError};
use crate::parallel::PARALLEL_THRESHOLD;
use crate::reduce::check_axes;
use crate::tensor::row_major_array;
use crate::tensor::{dispatch, dispatch2, Tensor};

/// The first entry of `indices` that is not below `extent`, with its position.
fn first_out_of_range(indices: &[usize], extent: usize) -> Option<(usize, usize)> {
    indices.iter().copied().enumerate().find(|&(_, i)| i >= extent)
}

/// Checks an `index` array for `gather` / `scatter_add` against the shape `data` it points
/// into: same rank, `axis` in range, no larger than `data` off `axis`, values below the extent.
fn check_index(op: &'static str, data: &[usize], axis: usize, index: &ArrayD<usize>) -> Result<(), ShapeError> {
    let ishape = index.shape();
    check_axes(op, data, &[axis])?;
    if ishape.len() != data.len() {
        return Err(ShapeError::new(
            op,
            &[data, ishape],
            None,
            format!(
                "index has shape {ishape:?} (rank {}) but the data has shape {data:?} (rank {}); they need the same rank",
                ishape.len(),
                data.len()
            ),
        ));
    }
    if let Some(d) = (0..data.len()).find(|&d| d != axis && ishape[d] > data[d]) {
        return Err(ShapeError::new(
            op,
            &[data, ishape],
            Some(d),
            format!(
                "index of shape {ishape:?} is larger than the data {data:?} at dimension {d}: {} vs {} \
                 (off axis {axis} the index may be at most as large)",
                ishape[d], data[d]
            ),
        ));
    }
    let extent = data[axis];
    // A plain scan first; the position (slow to track on a dynamic-rank array: it was most of a
    // cross-entropy's gather) is looked up only for the error message.
    if !index.iter().any(|&v| v >= extent) {
        return Ok(());
    }
    if let Some((position, &value)) = index.indexed_iter().find(|(_, &v)| v >= extent) {
        return Err(ShapeError::new(
            op,
            &[data, ishape],
            Some(axis),
            format!(
                "index value {value} at position {:?} is out of range for axis {axis} of extent {extent} in {data:?}",
                position.slice()
            ),
        ));
    }
    Ok(())
}

/// The slicing that cuts an array down to `extents` on every axis but `axis`, which it keeps
/// whole: `gather` and `scatter_add` read or write only that corner.
fn all_but_axis_up_to(axis: usize, extents: &[usize]) -> impl Fn(AxisDescription) -> Slice + '_ {
    move |d| {
        let d = d.axis.index();
        if d == axis {
            Slice::from(..)
        } else {
            Slice::from(..extents[d])
        }
    }
}

/// `out[p] = a[p with p[axis] replaced by index[p]]`, over the positions `p` of `index`.
///
/// Works lane by lane along `axis`: each lane of the output picks from the matching lane of
/// `a` (cut down to `index`'s extents off the axis) at the positions in the lane of `index`.
fn gather_kernel<E: Element>(a: &ArcArray<E, IxDyn>, axis: usize, index: &ArrayD<usize>) -> ArrayD<E> {
    let source = a.slice_each_axis(all_but_axis_up_to(axis, index.shape()));
    let mut out = ArrayD::zeros(index.raw_dim());
    let zip = Zip::from(out.lanes_mut(Axis(axis))).and(index.lanes(Axis(axis))).and(source.lanes(Axis(axis)));
    let pick = |mut out: ArrayViewMut1<'_, E>, index: ArrayView1<'_, usize>, source: ArrayView1<'_, E>| {
        out.zip_mut_with(&index, |o, &i| *o = source[i]);
    };
    if index.len() >= PARALLEL_THRESHOLD {
        zip.par_for_each(pick);
    } else {
        zip.for_each(pick);
    }
    out
}

/// Zeros of `shape` plus `g[p]` at `p with p[axis] replaced by index[p]`, for every `p`.
///
/// Lane by lane along `axis`, like [`gather_kernel`]; the lanes of the output are disjoint, so
/// they may be filled on several threads.
fn scatter_add_kernel<E: Element>(
    g: &ArcArray<E, IxDyn>,
    axis: usize,
    index: &ArrayD<usize>,
    shape: &[usize],
) -> ArrayD<E> {
    let mut out = ArrayD::zeros(IxDyn(shape));
    let mut target = out.slice_each_axis_mut(all_but_axis_up_to(axis, index.shape()));
    let zip = Zip::from(target.lanes_mut(Axis(axis))).and(index.lanes(Axis(axis))).and(g.lanes(Axis(axis)));
    let add = |mut target: ArrayViewMut1<'_, E>, index: ArrayView1<'_, usize>, g: ArrayView1<'_, E>| {
        for (&i, &value) in index.iter().zip(&g) {
            target[i] = target[i] + value;
        }
    };
    if index.len() >= PARALLEL_THRESHOLD {
        zip.par_for_each(add);
    } else {
        zip.for_each(add);
    }
    out
}

/// Slice `indices[k]` of `a` along `axis` as slice `k` of the result. Along axis 0 of a
/// row-major array (an embedding table) each slice is one contiguous row, copied whole;
/// ndarray's general `select` stepped through the dynamic-rank elements one by one (W5's
/// lookup of 2048 rows of 128 took 0.48 ms).
fn select_kernel<E: Element>(a: &ArcArray<E, IxDyn>, axis: usize, indices: &[usize]) -> ArrayD<E> {
    if let (0, Some(xs)) = (axis, a.as_slice()) {
        let row: usize = a.shape()[1..].iter().product();
        let mut values = Vec::with_capacity(indices.len() * row);
        for &i in indices {
            values.extend_from_slice(&xs[i * row..(i + 1) * row]);
        }
        let mut shape = a.shape().to_vec();
        shape[0] = indices.len();
        return row_major_array(values, &shape);
    }
    a.select(Axis(axis), indices)
}

/// Zeros with `extent` along `axis`, plus slice `k` of `source` added at `indices[k]`.
fn index_add_kernel<E: Element>(
    source: &ArcArray<E, IxDyn>,
    axis: usize,
    indices: &[usize],
    extent: usize,
) -> ArrayD<E> {
    let mut shape = source.shape().to_vec();
    shape[axis] = extent;
    let mut out = ArrayD::zeros(IxDyn(&shape));
    if let (0, Some(src)) = (axis, source.as_slice()) {
        // Along axis 0 of row-major arrays (an embedding's gradient): one contiguous row added
        // onto another, as [`select_kernel`] copies them.
        let row: usize = shape[1..].iter().product();
        let dst = out.as_slice_mut().expect("a new array is row-major");
        for (k, &i) in indices.iter().enumerate() {
            let (d, s) = (&mut dst[i * row..(i + 1) * row], &src[k * row..(k + 1) * row]);
            for (d, &s) in d.iter_mut().zip(s) {
                *d = *d + s;
            }
        }
        return out;
    }
    for (k, &i) in indices.iter().enumerate() {
        let mut target = out.index_axis_mut(Axis(axis), i);
        target.zip_mut_with(&source.index_axis(Axis(axis), k), |o, &s| *o = *o + s);
    }
    out
}

/// True where `t` is nonzero (NaN counts as nonzero).
fn nonzero(t: &Tensor) -> ArrayD<bool> {
    dispatch!(t, a => a.map(|v| !v.is_zero()))
}

/// `a` where `cond`, else `b`, all three broadcast to `shape` (already checked).
fn where_kernel<E: Element>(
    cond: &ArrayD<bool>,
    a: &ArcArray<E, IxDyn>,
    b: &ArcArray<E, IxDyn>,
    shape: &[usize],
) -> ArrayD<E> {
    let shape = IxDyn(shape);
    let c = cond.broadcast(shape.clone()).expect("shapes checked");
    let x = a.broadcast(shape.clone()).expect("shapes checked");
    let y = b.broadcast(shape).expect("shapes checked");
    let zip = Zip::from(&c).and(&x).and(&y);
    let choose = |&c: &bool, &x: &E, &y: &E| if c { x } else { y };
    if c.len() >= PARALLEL_THRESHOLD {
        zip.par_map_collect(choose)
    } else {
        zip.map_collect(choose)
    }
}

impl Tensor {
    /// The slices at `indices` along `axis`, in that order (a copy); indices may repeat.
    ///
    /// `out[.., k, ..] = self[.., indices[k], ..]`: `[a, n, b]` → `[a, indices.len(), b]`.
    /// Its adjoint is [`index_add`](Self::index_add).
    ///
    /// The error names the first index that is not below the extent of `axis`.
    pub fn try_index_select(&self, axis: usize, indices: &[usize]) -> Result<Tensor, ShapeError> {
        let shape = self.shape();
        check_axes("index_select", shape, &[axis])?;
        if let Some((position, value)) = first_out_of_range(indices, shape[axis]) {
            return Err(ShapeError::new(
                "index_select",
                &[shape],
                Some(axis),
                format!(
                    "index {value} (position {position} in the list) is out of range for axis {axis} of extent {} in {shape:?}",
                    shape[axis]
                ),
            ));
        }
        Ok(dispatch!(self, a => Tensor::from_array(select_kernel(a, axis, indices))))
    }

    /// [`try_index_select`](Self::try_index_select), panicking at the caller's line.
    #[track_caller]
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Tensor {
        or_panic(self.try_index_select(axis, indices))
    }

    /// The adjoint of [`index_select`](Self::index_select): zeros with extent `extent` along
    /// `axis`, with slice `k` of `self` added at position `indices[k]` (repeats accumulate).
    ///
    /// `out[.., indices[k], ..] += self[.., k, ..]`: `[a, indices.len(), b]` → `[a, extent, b]`.
    ///
    /// Errors when `axis` is out of range, when `self` does not have `indices.len()` slices
    /// along `axis`, or when an index is not below `extent`.
    pub fn try_index_add(&self, axis: usize, indices: &[usize], extent: usize) -> Result<Tensor, ShapeError> {
        let shape = self.shape();
        check_axes("index_add", shape, &[axis])?;
        if shape[axis] != indices.len() {
            return Err(ShapeError::new(
                "index_add",
                &[shape],
                Some(axis),
                format!(
                    "the source {shape:?} has {} slices along axis {axis} but {} indices were given (one per slice)",
                    shape[axis],
                    indices.len()
                ),
            ));
        }
        if let Some((position, value)) = first_out_of_range(indices, extent) {
            return Err(ShapeError::new(
                "index_add",
                &[shape],
                Some(axis),
                format!("index {value} (position {position} in the list) is out of range for the target extent {extent} along axis {axis} [source {shape:?}]"),
            ));
        }
        Ok(dispatch!(self, a => Tensor::from_array(index_add_kernel(a, axis, indices, extent))))
    }

    /// [`try_index_add`](Self::try_index_add), panicking at the caller's line.
    #[track_caller]
    pub fn index_add(&self, axis: usize, indices: &[usize], extent: usize) -> Tensor {
        or_panic(self.try_index_add(axis, indices, extent))
    }

    /// Picks one element along `axis` for every position of `index` (PyTorch's `gather`).
    ///
    /// For `axis = 1` of a rank-3 tensor: `out[i][j][k] = self[i][index[i][j][k]][k]`. `index`
    /// has the rank of `self` and is at most as large on every other axis; the output has
    /// `index`'s shape. `logits.gather(1, &labels)` with `labels: [batch, 1]` picks each row's
    /// score of its true class. Its adjoint is [`scatter_add`](Self::scatter_add).
    ///
    /// The error names the first index value out of range, its position and the extent.
    pub fn try_gather(&self, axis: usize, index: &ArrayD<usize>) -> Result<Tensor, ShapeError> {
        check_index("gather", self.shape(), axis, index)?;
        Ok(dispatch!(self, a => Tensor::from_array(gather_kernel(a, axis, index))))
    }

    /// [`try_gather`](Self::try_gather), panicking at the caller's line.
    #[track_caller]
    pub fn gather(&self, axis: usize, index: &ArrayD<usize>) -> Tensor {
        or_panic(self.try_gather(axis, index))
    }

    /// The adjoint of [`gather`](Self::gather): zeros of `shape`, with each element of `self`
    /// added where `index` points (repeats accumulate).
    ///
    /// For `axis = 1` of a rank-3 tensor: `out[i][index[i][j][k]][k] += self[i][j][k]`.
    /// `self` must have `index`'s shape, and `index` must fit `shape` as it would for
    /// `gather` from a tensor of `shape`.
    pub fn try_scatter_add(&self, axis: usize, index: &ArrayD<usize>, shape: &[usize]) -> Result<Tensor, ShapeError> {
        if self.shape() != index.shape() {
            return Err(ShapeError::new(
                "scatter_add",
                &[self.shape(), index.shape()],
                None,
                format!(
                    "the source has shape {:?} but the index has shape {:?}; they must be equal",
                    self.shape(),
                    index.shape()
                ),
            ));
        }
        check_index("scatter_add", shape, axis, index)?;
        Ok(dispatch!(self, a => Tensor::from_array(scatter_add_kernel(a, axis, index, shape))))
    }

    /// [`try_scatter_add`](Self::try_scatter_add), panicking at the caller's line.
    #[track_caller]
    pub fn scatter_add(&self, axis: usize, index: &ArrayD<usize>, shape: &[usize]) -> Tensor {
        or_panic(self.try_scatter_add(axis, index, shape))
    }

    /// `a` where `cond` is nonzero, else `b`, elementwise; the three broadcast together.
    ///
    /// `out[i] = if cond[i] ≠ 0 { a[i] } else { b[i] }`. `cond` may have either dtype (the
    /// 0/1 result of a comparison such as [`gt`](Self::gt) is typical; NaN counts as true);
    /// the output has the dtype of `a` and `b`.
    ///
    /// | `cond` | `a` | `b` | output |
    /// |---|---|---|---|
    /// | `[4, 3]` | `[4, 3]` | `[4, 3]` | `[4, 3]` |
    /// | `[4, 1]` | `[3]` | `[]` | `[4, 3]` |
    ///
    /// # Panics
    /// If `a` and `b` have different dtypes.
    #[track_caller]
    pub fn try_where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor, ShapeError> {
        let (cs, as_, bs) = (cond.shape(), a.shape(), b.shape());
        let shape = broadcast_shapes("where_cond", as_, bs)
            .and_then(|ab| broadcast_shapes("where_cond", cs, &ab))
            .map_err(|e| {
                ShapeError::new(
                    "where_cond",
                    &[cs, as_, bs],
                    e.dim,
                    format!("cond {cs:?}, a {as_:?} and b {bs:?} do not broadcast together ({})", e.reason),
                )
            })?;
        let mask = nonzero(cond);
        Ok(dispatch2!("where_cond", a, b, x, y => Tensor::from_array(where_kernel(&mask, x, y, &shape))))
    }

    /// [`try_where_cond`](Self::try_where_cond), panicking at the caller's line.
    #[track_caller]
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        or_panic(Tensor::try_where_cond(cond, a, b))
    }

    /// `value` where `mask` is nonzero, else `self`; `mask` must broadcast to `self`'s shape.
    ///
    /// `out[i] = if mask[i] ≠ 0 { value } else { self[i] }`, the same shape and dtype as
    /// `self`. Attention uses it to put `−∞` on the scores of positions that may not be seen.
    pub fn try_masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor, ShapeError> {
        let shape = self.shape();
        let fits = broadcast_shapes("masked_fill", mask.shape(), shape).is_ok_and(|s| s == shape);
        if !fits {
            return Err(ShapeError::new(
                "masked_fill",
                &[shape, mask.shape()],
                None,
                format!("the mask {:?} cannot be broadcast to the tensor's shape {shape:?}", mask.shape()),
            ));
        }
        Tensor::try_where_cond(mask, &Tensor::scalar(value, self.dtype()), self)
    }

    /// [`try_masked_fill`](Self::try_masked_fill), panicking at the caller's line.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Tensor {
        or_panic(self.try_masked_fill(mask, value))
    }

    /// One row per label, 1 in the label's column and 0 elsewhere: `[labels.len(), classes]`.
    ///
    /// `out[i][c] = 1 if c = labels[i] else 0`. The error names the first label that is not
    /// below `classes`, and its position.
    pub fn try_one_hot(labels: &[usize], classes: usize, dtype: DType) -> Result<Tensor, ShapeError> {
        if let Some((position, label)) = first_out_of_range(labels, classes) {
            return Err(ShapeError::new(
                "one_hot",
                &[&[labels.len()]],
                None,
                format!("label {label} at position {position} is out of range for {classes} classes (labels must be below {classes})"),
            ));
        }
        let mut values = vec![0.0; labels.len() * classes];
        for (row, &label) in labels.iter().enumerate() {
            values[row * classes + label] = 1.0;
        }
        Ok(Tensor::from_f64s(&values, &[labels.len(), classes], dtype))
    }

    /// [`try_one_hot`](Self::try_one_hot), panicking at the caller's line.
    #[track_caller]
    pub fn one_hot(labels: &[usize], classes: usize, dtype: DType) -> Tensor {
        or_panic(Tensor::try_one_hot(labels, classes, dtype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn random(shape: &[usize], seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, DType::F64, &mut crate::rng(seed))
    }

    /// `⟨u, v⟩ = Σ u·v`
    fn inner(u: &Tensor, v: &Tensor) -> f64 {
        u.mul(v).sum_all().to_scalar()
    }

    fn index_array(values: Vec<usize>, shape: &[usize]) -> ArrayD<usize> {
        row_major_array(values, shape)
    }

    #[test]
    fn index_select_golden_values() {
        let x = Tensor::arange(0.0, 12.0, 1.0, DType::F32).reshape(&[3, 4]);
        let rows = x.index_select(0, &[2, 0, 2]);
        assert_eq!(rows.shape(), &[3, 4]);
        assert_eq!(rows.to_vec_f32(), vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]);
        let columns = x.index_select(1, &[3, 1]);
        assert_eq!(columns.shape(), &[3, 2]);
        assert_eq!(columns.to_vec_f32(), vec![3.0, 1.0, 7.0, 5.0, 11.0, 9.0]);
        assert_eq!(x.index_select(1, &[]).shape(), &[3, 0]);
        assert_eq!(Tensor::arange(0.0, 5.0, 1.0, DType::F64).index_select(0, &[4, 4]).to_vec_f64(), vec![4.0, 4.0]);
    }

    #[test]
    fn index_add_accumulates_repeats() {
        let source = Tensor::from_vec(vec![1.0f64, 2.0, 10.0, 20.0, 100.0, 200.0], &[3, 2]);
        let out = source.index_add(0, &[1, 1, 0], 3);
        assert_eq!(out.shape(), &[3, 2]);
        assert_eq!(out.to_vec_f64(), vec![100.0, 200.0, 11.0, 22.0, 0.0, 0.0]);
        let columns = source.index_add(1, &[2, 0], 4);
        assert_eq!(columns.to_vec_f64(), vec![2.0, 0.0, 1.0, 0.0, 20.0, 0.0, 10.0, 0.0, 200.0, 0.0, 100.0, 0.0]);
    }

    #[test]
    fn index_select_and_index_add_are_adjoint() {
        let x = random(&[4, 3, 5], 1);
        let indices = [2, 0, 2, 1];
        let g = random(&[4, 4, 5], 2);
        let left = inner(&x.index_select(1, &indices), &g);
        let right = inner(&x, &g.index_add(1, &indices, 3));
        assert!((left - right).abs() < 1e-12, "{left} vs {right}");
        // Axis 0 of row-major arrays takes the whole-row path; a transposed view the general one.
        let rows = [3, 0, 3, 1, 2];
        let g0 = random(&[5, 3, 5], 3);
        let left = inner(&x.index_select(0, &rows), &g0);
        let right = inner(&x, &g0.index_add(0, &rows, 4));
        assert!((left - right).abs() < 1e-12, "{left} vs {right}");
        let xt = x.permute(&[2, 1, 0]).contiguous().permute(&[2, 1, 0]);
        assert!(!xt.is_contiguous());
        assert_eq!(xt.index_select(0, &rows).to_vec_f64(), x.index_select(0, &rows).to_vec_f64());
        let gt = g0.permute(&[2, 1, 0]).contiguous().permute(&[2, 1, 0]);
        assert_eq!(gt.index_add(0, &rows, 4).to_vec_f64(), g0.index_add(0, &rows, 4).to_vec_f64());
    }

    #[test]
    fn index_errors_name_value_and_extent() {
        let x = Tensor::zeros(&[3, 4], DType::F32);
        let err = x.try_index_select(1, &[0, 4]).unwrap_err();
        assert_eq!((err.op, err.dim), ("index_select", Some(1)));
        let text = err.to_string();
        assert!(text.contains("index 4") && text.contains("position 1") && text.contains("extent 4"), "{text}");
        assert!(x.try_index_select(2, &[0]).is_err());
        let err = x.try_index_add(0, &[0, 1], 5).unwrap_err();
        assert!(err.to_string().contains("3 slices along axis 0 but 2 indices"), "{err}");
        let err = x.try_index_add(0, &[0, 1, 5], 5).unwrap_err();
        assert!(err.to_string().contains("index 5") && err.to_string().contains("extent 5"), "{err}");
    }

    #[test]
    fn gather_follows_pytorch() {
        // torch.gather(torch.tensor([[1, 2], [3, 4]]), 1, torch.tensor([[0, 0], [1, 0]]))
        let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let picked = t.gather(1, &index_array(vec![0, 0, 1, 0], &[2, 2]));
        assert_eq!(picked.to_vec_f32(), vec![1.0, 1.0, 4.0, 3.0]);
        let down = t.gather(0, &index_array(vec![1, 0], &[1, 2]));
        assert_eq!(down.to_vec_f32(), vec![3.0, 2.0]);
        // Picking each row's true class from logits, with an index smaller off the axis.
        let logits = Tensor::arange(0.0, 12.0, 1.0, DType::F64).reshape(&[3, 4]);
        let labels = index_array(vec![3, 0], &[2, 1]);
        let scores = logits.gather(1, &labels);
        assert_eq!(scores.shape(), &[2, 1]);
        assert_eq!(scores.to_vec_f64(), vec![3.0, 4.0]);
        let x = Tensor::arange(0.0, 24.0, 1.0, DType::F64).reshape(&[2, 3, 4]);
        let index = index_array(vec![2, 0, 1, 1], &[2, 1, 2]);
        assert_eq!(x.gather(1, &index).to_vec_f64(), vec![8.0, 1.0, 16.0, 17.0]);
    }

    #[test]
    fn scatter_add_accumulates_repeats() {
        let g = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let index = index_array(vec![0, 2, 0, 1, 1, 1], &[2, 3]);
        let out = g.scatter_add(1, &index, &[3, 4]);
        assert_eq!(out.shape(), &[3, 4]);
        assert_eq!(out.to_vec_f64(), vec![4.0, 0.0, 2.0, 0.0, 0.0, 15.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn gather_and_scatter_add_are_adjoint() {
        let x = random(&[3, 5, 4], 3);
        let mut rng = crate::rng(4);
        let values: Vec<usize> = (0..3 * 7 * 2).map(|_| rand::Rng::random_range(&mut rng, 0..5)).collect();
        let index = index_array(values, &[3, 7, 2]);
        let g = random(&[3, 7, 2], 5);
        let left = inner(&x.gather(1, &index), &g);
        let right = inner(&x, &g.scatter_add(1, &index, x.shape()));
        assert!((left - right).abs() < 1e-12, "{left} vs {right}");
    }

    #[test]
    fn gather_errors() {
        let x = Tensor::zeros(&[2, 3], DType::F32);
        let err = x.try_gather(1, &index_array(vec![0, 3], &[2, 1])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("value 3") && text.contains("position [1, 0]") && text.contains("extent 3"), "{text}");
        let err = x.try_gather(1, &index_array(vec![0, 0, 0], &[3, 1])).unwrap_err();
        assert_eq!(err.dim, Some(0));
        assert!(x.try_gather(1, &index_array(vec![0, 0], &[2])).unwrap_err().to_string().contains("same rank"));
        assert!(x.try_gather(2, &index_array(vec![0], &[1, 1])).is_err());
        let g = Tensor::zeros(&[2, 1], DType::F32);
        assert!(g.try_scatter_add(1, &index_array(vec![0, 0], &[1, 2]), &[2, 3]).is_err());
        assert!(g.try_scatter_add(1, &index_array(vec![0, 3], &[2, 1]), &[2, 3]).is_err());
    }

    #[test]
    fn where_cond_broadcasts_all_three() {
        let cond = Tensor::from_vec(vec![1.0f32, 0.0, 1.0], &[3, 1]);
        let a = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
        let b = Tensor::scalar(-1.0, DType::F64);
        let out = Tensor::where_cond(&cond, &a, &b);
        assert_eq!(out.shape(), &[3, 2]);
        assert_eq!(out.dtype(), DType::F64);
        assert_eq!(out.to_vec_f64(), vec![1.0, 2.0, -1.0, -1.0, 1.0, 2.0]);
        let x = Tensor::from_vec(vec![-2.0f32, 3.0, -0.5], &[3]);
        let zero = Tensor::zeros(&[1], DType::F32);
        assert_eq!(Tensor::where_cond(&x.gt(&zero), &x, &zero).to_vec_f32(), x.relu().to_vec_f32());
        let err = Tensor::try_where_cond(&Tensor::zeros(&[4], DType::F32), &x, &zero).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cond [4], a [3] and b [1]"), "{text}");
    }

    #[test]
    fn where_cond_uses_threads_on_large_tensors() {
        let n = PARALLEL_THRESHOLD + 5;
        let x = Tensor::arange(0.0, n as f64, 1.0, DType::F32);
        let wave = x.mul_scalar(0.37).sin();
        let out = Tensor::where_cond(&wave.gt_scalar(0.0), &x, &x.neg());
        let expected: Vec<f32> =
            wave.to_vec_f32().iter().zip(x.to_vec_f32()).map(|(&c, v)| if c > 0.0 { v } else { -v }).collect();
        assert_eq!(out.to_vec_f32(), expected);
    }

    #[test]
    fn masked_fill_puts_value_where_mask_is_set() {
        let scores = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let upper = Tensor::from_vec(vec![0.0f32, 1.0, 0.0, 0.0], &[2, 2]);
        let masked = scores.masked_fill(&upper, f64::NEG_INFINITY);
        assert_eq!(masked.to_vec_f32(), vec![1.0, f32::NEG_INFINITY, 3.0, 4.0]);
        let column = Tensor::from_vec(vec![1.0f64, 0.0], &[2, 1]);
        assert_eq!(scores.masked_fill(&column, 0.0).to_vec_f32(), vec![0.0, 0.0, 3.0, 4.0]);
        assert!(scores.try_masked_fill(&Tensor::zeros(&[3, 2, 2], DType::F32), 0.0).is_err());
        assert!(scores.try_masked_fill(&Tensor::zeros(&[3], DType::F32), 0.0).is_err());
    }

    #[test]
    fn one_hot_rows() {
        let y = Tensor::one_hot(&[2, 0, 2], 3, DType::F64);
        assert_eq!(y.shape(), &[3, 3]);
        assert_eq!(y.to_vec_f64(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(Tensor::one_hot(&[], 4, DType::F32).shape(), &[0, 4]);
        let err = Tensor::try_one_hot(&[1, 0, 5], 3, DType::F32).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("label 5 at position 2") && text.contains("3 classes"), "{text}");
    }

    /// A random shape of rank 1 to 3, an axis of it, a seed and an index array for `gather`
    /// along that axis: at most as large as the shape off the axis, any length along it.
    fn gather_case() -> impl Strategy<Value = (Vec<usize>, usize, ArrayD<usize>, u64)> {
        prop::collection::vec(1usize..4, 1..4)
            .prop_flat_map(|shape| {
                let rank = shape.len();
                (Just(shape), 0..rank)
            })
            .prop_flat_map(|(shape, axis)| {
                let limits: Vec<_> =
                    shape.iter().enumerate().map(|(d, &n)| if d == axis { 0usize..5 } else { 1..n + 1 }).collect();
                (Just(shape), Just(axis), limits, any::<u64>())
            })
            .prop_flat_map(|(shape, axis, ishape, seed)| {
                let count: usize = ishape.iter().product();
                let values = prop::collection::vec(0..shape[axis], count);
                (Just(shape), Just(axis), Just(ishape), values, Just(seed))
            })
            .prop_map(|(shape, axis, ishape, values, seed)| (shape, axis, index_array(values, &ishape), seed))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn gather_adjoint_holds_for_random_indices((shape, axis, index, seed) in gather_case()) {
            let x = random(&shape, seed);
            let g = random(index.shape(), seed.wrapping_add(1));
            let picked = x.gather(axis, &index);
            prop_assert_eq!(picked.shape(), index.shape());
            let left = inner(&picked, &g);
            let right = inner(&x, &g.scatter_add(axis, &index, &shape));
            prop_assert!((left - right).abs() < 1e-12, "{} vs {}", left, right);
        }

        #[test]
        fn index_select_adjoint_holds_for_random_indices(
            (shape, axis, index, seed) in gather_case(),
        ) {
            // Reuse the index values along the axis as a list of indices.
            let indices: Vec<usize> = index.iter().copied().collect();
            let x = random(&shape, seed);
            let picked = x.index_select(axis, &indices);
            prop_assert_eq!(picked.shape()[axis], indices.len());
            for (k, &i) in indices.iter().enumerate() {
                prop_assert_eq!(picked.narrow(axis, k, 1).to_vec_f64(), x.narrow(axis, i, 1).to_vec_f64());
            }
            let g = random(picked.shape(), seed.wrapping_add(1));
            let left = inner(&picked, &g);
            let right = inner(&x, &g.index_add(axis, &indices, shape[axis]));
            prop_assert!((left - right).abs() < 1e-12, "{} vs {}", left, right);
        }
    }
}
