//! The registry of benchmark workloads (`WORKLOADS.md`).
//!
//! A [`Workload`] is an id, a one-line summary and the [`Runner`]s that measure it, one per
//! framework. `cargo xtask bench` runs every runner of every selected workload in a child
//! process of its own (`xtask bench-one W0 nabla`), so that each peak-memory figure belongs
//! to one framework on one workload, as the peer figures do.
//!
//! Adding a workload is one module with one `pub const` and one line in [`WORKLOADS`]:
//!
//! ```ignore
//! pub const W1: Workload = Workload {
//!     id: "W1",
//!     summary: "MLP 784-512-512-10 training step, batch 128 (samples/s)",
//!     notes: "inputs N(0,1), 4 batches in rotation",
//!     reference: None, // or Some(Reference { framework: "gemm-crate", bar: 0.9 })
//!     runners: &[Runner { framework: "nabla", version: nabla_version, run: run_nabla }],
//! };
//!
//! fn run_nabla(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
//!     let timing = measure(settings.seconds, || { /* one training step */ });
//!     sink(Measurement::per_second("sgd", "samples_per_s", 128.0, timing));
//!     Ok(())
//! }
//! ```
//!
//! Model workloads (W1 to W5) share the training and inference steps, the synthetic data
//! and the checks of [`training`]; their modules only build the network and pick the
//! optimizer. W6, nabla's own workload (not in `WORKLOADS.md`), measures per-op overhead: a
//! tiny MLP's training step against the same step written by hand on ndarray.

pub mod training;
pub mod w0;
pub mod w1;
pub mod w2;
pub mod w3;
pub mod w4;
pub mod w5;
pub mod w6;

use crate::measure::Timing;

/// Every workload `cargo xtask bench` knows, in the order it runs them.
///
/// A `static`, not a `const`: the command line tells workloads apart by address
/// (`std::ptr::eq`), and every use of a `const` may get a copy of its own.
pub static WORKLOADS: &[Workload] = &[w0::W0, w1::W1, w1::W1I, w2::W2, w2::W2I, w3::W3, w4::W4, w5::W5, w6::W6];

/// A benchmark workload and the frameworks measured on it in this process.
#[derive(Debug)]
pub struct Workload {
    /// The id used in `WORKLOADS.md`, on the command line and in the JSON records.
    pub id: &'static str,
    /// What is measured, in one line, for `cargo xtask help` and the report.
    pub summary: &'static str,
    /// How it is measured, where the summary does not say (printed under the table; may be empty).
    pub notes: &'static str,
    /// The framework nabla is divided by in the report's ratio column, if any.
    pub reference: Option<Reference>,
    /// One runner per framework; nabla's comes first.
    pub runners: &'static [Runner],
}

/// An in-run reference: a framework measured beside nabla, and the ratio nabla / it that
/// nabla must reach (the report marks a ratio below it).
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub framework: &'static str,
    pub bar: f64,
}

/// Measures one framework on one workload.
#[derive(Debug)]
pub struct Runner {
    /// The framework name written to the records: `nabla`, `gemm-crate`, ...
    pub framework: &'static str,
    /// The framework's version.
    pub version: fn() -> String,
    /// Measures every variant and hands each figure to the sink as soon as it is known. An
    /// error (for example a wrong result) stops the runner and fails its process.
    pub run: RunFn,
}

/// The signature of [`Runner::run`]: settings in, each figure out through the sink.
pub type RunFn = fn(&Settings, &mut dyn FnMut(Measurement)) -> Result<(), String>;

/// What a runner is told. The thread pools are already set up when it is called.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds of timed steps per variant (after warm-up).
    pub seconds: f64,
    /// Worker threads configured for rayon (and matrixmultiply).
    pub threads: usize,
    /// `--verbose`: also print, on standard error, where a step's time goes.
    pub verbose: bool,
}

/// One variant's figure, before the process facts (threads, memory) are attached.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The variant: `n1024`, `sgd`, ...
    pub variant: String,
    /// The unit of `value`; higher is better.
    pub metric: &'static str,
    /// The figure, from the median step time.
    pub value: f64,
    /// The step times it came from.
    pub timing: Timing,
}

impl Measurement {
    /// A throughput figure: `work_per_step` units of work divided by the median step time.
    pub fn per_second(variant: impl Into<String>, metric: &'static str, work_per_step: f64, timing: Timing) -> Self {
        let value = work_per_step / timing.median.as_secs_f64();
        Measurement { variant: variant.into(), metric, value, timing }
    }
}

impl Workload {
    /// The runner for `framework`, if this workload has one.
    pub fn runner(&self, framework: &str) -> Option<&'static Runner> {
        self.runners.iter().find(|r| r.framework == framework)
    }
}

/// The workload with id `id` (case-insensitive).
pub fn find(id: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.id.eq_ignore_ascii_case(id))
}

/// Comma-separated ids of every workload, for messages.
pub fn known_ids() -> String {
    WORKLOADS.iter().map(|w| w.id).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_runners_named_once() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            assert!(WORKLOADS[..i].iter().all(|other| !other.id.eq_ignore_ascii_case(w.id)), "{} twice", w.id);
            for (j, r) in w.runners.iter().enumerate() {
                assert!(w.runners[..j].iter().all(|o| o.framework != r.framework), "{} twice in {}", r.framework, w.id);
            }
            assert_eq!(w.runners.first().map(|r| r.framework), Some("nabla"), "{}: nabla runs first", w.id);
            if let Some(Reference { framework, bar }) = w.reference {
                assert!(w.runner(framework).is_some(), "{}: reference {framework} has no runner", w.id);
                assert!(bar > 0.0 && bar <= 1.0, "{}: bar {bar}", w.id);
            }
        }
        assert_eq!(find("w0").map(|w| w.id), Some("W0"));
    }
}
