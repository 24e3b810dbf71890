//! `Sequential`: layers applied one after another, `y = fₙ(…f₂(f₁(x)))`.
//!
//! Children are named `"0"`, `"1"`, … in order (as in PyTorch), or by the name given to
//! [`Sequential::add_named`]; their parameters are then called `0.weight`, `conv1.bias`, ….
//!
//! ```
//! use nabla_layers::{LinearConfig, ModuleExt, ReLU, Sequential};
//! use nabla_tensor::rng;
//! let mut r = rng(0);
//! let model = Sequential::new()
//!     .add(LinearConfig::new(784, 128).init(&mut r))
//!     .add(ReLU)
//!     .add(LinearConfig::new(128, 10).init(&mut r));
//! assert_eq!(model.num_parameters(), 784 * 128 + 128 + 128 * 10 + 10);
//! ```

use nabla_autograd::Var;

use crate::module::{Module, Visitor};
use crate::summary::Trace;

/// A chain of modules; see the [module docs](self).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `layer`, named by its position (Keras' `model.add`).
    #[allow(clippy::should_implement_trait)] // Keras' name; `Sequential` is not a number.
    pub fn add(self, layer: impl Module + 'static) -> Self {
        let name = self.layers.len().to_string();
        self.add_named(&name, layer)
    }

    /// Appends `layer` under `name`.
    ///
    /// # Panics
    /// If `name` is empty, contains a dot, or is already used.
    #[track_caller]
    pub fn add_named(mut self, name: &str, layer: impl Module + 'static) -> Self {
        assert!(
            !name.is_empty() && !name.contains('.'),
            "Sequential: layer name {name:?} must be non-empty, without dots"
        );
        assert!(self.layers.iter().all(|(n, _)| n != name), "Sequential: a layer is already named {name:?}");
        self.layers.push((name.to_string(), Box::new(layer)));
        self
    }

    /// Appends an already boxed layer, named by its position.
    pub fn add_boxed(mut self, layer: Box<dyn Module>) -> Self {
        let name = self.layers.len().to_string();
        self.layers.push((name, layer));
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers with their names.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.layers.iter().map(|(n, l)| (n.as_str(), l.as_ref()))
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Var) -> Var {
        self.layers.iter().fold(input.clone(), |x, (_, layer)| layer.forward(&x))
    }

    fn kind(&self) -> &'static str {
        "Sequential"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        for (name, layer) in &self.layers {
            visitor.child(name, layer.as_ref());
        }
    }

    fn set_training(&mut self, training: bool) {
        for (_, layer) in &mut self.layers {
            layer.set_training(training);
        }
    }

    fn flops(&self, _input_shape: &[usize], _output_shape: &[usize]) -> u64 {
        0 // each child reports its own row
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        self.layers.iter().fold(input.clone(), |x, (name, layer)| {
            trace.enter(name);
            let y = layer.forward_traced(&x, trace);
            trace.exit();
            y
        })
    }
}
