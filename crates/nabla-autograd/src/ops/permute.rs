//! Permute: reorder the axes. `y = permute(x, order)` means `y`'s axis `i` is `x`'s axis `order[i]`.
//!
//! Values move but do not change, so the gradient moves back with the inverse permutation:
//! `x̄ = permute(ȳ, order⁻¹)`. Transposes are permutes; none of them copies data.

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// Reorders the axes; a [`ShapeError`] if `order` is not a permutation of the axes.
    pub fn try_permute(&self, order: &[usize]) -> Result<Var, ShapeError> {
        let value = self.read().try_permute(order)?;
        let mut inverse = vec![0; order.len()];
        for (i, &o) in order.iter().enumerate() {
            inverse[o] = i;
        }
        Ok(Var::from_op("permute", value, &[self], move |g, _, _| vec![Some(g.permute(&inverse))]))
    }

    /// Reorders the axes. Panics at the caller's line if `order` is not a permutation.
    #[track_caller]
    pub fn permute(&self, order: &[usize]) -> Var {
        crate::or_panic(self.try_permute(order))
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Var {
        let rank = self.ndim();
        assert!(axis_a < rank && axis_b < rank, "transpose: axes {axis_a}, {axis_b} must be below the rank {rank}");
        // The permutation that exchanges two axes is its own inverse, so the gradient is
        // swapped back the same way.
        let value = self.read().transpose(axis_a, axis_b);
        Var::from_op("permute", value, &[self], move |g, _, _| vec![Some(g.transpose(axis_a, axis_b))])
    }

    /// Swaps the last two axes (the batched matrix transpose).
    #[track_caller]
    pub fn t(&self) -> Var {
        let rank = self.ndim();
        assert!(rank >= 2, "t: needs at least 2 axes, got shape {:?}", self.shape());
        self.transpose(rank - 2, rank - 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]);
        let y = x.permute(&[2, 0, 1]);
        assert_eq!(y.shape(), vec![3, 1, 2]);
        assert_eq!(y.value().to_vec_f64(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let g = y.backward_with(&t(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], &[3, 1, 2]));
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
