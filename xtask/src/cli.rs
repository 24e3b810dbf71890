//! The command line: `cargo xtask <command> [flags]`, parsed by hand (the flags are few).
//!
//! Every mistake becomes a [`UsageError`] with a sentence saying what was wrong; `main` prints
//! it and exits with status 2. Flags take their value either as the next argument
//! (`--seconds 1`) or after `=` (`--seconds=1`).

use std::fmt;
use std::path::PathBuf;

use crate::workloads::{self, Runner, Workload};

/// The help text of `cargo xtask help`.
pub fn help() -> String {
    let mut workloads = String::new();
    for w in workloads::WORKLOADS {
        let frameworks: Vec<_> = w.runners.iter().map(|r| r.framework).collect();
        workloads.push_str(&format!("    {:<4} {}\n         frameworks: {}\n", w.id, w.summary, frameworks.join(", ")));
    }
    format!(
        "\
cargo xtask: project automation for nabla

USAGE:
    cargo xtask <COMMAND> [FLAGS]

COMMANDS:
    bench       run the benchmark workloads of WORKLOADS.md (and W6, nabla's own), print a table,
                write JSON Lines and a Markdown report
    help        print this text

BENCH FLAGS:
    --workloads ID[,ID...]   only these workloads (default: all); may be repeated
    --seconds S              timed seconds per case, after a warm-up (default: {default_seconds})
    --threads N              worker threads for rayon and matrixmultiply (default: all cores)
    --out FILE               where to write the results (default: target/bench/results.jsonl);
                             the Markdown report report.md goes to the same directory
    --compare FILE...        JSON Lines files of other frameworks' figures; the table gains, per
                             workload and variant, the best figure among them at the same thread
                             count and the ratio nabla / that figure; the Markdown report lists
                             every framework's figure and sums up against PyTorch and burn
    --build-time             also time a clean release build of the workspace (`cargo build
                             --release --workspace -j THREADS` in an empty target directory,
                             target/bench/build-time-target, removed afterwards); takes minutes
    --in-process             run everything in this process instead of one child process per
                             workload and framework (peak memory then accumulates)
    --flush-denormals        set FTZ and DAZ (denormal results and inputs become zero) on the
                             threads that run nabla and gemm, to see what denormals cost
    --verbose                also print where a step's time goes (model workloads): the phases
                             of a training step (forward, loss, backward, optimizer), each
                             layer's forward and backward time, and page faults per step

WORKLOADS:
{workloads}
Each workload and framework runs in a child process `xtask bench-one <ID> <FRAMEWORK>
[--seconds S] [--threads N] [--verbose] [--flush-denormals]`, which prints its JSON Lines on
standard output.

EXAMPLES:
    cargo xtask bench --workloads W0 --seconds 1
    cargo xtask bench --workloads W1,W1i,W2,W2i --verbose
    cargo xtask bench --compare ../shared/bench/peers/peers.jsonl
    cargo xtask bench --workloads W6 --seconds 2 --build-time
",
        default_seconds = DEFAULT_SECONDS,
    )
}

/// Timed seconds per case when `--seconds` is not given (WORKLOADS.md asks for several).
pub const DEFAULT_SECONDS: f64 = 3.0;

/// A command-line mistake, described for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(message: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(message.into()))
}

/// What the user asked for.
#[derive(Debug)]
pub enum Command {
    /// `help`, `--help`, `-h`, or nothing at all.
    Help,
    /// `bench [flags]`
    Bench(BenchOptions),
    /// `bench-one ID FRAMEWORK [flags]` (the child process of `bench`)
    BenchOne(BenchOneOptions),
}

/// Flags of `bench`.
#[derive(Debug)]
pub struct BenchOptions {
    /// The workloads to run, in registry order.
    pub workloads: Vec<&'static Workload>,
    /// Timed seconds per case.
    pub seconds: f64,
    /// `--threads`, if given.
    pub threads: Option<usize>,
    /// `--out`, if given.
    pub out: Option<PathBuf>,
    /// `--compare` files.
    pub compare: Vec<PathBuf>,
    /// `--in-process`
    pub in_process: bool,
    /// `--verbose`
    pub verbose: bool,
    /// `--flush-denormals`
    pub flush_denormals: bool,
    /// `--build-time`
    pub build_time: bool,
}

