//! `--build-time`: how long a clean release build of the whole workspace takes, which
//! `WORKLOADS.md` asks the report to state next to the figures.
//!
//! The build is `cargo build --release --workspace -j THREADS`, run from the workspace root
//! with `CARGO_TARGET_DIR` pointing at an empty directory, `target/bench/build-time-target`,
//! so that nothing is reused from earlier builds (the downloaded sources in cargo's home
//! are, so nothing is fetched). The directory is removed before the build and after it. The
//! time is wall-clock, from starting cargo to its exit; it becomes a record with workload
//! `build`, variant `release` and metric `seconds` (lower is better, unlike every other
//! figure).
//!
//! Cargo is the one that runs `cargo xtask` (the `CARGO` variable cargo sets for the programs
//! it runs), else the first `cargo` on the `PATH`. The build compiles the working tree as it
//! is, so it fails if the tree does not compile; cargo's output is shown only then.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::record::Record;
use crate::system::{self, NABLA_VERSION};

/// Lines of cargo's error output shown when the build fails.
const ERROR_LINES: usize = 30;

/// Where the build writes: `target/bench/build-time-target`.
pub fn build_dir() -> PathBuf {
    system::target_dir().join("bench").join("build-time-target")
}

/// The cargo executable: `$CARGO` if set, else `cargo`.
fn cargo() -> PathBuf {
    match std::env::var_os("CARGO") {
        Some(cargo) if !cargo.is_empty() => PathBuf::from(cargo),
        _ => PathBuf::from("cargo"),
    }
}

/// Removes `dir` and everything in it, if it exists.
fn remove(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

/// Builds the workspace from scratch with `threads` jobs and returns the time as a record.
pub fn measure(threads: usize) -> Result<Record, String> {
    let dir = build_dir();
    remove(&dir)?;
    let cargo = cargo();
    eprintln!(
        "  build: {} build --release --workspace -j {threads}, target directory {} (takes minutes)",
        cargo.display(),
        dir.display()
    );
    let start = Instant::now();
    let output = Command::new(&cargo)
        .args(["build", "--release", "--workspace", "-j", &threads.to_string()])
        .env("CARGO_TARGET_DIR", &dir)
        .current_dir(system::project_root())
        .stdin(Stdio::null())
        .output();
    let seconds = start.elapsed().as_secs_f64();
    if let Err(e) = remove(&dir) {
        eprintln!("warning: {e}");
    }
    let output = output.map_err(|e| format!("build time: cannot start {}: {e}", cargo.display()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n");
        return Err(format!("build time: the build failed ({}):\n{tail}", output.status));
    }
    eprintln!("  build: {seconds:.1} s");
    Ok(Record {
        framework: "nabla".to_string(),
        version: NABLA_VERSION.to_string(),
        workload: "build".to_string(),
        variant: "release".to_string(),
        metric: "seconds".to_string(),
        value: seconds,
        threads,
        peak_rss_mb: f64::NAN,
        clean: true,
    })
}
