//! Softmax and log-softmax along an axis as single ops (fused; `softmax_composed` and
//! `log_softmax_composed` in `functional/softmax.rs` are their gradient-check oracles).
//!
//! With `y = softmax(x)` along a lane, `∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ)`, so the vector–Jacobian
//! product needs only the output and one dot product per lane:
//!
//! ```text
//! softmax:      x̄ = y ⊙ (ȳ − Σⱼ ȳⱼ yⱼ)
//! log_softmax:  x̄ = ȳ − softmax(x) · Σⱼ ȳⱼ        (softmax(x) = e^y)
//! ```
//!
//! Composed from max, subtract, exp, sum and divide, softmax records five ops and its backward
//! makes as many passes over the `[batch, heads, t, t]` attention scores; fused it is one op
//! and one pass each way (`nabla_tensor::Tensor::softmax_backward`). When the backward pass is
//! recorded (second derivatives), the same formulas are written with differentiable ops.

use crate::Var;

impl Var {
    /// Softmax along `axis`: positive values that sum to 1 (see `nabla_tensor`'s softmax for
    /// how it stays finite).
    #[track_caller]
    pub fn softmax(&self, axis: usize) -> Var {
        let value = crate::or_panic(self.value().try_softmax(axis));
        Var::from_fused_op(
            "softmax",
            value,
            &[self],
            move |g, _, y| vec![Some(y.mul(&g.sub(&g.mul(y).sum_axes(&[axis], true))))],
            move |g, _, y| vec![Some(y.read().softmax_backward(g, axis))],
        )
    }

    /// `log softmax` along `axis`: `x − logsumexp(x)`, finite wherever `x` is.
    #[track_caller]
    pub fn log_softmax(&self, axis: usize) -> Var {
        let value = crate::or_panic(self.value().try_log_softmax(axis));
        Var::from_fused_op(
            "log_softmax",
            value,
            &[self],
            move |g, _, y| vec![Some(g.sub(&y.exp().mul(&g.sum_axes(&[axis], true))))],
            move |g, _, y| vec![Some(y.read().log_softmax_backward(g, axis))],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // Two equal logits: y = [½, ½]; Σ y = 1 whatever x is, so its gradient is 0, and the
        // gradient of y₀ is y₀(1 − y₀) = ¼ and −y₀y₁ = −¼.
        let x = v(&[3.0, 3.0], &[1, 2]);
        let y = x.softmax(1);
        assert_eq!(y.value().to_vec_f64(), vec![0.5, 0.5]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![0.0, 0.0]);
        let first = y.mul(&crate::Var::constant(nabla_tensor::Tensor::from_vec(vec![1.0f64, 0.0], &[1, 2])));
        assert_eq!(first.sum().backward().get(&x).unwrap().to_vec_f64(), vec![0.25, -0.25]);
        // log_softmax: ȳ = 1 everywhere gives x̄ = 1 − 2·y = 0 (up to rounding of e^(ln ½)).
        let l = x.log_softmax(1);
        assert!(l.sum().backward().get(&x).unwrap().to_vec_f64().iter().all(|g| g.abs() < 1e-15));
    }
}
