//! The human-readable side of `cargo xtask bench`: a header stating the conditions of the
//! measurement, then one table per workload.
//!
//! A workload's table has a row per variant and a column per framework measured in this run,
//! then the ratio nabla / reference framework (for W0, the raw gemm crate that nabla's
//! matmul calls). With `--compare`, three more columns show the best figure any other
//! framework reached on that variant at the same thread count, and nabla / that figure:
//! above 1.00 means nabla is ahead. The last row gives each process's peak memory.
//!
//! The Markdown report ([`crate::markdown`]) prints the same [`facts`] and divides by the
//! same [`comparable`] peer figures.

use std::fmt::Write as _;

use crate::record::Record;
use crate::system;
use crate::workloads::Workload;

/// The share of CPU time busy before the run from which the header warns that other
/// processes compete with the benchmark.
const BUSY_SHARE: f64 = 0.1;

/// One line of the header: a label (`versions`, `cpu`, ...) and what it says.
pub type Fact = (&'static str, String);

/// What every figure was measured under, as labelled lines that both the text header and
/// the Markdown report print. Takes 0.3 s: it watches how busy the CPU is before the run.
pub fn facts(threads: usize, seconds: f64, in_process: bool, flush_denormals: bool) -> Vec<Fact> {
    let mut facts = vec![
        (
            "versions",
            format!(
                "nabla {}, gemm {}, ndarray {} (matrixmultiply {}); {} build{}",
                system::NABLA_VERSION,
                system::locked_version("gemm"),
                system::locked_version("ndarray"),
                system::locked_version("matrixmultiply"),
                if cfg!(debug_assertions) { "debug" } else { "release" },
                compiled_for(),
            ),
        ),
        ("cpu", system::cpu_description()),
        ("threads", format!("{threads} (rayon's global pool, used by nabla and gemm; MATMUL_NUM_THREADS for ndarray)")),
        (
            "denormals",
            format!(
                "{} ({})",
                system::denormal_mode(),
                if flush_denormals {
                    "--flush-denormals: set on the benchmark's main thread and rayon's threads, not matrixmultiply's"
                } else {
                    "the default floating-point environment; nothing flushes denormals"
                }
            ),
        ),
        (
            "method",
            format!(
                "warm-up, then timed steps for {seconds} s per case; figure from the median step; {}",
                if in_process {
                    "all cases in this process (peak memory accumulates)"
                } else {
                    "one process per workload and framework"
                }
            ),
        ),
    ];
    let busy = system::cpu_busy_share(std::time::Duration::from_millis(300));
    let load = system::load_average();
    if let (Some(busy), Some(load)) = (busy, load) {
        let verdict = if busy >= BUSY_SHARE {
            "other processes are using the CPU: figures may be low and ratios skewed"
        } else {
            "quiet"
        };
        facts.push((
            "load",
            format!("CPU {:.0}% busy just before the run, 1-minute load average {load:.2} ({verdict})", busy * 100.0),
        ));
    }
    facts.push((
        "allocator",
        "mimalloc, the global allocator the `nabla` crate installs by default (freed buffers are reused, \
         not returned to the OS every step)"
            .to_string(),
    ));
    let env = system::relevant_env();
    facts.push((
        "env",
        if env.is_empty() {
            "default (no thread, allocator or RUSTFLAGS variables set)".to_string()
        } else {
            env.join(" ")
        },
    ));
    facts
}

/// The text header: a title, then the [`facts`] one per line.
pub fn header(facts: &[Fact]) -> String {
    let mut out = String::from("nabla benchmarks (cargo xtask bench)\n");
    for (label, text) in facts {
        let _ = writeln!(out, "  {:<11}{text}", format!("{label}:"));
    }
    out
}

/// Which vector instructions the compiler was allowed to assume (`-C target-cpu`); gemm and
/// matrixmultiply pick their kernels at run time either way.
fn compiled_for() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        " for AVX-512 (target-cpu)"
    } else if cfg!(target_feature = "avx2") {
        " for AVX2 (target-cpu)"
    } else {
        " for the generic target"
    }
}

/// One table per workload that has records.
pub fn table(workloads: &[&Workload], records: &[Record], peers: &[Record]) -> String {
    let mut out = String::new();
    for workload in workloads {
        let ours: Vec<&Record> = records.iter().filter(|r| r.workload == workload.id).collect();
        if ours.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}  {}", workload.id, workload.summary);
        if !workload.notes.is_empty() {
            let _ = writeln!(out, "     {}", workload.notes);
        }
        out.push_str(&workload_table(workload, &ours, peers));
        out.push('\n');
    }
    if peers.iter().any(|p| !p.clean) {
        out.push_str("* measured while the machine was busy: probably an underestimate of that peer\n");
    }
    out
}

/// The build time's line for the text output, with the command and the seconds.
pub fn build(record: &Record) -> String {
    format!(
        "build  clean release build of the workspace (cargo build --release --workspace -j {}): {:.1} s",
        record.threads, record.value
    )
}

/// The distinct items, in order of first appearance.
pub fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

