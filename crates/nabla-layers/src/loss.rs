//! Loss layers: what a training loop minimises, as values a Keras user picks by name
//! (`loss="mse"`, `loss="sparse_categorical_crossentropy"`).
//!
//! Each wraps a function of [`nabla_autograd::functional::losses`] behind the [`Loss`] trait,
//! so a training loop can hold any of them as `Box<dyn Loss>`. Every loss returns the mean over
//! the batch as a rank-0 `Var`, ready for `backward()`.
//!
//! | loss | per element or row | predictions | [`Target`] | Keras name |
//! |---|---|---|---|---|
//! | [`MseLoss`] | `(p − t)²` | any shape | `Values`, same shape | `mse` |
//! | [`MaeLoss`] | `|p − t|` | any shape | `Values`, same shape | `mae` |
//! | [`HuberLoss`] | `½d²` if `|d| ≤ δ` else `δ(|d| − ½δ)` | any shape | `Values`, same shape | `huber` |
//! | [`CrossEntropyLoss`] | `−Σ_c q_c ln softmax(z)_c` | logits `[batch, classes]` | `Classes` or `Values` (rows of probabilities) | `sparse_categorical_crossentropy` / `categorical_crossentropy` with `from_logits=True` |
//! | [`BceWithLogitsLoss`] | `softplus(z) − z·t` | logits, any shape | `Values` in `[0, 1]`, same shape | `binary_crossentropy` with `from_logits=True` |
//! | [`NllLoss`] | `−logp[y]` | log-probabilities `[batch, classes]` | `Classes` | — |
//!
//! The classification losses take **logits** (scores before the softmax): the softmax and the
//! logarithm are fused into a stable `log_softmax`, which never takes the log of a probability
//! rounded to zero. A model trained with them has no final `Softmax` layer.
//!
//! Passing the wrong kind of target (class indices to a regression loss, say) is a programming
//! error and panics at the caller's line with a message saying what was expected.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{CrossEntropyLoss, Loss, MseLoss, Target};
//! use nabla_tensor::Tensor;
//! let logits = Var::new(Tensor::from_vec(vec![2.0f32, 0.0, 0.0, 0.0, 3.0, 0.0], &[2, 3]));
//! let loss = CrossEntropyLoss::default().loss(&logits, &Target::Classes(vec![0, 1]));
//! assert!(loss.item() < 0.2);
//! let p = Var::new(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
//! let mse = MseLoss.loss(&p, &Target::Values(Tensor::from_vec(vec![1.0f32, 4.0], &[2])));
//! assert_eq!(mse.item(), 2.0);
//! ```

use nabla_autograd::functional::losses;
use nabla_autograd::Var;
use nabla_tensor::Tensor;

/// What a loss compares its predictions with.
#[derive(Clone, Debug)]
pub enum Target {
    /// One class index per row of `[batch, classes]` predictions (Keras' "sparse" labels).
    Classes(Vec<usize>),
    /// A tensor: regression targets, one-hot or probability rows, binary labels in `[0, 1]`.
    /// It is converted to the predictions' dtype.
    Values(Tensor),
}

impl Target {
    /// `"Target::Classes (32 class indices)"` or `"Target::Values of shape [32, 10]"`.
    fn describe(&self) -> String {
        match self {
            Target::Classes(c) => format!("Target::Classes ({} class indices)", c.len()),
            Target::Values(t) => format!("Target::Values of shape {:?}", t.shape()),
        }
    }

    /// The class indices, or a panic naming the loss and what it expected.
    #[track_caller]
    fn classes(&self, loss: &str, expected: &str) -> &[usize] {
        match self {
            Target::Classes(c) => c,
            Target::Values(_) => panic!("{loss}: expected {expected} but received {}", self.describe()),
        }
    }

    /// The tensor as a constant `Var` of `like`'s dtype, or a panic naming the loss.
    #[track_caller]
    fn values(&self, loss: &str, expected: &str, like: &Var) -> Var {
        match self {
            Target::Values(t) => Var::constant(t.to_dtype(like.dtype())),
            Target::Classes(_) => panic!("{loss}: expected {expected} but received {}", self.describe()),
        }
    }
}

impl From<Vec<usize>> for Target {
    fn from(classes: Vec<usize>) -> Self {
        Target::Classes(classes)
    }
}

