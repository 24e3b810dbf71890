//! Rectified linear unit: `y = max(x, 0)`; `∂y/∂x = [x > 0]` (0 at 0), so `x̄ = ȳ ⊙ [x > 0]`.

use crate::Var;

impl Var {
    /// `max(self, 0)` elementwise.
    pub fn relu(&self) -> Var {
        Var::from_op("relu", self.value().relu(), &[self], |g, x, _| {
            vec![Some(g.mul(&Var::constant(x[0].value().gt_scalar(0.0))))]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[-1.0, 0.0, 2.0], &[3]);
        let y = x.relu();
        let expected: &[f64] = &[0.0, 0.0, 2.0];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[0.0, 0.0, 1.0];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
