//! Gradient mode: whether new operations are recorded on the tape.
//!
//! Recording costs a little per op (one allocation for the node and its backward closure).
//! Inference, evaluation and optimizer updates need none of it, so they run in *no-grad mode*,
//! where every op returns a plain constant (a fixed one: it cannot be set, see
//! [`Var::fixed`](crate::Var::fixed)), as under PyTorch's `torch.no_grad()`:
//!
//! ```
//! use nabla_autograd::{no_grad, Var};
//! use nabla_tensor::Tensor;
//! let w = Var::new(Tensor::from_vec(vec![2.0f32], &[1]));
//! let y = no_grad(|| w.mul_scalar(3.0));
//! assert!(!y.requires_grad());
//! ```
//!
//! The mode is per thread.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless the current thread is inside [`no_grad`] (or holds a [`NoGradGuard`]).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Runs `f` with recording switched off, then restores the previous mode (even if `f` panics).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Runs `f` with recording switched on or off as `enabled` says, then restores the previous mode.
pub fn with_grad_enabled<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    let _guard = ModeGuard::set(enabled);
    f()
}

/// Switches recording off until dropped.
#[must_use = "recording is switched back on when the guard is dropped"]
pub struct NoGradGuard {
    _restore: ModeGuard,
}

impl NoGradGuard {
    /// Switches recording off on this thread until the guard is dropped.
    pub fn new() -> Self {
        NoGradGuard { _restore: ModeGuard::set(false) }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

struct ModeGuard {
    previous: bool,
}

impl ModeGuard {
    fn set(enabled: bool) -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(enabled));
        ModeGuard { previous }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}
