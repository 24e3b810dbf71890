//! Sum over axes: `y = Σ_{axes} x`.
//!
//! Every summed element contributes with slope 1, so `x̄ = ȳ` copied back along the summed
//! axes: reshape `ȳ` to keep the reduced axes as extent 1, then broadcast it to `x`'s shape.
//! (When the reduced axes were kept, or are the leading ones — a full sum, a sum over the
//! batch — `ȳ` already lines up with `x` from the right and is broadcast as it is.)

use nabla_tensor::ShapeError;

use crate::Var;

/// `g` (the gradient of a reduction over `axes` of `x`) spread back to `x`'s shape.
pub(crate) fn expand_back(g: &Var, x_shape: &[usize], axes: &[usize]) -> Var {
    let leading = (0..axes.len()).all(|d| axes.contains(&d));
    if leading || g.ndim() == x_shape.len() {
        return g.broadcast_to(x_shape);
    }
    let kept: Vec<usize> = (0..x_shape.len()).map(|d| if axes.contains(&d) { 1 } else { x_shape[d] }).collect();
    g.reshape(&kept).broadcast_to(x_shape)
}

impl Var {
    /// Sum over `axes`, keeping them as extent-1 axes when `keepdim`; a [`ShapeError`] on a
    /// bad or repeated axis.
    pub fn try_sum_axes(&self, axes: &[usize], keepdim: bool) -> Result<Var, ShapeError> {
        let value = self.read().try_sum_axes(axes, keepdim)?;
        let axes = axes.to_vec();
        Ok(Var::from_op("sum", value, &[self], move |g, x, _| vec![Some(expand_back(g, x[0].shape(), &axes))]))
    }

    /// Sum over `axes`. Panics at the caller's line on a bad axis.
    #[track_caller]
    pub fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Var {
        crate::or_panic(self.try_sum_axes(axes, keepdim))
    }

    /// Sum of all elements, as a rank-0 `Var` (the usual last step before [`Var::backward`]).
    pub fn sum(&self) -> Var {
        let all: Vec<usize> = (0..self.ndim()).collect();
        self.sum_axes(&all, false)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{t, v};

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let y = x.sum_axes(&[1], false);
        assert_eq!(y.value().to_vec_f64(), vec![6.0, 15.0]);
        let g = y.backward_with(&t(&[1.0, 2.0], &[2]));
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(x.sum().item(), 21.0);
    }
}
