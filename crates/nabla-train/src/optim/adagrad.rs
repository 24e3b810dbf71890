//! Adagrad: per-element learning rates from the sum of all past squared gradients
//! (Duchi, Hazan & Singer, 2011).
//!
//! ```text
//! g ← g + λ·p                  optional L2 weight decay λ
//! S ← S + g²                   every squared gradient so far (S starts at S₀)
//! p ← p − lr·g / (√S + ε)
//! ```
//!
//! Elements that have seen large or frequent gradients take ever smaller steps; rarely
//! updated ones (the embeddings of rare words) keep large ones. Because `S` only grows, the
//! effective learning rate decays over the whole run — the problem RMSprop and Adam address
//! by forgetting old gradients.
//!
//! | setting | default | |
//! |---|---|---|
//! | `learning_rate` | — | `lr`; PyTorch suggests 0.01 |
//! | `epsilon` | 1e-10 | `ε` |
//! | `initial_accumulator` | 0 | `S₀` (Keras uses 0.1) |
//! | `weight_decay` | 0 | `λ` |
//!
//! State: `[S]` per parameter.
//!
//! ```
//! use nabla_autograd::{Gradients, Var};
//! use nabla_tensor::Tensor;
//! use nabla_train::optim::{AdagradConfig, Optimizer};
//! let w = Var::new(Tensor::from_vec(vec![0.0f64], &[1]));
//! let mut opt = AdagradConfig::new(1.0).init(vec![("w".into(), w.clone())]);
//! let mut grads = Gradients::new();
//! grads.insert(&w, Tensor::from_vec(vec![-1.0f64], &[1]));
//! for _ in 0..4 {
//!     opt.step(&grads); // the same gradient: steps 1/√1, 1/√2, 1/√3, 1/√4
//! }
//! let expected = 1.0 + 1.0 / 2f64.sqrt() + 1.0 / 3f64.sqrt() + 0.5;
//! assert!((w.item() - expected).abs() < 1e-9);
//! ```

use nabla_autograd::{Gradients, Var};

use super::elementwise::zip_update;
use super::slots::ParamSlots;
use super::{Optimizer, OptimizerState, OptimizerStateError};

/// How to build an [`Adagrad`] optimizer; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradConfig {
    /// The initial learning rate `lr`.
    pub learning_rate: f64,
    /// `ε`, keeping the division finite.
    pub epsilon: f64,
    /// The starting value `S₀` of the accumulator.
    pub initial_accumulator: f64,
    /// L2 weight decay `λ`, added to the gradient.
    pub weight_decay: f64,
}

impl AdagradConfig {
    /// Adagrad with learning rate `learning_rate` and the defaults above.
    pub fn new(learning_rate: f64) -> Self {
        AdagradConfig { learning_rate, epsilon: 1e-10, initial_accumulator: 0.0, weight_decay: 0.0 }
    }

    /// Sets `ε`.
    pub fn with_epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the accumulator's starting value `S₀`.
    pub fn with_initial_accumulator(mut self, initial_accumulator: f64) -> Self {
        self.initial_accumulator = initial_accumulator;
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
    /// If `ε`, `S₀` or `λ` is negative or not finite, or two parameters share a name.
    #[track_caller]
    pub fn init(&self, named_parameters: Vec<(String, Var)>) -> Adagrad {
        let c = self;
        for (name, value) in [
            ("epsilon", c.epsilon),
            ("the initial accumulator", c.initial_accumulator),
            ("weight decay", c.weight_decay),
        ] {
            assert!(value.is_finite() && value >= 0.0, "Adagrad: {name} must be ≥ 0, but is {value}");
        }
        let slots = ParamSlots::new("Adagrad", named_parameters, c.learning_rate, 1).filled(c.initial_accumulator);
        Adagrad { config: self.clone(), slots }
    }
}

/// The Adagrad optimizer; see the [module docs](self).
#[derive(Debug)]
pub struct Adagrad {
    config: AdagradConfig,
    slots: ParamSlots,
}

impl Adagrad {
    /// The settings this optimizer was built with (its learning rate is the initial one).
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }
}

impl Optimizer for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }

    #[track_caller]
    fn step(&mut self, grads: &Gradients) {
        let AdagradConfig { epsilon: eps, weight_decay: wd, .. } = self.config;
        let lr = self.slots.learning_rate();
        self.slots.step(grads, |p, g, slots| {
            let [sum] = slots else { unreachable!("Adagrad keeps [S] per parameter") };
            zip_update(
                [p, sum],
                g,
                #[inline(always)]
                |g, [p, sum]| {
                    let g = g + wd * p;
                    let sum = sum + g * g;
                    [p - lr * g / (sum.sqrt() + eps), sum]
                },
            );
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

    // p₀ = [1, −2]; g₁ = [0.5, −1], g₂ = [0.25, 2]; lr = 0.1, ε = 1e-10.

    #[test]
    fn adagrad_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = AdagradConfig::new(0.1).init(p.clone());
        // S = g₁² = [0.25, 1]; g/(√S + ε) = [0.5/(0.5 + 1e-10), −1/(1 + 1e-10)]
        // p₁ = [1 − 0.1 + 2e-11, −2 + 0.1 − 1e-11]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.90000000002, -1.90000000001]);
        // S = [0.25 + 0.0625, 1 + 4] = [0.3125, 5]; √S = [0.5590170, 2.2360680]
        // g/√S = [0.25/0.5590170, 2/2.2360680] = [1/√5, 2/√5] = [0.4472136, 0.8944272]
        // p₂ = [0.9 − 0.0447214, −1.9 − 0.0894427]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.8552786404780043, -1.9894427191059916]);
        assert_eq!(opt.state().slots["p"][0].to_vec_f64(), vec![0.3125, 5.0]);
    }

    #[test]
    fn adagrad_initial_accumulator_golden() {
        let p = param(&[1.0, -2.0], DType::F64);
        let mut opt = AdagradConfig::new(0.1).with_initial_accumulator(0.75).init(p.clone());
        assert_eq!(opt.state().slots["p"][0].to_vec_f64(), vec![0.75, 0.75]);
        // S = 0.75 + g₁² = [1, 1.75]; g/√S = [0.5, −1/1.3228757] = [0.5, −0.7559289]
        opt.step(&grads(&p, &[0.5, -1.0]));
        assert_values(&p, &[0.950000000005, -1.9244071054038687]);
        // S = [1.0625, 5.75]; g/√S = [0.25/1.0307764, 2/2.3979158] = [0.2425356, 0.8340577]
        opt.step(&grads(&p, &[0.25, 2.0]));
        assert_values(&p, &[0.9257464375037197, -2.0078128710232206]);
    }
}
