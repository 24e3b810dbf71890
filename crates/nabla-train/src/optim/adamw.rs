//! AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).
//!
//! Adding `λ·p` to the gradient (L2 regularisation, [`Adam`](super::Adam)'s `weight_decay`)
//! interacts badly with Adam: the decay is divided by `√v̂` like the gradient, so weights with
//! large gradients are hardly decayed at all. AdamW instead shrinks every weight by the same
//! factor, outside the adaptive step:
//!
//! ```text
//! p ← p·(1 − lr·λ)                  decoupled weight decay
//! m ← β₁·m + (1 − β₁)·g
//! v ← β₂·v + (1 − β₂)·g²
//! p ← p − lr·m̂ / (√v̂ + ε)          m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), as in Adam
//! ```
//!
//! | setting | default | |
//! |---|---|---|
//! | `learning_rate` | — | `lr` |
//! | `beta1`, `beta2` | 0.9, 0.999 | `β₁`, `β₂` |
//! | `epsilon` | 1e-8 | `ε` |
//! | `weight_decay` | 0.01 | `λ` (PyTorch's default) |
//!
//! State: `[m, v]` per parameter, as Adam's (see there for how `t` is counted).
//!
//! ```
//! use nabla_autograd::{Gradients, Var};
//! use nabla_tensor::Tensor;
//! use nabla_train::optim::{AdamWConfig, Optimizer};
//! let w = Var::new(Tensor::from_vec(vec![2.0f64], &[1]));
//! let mut opt = AdamWConfig::new(0.1).with_weight_decay(0.5).init(vec![("w".into(), w.clone())]);
//! let mut grads = Gradients::new();
//! grads.insert(&w, Tensor::from_vec(vec![0.0f64], &[1])); // no gradient signal at all
//! opt.step(&grads);
//! assert_eq!(w.item(), 2.0 * (1.0 - 0.1 * 0.5)); // only the decay moved it
//! ```

use nabla_autograd::{Gradients, Var};

use super::adam::{check_adam_settings, AdamStep};
use super::slots::ParamSlots;
use super::{Optimizer, OptimizerState, OptimizerStateError};

/// How to build an [`AdamW`] optimizer; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    /// The initial learning rate `lr`.
    pub learning_rate: f64,
    /// Decay rate `β₁` of the gradient average.
    pub beta1: f64,
    /// Decay rate `β₂` of the squared-gradient average.
    pub beta2: f64,
    /// `ε`, keeping the division finite where gradients vanish.
    pub epsilon: f64,
    /// Decoupled weight decay `λ`: each step multiplies the weights by `1 − lr·λ`.
    pub weight_decay: f64,
}

impl AdamWConfig {
    /// AdamW with learning rate `learning_rate` and the defaults above.
    pub fn new(learning_rate: f64) -> Self {
        AdamWConfig { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.01 }
    }

    /// Sets `β₁` and `β₂`.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets `ε`.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the decoupled weight decay `λ`.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The optimizer for `named_parameters` (usually `model.named_parameters()`).
    ///
    /// # Panics
    /// If `β₁` or `β₂` is outside `[0, 1)`, `ε` or `λ` is negative, or two parameters share a name.
    #[track_caller]
    pub fn init(&self, named_parameters: Vec<(String, Var)>) -> AdamW {
        check_adam_settings("AdamW", self.beta1, self.beta2, self.epsilon, self.weight_decay);
        AdamW { config: self.clone(), slots: ParamSlots::new("AdamW", named_parameters, self.learning_rate, 2) }
    }
}

/// The AdamW optimizer; see the [module docs](self).
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    slots: ParamSlots,
}

impl AdamW {
    /// The settings this optimizer was built with (its learning rate is the initial one).
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
}

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        "AdamW"
    }

    #[track_caller]
    fn step(&mut self, grads: &Gradients) {
        let c = &self.config;
        let update = AdamStep {
            lr: self.slots.learning_rate(),
            beta1: c.beta1,
            beta2: c.beta2,
            epsilon: c.epsilon,
            t: self.slots.step + 1,
            l2: 0.0,
            decoupled: c.weight_decay,
        };
        self.slots.step(grads, |p, g, slots| update.apply(p, g, slots));
    }

    // learning rate, parameters, state: kept by the shared slots (see `slots.rs`).
    slots_bookkeeping!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::{assert_values, grads, param};
    use nabla_tensor::DType;

    #[test]
    fn adamw_golden() {
        // p₀ = [1, −2]; g₁ = [0.5, −1], g₂ = [0.25, 2]; lr = 0.1, λ = 0.01 (default).
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = AdamWConfig::new(0.1).init(p.clone());
        // t = 1: decay p₀·(1 − 0.001) = [0.999, −1.998], then Adam's first step ≈ ∓0.1:
        // p₁ = [0.999 − 0.1·0.5/(0.5 + 1e-8), −1.998 + 0.1·1/(1 + 1e-8)] = [0.899000002, −1.898000001]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.899000002, -1.898000001]);
        // t = 2: decay p₁·0.999 = [0.8981010, −1.8961020]; m and v do not depend on p, so the
        // Adam step is the same as in adam_golden: 0.1·[0.9321796, 0.3661035].
        // p₂ = [0.8981010 − 0.0932180, −1.8961020 − 0.0366103] = [0.8048830, −1.9327124]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.8048830404754623, -1.9327123534710748]);
    }

    #[test]
    fn decoupled_decay_differs_from_l2() {
        // With a large gradient, Adam's L2 decay is swamped by √v̂; AdamW's is not.
        let a = param(&[1.0], DType::F64);
        let b = param(&[1.0], DType::F64);
        let mut adam = crate::optim::AdamConfig::new(0.1).with_weight_decay(0.5).init(a.clone());
        let mut adamw = AdamWConfig::new(0.1).with_weight_decay(0.5).init(b.clone());
        adam.step(&grads(&a, &[100.0]));
        adamw.step(&grads(&b, &[100.0]));
        // Adam: g = 100.5, step ≈ 0.1. AdamW: 1·(1 − 0.05) − 0.1 = 0.85.
        assert!((a[0].1.item() - 0.9).abs() < 1e-6);
        assert!((b[0].1.item() - 0.85).abs() < 1e-6);
    }
}
