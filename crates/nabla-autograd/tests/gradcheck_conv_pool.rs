//! Property-based gradient checks of convolution and pooling over random configurations
//! (batch, channels, groups, kernel, stride, padding, dilation), to first and second order.

use nabla_autograd::gradcheck::{check_gradients, check_second_order, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::{init, rng, Conv2dSpec, DType, Pool2dSpec, Tensor};
use proptest::prelude::*;

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(seed))
}

#[derive(Clone, Debug)]
struct ConvCase {
    input: Vec<usize>,
    weight: Vec<usize>,
    spec: Conv2dSpec,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        1usize..3,
        1usize..3,
        1usize..3,
        1usize..3,
        1usize..4,
        1usize..4,
        1usize..3,
        0usize..2,
        1usize..3,
        3usize..7,
        3usize..7,
    )
        .prop_filter_map("kernel must fit", |(n, groups, cin_g, cout_g, kh, kw, stride, pad, dil, h, w)| {
            let spec = Conv2dSpec { stride: [stride, stride], padding: [pad, pad], dilation: [dil, dil], groups };
            spec.output_hw([h, w], [kh, kw])?;
            Some(ConvCase { input: vec![n, groups * cin_g, h, w], weight: vec![groups * cout_g, cin_g, kh, kw], spec })
        })
}

fn pool_case() -> impl Strategy<Value = (Vec<usize>, Pool2dSpec)> {
    (1usize..3, 1usize..3, 1usize..4, 1usize..3, 0usize..2, 3usize..7, 3usize..7).prop_filter_map(
        "window must fit",
        |(n, c, k, stride, pad, h, w)| {
            let spec = Pool2dSpec { kernel: [k, k], stride: [stride, stride], padding: [pad.min(k / 2); 2] };
            spec.output_hw([h, w])?;
            Some((vec![n, c, h, w], spec))
        },
    )
}

/// Input shapes for 2×2 windows with stride 2, the case with its own backward kernel: even and
/// odd planes (an odd last row or column is in no window).
fn pool_2x2_shape() -> impl Strategy<Value = Vec<usize>> {
    (1usize..3, 1usize..3, 2usize..8, 2usize..8).prop_map(|(n, c, h, w)| vec![n, c, h, w])
}

/// Distinct values in a random order: no ties inside a window, so the maximum is
/// differentiable.
fn distinct_values(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut values: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
    use rand::seq::SliceRandom;
    values.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed));
    Tensor::from_f64s(&values, shape, DType::F64)
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn conv2d(case in conv_case(), seed in any::<u64>()) {
        let spec = case.spec;
        let r = check_gradients(|v| v[0].conv2d(&v[1], spec), &[random(&case.input, seed), random(&case.weight, !seed)],
                                Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn conv2d_fused(case in conv_case(), bias in any::<bool>(), relu in any::<bool>(), seed in any::<u64>()) {
        let spec = case.spec;
        let mut inputs = vec![random(&case.input, seed), random(&case.weight, !seed)];
        if bias {
            inputs.push(random(&case.weight[..1], seed ^ 0x5a5a));
        }
        let r = check_gradients(|v| v[0].conv2d_fused(&v[1], v.get(2), relu, spec), &inputs, Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn conv2d_backward_maps(case in conv_case(), seed in any::<u64>()) {
        let spec = case.spec;
        let y_shape = nabla_tensor::Tensor::zeros(&case.input, DType::F64)
            .conv2d(&nabla_tensor::Tensor::zeros(&case.weight, DType::F64), spec).shape().to_vec();
        let (xs, ws) = (case.input.clone(), case.weight.clone());
        let r = check_gradients(move |v| Var::conv2d_backward_input(&v[0], &v[1], &xs, spec),
                                &[random(&y_shape, seed), random(&case.weight, !seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        let r = check_gradients(move |v| Var::conv2d_backward_weight(&v[0], &v[1], &ws, spec),
                                &[random(&case.input, seed), random(&y_shape, !seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn max_pool2d((shape, spec) in pool_case(), seed in any::<u64>()) {
        let r = check_gradients(|v| v[0].max_pool2d(spec), &[distinct_values(&shape, seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn max_pool2d_2x2(shape in pool_2x2_shape(), seed in any::<u64>()) {
        let spec = Pool2dSpec::new([2, 2]);
        let r = check_gradients(|v| v[0].max_pool2d(spec), &[distinct_values(&shape, seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn pooling_backward_maps((shape, spec) in pool_case(), include_pad in any::<bool>(), seed in any::<u64>()) {
        let (out_h, out_w) = { let [h, w] = spec.output_hw([shape[2], shape[3]]).unwrap(); (h, w) };
        let g_shape = [shape[0], shape[1], out_h, out_w];
        let s2 = shape.clone();
        let r = check_gradients(move |v| Var::avg_pool2d_backward(&v[0], &s2, spec, include_pad), &[random(&g_shape, seed)],
                                Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn avg_pool2d((shape, spec) in pool_case(), include_pad in any::<bool>(), seed in any::<u64>()) {
        let r = check_gradients(|v| v[0].avg_pool2d(spec, include_pad), &[random(&shape, seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        let r = check_gradients(|v| v[0].global_avg_pool2d(), &[random(&shape, seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

proptest! {
    #![proptest_config(st::config(8))]

    #[test]
    fn conv2d_second_order(case in conv_case(), seed in any::<u64>()) {
        let spec = case.spec;
        // tanh makes the output non-linear in the weights, so second derivatives are not all zero.
        let r = check_second_order(|v| v[0].conv2d(&v[1], spec).tanh(),
                                   &[random(&case.input, seed), random(&case.weight, !seed)], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn conv2d_fused_second_order(case in conv_case(), relu in any::<bool>(), seed in any::<u64>()) {
        let spec = case.spec;
        let inputs = [random(&case.input, seed), random(&case.weight, !seed), random(&case.weight[..1], seed ^ 0x5a5a)];
        let r = check_second_order(|v| v[0].conv2d_fused(&v[1], Some(&v[2]), relu, spec).tanh(), &inputs,
                                   Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn pooling_second_order((shape, spec) in pool_case(), seed in any::<u64>()) {
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n).map(|i| ((i * 7919 + seed as usize % 97) % n) as f64 / n as f64 + 0.1).collect();
        let x = Tensor::from_f64s(&values, &shape, DType::F64);
        let r = check_second_order(|v| v[0].max_pool2d(spec).square(), std::slice::from_ref(&x), Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        let r = check_second_order(|v| v[0].avg_pool2d(spec, true).square(), &[x], Tolerance::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
