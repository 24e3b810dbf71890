//! `sum_to` and `broadcast_to`: the pair that makes broadcasting differentiable.
//!
//! `broadcast_to` copies `x` along new or extent-1 axes; each copy receives gradient, so
//! `x̄ = sum_to(ȳ, shape(x))`. `sum_to` adds those copies back up; each element feeds every
//! copy, so `x̄ = broadcast_to(ȳ, shape(x))`. Each is the other's adjoint (and backward).

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// Sums down to `shape`, undoing a broadcast from `shape`; a [`ShapeError`] if `self`'s
    /// shape is not a broadcast of `shape`.
    pub fn try_sum_to(&self, shape: &[usize]) -> Result<Var, ShapeError> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let value = self.read().try_sum_to(shape)?;
        Ok(Var::from_op("sum_to", value, &[self], |g, x, _| vec![Some(g.broadcast_to(x[0].shape()))]))
    }

    /// [`try_sum_to`](Self::try_sum_to), panicking at the caller's line.
    #[track_caller]
    pub fn sum_to(&self, shape: &[usize]) -> Var {
        crate::or_panic(self.try_sum_to(shape))
    }

    /// Repeats along broadcast axes to fill `shape`; a [`ShapeError`] if it does not broadcast.
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Var, ShapeError> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let value = self.read().try_broadcast_to(shape)?;
        Ok(Var::from_op("broadcast_to", value, &[self], |g, x, _| vec![Some(g.sum_to(x[0].shape()))]))
    }

    /// [`try_broadcast_to`](Self::try_broadcast_to), panicking at the caller's line.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Var {
        crate::or_panic(self.try_broadcast_to(shape))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0], &[2, 1]);
        let y = x.broadcast_to(&[2, 3]);
        assert_eq!(y.value().to_vec_f64(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![3.0, 3.0]);
        let z = v(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let s = z.sum_to(&[2]);
        assert_eq!(s.value().to_vec_f64(), vec![4.0, 6.0]);
        assert_eq!(s.sum().backward().get(&z).unwrap().to_vec_f64(), vec![1.0; 4]);
    }
}
