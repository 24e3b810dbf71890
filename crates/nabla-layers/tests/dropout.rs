//! Dropout: keep rate and scaling, evaluation identity, gradients equal to the mask, and
//! masks that are reproducible from (seed, call counter) — also across a checkpoint.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::safetensors_io::{state_from_safetensors_bytes, to_safetensors_bytes};
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

/// Values in ±[0.5, 1.5], so that `y/x` is well defined.
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let magnitudes = init::uniform(shape, 0.5, 1.5, DType::F64, &mut rng(seed));
    let signs = init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(!seed)).sign();
    magnitudes.mul(&signs)
}

fn ones(shape: &[usize]) -> Var {
    Var::constant(Tensor::ones(shape, DType::F32))
}

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn conformance_in_eval_mode(shape in st::shape(3, 4), p in 0.0..1.0f64, seed in any::<u64>()) {
        Conformance::new("Dropout", &shape)
            .output_shape(&shape)
            .parameters(0)
            .in_eval_mode()
            .seed(seed)
            .check(|r| DropoutConfig::new(p).init(r));
    }

    /// The gradient of a training-mode call is its own mask `m/(1 − p)`: `∂yᵢ/∂xᵢ = yᵢ/xᵢ`.
    #[test]
    fn gradient_is_the_scaled_mask(shape in st::shape_with_rank(1, 3, 5), p in 0.05..0.95f64, seed in any::<u64>()) {
        let dropout = DropoutConfig::new(p).with_seed(seed).init(&mut rng(0));
        let x = Var::new(away_from_zero(&shape, seed));
        let y = dropout.forward(&x);
        let grad = y.sum().backward().get(&x).unwrap().to_vec_f64();
        let scale = 1.0 / (1.0 - p);
        for ((g, y), x) in grad.iter().zip(y.value().to_vec_f64()).zip(x.value().to_vec_f64()) {
            prop_assert!((g - y / x).abs() < 1e-12, "gradient {g}, y/x = {}", y / x);
            prop_assert!(*g == 0.0 || (g - scale).abs() < 1e-12, "gradient {g} is neither 0 nor 1/(1 − p)");
        }
        // Call 0's mask, as `Dropout::mask` states it.
        prop_assert_eq!(grad, dropout.mask(&shape, 0).to_vec_f64());
    }
}

#[test]
fn keeps_one_minus_p_of_the_elements_and_scales_them() {
    for p in [0.1, 0.3, 0.5, 0.8] {
        let dropout = DropoutConfig::new(p).with_seed(1).init(&mut rng(0));
        let y = dropout.forward(&ones(&[200, 500])).value().to_vec_f32();
        let scale = (1.0 / (1.0 - p)) as f32;
        assert!(y.iter().all(|&v| v == 0.0 || v == scale), "p = {p}: entries must be 0 or {scale}");
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        // 100 000 draws: the standard deviation of the kept fraction is below 0.0016.
        assert!((kept - (1.0 - p)).abs() < 0.01, "p = {p}: kept {kept}");
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / y.len() as f64;
        assert!((mean - 1.0).abs() < 0.03, "p = {p}: the mean output {mean} should stay near the input's 1");
    }
}

#[test]
fn evaluation_mode_is_the_identity_and_sequential_passes_it_on() {
    let x = Var::constant(init::uniform(&[3, 7], -1.0, 1.0, DType::F32, &mut rng(0)));
    let mut model = Sequential::new().add(DropoutConfig::new(0.5).init(&mut rng(0)));
    assert_ne!(model.forward(&x).value().to_vec_f32(), x.value().to_vec_f32());
    model.eval();
    assert_eq!(model.forward(&x).value().to_vec_f32(), x.value().to_vec_f32());
    model.train();
    assert_ne!(model.forward(&x).value().to_vec_f32(), x.value().to_vec_f32());
}

#[test]
fn extreme_probabilities() {
    let x = ones(&[4, 4]);
    let zero = DropoutConfig::new(0.0).init(&mut rng(0));
    assert_eq!(zero.forward(&x).value().to_vec_f32(), vec![1.0; 16]);
    let all = DropoutConfig::new(1.0).init(&mut rng(0));
    assert_eq!(all.forward(&x).value().to_vec_f32(), vec![0.0; 16]);
}

#[test]
fn same_seed_same_masks_and_every_call_a_new_mask() {
    let a = DropoutConfig::new(0.5).with_seed(42).init(&mut rng(0));
    let b = DropoutConfig::new(0.5).with_seed(42).init(&mut rng(99));
    let c = DropoutConfig::new(0.5).with_seed(43).init(&mut rng(0));
    let x = ones(&[8, 16]);
    let first = a.forward(&x).value().to_vec_f32();
    assert_eq!(first, b.forward(&x).value().to_vec_f32(), "same seed, same first mask");
    assert_ne!(first, c.forward(&x).value().to_vec_f32(), "another seed, another mask");
    let second = a.forward(&x).value().to_vec_f32();
    assert_ne!(first, second, "each call draws a new mask");
    assert_eq!(second, b.forward(&x).value().to_vec_f32(), "and the sequence repeats");
    assert_eq!(a.calls(), 2);

    // Without `with_seed`, the seed comes from the generator the model is built with.
    let d = DropoutConfig::new(0.5).init(&mut rng(7));
    let e = DropoutConfig::new(0.5).init(&mut rng(7));
    let f = DropoutConfig::new(0.5).init(&mut rng(8));
    assert_eq!(d.seed(), e.seed());
    assert_ne!(d.seed(), f.seed());
}

#[test]
fn a_restored_counter_draws_the_next_mask_of_the_uninterrupted_run() {
    let build = || {
        Sequential::new().add(LinearConfig::new(6, 6).init(&mut rng(5))).add(DropoutConfig::new(0.4).init(&mut rng(5)))
    };
    let x = Var::constant(init::uniform(&[4, 6], -1.0, 1.0, DType::F32, &mut rng(1)));
    let run = build();
    for _ in 0..3 {
        run.forward(&x);
    }
    let checkpoint = to_safetensors_bytes(&run);
    let next = run.forward(&x).value().to_vec_f32();
    let after = run.forward(&x).value().to_vec_f32();

    let resumed = build();
    assert_eq!(resumed.named_tensors().iter().find(|t| t.0.ends_with("calls")).unwrap().0, "1.calls");
    assert!(resumed.named_buffers().is_empty(), "the counter is state, not a buffer");
    let state = state_from_safetensors_bytes(&checkpoint, std::path::Path::new("<memory>")).unwrap();
    assert_eq!(state["1.calls"].to_vec_f64(), vec![3.0]);
    resumed.load_state_dict(&state).unwrap();
    assert_eq!(resumed.forward(&x).value().to_vec_f32(), next);
    assert_eq!(resumed.forward(&x).value().to_vec_f32(), after);

    // A fresh model without the checkpoint starts over at call 0, a different mask.
    assert_ne!(build().forward(&x).value().to_vec_f32(), next);
}

#[test]
fn the_counter_stays_f64_after_a_dtype_conversion() {
    let dropout = DropoutConfig::new(0.5).init(&mut rng(0));
    dropout.to_dtype(DType::F32);
    dropout.forward(&ones(&[2, 2]));
    assert_eq!(dropout.named_tensors()[0].1.dtype(), DType::F64);
    assert_eq!(dropout.calls(), 1);
}

#[test]
#[should_panic(expected = "Dropout: the drop probability p = 1.5 must be in [0, 1]")]
fn p_out_of_range_is_rejected() {
    DropoutConfig::new(1.5);
}
