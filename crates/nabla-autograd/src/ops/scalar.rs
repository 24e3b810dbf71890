//! Arithmetic with a constant scalar: `y = x + c` and `y = c·x`.
//!
//! `∂(x + c)/∂x = 1`, so `x̄ = ȳ`; `∂(c·x)/∂x = c`, so `x̄ = c·ȳ`.

use crate::Var;

impl Var {
    /// `self + c` elementwise for a constant `c`.
    pub fn add_scalar(&self, c: f64) -> Var {
        let value = self.read().add_scalar(c);
        Var::from_op("add_scalar", value, &[self], |g, _, _| vec![Some(g.clone())])
    }

    /// `c · self` elementwise for a constant `c`.
    pub fn mul_scalar(&self, c: f64) -> Var {
        let value = self.read().mul_scalar(c);
        Var::from_op("mul_scalar", value, &[self], move |g, _, _| vec![Some(g.mul_scalar(c))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0], &[2]);
        let y = x.mul_scalar(3.0).add_scalar(1.0);
        assert_eq!(y.value().to_vec_f64(), vec![4.0, 7.0]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![3.0, 3.0]);
    }
}
