//! What `fit` shows while it runs: a progress bar per epoch (batches done, loss, metric,
//! samples per second, time left) and one summary line per epoch.
//!
//! ```text
//! epoch 2/10 [██████████████░░░░░░░░] 274/469 loss 0.0712 accuracy 0.9781 41,203 samples/s ETA 2s
//! epoch 2/10  loss 0.0698  accuracy 0.9785  val_loss 0.0811  val_accuracy 0.9749  lr 0.001  5.1 s
//! ```
//!
//! The bar is drawn only when standard error is a terminal (not in CI logs or when piped);
//! the summary lines go to standard output unless training is [`Verbosity::Quiet`].

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::history::EpochRecord;

/// How much `fit` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing.
    Quiet,
    /// One summary line per epoch.
    Epochs,
    /// A progress bar during each epoch (when standard error is a terminal) and the summary lines.
    Progress,
}

/// The progress bar of one epoch.
pub(crate) struct EpochProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    samples: usize,
}

impl EpochProgress {
    pub(crate) fn new(epoch: usize, epochs: usize, batches: usize, verbosity: Verbosity) -> Self {
        let bar = (verbosity == Verbosity::Progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:28}] {pos}/{len} {msg} ETA {eta}")
                    .expect("a valid template")
                    .progress_chars("█▓░"),
            );
            bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
            bar
        });
        EpochProgress { bar, started: Instant::now(), samples: 0 }
    }

    /// One more batch of `samples` done; `figures` are the running means so far.
    pub(crate) fn batch_done(&mut self, samples: usize, figures: &[(String, f64)]) {
        self.samples += samples;
        if let Some(bar) = &self.bar {
            let rate = self.samples as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let text: Vec<String> = figures.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            bar.set_message(format!("{} {:.0} samples/s", text.join(" "), rate));
            bar.inc(1);
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The summary line of an epoch.
pub(crate) fn summary_line(record: &EpochRecord, epochs: usize) -> String {
    let mut parts = vec![format!("epoch {}/{epochs}", record.epoch)];
    parts.extend(record.train.iter().map(|(k, v)| format!("{k} {v:.4}")));
    parts.extend(record.validation.iter().map(|(k, v)| format!("val_{k} {v:.4}")));
    parts.push(format!("lr {:.3e}", record.learning_rate));
    parts.push(format!("{:.1} s", record.seconds));
    parts.join("  ")
}
