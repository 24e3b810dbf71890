//! Activation functions composed from primitives.
//!
//! | function | formula | derivative (handled by the tape) |
//! |---|---|---|
//! | `gelu` | `½·x·(1 + erf(x/√2))` | `Φ(x) + x·φ(x)` |
//! | `leaky_relu(α)` | `max(x, αx)` for `α < 1` | `1` or `α` |
//! | `elu(α)` | `x` if `x > 0` else `α(eˣ − 1)` | `1` or `αeˣ` |
//! | `softplus` | `max(x, 0) + ln(1 + e^(−|x|))` | `σ(x)` |
//! | `silu` | `x·σ(x)` | `σ(x)(1 + x(1 − σ(x)))` |

use nabla_tensor::Tensor;

use crate::Var;

impl Var {
    /// Exact GELU, `x·Φ(x)`, composed from `erf`: the oracle of the fused [`Var::gelu`].
    pub fn gelu_composed(&self) -> Var {
        let phi = self.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
        self.mul(&phi)
    }

    /// Leaky ReLU: `x` where positive, `slope·x` elsewhere (`0 ≤ slope < 1`).
    #[track_caller]
    pub fn leaky_relu(&self, slope: f64) -> Var {
        assert!((0.0..1.0).contains(&slope), "leaky_relu: slope {slope} must be in [0, 1)");
        self.maximum(&self.mul_scalar(slope))
    }

    /// ELU: `x` where positive, `α(eˣ − 1)` elsewhere.
    pub fn elu(&self, alpha: f64) -> Var {
        let positive = Var::fixed(self.value().gt_scalar(0.0));
        let negative_part = self.minimum(&Var::scalar(0.0, self.dtype())).exp().add_scalar(-1.0).mul_scalar(alpha);
        self.mul(&positive).add(&negative_part.mul(&Var::fixed(positive.value().neg().add_scalar(1.0))))
    }

    /// Softplus `ln(1 + eˣ)`, stable for large `|x|`.
    pub fn softplus(&self) -> Var {
        self.relu().add(&self.abs().neg().exp().add_scalar(1.0).ln())
    }

    /// SiLU (swish): `x·σ(x)`.
    pub fn silu(&self) -> Var {
        self.mul(&self.sigmoid())
    }

    /// `x` limited to `[min, max]` (gradient 1 inside, 0 outside).
    pub fn clamp(&self, min: f64, max: f64) -> Var {
        let dtype = self.dtype();
        self.maximum(&Var::fixed(Tensor::scalar(min, dtype))).minimum(&Var::fixed(Tensor::scalar(max, dtype)))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        let x = v(&[-1.0, 2.0], &[2]);
        let g = x.gelu().value().to_vec_f64();
        assert!((g[0] - -0.15865525393145707).abs() < 1e-12 && (g[1] - 1.9544997361036416).abs() < 1e-12);
        assert_eq!(x.leaky_relu(0.1).value().to_vec_f64(), vec![-0.1, 2.0]);
        let e = x.elu(1.0).value().to_vec_f64();
        assert!((e[0] - ((-1.0f64).exp() - 1.0)).abs() < 1e-15 && e[1] == 2.0);
        let s = x.softplus().value().to_vec_f64();
        assert!((s[0] - (1.0 + (-1.0f64).exp()).ln()).abs() < 1e-15);
        assert_eq!(x.clamp(0.0, 1.0).value().to_vec_f64(), vec![0.0, 1.0]);
    }
}
