//! Learning-rate schedules: the learning rate as a function of training progress.
//!
//! A large learning rate makes fast early progress; a small one settles into a minimum. A
//! schedule moves from one to the other. Before every optimizer step the training loop asks
//! the schedule for `learning_rate(step, epoch, base_lr)` and passes the answer to
//! [`Optimizer::set_learning_rate`](crate::optim::Optimizer::set_learning_rate); after every
//! epoch it calls [`end_epoch`](LrSchedule::end_epoch) with the monitored figure (usually the
//! validation loss), which is what [`ReduceOnPlateau`] reacts to.
//!
//! | schedule | `lr` at step `s` of epoch `e` (base rate `lr₀`) | PyTorch / Keras |
//! |---|---|---|
//! | [`Constant`] | `lr₀` | — |
//! | [`StepDecay`] | `lr₀·γ^⌊e / step_size⌋` | `StepLR` |
//! | [`ExponentialDecay`] | `lr₀·γ^e` | `ExponentialLR` |
//! | [`CosineAnnealing`] | `min + (lr₀ − min)·(1 + cos(π·s/T))/2`, then `min` | `CosineAnnealingLR` |
//! | [`LinearWarmup`] | `inner(s)·s/W` for `s < W`, then `inner(s)` | HF `get_*_schedule_with_warmup` |
//! | [`ReduceOnPlateau`] | `lr₀·factor^k`, `k` cuts so far (at least `min_lr`) | `ReduceLROnPlateau` |
//!
//! Schedules are pure functions of `(step, epoch)` except `ReduceOnPlateau`, whose memory
//! ([`state`](LrSchedule::state)) a checkpoint saves so a resumed run cuts the rate at the same
//! epochs.
//!
//! ```
//! use nabla_train::schedule::{CosineAnnealing, LinearWarmup, LrSchedule};
//! // 100 warm-up steps, then a cosine decay to 0 at step 1000.
//! let mut schedule = LinearWarmup::new(100, CosineAnnealing::new(1000, 0.0));
//! assert_eq!(schedule.learning_rate(0, 0, 0.1), 0.0);
//! assert!((schedule.learning_rate(50, 0, 0.1) - 0.05).abs() < 1e-3);
//! assert!((schedule.learning_rate(500, 3, 0.1) - 0.05).abs() < 1e-12);
//! assert_eq!(schedule.learning_rate(1000, 7, 0.1), 0.0);
//! ```

use std::f64::consts::PI;

/// A learning-rate schedule; see the [module docs](self).
pub trait LrSchedule: Send {
    /// The learning rate for optimizer step `step` (0-based over the whole run, the step about
    /// to be taken) in epoch `epoch` (0-based), given the optimizer's base rate `base_lr`.
    fn learning_rate(&mut self, step: u64, epoch: usize, base_lr: f64) -> f64;

    /// Called once after each epoch with the monitored figure, if there is one (e.g. the
    /// validation loss). Only [`ReduceOnPlateau`] uses it.
    fn end_epoch(&mut self, epoch: usize, monitored: Option<f64>) {
        let _ = (epoch, monitored);
    }

    /// What the schedule remembers between epochs, for a checkpoint (empty for pure schedules).
    fn state(&self) -> Vec<f64> {
        vec![]
    }

    /// Restores what [`state`](Self::state) returned.
    fn load_state(&mut self, state: &[f64]) {
        let _ = state;
    }

    /// The schedule's name, e.g. `"CosineAnnealing"`.
    fn name(&self) -> &'static str;
}

