//! The bookkeeping every optimizer shares: its named parameters, each one's state tensors
//! ("slots"), the step count and the learning rate — and how they are saved and restored.

use std::collections::HashSet;

use nabla_autograd::{Gradients, Var};
use nabla_tensor::Tensor;

use super::{OptimizerState, OptimizerStateError};

/// Parameters with `count` state tensors each (zeros of the parameter's shape and dtype).
#[derive(Debug)]
pub(crate) struct ParamSlots {
    /// Which optimizer this is, for messages.
    optimizer: &'static str,
    pub(crate) params: Vec<(String, Var)>,
    /// `slots[i]` belongs to `params[i]`, in the optimizer's fixed order.
    slots: Vec<Vec<Tensor>>,
    pub(crate) step: u64,
    lr: f64,
}

/// Panics unless `lr` is a usable learning rate.
#[track_caller]
pub(crate) fn check_learning_rate(optimizer: &str, lr: f64) {
    assert!(lr.is_finite() && lr >= 0.0, "{optimizer}: the learning rate must be finite and ≥ 0, but is {lr}");
}

impl ParamSlots {
    /// # Panics
    /// If two parameters share a name, or `lr` is negative or not finite.
    #[track_caller]
    pub(crate) fn new(optimizer: &'static str, params: Vec<(String, Var)>, lr: f64, count: usize) -> Self {
        check_learning_rate(optimizer, lr);
        let mut seen = HashSet::new();
        for (name, _) in &params {
            assert!(seen.insert(name.as_str()), "{optimizer}: two parameters are named `{name}`; names must be unique");
        }
        let slots = params.iter().map(|(_, p)| vec![p.value().zeros_like(); count]).collect();
        ParamSlots { optimizer, params, slots, step: 0, lr }
    }

    /// The same, with every state tensor filled with `value` instead of zeros.
    pub(crate) fn filled(mut self, value: f64) -> Self {
        for slots in &mut self.slots {
            for t in slots.iter_mut() {
                *t = Tensor::full(t.shape(), value, t.dtype());
            }
        }
        self
    }

    pub(crate) fn learning_rate(&self) -> f64 {
        self.lr
    }

    #[track_caller]
    pub(crate) fn set_learning_rate(&mut self, lr: f64) {
        check_learning_rate(self.optimizer, lr);
        self.lr = lr;
    }

    /// One optimizer step: for every parameter with a gradient, `update(p, g, slots)` changes
    /// the parameter's value `p` and its slots in place. Counts the step.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's.
    #[track_caller]
    pub(crate) fn step(&mut self, grads: &Gradients, mut update: impl FnMut(&mut Tensor, &Tensor, &mut [Tensor])) {
        for ((name, param), slots) in self.params.iter().zip(&mut self.slots) {
            let Some(grad) = grads.get(param) else { continue };
            let shape = param.shape();
            assert!(
                grad.shape() == shape,
                "{}: the gradient of `{name}` has shape {:?} but the parameter has shape {:?}",
                self.optimizer,
                grad.shape(),
                shape
            );
            param.update_value(|value| update(value, grad, slots));
        }
        self.step += 1;
    }

    pub(crate) fn state(&self) -> OptimizerState {
        let slots = self.params.iter().zip(&self.slots).map(|((name, _), s)| (name.clone(), s.clone())).collect();
        OptimizerState { step: self.step, learning_rate: self.lr, slots }
    }

    /// Checks all of `state` first, then applies it, so an error changes nothing.
    pub(crate) fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimizerStateError> {
        if !(state.learning_rate.is_finite() && state.learning_rate >= 0.0) {
            return Err(OptimizerStateError::LearningRate(state.learning_rate));
        }
        for ((name, param), current) in self.params.iter().zip(&self.slots) {
            let Some(saved) = state.slots.get(name) else {
                return Err(OptimizerStateError::Missing { name: name.clone() });
            };
            if saved.len() != current.len() {
                return Err(OptimizerStateError::SlotCount {
                    optimizer: self.optimizer,
                    name: name.clone(),
                    expected: current.len(),
                    found: saved.len(),
                });
            }
            let expected = param.shape();
            if let Some((slot, t)) = saved.iter().enumerate().find(|(_, t)| t.shape() != expected) {
                return Err(OptimizerStateError::Shape {
                    name: name.clone(),
                    slot,
                    expected: expected.to_vec(),
                    found: t.shape().to_vec(),
                });
            }
        }
        let known: HashSet<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(extra) = state.slots.keys().find(|k| !known.contains(k.as_str())) {
            return Err(OptimizerStateError::Unexpected { name: extra.clone() });
        }
        for ((name, param), slots) in self.params.iter().zip(&mut self.slots) {
            let dtype = param.dtype();
            *slots = state.slots[name].iter().map(|t| t.to_dtype(dtype)).collect();
        }
        self.step = state.step;
        self.lr = state.learning_rate;
        Ok(())
    }
}

/// The [`Optimizer`](super::Optimizer) methods every optimizer answers the same way, from its
/// `slots: Slots` field: learning rate, parameters, state and loading it. Used inside each
/// `impl Optimizer`, so only `name` and `step` (the update rule) differ between optimizers.
macro_rules! slots_bookkeeping {
    () => {
        fn learning_rate(&self) -> f64 {
            self.slots.learning_rate()
        }

        #[track_caller]
        fn set_learning_rate(&mut self, lr: f64) {
            self.slots.set_learning_rate(lr);
        }

        fn parameters(&self) -> &[(String, Var)] {
            &self.slots.params
        }

        fn state(&self) -> OptimizerState {
            self.slots.state()
        }

        fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimizerStateError> {
            self.slots.load_state(state)
        }
    };
}
