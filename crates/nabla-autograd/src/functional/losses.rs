//! Loss functions, composed from primitives. Each returns the mean over the batch as a rank-0
//! `Var`, ready for `backward()`.
//!
//! | loss | formula (per element or row) | use |
//! |---|---|---|
//! | [`mse`] | `(p − t)²` | regression |
//! | [`mae`] | `|p − t|` | regression, robust to outliers |
//! | [`huber`] | `½d²` if `|d| ≤ δ`, else `δ(|d| − ½δ)`, `d = p − t` | regression, both |
//! | [`cross_entropy`] | `−ln softmax(z)[y]` | classification from logits and class indices |
//! | [`cross_entropy_soft`] | `−Σ_c q_c ln softmax(z)_c` | one-hot or soft targets `q` |
//! | [`binary_cross_entropy_with_logits`] | `softplus(z) − z·t` = `−t ln σ(z) − (1−t) ln(1−σ(z))` | binary / multi-label |
//! | [`nll`] | `−logp[y]` | after an explicit `log_softmax` |
//!
//! The cross-entropies take *logits* and go through `log_softmax` / `softplus`, which never
//! take the logarithm of a rounded-to-zero probability.
//!
//! [`mse`], the loss of every regression step, is one fused op; [`mse_composed`] is the same
//! loss written with primitives, its gradient-check oracle.

use nabla_tensor::ndarray::{ArrayD, IxDyn};
use nabla_tensor::Tensor;

use crate::Var;

#[track_caller]
fn same_shape(op: &str, p: &Var, t: &Var) {
    assert_eq!(
        p.shape(),
        t.shape(),
        "{op}: predictions {:?} and targets {:?} must have the same shape",
        p.shape(),
        t.shape()
    );
}

/// Mean squared error `mean((p − t)²)`, as one op.
///
/// Composed from primitives ([`mse_composed`]) the loss records four ops (the difference, its
/// square, the sum, the scale by `1/n`) and its backward runs five. Fused, the forward runs the
/// same four kernels under one tape node, and the backward is, for `n` elements and the
/// incoming gradient `ȳ`,
///
/// ```text
/// p̄ = (p − t) ⊙ (2ȳ/n)        t̄ = −p̄
/// ```
///
/// which is bit for bit what the composed backward computes (`2·(ȳ/n)` is exactly twice the
/// rounded `ȳ/n`, and the composed rule adds the two equal halves of the square's gradient).
/// A plain `backward()` reuses the forward's `p − t`; a recorded one computes it with `Var` ops,
/// so that second derivatives flow through it.
#[track_caller]
pub fn mse(predictions: &Var, targets: &Var) -> Var {
    same_shape("mse", predictions, targets);
    let d = Var::read_pair(predictions, targets, Tensor::sub);
    let all: Vec<usize> = (0..d.ndim()).collect();
    let n = d.len() as f64;
    let value = d.mul(&d).sum_axes(&all, false).mul_scalar(1.0 / n);
    Var::from_fused_op(
        "mse",
        value,
        &[predictions, targets],
        move |g, x, _| {
            let p_grad = x[0].sub(&x[1]).mul(&g.mul_scalar(2.0 / n));
            let t_grad = x[1].requires_grad().then(|| p_grad.neg());
            vec![x[0].requires_grad().then_some(p_grad), t_grad]
        },
        move |g, x, _| {
            let p_grad = d.mul(&g.mul_scalar(2.0 / n));
            let t_grad = x[1].requires_grad().then(|| p_grad.neg());
            vec![x[0].requires_grad().then_some(p_grad), t_grad]
        },
    )
}

/// [`mse`] composed from primitives: `mean((p − t)²)` as `sub`, `square`, `mean`. The oracle
/// that the fused op is checked against.
#[track_caller]
pub fn mse_composed(predictions: &Var, targets: &Var) -> Var {
    same_shape("mse", predictions, targets);
    predictions.sub(targets).square().mean()
}

/// Mean absolute error `mean(|p − t|)`.
#[track_caller]
pub fn mae(predictions: &Var, targets: &Var) -> Var {
    same_shape("mae", predictions, targets);
    predictions.sub(targets).abs().mean()
}

/// Huber loss with threshold `delta`: quadratic for small errors, linear for large ones.
#[track_caller]
pub fn huber(predictions: &Var, targets: &Var, delta: f64) -> Var {
    same_shape("huber", predictions, targets);
    let d = predictions.sub(targets);
    let small = d.value().abs().lt_scalar(delta);
    let quadratic = d.square().mul_scalar(0.5);
    let linear = d.abs().add_scalar(-0.5 * delta).mul_scalar(delta);
    Var::where_cond(&small, &quadratic, &linear).mean()
}

#[track_caller]
fn check_logits_and_labels(op: &str, logits: &Var, labels: &[usize]) {
    let shape = logits.shape();
    assert!(
        shape.len() == 2 && shape[0] == labels.len(),
        "{op}: logits must be [batch, classes] with batch = {} labels, got {shape:?}",
        labels.len()
    );
    if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= shape[1]) {
        panic!("{op}: label {label} at position {i} is not a class index below {}", shape[1]);
    }
}

/// Cross-entropy from logits `[batch, classes]` and class indices: `mean(−log_softmax(z)[y])`.
#[track_caller]
pub fn cross_entropy(logits: &Var, labels: &[usize]) -> Var {
    check_logits_and_labels("cross_entropy", logits, labels);
    nll(&logits.log_softmax(1), labels)
}

