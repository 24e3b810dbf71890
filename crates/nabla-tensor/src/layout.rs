//! Changing how elements are arranged without changing them: reshape, permute/transpose,
//! (un)squeeze, flatten, broadcast_to.
//!
//! `permute`, `transpose`, `unsqueeze` and `squeeze` are free: they share the buffer and
//! change only the strides. `reshape` is free on a row-major tensor and copies otherwise.
//! Kernels that need row-major data (matmul does not) call [`Tensor::contiguous`].

use ndarray::{ArcArray, ArrayD, Axis, IxDyn};

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::tensor::row_major_array;
use crate::tensor::{dispatch, Tensor};

impl Tensor {
    /// The same elements in row-major order under a new shape with as many elements.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Tensor, ShapeError> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(ShapeError::new(
                "reshape",
                &[self.shape(), shape],
                None,
                format!("cannot reshape {:?} ({} elements) into {shape:?} ({n} elements)", self.shape(), self.len()),
            ));
        }
        if shape == self.shape() && self.is_contiguous() {
            return Ok(self.clone());
        }
        let source = self.contiguous();
        Ok(dispatch!(source, a => Tensor::from_shared(
            a.clone().into_shape_with_order(IxDyn(shape)).expect("row-major with the same length"))))
    }

    /// [`try_reshape`](Self::try_reshape), panicking at the caller's line.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        or_panic(self.try_reshape(shape))
    }

    /// Reorders the axes: output axis `i` is input axis `order[i]` (no copy).
    ///
    /// `[n, c, h, w].permute(&[0, 2, 3, 1])` is `[n, h, w, c]`.
    pub fn try_permute(&self, order: &[usize]) -> Result<Tensor, ShapeError> {
        let mut seen = vec![false; self.ndim()];
        let valid = order.len() == self.ndim()
            && order.iter().all(|&d| d < seen.len() && !std::mem::replace(&mut seen[d], true));
        if !valid {
            return Err(ShapeError::new(
                "permute",
                &[self.shape()],
                None,
                format!("{order:?} is not a permutation of the {} axes of {:?}", self.ndim(), self.shape()),
            ));
        }
        Ok(dispatch!(self, a => Tensor::from_shared(a.clone().permuted_axes(IxDyn(order)))))
    }

    /// [`try_permute`](Self::try_permute), panicking at the caller's line.
    #[track_caller]
    pub fn permute(&self, order: &[usize]) -> Tensor {
        or_panic(self.try_permute(order))
    }

    /// Swaps two axes (no copy: the permutation that exchanges them, applied to the strides).
    #[track_caller]
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Tensor {
        if axis_a >= self.ndim() || axis_b >= self.ndim() {
            panic!(
                "transpose: axes {axis_a} and {axis_b} must be below the rank {} of {:?}",
                self.ndim(),
                self.shape()
            );
        }
        dispatch!(self, a => {
            let mut swapped = a.clone();
            swapped.swap_axes(axis_a, axis_b);
            Tensor::from_shared(swapped)
        })
    }

    /// Swaps the last two axes: the matrix transpose, batched (no copy).
    #[track_caller]
    pub fn t(&self) -> Tensor {
        let r = self.ndim();
        assert!(r >= 2, "t: needs at least 2 axes, got shape {:?}", self.shape());
        self.transpose(r - 2, r - 1)
    }

    /// Inserts an axis of extent 1 at position `axis` (no copy).
    #[track_caller]
    pub fn unsqueeze(&self, axis: usize) -> Tensor {
        assert!(axis <= self.ndim(), "unsqueeze: axis {axis} is past the rank {} of {:?}", self.ndim(), self.shape());
        dispatch!(self, a => Tensor::from_shared(a.clone().insert_axis(Axis(axis))))
    }

    /// Removes axis `axis`, which must have extent 1 (no copy).
    #[track_caller]
    pub fn squeeze(&self, axis: usize) -> Tensor {
        assert!(
            axis < self.ndim() && self.shape()[axis] == 1,
            "squeeze: axis {axis} of {:?} does not have extent 1",
            self.shape()
        );
        dispatch!(self, a => Tensor::from_shared(a.clone().index_axis_move(Axis(axis), 0)))
    }

    /// Merges all axes from `start` on into one: `[n, c, h, w].flatten_from(1)` is `[n, c·h·w]`.
    #[track_caller]
    pub fn flatten_from(&self, start: usize) -> Tensor {
        assert!(start <= self.ndim(), "flatten_from: axis {start} is past the rank of {:?}", self.shape());
        let mut shape = self.shape()[..start].to_vec();
        shape.push(self.shape()[start..].iter().product());
        self.reshape(&shape)
    }

    /// Repeats the tensor along broadcast axes to fill `shape` (a copy).
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Tensor, ShapeError> {
        let target = crate::binary::broadcast_shapes("broadcast_to", self.shape(), shape)?;
        if target != shape {
            return Err(ShapeError::new(
                "broadcast_to",
                &[self.shape(), shape],
                None,
                format!("{:?} cannot be broadcast to {shape:?}", self.shape()),
            ));
        }
        Ok(dispatch!(self, a => Tensor::from_array(broadcast_copy(a, shape))))
    }

    /// [`try_broadcast_to`](Self::try_broadcast_to), panicking at the caller's line.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        or_panic(self.try_broadcast_to(shape))
    }
}

