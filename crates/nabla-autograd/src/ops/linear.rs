//! The dense layer's product as one op: `Y = X·Wᵀ + b` (fused; the composed form is
//! `x.matmul(&w.t()).add(&b)`, which is this op's gradient-check oracle).
//!
//! Composed, the layer records three ops (transpose, matmul, broadcast add) and its backward
//! builds a transposed weight gradient that the optimizer then has to copy into row-major
//! order. Fused, the forward writes the bias into the output and lets gemm add the product
//! (see `nabla_tensor::linear`), and the backward is three matrix-shaped results:
//!
//! ```text
//! X̄ = Ȳ · W        [rows, out]·[out, in] → [rows, in]
//! W̄ = Ȳᵀ · X       [out, rows]·[rows, in] → [out, in]   (row-major, like W)
//! b̄ = Σ_rows Ȳ     [out]
//! ```
//!
//! Leading axes of `X` (`[batch, time, in]`) are folded into the row axis, so one large
//! product replaces a batch of small ones. The backward is written with differentiable ops,
//! so second derivatives work as for the composed form.

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// `self·Wᵀ + b` for `self` `[..., in]`, `weight` `[out, in]`, `bias` `[out]`; a
    /// [`ShapeError`] when the shapes do not fit.
    pub fn try_linear(&self, weight: &Var, bias: Option<&Var>) -> Result<Var, ShapeError> {
        let value = self.value().try_linear(&weight.value(), bias.map(|b| b.value()).as_ref())?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Ok(Var::from_op("linear", value, &inputs, |g, x, _| {
            let (out_features, in_features) = (x[1].shape()[0], x[1].shape()[1]);
            let rows = x[0].value().len() / in_features.max(1);
            let g2 = g.reshape(&[rows, out_features]);
            let x2 = x[0].reshape(&[rows, in_features]);
            let mut grads = vec![Some(g2.matmul(&x[1]).reshape(&x[0].shape())), Some(g2.t().matmul(&x2))];
            if x.len() == 3 {
                grads.push(Some(g2.sum_axes(&[0], false)));
            }
            grads
        }))
    }

    /// [`try_linear`](Self::try_linear), panicking at the caller's line.
    #[track_caller]
    pub fn linear(&self, weight: &Var, bias: Option<&Var>) -> Var {
        crate::or_panic(self.try_linear(weight, bias))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0], &[1, 2]);
        let w = v(&[1.0, 0.0, 1.0, 1.0, 0.0, -1.0], &[3, 2]);
        let b = v(&[0.5, 0.5, 0.5], &[3]);
        let y = x.linear(&w, Some(&b));
        assert_eq!(y.value().to_vec_f64(), vec![1.5, 3.5, -1.5]);
        let g = y.sum().backward();
        // X̄ = 1·W: column sums of W; W̄ = 1ᵀ·X: every row is X; b̄ = 1.
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![2.0, 0.0]);
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
        assert!(g.get(&w).unwrap().is_contiguous());
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![1.0; 3]);
    }
}
