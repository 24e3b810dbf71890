//! Concatenation along an axis: `y = [x₀ | x₁ | … ]`.
//!
//! Each input occupies its own stretch of `y` along the axis, so its gradient is that stretch
//! of `ȳ`: `x̄ᵢ = ȳ[offsetᵢ : offsetᵢ + nᵢ]`. `stack` is unsqueeze + concat; `split` and
//! `chunk` are slices.

use nabla_tensor::{ShapeError, Tensor};

use crate::Var;

impl Var {
    /// Joins `vars` along an existing `axis`; a [`ShapeError`] naming the first input whose
    /// shape differs off that axis.
    pub fn try_concat(vars: &[Var], axis: usize) -> Result<Var, ShapeError> {
        let values: Vec<Tensor> = vars.iter().map(Var::value).collect();
        let value = Tensor::try_concat(&values, axis)?;
        let lengths: Vec<usize> = values.iter().map(|v| v.shape()[axis]).collect();
        let inputs: Vec<&Var> = vars.iter().collect();
        Ok(Var::from_op("concat", value, &inputs, move |g, _, _| {
            let mut offset = 0;
            lengths
                .iter()
                .map(|&n| {
                    let part = g.slice(axis, offset, offset + n, 1);
                    offset += n;
                    Some(part)
                })
                .collect()
        }))
    }

    /// Joins `vars` along `axis`. Panics at the caller's line when the shapes do not fit.
    #[track_caller]
    pub fn concat(vars: &[Var], axis: usize) -> Var {
        crate::or_panic(Var::try_concat(vars, axis))
    }

    /// Stacks equally shaped `vars` along a new `axis`.
    #[track_caller]
    pub fn stack(vars: &[Var], axis: usize) -> Var {
        let expanded: Vec<Var> = vars.iter().map(|v| v.unsqueeze(axis)).collect();
        Var::concat(&expanded, axis)
    }

    /// Splits along `axis` into parts of the given `sizes` (which must sum to the extent).
    #[track_caller]
    pub fn split(&self, axis: usize, sizes: &[usize]) -> Vec<Var> {
        let extent = self.shape()[axis];
        assert_eq!(
            sizes.iter().sum::<usize>(),
            extent,
            "split: sizes {sizes:?} must sum to the extent {extent} of axis {axis} of {:?}",
            self.shape()
        );
        let mut offset = 0;
        sizes
            .iter()
            .map(|&n| {
                let part = self.slice(axis, offset, offset + n, 1);
                offset += n;
                part
            })
            .collect()
    }

    /// Splits along `axis` into `n` parts of equal size (the last may be smaller), as PyTorch's `chunk`.
    #[track_caller]
    pub fn chunk(&self, n: usize, axis: usize) -> Vec<Var> {
        assert!(n > 0, "chunk: the number of chunks must be positive");
        let extent = self.shape()[axis];
        let size = extent.div_ceil(n).max(1);
        let mut sizes = vec![];
        let mut left = extent;
        while left > 0 {
            sizes.push(size.min(left));
            left -= size.min(left);
        }
        self.split(axis, &sizes)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};
    use crate::Var;

    #[test]
    fn golden() {
        let (a, b) = (v(&[1.0, 2.0], &[1, 2]), v(&[3.0, 4.0, 5.0, 6.0], &[2, 2]));
        let y = Var::concat(&[a.clone(), b.clone()], 0);
        assert_eq!(y.shape(), vec![3, 2]);
        let g = y.backward_with(&t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
        assert_eq!(g.get(&a).unwrap().to_vec_f64(), vec![1.0, 2.0]);
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![3.0, 4.0, 5.0, 6.0]);
        assert_eq!(Var::stack(&[a.clone(), a.clone()], 0).shape(), vec![2, 1, 2]);
        let parts = b.chunk(2, 1);
        assert_eq!(parts[1].value().to_vec_f64(), vec![4.0, 6.0]);
    }
}
