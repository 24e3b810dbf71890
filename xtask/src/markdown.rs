//! The Markdown report, `report.md` next to `results.jsonl`: the run written up for a reader
//! who wants to know where nabla stands without running anything.
//!
//! It holds, in order:
//!
//! 1. the conditions of the run, the same [`facts`](report::facts) as the text header, and the
//!    peer files compared with;
//! 2. a summary, one row per workload and variant: nabla's figure; nabla / the workload's
//!    in-run reference (W0: the raw gemm crate, W6: the step written by hand); PyTorch eager in
//!    its best memory layout (the best of the frameworks whose name starts with
//!    `pytorch-eager`, e.g. `pytorch-eager_channels_last`); the best burn backend (names
//!    starting with `burn`); the best peer of all; nabla / each of them; and nabla's peak
//!    memory next to PyTorch eager's;
//! 3. with `--build-time`, the clean release build time of the workspace;
//! 4. per workload, every figure of every variant: nabla's, the other frameworks measured in
//!    this run, and every peer framework at the same thread count (its best record, where the
//!    files hold several), highest first, each with nabla / it and its peak memory.
//!
//! Peers count only at nabla's thread count, as in the text table ([`report::comparable`]).
//! Ratios divide throughputs, nabla's by the other's: above 1 nabla is ahead; below 1 the
//! ratio is bold and marked ✗ (below its bar, for an in-run reference: 0.9 of the gemm crate
//! on W0, 0.5 of the hand-written step on W6). Peak memory is each record's own: the peak resident set of the
//! process that measured it, when its figure was taken.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::record::Record;
use crate::report::{self, Fact};
use crate::workloads::Workload;

/// Frameworks whose name starts with this are PyTorch eager, in one memory layout or another.
const PYTORCH: &str = "pytorch-eager";
/// Frameworks whose name starts with this are burn, on one backend or another.
const BURN: &str = "burn";

/// What the report is made from.
pub struct Run<'a> {
    /// The conditions, as the text header prints them.
    pub facts: &'a [Fact],
    /// The `--compare` files.
    pub compare: &'a [PathBuf],
    /// The workloads run, in order.
    pub workloads: &'a [&'static Workload],
    /// This run's records (without the build time).
    pub records: &'a [Record],
    /// The records of the `--compare` files.
    pub peers: &'a [Record],
    /// The build time record, with `--build-time`.
    pub build: Option<&'a Record>,
}

/// The whole report.
pub fn report(run: &Run<'_>) -> String {
    let mut out = String::from("# nabla benchmarks\n\nWritten by `cargo xtask bench`.\n\n## Conditions\n\n");
    for (label, text) in run.facts {
        let _ = writeln!(out, "- **{label}:** {text}");
    }
    if run.compare.is_empty() {
        out.push_str("- **peers:** none (no `--compare` files)\n");
    } else {
        let files: Vec<String> = run.compare.iter().map(|f| format!("`{}`", f.display())).collect();
        let _ = writeln!(out, "- **peers:** {} ({} figures)", files.join(", "), run.peers.len());
        if let Some(check) = machine_check(run.records, run.peers) {
            let _ = writeln!(out, "- **same machine?** {check}");
        }
    }
    out.push_str(
        "\nRatios are nabla / other on figures where higher is better: above 1.00 nabla is ahead, \
         below it the ratio is **bold ✗** (an in-run reference is marked below its bar instead: \
         0.90 of the gemm crate on W0, 0.50 of the hand-written step on W6). Peers count only at \
         nabla's thread count. Peak RSS is the peak resident memory of the measuring process when \
         the figure was taken.\n",
    );

    out.push_str("\n## Summary\n\n");
    out.push_str(&summary(run));

    if let Some(build) = run.build {
        out.push_str("\n## Build\n\n");
        out.push_str(&render(
            &[("what", false), ("seconds", true), ("jobs", true)],
            &[vec![
                "clean release build of the workspace (`cargo build --release --workspace`, empty target directory)"
                    .to_string(),
                format!("{:.1}", build.value),
                build.threads.to_string(),
            ]],
        ));
    }

    for workload in run.workloads {
        let ours: Vec<&Record> = run.records.iter().filter(|r| r.workload == workload.id).collect();
        if ours.is_empty() {
            continue;
        }
        let _ = write!(out, "\n## {} — {}\n\n", workload.id, workload.summary);
        if !workload.notes.is_empty() {
            let _ = write!(out, "{}\n\n", escape(workload.notes));
        }
        out.push_str(&workload_table(workload, &ours, run.peers));
    }
    if run.peers.iter().any(|p| !p.clean) {
        out.push_str("\n\\* measured while the machine was busy: probably an underestimate of that peer\n");
    }
    out
}

