//! Error function: `y = erf x = (2/√π) ∫₀ˣ e^(−t²) dt`; `∂y/∂x = (2/√π) e^(−x²)`, so `x̄ = ȳ ⊙ (2/√π) e^(−x²)`.

use crate::Var;

impl Var {
    /// `erf self` elementwise (the building block of exact GELU).
    pub fn erf(&self) -> Var {
        Var::from_op("erf", self.value().erf(), &[self], |g, x, _| {
            vec![Some(g.mul(&x[0].square().neg().exp().mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)))]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[0.0, 1.0], &[2]);
        let y = x.erf();
        let expected: &[f64] = &[0.0, 0.8427007929497149];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] =
            &[std::f64::consts::FRAC_2_SQRT_PI, std::f64::consts::FRAC_2_SQRT_PI * (-1.0f64).exp()];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