impl<S: LrSchedule + ?Sized> LrSchedule for Box<S> {
    fn learning_rate(&mut self, step: u64, epoch: usize, base_lr: f64) -> f64 {
        (**self).learning_rate(step, epoch, base_lr)
    }
    fn end_epoch(&mut self, epoch: usize, monitored: Option<f64>) {
        (**self).end_epoch(epoch, monitored)
    }
    fn state(&self) -> Vec<f64> {
        (**self).state()
    }
    fn load_state(&mut self, state: &[f64]) {
        (**self).load_state(state)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The base learning rate, unchanged (useful after a [`LinearWarmup`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Constant;

impl LrSchedule for Constant {
    fn learning_rate(&mut self, _step: u64, _epoch: usize, base_lr: f64) -> f64 {
        base_lr
    }
    fn name(&self) -> &'static str {
        "Constant"
    }
}

/// Multiplies the rate by `gamma` every `step_size` epochs: `lr₀·γ^⌊epoch / step_size⌋`.
///
/// ```
/// use nabla_train::schedule::{LrSchedule, StepDecay};
/// let mut s = StepDecay::new(10, 0.1);
/// assert_eq!(s.learning_rate(0, 9, 1.0), 1.0);
/// assert_eq!(s.learning_rate(0, 10, 1.0), 0.1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepDecay {
    /// Epochs between two cuts.
    pub step_size: usize,
    /// The factor of each cut.
    pub gamma: f64,
}

impl StepDecay {
    /// A cut by `gamma` every `step_size` epochs.
    ///
    /// # Panics
    /// If `step_size` is 0 or `gamma` is negative or not finite.
    #[track_caller]
    pub fn new(step_size: usize, gamma: f64) -> Self {
        assert!(step_size > 0, "StepDecay: step_size must be at least 1 epoch");
        assert!(gamma.is_finite() && gamma >= 0.0, "StepDecay: gamma must be ≥ 0, but is {gamma}");
        StepDecay { step_size, gamma }
    }
}

impl LrSchedule for StepDecay {
    fn learning_rate(&mut self, _step: u64, epoch: usize, base_lr: f64) -> f64 {
        base_lr * powi(self.gamma, epoch / self.step_size)
    }
    fn name(&self) -> &'static str {
        "StepDecay"
    }
}

/// Multiplies the rate by `gamma` every epoch: `lr₀·γ^epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialDecay {
    /// The factor per epoch.
    pub gamma: f64,
}

impl ExponentialDecay {
    /// A decay by `gamma` per epoch.
    ///
    /// # Panics
    /// If `gamma` is negative or not finite.
    #[track_caller]
    pub fn new(gamma: f64) -> Self {
        assert!(gamma.is_finite() && gamma >= 0.0, "ExponentialDecay: gamma must be ≥ 0, but is {gamma}");
        ExponentialDecay { gamma }
    }
}

impl LrSchedule for ExponentialDecay {
    fn learning_rate(&mut self, _step: u64, epoch: usize, base_lr: f64) -> f64 {
        base_lr * powi(self.gamma, epoch)
    }
    fn name(&self) -> &'static str {
        "ExponentialDecay"
    }
}

/// `γⁿ` for any `n` (`powi` takes an `i32`; beyond that, `γⁿ` is 0, 1 or ∞ anyway).
fn powi(gamma: f64, n: usize) -> f64 {
    gamma.powi(i32::try_from(n).unwrap_or(i32::MAX))
}

/// Half a cosine from the base rate down to `min_lr` over `total_steps` optimizer steps:
///
/// ```text
/// lr(s) = min_lr + (lr₀ − min_lr)·(1 + cos(π·s/T))/2     for s ≤ T,   min_lr after
/// ```
///
/// The rate falls slowly at first, fastest halfway, and flattens out at the end. Unlike
/// PyTorch's `CosineAnnealingLR`, it stays at `min_lr` after `T` instead of rising again.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealing {
    /// `T`: the step at which the rate reaches `min_lr` (usually epochs × batches per epoch).
    pub total_steps: u64,
    /// The final rate.
    pub min_lr: f64,
}

impl CosineAnnealing {
    /// A cosine decay to `min_lr` at step `total_steps`.
    ///
    /// # Panics
    /// If `total_steps` is 0 or `min_lr` is negative or not finite.
    #[track_caller]
    pub fn new(total_steps: u64, min_lr: f64) -> Self {
        assert!(total_steps > 0, "CosineAnnealing: total_steps must be at least 1");
        assert!(min_lr.is_finite() && min_lr >= 0.0, "CosineAnnealing: min_lr must be ≥ 0, but is {min_lr}");
        CosineAnnealing { total_steps, min_lr }
    }
}

impl LrSchedule for CosineAnnealing {
    fn learning_rate(&mut self, step: u64, _epoch: usize, base_lr: f64) -> f64 {
        let progress = step.min(self.total_steps) as f64 / self.total_steps as f64;
        self.min_lr + (base_lr - self.min_lr) * (1.0 + (PI * progress).cos()) / 2.0
    }
    fn name(&self) -> &'static str {
        "CosineAnnealing"
    }
}

