//! Changing how elements are arranged without changing them: reshape, permute/transpose,
//! (un)squeeze, flatten, broadcast_to.
//!
//! `permute`, `transpose`, `unsqueeze` and `squeeze` are free: they share the buffer and
//! change only the strides. `reshape` is free on a row-major tensor and copies otherwise.
//! Kernels that need row-major data (matmul does not) call [`Tensor::contiguous`].

use ndarray::{Axis, IxDyn};

use crate::error::{or_panic, ShapeError};
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

    /// Swaps two axes (no copy).
    #[track_caller]
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Tensor {
        let mut order: Vec<usize> = (0..self.ndim()).collect();
        if axis_a >= order.len() || axis_b >= order.len() {
            panic!(
                "transpose: axes {axis_a} and {axis_b} must be below the rank {} of {:?}",
                self.ndim(),
                self.shape()
            );
        }
        order.swap(axis_a, axis_b);
        self.permute(&order)
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
        Ok(dispatch!(self, a => Tensor::from_array(
            a.broadcast(IxDyn(shape)).expect("checked above").to_owned())))
    }

    /// [`try_broadcast_to`](Self::try_broadcast_to), panicking at the caller's line.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        or_panic(self.try_broadcast_to(shape))
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
    }
}
