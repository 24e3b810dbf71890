//! 2-D max pooling (NCHW): each output is the largest input in its window.
//!
//! Once the winning positions (`indices`) are known, max pooling is a *gather*: `y = x[indices]`.
//! Only the winner moves the output (`∂y/∂x = 1` there, 0 elsewhere), so `x̄` is `ȳ` scattered
//! back to the winners, adding where overlapping windows share one: `x̄ = scatter(ȳ, indices)`.
//! Gather and scatter with fixed indices are adjoint linear maps, each the other's backward.
//!
//! Training records no indices: writing one per output costs more than the pooling itself
//! (8 bytes each against 4 for an f32 value). The backward finds the winners again from the
//! input, which the tape keeps anyway, by the same comparisons
//! ([`Tensor::max_pool2d_input_grad`]). Only a backward that is itself recorded (second-order
//! gradients) builds the indices, for the differentiable scatter below.

use std::sync::Arc;

use nabla_tensor::ndarray::ArrayD;
use nabla_tensor::{Pool2dSpec, ShapeError, Tensor};

use crate::Var;

/// `x` gathered at fixed `indices` (one flat `h·W + w` position per output element).
fn gather_at(x: &Var, indices: Arc<ArrayD<usize>>) -> Var {
    let value = x.value().max_pool2d_gather(&indices);
    gathered(x, value, indices)
}

/// The op recording that `value` is `x` gathered at `indices`.
fn gathered(x: &Var, value: Tensor, indices: Arc<ArrayD<usize>>) -> Var {
    Var::from_op("max_pool2d", value, &[x], move |g, x, _| vec![Some(scatter_to(g, indices.clone(), x[0].shape()))])
}

/// `g` added into zeros of `shape` at `indices` (the adjoint of [`gather_at`]).
fn scatter_to(g: &Var, indices: Arc<ArrayD<usize>>, shape: &[usize]) -> Var {
    let value = Tensor::max_pool2d_backward(&g.value(), &indices, shape);
    Var::from_op("max_pool2d_backward", value, &[g], move |zbar, _, _| vec![Some(gather_at(zbar, indices.clone()))])
}

impl Var {
    /// Max pooling of `[n, c, h, w]` over `spec.kernel` windows; a [`ShapeError`] when the
    /// window does not fit.
    pub fn try_max_pool2d(&self, spec: Pool2dSpec) -> Result<Var, ShapeError> {
        if !crate::is_grad_enabled() || !self.requires_grad() {
            // Nothing will be differentiated (inference): the values alone.
            return Ok(Var::fixed(self.value().try_max_pool2d(spec)?));
        }
        let values = self.read().try_max_pool2d(spec)?;
        Ok(Var::from_fused_op(
            "max_pool2d",
            values,
            &[self],
            move |g, x, _| {
                // The backward is being recorded: it needs the indices, to be differentiable.
                let (_, indices) = x[0].read().max_pool2d_with_indices(spec);
                vec![Some(scatter_to(g, Arc::new(indices), x[0].shape()))]
            },
            move |g, x, _| vec![Some(x[0].read().max_pool2d_input_grad(g, spec))],
        ))
    }

    /// [`try_max_pool2d`](Self::try_max_pool2d), panicking at the caller's line.
    #[track_caller]
    pub fn max_pool2d(&self, spec: Pool2dSpec) -> Var {
        crate::or_panic(self.try_max_pool2d(spec))
    }
}

#[cfg(test)]
mod tests {
    use nabla_tensor::Pool2dSpec;

    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0, 7.0, 6.0, 1.0, 2.0, 0.0, 1.0, 3.0, 4.0], &[1, 1, 4, 4]);
        let y = x.max_pool2d(Pool2dSpec::new([2, 2]));
        assert_eq!(y.value().to_vec_f64(), vec![5.0, 9.0, 7.0, 4.0]);
        let g = y.sum().backward().get(&x).unwrap().to_vec_f64();
        let mut expected = vec![0.0; 16];
        for i in [1, 6, 8, 15] {
            expected[i] = 1.0;
        }
        assert_eq!(g, expected);
    }
}