fn workload_table(workload: &Workload, ours: &[&Record], peers: &[Record]) -> String {
    let frameworks = unique(ours.iter().map(|r| r.framework.as_str()));
    let variants = unique(ours.iter().map(|r| r.variant.as_str()));
    let find = |framework: &str, variant: &str| {
        ours.iter().find(|r| r.framework == framework && r.variant == variant).copied()
    };
    let reference = workload.reference.map(|r| r.framework).filter(|r| frameworks.contains(r));
    let threads = ours[0].threads;
    let compare = !peers.is_empty();

    let mut headers = vec!["variant".to_string()];
    headers.extend(frameworks.iter().map(|f| f.to_string()));
    if let Some(reference) = reference {
        headers.push(format!("nabla/{reference}"));
    }
    if compare {
        headers.extend([format!("best peer ({threads} thr)"), "peer".to_string(), "nabla/peer".to_string()]);
    }

    let mut rows = Vec::new();
    for variant in &variants {
        let nabla = find("nabla", variant);
        let metric = ours.iter().find(|r| r.variant == *variant).map_or("", |r| r.metric.as_str());
        let mut row = vec![format!("{variant} ({metric})")];
        row.extend(frameworks.iter().map(|f| find(f, variant).map_or_else(dash, |r| number(r.value))));
        if let Some(reference) = reference {
            row.push(ratio(nabla, find(reference, variant)));
        }
        if compare {
            match best_peer(peers, workload.id, variant, metric, threads) {
                Some(peer) => {
                    let mark = if peer.clean { "" } else { "*" };
                    row.push(format!("{} {}{mark}", peer.framework, peer.version));
                    row.push(number(peer.value));
                    row.push(ratio(nabla, Some(peer)));
                }
                None => row.extend([dash(), dash(), dash()]),
            }
        }
        rows.push(row);
    }

    // Each record holds the peak so far when its variant finished; the process's is the largest.
    let mut memory = vec!["peak RSS (MB)".to_string()];
    memory.extend(frameworks.iter().map(|f| {
        let peak = ours.iter().filter(|r| r.framework == *f).map(|r| r.peak_rss_mb).fold(f64::NAN, f64::max);
        if peak.is_nan() {
            dash()
        } else {
            format!("{peak:.1}")
        }
    }));
    memory.resize(headers.len(), String::new());
    rows.push(memory);
    render(&headers, &rows)
}

/// The figures of frameworks other than nabla in `peers` on this workload, variant and metric,
/// at `threads` threads: those nabla's figure can be divided by.
pub fn comparable<'a>(
    peers: &'a [Record],
    workload: &str,
    variant: &str,
    metric: &str,
    threads: usize,
) -> Vec<&'a Record> {
    peers
        .iter()
        .filter(|p| {
            p.framework != "nabla"
                && p.workload == workload
                && p.variant == variant
                && p.metric == metric
                && p.threads == threads
                && p.value.is_finite()
        })
        .collect()
}

/// The highest of the [`comparable`] figures.
fn best_peer<'a>(
    peers: &'a [Record],
    workload: &str,
    variant: &str,
    metric: &str,
    threads: usize,
) -> Option<&'a Record> {
    comparable(peers, workload, variant, metric, threads).into_iter().max_by(|a, b| a.value.total_cmp(&b.value))
}

/// An empty cell.
pub fn dash() -> String {
    "-".to_string()
}

/// A figure: whole above 1000, one decimal below.
pub fn number(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn ratio(ours: Option<&Record>, theirs: Option<&Record>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b.value > 0.0 => format!("{:.2}", a.value / b.value),
        _ => dash(),
    }
}

/// Columns padded to their widest cell: the first left-aligned, the rest right-aligned.
fn render(headers: &[String], rows: &[Vec<String>]) -> String {
    let width =
        |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].chars().count()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(text, "{cell:<w$}", w = widths[0]);
            } else {
                let _ = write!(text, "  {cell:>w$}", w = widths[i]);
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::w0::W0;

    fn record(framework: &str, variant: &str, value: f64, threads: usize, clean: bool) -> Record {
        Record {
            framework: framework.into(),
            version: "1.0".into(),
            workload: "W0".into(),
            variant: variant.into(),
            metric: "gflops".into(),
            value,
            threads,
            peak_rss_mb: 50.0,
            clean,
        }
    }

    #[test]
    fn ratios_and_the_best_peer_at_the_same_thread_count() {
        let ours = vec![
            record("nabla", "n256", 100.0, 2, true),
            record("gemm-crate", "n256", 200.0, 2, true),
            record("nabla", "n512", 150.0, 2, true),
        ];
        let peers = vec![
            record("numpy", "n256", 50.0, 2, true),
            record("jax", "n256", 80.0, 2, false),
            record("torch", "n256", 400.0, 1, true),
            record("nabla", "n256", 999.0, 2, true),
        ];
        let text = table(&[&W0], &ours, &peers);
        let n256 = text.lines().find(|l| l.starts_with("n256")).unwrap();
        let cells: Vec<&str> = n256.split_whitespace().collect();
        assert_eq!(cells, ["n256", "(gflops)", "100.0", "200.0", "0.50", "jax", "1.0*", "80.0", "1.25"]);
        let n512 = text.lines().find(|l| l.starts_with("n512")).unwrap();
        assert_eq!(n512.split_whitespace().filter(|c| *c == "-").count(), 5, "{n512}");
        assert!(text.contains("* measured while the machine was busy"));
        assert!(text.contains("peak RSS (MB)"));
    }
}
