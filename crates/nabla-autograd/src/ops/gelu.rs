//! Exact GELU as one op (fused; `gelu_composed` in `functional/activations.rs`, built from
//! `erf`, is its gradient-check oracle):
//!
//! ```text
//! y = x·Φ(x)        x̄ = ȳ ⊙ (Φ(x) + x·φ(x))        Φ = normal CDF, φ = its density
//! ```
//!
//! Composed, GELU records five ops and its backward makes about eight passes over the MLP's
//! widest activation; fused, one op and one pass each way (`nabla_tensor::Tensor::gelu` and
//! `gelu_backward`). When the backward pass is recorded (second derivatives), the derivative
//! is written with differentiable ops.

use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

use crate::Var;

impl Var {
    /// Exact GELU, `x·Φ(x)`, elementwise (as PyTorch's `gelu` and Keras' `gelu(approximate=False)`).
    pub fn gelu(&self) -> Var {
        Var::from_fused_op(
            "gelu",
            self.read().gelu(),
            &[self],
            |g, x, _| {
                let x = &x[0];
                let cdf = x.mul_scalar(FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
                let pdf = x.square().mul_scalar(-0.5).exp().mul_scalar(0.5 * FRAC_2_SQRT_PI * FRAC_1_SQRT_2);
                vec![Some(g.mul(&cdf.add(&x.mul(&pdf))))]
            },
            |g, x, _| vec![Some(x[0].read().gelu_backward(g))],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // gelu(0) = 0 and gelu′(0) = Φ(0) = ½; gelu(1) = Φ(1), gelu′(1) = Φ(1) + φ(1).
        let x = v(&[0.0, 1.0], &[2]);
        let y = x.gelu();
        let (cdf1, pdf1) = (0.8413447460685429, 0.24197072451914337);
        let values = y.value().to_vec_f64();
        assert_eq!(values[0], 0.0);
        assert!((values[1] - cdf1).abs() < 1e-12);
        let g = y.sum().backward().get(&x).unwrap().to_vec_f64();
        assert!((g[0] - 0.5).abs() < 1e-12 && (g[1] - (cdf1 + pdf1)).abs() < 1e-12, "{g:?}");
    }
}
