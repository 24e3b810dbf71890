//! Natural logarithm: `y = ln x`; `∂y/∂x = 1/x`, so `x̄ = ȳ / x`.

use crate::Var;

impl Var {
    /// `ln self` elementwise (NaN for negative values).
    pub fn ln(&self) -> Var {
        Var::from_op("ln", self.value().ln(), &[self], |g, x, _| vec![Some(g.div(&x[0]))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 4.0], &[2]);
        let y = x.ln();
        let expected: &[f64] = &[0.0, 4.0f64.ln()];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[1.0, 0.25];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
