//! `cargo xtask bench`: run the selected workloads, write their figures as JSON Lines, print
//! a table and write the Markdown report.
//!
//! The parent process measures nothing itself. For every workload and framework it starts
//! `xtask bench-one <ID> <FRAMEWORK>` (this same executable, found through
//! [`std::env::current_exe`]); the child configures its thread pools, runs the
//! [`Runner`], prints progress on standard error and one JSON record per variant on standard
//! output, with the peak memory of its own process. A crash or a wrong result in one child
//! is reported and the others still run.
//!
//! A record's peak memory is read when its variant's figure arrives, so it covers that
//! variant and the ones measured before it in the same process (runners measure the variant
//! that needs least memory first); the table shows each process's overall peak.
//!
//! With `--build-time`, after the workloads, the parent also times a clean release build of
//! the workspace ([`build_time`]) and adds it to the results and the reports.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nabla_autograd::in_thread_pool;

use crate::build_time;
use crate::cli::{BenchOneOptions, BenchOptions, UsageError};
use crate::markdown;
use crate::record::{self, Record};
use crate::report;
use crate::system;
use crate::workloads::{Measurement, Runner, Settings, Workload};
use crate::Failure;

/// `cargo xtask bench`.
pub fn bench(options: &BenchOptions) -> Result<(), Failure> {
    let peers = load_peers(&options.compare)?;
    let threads = options.threads.unwrap_or_else(default_threads);
    let out = options.out.clone().unwrap_or_else(|| system::target_dir().join("bench").join("results.jsonl"));

    // Set here too, so that the header reports the mode the children run in.
    if options.flush_denormals {
        system::flush_denormals();
    }
    let facts = report::facts(threads, options.seconds, options.in_process, options.flush_denormals);
    print!("{}", report::header(&facts));
    if options.in_process {
        configure_threads(threads, options.flush_denormals);
    }
    let conditions = Conditions {
        seconds: options.seconds,
        threads,
        verbose: options.verbose,
        flush_denormals: options.flush_denormals,
    };

    let mut records = Vec::new();
    let mut failures = Vec::new();
    for workload in &options.workloads {
        for runner in workload.runners {
            let result = if options.in_process {
                run_runner(workload, runner, &conditions)
            } else {
                run_child(workload, runner, &conditions)
            };
            match result {
                Ok(mut new) => records.append(&mut new),
                Err(message) => {
                    eprintln!("error: {message}");
                    failures.push(format!("{} {}", workload.id, runner.framework));
                }
            }
        }
    }

    let mut build = None;
    if options.build_time {
        match build_time::measure(threads) {
            Ok(record) => build = Some(record),
            Err(message) => {
                eprintln!("error: {message}");
                failures.push("build time".to_string());
            }
        }
    }

    let all: Vec<Record> = records.iter().chain(&build).cloned().collect();
    write_results(&out, &all)?;
    println!();
    print!("{}", report::table(&options.workloads, &records, &peers));
    if let Some(check) = markdown::machine_check(&records, &peers) {
        // The report's sentence without its Markdown.
        println!("\nsame machine as the peers? {}", check.replace("**", "").replace('`', ""));
    }
    if let Some(build) = &build {
        println!("{}", report::build(build));
    }
    let report_path = out.parent().unwrap_or(Path::new("")).join("report.md");
    let run = markdown::Run {
        facts: &facts,
        compare: &options.compare,
        workloads: &options.workloads,
        records: &records,
        peers: &peers,
        build: build.as_ref(),
    };
    write_file(&report_path, &markdown::report(&run))?;
    println!("\n{} figures written to {}", all.len(), out.display());
    println!("report written to {}", report_path.display());

    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Run(format!("{} case(s) failed: {}", failures.len(), failures.join(", "))))
    }
}

/// `xtask bench-one`: the child process of [`bench`](fn@bench).
pub fn bench_one(options: &BenchOneOptions) -> Result<(), Failure> {
    let threads = options.threads.unwrap_or_else(default_threads);
    configure_threads(threads, options.flush_denormals);
    let conditions = Conditions {
        seconds: options.seconds,
        threads,
        verbose: options.verbose,
        flush_denormals: options.flush_denormals,
    };
    let records = run_runner(options.workload, options.runner, &conditions).map_err(Failure::Run)?;
    for record in &records {
        println!("{}", record.to_json());
    }
    Ok(())
}

/// What a workload runs under, as the parent hands it to a child.
#[derive(Clone, Copy)]
struct Conditions {
    /// Timed seconds per case.
    seconds: f64,
    /// Worker threads asked for.
    threads: usize,
    /// `--verbose`
    verbose: bool,
    /// `--flush-denormals`
    flush_denormals: bool,
}