/// Cross-entropy with label smoothing `ε`: the target puts `1 − ε + ε/C` on the true class and
/// `ε/C` on each other class.
#[track_caller]
pub fn cross_entropy_smoothed(logits: &Var, labels: &[usize], smoothing: f64) -> Var {
    check_logits_and_labels("cross_entropy_smoothed", logits, labels);
    assert!((0.0..1.0).contains(&smoothing), "cross_entropy_smoothed: smoothing {smoothing} must be in [0, 1)");
    let classes = logits.shape()[1];
    let one_hot = Tensor::one_hot(labels, classes, logits.dtype());
    let targets = one_hot.mul_scalar(1.0 - smoothing).add_scalar(smoothing / classes as f64);
    cross_entropy_soft(logits, &Var::fixed(targets))
}

/// Cross-entropy from logits `[batch, classes]` and target distributions of the same shape
/// (one-hot or soft): `mean_rows(−Σ_c q_c · log_softmax(z)_c)`.
#[track_caller]
pub fn cross_entropy_soft(logits: &Var, targets: &Var) -> Var {
    same_shape("cross_entropy_soft", logits, targets);
    let rows = logits.shape()[0] as f64;
    logits.log_softmax(1).mul(targets).sum().mul_scalar(-1.0 / rows)
}

/// Negative log-likelihood of log-probabilities `[batch, classes]` at class indices.
#[track_caller]
pub fn nll(log_probs: &Var, labels: &[usize]) -> Var {
    check_logits_and_labels("nll", log_probs, labels);
    let index = ArrayD::from_shape_vec(IxDyn(&[labels.len(), 1]), labels.to_vec()).expect("one index per row");
    log_probs.gather(1, &index).mean().neg()
}

/// Binary cross-entropy from logits and targets in `[0, 1]` of the same shape:
/// `mean(softplus(z) − z·t)`, stable for large `|z|`.
#[track_caller]
pub fn binary_cross_entropy_with_logits(logits: &Var, targets: &Var) -> Var {
    same_shape("binary_cross_entropy_with_logits", logits, targets);
    logits.softplus().sub(&logits.mul(targets)).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{t, v};

    #[test]
    fn golden() {
        let p = v(&[1.0, 2.0, 3.0], &[3]);
        let q = Var::constant(t(&[1.0, 0.0, 5.0], &[3]));
        assert_eq!(mse(&p, &q).item(), (0.0 + 4.0 + 4.0) / 3.0);
        assert_eq!(mae(&p, &q).item(), 4.0 / 3.0);
        assert_eq!(huber(&p, &q, 1.0).item(), (0.0 + 1.5 + 1.5) / 3.0);
        let z = v(&[2.0, 1.0, 0.1, 0.5, 2.5, 0.3], &[2, 3]);
        let expected = {
            let row = |a: f64, b: f64, c: f64, k: f64| -(k - (a.exp() + b.exp() + c.exp()).ln());
            (row(2.0, 1.0, 0.1, 2.0) + row(0.5, 2.5, 0.3, 2.5)) / 2.0
        };
        assert!((cross_entropy(&z, &[0, 1]).item() - expected).abs() < 1e-12);
        let one_hot = Var::constant(Tensor::one_hot(&[0, 1], 3, nabla_tensor::DType::F64));
        assert!((cross_entropy_soft(&z, &one_hot).item() - expected).abs() < 1e-12);
        assert!((cross_entropy_smoothed(&z, &[0, 1], 0.0).item() - expected).abs() < 1e-12);
        let bce = binary_cross_entropy_with_logits(&v(&[0.0], &[1]), &Var::constant(t(&[1.0], &[1])));
        assert!((bce.item() - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn fused_mse_equals_the_composed_form_bit_for_bit() {
        for dtype in [nabla_tensor::DType::F32, nabla_tensor::DType::F64] {
            let mut rng = nabla_tensor::rng(7);
            let p = Var::new(nabla_tensor::init::normal(&[5, 3], 0.0, 1.0, dtype, &mut rng));
            let q = Var::new(nabla_tensor::init::normal(&[5, 3], 0.0, 1.0, dtype, &mut rng));
            let scale = Var::new(Tensor::scalar(0.3, dtype));
            let (fused, composed) = (mse(&p, &q).mul(&scale), mse_composed(&p, &q).mul(&scale));
            assert_eq!(fused.value().to_vec_f64(), composed.value().to_vec_f64());
            let (g, h) = (fused.backward(), composed.backward());
            for x in [&p, &q, &scale] {
                assert_eq!(g.get(x).unwrap().to_vec_f64(), h.get(x).unwrap().to_vec_f64());
            }
            // Second order: the gradient with respect to p is itself differentiable.
            let dp = crate::grad(&mse(&p, &q), &[&p], true)[0].clone().unwrap();
            let dp_composed = crate::grad(&mse_composed(&p, &q), &[&p], true)[0].clone().unwrap();
            let (g, h) = (dp.sum().backward(), dp_composed.sum().backward());
            for x in [&p, &q] {
                assert_eq!(g.get(x).unwrap().to_vec_f64(), h.get(x).unwrap().to_vec_f64());
            }
        }
    }

    #[test]
    #[should_panic(expected = "label 3 at position 1")]
    fn bad_label_is_named() {
        cross_entropy(&v(&[0.0; 6], &[2, 3]), &[0, 3]);
    }
}
