//! Stochastic gradient descent, with momentum, Nesterov momentum and weight decay.
//!
//! For each parameter `p` with gradient `g`, one step is (PyTorch's formulation):
//!
//! ```text
//! g ← g + λ·p                    weight decay λ (an L2 penalty λ/2·‖p‖² added to the loss)
//! b ← μ·b + g                    momentum μ: a velocity, b = g at the first step
//! g ← g + μ·b   if Nesterov,  else  g ← b
//! p ← p − lr·g
//! ```
//!
//! With `μ = 0` this is plain gradient descent, `p ← p − lr·g`. Momentum lets steps build up
//! along directions where gradients agree and cancel where they oscillate; Nesterov's variant
//! looks one velocity step ahead. (PyTorch's velocity differs from the textbook
//! `v ← μv − lr·g` only in where `lr` sits; the two agree while `lr` is constant.)
//!
//! | setting | default | |
//! |---|---|---|
//! | `learning_rate` | — | `lr` |
//! | `momentum` | 0 | `μ`; 0.9 is common |
//! | `nesterov` | false | needs `μ > 0` |
//! | `weight_decay` | 0 | `λ` |
//!
//! State: one tensor per parameter, the velocity `b`, only when `μ > 0` (it starts at zero, so
//! the first step's `b = μ·0 + g = g`).
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_tensor::Tensor;
//! use nabla_train::optim::{Optimizer, SgdConfig};
//! let w = Var::new(Tensor::from_vec(vec![1.0f64], &[1]));
//! let mut sgd = SgdConfig::new(0.1).with_momentum(0.9).init(vec![("w".into(), w.clone())]);
//! let grads = w.mul_scalar(2.0).sum().backward(); // L = 2w, g = 2
//! sgd.step(&grads); // b = 2, w = 1 − 0.1·2
//! sgd.step(&grads); // b = 0.9·2 + 2 = 3.8, w = 0.8 − 0.1·3.8
//! assert!((w.item() - 0.42).abs() < 1e-12);
//! ```

use nabla_autograd::{Gradients, Var};

use super::elementwise::zip_update;
use super::slots::ParamSlots;
use super::{Optimizer, OptimizerState, OptimizerStateError};

/// How to build an [`Sgd`] optimizer; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// The initial learning rate `lr`.
    pub learning_rate: f64,
    /// The momentum `μ` (0: none).
    pub momentum: f64,
    /// Whether to use Nesterov momentum.
    pub nesterov: bool,
    /// The L2 weight decay `λ` added to the gradient.
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain gradient descent with learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        SgdConfig { learning_rate, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }

    /// Sets the momentum `μ`.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the weight decay `λ`.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The optimizer for `named_parameters` (usually `model.named_parameters()`).
    ///
    /// # Panics
    /// If the learning rate, momentum or weight decay is negative or not finite, if Nesterov
    /// momentum is asked for with `μ = 0`, or if two parameters share a name.
    #[track_caller]
    pub fn init(&self, named_parameters: Vec<(String, Var)>) -> Sgd {
        let c = self;
        assert!(c.momentum.is_finite() && c.momentum >= 0.0, "SGD: momentum must be ≥ 0, but is {}", c.momentum);
        assert!(
            c.weight_decay.is_finite() && c.weight_decay >= 0.0,
            "SGD: weight decay must be ≥ 0, but is {}",
            c.weight_decay
        );
        assert!(!c.nesterov || c.momentum > 0.0, "SGD: Nesterov momentum needs a momentum > 0");
        let count = usize::from(c.momentum > 0.0);
        Sgd { config: self.clone(), slots: ParamSlots::new("SGD", named_parameters, c.learning_rate, count) }
    }
}

/// Stochastic gradient descent; see the [module docs](self).
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    slots: ParamSlots,
}

impl Sgd {
    /// The settings this optimizer was built with (its learning rate is the initial one).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }

