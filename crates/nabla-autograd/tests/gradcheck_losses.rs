//! Property-based gradient checks of the losses and of normalisation, on random batches.

use nabla_autograd::functional::losses;
use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn check(f: impl Fn(&[Var]) -> Var, inputs: &[Tensor]) {
    if let Err(e) = check_gradients(f, inputs, Tolerance::default()) {
        panic!("{e}");
    }
}

fn random(shape: &[usize], low: f64, high: f64, seed: u64) -> Tensor {
    init::uniform(shape, low, high, DType::F64, &mut rng(seed))
}

fn labels(batch: usize, classes: usize, seed: u64) -> Vec<usize> {
    random(&[batch], 0.0, classes as f64, seed).to_vec_f64().iter().map(|&x| (x as usize).min(classes - 1)).collect()
}

proptest! {
    #![proptest_config(st::config(32))]

    #[test]
    fn regression_losses(s in st::shape_with_rank(1, 3, 4), seed in any::<u64>()) {
        let target = Var::constant(random(&s, -2.0, 2.0, !seed));
        // Keep predictions at least 0.05 from the targets and from the Huber threshold (|d| = 1).
        let t = target.value().to_vec_f64();
        let offsets: Vec<f64> = random(&s, 0.05, 0.95, seed).to_vec_f64();
        let signs = random(&s, -1.0, 1.0, seed ^ 2).to_vec_f64();
        let scale = random(&s, 0.0, 1.0, seed ^ 3).to_vec_f64();
        let p: Vec<f64> = (0..t.len()).map(|i| {
            let magnitude = if scale[i] < 0.5 { offsets[i] } else { 1.05 + offsets[i] };
            t[i] + magnitude * signs[i].signum()
        }).collect();
        let p = Tensor::from_f64s(&p, &s, DType::F64);
        let (t1, t2, t3) = (target.clone(), target.clone(), target);
        check(move |v| losses::mse(&v[0], &t1), std::slice::from_ref(&p));
        check(move |v| losses::mae(&v[0], &t2), std::slice::from_ref(&p));
        check(move |v| losses::huber(&v[0], &t3, 1.0), &[p])
    }

    #[test]
    fn classification_losses(batch in 1usize..5, classes in 2usize..6, smoothing in 0.0..0.3f64, seed in any::<u64>()) {
        let y = labels(batch, classes, seed);
        let (y1, y2) = (y.clone(), y.clone());
        let logits = random(&[batch, classes], -3.0, 3.0, seed);
        check(move |v| losses::cross_entropy(&v[0], &y), std::slice::from_ref(&logits));
        check(move |v| losses::cross_entropy_smoothed(&v[0], &y1, smoothing), std::slice::from_ref(&logits));
        check(move |v| losses::nll(&v[0].log_softmax(1), &y2), std::slice::from_ref(&logits));
        let soft = Var::constant(random(&[batch, classes], 0.0, 1.0, !seed));
        check(move |v| losses::cross_entropy_soft(&v[0], &soft), &[logits])
    }

    #[test]
    fn binary_cross_entropy(s in st::shape_with_rank(1, 3, 4), seed in any::<u64>()) {
        let targets = Var::constant(random(&s, 0.0, 1.0, !seed));
        check(move |v| losses::binary_cross_entropy_with_logits(&v[0], &targets), &[random(&s, -4.0, 4.0, seed)])
    }

    #[test]
    fn normalize(s in st::shape_with_rank(2, 3, 4), last_only in any::<bool>(), seed in any::<u64>()) {
        let axes: Vec<usize> = if last_only { vec![s.len() - 1] } else { (1..s.len()).collect() };
        let n: usize = axes.iter().map(|&d| s[d]).product();
        prop_assume!(n > 1);
        let w = Var::constant(random(&s, -1.0, 1.0, seed ^ 8));
        check(move |v| v[0].normalize(&axes, 1e-5).mul(&w), &[random(&s, -2.0, 2.0, seed)])
    }
}
