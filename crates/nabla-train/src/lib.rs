//! # nabla-train
//!
//! The training loop a Keras user expects, on nabla's layers and data loaders:
//!
//! | module | concept |
//! |---|---|
//! | [`optim`] | SGD (momentum, Nesterov, weight decay), Adam, AdamW, RMSprop, Adagrad |
//! | [`schedule`] | learning-rate schedules: step, exponential, cosine, warm-up, reduce-on-plateau |
//! | [`clip`] | gradient clipping by global norm |
//! | [`metrics`] | accuracy, top-k accuracy, confusion matrix, running mean |
//! | [`trainer`] | [`Trainer`]: `fit`, `evaluate`, `predict` |
//! | [`callbacks`] | early stopping, checkpoints, CSV logging, LR scheduling |
//! | [`progress`] | the per-epoch progress bar and summary lines |
//! | [`history`], [`plot`] | the per-epoch record, as CSV/JSON and as an SVG plot |
//! | [`checkpoint`] | the whole training state in one atomically written file |
#![warn(missing_docs)]

pub mod callbacks;
pub mod checkpoint;
pub mod clip;
pub mod error;
pub mod history;
pub mod metrics;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod schedule;
pub mod trainer;

pub use callbacks::{Callback, CsvLogger, EarlyStopping, LrScheduler, ModelCheckpoint, TrainContext};
pub use clip::clip_grad_norm;
pub use error::TrainError;
pub use history::{EpochRecord, History};
pub use metrics::{Accuracy, ConfusionMatrix, MeanMetric, Metric, TopKAccuracy};
pub use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, OptimizerState, OptimizerStateError,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use plot::plot_history;
pub use progress::Verbosity;
pub use schedule::{
    Constant, CosineAnnealing, ExponentialDecay, LinearWarmup, LrSchedule, PlateauMode, ReduceOnPlateau, StepDecay,
};
pub use trainer::Trainer;