impl From<Tensor> for Target {
    fn from(values: Tensor) -> Self {
        Target::Values(values)
    }
}

/// A loss function; see the [module docs](self).
pub trait Loss: Send + Sync {
    /// The mean loss of `predictions` against `target`, as a rank-0 `Var`.
    ///
    /// # Panics
    /// If `target` is the wrong kind for this loss, or the shapes do not fit.
    fn loss(&self, predictions: &Var, target: &Target) -> Var;

    /// The loss's name as logs show it, e.g. `"CrossEntropyLoss"`.
    fn name(&self) -> &'static str;
}

const SAME_SHAPE: &str = "Target::Values of the predictions' shape";

/// Mean squared error, `mean((p − t)²)`; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MseLoss;

impl Loss for MseLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        losses::mse(predictions, &target.values(self.name(), SAME_SHAPE, predictions))
    }
    fn name(&self) -> &'static str {
        "MseLoss"
    }
}

/// Mean absolute error, `mean(|p − t|)`; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaeLoss;

impl Loss for MaeLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        losses::mae(predictions, &target.values(self.name(), SAME_SHAPE, predictions))
    }
    fn name(&self) -> &'static str {
        "MaeLoss"
    }
}

/// Huber loss: quadratic for errors up to `delta`, linear beyond; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HuberLoss {
    /// Where the loss turns from quadratic to linear (`1.0` by default, as in PyTorch and Keras).
    pub delta: f64,
}

impl Default for HuberLoss {
    fn default() -> Self {
        HuberLoss { delta: 1.0 }
    }
}

impl Loss for HuberLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        assert!(self.delta > 0.0, "HuberLoss: delta {} must be positive", self.delta);
        losses::huber(predictions, &target.values(self.name(), SAME_SHAPE, predictions), self.delta)
    }
    fn name(&self) -> &'static str {
        "HuberLoss"
    }
}

/// Cross-entropy from logits `[batch, classes]`, with optional label smoothing; see the
/// [module docs](self).
///
/// With smoothing `ε` the target distribution becomes `(1 − ε)·q + ε/C`: for class indices,
/// `1 − ε + ε/C` on the true class and `ε/C` elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyLoss {
    /// `ε` in `[0, 1)`; `0.0` (no smoothing) by default, `0.1` is a common choice.
    pub label_smoothing: f64,
}

impl Loss for CrossEntropyLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        let eps = self.label_smoothing;
        assert!((0.0..1.0).contains(&eps), "CrossEntropyLoss: label_smoothing {eps} must be in [0, 1)");
        let shape = predictions.shape();
        assert!(
            shape.len() == 2,
            "CrossEntropyLoss: expected logits [batch, classes] but received {shape:?} \
             (flatten extra axes into the batch first)"
        );
        match target {
            Target::Classes(labels) if eps == 0.0 => losses::cross_entropy(predictions, labels),
            Target::Classes(labels) => losses::cross_entropy_smoothed(predictions, labels, eps),
            Target::Values(_) => {
                let q = target.values(self.name(), SAME_SHAPE, predictions);
                let q = if eps == 0.0 { q } else { q.mul_scalar(1.0 - eps).add_scalar(eps / shape[1] as f64) };
                losses::cross_entropy_soft(predictions, &q)
            }
        }
    }
    fn name(&self) -> &'static str {
        "CrossEntropyLoss"
    }
}

/// Binary cross-entropy from logits, `mean(softplus(z) − z·t)`; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BceWithLogitsLoss;

impl Loss for BceWithLogitsLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        let expected = "Target::Values in [0, 1] of the logits' shape";
        losses::binary_cross_entropy_with_logits(predictions, &target.values(self.name(), expected, predictions))
    }
    fn name(&self) -> &'static str {
        "BceWithLogitsLoss"
    }
}

/// Negative log-likelihood of log-probabilities `[batch, classes]` at class indices
/// (cross-entropy after an explicit `log_softmax`); see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NllLoss;

impl Loss for NllLoss {
    #[track_caller]
    fn loss(&self, predictions: &Var, target: &Target) -> Var {
        losses::nll(predictions, target.classes(self.name(), "Target::Classes (one class index per row)"))
    }
    fn name(&self) -> &'static str {
        "NllLoss"
    }
}
