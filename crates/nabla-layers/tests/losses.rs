//! Loss layers: a property-based gradient check of each with respect to the predictions,
//! golden values, label smoothing for both target kinds, and wrong-target errors.

use nabla_autograd::functional::losses;
use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn random(shape: &[usize], low: f64, high: f64, seed: u64) -> Tensor {
    init::uniform(shape, low, high, DType::F64, &mut rng(seed))
}

fn labels(batch: usize, classes: usize, seed: u64) -> Vec<usize> {
    random(&[batch], 0.0, classes as f64, seed).to_vec_f64().iter().map(|&x| (x as usize).min(classes - 1)).collect()
}

/// Gradient check of `loss` with the predictions as the only input.
fn check(loss: &dyn Loss, predictions: &Tensor, target: &Target) {
    if let Err(e) =
        check_gradients(|v| loss.loss(&v[0], target), std::slice::from_ref(predictions), Tolerance::default())
    {
        panic!("{}: {e}", loss.name());
    }
}

/// Predictions whose distance to `target` stays at least 0.05 away from 0 and from `delta`
/// (the kinks of MAE and Huber).
fn predictions_near(target: &Tensor, delta: f64, seed: u64) -> Tensor {
    let s = target.shape();
    let offsets = random(s, 0.05, delta - 0.05, seed).to_vec_f64();
    let far = random(s, 0.0, 1.0, seed ^ 1).to_vec_f64();
    let signs = random(s, -1.0, 1.0, seed ^ 2).to_vec_f64();
    let values: Vec<f64> = target
        .to_vec_f64()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let magnitude = if far[i] < 0.5 { offsets[i] } else { delta + offsets[i] };
            t + magnitude * signs[i].signum()
        })
        .collect();
    Tensor::from_f64s(&values, s, DType::F64)
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn regression_losses(shape in st::shape_with_rank(1, 3, 4), delta in 0.5..2.0f64, seed in any::<u64>()) {
        let target = random(&shape, -2.0, 2.0, !seed);
        let p = predictions_near(&target, delta, seed);
        let t = Target::Values(target);
        check(&MseLoss, &p, &t);
        check(&MaeLoss, &p, &t);
        check(&HuberLoss { delta }, &p, &t);
    }

    #[test]
    fn classification_losses(batch in 1usize..5, classes in 2usize..6, smoothing in 0.0..0.3f64, seed in any::<u64>()) {
        let logits = random(&[batch, classes], -3.0, 3.0, seed);
        let y = Target::Classes(labels(batch, classes, seed));
        let soft = Target::Values(random(&[batch, classes], 0.0, 1.0, !seed));
        for loss in [CrossEntropyLoss::default(), CrossEntropyLoss { label_smoothing: smoothing }] {
            check(&loss, &logits, &y);
            check(&loss, &logits, &soft);
        }
        let log_probs = Var::constant(logits).log_softmax(1).value();
        check(&NllLoss, &log_probs, &y);
    }

    #[test]
    fn binary_cross_entropy(shape in st::shape_with_rank(1, 3, 4), seed in any::<u64>()) {
        let targets = Target::Values(random(&shape, 0.0, 1.0, !seed));
        check(&BceWithLogitsLoss, &random(&shape, -4.0, 4.0, seed), &targets);
    }

    /// Label smoothing means the same for class indices and for one-hot rows.
    #[test]
    fn smoothing_agrees_for_both_target_kinds(batch in 1usize..5, classes in 2usize..6, smoothing in 0.0..0.5f64, seed in any::<u64>()) {
        let logits = Var::constant(random(&[batch, classes], -3.0, 3.0, seed));
        let y = labels(batch, classes, seed);
        let one_hot = Tensor::one_hot(&y, classes, DType::F64);
        let loss = CrossEntropyLoss { label_smoothing: smoothing };
        let a = loss.loss(&logits, &Target::Classes(y)).item();
        let b = loss.loss(&logits, &Target::Values(one_hot)).item();
        prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

fn near(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn golden_values() {
    let p = Var::constant(Tensor::from_f64s(&[1.0, 2.0, 3.0], &[3], DType::F64));
    let t = Target::Values(Tensor::from_f64s(&[1.0, 0.0, 5.5], &[3], DType::F64));
    near(MseLoss.loss(&p, &t).item(), (0.0 + 4.0 + 6.25) / 3.0);
    near(MaeLoss.loss(&p, &t).item(), 4.5 / 3.0);
    // δ = 1: errors 0, 2, 2.5 → 0, 1·(2 − ½), 1·(2.5 − ½).
    near(HuberLoss::default().loss(&p, &t).item(), (0.0 + 1.5 + 2.0) / 3.0);
    // δ = 3: all quadratic.
    near(HuberLoss { delta: 3.0 }.loss(&p, &t).item(), (0.0 + 2.0 + 3.125) / 3.0);

    // Uniform logits: the cross-entropy is ln C whatever the label, smoothing or not.
    let z = Var::constant(Tensor::zeros(&[2, 4], DType::F64));
    for eps in [0.0, 0.1] {
        let ce = CrossEntropyLoss { label_smoothing: eps }.loss(&z, &Target::Classes(vec![0, 3])).item();
        assert!((ce - 4f64.ln()).abs() < 1e-12);
    }
    // Logits [ln 1, ln 3]: p = [1/4, 3/4]. Class 1 costs −ln ¾; smoothed by 0.2 the target is [0.1, 0.9].
    let z = Var::constant(Tensor::from_f64s(&[0.0, 3f64.ln()], &[1, 2], DType::F64));
    let plain = CrossEntropyLoss::default().loss(&z, &Target::Classes(vec![1])).item();
    assert!((plain + 0.75f64.ln()).abs() < 1e-12);
    let smooth = CrossEntropyLoss { label_smoothing: 0.2 }.loss(&z, &Target::Classes(vec![1])).item();
    assert!((smooth + 0.1 * 0.25f64.ln() + 0.9 * 0.75f64.ln()).abs() < 1e-12);
    let nll = NllLoss.loss(&z.log_softmax(1), &Target::Classes(vec![0])).item();
    assert!((nll - 4f64.ln()).abs() < 1e-12);

    // BCE at logit 0 is ln 2 whatever the target.
    let bce = BceWithLogitsLoss.loss(
        &Var::constant(Tensor::zeros(&[2], DType::F64)),
        &Target::Values(Tensor::from_f64s(&[0.0, 1.0], &[2], DType::F64)),
    );
    assert!((bce.item() - 2f64.ln()).abs() < 1e-15);
}

#[test]
fn losses_agree_with_the_functions_they_wrap_and_convert_target_dtypes() {
    let p = Var::new(init::uniform(&[3, 4], -1.0, 1.0, DType::F32, &mut rng(0)));
    let t32 = init::uniform(&[3, 4], -1.0, 1.0, DType::F32, &mut rng(1));
    let expected = losses::mse(&p, &Var::constant(t32.clone())).item();
    assert_eq!(MseLoss.loss(&p, &Target::Values(t32.to_dtype(DType::F64))).item(), expected);
    let boxed: Vec<Box<dyn Loss>> = vec![Box::new(MseLoss), Box::new(CrossEntropyLoss::default())];
    let names: Vec<&str> = boxed.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["MseLoss", "CrossEntropyLoss"]);
    assert!(matches!(Target::from(vec![1, 2]), Target::Classes(_)));
    assert!(matches!(Target::from(t32), Target::Values(_)));
}

fn logits() -> Var {
    Var::constant(Tensor::zeros(&[2, 3], DType::F32))
}

#[test]
#[should_panic(
    expected = "MseLoss: expected Target::Values of the predictions' shape but received Target::Classes (2 class indices)"
)]
fn regression_losses_reject_class_indices() {
    MseLoss.loss(&logits(), &Target::Classes(vec![0, 1]));
}