/// Ramps the rate linearly from 0 up to what the wrapped schedule `then` gives, over the first
/// `warmup_steps` steps:
///
/// ```text
/// lr(s) = then(s)·s/W   for s < W,      then(s) after
/// ```
///
/// The wrapped schedule sees the real step and epoch (so a [`CosineAnnealing`] inside counts
/// from the start of training), and the rate is continuous at `s = W`. The first step
/// therefore has rate 0, as with Hugging Face's warm-up schedules. Early in training Adam's
/// second-moment estimates are noisy and large steps can push a network into a bad region;
/// warm-up avoids that.
pub struct LinearWarmup {
    /// `W`: the number of warm-up steps (0: no warm-up).
    pub warmup_steps: u64,
    /// The schedule that follows (and is scaled during) the warm-up.
    pub then: Box<dyn LrSchedule>,
}

impl LinearWarmup {
    /// `warmup_steps` of linear warm-up into `then` (use [`Constant`] for a fixed rate).
    pub fn new(warmup_steps: u64, then: impl LrSchedule + 'static) -> Self {
        LinearWarmup { warmup_steps, then: Box::new(then) }
    }
}

impl LrSchedule for LinearWarmup {
    fn learning_rate(&mut self, step: u64, epoch: usize, base_lr: f64) -> f64 {
        let lr = self.then.learning_rate(step, epoch, base_lr);
        if step < self.warmup_steps {
            lr * step as f64 / self.warmup_steps as f64
        } else {
            lr
        }
    }
    fn end_epoch(&mut self, epoch: usize, monitored: Option<f64>) {
        self.then.end_epoch(epoch, monitored);
    }
    fn state(&self) -> Vec<f64> {
        self.then.state()
    }
    fn load_state(&mut self, state: &[f64]) {
        self.then.load_state(state);
    }
    fn name(&self) -> &'static str {
        "LinearWarmup"
    }
}

/// Whether the monitored figure should go down (a loss) or up (an accuracy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (losses).
    #[default]
    Min,
    /// Higher is better (accuracies).
    Max,
}

/// Cuts the rate by `factor` when the monitored figure has stopped improving.
///
/// After each epoch, [`end_epoch`](LrSchedule::end_epoch) compares the monitored value with
/// the best so far. It counts as an improvement when it beats the best by more than the
/// relative `threshold` (in [`PlateauMode::Min`]: `value < best − threshold·|best|`).
/// Otherwise the epoch is a *bad epoch*; when there have been more than `patience` of them in
/// a row, the scale is multiplied by `factor` and the count starts again. So with
/// `patience = 2` the third bad epoch in a row cuts the rate (PyTorch's rule). A NaN value is a
/// bad epoch; an epoch without a value (`None`) changes nothing.
///
/// `lr = max(lr₀·scale, min_lr)` (never above `lr₀`). The best value, the bad-epoch count and
/// the scale are the [`state`](LrSchedule::state) `[best, bad_epochs, scale]`.
///
/// | setting | default (PyTorch's and Keras') |
/// |---|---|
/// | `factor` | 0.1 |
/// | `patience` | 10 epochs |
/// | `min_lr` | 0 |
/// | `threshold` | 1e-4 (relative) |
/// | `mode` | [`PlateauMode::Min`] |
///
/// ```
/// use nabla_train::schedule::{LrSchedule, ReduceOnPlateau};
/// let mut s = ReduceOnPlateau::new(0.5, 1);
/// for (epoch, loss) in [1.0, 0.9, 0.9, 0.9].into_iter().enumerate() {
///     s.end_epoch(epoch, Some(loss)); // two epochs without improvement
/// }
/// assert_eq!(s.learning_rate(0, 4, 0.1), 0.05);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceOnPlateau {
    /// The factor of each cut (in `(0, 1)`).
    pub factor: f64,
    /// Bad epochs tolerated before a cut.
    pub patience: usize,
    /// The rate never goes below this.
    pub min_lr: f64,
    /// The relative improvement that counts.
    pub threshold: f64,
    /// Whether lower or higher values are better.
    pub mode: PlateauMode,
    best: f64,
    bad_epochs: usize,
    scale: f64,
}

