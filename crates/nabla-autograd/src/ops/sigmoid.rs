//! Logistic sigmoid: `y = σ(x) = 1/(1 + e⁻ˣ)`; `∂y/∂x = σ(x)(1 − σ(x)) = y(1 − y)`, so `x̄ = ȳ ⊙ y ⊙ (1 − y)`.

use crate::Var;

impl Var {
    /// The logistic sigmoid `1/(1 + e^(−self))`, elementwise.
    pub fn sigmoid(&self) -> Var {
        Var::from_op("sigmoid", self.value().sigmoid(), &[self], |g, _, y| {
            vec![Some(g.mul(y).mul(&y.neg().add_scalar(1.0)))]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[0.0, 2.0], &[2]);
        let y = x.sigmoid();
        let expected: &[f64] = &[0.5, 1.0 / (1.0 + (-2.0f64).exp())];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[0.25, (1.0 / (1.0 + (-2.0f64).exp())) * (1.0 - 1.0 / (1.0 + (-2.0f64).exp()))];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
