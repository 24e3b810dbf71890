//! Addition with broadcasting: `z = x + y`.
//!
//! `∂z/∂x = 1`, `∂z/∂y = 1`, so `x̄ = z̄` and `ȳ = z̄`, each summed back over the axes that
//! broadcasting stretched (see [`Var::sum_to`]). An input that needs no gradient (data, a
//! target) gets none, so no work is spent on it.

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

impl Var {
    /// `self + other`, broadcasting; returns a [`ShapeError`] when the shapes do not broadcast.
    pub fn try_add(&self, other: &Var) -> Result<Var, ShapeError> {
        let value = Var::read_pair(self, other, Tensor::try_add)?;
        Ok(Var::from_op("add", value, &[self, other], |g, x, _| {
            x.iter().map(|x| x.requires_grad().then(|| g.sum_to(x.shape()))).collect()
        }))
    }

    /// `self + other`, broadcasting. Panics at the caller's line when the shapes do not broadcast.
    #[track_caller]
    pub fn add(&self, other: &Var) -> Var {
        crate::or_panic(self.try_add(other))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};

    #[test]
    fn golden() {
        let (x, y) = (v(&[1.0, 2.0, 3.0, 4.0], &[2, 2]), v(&[10.0, 20.0], &[2]));
        let z = x.add(&y);
        assert_eq!(z.value().to_vec_f64(), vec![11.0, 22.0, 13.0, 24.0]);
        let g = z.backward_with(&t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(g.get(&y).unwrap().to_vec_f64(), vec![4.0, 6.0]);
    }
}
