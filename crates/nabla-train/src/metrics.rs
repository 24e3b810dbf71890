//! Metrics: figures that say how well a model does, accumulated over the batches of an epoch.
//!
//! A metric is fed one batch at a time ([`Metric::update`]) and reports the figure for
//! everything seen since the last [`Metric::reset`] — so an epoch's accuracy is over all its
//! samples, not an average of per-batch accuracies (the two differ when the last batch is
//! smaller).
//!
//! | metric | `value()` | name |
//! |---|---|---|
//! | [`Accuracy`] | fraction of samples whose predicted class is the true one | `accuracy` |
//! | [`TopKAccuracy`] | fraction whose true class is among the `k` highest scores | `top_5_accuracy` |
//! | [`MeanMetric`] | running mean of a scalar (the loss), weighted by batch size | as given, e.g. `loss` |
//! | [`ConfusionMatrix`] | accuracy; [`ConfusionMatrix::matrix`] holds the counts | `confusion_matrix` |
//!
//! **Predictions and targets.** Predictions are the model's raw outputs, `[N, C]` scores or
//! logits (or `[..., C]`, e.g. `[B, T, C]` for sequences, read as `N = B·T` rows). The
//! predicted class is the argmax over the last axis (the first one on ties); softmax does not
//! change it, so logits and probabilities give the same answer. A model with a **single
//! output** (`[N]` or `[N, 1]`, binary classification) is taken to output a *logit*: the
//! predicted class is 1 where it is `> 0` (probability `> 0.5`). If your binary model ends in a
//! sigmoid, compare with 0.5 yourself or drop the sigmoid (and use the loss "from logits").
//!
//! Targets ([`Targets`]) are class indices, or a tensor: a one-hot (or soft) `[..., C]` tensor
//! is read through its argmax, and a single-column `[N]` / `[N, 1]` tensor of 0/1 labels as
//! class 1 where it is `> 0.5`.
//!
//! ```
//! use nabla_data::Targets;
//! use nabla_tensor::Tensor;
//! use nabla_train::metrics::{Accuracy, Metric};
//! let mut acc = Accuracy::new();
//! let logits = Tensor::from_vec(vec![2.0f32, 0.1, -1.0, 3.0], &[2, 2]); // predicts 0, then 1
//! acc.update(&logits, &Targets::Classes(vec![0, 0]));
//! assert_eq!(acc.value(), 0.5);
//! ```

use std::fmt;

use nabla_data::Targets;
use nabla_tensor::Tensor;

/// A figure accumulated over batches; see the [module docs](self).
pub trait Metric: Send {
    /// The name shown in progress bars and history columns, e.g. `"accuracy"`.
    fn name(&self) -> String;
    /// Forgets everything seen (called at the start of each epoch).
    fn reset(&mut self);
    /// Adds one batch: the model's `predictions` and the `targets`.
    fn update(&mut self, predictions: &Tensor, targets: &Targets);
    /// The figure over everything seen since the last reset (0 before any sample).
    fn value(&self) -> f64;
}

/// Predictions as rows of scores: `(rows, classes, values)`, row-major.
fn score_rows(predictions: &Tensor) -> (usize, usize, Vec<f64>) {
    let classes = match predictions.shape() {
        [] | [_] => 1,
        [.., c] => *c,
    };
    let values = predictions.to_vec_f64();
    let rows = values.len().checked_div(classes).unwrap_or(0);
    (rows, classes, values)
}

/// The predicted class of each row: argmax over the last axis (the first on ties), or for a
/// single output, 1 where the logit is `> 0`.
fn predicted_classes(predictions: &Tensor) -> Vec<usize> {
    let (_, classes, values) = score_rows(predictions);
    if classes == 1 {
        return values.iter().map(|&v| usize::from(v > 0.0)).collect();
    }
    predictions.argmax(predictions.ndim() - 1, false).iter().copied().collect()
}

/// The true class of each sample.
fn true_classes(targets: &Targets) -> Vec<usize> {
    match targets {
        Targets::Classes(classes) => classes.clone(),
        Targets::Tensor(t) => match t.shape() {
            [] | [_] | [.., 1] => t.to_vec_f64().iter().map(|&v| usize::from(v > 0.5)).collect(),
            _ => t.argmax(t.ndim() - 1, false).iter().copied().collect(),
        },
    }
}

/// Panics unless predictions and targets describe the same number of samples.
#[track_caller]
fn check_counts(metric: &str, predictions: &Tensor, predicted: usize, targets: usize) {
    assert!(
        predicted == targets,
        "{metric}: the predictions of shape {:?} hold {predicted} samples but the targets hold {targets}",
        predictions.shape()
    );
}

