//! The typed error of every shape check.

use std::fmt;

use crate::tensor::Tensor;

/// Why an operation could not run on the shapes it was given.
///
/// Every panicking op has a `try_` twin that returns this instead. The message names the
/// operation, the shapes involved and, where there is one, the dimension that failed:
///
/// ```text
/// add: cannot broadcast [2, 3] with [4, 3]: dimension 0 is 2 vs 4 (each must be equal or 1)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// The operation that failed, e.g. `"matmul"`.
    pub op: &'static str,
    /// The shapes of its operands, in argument order.
    pub shapes: Vec<Vec<usize>>,
    /// The dimension (axis) that failed, if one did.
    pub dim: Option<usize>,
    /// What was expected and what was received.
    pub reason: String,
}

impl ShapeError {
    /// A new error for `op` on operands of `shapes`.
    pub fn new(op: &'static str, shapes: &[&[usize]], dim: Option<usize>, reason: impl Into<String>) -> Self {
        ShapeError { op, shapes: shapes.iter().map(|s| s.to_vec()).collect(), dim, reason: reason.into() }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.reason)?;
        if !self.reason.contains('[') {
            let shapes: Vec<String> = self.shapes.iter().map(|s| format!("{s:?}")).collect();
            write!(f, " (shapes {})", shapes.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ShapeError {}

/// Unwraps a shape check, panicking at the caller's line with the error's message.
///
/// Every panicking op is its `try_` twin followed by this, so both report the same words.
#[track_caller]
pub fn or_panic<T>(result: Result<T, ShapeError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// An error unless both tensors have the same dtype (checked here so that `try_` twins return
/// it instead of `dispatch2!` panicking).
pub(crate) fn same_dtype(
    op: &'static str,
    operands: &[&[usize]],
    (a_name, a): (&str, &Tensor),
    (b_name, b): (&str, &Tensor),
) -> Result<(), ShapeError> {
    if a.dtype() == b.dtype() {
        return Ok(());
    }
    Err(ShapeError::new(
        op,
        operands,
        None,
        format!(
            "dtype mismatch: {a_name} is {} {:?} but {b_name} is {} {:?} (convert one with .to_dtype())",
            a.dtype(),
            a.shape(),
            b.dtype(),
            b.shape()
        ),
    ))
}
