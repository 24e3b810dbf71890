//! Elementwise maximum and minimum with broadcasting: `z = max(x, y)`, `z = min(x, y)`.
//!
//! The gradient goes to whichever operand was chosen: `∂max/∂x = [x > y]`, `∂max/∂y = [x < y]`.
//! Where `x = y` the derivative does not exist; nabla splits the gradient evenly (`½` each), as
//! PyTorch does, which keeps `max(x, x) = x` with gradient 1.

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

/// The share of the gradient that goes to `x`: 1 where `x` was chosen, ½ on ties, 0 elsewhere.
fn share_of_x(x: &Tensor, y: &Tensor, x_wins: fn(&Tensor, &Tensor) -> Tensor) -> Var {
    Var::fixed(x_wins(x, y).add(&x.eq(y).mul_scalar(0.5)))
}

fn select(name: &'static str, a: &Var, b: &Var, value: Tensor, x_wins: fn(&Tensor, &Tensor) -> Tensor) -> Var {
    Var::from_op(name, value, &[a, b], move |g, x, _| {
        let share = share_of_x(&x[0].value(), &x[1].value(), x_wins);
        let gx = g.mul(&share);
        let gy = g.sub(&gx);
        vec![Some(gx.sum_to(x[0].shape())), Some(gy.sum_to(x[1].shape()))]
    })
}

impl Var {
    /// `max(self, other)` elementwise, broadcasting; a [`ShapeError`] on a shape mismatch.
    pub fn try_maximum(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = self.value().try_maximum(&other.value())?;
        Ok(select("maximum", self, other, value, Tensor::gt))
    }

    /// `max(self, other)` elementwise, broadcasting. Panics at the caller's line on a shape mismatch.
    #[track_caller]
    pub fn maximum(&self, other: &Var) -> Var {
        crate::or_panic(self.try_maximum(other))
    }

    /// `min(self, other)` elementwise, broadcasting; a [`ShapeError`] on a shape mismatch.
    pub fn try_minimum(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = self.value().try_minimum(&other.value())?;
        Ok(select("minimum", self, other, value, Tensor::lt))
    }

    /// `min(self, other)` elementwise, broadcasting. Panics at the caller's line on a shape mismatch.
    #[track_caller]
    pub fn minimum(&self, other: &Var) -> Var {
        crate::or_panic(self.try_minimum(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let (x, y) = (v(&[1.0, 5.0, 2.0], &[3]), v(&[3.0, 4.0, 2.0], &[3]));
        let z = x.maximum(&y);
        assert_eq!(z.value().to_vec_f64(), vec![3.0, 5.0, 2.0]);
        let g = z.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.0, 1.0, 0.5]);
        assert_eq!(g.get(&y).unwrap().to_vec_f64(), vec![1.0, 0.0, 0.5]);
        let g = x.minimum(&y).sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 0.0, 0.5]);
    }
}
