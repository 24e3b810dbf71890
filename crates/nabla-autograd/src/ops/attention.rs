//! Scaled dot-product attention as one op (fused; [`attention_composed`] is its gradient-check
//! oracle and the form its backward takes when second derivatives are wanted).
//!
//! ```text
//! O = softmax_rows(s·Q·Kᵀ, hidden keys → weight 0)·V        (causal: key j hidden from query i if j > i)
//! ```
//!
//! | operand | shape |
//! |---|---|
//! | `q` (`self`) | `[..., tq, d]` |
//! | `k` | `[..., tk, d]` |
//! | `v` | `[..., tk, dv]` |
//! | result | `[..., tq, dv]` |
//!
//! Composed, that is a product, a scale, a masked fill, a softmax and a product: five passes
//! over the `[..., tq, tk]` scores, each a tensor of its own. Fused it is one op, one task per
//! matrix of the batch with its scores in cache; the kernels and the backward formula are in
//! `nabla_tensor::attention`.

use nabla_tensor::Tensor;

use crate::backward::grad;
use crate::Var;

impl Var {
    /// `softmax(scale·q·kᵀ)·v` over the last two axes, with `q = self` (`[..., tq, d]`), `k`
    /// (`[..., tk, d]`) and `v` (`[..., tk, dv]`); when `causal`, query `i` reads only keys
    /// `0..=i`. Kernels and backward formula in `nabla_tensor::attention`.
    ///
    /// # Panics
    /// If the shapes do not fit (the leading axes must be equal).
    #[track_caller]
    pub fn attention(&self, k: &Var, v: &Var, scale: f64, causal: bool) -> Var {
        let out = self.value().attention_forward(&k.value(), &v.value(), scale, causal);
        let weights = out.weights;
        Var::from_fused_op(
            "attention",
            out.output,
            &[self, k, v],
            // Recording the backward pass: the vector–Jacobian product of the composed form,
            // taken through its own recorded tape.
            move |g, x, _| {
                let out = attention_composed(&x[0], &x[1], &x[2], scale, causal);
                grad(&out.mul(g).sum(), &[&x[0], &x[1], &x[2]], true)
            },
            move |g, x, _| {
                let (dq, dk, dv) = x[0].value().attention_backward(&x[1].value(), &x[2].value(), &weights, g, scale);
                vec![Some(dq), Some(dk), Some(dv)]
            },
        )
    }
}

/// The same attention composed from primitive ops (product, scale, masked fill with `−∞`,
/// softmax, product): the oracle of the fused op.
pub fn attention_composed(q: &Var, k: &Var, v: &Var, scale: f64, causal: bool) -> Var {
    let scores = q.matmul(&k.t()).mul_scalar(scale);
    let last = scores.ndim() - 1;
    let scores = if causal {
        let (tq, tk) = (scores.shape()[last - 1], scores.shape()[last]);
        let later = (0..tq * tk).map(|n| if n % tk > n / tk { 1.0f32 } else { 0.0 }).collect();
        scores.masked_fill(&Tensor::from_vec(later, &[tq, tk]), f64::NEG_INFINITY)
    } else {
        scores
    };
    scores.softmax(last).matmul(v)
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // One query, two keys with equal scores: the output is the mean of the values; causal,
        // the first query reads only the first value.
        let q = v(&[0.0, 0.0], &[2, 1]);
        let k = v(&[1.0, 2.0], &[2, 1]);
        let vals = v(&[10.0, 20.0], &[2, 1]);
        assert_eq!(q.attention(&k, &vals, 1.0, false).value().to_vec_f64(), vec![15.0, 15.0]);
        assert_eq!(q.attention(&k, &vals, 1.0, true).value().to_vec_f64(), vec![10.0, 15.0]);
        // ∂O₀/∂v = (½, ½) without the mask.
        let g = q.attention(&k, &vals, 1.0, false).narrow(0, 0, 1).sum().backward();
        assert_eq!(g.get(&vals).unwrap().to_vec_f64(), vec![0.5, 0.5]);
    }
}
