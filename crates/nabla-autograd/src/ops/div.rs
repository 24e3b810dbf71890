//! Elementwise division with broadcasting: `z = x / y`.
//!
//! `∂z/∂x = 1/y`, `∂z/∂y = −x/y² = −z/y`, so `x̄ = z̄ / y` and `ȳ = −z̄ ⊙ z / y`, each summed
//! over broadcast axes.

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// `self / other` (elementwise), broadcasting; a [`ShapeError`] on a shape mismatch.
    pub fn try_div(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = self.value().try_div(&other.value())?;
        Ok(Var::from_op("div", value, &[self, other], |g, x, z| {
            let gx = g.div(&x[1]);
            let gy = gx.mul(z).neg();
            vec![Some(gx.sum_to(x[0].shape())), Some(gy.sum_to(x[1].shape()))]
        }))
    }

    /// `self / other` (elementwise), broadcasting. Panics at the caller's line on a shape mismatch.
    #[track_caller]
    pub fn div(&self, other: &Var) -> Var {
        crate::or_panic(self.try_div(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let (x, y) = (v(&[6.0], &[1]), v(&[2.0], &[1]));
        let z = x.div(&y);
        assert_eq!(z.item(), 3.0);
        let g = z.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.5]);
        assert_eq!(g.get(&y).unwrap().to_vec_f64(), vec![-1.5]);
    }
}