/// `a` repeated along its broadcast axes into a new row-major array of `shape` (a shape that
/// `a`'s shape broadcasts to).
///
/// The output is written in row-major order while the source is read through *broadcast
/// strides*: the source's own row-major strides, with 0 on every axis it lacks or has with
/// extent 1. Neighbouring axes that step through the source as one axis would (both stretched,
/// or both stored) are merged first, so the innermost axis is one long slice copy (stored) or
/// one fill (stretched): `[16] → [32, 16]` is 32 slice copies and `[] → [32, 16]` one fill,
/// instead of an n-dimensional iterator stepping through the output one element at a time.
fn broadcast_copy<E: Element>(a: &ArcArray<E, IxDyn>, shape: &[usize]) -> ArrayD<E> {
    let len: usize = shape.iter().product();
    let mut out = Vec::with_capacity(len);
    if len > 0 {
        let source = a.as_standard_layout();
        let xs = source.as_slice().expect("standard layout");
        let lead = shape.len() - a.ndim();
        let mut strides = vec![0; shape.len()];
        let mut stride = 1;
        for (d, &extent) in a.shape().iter().enumerate().rev() {
            if extent != 1 {
                strides[lead + d] = stride;
            }
            stride *= extent;
        }
        // (extent, stride) per axis, outermost first, skipping extent-1 axes and merging an
        // axis into the one before when index i·t + j·s is (i·n + j)·s, that is when t = n·s.
        let mut axes: Vec<(usize, usize)> = Vec::with_capacity(shape.len());
        for (&n, &s) in shape.iter().zip(&strides).filter(|&(&n, _)| n != 1) {
            match axes.last_mut() {
                Some((outer_n, outer_s)) if *outer_s == n * s => {
                    *outer_n *= n;
                    *outer_s = s;
                }
                _ => axes.push((n, s)),
            }
        }
        copy_broadcast(xs, &axes, &mut out);
    }
    row_major_array(out, shape)
}

/// Appends to `out`, in row-major order over `axes` (`(extent, stride)` pairs, the stride in
/// elements: 0 on a stretched axis, 1 on a stored innermost axis), the elements of `xs`.
fn copy_broadcast<E: Copy>(xs: &[E], axes: &[(usize, usize)], out: &mut Vec<E>) {
    match axes {
        [] => out.push(xs[0]),
        [(n, 0)] => out.resize(out.len() + n, xs[0]),
        [(n, _)] => out.extend_from_slice(&xs[..*n]),
        [(n, stride), inner @ ..] => {
            for i in 0..*n {
                copy_broadcast(&xs[i * stride..], inner, out);
            }
        }
    }
}

/// `x`, a `[rows, cols]` row-major matrix, transposed into `out` (`[cols, rows]` row-major):
/// `x[r·cols + c]` moves to `out[c·rows + r]`.
///
/// Done in 8×8 tiles, so that both sides are read and written a cache line at a time: an
/// element-by-element loop writes every element of a row to a different cache line, and on
/// an LSTM's `[1024, 256]` recurrent weight it took most of a millisecond. A whole tile is
/// first read into a local array, row by row, and then written out column by column, which
/// the compiler turns into vector loads, shuffles and stores; tiles cut by the matrix's edge
/// are copied element by element.
pub(crate) fn transpose_into<E: Copy>(x: &[E], rows: usize, cols: usize, out: &mut [E]) {
    transpose_into_strided(x, rows, cols, out, rows);
}