    #[track_caller]
    fn step(&mut self, grads: &Gradients) {
        let SgdConfig { momentum: mu, nesterov, weight_decay: wd, .. } = self.config;
        let lr = self.slots.learning_rate();
        self.slots.step(grads, |p, g, slots| match slots {
            [] => zip_update(
                [p],
                g,
                #[inline(always)]
                |g, [p]| [p - lr * (g + wd * p)],
            ),
            [velocity] => zip_update(
                [p, velocity],
                g,
                #[inline(always)]
                |g, [p, b]| {
                    let g = g + wd * p;
                    let b = mu * b + g;
                    let g = if nesterov { g + mu * b } else { b };
                    [p - lr * g, b]
                },
            ),
            _ => unreachable!("SGD keeps at most one tensor per parameter"),
        });
    }

    // learning rate, parameters, state: kept by the shared slots (see `slots.rs`).
    slots_bookkeeping!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::{assert_values, grads, param};
    use nabla_tensor::DType;

    // All three tests start from p = [1, −2] and take the gradients g₁ = [0.5, −1], g₂ = [0.25, 2].

    #[test]
    fn plain_sgd_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = SgdConfig::new(0.1).init(p.clone());
        // p₁ = p₀ − 0.1·g₁ = [1 − 0.05, −2 + 0.1]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.95, -1.9]);
        // p₂ = p₁ − 0.1·g₂ = [0.95 − 0.025, −1.9 − 0.2]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.925, -2.1]);
        assert!(opt.state().slots["p"].is_empty());
    }

    #[test]
    fn momentum_and_weight_decay_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = SgdConfig::new(0.1).with_momentum(0.9).with_weight_decay(0.1).init(p.clone());
        // g = g₁ + 0.1·p₀ = [0.6, −1.2]; b = g; p₁ = p₀ − 0.1·b = [0.94, −1.88]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.94, -1.88]);
        // g = g₂ + 0.1·p₁ = [0.344, 1.812]; b = 0.9·[0.6, −1.2] + g = [0.884, 0.732]
        // p₂ = p₁ − 0.1·b = [0.94 − 0.0884, −1.88 − 0.0732]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.8516, -1.9532]);
        let b = opt.state().slots["p"][0].to_vec_f64();
        assert!((b[0] - 0.884).abs() < 1e-12 && (b[1] - 0.732).abs() < 1e-12);
    }

    #[test]
    fn nesterov_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true).with_weight_decay(0.1).init(p.clone());
        // g = [0.6, −1.2]; b = g; g + 0.9·b = [1.14, −2.28]; p₁ = [1 − 0.114, −2 + 0.228]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.886, -1.772]);
        // g = g₂ + 0.1·p₁ = [0.3386, 1.8228]; b = 0.9·[0.6, −1.2] + g = [0.8786, 0.7428]
        // g + 0.9·b = [1.12934, 2.49132]; p₂ = [0.886 − 0.112934, −1.772 − 0.249132]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.773066, -2.021132]);
    }

    #[test]
    #[should_panic(expected = "SGD: Nesterov momentum needs a momentum > 0")]
    fn nesterov_without_momentum_is_refused() {
        SgdConfig::new(0.1).with_nesterov(true).init(param(&[1.0], DType::F64));
    }

    #[test]
    #[should_panic(expected = "SGD: two parameters are named `w`")]
    fn duplicate_names_are_refused() {
        let w = param(&[1.0], DType::F64).remove(0).1;
        SgdConfig::new(0.1).init(vec![("w".into(), w.clone()), ("w".into(), w)]);
    }

    #[test]
    #[should_panic(expected = "SGD: the learning rate must be finite and ≥ 0, but is -1")]
    fn a_negative_learning_rate_is_refused() {
        let mut opt = SgdConfig::new(0.1).init(param(&[1.0], DType::F64));
        opt.set_learning_rate(-1.0);
    }
}