fn fraction(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// The fraction of samples whose predicted class is the true one; see the [module docs](self)
/// for how classes are read from predictions and targets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accuracy {
    correct: u64,
    total: u64,
}

impl Accuracy {
    /// An accuracy that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Metric for Accuracy {
    fn name(&self) -> String {
        "accuracy".into()
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    #[track_caller]
    fn update(&mut self, predictions: &Tensor, targets: &Targets) {
        let predicted = predicted_classes(predictions);
        let truth = true_classes(targets);
        check_counts("Accuracy", predictions, predicted.len(), truth.len());
        self.correct += predicted.iter().zip(&truth).filter(|(p, t)| p == t).count() as u64;
        self.total += truth.len() as u64;
    }

    fn value(&self) -> f64 {
        fraction(self.correct, self.total)
    }
}

/// The fraction of samples whose true class is among the `k` highest scores (ImageNet's
/// "top-5 error" is one minus this with `k = 5`).
///
/// Predictions must be `[..., C]` scores. A sample counts when fewer than `k` classes rank
/// above its true class, ties going to the lower index — so `k = 1` agrees with [`Accuracy`].
///
/// ```
/// use nabla_data::Targets;
/// use nabla_tensor::Tensor;
/// use nabla_train::metrics::{Metric, TopKAccuracy};
/// let mut top2 = TopKAccuracy::new(2);
/// let scores = Tensor::from_vec(vec![0.5f32, 0.3, 0.2], &[1, 3]);
/// top2.update(&scores, &Targets::Classes(vec![1])); // second best: counts
/// assert_eq!(top2.value(), 1.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TopKAccuracy {
    /// How many of the highest scores count.
    pub k: usize,
    correct: u64,
    total: u64,
}

impl TopKAccuracy {
    /// Top-`k` accuracy.
    ///
    /// # Panics
    /// If `k` is 0.
    #[track_caller]
    pub fn new(k: usize) -> Self {
        assert!(k > 0, "TopKAccuracy: k must be at least 1");
        TopKAccuracy { k, correct: 0, total: 0 }
    }
}

impl Metric for TopKAccuracy {
    fn name(&self) -> String {
        format!("top_{}_accuracy", self.k)
    }

    fn reset(&mut self) {
        self.correct = 0;
        self.total = 0;
    }

    #[track_caller]
    fn update(&mut self, predictions: &Tensor, targets: &Targets) {
        let (rows, classes, scores) = score_rows(predictions);
        let truth = true_classes(targets);
        check_counts("TopKAccuracy", predictions, rows, truth.len());
        for (row, &t) in scores.chunks(classes.max(1)).zip(&truth) {
            assert!(t < classes, "TopKAccuracy: true class {t} but the predictions have {classes} columns");
            let target = row[t];
            let above = row.iter().enumerate().filter(|&(j, &s)| s > target || (s == target && j < t)).count();
            self.correct += u64::from(above < self.k);
        }
        self.total += truth.len() as u64;
    }

    fn value(&self) -> f64 {
        fraction(self.correct, self.total)
    }
}

/// The running mean of a scalar such as the loss, each batch weighted by its size, so the
/// epoch's figure is the mean over samples.
///
/// Through the [`Metric`] trait, `update(value, targets)` adds the mean of the elements of
/// `value` (usually a rank-0 loss) with weight `targets.len()`; [`MeanMetric::add`] takes a
/// number and a weight directly.
///
/// ```
/// use nabla_train::metrics::{MeanMetric, Metric};
/// let mut loss = MeanMetric::new("loss");
/// loss.add(2.0, 4.0); // a batch of 4 with mean loss 2
/// loss.add(0.5, 2.0); // a last, smaller batch
/// assert_eq!(loss.value(), (2.0 * 4.0 + 0.5 * 2.0) / 6.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MeanMetric {
    name: String,
    sum: f64,
    weight: f64,
}

impl MeanMetric {
    /// A mean reported under `name`.
    pub fn new(name: impl Into<String>) -> Self {
        MeanMetric { name: name.into(), sum: 0.0, weight: 0.0 }
    }

    /// Adds `value` with weight `weight` (the batch size).
    pub fn add(&mut self, value: f64, weight: f64) {
        self.sum += value * weight;
        self.weight += weight;
    }

    /// The total weight seen (the number of samples).
    pub fn count(&self) -> f64 {
        self.weight
    }
}

impl Metric for MeanMetric {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn reset(&mut self) {
        self.sum = 0.0;
        self.weight = 0.0;
    }

