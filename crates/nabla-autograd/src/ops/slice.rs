//! Slicing along one axis: `y = x[start:end:step]` on `axis`.
//!
//! Each element of `y` is one element of `x`, so `x̄` is zero except where `y` was taken from,
//! where it is `ȳ`: `x̄ = slice_scatter(ȳ)`. `slice_scatter` is linear and its adjoint is the
//! slice itself, so each op is the other's backward (and higher derivatives work).

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// Elements `start, start + step, …` below `end` along `axis`; a [`ShapeError`] when the
    /// range does not fit.
    pub fn try_slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Var, ShapeError> {
        let value = self.value().try_slice(axis, start, end, step)?;
        Ok(Var::from_op("slice", value, &[self], move |g, x, _| {
            vec![Some(g.slice_scatter(x[0].shape(), axis, start, end, step))]
        }))
    }

    /// [`try_slice`](Self::try_slice), panicking at the caller's line.
    #[track_caller]
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Var {
        crate::or_panic(self.try_slice(axis, start, end, step))
    }

    /// `len` elements from `start` along `axis`.
    #[track_caller]
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Var {
        self.slice(axis, start, start + len, 1)
    }

    /// A zero `Var` of `shape` with `self` written at `start..end` step `step` along `axis`.
    #[track_caller]
    pub fn slice_scatter(&self, shape: &[usize], axis: usize, start: usize, end: usize, step: usize) -> Var {
        let value = self.value().slice_scatter(shape, axis, start, end, step);
        Var::from_op("slice_scatter", value, &[self], move |g, _, _| vec![Some(g.slice(axis, start, end, step))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
        let y = x.slice(0, 1, 5, 2);
        assert_eq!(y.value().to_vec_f64(), vec![2.0, 4.0]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![0.0, 1.0, 0.0, 1.0, 0.0]);
    }
}
