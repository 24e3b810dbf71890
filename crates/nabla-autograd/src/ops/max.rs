//! Maximum over axes: `y = max_{axes} x`.
//!
//! The maximum moves only with the element that attains it: `∂y/∂xᵢ = [xᵢ = y] / k`, where `k`
//! counts the elements tied for the maximum (so ties share the gradient evenly). Hence
//! `x̄ = ȳ ⊙ [x = y] / k`, with `ȳ`, `y` and `k` spread back along the reduced axes.

use nabla_tensor::ShapeError;

use crate::ops::sum::expand_back;
use crate::Var;

impl Var {
    /// Maximum over `axes`; a [`ShapeError`] on a bad or repeated axis.
    pub fn try_max_axes(&self, axes: &[usize], keepdim: bool) -> Result<Var, ShapeError> {
        let value = self.value().try_max_axes(axes, keepdim)?;
        let axes = axes.to_vec();
        Ok(Var::from_op("max", value, &[self], move |g, x, y| {
            let x = x[0].value();
            let winners = x.eq(&expand_back(y, x.shape(), &axes).value());
            let ties = winners.sum_axes(&axes, true);
            let share = Var::fixed(winners.div(&ties));
            vec![Some(expand_back(g, x.shape(), &axes).mul(&share))]
        }))
    }

    /// Maximum over `axes`. Panics at the caller's line on a bad axis.
    #[track_caller]
    pub fn max_axes(&self, axes: &[usize], keepdim: bool) -> Var {
        crate::or_panic(self.try_max_axes(axes, keepdim))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 3.0, 2.0, 4.0, 4.0, 0.0], &[2, 3]);
        let y = x.max_axes(&[1], false);
        assert_eq!(y.value().to_vec_f64(), vec![3.0, 4.0]);
        let g = y.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.0, 1.0, 0.0, 0.5, 0.5, 0.0]);
    }
}
