//! [`Trainer`]: `fit`, `evaluate` and `predict`, as in Keras.
//!
//! ```text
//! for each epoch:
//!     model.train()
//!     for each batch (x, t) of the training loader:
//!         callbacks.on_batch_begin         (e.g. set the learning rate)
//!         y = model(x);  L = loss(y, t)    (recorded on the tape)
//!         stop if L is not finite
//!         g = ∂L/∂θ = L.backward()
//!         clip g by its global norm        (if asked)
//!         optimizer.step(g)                (θ ← update(θ, g))
//!         update running loss and metrics; advance the progress bar
//!     model.eval(); evaluate on the validation loader (no tape)
//!     record the epoch in the history; callbacks.on_epoch_end (early stopping, checkpoints…)
//! ```
//!
//! ```no_run
//! use nabla_data::{mnist, DataLoader, Split};
//! use nabla_layers::{loss::CrossEntropyLoss, LinearConfig, ReLU, Sequential, Flatten};
//! use nabla_train::{metrics::Accuracy, optim::AdamConfig, Trainer};
//! use nabla_layers::ModuleExt;
//! let mut rng = nabla_tensor::rng(0);
//! let model = Sequential::new()
//!     .add(Flatten)
//!     .add(LinearConfig::new(784, 128).init(&mut rng))
//!     .add(ReLU)
//!     .add(LinearConfig::new(128, 10).init(&mut rng));
//! let optimizer = AdamConfig::new(1e-3).init(model.named_parameters());
//! let mut trainer = Trainer::new(model, optimizer, CrossEntropyLoss::default()).metric(Accuracy::default());
//! let train = DataLoader::new(mnist::load(Split::Train)?.into_dataset(), 128).shuffle(true).seed(0);
//! let test = DataLoader::new(mnist::load(Split::Test)?.into_dataset(), 512);
//! trainer.fit(&train, Some(&test), 5)?;
//! println!("{:?}", trainer.evaluate(&test)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use nabla_autograd::{in_thread_pool, no_grad, Var};
use nabla_data::{Batch, DataLoader, Targets};
use nabla_layers::loss::{Loss, Target};
use nabla_layers::{Module, ModuleExt};
use nabla_tensor::Tensor;

use crate::callbacks::{Callback, TrainContext};
use crate::checkpoint::{self, CheckpointMeta};
use crate::clip::clip_grad_norm;
use crate::error::TrainError;
use crate::history::{EpochRecord, History};
use crate::metrics::Metric;
use crate::optim::Optimizer;
use crate::progress::{summary_line, EpochProgress, Verbosity};

/// The target of a batch in the form losses take.
pub fn loss_target(targets: &Targets) -> Target {
    match targets {
        Targets::Classes(classes) => Target::Classes(classes.clone()),
        Targets::Tensor(t) => Target::Values(t.clone()),
    }
}

/// A model with its optimizer, loss, metrics and callbacks; see the [module docs](self).
pub struct Trainer<M: Module> {
    model: M,
    optimizer: Box<dyn Optimizer>,
    loss: Box<dyn Loss>,
    metrics: Vec<Box<dyn Metric>>,
    callbacks: Vec<Box<dyn Callback>>,
    clip_norm: Option<f64>,
    verbosity: Verbosity,
    /// The next epoch to run (0-based): 0 for a new run, later after a resume.
    epoch: usize,
    step: u64,
    history: History,
}

/// Running sums over an epoch: the loss mean and the metrics.
struct Running {
    loss_sum: f64,
    samples: usize,
}

impl<M: Module> Trainer<M> {
    /// A trainer for `model` with `optimizer` (built on the model's parameters) and `loss`.
    pub fn new(model: M, optimizer: impl Optimizer + 'static, loss: impl Loss + 'static) -> Self {
        Trainer {
            model,
            optimizer: Box::new(optimizer),
            loss: Box::new(loss),
            metrics: vec![],
            callbacks: vec![],
            clip_norm: None,
            verbosity: Verbosity::Progress,
            epoch: 0,
            step: 0,
            history: History::default(),
        }
    }

