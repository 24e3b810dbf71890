//! Small helpers for this crate's unit tests.

use nabla_tensor::{DType, Tensor};

use crate::Var;

/// An `f64` tensor.
pub(crate) fn t(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64s(values, shape, DType::F64)
}

/// An `f64` leaf that requires a gradient.
pub(crate) fn v(values: &[f64], shape: &[usize]) -> Var {
    Var::new(t(values, shape))
}
