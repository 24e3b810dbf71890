//! Square root: `y = √x`; `∂y/∂x = 1/(2√x) = 1/(2y)`, so `x̄ = ȳ / (2y)`.

use crate::Var;

impl Var {
    /// `√self` elementwise.
    pub fn sqrt(&self) -> Var {
        Var::from_op("sqrt", self.value().sqrt(), &[self], |g, _, y| vec![Some(g.div(y).mul_scalar(0.5))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[4.0, 9.0], &[2]);
        let y = x.sqrt();
        let expected: &[f64] = &[2.0, 3.0];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[0.25, 1.0 / 6.0];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
