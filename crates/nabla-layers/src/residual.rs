//! Residual connection (He et al., 2016, ResNet): the input skips around a block and is added
//! back to its output.
//!
//! ```text
//! y = f(x) + x          identity shortcut
//! y = f(x) + g(x)       projection shortcut (when f changes the shape, e.g. a 1×1 conv)
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | any |
//! | `f(x)` (child `body`), `g(x)` (child `shortcut`) | the same as each other; `x`'s without `g` |
//! | output `y` | that shape |
//!
//! The gradient reaches `x` along both paths, `x̄ = f'(x)ᵀȳ + ȳ`: even when the block's
//! gradient is small, the identity path carries `ȳ` through unchanged, which is what lets very
//! deep networks train. Parameters are named `body.…` and `shortcut.…`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{LinearConfig, Module, ModuleExt, ReLU, Residual, Sequential};
//! use nabla_tensor::{rng, DType, Tensor};
//! let mut r = rng(0);
//! let block = Residual::new(
//!     Sequential::new().add(LinearConfig::new(8, 8).init(&mut r)).add(ReLU).add(LinearConfig::new(8, 8).init(&mut r)),
//! );
//! assert_eq!(block.forward(&Var::constant(Tensor::zeros(&[4, 8], DType::F32))).shape(), vec![4, 8]);
//! assert_eq!(block.named_parameters()[0].0, "body.0.weight");
//! ```

use nabla_autograd::Var;

use crate::module::{Module, Visitor};
use crate::summary::Trace;

/// `y = f(x) + x`, or `f(x) + g(x)`; see the [module docs](self).
pub struct Residual {
    body: Box<dyn Module>,
    shortcut: Option<Box<dyn Module>>,
}

impl Residual {
    /// `y = body(x) + x`.
    pub fn new(body: impl Module + 'static) -> Self {
        Residual { body: Box::new(body), shortcut: None }
    }

    /// `y = body(x) + shortcut(x)`: a projection shortcut, for a body that changes the shape.
    pub fn with_shortcut(body: impl Module + 'static, shortcut: impl Module + 'static) -> Self {
        Residual { body: Box::new(body), shortcut: Some(Box::new(shortcut)) }
    }

    /// The block `f`.
    pub fn body(&self) -> &dyn Module {
        self.body.as_ref()
    }

    /// The projection `g`, if there is one.
    pub fn shortcut(&self) -> Option<&dyn Module> {
        self.shortcut.as_deref()
    }

    /// `f(x) + skip`, with an error naming both shapes when they differ.
    #[track_caller]
    fn join(&self, x: &Var, fx: Var, skip: Var) -> Var {
        let (body, other) = (fx.shape(), skip.shape());
        if body != other {
            match &self.shortcut {
                None => panic!(
                    "Residual: the body maps {:?} to {body:?}, which cannot be added to the input; \
                     give a projection shortcut (`Residual::with_shortcut`) that maps the input to {body:?}",
                    x.shape()
                ),
                Some(_) => panic!(
                    "Residual: the body maps {:?} to {body:?} but the shortcut to {other:?}; they must agree",
                    x.shape()
                ),
            }
        }
        fx.add(&skip)
    }
}

impl Module for Residual {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let fx = self.body.forward(input);
        let skip = match &self.shortcut {
            Some(g) => g.forward(input),
            None => input.clone(),
        };
        self.join(input, fx, skip)
    }

    fn kind(&self) -> &'static str {
        "Residual"
    }

    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.child("body", self.body.as_ref());
        if let Some(g) = &self.shortcut {
            visitor.child("shortcut", g.as_ref());
        }
    }

    fn set_training(&mut self, training: bool) {
        self.body.set_training(training);
        if let Some(g) = &mut self.shortcut {
            g.set_training(training);
        }
    }

    fn forward_traced(&self, input: &Var, trace: &mut Trace) -> Var {
        trace.enter("body");
        let fx = self.body.forward_traced(input, trace);
        trace.exit();
        let skip = match &self.shortcut {
            Some(g) => {
                trace.enter("shortcut");
                let gx = g.forward_traced(input, trace);
                trace.exit();
                gx
            }
            None => input.clone(),
        };
        self.join(input, fx, skip)
    }
}
