//! BatchNorm1d/2d and LayerNorm: conformance on random shapes (training and evaluation),
//! the running-statistics update against hand-computed numbers, the evaluation formula,
//! buffers in summaries and checkpoints, and error messages.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn t64(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64s(values, shape, DType::F64)
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

/// Random running statistics, `γ` and `β`, so that evaluation mode is not the identity.
fn randomise_1d(bn: &BatchNorm1d, r: &mut nabla_tensor::Rng) {
    let c = bn.running_mean.shape();
    let dtype = bn.running_mean.dtype();
    bn.running_mean.set_value(init::uniform(c, -1.0, 1.0, dtype, r));
    bn.running_var.set_value(init::uniform(c, 0.5, 2.0, dtype, r));
    if let (Some(w), Some(b)) = (&bn.weight, &bn.bias) {
        w.set_value(init::uniform(c, 0.5, 1.5, dtype, r));
        b.set_value(init::uniform(c, -0.5, 0.5, dtype, r));
    }
}

fn randomise_2d(bn: &BatchNorm2d, r: &mut nabla_tensor::Rng) {
    let c = bn.running_mean.shape();
    let dtype = bn.running_mean.dtype();
    bn.running_mean.set_value(init::uniform(c, -1.0, 1.0, dtype, r));
    bn.running_var.set_value(init::uniform(c, 0.5, 2.0, dtype, r));
}

proptest! {
    #![proptest_config(st::config(12))]

    #[test]
    fn batch_norm_1d_on_features(n in 2usize..6, c in 1usize..5, affine in any::<bool>(), seed in any::<u64>()) {
        let params = if affine { 2 * c } else { 0 };
        let check = || Conformance::new("BatchNorm1d", &[n, c]).output_shape(&[n, c]).parameters(params).seed(seed);
        check().check(|r| BatchNorm1dConfig::new(c).with_affine(affine).init(r));
        check().in_eval_mode().check(|r| {
            let bn = BatchNorm1dConfig::new(c).with_affine(affine).init(r);
            randomise_1d(&bn, r);
            bn
        });
    }

    #[test]
    fn batch_norm_1d_on_sequences(n in 1usize..4, c in 1usize..4, l in 2usize..5, seed in any::<u64>()) {
        let check = || Conformance::new("BatchNorm1d", &[n, c, l]).output_shape(&[n, c, l]).parameters(2 * c).seed(seed);
        check().check(|r| BatchNorm1dConfig::new(c).init(r));
        check().in_eval_mode().check(|r| {
            let bn = BatchNorm1dConfig::new(c).init(r);
            randomise_1d(&bn, r);
            bn
        });
    }

    #[test]
    fn batch_norm_2d(n in 1usize..4, c in 1usize..4, h in 1usize..4, w in 2usize..4, seed in any::<u64>()) {
        let shape = [n, c, h, w];
        let check = || Conformance::new("BatchNorm2d", &shape).output_shape(&shape).parameters(2 * c).seed(seed);
        check().check(|r| BatchNorm2dConfig::new(c).with_momentum(0.3).init(r));
        check().in_eval_mode().check(|r| {
            let bn = BatchNorm2dConfig::new(c).init(r);
            randomise_2d(&bn, r);
            bn
        });
    }

    /// In training, every channel of the output has mean β and standard deviation ≈ γ.
    #[test]
    fn batch_norm_output_is_normalised_per_channel(n in 2usize..5, c in 1usize..4, h in 1usize..4, seed in any::<u64>()) {
        let bn = BatchNorm2dConfig::new(c).with_dtype(DType::F64).with_eps(0.0).init(&mut rng(seed));
        let x = Var::constant(init::uniform(&[n, c, h, 3], -3.0, 5.0, DType::F64, &mut rng(!seed)));
        let y = bn.forward(&x).value();
        let mean = y.mean_axes(&[0, 2, 3], false).to_vec_f64();
        let var = y.var_axes(&[0, 2, 3], false, 0).to_vec_f64();
        prop_assert!(mean.iter().all(|m| m.abs() < 1e-12), "{mean:?}");
        prop_assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-9), "{var:?}");
    }

    #[test]
    fn layer_norm(shape in st::shape_with_rank(1, 3, 4), trailing in 1usize..3, affine in any::<bool>(), seed in any::<u64>()) {
        let k = trailing.min(shape.len());
        let normalized = shape[shape.len() - k..].to_vec();
        let params = if affine { 2 * normalized.iter().product::<usize>() } else { 0 };
        Conformance::new("LayerNorm", &shape)
            .output_shape(&shape)
            .parameters(params)
            .seed(seed)
            .check(|r| {
                let norm = LayerNormConfig::new(&normalized).with_elementwise_affine(affine).init(r);
                // Non-trivial γ, β so that their gradients are checked at a generic point.
                if let (Some(w), Some(b)) = (&norm.weight, &norm.bias) {
                    w.set_value(init::uniform(&normalized, 0.5, 1.5, DType::F32, r));
                    b.set_value(init::uniform(&normalized, -0.5, 0.5, DType::F32, r));
                }
                norm
            });
    }
}