#[test]
#[should_panic(
    expected = "NllLoss: expected Target::Classes (one class index per row) but received Target::Values of shape [2, 3]"
)]
fn nll_rejects_values() {
    NllLoss.loss(&logits(), &Target::Values(Tensor::zeros(&[2, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "BceWithLogitsLoss: expected Target::Values in [0, 1]")]
fn bce_rejects_class_indices() {
    BceWithLogitsLoss.loss(&logits(), &Target::Classes(vec![0, 1]));
}

#[test]
#[should_panic(expected = "CrossEntropyLoss: expected logits [batch, classes] but received [2, 3, 4]")]
fn cross_entropy_wants_a_matrix() {
    CrossEntropyLoss::default()
        .loss(&Var::constant(Tensor::zeros(&[2, 3, 4], DType::F32)), &Target::Classes(vec![0, 1]));
}

#[test]
#[should_panic(expected = "label 3 at position 1 is not a class index below 3")]
fn cross_entropy_names_a_bad_label() {
    CrossEntropyLoss::default().loss(&logits(), &Target::Classes(vec![0, 3]));
}

#[test]
#[should_panic(expected = "CrossEntropyLoss: label_smoothing 1 must be in [0, 1)")]
fn smoothing_must_be_below_one() {
    CrossEntropyLoss { label_smoothing: 1.0 }.loss(&logits(), &Target::Classes(vec![0, 1]));
}

#[test]
#[should_panic(expected = "mse: predictions [2, 3] and targets [3, 2] must have the same shape")]
fn shapes_must_match() {
    MseLoss.loss(&logits(), &Target::Values(Tensor::zeros(&[3, 2], DType::F32)));
}