/// How far apart two machines' gemm figures may be and still count as the same machine: the
/// spread WORKLOADS.md expects between runs an hour apart.
const SAME_MACHINE: f64 = 0.15;

/// Whether the peer figures were taken on a machine like this one, judged by the one program
/// both measured: the gemm crate's matrix product (W0, n = 1024, same thread count), in this
/// run and in the `--compare` files. `None` when either lacks it.
pub fn machine_check(records: &[Record], peers: &[Record]) -> Option<String> {
    let here = records.iter().find(|r| r.workload == "W0" && r.variant == "n1024" && r.framework == "gemm-crate")?;
    let there = best(
        report::comparable(peers, "W0", "n1024", &here.metric, here.threads)
            .into_iter()
            .filter(|p| p.framework.starts_with("gemm-crate")),
    )?;
    let speed = here.value / there.value;
    let figures = format!(
        "the gemm crate's n = 1024 product reached {} GFLOP/s in this run and {} ({}) in the peer files",
        figure(here.value),
        figure(there.value),
        there.framework
    );
    Some(if (speed - 1.0).abs() <= SAME_MACHINE {
        format!("yes, as far as matrix products tell: {figures}.")
    } else {
        format!(
            "**no**: {figures}, so this machine multiplies matrices {speed:.2}× as fast and the ratios to \
             those peers are not like for like. `xtask/peers/run_pytorch.sh` re-measures PyTorch here \
             (compare with its file alone: its records carry the same framework names)."
        )
    })
}

/// The summary table: one row per workload and variant.
fn summary(run: &Run<'_>) -> String {
    let headers = [
        ("workload", false),
        ("variant", false),
        ("nabla", true),
        ("nabla / in-run reference", true),
        ("PyTorch eager (best layout)", true),
        ("nabla / PyTorch", true),
        ("best burn", true),
        ("nabla / burn", true),
        ("best peer", true),
        ("nabla / best peer", true),
        ("peak RSS MB: nabla", true),
        ("PyTorch", true),
    ];
    let mut rows = Vec::new();
    for workload in run.workloads {
        let ours: Vec<&Record> = run.records.iter().filter(|r| r.workload == workload.id).collect();
        for variant in report::unique(ours.iter().map(|r| r.variant.as_str())) {
            let Some(nabla) = ours.iter().find(|r| r.framework == "nabla" && r.variant == variant) else {
                continue;
            };
            let reference = workload
                .reference
                .and_then(|to| {
                    Some((to.bar, ours.iter().find(|r| r.framework == to.framework && r.variant == variant)?))
                })
                .map_or_else(report::dash, |(bar, r)| {
                    format!("{} ({}, bar {bar:.2})", ratio_to(nabla, r, bar), r.framework)
                });
            let peers = report::comparable(run.peers, &nabla.workload, variant, &nabla.metric, nabla.threads);
            let pytorch = best(peers.iter().copied().filter(|p| p.framework.starts_with(PYTORCH)));
            let burn = best(peers.iter().copied().filter(|p| p.framework.starts_with(BURN)));
            let top = best(peers.iter().copied());
            let mut row =
                vec![workload.id.to_string(), format!("{variant} ({})", nabla.metric), figure(nabla.value), reference];
            for (peer, named) in [(pytorch, false), (burn, true), (top, true)] {
                match peer {
                    Some(p) => {
                        let name =
                            if named || p.framework != PYTORCH { format!(" ({})", p.framework) } else { String::new() };
                        row.push(format!("{}{}{name}", figure(p.value), busy_mark(p)));
                        row.push(ratio(nabla, p));
                    }
                    None => row.extend([report::dash(), report::dash()]),
                }
            }
            row.push(megabytes(nabla.peak_rss_mb));
            row.push(pytorch.map_or_else(report::dash, |p| megabytes(p.peak_rss_mb)));
            rows.push(row);
        }
    }
    render(&headers, &rows)
}