impl ReduceOnPlateau {
    /// Cut by `factor` after more than `patience` epochs without improvement; `min_lr` 0,
    /// `threshold` 1e-4, lower is better.
    ///
    /// # Panics
    /// If `factor` is not in `(0, 1)`.
    #[track_caller]
    pub fn new(factor: f64, patience: usize) -> Self {
        assert!(factor > 0.0 && factor < 1.0, "ReduceOnPlateau: factor must be in (0, 1), but is {factor}");
        ReduceOnPlateau {
            factor,
            patience,
            min_lr: 0.0,
            threshold: 1e-4,
            mode: PlateauMode::Min,
            best: f64::NAN,
            bad_epochs: 0,
            scale: 1.0,
        }
    }

    /// Sets the smallest rate.
    pub fn with_min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Sets the relative improvement that counts.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets whether lower ([`PlateauMode::Min`]) or higher values are better.
    pub fn with_mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self
    }

    /// The factor applied to the base rate so far (`factor^cuts`).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The best monitored value so far (NaN before the first).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Whether `value` improves on the best so far.
    fn improves(&self, value: f64) -> bool {
        if value.is_nan() || self.best.is_nan() {
            return !value.is_nan(); // NaN never improves; the first real value always does
        }
        let margin = if self.best.is_finite() { self.threshold * self.best.abs() } else { 0.0 };
        match self.mode {
            PlateauMode::Min => value < self.best - margin,
            PlateauMode::Max => value > self.best + margin,
        }
    }
}

impl LrSchedule for ReduceOnPlateau {
    fn learning_rate(&mut self, _step: u64, _epoch: usize, base_lr: f64) -> f64 {
        (base_lr * self.scale).max(self.min_lr.min(base_lr))
    }

