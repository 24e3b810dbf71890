//! Softmax, log-softmax and log-sum-exp along an axis, composed from primitives.
//!
//! ```text
//! logsumexp(x) = m + ln Σⱼ e^(xⱼ − m)            m = maxⱼ xⱼ (for stability)
//! log_softmax(x)ᵢ = xᵢ − logsumexp(x)
//! softmax(x)ᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m)
//! ```
//!
//! Subtracting `m` changes nothing mathematically (softmax is shift-invariant) but keeps every
//! `e^(·)` at most 1, so large logits do not overflow. `m` is detached: the result does not
//! depend on it, so no gradient needs to flow through it.
//!
//! `Var::softmax` and `Var::log_softmax` are fused ops (one recorded op each, forward and
//! backward in one pass per lane; see `ops/softmax.rs`); `softmax_composed` and
//! `log_softmax_composed` here are the same functions built from primitives, their oracle.

use crate::Var;

impl Var {
    /// `ln Σ e^x` along `axis`, stable for large values.
    #[track_caller]
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Var {
        let m = self.max_axes(&[axis], true).detach();
        let lse = self.sub(&m).exp().sum_axes(&[axis], true).ln().add(&m);
        if keepdim {
            lse
        } else {
            lse.squeeze(axis)
        }
    }

    /// `log softmax` along `axis` composed from primitives, `x − logsumexp(x)`: the oracle of
    /// the fused [`Var::log_softmax`].
    #[track_caller]
    pub fn log_softmax_composed(&self, axis: usize) -> Var {
        self.sub(&self.logsumexp(axis, true))
    }

    /// Softmax along `axis` composed from primitives: the oracle of the fused [`Var::softmax`].
    #[track_caller]
    pub fn softmax_composed(&self, axis: usize) -> Var {
        let m = self.max_axes(&[axis], true).detach();
        let e = self.sub(&m).exp();
        e.div(&e.sum_axes(&[axis], true))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden_and_stable() {
        let x = v(&[1000.0, 0.0, -1000.0, 1.0, 2.0, 3.0], &[2, 3]);
        let s = x.softmax(1).value().to_vec_f64();
        assert_eq!(&s[..3], &[1.0, 0.0, 0.0]);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        for (a, b) in s[3..].iter().zip(&e) {
            assert!((a - b / total).abs() < 1e-15);
        }
        let ls = x.log_softmax(1).value().to_vec_f64();
        assert!(ls.iter().all(|v| v.is_finite()));
        assert!((ls[3] - (1.0 - total.ln())).abs() < 1e-12);
    }
}
