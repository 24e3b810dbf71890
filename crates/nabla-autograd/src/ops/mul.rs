//! Elementwise product with broadcasting: `z = x ⊙ y`.
//!
//! `∂z/∂x = y`, `∂z/∂y = x`, so `x̄ = z̄ ⊙ y` and `ȳ = z̄ ⊙ x`, each summed over broadcast axes
//! (and computed only for an input that needs a gradient).
//!
//! When both factors are the same `Var` (`x ⊙ x`, which is how `square` is written), the two
//! products are the same `z̄ ⊙ x`: it is computed once and sent to both inputs, where the
//! backward pass adds the two shares into `x̄ = 2·z̄ ⊙ x`.

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

impl Var {
    /// `self ⊙ other` (elementwise), broadcasting; a [`ShapeError`] when the shapes do not broadcast.
    pub fn try_mul(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = Var::read_pair(self, other, Tensor::try_mul)?;
        Ok(Var::from_op("mul", value, &[self, other], |g, x, _| {
            if x[0].id() == x[1].id() {
                let share = g.mul(&x[0]);
                return vec![Some(share.clone()), Some(share)];
            }
            vec![
                x[0].requires_grad().then(|| g.mul(&x[1]).sum_to(x[0].shape())),
                x[1].requires_grad().then(|| g.mul(&x[0]).sum_to(x[1].shape())),
            ]
        }))
    }

    /// `self ⊙ other` (elementwise), broadcasting. Panics at the caller's line on a shape mismatch.
    #[track_caller]
    pub fn mul(&self, other: &Var) -> Var {
        crate::or_panic(self.try_mul(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let (x, y) = (v(&[2.0, 3.0], &[2]), v(&[4.0, 5.0], &[2]));
        let z = x.mul(&y);
        assert_eq!(z.value().to_vec_f64(), vec![8.0, 15.0]);
        let g = z.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![4.0, 5.0]);
        assert_eq!(g.get(&y).unwrap().to_vec_f64(), vec![2.0, 3.0]);
    }
}
