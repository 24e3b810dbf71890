//! `Concat`: several branches read the same input and their outputs are joined along an axis,
//! as in an Inception block (Szegedy et al., 2015) or a DenseNet layer.
//!
//! ```text
//! y = [f₁(x) | f₂(x) | … | fₖ(x)]      joined along `axis`
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | any |
//! | branch outputs `fᵢ(x)` | equal on every axis except `axis` |
//! | output `y` | that shape, with `Σᵢ` of the extents along `axis` |
//!
//! The gradient of `y` is cut back into one stretch per branch, and the branches' gradients
//! with respect to `x` add up (`x` feeds every branch). Branches are named `"0"`, `"1"`, … in
//! order, or by [`Concat::add_named`], like [`Sequential`](crate::Sequential)'s layers.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Concat, LinearConfig, Module};
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut r = rng(0);
//! let branches = Concat::new(1).add(LinearConfig::new(8, 3).init(&mut r)).add(LinearConfig::new(8, 5).init(&mut r));
//! assert_eq!(branches.forward(&Var::constant(Tensor::zeros(&[4, 8], DType::F32))).shape(), vec![4, 8]);
//! ```

use nabla_autograd::Var;

use crate::module::{Module, Visitor};
use crate::summary::Trace;

/// Branches on one input, joined along an axis; see the [module docs](self).
pub struct Concat {
    axis: usize,
    branches: Vec<(String, Box<dyn Module>)>,
}

impl Concat {
    /// No branches yet; outputs will be joined along `axis` (`1`, the channels, for images).
    pub fn new(axis: usize) -> Self {
        Concat { axis, branches: Vec::new() }
    }

    /// Adds a branch, named by its position.
    #[allow(clippy::should_implement_trait)] // as `Sequential::add`
    pub fn add(self, branch: impl Module + 'static) -> Self {
        let name = self.branches.len().to_string();
        self.add_named(&name, branch)
    }

    /// Adds a branch under `name`.
    ///
    /// # Panics
    /// If `name` is empty, contains a dot, or is already used.
    #[track_caller]
    pub fn add_named(mut self, name: &str, branch: impl Module + 'static) -> Self {
        assert!(
            !name.is_empty() && !name.contains('.'),
            "Concat: branch name {name:?} must be non-empty, without dots"
        );
        assert!(self.branches.iter().all(|(n, _)| n != name), "Concat: a branch is already named {name:?}");
        self.branches.push((name.to_string(), Box::new(branch)));
        self
    }

    /// The axis the outputs are joined along.
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// The branches with their names.
    pub fn branches(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.branches.iter().map(|(n, b)| (n.as_str(), b.as_ref()))
    }

    /// Joins the branch outputs, with an error naming each branch's shape when they do not fit.
    #[track_caller]
    fn join(&self, outputs: &[Var]) -> Var {
        assert!(!outputs.is_empty(), "Concat: there are no branches to run (add some with `Concat::add`)");
        Var::try_concat(outputs, self.axis).unwrap_or_else(|e| {
            let shapes: Vec<String> =
                self.branches.iter().zip(outputs).map(|((n, _), y)| format!("{n}: {:?}", y.shape())).collect();
            panic!(
                "Concat: the branch outputs cannot be joined along axis {} ({}); they must agree on every other axis ({e})",
                self.axis,
                shapes.join(", ")
            )
        })
    }
}

impl Module for Concat {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let outputs: Vec<Var> = self.branches.iter().map(|(_, b)| b.forward(input)).collect();
        self.join(&outputs)
    }

    fn kind(&self) -> &'static str {
        "Concat"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        for (name, branch) in &self.branches {
            visitor.child(name, branch.as_ref());
        }
    }

    fn set_training(&mut self, training: bool) {
        for (_, branch) in &mut self.branches {
            branch.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        let outputs: Vec<Var> = self
            .branches
            .iter()
            .map(|(name, branch)| {
                trace.enter(name);
                let y = branch.forward_traced(input, trace);
                trace.exit();
                y
            })
            .collect();
        self.join(&outputs)
    }
}
