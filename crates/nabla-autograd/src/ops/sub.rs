//! Subtraction with broadcasting: `z = x − y`.
//!
//! `∂z/∂x = 1`, `∂z/∂y = −1`, so `x̄ = z̄` and `ȳ = −z̄`, each summed over broadcast axes (and
//! computed only for an input that needs a gradient).

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

impl Var {
    /// `self − other`, broadcasting; a [`ShapeError`] when the shapes do not broadcast.
    pub fn try_sub(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = Var::read_pair(self, other, Tensor::try_sub)?;
        Ok(Var::from_op("sub", value, &[self, other], |g, x, _| {
            vec![
                x[0].requires_grad().then(|| g.sum_to(x[0].shape())),
                x[1].requires_grad().then(|| g.neg().sum_to(x[1].shape())),
            ]
        }))
    }

    /// `self − other`, broadcasting. Panics at the caller's line when the shapes do not broadcast.
    #[track_caller]
    pub fn sub(&self, other: &Var) -> Var {
        crate::or_panic(self.try_sub(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let (x, y) = (v(&[5.0, 7.0], &[2]), v(&[1.0], &[1]));
        let z = x.sub(&y);
        assert_eq!(z.value().to_vec_f64(), vec![4.0, 6.0]);
        let g = z.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 1.0]);
        assert_eq!(g.get(&y).unwrap().to_vec_f64(), vec![-2.0]);
    }
}