#[test]
fn running_statistics_follow_the_pytorch_update() {
    // Channel 0 sees 1, 2, 6: mean 3, unbiased variance (4 + 1 + 9)/2 = 7.
    // Channel 1 sees 0, 4, 2: mean 2, unbiased variance (4 + 4 + 0)/2 = 4.
    let bn = BatchNorm1dConfig::new(2).with_dtype(DType::F64).init(&mut rng(0));
    let x = Var::constant(t64(&[1.0, 0.0, 2.0, 4.0, 6.0, 2.0], &[3, 2]));
    let y = bn.forward(&x);
    // μ̂ = 0.9·0 + 0.1·[3, 2];  σ̂² = 0.9·1 + 0.1·[7, 4].
    assert!(close(&bn.running_mean.value().to_vec_f64(), &[0.3, 0.2], 1e-15));
    assert!(close(&bn.running_var.value().to_vec_f64(), &[1.6, 1.3], 1e-15));
    bn.forward(&x);
    // μ̂ = 0.9·[0.3, 0.2] + 0.1·[3, 2];  σ̂² = 0.9·[1.6, 1.3] + 0.1·[7, 4].
    assert!(close(&bn.running_mean.value().to_vec_f64(), &[0.57, 0.38], 1e-15));
    assert!(close(&bn.running_var.value().to_vec_f64(), &[2.14, 1.57], 1e-15));

    // The output itself uses the population variance: 14/3 and 8/3.
    let (s0, s1) = ((14.0f64 / 3.0 + 1e-5).sqrt(), (8.0f64 / 3.0 + 1e-5).sqrt());
    let expected = [-2.0 / s0, -2.0 / s1, -1.0 / s0, 2.0 / s1, 3.0 / s0, 0.0];
    assert!(close(&y.value().to_vec_f64(), &expected, 1e-12), "{:?}", y.value().to_vec_f64());
}

#[test]
fn momentum_is_configurable_and_2d_statistics_span_batch_height_and_width() {
    // One channel, values 0..8 over [2, 1, 2, 2]: mean 3.5, unbiased variance 6.
    let bn = BatchNorm2dConfig::new(1).with_momentum(0.01).with_dtype(DType::F64).init(&mut rng(0));
    let values: Vec<f64> = (0..8).map(f64::from).collect();
    bn.forward(&Var::constant(t64(&values, &[2, 1, 2, 2])));
    assert!(close(&bn.running_mean.value().to_vec_f64(), &[0.035], 1e-15));
    assert!(close(&bn.running_var.value().to_vec_f64(), &[0.99 + 0.06], 1e-15));
}

#[test]
fn evaluation_uses_the_running_statistics() {
    let mut r = rng(3);
    let mut bn = BatchNorm2dConfig::new(3).with_dtype(DType::F64).init(&mut r);
    let (mean, var) = ([0.5, -1.0, 2.0], [0.25, 4.0, 1.5]);
    let (gamma, beta) = ([2.0, 0.5, -1.0], [0.1, 0.2, 0.3]);
    bn.running_mean.set_value(t64(&mean, &[3]));
    bn.running_var.set_value(t64(&var, &[3]));
    bn.weight.as_ref().unwrap().set_value(t64(&gamma, &[3]));
    bn.bias.as_ref().unwrap().set_value(t64(&beta, &[3]));
    bn.eval();
    let x = init::uniform(&[2, 3, 2, 2], -2.0, 2.0, DType::F64, &mut r);
    let y = bn.forward(&Var::constant(x.clone())).value().to_vec_f64();
    for (i, (&xi, &yi)) in x.to_vec_f64().iter().zip(&y).enumerate() {
        let c = (i / 4) % 3;
        let expected = (xi - mean[c]) / (var[c] + 1e-5).sqrt() * gamma[c] + beta[c];
        assert!((yi - expected).abs() < 1e-12, "element {i}: {yi} vs {expected}");
    }
    // Evaluation leaves the statistics alone, and works on a single sample.
    bn.forward(&Var::constant(init::uniform(&[1, 3, 1, 1], -2.0, 2.0, DType::F64, &mut r)));
    assert_eq!(bn.running_mean.value().to_vec_f64(), mean);
    assert_eq!(bn.running_var.value().to_vec_f64(), var);
}