    fn update(&mut self, predictions: &Tensor, targets: &Targets) {
        let values = predictions.to_vec_f64();
        if values.is_empty() {
            return;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        self.add(mean, targets.len() as f64);
    }

    fn value(&self) -> f64 {
        if self.weight == 0.0 {
            0.0
        } else {
            self.sum / self.weight
        }
    }
}

/// Counts of (true class, predicted class) pairs: row `i`, column `j` is how many samples of
/// class `i` were predicted as `j`. The diagonal holds the correct predictions; the rest shows
/// which classes are confused with which (a 4 read as a 9).
///
/// `value()` is the accuracy (the diagonal over the total). Printing it shows the table:
///
/// ```
/// use nabla_data::Targets;
/// use nabla_tensor::Tensor;
/// use nabla_train::metrics::{ConfusionMatrix, Metric};
/// let mut cm = ConfusionMatrix::new(2);
/// let logits = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0], &[3, 2]); // 0, 1, 1
/// cm.update(&logits, &Targets::Classes(vec![0, 0, 1]));
/// assert_eq!(cm.matrix(), vec![vec![1, 1], vec![0, 1]]);
/// assert_eq!(cm.to_string(), "true \\ pred | 0 1\n------------+----\n          0 | 1 1\n          1 | 0 1");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionMatrix {
    /// The number of classes.
    pub classes: usize,
    /// Row-major `classes × classes` counts.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    ///
    /// # Panics
    /// If `classes` is 0.
    #[track_caller]
    pub fn new(classes: usize) -> Self {
        assert!(classes > 0, "ConfusionMatrix: there must be at least one class");
        ConfusionMatrix { classes, counts: vec![0; classes * classes] }
    }

    /// The counts: `matrix()[true_class][predicted_class]`.
    pub fn matrix(&self) -> Vec<Vec<u64>> {
        self.counts.chunks(self.classes).map(<[u64]>::to_vec).collect()
    }

    /// The number of samples seen.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Metric for ConfusionMatrix {
    fn name(&self) -> String {
        "confusion_matrix".into()
    }

    fn reset(&mut self) {
        self.counts.fill(0);
    }

    #[track_caller]
    fn update(&mut self, predictions: &Tensor, targets: &Targets) {
        let predicted = predicted_classes(predictions);
        let truth = true_classes(targets);
        check_counts("ConfusionMatrix", predictions, predicted.len(), truth.len());
        let n = self.classes;
        for (&p, &t) in predicted.iter().zip(&truth) {
            assert!(
                p < n && t < n,
                "ConfusionMatrix: class {} is outside the matrix's {n} classes",
                if t >= n { t } else { p }
            );
            self.counts[t * n + p] += 1;
        }
    }

    fn value(&self) -> f64 {
        let correct = (0..self.classes).map(|i| self.counts[i * self.classes + i]).sum();
        fraction(correct, self.total())
    }
}