/// The thread count when `--threads` is not given: `RAYON_NUM_THREADS` if set, else every
/// core, which is what rayon itself would pick.
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Gives rayon's global pool (which gemm and nabla use) and matrixmultiply's pool (which
/// ndarray's `dot` uses) `threads` workers, and with `flush` sets FTZ and DAZ on this thread
/// and on rayon's (not on matrixmultiply's). Must run before either pool is first used.
fn configure_threads(threads: usize, flush: bool) {
    // matrixmultiply reads this variable once, when its first threaded product starts.
    // Setting it here happens before any other thread of this process exists, so no thread
    // can be reading the environment at the same time.
    std::env::set_var("MATMUL_NUM_THREADS", threads.to_string());
    let mut pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
    if flush {
        system::flush_denormals();
        pool = pool.start_handler(|_| system::flush_denormals());
    }
    if let Err(e) = pool.build_global() {
        eprintln!("warning: could not size rayon's thread pool: {e}");
    }
}

/// Runs one framework on one workload in this process and returns its records.
fn run_runner(workload: &Workload, runner: &Runner, conditions: &Conditions) -> Result<Vec<Record>, String> {
    let settings =
        Settings { seconds: conditions.seconds, threads: rayon::current_num_threads(), verbose: conditions.verbose };
    if settings.threads != conditions.threads {
        eprintln!("warning: asked for {} threads, rayon's pool has {}", conditions.threads, settings.threads);
    }
    let mut measurements = Vec::new();
    let mut sink = |m: Measurement| {
        eprintln!(
            "  {:<4} {:<12} {:<8} {:>10.2} {:<14} median {:>9.3} ms ±{:.1}% over {} steps",
            workload.id,
            runner.framework,
            m.variant,
            m.value,
            m.metric,
            m.timing.median.as_secs_f64() * 1e3,
            m.timing.spread_percent(),
            m.timing.steps,
        );
        measurements.push((m, system::peak_rss_mb()));
    };
    // Runners on rayon (nabla, the gemm crate) run on a worker of its pool, as nabla-train's
    // `Trainer` runs its steps, so that this thread computes too instead of handing every
    // parallel kernel over and sleeping. The ndarray references keep this thread: one is
    // single-threaded, the other multiplies on matrixmultiply's own threads, which rayon's
    // workers kept polling would crowd out.
    let mut run = || (runner.run)(&settings, &mut sink);
    if runner.framework.starts_with("ndarray") { run() } else { in_thread_pool(run) }
        .map_err(|e| format!("{} {}: {e}", workload.id, runner.framework))?;
    let version = (runner.version)();
    Ok(measurements
        .into_iter()
        .map(|(m, peak_rss_mb)| Record {
            framework: runner.framework.to_string(),
            version: version.clone(),
            workload: workload.id.to_string(),
            variant: m.variant,
            metric: m.metric.to_string(),
            value: m.value,
            threads: settings.threads,
            peak_rss_mb,
            clean: true,
        })
        .collect())
}

/// Runs one framework on one workload in a child process and reads back its records.
fn run_child(workload: &Workload, runner: &Runner, conditions: &Conditions) -> Result<Vec<Record>, String> {
    let Conditions { seconds, threads, verbose, flush_denormals } = *conditions;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask executable: {e}"))?;
    let what = format!("{} {}", workload.id, runner.framework);
    let output = Command::new(&exe)
        .args(["bench-one", workload.id, runner.framework])
        .args(["--seconds", &seconds.to_string(), "--threads", &threads.to_string()])
        .args(verbose.then_some("--verbose"))
        .args(flush_denormals.then_some("--flush-denormals"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot start {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!("{what}: the child process failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let (records, warnings) = record::parse_jsonl(&text, &format!("output of {what}"));
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if records.is_empty() {
        return Err(format!("{what}: the child process reported no figures"));
    }
    Ok(records)
}

/// Reads every `--compare` file; a file that cannot be read is a usage error.
fn load_peers(files: &[PathBuf]) -> Result<Vec<Record>, Failure> {
    let mut peers = Vec::new();
    for file in files {
        let (mut records, warnings) = record::read_jsonl(file)
            .map_err(|e| Failure::Usage(UsageError(format!("cannot read `--compare` file {}: {e}", file.display()))))?;
        for warning in &warnings {
            eprintln!("warning: skipped a line: {warning}");
        }
        if records.is_empty() {
            eprintln!("warning: {} holds no benchmark records", file.display());
        }
        peers.append(&mut records);
    }
    Ok(peers)
}

/// Writes `records` as JSON Lines to `out`, creating its directory.
fn write_results(out: &Path, records: &[Record]) -> Result<(), Failure> {
    let mut text = String::new();
    for record in records {
        let _ = writeln!(text, "{}", record.to_json());
    }
    write_file(out, &text)
}

/// Writes `text` to `path`, creating its directory.
fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Failure::Run(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
}