/// Arguments of `bench-one`.
#[derive(Debug)]
pub struct BenchOneOptions {
    /// The workload to run.
    pub workload: &'static Workload,
    /// The framework to measure on it.
    pub runner: &'static Runner,
    /// Timed seconds per case.
    pub seconds: f64,
    /// `--threads`, if given.
    pub threads: Option<usize>,
    /// `--verbose`
    pub verbose: bool,
    /// `--flush-denormals`
    pub flush_denormals: bool,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "bench" => parse_bench(rest),
        "bench-one" => parse_bench_one(rest),
        other => usage(format!("unknown command `{other}`; the commands are `bench` and `help`")),
    }
}

/// Splits `--flag=value` into `("--flag", Some("value"))`.
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// Walks the flags, handing out values.
struct Flags<'a> {
    args: &'a [String],
    pos: usize,
}

impl<'a> Flags<'a> {
    /// The value of `flag`: the `=value` part, else the next argument.
    fn value(&mut self, flag: &str, inline: Option<&'a str>) -> Result<&'a str, UsageError> {
        if let Some(value) = inline {
            return Ok(value);
        }
        match self.args.get(self.pos) {
            Some(next) if !next.starts_with("--") => {
                self.pos += 1;
                Ok(next)
            }
            _ => usage(format!("`{flag}` needs a value")),
        }
    }

    /// Every following argument up to the next flag (at least one).
    fn values(&mut self, flag: &str, inline: Option<&'a str>) -> Result<Vec<&'a str>, UsageError> {
        let mut values: Vec<&str> = inline.into_iter().collect();
        while let Some(next) = self.args.get(self.pos).filter(|a| !a.starts_with("--")) {
            values.push(next);
            self.pos += 1;
        }
        if values.is_empty() {
            return usage(format!("`{flag}` needs at least one value"));
        }
        Ok(values)
    }
}

fn parse_seconds(text: &str) -> Result<f64, UsageError> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => usage(format!("`--seconds` wants a number of seconds above 0 and at most 3600, got `{text}`")),
    }
}

fn parse_threads(text: &str) -> Result<usize, UsageError> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => usage(format!("`--threads` wants a whole number from 1 to 1024, got `{text}`")),
    }
}

fn parse_workload(id: &str) -> Result<&'static Workload, UsageError> {
    workloads::find(id)
        .map_or_else(|| usage(format!("unknown workload `{id}`; the workloads are {}", workloads::known_ids())), Ok)
}

fn parse_bench(args: &[String]) -> Result<Command, UsageError> {
    let mut options = BenchOptions {
        workloads: Vec::new(),
        seconds: DEFAULT_SECONDS,
        threads: None,
        out: None,
        compare: Vec::new(),
        in_process: false,
        verbose: false,
        flush_denormals: false,
        build_time: false,
    };
    let mut flags = Flags { args, pos: 0 };
    while let Some(arg) = args.get(flags.pos) {
        flags.pos += 1;
        let (flag, inline) = split_flag(arg);
        match flag {
            "--workloads" | "--workload" => {
                for list in flags.values(flag, inline)? {
                    for id in list.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                        let workload = parse_workload(id)?;
                        if !options.workloads.iter().any(|w| std::ptr::eq(*w, workload)) {
                            options.workloads.push(workload);
                        }
                    }
                }
            }
            "--seconds" => options.seconds = parse_seconds(flags.value(flag, inline)?)?,
            "--threads" => options.threads = Some(parse_threads(flags.value(flag, inline)?)?),
            "--out" => options.out = Some(PathBuf::from(flags.value(flag, inline)?)),
            "--compare" => options.compare.extend(flags.values(flag, inline)?.into_iter().map(PathBuf::from)),
            "--in-process" if inline.is_none() => options.in_process = true,
            "--verbose" if inline.is_none() => options.verbose = true,
            "--flush-denormals" if inline.is_none() => options.flush_denormals = true,
            "--build-time" if inline.is_none() => options.build_time = true,
            "--help" | "-h" => return Ok(Command::Help),
            _ => return usage(format!("unknown argument `{arg}` for `bench`; see `cargo xtask help`")),
        }
    }
    if options.workloads.is_empty() {
        options.workloads = workloads::WORKLOADS.iter().collect();
    } else {
        // Run in registry order whatever order they were named in.
        options.workloads.sort_by_key(|w| workloads::WORKLOADS.iter().position(|x| std::ptr::eq(x, *w)));
    }
    Ok(Command::Bench(options))
}

