//! Property-based checks of the fused ops against finite differences and against their
//! composed forms (their oracles): batch and layer normalisation, softmax and log-softmax, GELU,
//! the LSTM cell, the LSTM recurrence over a sequence, scaled dot-product attention and a
//! convolution layer's convolution + bias + ReLU. (The fused dense product `linear` is checked
//! beside `matmul` in `gradcheck_shape.rs`; softmax against finite differences also in
//! `gradcheck_reduce.rs`; `conv2d_fused` against finite differences, to first and second order,
//! in `gradcheck_conv_pool.rs`, with the rest of the convolution family.)

use nabla_autograd::gradcheck::{check_gradients, check_second_order, strategies as st, Tolerance};
use nabla_autograd::{
    attention_composed, batch_norm_composed, conv2d_fused_composed, layer_norm_composed, lstm_cell_composed,
    lstm_sequence_composed, Var,
};
use nabla_tensor::{init, rng, Conv2dSpec, DType, Tensor};
use proptest::prelude::*;

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -2.0, 2.0, DType::F64, &mut rng(seed))
}

/// `[N, C]` or `[N, C, H, W]` with at least two values per channel, and whether `γ`, `β` exist.
fn bn_case() -> impl Strategy<Value = (Vec<usize>, bool, bool, u64)> {
    (2usize..4, 1usize..4, prop::option::of((1usize..3, 1usize..3)), any::<bool>(), any::<bool>(), any::<u64>())
        .prop_map(|(n, c, spatial, w, b, seed)| {
            let shape = match spatial {
                Some((h, w)) => vec![n, c, h, w],
                None => vec![n, c],
            };
            (shape, w, b, seed)
        })
}

fn inputs(shape: &[usize], weight: bool, bias: bool, seed: u64) -> Vec<Tensor> {
    let c = shape[1];
    let mut inputs = vec![random(shape, seed)];
    if weight {
        inputs.push(random(&[c], seed ^ 1));
    }
    if bias {
        inputs.push(random(&[c], seed ^ 2));
    }
    inputs
}

/// `(x, γ, β)` from the inputs list, for the closures below.
fn split(v: &[Var], weight: bool) -> (&Var, Option<&Var>, Option<&Var>) {
    let w = weight.then(|| &v[1]);
    let b = v.get(if weight { 2 } else { 1 });
    (&v[0], w, b)
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn batch_norm_fused((shape, weight, bias, seed) in bn_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            // Multiply by a fixed random tensor so the output is not a sum that BN makes constant.
            x.batch_norm(w, b, 1e-3).0.mul(&Var::constant(random(x.shape(), 99)))
        };
        if let Err(e) = check_gradients(f, &inputs(&shape, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }

    #[test]
    fn batch_norm_equals_composed((shape, weight, bias, seed) in bn_case()) {
        let vars: Vec<Var> = inputs(&shape, weight, bias, seed).into_iter().map(Var::new).collect();
        let (x, w, b) = split(&vars, weight);
        let r = Var::constant(random(&shape, seed ^ 3));
        let (fused, stats) = x.batch_norm(w, b, 1e-5);
        let composed = batch_norm_composed(x, w, b, 1e-5);
        prop_assert!(fused.value().allclose(&composed.value(), 1e-10, 1e-10));
        let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
        prop_assert!(stats.mean.allclose(&x.value().mean_axes(&axes, false), 1e-12, 1e-12));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in &vars {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-9, 1e-9));
        }
    }

    #[test]
    fn batch_norm_second_order((shape, weight, bias, seed) in bn_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            x.batch_norm(w, b, 1e-3).0.tanh()
        };
        if let Err(e) = check_second_order(f, &inputs(&shape, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }
}

/// BatchNorm on feature maps long enough for the kernel's 32 summing lanes (runs of 64 values:
/// whole blocks; runs of 42: a block and a remainder) equals its composed form, values and
/// gradients. The property above draws maps of at most 2×2.
#[test]
fn batch_norm_on_larger_maps_equals_composed() {
    for (shape, seed) in [(vec![3, 2, 8, 8], 41), (vec![2, 3, 6, 7], 42)] {
        let vars: Vec<Var> = inputs(&shape, true, true, seed).into_iter().map(Var::new).collect();
        let (x, w, b) = split(&vars, true);
        let r = Var::constant(random(&shape, seed ^ 3));
        let (fused, _) = x.batch_norm(w, b, 1e-5);
        let composed = batch_norm_composed(x, w, b, 1e-5);
        assert!(fused.value().allclose(&composed.value(), 1e-10, 1e-10), "{shape:?}: values");
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in &vars {
            assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-9, 1e-9), "{shape:?}: gradients");
        }
    }
}

