//! What the machine and the process look like: peak memory, floating-point mode, CPU, thread
//! settings and the versions of the libraries measured. Printed in the report header so that
//! a figure can be read together with the conditions it was taken under.

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR` if set, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => project_root().join("target"),
    }
}

/// Peak resident set size of this process so far, in MiB (`VmHWM` in `/proc/self/status`);
/// NaN where that file does not exist.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: f64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib / 1024.0)
        })
        .unwrap_or(f64::NAN)
}

/// Minor page faults of this process so far (`minflt` in `/proc/self/stat`): each is a page
/// the kernel had to map, typically because freshly allocated memory is touched for the first
/// time. `None` where that file does not exist.
pub fn minor_page_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt ...": the command name
    // may contain spaces, so count from the closing parenthesis.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// How this thread treats denormal (subnormal) `f32`s: whether results are flushed to zero
/// (FTZ) and inputs treated as zero (DAZ). Rust never changes these, so both are off unless
/// some library switched them on.
pub fn denormal_mode() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        // `_mm_getcsr` is deprecated in favour of inline assembly, but reading the register
        // is all that is needed here, and the intrinsic says so most plainly.
        #[allow(deprecated)]
        // SAFETY: reading MXCSR has no side effects; SSE is part of every x86_64 CPU.
        let csr = unsafe { std::arch::x86_64::_mm_getcsr() };
        let on_off = |bit: u32| if csr & bit != 0 { "on" } else { "off" };
        format!("FTZ {}, DAZ {}", on_off(1 << 15), on_off(1 << 6))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "platform default".to_string()
    }
}

/// Switches this thread to flushing denormals: results that would be subnormal become zero
/// (FTZ) and subnormal inputs are read as zero (DAZ). Only `--flush-denormals` does this.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // `_mm_getcsr`/`_mm_setcsr` are deprecated in favour of inline assembly; setting two mode
    // bits is all that is needed, and the intrinsics say so most plainly.
    #[allow(deprecated)]
    // SAFETY: MXCSR exists on every x86_64 CPU; setting FTZ (bit 15) and DAZ (bit 6) changes
    // only how this thread rounds tiny floating-point values, which Rust code may observe but
    // which is not undefined behaviour.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | (1 << 15) | (1 << 6));
    }
}

/// The CPU's model name and the widest vector instructions it offers.
pub fn cpu_description() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} logical cores, {}", vector_extensions())
}

fn vector_extensions() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "AVX2+FMA";
        }
        "SSE"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "native SIMD"
    }
}

/// The 1-minute load average from `/proc/loadavg`, if the system offers one. A value near
/// or above the core count before a run means other processes compete for the CPU.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The share of all CPUs' time spent busy during `window`, from `/proc/stat`: a snapshot of
/// what other processes are doing right now, where the load average trails by a minute.
pub fn cpu_busy_share(window: std::time::Duration) -> Option<f64> {
    fn times() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some((fields.iter().sum(), idle))
    }
    let (total0, idle0) = times()?;
    std::thread::sleep(window);
    let (total1, idle1) = times()?;
    let total = total1.checked_sub(total0)?;
    let idle = idle1.checked_sub(idle0)?;
    (total > 0).then(|| 1.0 - idle as f64 / total as f64)
}

/// Environment variables that change what a benchmark measures, as `NAME=value` pairs, for
/// those that are set.
pub fn relevant_env() -> Vec<String> {
    ["RAYON_NUM_THREADS", "MATMUL_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "RUSTFLAGS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value}")))
        .collect()
}

/// The workspace's version of nabla.
pub const NABLA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of `package` that `Cargo.lock` pins, or `"?"` if it pins none (or several).
///
/// The lock file is read at compile time, so the figure's label always matches the code
/// that produced it.
pub fn locked_version(package: &str) -> String {
    const LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));
    let wanted = format!("name = \"{package}\"");
    let mut found = LOCK.split("[[package]]").filter_map(|entry| {
        let mut lines = entry.lines().map(str::trim);
        lines.find(|l| *l == wanted)?;
        let version = lines.find(|l| l.starts_with("version = "))?;
        Some(version.trim_start_matches("version = ").trim_matches('"').to_string())
    });
    match (found.next(), found.next()) {
        (Some(version), None) => version,
        _ => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_locked_versions() {
        assert!(locked_version("gemm").starts_with("0."), "{}", locked_version("gemm"));
        assert_eq!(locked_version("no-such-package"), "?");
    }

    #[test]
    fn flushing_denormals_changes_only_the_calling_thread() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let flushed = std::thread::spawn(move || {
            flush_denormals();
            (denormal_mode(), std::hint::black_box(tiny) / 2.0)
        })
        .join()
        .unwrap();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(flushed, ("FTZ on, DAZ on".to_string(), 0.0));
            assert_eq!(denormal_mode(), "FTZ off, DAZ off");
            assert!((std::hint::black_box(tiny) / 2.0).is_subnormal());
        }
    }

    #[test]
    fn peak_rss_and_page_faults_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb() > 0.0);
            let before = minor_page_faults().unwrap();
            let touched = std::hint::black_box(vec![1u8; 64 << 20]);
            // 64 MiB of fresh pages fault in: 16,384 faults with 4 KiB pages, at least 32 when
            // the allocator asks for 2 MiB transparent huge pages (mimalloc does).
            assert!(minor_page_faults().unwrap() >= before + 32, "64 MiB of fresh pages fault in");
            drop(touched);
        }
    }
}
