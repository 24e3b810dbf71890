//! The [`Module`] trait: what every layer and model is.
//!
//! A module maps an input `Var` to an output `Var` and owns some tensors:
//!
//! * **parameters** — `Var::new` leaves the optimizer learns (`weight`, `bias`);
//! * **buffers** — state that is saved and loaded but not learned (BatchNorm's running mean).
//!
//! Each tensor has a hierarchical name built from the path to it, e.g. `block1.conv.weight`:
//! containers name their children, and [`Visitor::child`] joins the names with dots. Those
//! names are what checkpoints store, so a model saved by one program loads into another that
//! builds the same structure.
//!
//! ```
//! use nabla_layers::{LinearConfig, Module, ModuleExt};
//! use nabla_tensor::rng;
//! let layer = LinearConfig::new(3, 2).init(&mut rng(0));
//! let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["weight", "bias"]);
//! assert_eq!(layer.num_parameters(), 3 * 2 + 2);
//! ```
//!
//! `forward` takes `&self`: parameters are `Var`s, whose values an optimizer updates through
//! shared handles, and the little mutable state some layers keep (BatchNorm's running
//! statistics, Dropout's random stream) sits behind interior mutability. Switching between
//! training and evaluation behaviour, which changes what a layer computes, takes `&mut self`.

use std::collections::BTreeMap;

use nabla_autograd::Var;
use nabla_tensor::{DType, Tensor};

use crate::summary::Trace;

/// Whether a named tensor is learned or only tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Learned by the optimizer (gradients flow to it).
    Parameter,
    /// Saved and loaded, updated by the layer itself, not learned (running statistics);
    /// counted as non-trainable parameters in summaries, as Keras does.
    Buffer,
    /// Bookkeeping that is saved and loaded so a resumed run behaves identically, but is not
    /// a parameter of any kind (Dropout's call counter); not counted in summaries.
    State,
}

/// Walks a module tree, handing each tensor to a callback under its full dotted name.
pub struct Visitor<'a> {
    prefix: String,
    callback: &'a mut dyn FnMut(&str, &Var, TensorKind),
}

impl<'a> Visitor<'a> {
    /// A visitor that calls `callback(name, var, kind)` for every tensor.
    pub fn new(callback: &'a mut dyn FnMut(&str, &Var, TensorKind)) -> Self {
        Visitor { prefix: String::new(), callback }
    }

    fn full_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Reports a learned parameter called `name`.
    pub fn parameter(&mut self, name: &str, var: &Var) {
        let full = self.full_name(name);
        (self.callback)(&full, var, TensorKind::Parameter);
    }

    /// Reports a buffer called `name`.
    pub fn buffer(&mut self, name: &str, var: &Var) {
        let full = self.full_name(name);
        (self.callback)(&full, var, TensorKind::Buffer);
    }

    /// Reports bookkeeping state called `name` (see [`TensorKind::State`]).
    pub fn state(&mut self, name: &str, var: &Var) {
        let full = self.full_name(name);
        (self.callback)(&full, var, TensorKind::State);
    }

    /// Visits a child module whose tensors are then named `name.…`.
    pub fn child(&mut self, name: &str, module: &dyn Module) {
        let saved = std::mem::take(&mut self.prefix);
        self.prefix = if saved.is_empty() { name.to_string() } else { format!("{saved}.{name}") };
        module.visit(self);
        self.prefix = saved;
    }
}

/// A layer or a model; see the [module docs](self).
pub trait Module: Send + Sync {
    /// The output for `input`.
    fn forward(&self, input: &Var) -> Var;

    /// The type's name as summaries show it, e.g. `"Linear"`.
    fn kind(&self) -> &'static str;

    /// Reports every parameter and buffer (including those of children) to `visitor`.
    fn visit(&self, visitor: &mut Visitor<'_>);

    /// Switches training behaviour (dropout active, batch statistics) on or off.
    /// Containers pass it on to their children; layers without such behaviour ignore it.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Multiply-adds × 2 of one forward pass from `input_shape` to `output_shape`, for
    /// [`summary`](crate::summary()). Layers whose cost is negligible (activations, reshapes)
    /// count 0.
    fn flops(&self, input_shape: &[usize], output_shape: &[usize]) -> u64 {
        let _ = (input_shape, output_shape);
        0
    }

    /// `forward` that also records a summary row for this module. Containers override it to
    /// record each child under its name; other modules keep this default (one row).
    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        let output = self.forward(input);
        trace.record(self, input.shape(), output.shape());
        output
    }
}

