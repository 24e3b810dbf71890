//! Reshape: the same elements in row-major order under a new shape.
//!
//! Reshaping moves no value, so the gradient is reshaped back: `x̄ = reshape(ȳ, shape(x))`.
//! `unsqueeze`, `squeeze` and `flatten_from` are reshapes.

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// The same elements under `shape`; a [`ShapeError`] when the element counts differ.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Var, ShapeError> {
        let value = self.read().try_reshape(shape)?;
        Ok(Var::from_op("reshape", value, &[self], |g, x, _| vec![Some(g.reshape(x[0].shape()))]))
    }

    /// The same elements under `shape`. Panics at the caller's line when the counts differ.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Var {
        crate::or_panic(self.try_reshape(shape))
    }

    /// Inserts an axis of extent 1 at `axis`.
    #[track_caller]
    pub fn unsqueeze(&self, axis: usize) -> Var {
        let mut shape = self.shape().to_vec();
        assert!(axis <= shape.len(), "unsqueeze: axis {axis} is past the rank of {shape:?}");
        shape.insert(axis, 1);
        self.reshape(&shape)
    }

    /// Removes `axis`, which must have extent 1.
    #[track_caller]
    pub fn squeeze(&self, axis: usize) -> Var {
        let mut shape = self.shape().to_vec();
        assert!(axis < shape.len() && shape[axis] == 1, "squeeze: axis {axis} of {shape:?} does not have extent 1");
        shape.remove(axis);
        self.reshape(&shape)
    }

    /// Merges the axes from `start` on: `[n, c, h, w].flatten_from(1)` is `[n, c·h·w]`.
    #[track_caller]
    pub fn flatten_from(&self, start: usize) -> Var {
        let shape = self.shape();
        assert!(start <= shape.len(), "flatten_from: axis {start} is past the rank of {shape:?}");
        let mut new_shape = shape[..start].to_vec();
        new_shape.push(shape[start..].iter().product());
        self.reshape(&new_shape)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let y = x.reshape(&[3, 2]);
        assert_eq!(y.shape(), vec![3, 2]);
        let g = y.backward_with(&t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
        assert_eq!(g.get(&x).unwrap().shape(), &[2, 3]);
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(x.unsqueeze(1).shape(), vec![2, 1, 3]);
        assert_eq!(x.unsqueeze(1).squeeze(1).shape(), vec![2, 3]);
    }
}
