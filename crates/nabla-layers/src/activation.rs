//! Activation layers: elementwise nonlinearities with no parameters.
//!
//! | layer | `f(x)` | note |
//! |---|---|---|
//! | [`ReLU`] | `max(x, 0)` | the default for hidden layers |
//! | [`LeakyReLU`] | `x` if `x > 0` else `αx` | keeps a small gradient for `x < 0` |
//! | [`ELU`] | `x` if `x > 0` else `α(eˣ − 1)` | smooth, negative outputs |
//! | [`GELU`] | `x·Φ(x)` | Transformers |
//! | [`Sigmoid`] | `1/(1 + e⁻ˣ)` | outputs in (0, 1) |
//! | [`Tanh`] | `tanh x` | outputs in (−1, 1) |
//! | [`Softmax`] | `eˣⁱ / Σⱼ eˣʲ` along an axis | a probability distribution |
//!
//! Their derivatives come from the autograd ops they call.

use nabla_autograd::Var;

use crate::module::{Module, Visitor};

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name;

        impl Module for $name {
            fn forward(&self, $x: &Var) -> Var {
                $body
            }
            fn kind(&self) -> &'static str {
                stringify!($name)
            }
            fn visit(&self, _visitor: &mut Visitor<'_>) {}
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ReLU, |x| x.relu());
activation!(
    /// Exact GELU, `x·Φ(x)`.
    GELU, |x| x.gelu());
activation!(
    /// The logistic sigmoid.
    Sigmoid, |x| x.sigmoid());
activation!(
    /// The hyperbolic tangent.
    Tanh, |x| x.tanh());

/// `x` where positive, `slope·x` elsewhere (Keras' default slope is 0.3, PyTorch's 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The slope for negative inputs, in `[0, 1)`.
    pub slope: f64,
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Var) -> Var {
        x.leaky_relu(self.slope)
    }
    fn kind(&self) -> &'static str {
        "LeakyReLU"
    }
    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}

/// `x` where positive, `α(eˣ − 1)` elsewhere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ELU {
    /// Scale of the negative part (1.0 is the usual choice).
    pub alpha: f64,
}

impl Module for ELU {
    fn forward(&self, x: &Var) -> Var {
        x.elu(self.alpha)
    }
    fn kind(&self) -> &'static str {
        "ELU"
    }
    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}

/// Softmax along `axis` (use `-1`-style "last axis" by giving `ndim − 1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    /// The axis whose entries become a distribution.
    pub axis: usize,
}

impl Module for Softmax {
    fn forward(&self, x: &Var) -> Var {
        x.softmax(self.axis)
    }
    fn kind(&self) -> &'static str {
        "Softmax"
    }
    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}
