//! Absolute value: `y = |x|`; `∂y/∂x = sign(x)` (0 at 0, a subgradient), so `x̄ = ȳ ⊙ sign(x)`.

use crate::Var;

impl Var {
    /// `|self|` elementwise.
    pub fn abs(&self) -> Var {
        Var::from_op("abs", self.value().abs(), &[self], |g, x, _| vec![Some(g.mul(&Var::fixed(x[0].value().sign())))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[-3.0, 2.0], &[2]);
        let y = x.abs();
        let expected: &[f64] = &[3.0, 2.0];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[-1.0, 1.0];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
