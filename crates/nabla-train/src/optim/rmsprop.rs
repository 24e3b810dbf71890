//! RMSprop: divide the gradient by a running root-mean-square of its recent values
//! (Hinton, Coursera lecture 6e, 2012).
//!
//! Where gradients are usually large the step shrinks, where they are small it grows. One step,
//! as PyTorch computes it:
//!
//! ```text
//! g ← g + λ·p                              optional L2 weight decay λ
//! s ← α·s + (1 − α)·g²                     running mean of g²
//! a ← α·a + (1 − α)·g                      running mean of g (centered only)
//! d = √(s − a²) + ε   if centered,  else  d = √s + ε
//! b ← μ·b + g/d,  p ← p − lr·b             with momentum μ > 0
//! p ← p − lr·g/d                           without
//! ```
//!
//! The centered variant divides by an estimate of the gradient's standard deviation instead of
//! its root mean square (Graves, 2013).
//!
//! | setting | default | |
//! |---|---|---|
//! | `learning_rate` | — | `lr`; PyTorch suggests 0.01, Keras 0.001 |
//! | `alpha` | 0.99 | `α` (Keras' `rho` is 0.9) |
//! | `epsilon` | 1e-8 | `ε` |
//! | `momentum` | 0 | `μ` |
//! | `centered` | false | |
//! | `weight_decay` | 0 | `λ` |
//!
//! State per parameter, in this order: `s`; then `a` if centered; then `b` if `μ > 0`.
//!
//! ```
//! use nabla_autograd::{Gradients, Var};
//! use nabla_tensor::Tensor;
//! use nabla_train::optim::{Optimizer, RmsPropConfig};
//! let w = Var::new(Tensor::from_vec(vec![1.0f64], &[1]));
//! let mut opt = RmsPropConfig::new(0.01).init(vec![("w".into(), w.clone())]);
//! let mut grads = Gradients::new();
//! grads.insert(&w, Tensor::from_vec(vec![3.0f64], &[1]));
//! opt.step(&grads); // s = 0.01·9, so g/√s = 3/0.3 = 10
//! assert!((w.item() - (1.0 - 0.01 * 10.0)).abs() < 1e-6);
//! ```

use nabla_autograd::{Gradients, Var};

use super::elementwise::zip_update;
use super::slots::ParamSlots;
use super::{Optimizer, OptimizerState, OptimizerStateError};

/// How to build an [`RmsProp`] optimizer; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// The initial learning rate `lr`.
    pub learning_rate: f64,
    /// Decay rate `α` of the running averages.
    pub alpha: f64,
    /// `ε`, keeping the division finite.
    pub epsilon: f64,
    /// Momentum `μ` (0: none).
    pub momentum: f64,
    /// Whether to divide by the gradient's running standard deviation instead of its RMS.
    pub centered: bool,
    /// L2 weight decay `λ`, added to the gradient.
    pub weight_decay: f64,
}

impl RmsPropConfig {
    /// RMSprop with learning rate `learning_rate` and the defaults above.
    pub fn new(learning_rate: f64) -> Self {
        RmsPropConfig { learning_rate, alpha: 0.99, epsilon: 1e-8, momentum: 0.0, centered: false, weight_decay: 0.0 }
    }

    /// Sets `α`.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets `ε`.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the momentum `μ`.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off.
    pub fn with_centered(mut self, centered: bool) -> Self {
        self.centered = centered;
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
    /// If `α` is outside `[0, 1)`, `ε`, `μ` or `λ` is negative or not finite, or two parameters
    /// share a name.
    #[track_caller]
    pub fn init(&self, named_parameters: Vec<(String, Var)>) -> RmsProp {
        let c = self;
        assert!((0.0..1.0).contains(&c.alpha), "RMSprop: alpha must be in [0, 1), but is {}", c.alpha);
        for (name, value) in [("epsilon", c.epsilon), ("momentum", c.momentum), ("weight decay", c.weight_decay)] {
            assert!(value.is_finite() && value >= 0.0, "RMSprop: {name} must be ≥ 0, but is {value}");
        }
        let count = 1 + usize::from(c.centered) + usize::from(c.momentum > 0.0);
        RmsProp { config: self.clone(), slots: ParamSlots::new("RMSprop", named_parameters, c.learning_rate, count) }
    }
}

/// The RMSprop optimizer; see the [module docs](self).
#[derive(Debug)]
pub struct RmsProp {
    config: RmsPropConfig,
    slots: ParamSlots,
}

impl RmsProp {
    /// The settings this optimizer was built with (its learning rate is the initial one).
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }
}

