//! Callbacks: code that runs at fixed points of `fit`, as in Keras.
//!
//! | callback | what it does |
//! |---|---|
//! | [`EarlyStopping`] | stops when a monitored figure has not improved for `patience` epochs |
//! | [`ModelCheckpoint`] | writes a checkpoint of the whole training state, every epoch or only when the monitored figure improves |
//! | [`CsvLogger`] | rewrites a CSV of the history after every epoch |
//! | [`LrScheduler`] | sets the learning rate before every step from an [`LrSchedule`] |
//!
//! A non-finite loss always stops training with [`TrainError::NonFinite`] naming the step and
//! the value (Keras' `TerminateOnNaN`, built in).
//!
//! Figures are named as in the history: `loss`, `accuracy`, and with a `val_` prefix for the
//! validation set (`val_loss`). Callback state that matters for resuming (patience counters,
//! best values, schedule state) is stored in checkpoints.

use std::path::PathBuf;

use nabla_layers::{Module, ModuleExt};
use nabla_tensor::Tensor;

use crate::error::TrainError;
use crate::history::{EpochRecord, History};
use crate::optim::Optimizer;
use crate::schedule::LrSchedule;

/// What a callback can see and do.
pub struct TrainContext<'a> {
    /// The model being trained.
    pub model: &'a dyn Module,
    /// Its optimizer (to read or set the learning rate).
    pub optimizer: &'a mut dyn Optimizer,
    /// The current epoch (0-based).
    pub epoch: usize,
    /// Optimizer steps taken so far over the whole run.
    pub step: u64,
    /// The history so far.
    pub history: &'a History,
    /// Set to stop training after this epoch.
    pub stop: bool,
    /// Checkpoints to write after the callbacks have run (paths).
    pub checkpoints: Vec<PathBuf>,
}

/// Code run at fixed points of training; every method has a do-nothing default.
pub trait Callback: Send {
    /// The callback's name, for messages.
    fn name(&self) -> &'static str;
    /// Before the first epoch of a `fit` call.
    fn on_train_begin(&mut self, ctx: &mut TrainContext<'_>) {
        let _ = ctx;
    }
    /// Before each optimizer step.
    fn on_batch_begin(&mut self, ctx: &mut TrainContext<'_>) {
        let _ = ctx;
    }
    /// After each epoch (training and validation done), with its record.
    fn on_epoch_end(&mut self, ctx: &mut TrainContext<'_>, record: &EpochRecord) -> Result<(), TrainError> {
        let _ = (ctx, record);
        Ok(())
    }
    /// Numbers to store in a checkpoint so a resumed run behaves identically.
    fn state(&self) -> Vec<f64> {
        vec![]
    }
    /// Restores what [`Callback::state`] returned.
    fn load_state(&mut self, state: &[f64]) {
        let _ = state;
    }
}

/// Reads figure `name` (`loss`, `val_accuracy`, …) from an epoch record.
pub fn figure(record: &EpochRecord, name: &str) -> Option<f64> {
    match name.strip_prefix("val_") {
        Some(inner) => record.validation.get(inner).copied(),
        None => record.train.get(name).copied(),
    }
}

/// Whether larger is better for a figure: accuracies yes, losses no.
fn larger_is_better(name: &str) -> bool {
    name.contains("accuracy")
}

/// Tracks the best value of a monitored figure.
#[derive(Clone, Debug)]
struct Monitor {
    name: String,
    min_delta: f64,
    best: Option<f64>,
}

impl Monitor {
    fn new(name: &str, min_delta: f64) -> Self {
        Monitor { name: name.to_string(), min_delta, best: None }
    }

    /// Looks at this epoch's value; true if it improved on the best so far.
    fn improved(&mut self, record: &EpochRecord, callback: &'static str) -> Result<bool, TrainError> {
        let value = figure(record, &self.name).ok_or_else(|| TrainError::MissingFigure {
            callback,
            figure: self.name.clone(),
            available: record
                .train
                .keys()
                .cloned()
                .chain(record.validation.keys().map(|k| format!("val_{k}")))
                .collect(),
        })?;
        let better = match self.best {
            None => true,
            Some(best) if larger_is_better(&self.name) => value > best + self.min_delta,
            Some(best) => value < best - self.min_delta,
        };
        if better {
            self.best = Some(value);
        }
        Ok(better)
    }
}

/// Stops training when the monitored figure has not improved for `patience` epochs.
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    waited: usize,
    restore_best_weights: bool,
    best_weights: Option<std::collections::BTreeMap<String, Tensor>>,
}

impl EarlyStopping {
    /// Watches `monitor` (e.g. `"val_loss"`) with the given patience.
    pub fn new(monitor: &str, patience: usize) -> Self {
        EarlyStopping {
            monitor: Monitor::new(monitor, 0.0),
            patience,
            waited: 0,
            restore_best_weights: false,
            best_weights: None,
        }
    }

    /// Improvements smaller than `min_delta` do not count.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.monitor.min_delta = min_delta;
        self
    }

    /// On stopping, put back the weights of the best epoch.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
}