    fn end_epoch(&mut self, _epoch: usize, monitored: Option<f64>) {
        let Some(value) = monitored else { return };
        if self.improves(value) {
            self.best = value;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.bad_epochs > self.patience {
            self.scale *= self.factor;
            self.bad_epochs = 0;
        }
    }

    /// `[best, bad_epochs, scale]`.
    fn state(&self) -> Vec<f64> {
        vec![self.best, self.bad_epochs as f64, self.scale]
    }

    /// # Panics
    /// If `state` does not hold the three numbers [`state`](LrSchedule::state) returns.
    #[track_caller]
    fn load_state(&mut self, state: &[f64]) {
        let &[best, bad_epochs, scale] = state else {
            panic!(
                "ReduceOnPlateau::load_state: expected [best, bad_epochs, scale] but received {} numbers \
                 (a state saved by another schedule?)",
                state.len()
            )
        };
        self.best = best;
        self.bad_epochs = bad_epochs as usize;
        self.scale = scale;
    }

    fn name(&self) -> &'static str {
        "ReduceOnPlateau"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn step_decay_golden() {
        let mut s = StepDecay::new(2, 0.5);
        let lrs: Vec<f64> = (0..6).map(|e| s.learning_rate(100 * e as u64, e, 0.1)).collect();
        assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
        assert!(s.state().is_empty());
    }

    #[test]
    fn exponential_decay_golden() {
        let mut s = ExponentialDecay::new(0.9);
        close(s.learning_rate(0, 0, 0.1), 0.1);
        close(s.learning_rate(0, 1, 0.1), 0.09);
        close(s.learning_rate(0, 3, 0.1), 0.0729); // 0.1·0.9³
        assert_eq!(s.learning_rate(0, usize::MAX, 0.1), 0.0);
    }

    #[test]
    fn cosine_golden() {
        let mut s = CosineAnnealing::new(10, 0.01);
        // min + (0.11 − 0.01)·(1 + cos(π·s/10))/2
        close(s.learning_rate(0, 0, 0.11), 0.11);
        close(s.learning_rate(2, 0, 0.11), 0.10045084971874737); // 0.01 + 0.05·(1 + cos 36°) = 0.01 + 0.05·1.809017
        close(s.learning_rate(5, 0, 0.11), 0.06); // cos 90° = 0: halfway
        close(s.learning_rate(10, 1, 0.11), 0.01);
        close(s.learning_rate(25, 2, 0.11), 0.01); // stays at min_lr
    }

    #[test]
    fn warmup_golden() {
        let mut s = LinearWarmup::new(4, Constant);
        for (step, expected) in [0.0, 0.025, 0.05, 0.075, 0.1, 0.1].into_iter().enumerate() {
            close(s.learning_rate(step as u64, 0, 0.1), expected); // 0.1·step/4, then 0.1
        }
        // Into a cosine over 10 steps: step 2 is half of the cosine's 0.1·(1 + cos 36°)/2 = 0.0904508.
        let mut s = LinearWarmup::new(4, CosineAnnealing::new(10, 0.0));
        close(s.learning_rate(2, 0, 0.1), 0.0452254248593737);
        close(s.learning_rate(5, 0, 0.1), 0.05);
        // No warm-up at all.
        assert_eq!(LinearWarmup::new(0, Constant).learning_rate(0, 0, 0.1), 0.1);
    }

    #[test]
    fn reduce_on_plateau_golden() {
        // A 10 % threshold, cut in half after more than one bad epoch, never below 0.03.
        let mut s = ReduceOnPlateau::new(0.5, 1).with_threshold(0.1).with_min_lr(0.03);
        let mut trace = vec![];
        for (epoch, loss) in [1.0, 0.95, 0.85, 0.84, 0.83, 0.8, 0.79].into_iter().enumerate() {
            s.end_epoch(epoch, Some(loss));
            trace.push((s.best(), s.state()[1], s.scale()));
        }
        assert_eq!(
            trace,
            [
                (1.0, 0.0, 1.0),   // first value: improvement
                (1.0, 1.0, 1.0),   // 0.95 is not below 1.0 − 10 %: bad
                (0.85, 0.0, 1.0),  // below 0.9: improvement
                (0.85, 1.0, 1.0),  // needs < 0.765: bad
                (0.85, 0.0, 0.5),  // second bad epoch > patience 1: cut
                (0.85, 1.0, 0.5),  // bad
                (0.85, 0.0, 0.25), // cut again
            ]
        );
        // 0.1·0.25 = 0.025 is below min_lr.
        assert_eq!(s.learning_rate(0, 7, 0.1), 0.03);
        // An epoch without a value changes nothing; NaN is a bad epoch.
        s.end_epoch(7, None);
        assert_eq!(s.state(), [0.85, 0.0, 0.25]);
        s.end_epoch(8, Some(f64::NAN));
        assert_eq!(s.state(), [0.85, 1.0, 0.25]);
    }

    #[test]
    fn reduce_on_plateau_max_mode() {
        let mut s = ReduceOnPlateau::new(0.1, 0).with_mode(PlateauMode::Max).with_threshold(0.0);
        s.end_epoch(0, Some(0.5));
        s.end_epoch(1, Some(0.6));
        assert_eq!(s.scale(), 1.0);
        s.end_epoch(2, Some(0.6)); // equal is not better: with patience 0, cut at once
        close(s.learning_rate(0, 3, 1.0), 0.1);
    }

    #[test]
    fn reduce_on_plateau_state_round_trip() {
        let mut a = ReduceOnPlateau::new(0.5, 0);
        for (epoch, loss) in [1.0, 2.0, 0.5].into_iter().enumerate() {
            a.end_epoch(epoch, Some(loss));
        }
        // Wrapped in a warm-up, the state passes through.
        let mut b = LinearWarmup::new(3, ReduceOnPlateau::new(0.5, 0));
        b.load_state(&a.state());
        assert_eq!(b.state(), [0.5, 0.0, 0.5]);
        for (epoch, loss) in [(3, 0.7), (4, 0.4)] {
            a.end_epoch(epoch, Some(loss));
            b.end_epoch(epoch, Some(loss));
            assert_eq!(a.state(), b.state());
            assert_eq!(a.learning_rate(10, epoch, 0.2), b.learning_rate(10, epoch, 0.2));
        }
        assert_eq!(a.state(), [0.4, 0.0, 0.25]);
    }

    #[test]
    #[should_panic(expected = "expected [best, bad_epochs, scale] but received 0 numbers")]
    fn reduce_on_plateau_refuses_a_foreign_state() {
        ReduceOnPlateau::new(0.5, 0).load_state(&[]);
    }

    #[test]
    fn boxed_schedules_work() {
        let mut s: Box<dyn LrSchedule> = Box::new(StepDecay::new(1, 0.5));
        assert_eq!(s.name(), "StepDecay");
        assert_eq!(s.learning_rate(0, 2, 1.0), 0.25);
        let mut w = LinearWarmup::new(2, s);
        assert_eq!(w.learning_rate(1, 1, 1.0), 0.25);
        assert_eq!(w.name(), "LinearWarmup");
    }
}