fn parse_bench_one(args: &[String]) -> Result<Command, UsageError> {
    let (Some(id), Some(framework)) = (args.first(), args.get(1)) else {
        return usage("`bench-one` wants a workload id and a framework, e.g. `bench-one W0 nabla`");
    };
    let workload = parse_workload(id)?;
    let Some(runner) = workload.runner(framework) else {
        let known: Vec<_> = workload.runners.iter().map(|r| r.framework).collect();
        return usage(format!("workload {} has no framework `{framework}`; it has {}", workload.id, known.join(", ")));
    };
    let mut options = BenchOneOptions {
        workload,
        runner,
        seconds: DEFAULT_SECONDS,
        threads: None,
        verbose: false,
        flush_denormals: false,
    };
    let mut flags = Flags { args, pos: 2 };
    while let Some(arg) = args.get(flags.pos) {
        flags.pos += 1;
        let (flag, inline) = split_flag(arg);
        match flag {
            "--seconds" => options.seconds = parse_seconds(flags.value(flag, inline)?)?,
            "--threads" => options.threads = Some(parse_threads(flags.value(flag, inline)?)?),
            "--verbose" if inline.is_none() => options.verbose = true,
            "--flush-denormals" if inline.is_none() => options.flush_denormals = true,
            _ => return usage(format!("unknown argument `{arg}` for `bench-one`")),
        }
    }
    Ok(Command::BenchOne(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn bench(line: &str) -> BenchOptions {
        match parse(&args(line)) {
            Ok(Command::Bench(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        match parse(&args(line)) {
            Err(UsageError(message)) => message,
            other => panic!("{line} should fail: {other:?}"),
        }
    }

    #[test]
    fn bench_flags() {
        let o =
            bench("bench --workloads w0 --seconds=1.5 --threads 1 --out r.jsonl --compare a b --in-process --verbose --flush-denormals --build-time");
        assert_eq!(o.workloads.iter().map(|w| w.id).collect::<Vec<_>>(), ["W0"]);
        assert!(o.verbose && o.flush_denormals && o.build_time);
        assert_eq!((o.seconds, o.threads), (1.5, Some(1)));
        assert_eq!(o.out, Some(PathBuf::from("r.jsonl")));
        assert_eq!(o.compare, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(o.in_process);
        let defaults = bench("bench");
        assert!(!defaults.verbose && !defaults.flush_denormals && !defaults.build_time);
        let models = bench("bench --workloads W2i,w1 --workloads W1I");
        assert_eq!(models.workloads.iter().map(|w| w.id).collect::<Vec<_>>(), ["W1", "W1i", "W2i"]);
        assert_eq!(defaults.workloads.len(), workloads::WORKLOADS.len());
        assert_eq!((defaults.seconds, defaults.threads), (DEFAULT_SECONDS, None));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(error("bnech").contains("unknown command `bnech`"));
        assert!(error("bench --workloads W9").contains("unknown workload `W9`"));
        assert!(error("bench --seconds").contains("`--seconds` needs a value"));
        assert!(error("bench --seconds -1").contains("above 0"));
        assert!(error("bench --seconds nan").contains("above 0"));
        assert!(error("bench --threads 0").contains("from 1"));
        assert!(error("bench --compare --threads 2").contains("at least one value"));
        assert!(error("bench --frobnicate").contains("unknown argument `--frobnicate`"));
        assert!(error("bench --build-time=yes").contains("unknown argument `--build-time=yes`"));
        assert!(error("bench-one W0").contains("workload id and a framework"));
        assert!(error("bench-one W0 torch").contains("has no framework `torch`"));
    }

    #[test]
    fn help_and_bench_one() {
        assert!(matches!(parse(&[]), Ok(Command::Help)));
        assert!(matches!(parse(&args("bench --help")), Ok(Command::Help)));
        assert!(help().contains("W0") && help().contains("W6") && help().contains("--build-time"));
        match parse(&args("bench-one W0 gemm-crate --seconds 0.5 --threads 2 --verbose --flush-denormals")) {
            Ok(Command::BenchOne(o)) => {
                assert_eq!((o.workload.id, o.runner.framework), ("W0", "gemm-crate"));
                assert_eq!((o.seconds, o.threads, o.verbose, o.flush_denormals), (0.5, Some(2), true, true));
            }
            other => panic!("{other:?}"),
        }
    }
}
