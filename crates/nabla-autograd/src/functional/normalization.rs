//! Normalisation, composed from primitives:
//!
//! ```text
//! normalize(x) = (x − mean(x)) / √(var(x) + ε)      over the given axes
//! ```
//!
//! LayerNorm normalises each sample over its feature axes; BatchNorm normalises each channel
//! over the batch (and spatial) axes. Both then scale and shift by learned `γ`, `β`; the
//! layers in `nabla-layers` own those parameters and the running statistics.

use crate::Var;

impl Var {
    /// `(x − mean) / √(var + eps)` with mean and (population) variance over `axes`.
    #[track_caller]
    pub fn normalize(&self, axes: &[usize], eps: f64) -> Var {
        let centred = self.sub(&self.mean_axes(axes, true));
        let var = centred.square().mean_axes(axes, true);
        centred.div(&var.add_scalar(eps).sqrt())
    }

    /// The gradient of [`normalize`](Self::normalize) for the output gradient `g`, written
    /// with differentiable ops (the recorded backward of the fused BatchNorm and LayerNorm);
    /// also returns `x̂ = normalize(x)`. With `m` values per normalised group:
    ///
    /// ```text
    /// x̄ = (m·ḡ − Σ ḡ − x̂·Σ ḡ⊙x̂) / (m·√(σ² + ε))
    /// ```
    pub(crate) fn normalize_backward(&self, axes: &[usize], eps: f64, g: &Var) -> (Var, Var) {
        let shape = self.shape();
        let m = axes.iter().map(|&d| shape[d]).product::<usize>() as f64;
        let centred = self.sub(&self.mean_axes(axes, true));
        let std = centred.square().mean_axes(axes, true).add_scalar(eps).sqrt();
        let x_hat = centred.div(&std);
        let dx = g
            .mul_scalar(m)
            .sub(&g.sum_axes(axes, true))
            .sub(&x_hat.mul(&g.mul(&x_hat).sum_axes(axes, true)))
            .div(&std.mul_scalar(m));
        (dx, x_hat)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0, 3.0, 10.0, 10.0, 10.0], &[2, 3]);
        let y = x.normalize(&[1], 0.0).value().to_vec_f64();
        let s = (2.0f64 / 3.0).sqrt();
        assert!((y[0] + 1.0 / s).abs() < 1e-12 && y[1].abs() < 1e-12 && (y[2] - 1.0 / s).abs() < 1e-12);
        let z = x.normalize(&[1], 1e-5).value().to_vec_f64();
        assert!(z[3..].iter().all(|v| v.abs() < 1e-12), "a constant row normalises to 0, not NaN");
    }
}
