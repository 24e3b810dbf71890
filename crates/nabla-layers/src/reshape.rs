//! Layers that only rearrange values: [`Flatten`] and [`Reshape`]. Both keep the batch axis
//! (axis 0) and regroup the values of each sample, in row-major order; no values change, so
//! the gradient is the output's gradient reshaped back.
//!
//! | layer | input | output |
//! |---|---|---|
//! | [`Flatten`] | `[n, d₁, …, dₖ]` | `[n, d₁·…·dₖ]` (`[n]` becomes `[n, 1]`) |
//! | [`Reshape`] `{ shape: [e₁, …, eₘ] }` | `[n, d₁, …, dₖ]` with `Π dᵢ = Π eⱼ` | `[n, e₁, …, eₘ]` |
//!
//! Flatten is the bridge from convolutions to dense layers:
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Flatten, Module, Reshape};
//! use nabla_tensor::{DType, Tensor};
//! let x = Var::constant(Tensor::zeros(&[32, 16, 7, 7], DType::F32));
//! let flat = Flatten.forward(&x);
//! assert_eq!(flat.shape(), vec![32, 16 * 7 * 7]);
//! assert_eq!(Reshape::new(&[16, 49]).forward(&flat).shape(), vec![32, 16, 49]);
//! ```

use nabla_autograd::Var;

use crate::module::{Module, Visitor};

/// Flattens every axis but the batch axis (Keras: Flatten); see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flatten;

impl Module for Flatten {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        assert!(!shape.is_empty(), "Flatten: expected input [n, ...] with a batch axis but received a scalar");
        input.flatten_from(1)
    }

    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}

/// Reshapes each sample to `shape` (Keras: Reshape; the batch axis is kept and not part of
/// `shape`); see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reshape {
    /// The shape of one sample, batch axis excluded.
    pub shape: Vec<usize>,
}

impl Reshape {
    /// Reshapes each sample to `shape` (batch axis excluded).
    pub fn new(shape: &[usize]) -> Self {
        Reshape { shape: shape.to_vec() }
    }
}

impl Module for Reshape {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        assert!(!shape.is_empty(), "Reshape: expected input [n, ...] with a batch axis but received a scalar");
        let target = &self.shape;
        let per_sample: usize = shape.iter().skip(1).product();
        let wanted: usize = target.iter().product();
        assert!(
            per_sample == wanted,
            "Reshape: cannot reshape input {shape:?} to [n, {}]: each sample has {per_sample} values but {target:?} holds {wanted}",
            target.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        );
        let mut full = vec![shape[0]];
        full.extend_from_slice(target);
        input.reshape(&full)
    }

    fn kind(&self) -> &'static str {
        "Reshape"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}
}
