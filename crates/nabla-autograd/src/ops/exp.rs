//! Exponential: `y = eˣ`; `∂y/∂x = eˣ = y`, so `x̄ = ȳ ⊙ y`.

use crate::Var;

// ANCHOR: exp
impl Var {
    /// `e^self` elementwise.
    pub fn exp(&self) -> Var {
        Var::from_op("exp", self.value().exp(), &[self], |g, _, y| vec![Some(g.mul(y))])
    }
}
// ANCHOR_END: exp

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[0.0, 1.0], &[2]);
        let y = x.exp();
        let expected: &[f64] = &[1.0, std::f64::consts::E];
        for (a, b) in y.value().to_vec_f64().iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let expected_grad: &[f64] = &[1.0, std::f64::consts::E];
        let g = y.sum().backward();
        for (a, b) in g.get(&x).unwrap().to_vec_f64().iter().zip(expected_grad) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