impl Callback for EarlyStopping {
    fn name(&self) -> &'static str {
        "EarlyStopping"
    }

    fn on_epoch_end(&mut self, ctx: &mut TrainContext<'_>, record: &EpochRecord) -> Result<(), TrainError> {
        if self.monitor.improved(record, "EarlyStopping")? {
            self.waited = 0;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model.state_dict());
            }
        } else {
            self.waited += 1;
            if self.waited >= self.patience {
                ctx.stop = true;
                if let Some(best) = &self.best_weights {
                    ctx.model.load_state_dict(best).expect("the model's own state dict fits it");
                }
            }
        }
        Ok(())
    }

    fn state(&self) -> Vec<f64> {
        vec![self.monitor.best.unwrap_or(f64::NAN), self.waited as f64]
    }

    fn load_state(&mut self, state: &[f64]) {
        if let [best, waited] = state {
            self.monitor.best = (!best.is_nan()).then_some(*best);
            self.waited = *waited as usize;
        }
    }
}

/// Writes a checkpoint of the whole training state after every epoch, or only when the
/// monitored figure improves (Keras' `save_best_only`).
pub struct ModelCheckpoint {
    path: PathBuf,
    best_only: Option<Monitor>,
}

impl ModelCheckpoint {
    /// A checkpoint written to `path` after every epoch.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModelCheckpoint { path: path.into(), best_only: None }
    }

    /// Writes only when `monitor` improves.
    pub fn best_only(mut self, monitor: &str) -> Self {
        self.best_only = Some(Monitor::new(monitor, 0.0));
        self
    }
}

impl Callback for ModelCheckpoint {
    fn name(&self) -> &'static str {
        "ModelCheckpoint"
    }

    fn on_epoch_end(&mut self, ctx: &mut TrainContext<'_>, record: &EpochRecord) -> Result<(), TrainError> {
        let write = match &mut self.best_only {
            Some(monitor) => monitor.improved(record, "ModelCheckpoint")?,
            None => true,
        };
        if write {
            ctx.checkpoints.push(self.path.clone());
        }
        Ok(())
    }

    fn state(&self) -> Vec<f64> {
        self.best_only.as_ref().map_or(vec![], |m| vec![m.best.unwrap_or(f64::NAN)])
    }

    fn load_state(&mut self, state: &[f64]) {
        if let (Some(monitor), [best]) = (&mut self.best_only, state) {
            monitor.best = (!best.is_nan()).then_some(*best);
        }
    }
}

/// Rewrites the history as CSV at `path` after every epoch.
pub struct CsvLogger {
    path: PathBuf,
}

impl CsvLogger {
    /// A logger writing to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger { path: path.into() }
    }
}

impl Callback for CsvLogger {
    fn name(&self) -> &'static str {
        "CsvLogger"
    }

    fn on_epoch_end(&mut self, ctx: &mut TrainContext<'_>, record: &EpochRecord) -> Result<(), TrainError> {
        let mut history = ctx.history.clone();
        history.epochs.push(record.clone());
        history.save_csv(&self.path)
    }
}

/// Sets the learning rate before every step from a schedule, and tells the schedule the
/// monitored figure after every epoch (for reduce-on-plateau).
pub struct LrScheduler {
    schedule: Box<dyn LrSchedule>,
    monitor: String,
    base_lr: Option<f64>,
}

impl LrScheduler {
    /// Drives the optimizer's learning rate with `schedule`; the optimizer's rate at the start
    /// of training is the base rate. Reduce-on-plateau watches `val_loss`, or `loss` when there
    /// is no validation data.
    pub fn new(schedule: impl LrSchedule + 'static) -> Self {
        LrScheduler { schedule: Box::new(schedule), monitor: "val_loss".to_string(), base_lr: None }
    }

    /// Watches another figure for schedules that react to one.
    pub fn monitor(mut self, name: &str) -> Self {
        self.monitor = name.to_string();
        self
    }
}

impl Callback for LrScheduler {
    fn name(&self) -> &'static str {
        "LrScheduler"
    }

    fn on_train_begin(&mut self, ctx: &mut TrainContext<'_>) {
        if self.base_lr.is_none() {
            self.base_lr = Some(ctx.optimizer.learning_rate());
        }
    }

    fn on_batch_begin(&mut self, ctx: &mut TrainContext<'_>) {
        let base = self.base_lr.unwrap_or_else(|| ctx.optimizer.learning_rate());
        let lr = self.schedule.learning_rate(ctx.step, ctx.epoch, base);
        ctx.optimizer.set_learning_rate(lr);
    }

    fn on_epoch_end(&mut self, ctx: &mut TrainContext<'_>, record: &EpochRecord) -> Result<(), TrainError> {
        let monitored = figure(record, &self.monitor).or_else(|| figure(record, "loss"));
        self.schedule.end_epoch(ctx.epoch, monitored);
        Ok(())
    }

    fn state(&self) -> Vec<f64> {
        let mut state = vec![self.base_lr.unwrap_or(f64::NAN)];
        state.extend(self.schedule.state());
        state
    }

    fn load_state(&mut self, state: &[f64]) {
        if let Some((base, rest)) = state.split_first() {
            self.base_lr = (!base.is_nan()).then_some(*base);
            self.schedule.load_state(rest);
        }
    }
}
