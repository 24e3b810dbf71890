//! Matrix product: `Z = X·Y`, batched, with broadcast batch axes.
//!
//! `Z[i, j] = Σ_p X[i, p]·Y[p, j]`, so `∂Z[i,j]/∂X[i,p] = Y[p,j]` and the vector–Jacobian
//! products are again matrix products:
//!
//! ```text
//! X̄ = Z̄ · Yᵀ      [m, n]·[n, k] → [m, k]
//! Ȳ = Xᵀ · Z̄      [k, m]·[m, n] → [k, n]
//! ```
//!
//! With batch axes the same holds per batch item; an operand that was broadcast over the
//! batch sums its gradient over it. `Yᵀ` is a strided view, so no transpose is copied.
//! A 1-D operand is a one-row (left) or one-column (right) matrix whose extra axis is dropped.

use nabla_tensor::ShapeError;

use crate::Var;

/// The product of operands with at least two axes each.
fn matmul_2d_or_more(a: &Var, b: &Var) -> Result<Var, ShapeError> {
    let value = a.value().try_matmul(&b.value())?;
    Ok(Var::from_op("matmul", value, &[a, b], |g, x, _| {
        let ga = g.matmul(&x[1].t()).sum_to(x[0].shape());
        let gb = x[0].t().matmul(g).sum_to(x[1].shape());
        vec![Some(ga), Some(gb)]
    }))
}

impl Var {
    /// The matrix product (see `nabla_tensor`'s matmul for the shapes accepted); a
    /// [`ShapeError`] when the inner dimensions differ or batch axes do not broadcast.
    pub fn try_matmul(&self, other: &Var) -> Result<Var, ShapeError> {
        if self.ndim() == 0 || other.ndim() == 0 {
            // Let the tensor kernel word the error.
            self.value().try_matmul(&other.value())?;
        }
        match (self.ndim(), other.ndim()) {
            (1, 1) => Ok(matmul_2d_or_more(&self.unsqueeze(0), &other.unsqueeze(1))?.reshape(&[])),
            (1, _) => {
                let z = matmul_2d_or_more(&self.unsqueeze(0), other)?;
                Ok(z.squeeze(z.ndim() - 2))
            }
            (_, 1) => {
                let z = matmul_2d_or_more(self, &other.unsqueeze(1))?;
                Ok(z.squeeze(z.ndim() - 1))
            }
            _ => matmul_2d_or_more(self, other),
        }
    }

    /// The matrix product. Panics at the caller's line when the shapes do not fit, naming both.
    #[track_caller]
    pub fn matmul(&self, other: &Var) -> Var {
        crate::or_panic(self.try_matmul(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let w = v(&[5.0, 6.0, 7.0, 8.0], &[2, 2]);
        let z = x.matmul(&w);
        assert_eq!(z.value().to_vec_f64(), vec![19.0, 22.0, 43.0, 50.0]);
        let g = z.sum().backward();
        // X̄ = 1·Wᵀ: row sums of W; W̄ = Xᵀ·1: column sums of X.
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![11.0, 15.0, 11.0, 15.0]);
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![4.0, 4.0, 6.0, 6.0]);
    }

    #[test]
    fn vector_operands() {
        let a = v(&[1.0, 2.0], &[2]);
        let m = v(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        assert_eq!(a.matmul(&m).value().to_vec_f64(), vec![7.0, 10.0]);
        assert_eq!(a.matmul(&a).value().shape(), &[] as &[usize]);
        assert_eq!(a.matmul(&a).item(), 5.0);
    }
}
