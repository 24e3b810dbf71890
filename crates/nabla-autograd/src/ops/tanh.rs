//! Hyperbolic tangent: `y = tanh x`; `∂y/∂x = 1 − tanh²x = 1 − y²`, so `x̄ = ȳ ⊙ (1 − y²)`.

use crate::Var;

impl Var {
    /// `tanh self` elementwise.
    pub fn tanh(&self) -> Var {
        Var::from_op("tanh", self.value().tanh(), &[self], |g, _, y| {
            vec![Some(g.mul(&y.square().neg().add_scalar(1.0)))]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[0.0, 1.0], &[2]);
        let y = x.tanh();
        let expected: &[f64] = &[0.0, 1.0f64.tanh()];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[1.0, 1.0 - 1.0f64.tanh().powi(2)];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
