//! [`TrainError`]: what can stop training.

use std::path::PathBuf;

/// Why training, evaluation or a checkpoint operation stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A loss or gradient became NaN or infinite (Keras' `TerminateOnNaN`).
    #[error(
        "training stopped at epoch {epoch}, step {step}: {what} is {value} (not finite); \
         try a smaller learning rate or gradient clipping"
    )]
    NonFinite {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based optimizer step over the whole run.
        step: u64,
        /// What went non-finite: `"the loss"` or `"the gradient of 0.weight"`.
        what: String,
        /// The first non-finite value found.
        value: f64,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A checkpoint file is damaged or does not fit this model.
    #[error("{path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong: the field and what was expected.
        reason: String,
    },
    /// A callback watches a figure that training does not produce.
    #[error("{callback} monitors `{figure}`, which is not among this run's figures {available:?} (is there validation data?)")]
    MissingFigure {
        /// The callback.
        callback: &'static str,
        /// The figure it monitors.
        figure: String,
        /// The figures the run has.
        available: Vec<String>,
    },
    /// The history plot could not be drawn.
    #[error("{path}: could not draw the plot: {reason}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// What the plotting library said.
        reason: String,
    },
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }
}
