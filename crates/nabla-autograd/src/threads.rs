//! Where a training step runs: on one of rayon's worker threads, so that the thread driving
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
//! hundred parallel calls, and moving the steps into the pool made nabla's benchmark steps
//! 3–15 % faster (W1 15 %, W3 7 %, W5 4 %, measured with `cargo xtask bench`).
//!
//! The idle worker must also be awake to take its half. Rayon puts a worker to sleep after a
//! few dozen rounds without work, and waking it costs a system call, so the serial stretches of
//! a step (the tape, small ops, the optimizer's bookkeeping) left the second core asleep at the
//! next parallel op. While the closure runs, the other workers therefore poll for work instead
//! of sleeping (OpenMP's threads do the same between PyTorch's parallel regions, for up to
//! 200 ms): another 5–10 % on the MLP (W1) and the ResNet (W3). The price is every other
//! worker's core kept busy until the closure returns, so wrap the compute of a step, not a
//! whole program that also waits for data or writes files.
//!
//! [`in_thread_pool`] does both. `nabla-train`'s `Trainer` runs each training step and each
//! evaluation or prediction batch through it; a hand-written loop can too:
//!
//! ```
//! use nabla_autograd::{in_thread_pool, Var};
//! use nabla_tensor::Tensor;
//! let w = Var::new(Tensor::from_vec(vec![0.5f32; 4], &[2, 2]));
//! let loss = in_thread_pool(|| {
//!     // forward, backward and the update of a step go here
//!     w.matmul(&w).sum().item()
//! });
//! assert_eq!(loss, 2.0);
//! ```
//!
//! The pool is the one rayon would use at the call (the global pool, sized by
//! `RAYON_NUM_THREADS` or the number of cores, unless the caller is inside another pool's
//! `install`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::mode::{is_grad_enabled, with_grad_enabled};

/// Runs `f` on a worker thread of rayon's current pool and returns its result; the calling
/// thread waits. While `f` runs, the pool's other workers poll for work instead of sleeping
/// (see the module docs).
///
/// Already on a worker, or with a pool of one thread (where the caller's thread is the only
/// other one that can compute), `f` simply runs on the calling thread and no worker is kept
/// awake.
///
/// `f` must not block waiting for a thread that itself needs this pool, as it would while the
/// pool's workers are all busy: run the compute of a step here, not a loop that waits on a
/// channel.
///
/// The gradient mode ([`no_grad`](crate::no_grad)) is per thread, so the caller's mode is
/// carried over to the worker for the duration of `f`. A panic in `f` is resumed on the calling
/// thread.
pub fn in_thread_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() || rayon::current_num_threads() < 2 {
        return f();
    }
    let enabled = is_grad_enabled();
    let done = AtomicBool::new(false);
    // `scope` runs its body on a worker of the current pool (injecting it from outside).
    rayon::scope(|scope| {
        let (owner, done) = (rayon::current_thread_index(), &done);
        // Set when `f` returns or panics, so that the keep-awake jobs end and the scope can too.
        let _stop = SetOnDrop(done);
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(move |scope| keep_awake(scope, done, owner));
        }
        with_grad_enabled(enabled, f)
    })
}

/// How long one keep-awake job polls before it hands over to a fresh one.
const SLICE: Duration = Duration::from_micros(100);

/// Runs the pool's work as it appears, until `done` is set: rayon's own idle loop without the
/// sleep. Returns at once on the `owner` thread (the one running the caller's closure, which may
/// pick this job up while it waits for stolen work) and so never holds it up.
///
/// A worker waiting inside some other job (for the other half of a `join`) may pick a keep-awake
/// job up too, and could not return to its own work until the job ends. So each job polls for
/// one [`SLICE`] only and then spawns its successor and returns: the waiting worker checks on its
/// own work between slices.
fn keep_awake<'s>(scope: &rayon::Scope<'s>, done: &'s AtomicBool, owner: Option<usize>) {
    if rayon::current_thread_index() == owner {
        return;
    }
    let started = Instant::now();
    // `done` only says when to stop (no data is handed over through it): Relaxed suffices.
    while !done.load(Ordering::Relaxed) {
        if started.elapsed() >= SLICE {
            scope.spawn(move |scope| keep_awake(scope, done, owner));
            return;
        }
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
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::no_grad;

    #[test]
    fn runs_on_a_worker_and_carries_the_gradient_mode() {
        assert!(rayon::current_thread_index().is_none());
        // On a worker, unless the pool has a single thread (then on the caller's).
        let on_worker = in_thread_pool(|| rayon::current_thread_index().is_some());
        assert_eq!(on_worker, rayon::current_num_threads() >= 2);
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
    fn concurrent_callers_and_outside_parallel_work_all_finish() {
        use rayon::prelude::*;
        use std::sync::mpsc;
        // Two loops on the pool at once (keep-awake jobs of both in the deques) and a thread
        // outside it injecting parallel work: every one of them must finish.
        let (sender, receiver) = mpsc::channel();
        for caller in 0..3u64 {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let work = move || -> u64 {
                    (0..100u64).map(|i| (0..2000u64).into_par_iter().map(|v| v ^ (i + caller)).sum::<u64>()).sum()
                };
                let total = if caller < 2 { in_thread_pool(work) } else { work() };
                sender.send((caller, total)).unwrap();
            });
        }
        let mut finished: Vec<u64> =
            (0..3).map(|_| receiver.recv_timeout(Duration::from_secs(60)).expect("a caller is stuck").0).collect();
        finished.sort();
        assert_eq!(finished, [0, 1, 2]);
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| in_thread_pool(|| panic!("inside the pool")));
        let message = caught.unwrap_err();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"inside the pool"));
    }
}