proptest! {
    #![proptest_config(st::config(8))]

    /// The finite-difference check of the fused BatchNorm on feature maps of 32 to 90 values
    /// per image, long enough for the kernel's summing lanes (whole blocks of 32 and a
    /// remainder), which `bn_case`'s maps of at most 2×2 never reach.
    #[test]
    fn batch_norm_fused_on_longer_maps(n in 2usize..4, c in 1usize..3, h in 4usize..10, w in 8usize..10, seed in any::<u64>()) {
        let shape = [n, c, h, w];
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, true);
            x.batch_norm(w, b, 1e-3).0.mul(&Var::constant(random(x.shape(), 99)))
        };
        if let Err(e) = check_gradients(f, &inputs(&shape, true, true, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }
}

fn shape_and_axis() -> impl Strategy<Value = (Vec<usize>, usize, u64)> {
    st::shape_with_rank(1, 4, 4).prop_flat_map(|s| {
        let rank = s.len();
        (Just(s), 0..rank, any::<u64>())
    })
}

proptest! {
    #![proptest_config(st::config(32))]

    #[test]
    fn softmax_and_log_softmax_equal_composed((shape, axis, seed) in shape_and_axis()) {
        let x = Var::new(random(&shape, seed).mul_scalar(3.0));
        let r = Var::constant(random(&shape, seed ^ 1));
        let pairs = [(x.softmax(axis), x.softmax_composed(axis)), (x.log_softmax(axis), x.log_softmax_composed(axis))];
        for (fused, composed) in pairs {
            prop_assert!(fused.value().allclose(&composed.value(), 1e-12, 1e-12));
            let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
            prop_assert!(gf.get(&x).unwrap().allclose(gc.get(&x).unwrap(), 1e-10, 1e-10));
        }
    }

    #[test]
    fn gelu_fused_and_equal_composed(x in st::shape(3, 4).prop_flat_map(st::tensor)) {
        let f = |v: &[Var]| v[0].gelu();
        if let Err(e) = check_gradients(f, std::slice::from_ref(&x), Tolerance::default()) {
            panic!("{e}");
        }
        if let Err(e) = check_second_order(f, std::slice::from_ref(&x), Tolerance::default()) {
            panic!("{e}");
        }
        let v = Var::new(x.mul_scalar(2.0));
        let r = Var::constant(random(v.shape(), 5));
        prop_assert!(v.gelu().value().allclose(&v.gelu_composed().value(), 1e-12, 1e-12));
        let (gf, gc) = (v.gelu().mul(&r).sum().backward(), v.gelu_composed().mul(&r).sum().backward());
        prop_assert!(gf.get(&v).unwrap().allclose(gc.get(&v).unwrap(), 1e-10, 1e-10));
    }

    #[test]
    fn lstm_cell_fused_and_equal_composed(batch in 1usize..4, hidden in 1usize..4, seed in any::<u64>()) {
        let inputs = [random(&[batch, 4 * hidden], seed), random(&[batch, hidden], seed ^ 1)];
        let f = |v: &[Var]| v[0].lstm_cell(&v[1]).mul(&Var::constant(random(&[batch, 2 * hidden], 3)));
        if let Err(e) = check_gradients(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        if let Err(e) = check_second_order(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        let (z, c) = (Var::new(inputs[0].clone()), Var::new(inputs[1].clone()));
        let r = Var::constant(random(&[batch, 2 * hidden], seed ^ 2));
        let (fused, composed) = (z.lstm_cell(&c), lstm_cell_composed(&z, &c));
        prop_assert!(fused.value().allclose(&composed.value(), 1e-12, 1e-12));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in [&z, &c] {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-12, 1e-12));
        }
    }

    #[test]
    fn lstm_sequence_fused_and_equal_composed(
        time in 1usize..4,
        batch in 1usize..4,
        hidden in 1usize..4,
        seed in any::<u64>(),
    ) {
        let inputs = lstm_sequence_inputs(time, batch, hidden, seed);
        let r = random(&[time * batch, 2 * hidden], 3);
        let f = |v: &[Var]| v[0].lstm_sequence(&v[1], &v[2], &v[3]).mul(&Var::constant(r.clone()));
        if let Err(e) = check_gradients(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        if let Err(e) = check_second_order(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        prop_assert!(lstm_sequence_matches_composed(&inputs, 1e-12));
    }

    #[test]
    fn softmax_second_order((shape, axis, seed) in shape_and_axis()) {
        let f = move |v: &[Var]| v[0].softmax(axis).mul(&Var::constant(random(v[0].shape(), 7)));
        if let Err(e) = check_second_order(f, &[random(&shape, seed)], Tolerance::default()) {
            panic!("{e}");
        }
    }
}

/// A shape of rank 1–3 with extents 2–4, how many trailing axes to normalise, whether `γ` and
/// `β` exist, and a seed.
fn ln_case() -> impl Strategy<Value = (Vec<usize>, usize, bool, bool, u64)> {
    prop::collection::vec(2usize..5, 1..4).prop_flat_map(|shape| {
        let rank = shape.len();
        (Just(shape), 1..=rank, any::<bool>(), any::<bool>(), any::<u64>())
    })
}

fn ln_inputs(shape: &[usize], k: usize, weight: bool, bias: bool, seed: u64) -> Vec<Tensor> {
    let normalized = &shape[shape.len() - k..];
    let mut inputs = vec![random(shape, seed)];
    if weight {
        inputs.push(random(normalized, seed ^ 1));
    }
    if bias {
        inputs.push(random(normalized, seed ^ 2));
    }
    inputs
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn layer_norm_fused((shape, k, weight, bias, seed) in ln_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            x.layer_norm(k, w, b, 1e-3).mul(&Var::constant(random(x.shape(), 99)))
        };
        if let Err(e) = check_gradients(f, &ln_inputs(&shape, k, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }

    #[test]
    fn layer_norm_equals_composed((shape, k, weight, bias, seed) in ln_case()) {
        let vars: Vec<Var> = ln_inputs(&shape, k, weight, bias, seed).into_iter().map(Var::new).collect();
        let (x, w, b) = split(&vars, weight);
        let r = Var::constant(random(&shape, seed ^ 3));
        let fused = x.layer_norm(k, w, b, 1e-5);
        let composed = layer_norm_composed(x, k, w, b, 1e-5);
        prop_assert!(fused.value().allclose(&composed.value(), 1e-10, 1e-10));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in &vars {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-9, 1e-9));
        }
    }

    #[test]
    fn layer_norm_second_order((shape, k, weight, bias, seed) in ln_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            x.layer_norm(k, w, b, 1e-3).tanh()
        };
        if let Err(e) = check_second_order(f, &ln_inputs(&shape, k, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }
}

#[test]
fn batch_norm_f32_matches_f64() {
    let x = random(&[8, 3, 5, 5], 7);
    let w = random(&[3], 8);
    let (y64, _) = Var::new(x.clone()).batch_norm(Some(&Var::new(w.clone())), None, 1e-5);
    let (y32, _) = Var::new(x.to_dtype(DType::F32)).batch_norm(Some(&Var::new(w.to_dtype(DType::F32))), None, 1e-5);
    assert!(y32.value().to_dtype(DType::F64).allclose(&y64.value(), 1e-5, 1e-5));
}

/// `Z [T·B, 4H]`, `W_hh [4H, H]`, `h₋₁`, `c₋₁ [B, H]`.
fn lstm_sequence_inputs(time: usize, batch: usize, hidden: usize, seed: u64) -> Vec<Tensor> {
    let shapes = [[time * batch, 4 * hidden], [4 * hidden, hidden], [batch, hidden], [batch, hidden]];
    shapes.iter().enumerate().map(|(k, s)| random(s, seed ^ k as u64).mul_scalar(0.5)).collect()
}

/// Whether the fused recurrence and its composed form agree within `tol` in values and in the
/// gradients of all four inputs.
fn lstm_sequence_matches_composed(inputs: &[Tensor], tol: f64) -> bool {
    let v: Vec<Var> = inputs.iter().map(|t| Var::new(t.clone())).collect();
    let (fused, composed) =
        (v[0].lstm_sequence(&v[1], &v[2], &v[3]), lstm_sequence_composed(&v[0], &v[1], &v[2], &v[3]));
    let r = Var::constant(random(fused.shape(), 11));
    let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
    fused.value().allclose(&composed.value(), tol, tol)
        && v.iter().all(|p| gf.get(p).unwrap().allclose(gc.get(p).unwrap(), tol, tol))
}

#[test]
fn lstm_sequence_split_over_threads_equals_composed() {
    // Large enough for one block of batch rows per thread (at 48 units a step's product is
    // 8·192·48 multiply-adds, above the kernel's threshold).
    let inputs = lstm_sequence_inputs(4, 8, 48, 5);
    assert!(lstm_sequence_matches_composed(&inputs, 1e-11));
    // At 64 units (f64) 4H is a power of two of 2 KiB, so W_hhᵀ's rows are padded.
    let inputs = lstm_sequence_inputs(3, 4, 64, 6);
    assert!(lstm_sequence_matches_composed(&inputs, 1e-11));
}

#[test]
fn lstm_sequence_with_no_steps_has_zero_gradients() {
    let inputs = lstm_sequence_inputs(0, 3, 4, 7);
    let v: Vec<Var> = inputs.into_iter().map(Var::new).collect();
    let grads = v[0].lstm_sequence(&v[1], &v[2], &v[3]).sum().backward();
    assert_eq!(grads.get(&v[0]).unwrap().shape(), &[0, 16]);
    for p in &v[1..] {
        assert!(grads.get(p).unwrap().to_vec_f64().iter().all(|&g| g == 0.0));
    }
}

/// `(q, k, v)` shapes `[.., tq, d]`, `[.., tk, d]`, `[.., tk, dv]` with 0–2 leading axes, a
/// scale, whether causal, and a seed.
#[allow(clippy::type_complexity)]
fn attention_case() -> impl Strategy<Value = ([Vec<usize>; 3], f64, bool, u64)> {
    (
        prop::collection::vec(1usize..3, 0..3),
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..4,
        0.2f64..1.5,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(lead, tq, tk, d, dv, scale, causal, seed)| {
            let with = |a: usize, b: usize| lead.iter().copied().chain([a, b]).collect::<Vec<_>>();
            ([with(tq, d), with(tk, d), with(tk, dv)], scale, causal, seed)
        })
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn attention_fused_and_equal_composed((shapes, scale, causal, seed) in attention_case()) {
        let inputs: Vec<Tensor> = shapes.iter().enumerate().map(|(i, s)| random(s, seed ^ i as u64)).collect();
        let mut out_shape = shapes[0].clone();
        *out_shape.last_mut().unwrap() = *shapes[2].last().unwrap();
        let r = random(&out_shape, seed ^ 7);
        let f = |v: &[Var]| v[0].attention(&v[1], &v[2], scale, causal).mul(&Var::constant(r.clone()));
        if let Err(e) = check_gradients(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        if let Err(e) = check_second_order(f, &inputs, Tolerance::default()) {
            panic!("{e}");
        }
        let v: Vec<Var> = inputs.iter().map(|t| Var::new(t.clone())).collect();
        let (fused, composed) = (v[0].attention(&v[1], &v[2], scale, causal), attention_composed(&v[0], &v[1], &v[2], scale, causal));
        prop_assert!(fused.value().allclose(&composed.value(), 1e-12, 1e-12));
        let rv = Var::constant(r.clone());
        let (gf, gc) = (fused.mul(&rv).sum().backward(), composed.mul(&rv).sum().backward());
        for p in &v {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-12, 1e-12));
        }
    }
}

/// A convolution with random batch, channels, groups, kernel, stride and padding, whether it
/// has a bias and a ReLU, and a seed.
fn conv_fused_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Conv2dSpec, bool, bool, u64)> {
    let sizes = (1usize..3, 1usize..3, 1usize..3, 1usize..3, 1usize..4, 1usize..3, 0usize..2, 3usize..7);
    (sizes, any::<bool>(), any::<bool>(), any::<u64>()).prop_filter_map(
        "kernel must fit",
        |((n, groups, cin_g, cout_g, k, stride, pad, hw), bias, relu, seed)| {
            let spec = Conv2dSpec { stride: [stride, stride], padding: [pad, pad], dilation: [1, 1], groups };
            spec.output_hw([hw, hw], [k, k])?;
            Some((vec![n, groups * cin_g, hw, hw], vec![groups * cout_g, cin_g, k, k], spec, bias, relu, seed))
        },
    )
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn conv2d_fused_equals_composed((x_shape, w_shape, spec, bias, relu, seed) in conv_fused_case()) {
        let x = Var::new(random(&x_shape, seed));
        let w = Var::new(random(&w_shape, seed ^ 1));
        let b = Var::new(random(&w_shape[..1], seed ^ 2));
        let b = bias.then_some(&b);
        let (fused, composed) = (x.conv2d_fused(&w, b, relu, spec), conv2d_fused_composed(&x, &w, b, relu, spec));
        prop_assert!(fused.value().allclose(&composed.value(), 1e-12, 1e-12));
        let r = Var::constant(random(fused.shape(), seed ^ 3));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for v in [Some(&x), Some(&w), b].into_iter().flatten() {
            prop_assert!(gf.get(v).unwrap().allclose(gc.get(v).unwrap(), 1e-10, 1e-10));
        }
    }
}
