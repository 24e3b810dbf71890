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
//! The idle worker must also be awake to take its half. Rayon puts a worker to sleep after a
//! few dozen rounds without work, and waking it costs a system call, so the serial stretches of
//! a step (the tape, small ops, the optimizer's bookkeeping) left the second core asleep at the
//! next parallel op. While the loop runs, the other workers therefore poll for work without
//! sleeping, as OpenMP's threads do between PyTorch's parallel regions: another 5–10 % on the
//! MLP (W1) and the ResNet (W3).
//!
//! [`in_thread_pool`] does both. `nabla-train`'s `Trainer` runs `fit`, `evaluate` and
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

use std::sync::atomic::{AtomicBool, Ordering};

use crate::mode::{is_grad_enabled, with_grad_enabled};

/// Runs `f` on a worker thread of rayon's current pool and returns its result; the calling
/// thread waits. Already on a worker, `f` simply runs here.
///
/// While `f` runs, the pool's other workers stay awake: each polls for work instead of going
/// to sleep when it finds none ([`keep_awake`]), the way OpenMP's threads spin between
/// parallel regions in PyTorch. A worker that has gone to sleep needs a system call to be woken
/// for the next parallel op; a training step makes hundreds of them, with serial work (the
/// tape, small ops) in between. The price is a core kept busy while `f` runs.
///
/// The gradient mode ([`no_grad`](crate::no_grad)) is per thread, so the caller's mode is
/// carried over to the worker for the duration of `f`. A panic in `f` is resumed on the calling
/// thread.
pub fn in_thread_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let enabled = is_grad_enabled();
    let done = AtomicBool::new(false);
    // `scope` runs its body on a worker of the current pool (injecting it from outside).
    rayon::scope(|scope| {
        let (owner, done) = (rayon::current_thread_index(), &done);
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(move |_| keep_awake(done, owner));
        }
        // Set when `f` returns or panics, so that the scope can end.
        let _stop = SetOnDrop(done);
        with_grad_enabled(enabled, f)
    })
}

/// Runs the pool's work as it appears until `done` is set: rayon's own idle loop without the
/// sleep. Returns at once on the `owner` thread (the one running the caller's closure, which may
/// pick this job up itself while it waits for stolen work) and so never holds it up.
fn keep_awake(done: &AtomicBool, owner: Option<usize>) {
    if rayon::current_thread_index() == owner {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if let Some(rayon::Yield::Idle) = rayon::yield_now() {
            // Let other threads of the process (a data loader's prefetch) have the core.
            std::thread::yield_now();
        }
    }
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
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
    fn parallel_work_inside_finishes_with_the_workers_kept_awake() {
        use rayon::prelude::*;
        // Many small parallel calls with serial work between them, as in a training step; the
        // other workers poll for work the whole time and the scope still ends.
        let total: u64 =
            in_thread_pool(|| (0..200u64).map(|i| (0..1000u64).into_par_iter().map(|v| v * i).sum::<u64>()).sum());
        assert_eq!(total, (0..200u64).sum::<u64>() * (0..1000u64).sum::<u64>());
        // And again, so that a second call does not wait on the first one's workers.
        assert_eq!(in_thread_pool(|| (0..10u32).into_par_iter().sum::<u32>()), 45);
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| in_thread_pool(|| panic!("inside the pool")));
        let message = caught.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"inside the pool"));
    }
}