/// One workload's table: per variant, nabla's row, then every other framework, highest first.
fn workload_table(workload: &Workload, ours: &[&Record], peers: &[Record]) -> String {
    let metric = ours[0].metric.as_str();
    let value_header = format!("figure ({metric})");
    let headers = [
        ("variant", false),
        ("framework", false),
        ("version", false),
        (value_header.as_str(), true),
        ("nabla / it", true),
        ("peak RSS MB", true),
        ("source", false),
    ];
    let mut rows = Vec::new();
    for variant in report::unique(ours.iter().map(|r| r.variant.as_str())) {
        let nabla = ours.iter().copied().find(|r| r.framework == "nabla" && r.variant == variant);
        // This run's other frameworks, then the peers' best record per framework.
        let mut others: Vec<(&Record, &str)> = ours
            .iter()
            .copied()
            .filter(|r| r.framework != "nabla" && r.variant == variant)
            .map(|r| (r, "this run"))
            .collect();
        if let Some(nabla) = nabla {
            let candidates = report::comparable(peers, workload.id, variant, &nabla.metric, nabla.threads);
            for framework in report::unique(candidates.iter().map(|p| p.framework.as_str())) {
                if let Some(p) = best(candidates.iter().copied().filter(|p| p.framework == framework)) {
                    others.push((p, "peer file"));
                }
            }
        }
        others.sort_by(|a, b| b.0.value.total_cmp(&a.0.value));

        let row = |r: &Record, ratio_cell: String, source: &str| {
            vec![
                variant.to_string(),
                if r.framework == "nabla" { "**nabla**".to_string() } else { r.framework.clone() },
                r.version.clone(),
                format!("{}{}", figure(r.value), busy_mark(r)),
                ratio_cell,
                megabytes(r.peak_rss_mb),
                source.to_string(),
            ]
        };
        if let Some(nabla) = nabla {
            rows.push(row(nabla, report::dash(), "this run"));
        }
        // An in-run reference is judged against its own bar, every other framework against 1.
        let bar = |other: &Record| workload.reference.filter(|r| r.framework == other.framework).map_or(1.0, |r| r.bar);
        for (other, source) in others {
            rows.push(row(other, nabla.map_or_else(report::dash, |n| ratio_to(n, other, bar(other))), source));
        }
    }
    render(&headers, &rows)
}

/// The record with the highest figure.
fn best<'a>(records: impl Iterator<Item = &'a Record>) -> Option<&'a Record> {
    records.max_by(|a, b| a.value.total_cmp(&b.value))
}

/// `nabla / other`, bold and marked ✗ below 1.
fn ratio(nabla: &Record, other: &Record) -> String {
    ratio_to(nabla, other, 1.0)
}

/// `nabla / other`, bold and marked ✗ below `bar`.
fn ratio_to(nabla: &Record, other: &Record, bar: f64) -> String {
    if other.value <= 0.0 {
        return report::dash();
    }
    let r = nabla.value / other.value;
    if r < bar {
        format!("**{r:.2}** ✗")
    } else {
        format!("{r:.2}")
    }
}

/// `*` after a figure measured while the machine was busy.
fn busy_mark(record: &Record) -> &'static str {
    if record.clean {
        ""
    } else {
        "\\*"
    }
}

/// A figure with thousands separated: `34,589`, `200.1`.
fn figure(x: f64) -> String {
    let text = report::number(x);
    if x.abs() < 1000.0 || !x.is_finite() {
        return text;
    }
    let (sign, digits) = text.split_at(usize::from(text.starts_with('-')));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}")
}

/// Megabytes with one decimal, or a dash where unknown.
fn megabytes(mb: f64) -> String {
    if mb.is_finite() {
        format!("{mb:.1}")
    } else {
        report::dash()
    }
}

