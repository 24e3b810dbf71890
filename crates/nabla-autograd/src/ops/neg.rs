//! Negation: `y = −x`; `∂y/∂x = −1`, so `x̄ = −ȳ`.

use crate::Var;

impl Var {
    /// `−self` elementwise.
    pub fn neg(&self) -> Var {
        Var::from_op("neg", self.value().neg(), &[self], |g, _, _| vec![Some(g.neg())])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, -2.0], &[2]);
        let y = x.neg();
        let expected: &[f64] = &[-1.0, 2.0];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[-1.0, -1.0];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
