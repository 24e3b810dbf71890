//! Selecting slices by index along an axis: `y = x[indices]` on `axis` (an embedding lookup is
//! `weight.index_select(0, token_ids)`).
//!
//! `y`'s slice `k` is `x`'s slice `indices[k]`, so `x̄` adds `ȳ`'s slice `k` into slice
//! `indices[k]` — repeated indices accumulate: `x̄ = index_add(ȳ)`. `index_add` is linear and
//! its adjoint is `index_select`, so each is the other's backward.

use nabla_tensor::ShapeError;

use crate::Var;

impl Var {
    /// The slices at `indices` along `axis`; a [`ShapeError`] naming an index out of range.
    pub fn try_index_select(&self, axis: usize, indices: &[usize]) -> Result<Var, ShapeError> {
        let value = self.value().try_index_select(axis, indices)?;
        let indices = indices.to_vec();
        Ok(Var::from_op("index_select", value, &[self], move |g, x, _| {
            vec![Some(g.index_add(axis, &indices, x[0].shape()[axis]))]
        }))
    }

    /// [`try_index_select`](Self::try_index_select), panicking at the caller's line.
    #[track_caller]
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Var {
        crate::or_panic(self.try_index_select(axis, indices))
    }

    /// Zeros with `extent` along `axis`, with `self`'s slice `k` added into slice `indices[k]`.
    #[track_caller]
    pub fn index_add(&self, axis: usize, indices: &[usize], extent: usize) -> Var {
        let value = self.value().index_add(axis, indices, extent);
        let indices = indices.to_vec();
        Var::from_op("index_add", value, &[self], move |g, _, _| vec![Some(g.index_select(axis, &indices))])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let table = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        let rows = table.index_select(0, &[2, 0, 2]);
        assert_eq!(rows.value().to_vec_f64(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        let g = rows.sum().backward();
        assert_eq!(g.get(&table).unwrap().to_vec_f64(), vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    }
}
