//! One benchmark figure, and its JSON Lines form.
//!
//! The format is the one `WORKLOADS.md` fixes, one object per line:
//!
//! ```json
//! {"framework":"nabla","version":"0.1.0","workload":"W0","variant":"n1024","metric":"gflops","value":180.5,"threads":2,"peak_rss_mb":40.1}
//! ```
//!
//! Files written by other tools may carry extra keys (the peer figures add `clean` and
//! `build`); [`Record::from_json`] keeps `clean` and ignores the rest.

use std::path::Path;

use crate::json::{self, Value};

/// One figure: a framework's score on one variant of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Who ran it: `nabla`, `gemm-crate`, `pytorch-eager`, ...
    pub framework: String,
    /// The framework's version.
    pub version: String,
    /// Workload id from `WORKLOADS.md` (`W0`, `W1`, ...), nabla's own `W6`, or `build`.
    pub workload: String,
    /// Which variant of the workload: `n1024`, `sgd`, `infer`, ...
    pub variant: String,
    /// Unit of `value`: `gflops`, `samples_per_s`, `tokens_per_s`, for which higher is better;
    /// or `seconds`, the build time (workload `build`), for which lower is better.
    pub metric: String,
    /// The figure, computed from the median step time.
    pub value: f64,
    /// Worker threads the framework was allowed.
    pub threads: usize,
    /// Peak resident memory of the measuring process, in MiB.
    pub peak_rss_mb: f64,
    /// `false` when the file says the machine was busy during the measurement.
    pub clean: bool,
}

impl Record {
    /// The record as one line of JSON (no trailing newline), keys in the documented order.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"framework\":{},\"version\":{},\"workload\":{},\"variant\":{},\"metric\":{},\"value\":{},\"threads\":{},\"peak_rss_mb\":{}}}",
            json::quote(&self.framework),
            json::quote(&self.version),
            json::quote(&self.workload),
            json::quote(&self.variant),
            json::quote(&self.metric),
            finite_number(self.value, 2),
            self.threads,
            finite_number(self.peak_rss_mb, 1),
        )
    }

    /// Reads one JSON object; the error names the first missing or mistyped key.
    pub fn from_json(line: &str) -> Result<Record, String> {
        let value = json::parse(line)?;
        if !matches!(value, Value::Object(_)) {
            return Err("not a JSON object".to_string());
        }
        let text = |key: &str| value.str(key).map(str::to_string).ok_or_else(|| format!("missing string \"{key}\""));
        let number = |key: &str| value.num(key).ok_or_else(|| format!("missing number \"{key}\""));
        let whole = |key: &str| {
            let x = number(key)?;
            if x >= 0.0 && x.fract() == 0.0 {
                Ok(x as usize)
            } else {
                Err(format!("\"{key}\" must be a whole number, got {x}"))
            }
        };
        Ok(Record {
            framework: text("framework")?,
            version: value.str("version").unwrap_or("?").to_string(),
            workload: text("workload")?,
            variant: text("variant")?,
            metric: text("metric")?,
            value: number("value")?,
            threads: whole("threads")?,
            peak_rss_mb: value.num("peak_rss_mb").unwrap_or(f64::NAN),
            clean: value.bool("clean").unwrap_or(true),
        })
    }
}

/// JSON has no NaN or infinity: those become `null`.
fn finite_number(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "null".to_string()
    }
}

/// Every record of a JSON Lines file. Blank lines are skipped; malformed lines are skipped
/// too and returned as `"file:line: reason"` warnings, so one bad line does not lose a file.
pub fn read_jsonl(path: &Path) -> std::io::Result<(Vec<Record>, Vec<String>)> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_jsonl(&text, &path.display().to_string()))
}

/// [`read_jsonl`] on text already in memory; `origin` names it in warnings.
pub fn parse_jsonl(text: &str, origin: &str) -> (Vec<Record>, Vec<String>) {
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match Record::from_json(line) {
            Ok(record) => records.push(record),
            Err(reason) => warnings.push(format!("{origin}:{}: {reason}", number + 1)),
        }
    }
    (records, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            framework: "nabla".into(),
            version: "0.1.0".into(),
            workload: "W0".into(),
            variant: "n1024".into(),
            metric: "gflops".into(),
            value: 180.456,
            threads: 2,
            peak_rss_mb: 40.06,
            clean: true,
        }
    }

    #[test]
    fn writes_the_documented_format() {
        assert_eq!(
            sample().to_json(),
            r#"{"framework":"nabla","version":"0.1.0","workload":"W0","variant":"n1024","metric":"gflops","value":180.46,"threads":2,"peak_rss_mb":40.1}"#
        );
    }

    #[test]
    fn round_trips_and_reads_peer_lines() {
        let back = Record::from_json(&sample().to_json()).unwrap();
        assert_eq!(back.value, 180.46);
        assert_eq!(back.framework, "nabla");
        let peer = r#"{"framework": "jax", "version": "0.10.2", "workload": "W0", "variant": "n512", "metric": "gflops", "value": 198.9, "threads": 2, "peak_rss_mb": 245.6, "clean": false, "build": "generic"}"#;
        let record = Record::from_json(peer).unwrap();
        assert!(!record.clean);
        assert_eq!(record.threads, 2);
    }

    #[test]
    fn bad_lines_become_warnings() {
        let text = format!("{}\n\nnot json\n{{\"framework\":\"x\"}}\n", sample().to_json());
        let (records, warnings) = parse_jsonl(&text, "f.jsonl");
        assert_eq!(records.len(), 1);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].starts_with("f.jsonl:3:"), "{warnings:?}");
        assert!(warnings[1].contains("missing string \"workload\""), "{warnings:?}");
    }
}
