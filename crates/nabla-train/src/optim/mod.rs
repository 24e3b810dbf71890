//! Optimizers: how a parameter moves, given its gradient.
//!
//! After `loss.backward()` every parameter `p` has a gradient `g = ∂L/∂p`. The simplest update
//! is gradient descent, `p ← p − lr·g`; the optimizers here refine it by remembering something
//! about past gradients (a velocity, running averages of `g` and `g²`) in per-parameter *state
//! tensors* (PyTorch calls them the optimizer's state, Keras its slot variables).
//!
//! | optimizer | remembers, per parameter (slot order) | update |
//! |---|---|---|
//! | [`Sgd`] | velocity `b` (only with momentum) | `p ← p − lr·(b or g)` |
//! | [`Adam`] | `m ≈ E[g]`, `v ≈ E[g²]` | `p ← p − lr·m̂/(√v̂ + ε)` |
//! | [`AdamW`] | `m`, `v` | Adam, plus `p ← p − lr·λ·p` (decoupled weight decay) |
//! | [`RmsProp`] | `E[g²]`, then `E[g]` if centered, then velocity if momentum | `p ← p − lr·g/(√E[g²] + ε)` |
//! | [`Adagrad`] | `Σg²` | `p ← p − lr·g/(√Σg² + ε)` |
//!
//! Every optimizer is built like a layer, from a config:
//!
//! ```
//! use nabla_layers::{LinearConfig, ModuleExt};
//! use nabla_tensor::rng;
//! use nabla_train::optim::{AdamConfig, Optimizer};
//! let layer = LinearConfig::new(3, 2).init(&mut rng(0));
//! let mut adam = AdamConfig::new(1e-3).init(layer.named_parameters());
//! assert_eq!(adam.name(), "Adam");
//! assert_eq!(adam.parameters().len(), 2); // weight and bias
//! ```
//!
//! and used the same way in every training step:
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_tensor::Tensor;
//! use nabla_train::optim::{Optimizer, SgdConfig};
//! let w = Var::new(Tensor::from_vec(vec![3.0f64], &[1]));
//! let mut sgd = SgdConfig::new(0.25).init(vec![("w".to_string(), w.clone())]);
//! for _ in 0..20 {
//!     let loss = w.powf(2.0).sum(); // L = w², minimum at 0
//!     sgd.step(&loss.backward()); // w ← w − 0.25·2w = w/2
//! }
//! assert!(w.item().abs() < 1e-5);
//! ```
//!
//! The updates are computed on plain [`Tensor`]s, outside the tape, and written back with
//! [`Var::set_value`]; each parameter is updated in one pass over its elements (see
//! `elementwise.rs`), in `f64` arithmetic, and stored in the parameter's own dtype. The state
//! tensors have the parameter's shape and dtype and start at zero.
//!
//! A checkpoint stores an optimizer's [`OptimizerState`]; [`Optimizer::load_state`] restores
//! it, so a resumed run takes exactly the steps the uninterrupted one would have.

// Declared first: it defines the `slots_bookkeeping!` macro the optimizers use.
#[macro_use]
mod slots;

pub mod adagrad;
pub mod adam;
pub mod adamw;
pub(crate) mod elementwise;
pub mod rmsprop;
pub mod sgd;

use std::collections::BTreeMap;

use nabla_autograd::{Gradients, Var};
use nabla_tensor::Tensor;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use adamw::{AdamW, AdamWConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

/// What an optimizer carries between steps, for checkpoints.
///
/// `PartialEq` compares the tensors by dtype, shape and value (`Tensor` itself has no `==`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Updates applied so far.
    pub step: u64,
    /// The current learning rate.
    pub learning_rate: f64,
    /// Per parameter name, the optimizer's tensors (e.g. Adam's m and v), in a fixed order.
    pub slots: BTreeMap<String, Vec<Tensor>>,
}

impl PartialEq for OptimizerState {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &Tensor, b: &Tensor) -> bool {
            a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_vec_f64() == b.to_vec_f64()
        }
        self.step == other.step
            && self.learning_rate == other.learning_rate
            && self.slots.len() == other.slots.len()
            && self.slots.iter().zip(&other.slots).all(|((name_a, a), (name_b, b))| {
                name_a == name_b && a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            })
    }
}

/// An optimizer: updates a fixed list of named parameters from their gradients.
///
/// See the [module docs](self) for the optimizers and how they are used.
pub trait Optimizer: Send {
    /// The optimizer's name, e.g. `"Adam"`.
    fn name(&self) -> &'static str;

    /// One update of every parameter that has a gradient in `grads` (parameters without one are left alone).
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's.
    fn step(&mut self, grads: &Gradients);

    /// The learning rate the next step will use.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate for the following steps (what a schedule does before each step).
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    fn set_learning_rate(&mut self, lr: f64);