#[test]
fn running_statistics_are_buffers_outside_the_tape() {
    let bn = BatchNorm1dConfig::new(4).init(&mut rng(0));
    let names: Vec<(String, TensorKind)> = bn.named_tensors().into_iter().map(|(n, _, k)| (n, k)).collect();
    assert_eq!(
        names,
        [
            ("weight".to_string(), TensorKind::Parameter),
            ("bias".to_string(), TensorKind::Parameter),
            ("running_mean".to_string(), TensorKind::Buffer),
            ("running_var".to_string(), TensorKind::Buffer),
        ]
    );
    assert_eq!(bn.num_parameters(), 8);
    let x = Var::new(init::uniform(&[5, 4], -1.0, 1.0, DType::F32, &mut rng(1)));
    let grads = bn.forward(&x).square().sum().backward();
    assert!(bn.running_mean.is_leaf() && !bn.running_mean.requires_grad());
    assert!(grads.get(&bn.running_mean).is_none() && grads.get(&bn.running_var).is_none());
    assert!(grads.get(bn.weight.as_ref().unwrap()).is_some() && grads.get(&x).is_some());
}

#[test]
fn summary_counts_buffers_as_non_trainable_and_leaves_them_alone() {
    let mut r = rng(0);
    let model =
        Sequential::new().add(LinearConfig::new(10, 6).init(&mut r)).add(BatchNorm1dConfig::new(6).init(&mut r));
    let before = model.state_dict();
    let s = summary(&model, &[4, 10]);
    assert_eq!((s.trainable, s.non_trainable), (10 * 6 + 6 + 2 * 6, 2 * 6));
    assert_eq!((s.rows[1].trainable, s.rows[1].non_trainable), (12, 12));
    assert!(s.to_string().contains("non-trainable 12"), "{s}");
    for (name, value) in model.state_dict() {
        assert_eq!(value.to_vec_f64(), before[&name].to_vec_f64(), "summary changed `{name}`");
    }
}

#[test]
fn running_statistics_survive_a_checkpoint() {
    let mut r = rng(0);
    let mut trained = BatchNorm1dConfig::new(3).init(&mut r);
    for _ in 0..3 {
        trained.forward(&Var::constant(init::uniform(&[8, 3], 0.0, 4.0, DType::F32, &mut r)));
    }
    let mut fresh = BatchNorm1dConfig::new(3).init(&mut rng(1));
    fresh.load_state_dict(&trained.state_dict()).unwrap();
    trained.eval();
    fresh.eval();
    let probe = Var::constant(init::uniform(&[2, 3], 0.0, 4.0, DType::F32, &mut r));
    assert_eq!(trained.forward(&probe).value().to_vec_f32(), fresh.forward(&probe).value().to_vec_f32());
}

#[test]
fn layer_norm_golden_values() {
    // Row [1, 2, 3]: mean 2, population variance 2/3.
    let norm = LayerNormConfig::new(&[3]).with_dtype(DType::F64).init(&mut rng(0));
    norm.weight.as_ref().unwrap().set_value(t64(&[1.0, 2.0, 3.0], &[3]));
    norm.bias.as_ref().unwrap().set_value(t64(&[0.0, 1.0, 0.0], &[3]));
    let y = norm.forward(&Var::constant(t64(&[1.0, 2.0, 3.0, 5.0, 5.0, 5.0], &[2, 3]))).value().to_vec_f64();
    let s = (2.0f64 / 3.0 + 1e-5).sqrt();
    assert!(close(&y, &[-1.0 / s, 1.0, 3.0 / s, 0.0, 1.0, 0.0], 1e-12), "{y:?}");
}

#[test]
#[should_panic(expected = "BatchNorm2d: expected input [batch, 3, height, width] but received [2, 4, 5, 5]")]
fn batch_norm_names_the_expected_channels() {
    BatchNorm2dConfig::new(3).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[2, 4, 5, 5], DType::F32)));
}

#[test]
#[should_panic(expected = "BatchNorm1d: expected input [batch, 3] or [batch, 3, length] but received [3]")]
fn batch_norm_1d_rejects_a_vector() {
    BatchNorm1dConfig::new(3).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[3], DType::F32)));
}

#[test]
#[should_panic(expected = "more than one value per channel")]
fn batch_norm_cannot_train_on_one_value_per_channel() {
    BatchNorm1dConfig::new(3).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[1, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "LayerNorm: expected input [..., 4, 5] but received [2, 5, 4]")]
fn layer_norm_names_the_expected_trailing_axes() {
    LayerNormConfig::new(&[4, 5]).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[2, 5, 4], DType::F32)));
}
