//! Where a training loop runs: on one of rayon's worker threads, so that the thread driving
//! the loop also computes.
//!
//! Every large kernel of nabla (gemm, convolutions, elementwise work above a size threshold)
//! splits its work over rayon's thread pool. Called from a thread *outside* the pool, such as a
//! program's `main`, each of those calls hands its work to the pool's workers and puts the
//! calling thread to sleep until they are done: with 2 workers on 2 cores, every parallel op
//! costs a sleep and a wake-up of the caller, and the serial code between ops (the tape, small
//! ops, the optimizer's bookkeeping) competes for the cores with workers still spinning for
//! more work. Called from a thread *inside* the pool, the same op runs its first half on the
//! calling thread and lets an idle worker take the rest: no hand-off. A ResNet step makes a few
//! hundred parallel calls, and moving the loop into the pool made nabla's benchmark steps
//! 3–15 % faster (W1 15 %, W3 7 %, W5 4 %, measured with `cargo xtask bench`).
//!
//! [`in_thread_pool`] does the move. `nabla-train`'s `Trainer` runs `fit`, `evaluate` and
//! `predict` through it; a hand-written loop can too:
//!
//! ```
//! use nabla_autograd::{in_thread_pool, Var};
//! use nabla_tensor::Tensor;
//! let w = Var::new(Tensor::from_vec(vec![0.5f32; 4], &[2, 2]));
//! let loss = in_thread_pool(|| {
//!     // forward, backward and the update of each step go here
//!     w.matmul(&w).sum().item()
//! });
//! assert_eq!(loss, 2.0);
//! ```
//!
//! The pool is the one rayon would use at the call (the global pool, sized by
//! `RAYON_NUM_THREADS` or the number of cores, unless the caller is inside another pool's
//! `install`).

use crate::mode::{is_grad_enabled, with_grad_enabled};

/// Runs `f` on a worker thread of rayon's current pool and returns its result; the calling
/// thread waits. Already on a worker, `f` simply runs here.
///
/// The gradient mode ([`no_grad`](crate::no_grad)) is per thread, so the caller's mode is
/// carried over to the worker for the duration of `f`. A panic in `f` is resumed on the calling
/// thread.
pub fn in_thread_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let enabled = is_grad_enabled();
    // `scope` runs its body on a worker of the current pool (injecting it from outside).
    rayon::scope(|_| with_grad_enabled(enabled, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::no_grad;

    #[test]
    fn runs_on_a_worker_and_carries_the_gradient_mode() {
        assert!(rayon::current_thread_index().is_none());
        assert!(in_thread_pool(|| rayon::current_thread_index().is_some()));
        assert!(in_thread_pool(is_grad_enabled));
        assert!(!no_grad(|| in_thread_pool(is_grad_enabled)));
        // The caller's mode is its own again afterwards, and nesting runs in place.
        assert!(is_grad_enabled());
        let outer = in_thread_pool(|| (rayon::current_thread_index(), in_thread_pool(rayon::current_thread_index)));
        assert_eq!(outer.0, outer.1);
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| in_thread_pool(|| panic!("inside the pool")));
        let message = caught.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"inside the pool"));
    }
}