impl Optimizer for RmsProp {
    fn name(&self) -> &'static str {
        "RMSprop"
    }

    #[track_caller]
    fn step(&mut self, grads: &Gradients) {
        let RmsPropConfig { alpha, epsilon: eps, momentum: mu, centered, weight_decay: wd, .. } = self.config;
        let lr = self.slots.learning_rate();
        // One element: the gradient (weight decay added), the new E[g²] and E[g], and the divisor d.
        let averages = move |p: f64, g: f64, s: f64, a: f64| {
            let g = g + wd * p;
            let s = alpha * s + (1.0 - alpha) * g * g;
            let a = alpha * a + (1.0 - alpha) * g;
            let d = if centered { (s - a * a).sqrt() } else { s.sqrt() } + eps;
            (g, s, a, d)
        };
        // One fused pass per variant, each carrying only the state it keeps.
        self.slots.step(grads, |p, g, slots| match slots {
            [s] => zip_update(
                [p, s],
                g,
                #[inline(always)]
                |g, [p, s]| {
                    let (g, s, _, d) = averages(p, g, s, 0.0);
                    [p - lr * g / d, s]
                },
            ),
            [s, a] if centered => zip_update(
                [p, s, a],
                g,
                #[inline(always)]
                |g, [p, s, a]| {
                    let (g, s, a, d) = averages(p, g, s, a);
                    [p - lr * g / d, s, a]
                },
            ),
            [s, b] => zip_update(
                [p, s, b],
                g,
                #[inline(always)]
                |g, [p, s, b]| {
                    let (g, s, _, d) = averages(p, g, s, 0.0);
                    let b = mu * b + g / d;
                    [p - lr * b, s, b]
                },
            ),
            [s, a, b] => zip_update(
                [p, s, a, b],
                g,
                #[inline(always)]
                |g, [p, s, a, b]| {
                    let (g, s, a, d) = averages(p, g, s, a);
                    let b = mu * b + g / d;
                    [p - lr * b, s, a, b]
                },
            ),
            _ => unreachable!("RMSprop keeps one to three tensors per parameter"),
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

    // p₀ = [1, −2]; g₁ = [0.5, −1], g₂ = [0.25, 2]; lr = 0.01, α = 0.99, ε = 1e-8.

    #[test]
    fn rmsprop_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = RmsPropConfig::new(0.01).init(p.clone());
        // s = 0.01·g₁² = [0.0025, 0.01], √s = [0.05, 0.1], g/(√s + ε) = [9.999998, −9.999999]
        // p₁ = p₀ − 0.01·that = [0.90000002, −1.90000001]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.900000019999996, -1.900000009999999]);
        // s = 0.99·s + 0.01·g₂² = [0.0031, 0.0499]; √s = [0.0556776, 0.2233831]
        // g/√s = [4.4901317, 8.9532292]; p₂ = [0.9 − 0.0449013, −1.9 − 0.0895323]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.855098702557817, -1.989532302199152]);
    }

    #[test]
    fn rmsprop_momentum_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = RmsPropConfig::new(0.01).with_momentum(0.9).init(p.clone());
        // b = g/d = [9.999998, −9.999999] (as above); p₁ = p₀ − 0.01·b
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.900000019999996, -1.900000009999999]);
        // b = 0.9·b + [4.4901317, 8.9532292] = [13.4901299, −0.0467699]; p₂ = p₁ − 0.01·b
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.7650987205578135, -1.8995323111991513]);
        assert_eq!(opt.state().slots["p"].len(), 2);
    }

    #[test]
    fn rmsprop_centered_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = RmsPropConfig::new(0.01).with_centered(true).init(p.clone());
        // s = [0.0025, 0.01], a = 0.01·g₁ = [0.005, −0.01]; s − a² = [0.002475, 0.0099]
        // √ = [0.0497494, 0.0994987]; g/d = [10.0503761, −10.0503771]; p₁ = p₀ − 0.01·g/d
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.899496238676095, -1.8994962285750878]);
        // s = [0.0031, 0.0499], a = 0.99·a + 0.01·g₂ = [0.00745, 0.0101]
        // s − a² = [0.0030445, 0.0497980]; √ = [0.0551770, 0.2231547]
        // g/d = [4.5308754, 8.9623948]; p₂ = p₁ − 0.01·g/d
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.8541874846842108, -1.9891201762428896]);
        let a = opt.state().slots["p"][1].to_vec_f64();
        assert!((a[0] - 0.00745).abs() < 1e-15 && (a[1] - 0.0101).abs() < 1e-15);
    }
}