    /// The named parameters this optimizer updates.
    fn parameters(&self) -> &[(String, Var)];

    /// A copy of everything the optimizer carries between steps.
    fn state(&self) -> OptimizerState;

    /// Restores `state`; on a missing/extra name or a shape mismatch returns an error naming the parameter and changes nothing.
    ///
    /// Tensors are converted to the dtype of their parameter.
    fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimizerStateError>;
}

/// Why an [`OptimizerState`] could not be loaded into an optimizer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerStateError {
    /// The optimizer updates a parameter the state has no entry for.
    #[error(
        "the optimizer state has no entry for parameter `{name}`, which this optimizer updates (a different model?)"
    )]
    Missing {
        /// The parameter's dotted name.
        name: String,
    },
    /// The state has an entry for a parameter this optimizer does not update.
    #[error("the optimizer state holds parameter `{name}`, which this optimizer does not update (a different model?)")]
    Unexpected {
        /// The parameter's dotted name.
        name: String,
    },
    /// The state holds another number of tensors for a parameter than this optimizer keeps.
    #[error(
        "parameter `{name}`: the optimizer state holds {found} tensors but {optimizer} keeps {expected} per parameter \
         (saved by another optimizer, or with other settings such as momentum?)"
    )]
    SlotCount {
        /// The optimizer loading the state.
        optimizer: &'static str,
        /// The parameter's dotted name.
        name: String,
        /// Tensors this optimizer keeps for the parameter.
        expected: usize,
        /// Tensors in the state.
        found: usize,
    },
    /// A state tensor's shape differs from the parameter's.
    #[error("parameter `{name}`, optimizer tensor {slot}: the state holds shape {found:?} but the parameter has {expected:?}")]
    Shape {
        /// The parameter's dotted name.
        name: String,
        /// The index of the tensor in the parameter's list (e.g. 0 for Adam's `m`, 1 for `v`).
        slot: usize,
        /// The shape the optimizer expects.
        expected: Vec<usize>,
        /// The shape in the state.
        found: Vec<usize>,
    },
    /// The state's learning rate is negative, infinite or NaN.
    #[error("the optimizer state's learning rate {0} is not a finite, non-negative number")]
    LearningRate(f64),
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the optimizer tests: tiny `f64` parameters and hand-made gradients.

    use nabla_autograd::{Gradients, Var};
    use nabla_tensor::{DType, Tensor};

    /// One parameter `p` holding `values`.
    pub fn param(values: &[f64], dtype: DType) -> Vec<(String, Var)> {
        vec![("p".to_string(), Var::new(Tensor::from_f64s(values, &[values.len()], dtype)))]
    }

    /// Gradients giving `params[0]` the gradient `values`.
    pub fn grads(params: &[(String, Var)], values: &[f64]) -> Gradients {
        let mut g = Gradients::new();
        let p = &params[0].1;
        g.insert(p, Tensor::from_f64s(values, &[values.len()], p.dtype()));
        g
    }

    /// Asserts that `params[0]` holds `expected` within `1e-12`.
    #[track_caller]
    pub fn assert_values(params: &[(String, Var)], expected: &[f64]) {
        let got = params[0].1.value().to_vec_f64();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-12, "got {got:?}, expected {expected:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_tensor::DType;
    use testing::*;

    /// Every optimizer with non-default settings that exercise all of its state tensors.
    fn all(params: Vec<(String, Var)>) -> Vec<Box<dyn Optimizer>> {
        vec![
            Box::new(SgdConfig::new(0.05).init(params.clone())),
            Box::new(
                SgdConfig::new(0.05)
                    .with_momentum(0.9)
                    .with_nesterov(true)
                    .with_weight_decay(1e-3)
                    .init(params.clone()),
            ),
            Box::new(AdamConfig::new(0.05).with_weight_decay(1e-3).init(params.clone())),
            Box::new(AdamWConfig::new(0.05).init(params.clone())),
            Box::new(RmsPropConfig::new(0.01).with_momentum(0.5).with_centered(true).init(params.clone())),
            Box::new(AdagradConfig::new(0.5).init(params)),
        ]
    }

    /// `f(p) = Σ aᵢ(pᵢ − cᵢ)²` and its gradient `2a(p − c)`, through the tape.
    fn bowl(p: &Var, a: &[f64], c: &[f64]) -> (f64, Gradients) {
        let n = a.len();
        let a = Var::constant(Tensor::from_f64s(a, &[n], p.dtype()));
        let c = Var::constant(Tensor::from_f64s(c, &[n], p.dtype()));
        let loss = p.sub(&c).powf(2.0).mul(&a).sum();
        (loss.item(), loss.backward())
    }

    #[test]
    fn every_optimizer_converges_on_a_quadratic_bowl() {
        // An elongated bowl (curvatures 1 and 10) with its minimum at c = (1, −2).
        let (a, c) = ([1.0, 10.0], [1.0, -2.0]);
        let n = all(param(&[0.0, 0.0], DType::F64)).len();
        for k in 0..n {
            let params = param(&[0.0, 0.0], DType::F64);
            let mut opt = all(params.clone()).swap_remove(k);
            for _ in 0..2000 {
                let (_, g) = bowl(&params[0].1, &a, &c);
                opt.step(&g);
            }
            let p = params[0].1.value().to_vec_f64();
            // Weight decay moves the minimum slightly towards 0 (by < 0.002 here).
            let close = p.iter().zip(c).all(|(p, c)| (p - c).abs() < 0.005);
            assert!(close, "{} (optimizer #{k}) ended at {p:?}, the minimum is {c:?}", opt.name());
        }
    }

    #[test]
    fn adam_and_momentum_sgd_solve_rosenbrock() {
        // f(x, y) = (1 − x)² + 100(y − x²)², minimum at (1, 1), from the classic start (−1.5, 2).
        fn rosenbrock(p: &Var) -> Gradients {
            let x = p.narrow(0, 0, 1);
            let y = p.narrow(0, 1, 1);
            let a = x.mul_scalar(-1.0).add_scalar(1.0).powf(2.0);
            let b = y.sub(&x.powf(2.0)).powf(2.0).mul_scalar(100.0);
            a.add(&b).sum().backward()
        }
        let (adam_params, sgd_params) = (param(&[-1.5, 2.0], DType::F64), param(&[-1.5, 2.0], DType::F64));
        let runs: [(_, Box<dyn Optimizer>, _); 2] = [
            (&adam_params, Box::new(AdamConfig::new(0.02).init(adam_params.clone())), 5000),
            (&sgd_params, Box::new(SgdConfig::new(2e-4).with_momentum(0.9).init(sgd_params.clone())), 20000),
        ];
        for (params, mut opt, steps) in runs {
            for _ in 0..steps {
                opt.step(&rosenbrock(&params[0].1));
            }
            let p = params[0].1.value().to_vec_f64();
            assert!(p.iter().all(|v| (v - 1.0).abs() < 1e-3), "{} ended at {p:?}", opt.name());
        }
    }

    #[test]
    fn state_round_trip_continues_bit_for_bit() {
        let (a, c) = ([0.5, 3.0, 1.5], [0.3, -0.7, 1.1]);
        let n = all(param(&[0.0; 3], DType::F32)).len();
        for k in 0..n {
            // Run A for three steps, save, build B on a copy of the parameters and load.
            let params_a = param(&[0.1, 0.2, -0.3], DType::F32);
            let mut opt_a = all(params_a.clone()).swap_remove(k);
            for _ in 0..3 {
                opt_a.step(&bowl(&params_a[0].1, &a, &c).1);
            }
            let saved = opt_a.state();
            assert_eq!(saved.step, 3);
            let params_b = vec![("p".to_string(), Var::new(params_a[0].1.value()))];
            let mut opt_b = all(params_b.clone()).swap_remove(k);
            opt_b.set_learning_rate(123.0); // overwritten by the state
            opt_b.load_state(&saved).unwrap();
            assert_eq!(opt_b.state(), saved);
            assert_eq!(opt_b.learning_rate(), opt_a.learning_rate());
            // The same next two steps, bit for bit.
            for _ in 0..2 {
                opt_a.step(&bowl(&params_a[0].1, &a, &c).1);
                opt_b.step(&bowl(&params_b[0].1, &a, &c).1);
                let bits =
                    |p: &[(String, Var)]| p[0].1.value().to_vec_f32().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&params_a), bits(&params_b), "{} (#{k})", opt_a.name());
            }
            assert_eq!(opt_a.state(), opt_b.state());
        }
    }

    #[test]
    fn load_state_errors_name_the_parameter_and_change_nothing() {
        let params = vec![
            ("fc.weight".to_string(), Var::new(Tensor::zeros(&[2, 3], DType::F32))),
            ("fc.bias".to_string(), Var::new(Tensor::zeros(&[2], DType::F32))),
        ];
        let mut adam = AdamConfig::new(0.1).init(params.clone());
        let mut g = Gradients::new();
        g.insert(&params[0].1, Tensor::ones(&[2, 3], DType::F32));
        g.insert(&params[1].1, Tensor::ones(&[2], DType::F32));
        adam.step(&g);
        let good = adam.state();
        let before = adam.state();

        let mut missing = good.clone();
        missing.slots.remove("fc.bias");
        let err = adam.load_state(&missing).unwrap_err();
        assert_eq!(err, OptimizerStateError::Missing { name: "fc.bias".into() });
        assert!(err.to_string().contains("`fc.bias`"));

        let mut extra = good.clone();
        extra.slots.insert("fc2.weight".into(), vec![]);
        let err = adam.load_state(&extra).unwrap_err();
        assert_eq!(err, OptimizerStateError::Unexpected { name: "fc2.weight".into() });

        let mut short = good.clone();
        short.slots.get_mut("fc.weight").unwrap().pop();
        let err = adam.load_state(&short).unwrap_err();
        assert_eq!(
            err,
            OptimizerStateError::SlotCount { optimizer: "Adam", name: "fc.weight".into(), expected: 2, found: 1 }
        );

        let mut reshaped = good.clone();
        reshaped.slots.get_mut("fc.weight").unwrap()[1] = Tensor::zeros(&[3, 2], DType::F32);
        reshaped.step = 99;
        let err = adam.load_state(&reshaped).unwrap_err();
        assert_eq!(
            err,
            OptimizerStateError::Shape { name: "fc.weight".into(), slot: 1, expected: vec![2, 3], found: vec![3, 2] }
        );
        assert_eq!(
            err.to_string(),
            "parameter `fc.weight`, optimizer tensor 1: the state holds shape [3, 2] but the parameter has [2, 3]"
        );

        let mut bad_lr = good.clone();
        bad_lr.learning_rate = f64::NAN;
        assert!(matches!(adam.load_state(&bad_lr), Err(OptimizerStateError::LearningRate(_))));

        // SGD with momentum keeps one tensor per parameter, so Adam's state does not fit it.
        let mut sgd = SgdConfig::new(0.1).with_momentum(0.9).init(params.clone());
        let err = sgd.load_state(&good).unwrap_err();
        assert!(matches!(err, OptimizerStateError::SlotCount { expected: 1, found: 2, .. }), "{err}");

        // Nothing changed by the failed loads; a good state still loads, converting f64 to f32.
        assert_eq!(adam.state(), before);
        let mut as_f64 = good.clone();
        for slots in as_f64.slots.values_mut() {
            for t in slots.iter_mut() {
                *t = t.to_dtype(DType::F64);
            }
        }
        adam.load_state(&as_f64).unwrap();
        assert_eq!(adam.state(), good);
    }

    #[test]
    fn parameters_without_a_gradient_are_left_alone() {
        let params = vec![
            ("a".to_string(), Var::new(Tensor::ones(&[2], DType::F64))),
            ("b".to_string(), Var::new(Tensor::ones(&[2], DType::F64))),
        ];
        for mut opt in all(params.clone()) {
            let mut g = Gradients::new();
            g.insert(&params[0].1, Tensor::ones(&[2], DType::F64));
            let b_state = opt.state().slots["b"].clone();
            opt.step(&g);
            assert_eq!(params[1].1.value().to_vec_f64(), vec![1.0, 1.0], "{}", opt.name());
            let after = opt.state();
            assert!(after.slots["b"].iter().zip(&b_state).all(|(x, y)| x.to_vec_f64() == y.to_vec_f64()));
            assert_ne!(params[0].1.value().to_vec_f64(), vec![1.0, 1.0], "{}", opt.name());
            params[0].1.set_value(Tensor::ones(&[2], DType::F64));
        }
    }

    #[test]
    fn parameters_keep_their_dtype() {
        for dtype in [DType::F32, DType::F64] {
            let params = param(&[1.0, 2.0], dtype);
            for mut opt in all(params.clone()) {
                // A gradient of the other dtype is converted to the parameter's.
                let other = if dtype == DType::F32 { DType::F64 } else { DType::F32 };
                let mut g = Gradients::new();
                g.insert(&params[0].1, Tensor::ones(&[2], other));
                opt.step(&g);
                assert_eq!(params[0].1.dtype(), dtype);
                assert!(opt.state().slots["p"].iter().all(|t| t.dtype() == dtype));
            }
        }
    }

    #[test]
    #[should_panic(expected = "the gradient of `p` has shape [3] but the parameter has shape [2]")]
    fn a_gradient_of_the_wrong_shape_is_reported() {
        let params = param(&[1.0, 2.0], DType::F64);
        let mut opt = AdamConfig::new(0.1).init(params.clone());
        let mut g = Gradients::new();
        g.insert(&params[0].1, Tensor::ones(&[3], DType::F64));
        opt.step(&g);
    }

    #[test]
    fn state_equality_compares_values() {
        let mut a = OptimizerState { step: 1, learning_rate: 0.1, ..Default::default() };
        a.slots.insert("w".into(), vec![Tensor::from_vec(vec![1.0f32, 2.0], &[2])]);
        let mut b = a.clone();
        assert_eq!(a, b);
        b.slots.get_mut("w").unwrap()[0] = Tensor::from_vec(vec![1.0f32, 2.5], &[2]);
        assert_ne!(a, b);
        b.slots.get_mut("w").unwrap()[0] = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
        assert_ne!(a, b, "dtypes differ");
    }
}