/// Text that may sit in a Markdown table cell or paragraph: `|` escaped.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A Markdown table; each header says whether its column is right-aligned (numbers).
fn render(headers: &[(&str, bool)], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(headers.iter().map(|(h, _)| escape(h)).collect());
    out.push_str(&line(headers.iter().map(|(_, right)| if *right { "---:" } else { "---" }.to_string()).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(|c| escape(c)).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::w1::W1;

    fn record(framework: &str, variant: &str, value: f64, threads: usize, rss: f64) -> Record {
        Record {
            framework: framework.into(),
            version: "1.0".into(),
            workload: "W1".into(),
            variant: variant.into(),
            metric: "samples_per_s".into(),
            value,
            threads,
            peak_rss_mb: rss,
            clean: true,
        }
    }

    #[test]
    fn summary_picks_pytorch_burn_and_the_best_peer() {
        let ours = vec![record("nabla", "sgd", 20000.0, 2, 30.0), record("nabla", "adam", 9000.0, 2, 31.0)];
        let peers = vec![
            record("pytorch-eager", "sgd", 30000.0, 2, 700.0),
            record("pytorch-eager_channels_last", "sgd", 32000.0, 2, 710.0),
            record("pytorch-compile", "sgd", 40000.0, 2, 780.0),
            record("burn-flex", "sgd", 18000.0, 2, 22.0),
            record("burn-ndarray", "sgd", 25000.0, 2, 28.0),
            record("keras-jax-jit", "sgd", 99000.0, 1, 300.0),
            record("burn-flex", "adam", 8000.0, 2, 22.0),
        ];
        let facts = vec![("cpu", "test".to_string())];
        let text = report(&Run {
            facts: &facts,
            compare: &[PathBuf::from("peers.jsonl")],
            workloads: &[&W1],
            records: &ours,
            peers: &peers,
            build: None,
        });
        assert!(text.contains("- **cpu:** test"), "{text}");
        let sgd = text.lines().find(|l| l.starts_with("| W1 | sgd")).unwrap();
        let cells: Vec<&str> = sgd.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "W1",
                "sgd (samples_per_s)",
                "20,000",
                "-",
                "32,000 (pytorch-eager_channels_last)",
                "**0.62** ✗",
                "25,000 (burn-ndarray)",
                "**0.80** ✗",
                "40,000 (pytorch-compile)",
                "**0.50** ✗",
                "30.0",
                "710.0",
            ]
        );
        let adam = text.lines().find(|l| l.starts_with("| W1 | adam")).unwrap();
        assert!(adam.contains("8,000 (burn-flex) | 1.12 |"), "{adam}");
        // The W1 table lists every peer framework at 2 threads, not the 1-thread one.
        let section = &text[text.find("## W1 —").unwrap()..];
        assert_eq!(section.lines().filter(|l| l.starts_with("| sgd |")).count(), 6, "{section}");
        assert!(!section.contains("keras-jax-jit"));
        assert!(section.contains("| sgd | **nabla** | 1.0 | 20,000 | - | 30.0 | this run |"), "{section}");
    }

    #[test]
    fn the_machine_check_compares_the_gemm_crate_here_and_in_the_peer_files() {
        let gemm = |framework: &str, value: f64| Record {
            workload: "W0".into(),
            variant: "n1024".into(),
            metric: "gflops".into(),
            ..record(framework, "n1024", value, 2, 50.0)
        };
        let here = [gemm("nabla", 470.0), gemm("gemm-crate", 480.0)];
        let peers = [gemm("gemm-crate", 200.0), gemm("gemm-crate-x86v4", 214.0), gemm("pytorch-eager", 188.0)];
        let text = machine_check(&here, &peers).unwrap();
        assert!(text.starts_with("**no**") && text.contains("2.24×") && text.contains("gemm-crate-x86v4"), "{text}");
        let alike = machine_check(&[gemm("gemm-crate", 220.0)], &peers).unwrap();
        assert!(alike.starts_with("yes"), "{alike}");
        assert!(machine_check(&here[..1], &peers).is_none());
        assert!(machine_check(&here, &peers[2..]).is_none());
    }

    #[test]
    fn figures_are_grouped_and_tables_aligned() {
        assert_eq!(figure(1234567.4), "1,234,567");
        assert_eq!(figure(-2500.0), "-2,500");
        assert_eq!(figure(999.94), "999.9");
        let table = render(&[("a", false), ("b|c", true)], &[vec!["x".into(), "1".into()]]);
        assert_eq!(table, "| a | b\\|c |\n| --- | ---: |\n| x | 1 |\n");
    }
}