    /// Adds a metric, reported for training and validation data.
    pub fn metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Clips gradients to this global L2 norm before each step.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// Sets how much `fit` prints.
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, for changes such as freezing or switching mode.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    /// Every epoch recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The next epoch `fit` will run (0-based).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Optimizer steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    fn context<'a>(
        model: &'a M,
        optimizer: &'a mut Box<dyn Optimizer>,
        epoch: usize,
        step: u64,
        history: &'a History,
    ) -> TrainContext<'a> {
        TrainContext { model, optimizer: optimizer.as_mut(), epoch, step, history, stop: false, checkpoints: vec![] }
    }

    /// Trains until `epochs` epochs have run in total (counting those before a resume),
    /// evaluating on `validation` after each epoch. Returns the history.
    ///
    /// Each training step runs on a worker of rayon's pool ([`in_thread_pool`]), so that the
    /// thread driving the loop also computes its share of every parallel kernel.
    pub fn fit(
        &mut self,
        train: &DataLoader,
        validation: Option<&DataLoader>,
        epochs: usize,
    ) -> Result<&History, TrainError> {
        let mut callbacks = std::mem::take(&mut self.callbacks);
        let result = self.fit_with(&mut callbacks, train, validation, epochs);
        self.callbacks = callbacks;
        result.map(|_| &self.history)
    }

    fn fit_with(
        &mut self,
        callbacks: &mut [Box<dyn Callback>],
        train: &DataLoader,
        validation: Option<&DataLoader>,
        epochs: usize,
    ) -> Result<(), TrainError> {
        {
            let mut ctx = Self::context(&self.model, &mut self.optimizer, self.epoch, self.step, &self.history);
            for cb in callbacks.iter_mut() {
                cb.on_train_begin(&mut ctx);
            }
        }
        while self.epoch < epochs {
            let started = Instant::now();
            let epoch = self.epoch;
            self.model.train();
            for m in &mut self.metrics {
                m.reset();
            }
            let mut running = Running { loss_sum: 0.0, samples: 0 };
            let mut progress = EpochProgress::new(epoch, epochs, train.len(), self.verbosity);
            for batch in train.epoch(epoch) {
                {
                    let mut ctx = Self::context(&self.model, &mut self.optimizer, epoch, self.step, &self.history);
                    for cb in callbacks.iter_mut() {
                        cb.on_batch_begin(&mut ctx);
                    }
                }
                in_thread_pool(|| self.train_step(&batch, epoch, &mut running))?;
                let figures = self.running_figures(&running);
                progress.batch_done(batch.len(), &figures);
            }
            progress.finish();
            let train_figures: BTreeMap<String, f64> = self.running_figures(&running).into_iter().collect();
            let validation_figures = match validation {
                Some(loader) => self.evaluate(loader)?,
                None => BTreeMap::new(),
            };
            let record = EpochRecord {
                epoch: epoch + 1,
                train: train_figures,
                validation: validation_figures,
                learning_rate: self.optimizer.learning_rate(),
                seconds: started.elapsed().as_secs_f64(),
            };
            if self.verbosity != Verbosity::Quiet {
                println!("{}", summary_line(&record, epochs));
            }
            let (stop, checkpoints) = {
                let mut ctx = Self::context(&self.model, &mut self.optimizer, epoch, self.step, &self.history);
                for cb in callbacks.iter_mut() {
                    cb.on_epoch_end(&mut ctx, &record)?;
                }
                (ctx.stop, ctx.checkpoints)
            };
            self.history.epochs.push(record);
            self.epoch += 1;
            for path in checkpoints {
                self.write_checkpoint(&path, callbacks)?;
            }
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// Forward, loss, backward and update on one batch.
    fn train_step(&mut self, batch: &Batch, epoch: usize, running: &mut Running) -> Result<(), TrainError> {
        let x = Var::constant(batch.inputs.clone());
        let predictions = self.model.forward(&x);
        let loss = self.loss.loss(&predictions, &loss_target(&batch.targets));
        let value = loss.item();
        if !value.is_finite() {
            return Err(TrainError::NonFinite { epoch, step: self.step, what: "the loss".to_string(), value });
        }
        let mut grads = loss.backward();
        if let Some(max_norm) = self.clip_norm {
            clip_grad_norm(&mut grads, self.optimizer.parameters(), max_norm);
        }
        self.optimizer.step(&grads);
        self.step += 1;
        running.loss_sum += value * batch.len() as f64;
        running.samples += batch.len();
        let predicted = predictions.value();
        for m in &mut self.metrics {
            m.update(&predicted, &batch.targets);
        }
        Ok(())
    }

    fn running_figures(&self, running: &Running) -> Vec<(String, f64)> {
        let mut figures = vec![("loss".to_string(), running.loss_sum / running.samples.max(1) as f64)];
        figures.extend(self.metrics.iter().map(|m| (m.name(), m.value())));
        figures
    }

    /// The mean loss and the metrics on `data`, in evaluation mode and without a tape. The
    /// model is returned to training mode afterwards. Each batch runs on rayon's pool, as
    /// [`fit`](Self::fit)'s steps do.
    pub fn evaluate(&mut self, data: &DataLoader) -> Result<BTreeMap<String, f64>, TrainError> {
        self.model.eval();
        for m in &mut self.metrics {
            m.reset();
        }
        let mut running = Running { loss_sum: 0.0, samples: 0 };
        no_grad(|| {
            for batch in data.epoch(0) {
                in_thread_pool(|| {
                    let predictions = self.model.forward(&Var::constant(batch.inputs.clone()));
                    let loss = self.loss.loss(&predictions, &loss_target(&batch.targets)).item();
                    running.loss_sum += loss * batch.len() as f64;
                    running.samples += batch.len();
                    let predicted = predictions.value();
                    for m in &mut self.metrics {
                        m.update(&predicted, &batch.targets);
                    }
                });
            }
        });
        self.model.train();
        Ok(self.running_figures(&running).into_iter().collect())
    }

    /// The model's outputs for every sample of `data`, in the loader's order (epoch 0),
    /// concatenated along the batch axis. Each batch runs on rayon's pool, as
    /// [`fit`](Self::fit)'s steps do.
    pub fn predict(&mut self, data: &DataLoader) -> Tensor {
        self.model.eval();
        let model = &self.model;
        let outputs: Vec<Tensor> = no_grad(|| {
            data.epoch(0).map(|b| in_thread_pool(|| model.forward(&Var::constant(b.inputs)).value())).collect()
        });
        self.model.train();
        Tensor::concat(&outputs, 0)
    }

    fn write_checkpoint(&self, path: &Path, callbacks: &[Box<dyn Callback>]) -> Result<(), TrainError> {
        let meta = CheckpointMeta {
            epoch: self.epoch,
            step: self.step,
            optimizer: self.optimizer.name().to_string(),
            callbacks: callbacks.iter().map(|c| (c.name().to_string(), c.state())).collect(),
            history: self.history.clone(),
        };
        checkpoint::write(path, &meta, &self.model, &self.optimizer.state())
    }

    /// Writes the whole training state — weights and buffers, optimizer moments, epoch, step,
    /// callback state, history — to `path` (atomically: a temporary file, then a rename).
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        self.write_checkpoint(path.as_ref(), &self.callbacks)
    }

    /// Restores a state written by [`Trainer::save_checkpoint`] (or a [`ModelCheckpoint`]
    /// callback); `fit` then continues where that run stopped and computes exactly what the
    /// uninterrupted run would have. The trainer must be built the same way (model
    /// architecture, optimizer type, callbacks); on any mismatch nothing is changed.
    ///
    /// [`ModelCheckpoint`]: crate::callbacks::ModelCheckpoint
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        let path = path.as_ref();
        let loaded = checkpoint::read(path)?;
        let fail = |reason: String| TrainError::Checkpoint { path: path.to_path_buf(), reason };
        if loaded.meta.optimizer != self.optimizer.name() {
            return Err(fail(format!(
                "field `optimizer`: the checkpoint was written by {} but this trainer uses {}",
                loaded.meta.optimizer,
                self.optimizer.name()
            )));
        }
        let names: Vec<&str> = self.callbacks.iter().map(|c| c.name()).collect();
        let saved: Vec<&str> = loaded.meta.callbacks.iter().map(|(n, _)| n.as_str()).collect();
        if names != saved {
            return Err(fail(format!(
                "field `callbacks`: the checkpoint has {saved:?} but this trainer has {names:?}"
            )));
        }
        // Check both before changing either, so a failure leaves the trainer as it was.
        let current_model = self.model.state_dict();
        self.model.load_state_dict(&loaded.model).map_err(|e| fail(format!("field `model`: {e}")))?;
        if let Err(e) = self.optimizer.load_state(&loaded.optimizer) {
            self.model.load_state_dict(&current_model).expect("the model's own state fits it");
            return Err(fail(format!("field `optimizer`: {e}")));
        }
        for (callback, (_, state)) in self.callbacks.iter_mut().zip(&loaded.meta.callbacks) {
            callback.load_state(state);
        }
        self.epoch = loaded.meta.epoch;
        self.step = loaded.meta.step;
        self.history = loaded.meta.history;
        Ok(())
    }
}