impl fmt::Display for ConfusionMatrix {
    /// The table with one row per true class and one column per predicted class.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CORNER: &str = "true \\ pred";
        let n = self.classes;
        let largest = self.counts.iter().copied().max().unwrap_or(0).max((n - 1) as u64);
        let width = largest.to_string().len();
        let label = CORNER.len();
        write!(f, "{CORNER} |")?;
        for j in 0..n {
            write!(f, " {j:>width$}")?;
        }
        write!(f, "\n{}+{}", "-".repeat(label + 1), "-".repeat((width + 1) * n))?;
        for (i, row) in self.counts.chunks(n).enumerate() {
            write!(f, "\n{i:>label$} |")?;
            for count in row {
                write!(f, " {count:>width$}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four samples of three classes: argmax [1, 0, 2, 0] (the last row ties 0 and 1).
    fn scores() -> Tensor {
        Tensor::from_vec(vec![0.1f32, 0.9, 0.0, 0.8, 0.1, 0.1, 0.2, 0.3, 0.5, 0.4, 0.4, 0.2], &[4, 3])
    }

    fn truth() -> Targets {
        Targets::Classes(vec![1, 0, 1, 1])
    }

    #[test]
    fn accuracy_golden() {
        let mut acc = Accuracy::new();
        assert_eq!(acc.value(), 0.0);
        acc.update(&scores(), &truth()); // right, right, wrong (2 ≠ 1), wrong (tie → 0)
        assert_eq!(acc.value(), 0.5);
        let two = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0], &[2, 3]);
        acc.update(&two, &Targets::Classes(vec![0, 2])); // both right: 4 of 6
        assert_eq!(acc.value(), 4.0 / 6.0);
        assert_eq!(acc.name(), "accuracy");
        acc.reset();
        assert_eq!(acc.value(), 0.0);
    }

    #[test]
    fn accuracy_reads_one_hot_targets() {
        let mut acc = Accuracy::new();
        let one_hot = Tensor::one_hot(&[1, 0, 1, 1], 3, nabla_tensor::DType::F32);
        acc.update(&scores(), &Targets::Tensor(one_hot));
        assert_eq!(acc.value(), 0.5);
    }

    #[test]
    fn accuracy_of_a_single_logit_thresholds_at_zero() {
        // Logits [2, −1, 0, 0.5] predict [1, 0, 0, 1] (0 is not > 0).
        let logits = Tensor::from_vec(vec![2.0f64, -1.0, 0.0, 0.5], &[4, 1]);
        let mut acc = Accuracy::new();
        acc.update(&logits, &Targets::Classes(vec![1, 0, 1, 0]));
        assert_eq!(acc.value(), 0.5);
        // The same as a rank-1 output with 0/1 label tensors.
        let mut acc = Accuracy::new();
        let labels = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 0.0], &[4, 1]);
        acc.update(&logits.reshape(&[4]), &Targets::Tensor(labels));
        assert_eq!(acc.value(), 0.5);
    }

    #[test]
    fn accuracy_over_sequences() {
        // [B=1, T=2, C=2] logits, B·T = 2 class indices row-major: predicts [1, 0].
        let logits = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[1, 2, 2]);
        let mut acc = Accuracy::new();
        acc.update(&logits, &Targets::Classes(vec![1, 1]));
        assert_eq!(acc.value(), 0.5);
    }

    #[test]
    #[should_panic(expected = "Accuracy: the predictions of shape [4, 3] hold 4 samples but the targets hold 3")]
    fn accuracy_checks_the_sample_count() {
        Accuracy::new().update(&scores(), &Targets::Classes(vec![0, 1, 2]));
    }

    #[test]
    fn top_k_golden() {
        // True classes [1, 0, 1, 1] rank [0, 0, 1 (0.5 above), 1 (0.4 tied, lower index)].
        let mut top1 = TopKAccuracy::new(1);
        top1.update(&scores(), &truth());
        assert_eq!(top1.value(), Accuracy { correct: 2, total: 4 }.value());
        let mut top2 = TopKAccuracy::new(2);
        top2.update(&scores(), &truth());
        assert_eq!(top2.value(), 1.0);
        // [0.5, 0.1, 0.4] with true class 1 ranks third: outside the top 2.
        top2.update(&Tensor::from_vec(vec![0.5f64, 0.1, 0.4], &[1, 3]), &Targets::Classes(vec![1]));
        assert_eq!(top2.value(), 0.8);
        assert_eq!(top2.name(), "top_2_accuracy");
        top2.reset();
        assert_eq!(top2.value(), 0.0);
    }

    #[test]
    fn mean_metric_weights_by_batch_size() {
        let mut loss = MeanMetric::new("loss");
        loss.update(&Tensor::scalar(2.0, nabla_tensor::DType::F32), &truth()); // batch of 4
        loss.update(&Tensor::scalar(0.5, nabla_tensor::DType::F32), &Targets::Classes(vec![0, 1])); // batch of 2
        assert_eq!(loss.value(), 1.5); // (2·4 + 0.5·2)/6
        assert_eq!(loss.count(), 6.0);
        assert_eq!(loss.name(), "loss");
        loss.reset();
        assert_eq!(loss.value(), 0.0);
    }

    #[test]
    fn confusion_matrix_golden() {
        let mut cm = ConfusionMatrix::new(3);
        cm.update(&scores(), &truth()); // (true, predicted): (1, 1), (0, 0), (1, 2), (1, 0)
        assert_eq!(cm.matrix(), vec![vec![1, 0, 0], vec![1, 1, 1], vec![0, 0, 0]]);
        assert_eq!(cm.value(), 0.5);
        for _ in 0..10 {
            cm.update(&scores(), &truth());
        }
        // Columns as wide as the largest count (11).
        let expected = "\
true \\ pred |  0  1  2
------------+---------
          0 | 11  0  0
          1 | 11 11 11
          2 |  0  0  0";
        assert_eq!(cm.to_string(), expected);
        cm.reset();
        assert_eq!(cm.total(), 0);
        assert_eq!(cm.value(), 0.0);
    }

    #[test]
    #[should_panic(expected = "ConfusionMatrix: class 3 is outside the matrix's 3 classes")]
    fn confusion_matrix_checks_classes() {
        ConfusionMatrix::new(3).update(&scores(), &Targets::Classes(vec![0, 3, 0, 0]));
    }
}