/// [`transpose_into`] with `out`'s rows `out_stride ≥ rows` elements apart (the elements
/// between are left as they are): `x[r·cols + c]` moves to `out[c·out_stride + r]`.
pub(crate) fn transpose_into_strided<E: Copy>(x: &[E], rows: usize, cols: usize, out: &mut [E], out_stride: usize) {
    const TILE: usize = 8;
    assert!(out_stride >= rows, "transpose_into: out_stride {out_stride} < {rows} rows");
    let out_len = if cols == 0 { 0 } else { (cols - 1) * out_stride + rows };
    assert!(x.len() >= rows * cols && out.len() >= out_len, "transpose_into: buffers shorter than {rows}×{cols}");
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            if r0 + TILE <= rows && c0 + TILE <= cols {
                let mut tile = [[x[0]; TILE]; TILE];
                for (i, row) in tile.iter_mut().enumerate() {
                    row.copy_from_slice(&x[(r0 + i) * cols + c0..][..TILE]);
                }
                for j in 0..TILE {
                    let dst: &mut [E; TILE] =
                        (&mut out[(c0 + j) * out_stride + r0..][..TILE]).try_into().expect("a tile row");
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = tile[i][j];
                    }
                }
            } else {
                for c in c0..(c0 + TILE).min(cols) {
                    for r in r0..(r0 + TILE).min(rows) {
                        out[c * out_stride + r] = x[r * cols + c];
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

    #[test]
    fn views_share_the_buffer() {
        let x = Tensor::arange(0.0, 6.0, 1.0, DType::F32).reshape(&[2, 3]);
        let t = x.t();
        assert_eq!(t.shape(), &[3, 2]);
        assert!(t.shares_buffer_with(&x));
        assert_eq!(t.to_vec_f32(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(t.reshape(&[6]).to_vec_f32(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(x.unsqueeze(0).shape(), &[1, 2, 3]);
        assert_eq!(x.unsqueeze(2).squeeze(2).shape(), &[2, 3]);
    }

    #[test]
    fn bad_permutation_is_an_error() {
        let x = Tensor::zeros(&[2, 3], DType::F32);
        assert!(x.try_permute(&[0, 0]).is_err());
        assert!(x.try_reshape(&[4]).unwrap_err().to_string().contains("cannot reshape [2, 3]"));
    }

    #[test]
    fn broadcast_to_repeats() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1]);
        assert_eq!(x.broadcast_to(&[2, 3]).to_vec_f32(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert!(x.try_broadcast_to(&[3]).is_err());
        // Against ndarray's general broadcast, on new leading axes, stretched inner axes and
        // a strided source.
        let y = Tensor::arange(0.0, 6.0, 1.0, DType::F64).reshape(&[2, 1, 3]);
        for (source, shape) in [
            (y.clone(), vec![4, 2, 5, 3]),
            (y.t(), vec![4, 2, 3, 5]),
            (Tensor::scalar(7.0, DType::F32), vec![2, 3]),
            (y.clone(), vec![2, 0, 3]),
        ] {
            let expected = dispatch!(source, a => a.broadcast(IxDyn(&shape)).unwrap().iter().map(|v| v.to_f64_exact()).collect::<Vec<_>>());
            let b = source.broadcast_to(&shape);
            assert_eq!((b.shape(), b.to_vec_f64()), (shape.as_slice(), expected), "{:?} -> {shape:?}", source.shape());
        }
    }

    #[test]
    fn transpose_into_moves_every_element_across_tile_edges() {
        for (rows, cols) in [(1, 1), (3, 40), (17, 16), (33, 5), (64, 256)] {
            let x: Vec<u32> = (0..(rows * cols) as u32).collect();
            let mut out = vec![u32::MAX; rows * cols];
            transpose_into(&x, rows, cols, &mut out);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(out[c * rows + r], x[r * cols + c], "{rows}×{cols} at ({r}, {c})");
                }
            }
        }
    }

    #[test]
    fn transpose_into_strided_leaves_the_padding_alone() {
        for (rows, cols, stride) in [(3, 40, 5), (17, 16, 33), (64, 24, 80)] {
            let x: Vec<u32> = (0..(rows * cols) as u32).collect();
            let mut out = vec![u32::MAX; cols * stride];
            transpose_into_strided(&x, rows, cols, &mut out, stride);
            for c in 0..cols {
                for r in 0..stride {
                    let want = if r < rows { x[r * cols + c] } else { u32::MAX };
                    assert_eq!(out[c * stride + r], want, "{rows}×{cols}, stride {stride}, at ({r}, {c})");
                }
            }
        }
    }
}
