//! `cargo xtask`: project automation for nabla, written as an ordinary workspace binary
//! (`.cargo/config.toml` aliases `cargo xtask` to `cargo run --package xtask --release --`).
//!
//! Commands:
//!
//! - `cargo xtask bench [--workloads W0,...] [--seconds S] [--threads N] [--out FILE]
//!   [--compare FILE...] [--in-process] [--verbose] [--flush-denormals] [--build-time]` runs
//!   the benchmark workloads of `WORKLOADS.md` (W0 to W5) and nabla's own per-op overhead
//!   workload W6, writes one JSON Lines record per framework, workload and variant to
//!   `target/bench/results.jsonl`, prints a table and writes a Markdown report,
//!   `target/bench/report.md`, with every peer's figure and a summary against PyTorch and
//!   burn; `--build-time` also times a clean release build of the workspace;
//! - `cargo xtask help` prints the full usage.
//!
//! Exit status: 0 on success, 1 when a benchmark or a file operation failed, 2 when the
//! command line was wrong.
//!
//! Code map:
//!
//! | module | role |
//! |---|---|
//! | [`cli`] | argument parsing and the help text |
//! | [`bench`](mod@bench) | running workloads, one child process each, and writing the results |
//! | [`build_time`] | `--build-time`: a clean release build of the workspace, timed |
//! | [`workloads`] | the registry; one module per workload ([`workloads::w0`], ...), shared model steps in [`workloads::training`] |
//! | [`measure`] | warm-up, timed steps, median |
//! | [`report`] | the header and the text tables, ratios against references and peers |
//! | [`markdown`] | the Markdown report: conditions, summary, every peer's figure |
//! | [`record`] | the JSON Lines record format |
//! | [`json`] | a small JSON parser and string escaper |
//! | [`system`] | peak memory, denormal mode, CPU, library versions |

mod bench;
mod build_time;
mod cli;
mod json;
mod markdown;
mod measure;
mod record;
mod report;
mod system;
mod workloads;

// Linked for its global allocator (mimalloc), so the benchmarks measure what a program using
// `nabla` gets by default.
use nabla as _;

use std::process::ExitCode;

use cli::{Command, UsageError};

/// Why a command did not succeed, which decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// The command line was wrong (exit status 2).
    Usage(UsageError),
    /// Something went wrong while running (exit status 1).
    Run(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match cli::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", cli::help());
            Ok(())
        }
        Ok(Command::Bench(options)) => bench::bench(&options),
        Ok(Command::BenchOne(options)) => bench::bench_one(&options),
        Err(usage) => Err(Failure::Usage(usage)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(UsageError(message))) => {
            eprintln!("error: {message}\n(run `cargo xtask help` for usage)");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
