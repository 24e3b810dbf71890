//! Taking part of a tensor along one axis: `slice` (start, end, step) and `narrow`.
//!
//! Both are views: they share the buffer and change only the offset and strides.

use ndarray::{Axis, Slice};

use crate::error::{or_panic, ShapeError};
use crate::tensor::{dispatch, Tensor};

impl Tensor {
    /// Elements `start, start + step, ...` below `end` along `axis` (no copy), like
    /// `x[..., start:end:step, ...]` in NumPy with non-negative indices and a positive step.
    pub fn try_slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Tensor, ShapeError> {
        let shape = self.shape();
        if axis >= shape.len() || start > end || end > shape[axis] || step == 0 {
            return Err(ShapeError::new(
                "slice",
                &[shape],
                Some(axis),
                format!(
                    "cannot take {start}..{end} step {step} along axis {axis} of {shape:?} \
                     (need axis < rank, start <= end <= extent, step >= 1)"
                ),
            ));
        }
        Ok(dispatch!(self, a => {
            let mut view = a.clone();
            view.slice_axis_inplace(Axis(axis), Slice::new(start as isize, Some(end as isize), step as isize));
            Tensor::from_shared(view)
        }))
    }

    /// [`try_slice`](Self::try_slice), panicking at the caller's line.
    #[track_caller]
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Tensor {
        or_panic(self.try_slice(axis, start, end, step))
    }

    /// The adjoint of [`slice`](Self::slice): a zero tensor of `shape` with `self` written into
    /// the positions `start..end` step `step` along `axis` (what the gradient of a slice is).
    pub fn try_slice_scatter(
        &self,
        shape: &[usize],
        axis: usize,
        start: usize,
        end: usize,
        step: usize,
    ) -> Result<Tensor, ShapeError> {
        let target = Tensor::zeros(shape, self.dtype());
        let window = target.try_slice(axis, start, end, step)?;
        if window.shape() != self.shape() {
            return Err(ShapeError::new(
                "slice_scatter",
                &[self.shape(), shape],
                Some(axis),
                format!(
                    "a source of shape {:?} does not fill {start}..{end} step {step} along axis {axis} of {shape:?} \
                     (that window has shape {:?})",
                    self.shape(),
                    window.shape()
                ),
            ));
        }
        Ok(dispatch!(self, src => {
            let mut out = ndarray::ArrayD::zeros(ndarray::IxDyn(shape));
            out.slice_axis_mut(Axis(axis), Slice::new(start as isize, Some(end as isize), step as isize)).assign(src);
            Tensor::from_array(out)
        }))
    }

    /// [`try_slice_scatter`](Self::try_slice_scatter), panicking at the caller's line.
    #[track_caller]
    pub fn slice_scatter(&self, shape: &[usize], axis: usize, start: usize, end: usize, step: usize) -> Tensor {
        or_panic(self.try_slice_scatter(shape, axis, start, end, step))
    }

    /// `len` elements from `start` along `axis` (no copy).
    #[track_caller]
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor {
        self.slice(axis, start, start + len, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_views() {
        let x = Tensor::arange(0.0, 12.0, 1.0, crate::DType::F32).reshape(&[3, 4]);
        let s = x.slice(1, 1, 4, 2);
        assert_eq!(s.shape(), &[3, 2]);
        assert_eq!(s.to_vec_f32(), vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
        assert!(s.shares_buffer_with(&x));
        assert!(!s.shares_buffer_with(&s.contiguous()));
        assert_eq!(x.narrow(0, 1, 2).to_vec_f32()[0], 4.0);
        assert!(x.try_slice(0, 2, 5, 1).is_err());
        let back = s.slice_scatter(&[3, 4], 1, 1, 4, 2);
        assert_eq!(back.to_vec_f32()[..4], [0.0, 1.0, 0.0, 3.0]);
        assert!(s.try_slice_scatter(&[3, 5], 1, 0, 5, 1).is_err());
    }
}
