//! Gathering elements by index along an axis (PyTorch's `gather`): for `axis = 1`,
//! `y[i][j] = x[i][index[i][j]]`. Picking each row's target-class log-probability is
//! `log_probs.gather(1, targets)`.
//!
//! Each `y` element is one `x` element, so `x̄` is zero except at the gathered positions,
//! which receive `ȳ` (accumulating where an index repeats): `x̄ = scatter_add(ȳ)`.
//! `scatter_add` is linear with adjoint `gather`, so each is the other's backward.

use nabla_tensor::ndarray::ArrayD;
use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// Elements at `index` along `axis`; `index` has `self`'s rank and gives the output shape.
    pub fn try_gather(&self, axis: usize, index: &ArrayD<usize>) -> Result<Var, ShapeError> {
        let value = self.value().try_gather(axis, index)?;
        let index = index.clone();
        Ok(Var::from_op("gather", value, &[self], move |g, x, _| vec![Some(g.scatter_add(axis, &index, x[0].shape()))]))
    }

    /// [`try_gather`](Self::try_gather), panicking at the caller's line.
    #[track_caller]
    pub fn gather(&self, axis: usize, index: &ArrayD<usize>) -> Var {
        crate::or_panic(self.try_gather(axis, index))
    }

    /// Zeros of `shape` with `self`'s elements added at `index` along `axis` (the adjoint of `gather`).
    #[track_caller]
    pub fn scatter_add(&self, axis: usize, index: &ArrayD<usize>, shape: &[usize]) -> Var {
        let value = self.value().scatter_add(axis, index, shape);
        let index = index.clone();
        Var::from_op("scatter_add", value, &[self], move |g, _, _| vec![Some(g.gather(axis, &index))])
    }
}

#[cfg(test)]
mod tests {
    use nabla_tensor::ndarray::{ArrayD, IxDyn};

    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let index = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![2, 0]).unwrap();
        let y = x.gather(1, &index);
        assert_eq!(y.value().to_vec_f64(), vec![3.0, 4.0]);
        let g = y.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }
}
