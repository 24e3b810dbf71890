//! Mean and variance over axes, composed from `sum_axes` and arithmetic.
//!
//! `mean = Σx / n`, `var = Σ(x − mean)² / (n − correction)`.

use crate::Var;

fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&d| shape.get(d).copied().unwrap_or(1)).product()
}

impl Var {
    /// Mean over `axes` (kept as extent-1 axes when `keepdim`).
    #[track_caller]
    pub fn mean_axes(&self, axes: &[usize], keepdim: bool) -> Var {
        let n = count(self.shape(), axes);
        self.sum_axes(axes, keepdim).mul_scalar(1.0 / n as f64)
    }

    /// Mean of all elements, as a rank-0 `Var`.
    pub fn mean(&self) -> Var {
        let n = self.value().len();
        self.sum().mul_scalar(1.0 / n as f64)
    }

    /// Variance over `axes`; `correction = 0` is the population variance (BatchNorm's,
    /// LayerNorm's), `1` the unbiased sample variance.
    #[track_caller]
    pub fn var_axes(&self, axes: &[usize], keepdim: bool, correction: usize) -> Var {
        let n = count(self.shape(), axes);
        let centred = self.sub(&self.mean_axes(axes, true));
        centred.square().sum_axes(axes, keepdim).mul_scalar(1.0 / (n as f64 - correction as f64))
    }

    /// `self²` elementwise (as `self ⊙ self`).
    pub fn square(&self) -> Var {
        self.mul(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 4.0, 9.0, 0.0], &[2, 3]);
        assert_eq!(x.mean_axes(&[1], false).value().to_vec_f64(), vec![2.0, 13.0 / 3.0]);
        assert!((x.var_axes(&[1], false, 1).value().to_vec_f64()[0] - 1.0).abs() < 1e-15);
        assert_eq!(x.mean().item(), 19.0 / 6.0);
    }
}
