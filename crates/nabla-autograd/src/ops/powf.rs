//! Power with a constant exponent: `y = xᵖ`.
//!
//! `∂y/∂x = p·xᵖ⁻¹`, so `x̄ = ȳ ⊙ p·xᵖ⁻¹`. (For non-integer `p`, `x` must be positive.)

use crate::Var;

impl Var {
    /// `self^p` elementwise for a constant `p`.
    pub fn powf(&self, p: f64) -> Var {
        Var::from_op("powf", self.value().powf(p), &[self], move |g, x, _| {
            vec![Some(g.mul(&x[0].powf(p - 1.0)).mul_scalar(p))]
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[2.0, 3.0], &[2]);
        let y = x.powf(3.0);
        assert_eq!(y.value().to_vec_f64(), vec![8.0, 27.0]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![12.0, 27.0]);
    }
}