/// Conveniences for every [`Module`], built on [`Module::visit`].
pub trait ModuleExt: Module {
    /// Every `(name, tensor, kind)` in visiting order.
    fn named_tensors(&self) -> Vec<(String, Var, TensorKind)> {
        let mut out = Vec::new();
        let mut collect = |name: &str, var: &Var, kind: TensorKind| out.push((name.to_string(), var.clone(), kind));
        self.visit(&mut Visitor::new(&mut collect));
        out
    }

    /// The learned parameters with their names.
    fn named_parameters(&self) -> Vec<(String, Var)> {
        self.named_tensors().into_iter().filter(|t| t.2 == TensorKind::Parameter).map(|(n, v, _)| (n, v)).collect()
    }

    /// The learned parameters (handles to the model's own `Var`s).
    fn parameters(&self) -> Vec<Var> {
        self.named_parameters().into_iter().map(|(_, v)| v).collect()
    }

    /// The buffers with their names.
    fn named_buffers(&self) -> Vec<(String, Var)> {
        self.named_tensors().into_iter().filter(|t| t.2 == TensorKind::Buffer).map(|(n, v, _)| (n, v)).collect()
    }

    /// The number of learned scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.value().len()).sum()
    }

    /// Every parameter and buffer by name: what a checkpoint stores.
    fn state_dict(&self) -> BTreeMap<String, Tensor> {
        self.named_tensors().into_iter().map(|(n, v, _)| (n, v.value())).collect()
    }

    /// Sets every parameter and buffer from `state`, which must hold exactly this module's
    /// names with the same shapes; on any mismatch nothing is changed and the error says which
    /// name and what was expected.
    fn load_state_dict(&self, state: &BTreeMap<String, Tensor>) -> Result<(), StateError> {
        let tensors = self.named_tensors();
        for (name, var, _) in &tensors {
            let Some(value) = state.get(name) else {
                return Err(StateError::Missing { name: name.clone(), shape: var.shape().to_vec() });
            };
            if value.shape() != var.shape() {
                return Err(StateError::Shape {
                    name: name.clone(),
                    expected: var.shape().to_vec(),
                    found: value.shape().to_vec(),
                });
            }
        }
        if let Some(extra) = state.keys().find(|k| !tensors.iter().any(|(n, _, _)| n == *k)) {
            return Err(StateError::Unexpected { name: extra.clone() });
        }
        for (name, var, _) in &tensors {
            var.set_value(state[name].to_dtype(var.dtype()));
        }
        Ok(())
    }

    /// Converts every parameter and buffer to `dtype` (`F64` for gradient checks).
    fn to_dtype(&self, dtype: DType) {
        for (_, var, _) in self.named_tensors() {
            var.set_value(var.value().to_dtype(dtype));
        }
    }

    /// Switches to training behaviour (see [`Module::set_training`]).
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Switches to evaluation behaviour (see [`Module::set_training`]).
    fn eval(&mut self) {
        self.set_training(false);
    }
}

impl<M: Module + ?Sized> ModuleExt for M {}

/// Why a state dict could not be loaded into a module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The module has a tensor the state lacks.
    #[error("the state has no tensor `{name}` (the model expects one of shape {shape:?})")]
    Missing {
        /// The tensor's dotted name.
        name: String,
        /// The shape the model expects.
        shape: Vec<usize>,
    },
    /// The state holds a tensor the module does not have.
    #[error("the state holds `{name}`, which this model does not have (a different architecture?)")]
    Unexpected {
        /// The tensor's dotted name.
        name: String,
    },
    /// A tensor's shape differs.
    #[error("tensor `{name}` has shape {found:?} in the state but the model expects {expected:?}")]
    Shape {
        /// The tensor's dotted name.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape in the state.
        found: Vec<usize>,
    },
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, input: &Var) -> Var {
        (**self).forward(input)
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        (**self).visit(visitor)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
    fn flops(&self, input_shape: &[usize], output_shape: &[usize]) -> u64 {
        (**self).flops(input_shape, output_shape)
    }
    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        (**self).forward_traced(input, trace)
    }
}
