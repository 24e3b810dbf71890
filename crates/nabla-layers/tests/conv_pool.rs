//! Conformance of Conv2d, the pooling layers, Flatten/Reshape and Upsample2d on random
//! configurations (batch, channels, groups, kernel, stride, padding incl. "same", dilation),
//! plus golden values worked out by hand and the panics a wrong input shape gives.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{rng, DType, Tensor};
use proptest::prelude::*;

/// Output size along one axis, written out independently of `Padding::amounts`.
fn expected_size(n: usize, k: usize, stride: usize, dilation: usize, padding: Padding, axis: usize) -> Option<usize> {
    let span = dilation * (k - 1) + 1;
    match padding {
        Padding::Same => Some(n.div_ceil(stride)),
        Padding::Valid => (n >= span).then(|| (n - span) / stride + 1),
        Padding::Explicit(p) => (n + 2 * p[axis] >= span).then(|| (n + 2 * p[axis] - span) / stride + 1),
    }
}

fn padding(max_explicit: [usize; 2]) -> impl Strategy<Value = Padding> {
    prop_oneof![
        Just(Padding::Valid),
        Just(Padding::Same),
        (0..=max_explicit[0], 0..=max_explicit[1]).prop_map(|(a, b)| Padding::Explicit([a, b])),
    ]
}

#[derive(Clone, Debug)]
struct ConvCase {
    input: [usize; 4],
    output: [usize; 4],
    config: Conv2dConfig,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..3, 1usize..3, 1usize..3),
        (1usize..4, 1usize..4, 1usize..3, 1usize..3, 1usize..3, 1usize..3),
        (padding([2, 2]), 2usize..7, 2usize..7, any::<bool>(), any::<bool>()),
    )
        .prop_filter_map(
            "kernel must fit",
            |((batch, groups, cin_g, cout_g), (kh, kw, sh, sw, dh, dw), (padding, h, w, bias, relu))| {
                let oh = expected_size(h, kh, sh, dh, padding, 0)?;
                let ow = expected_size(w, kw, sw, dw, padding, 1)?;
                let config = Conv2dConfig::new(groups * cin_g, groups * cout_g, [kh, kw])
                    .with_stride([sh, sw])
                    .with_padding(padding)
                    .with_dilation([dh, dw])
                    .with_groups(groups)
                    .with_bias(bias)
                    .with_relu(relu)
                    // A window that reads only padding gives exactly the bias; a zero bias would
                    // put that output on ReLU's kink, where finite differences see half a slope.
                    .with_bias_init(Initializer::Uniform { low: 0.1, high: 0.5 });
                Some(ConvCase {
                    input: [batch, groups * cin_g, h, w],
                    output: [batch, groups * cout_g, oh, ow],
                    config,
                })
            },
        )
}

#[derive(Clone, Debug)]
struct PoolCase {
    input: [usize; 4],
    output: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
}

fn pool_case() -> impl Strategy<Value = PoolCase> {
    (1usize..3, 1usize..3, 1usize..4, 1usize..4, 1usize..3, 1usize..3, 2usize..7, 2usize..7)
        .prop_flat_map(|(n, c, kh, kw, sh, sw, h, w)| (Just((n, c, kh, kw, sh, sw, h, w)), padding([kh / 2, kw / 2])))
        .prop_filter_map("window must fit", |((n, c, kh, kw, sh, sw, h, w), padding)| {
            let oh = expected_size(h, kh, sh, 1, padding, 0)?;
            let ow = expected_size(w, kw, sw, 1, padding, 1)?;
            Some(PoolCase { input: [n, c, h, w], output: [n, c, oh, ow], kernel: [kh, kw], stride: [sh, sw], padding })
        })
}

/// A pooling case with pairwise-distinct input values, so no maximum is at a tie.
fn pool_case_with_distinct_input() -> impl Strategy<Value = (PoolCase, Tensor)> {
    pool_case()
        .prop_flat_map(|case| {
            let n = case.input.iter().product();
            (Just(case), st::distinct_values(n))
        })
        .prop_map(|(case, values)| {
            let input = Tensor::from_f64s(&values, &case.input, DType::F64);
            (case, input)
        })
}

proptest! {
    #![proptest_config(st::config(48))]

    #[test]
    fn conv2d(case in conv_case(), seed in any::<u64>()) {
        let c = &case.config;
        let parameters = c.out_channels * (c.in_channels / c.groups) * c.kernel[0] * c.kernel[1]
            + if c.bias { c.out_channels } else { 0 };
        Conformance::new("Conv2d", &case.input)
            .output_shape(&case.output)
            .parameters(parameters)
            .seed(seed)
            .check(|r| case.config.init(r));
    }

    #[test]
    fn max_pool2d((case, input) in pool_case_with_distinct_input()) {
        Conformance::new("MaxPool2d", &case.input)
            .output_shape(&case.output)
            .parameters(0)
            .input(input)
            .check(|_| MaxPool2d::new(case.kernel).with_stride(case.stride).with_padding(case.padding));
    }

    #[test]
    fn avg_pool2d(case in pool_case(), count_include_pad in any::<bool>(), seed in any::<u64>()) {
        Conformance::new("AvgPool2d", &case.input)
            .output_shape(&case.output)
            .parameters(0)
            .seed(seed)
            .check(|_| {
                AvgPool2d::new(case.kernel)
                    .with_stride(case.stride)
                    .with_padding(case.padding)
                    .with_count_include_pad(count_include_pad)
            });
    }
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn global_avg_pool2d(shape in st::shape_with_rank(4, 4, 4), seed in any::<u64>()) {
        Conformance::new("GlobalAvgPool2d", &shape)
            .output_shape(&shape[..2])
            .parameters(0)
            .seed(seed)
            .check(|_| GlobalAvgPool2d);
    }

    #[test]
    fn flatten_and_reshape(shape in st::shape_with_rank(1, 4, 4), split in 0usize..3) {
        let per_sample: usize = shape[1..].iter().product();
        Conformance::new("Flatten", &shape).output_shape(&[shape[0], per_sample]).parameters(0).check(|_| Flatten);
        // Regroup each sample as [a, per_sample / a] for a divisor a.
        let a = (1..=per_sample).filter(|d| per_sample.is_multiple_of(*d)).nth(split).unwrap_or(1);
        let target = [a, per_sample / a];
        Conformance::new("Reshape", &shape)
            .output_shape(&[shape[0], a, per_sample / a])
            .parameters(0)
            .check(|_| Reshape::new(&target));
    }

    #[test]
    fn upsample2d(shape in st::shape_with_rank(4, 4, 3), sh in 1usize..4, sw in 1usize..4, bilinear in any::<bool>()) {
        let mode = if bilinear { UpsampleMode::Bilinear } else { UpsampleMode::Nearest };
        Conformance::new("Upsample2d", &shape)
            .output_shape(&[shape[0], shape[1], sh * shape[2], sw * shape[3]])
            .parameters(0)
            .check(|_| Upsample2d::new([sh, sw]).with_mode(mode));
    }
}

// ---- golden values ----

fn image(values: &[f64], shape: &[usize]) -> Var {
    Var::constant(Tensor::from_f64s(values, shape, DType::F64))
}

/// `1, 2, …, h·w` as a `[1, 1, h, w]` image.
fn counting(h: usize, w: usize) -> Var {
    let values: Vec<f64> = (1..=h * w).map(|v| v as f64).collect();
    image(&values, &[1, 1, h, w])
}

/// A one-channel convolution whose weights are all one (each output sums its window), no bias.
fn summing_conv(kernel: [usize; 2], configure: impl Fn(Conv2dConfig) -> Conv2dConfig) -> Conv2d {
    let config = configure(Conv2dConfig::new(1, 1, kernel).with_bias(false).with_weight_init(Initializer::Ones));
    let layer = config.init(&mut rng(0));
    layer.weight.set_value(layer.weight.value().to_dtype(DType::F64));
    layer
}

#[test]
fn conv2d_same_padding_puts_the_odd_zero_row_at_the_bottom() {
    // 4×4 input, 2×2 kernel, stride 1: one row/column of padding in total, after the input.
    let y = summing_conv([2, 2], |c| c.with_padding(Padding::Same)).forward(&counting(4, 4));
    assert_eq!(y.shape(), vec![1, 1, 4, 4]);
    #[rustfmt::skip]
    let expected = [
        14.0, 18.0, 22.0, 12.0,
        30.0, 34.0, 38.0, 20.0,
        46.0, 50.0, 54.0, 28.0,
        27.0, 29.0, 31.0, 16.0,
    ];
    assert_eq!(y.value().to_vec_f64(), expected);

    // 3×3 kernel, stride 2 on 4×4: ⌈4/2⌉ = 2 outputs, padding (0 before, 1 after) as TensorFlow.
    let y = summing_conv([3, 3], |c| c.with_padding(Padding::Same).with_stride([2, 2])).forward(&counting(4, 4));
    assert_eq!(y.value().to_vec_f64(), [54.0, 45.0, 72.0, 54.0]);

    // 3×3 kernel, stride 2 on 5×5: the padding (1, 1) is symmetric.
    let y = summing_conv([3, 3], |c| c.with_padding(Padding::Same).with_stride([2, 2])).forward(&counting(5, 5));
    assert_eq!(y.value().to_vec_f64(), [16.0, 33.0, 28.0, 69.0, 117.0, 87.0, 76.0, 123.0, 88.0]);
}

#[test]
fn conv2d_dilation_groups_and_bias() {
    // Dilation 2: the 2×2 kernel reads x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2] = 4·x[i+1, j+1].
    let y = summing_conv([2, 2], |c| c.with_dilation([2, 2])).forward(&counting(5, 5));
    assert_eq!(y.value().to_vec_f64(), [28.0, 32.0, 36.0, 48.0, 52.0, 56.0, 68.0, 72.0, 76.0]);

    // Two groups of one channel, 1×1 kernels: channel 0 is doubled, channel 1 tripled, then biased.
    let layer = Conv2dConfig::new(2, 2, [1, 1]).with_groups(2).init(&mut rng(0));
    assert_eq!(layer.weight.shape(), vec![2, 1, 1, 1]);
    layer.weight.set_value(Tensor::from_f64s(&[2.0, 3.0], &[2, 1, 1, 1], DType::F32));
    layer.bias.as_ref().unwrap().set_value(Tensor::from_f64s(&[1.0, -1.0], &[2], DType::F32));
    let x = Var::constant(Tensor::from_f64s(&[1.0, 2.0, 10.0, 20.0], &[1, 2, 1, 2], DType::F32));
    assert_eq!(layer.forward(&x).value().to_vec_f64(), [3.0, 5.0, 29.0, 59.0]);
}

#[test]
fn conv2d_defaults_parameters_and_flops() {
    let layer = Conv2dConfig::new(3, 8, [3, 3]).with_padding(Padding::Same).init(&mut rng(0));
    let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(layer.weight.shape(), vec![8, 3, 3, 3]);
    assert!(layer.bias.as_ref().unwrap().value().to_vec_f64().iter().all(|&b| b == 0.0));
    // Glorot uniform: |w| ≤ √(6 / (27 + 72)).
    let limit = (6.0f64 / (27.0 + 72.0)).sqrt();
    assert!(layer.weight.value().to_vec_f64().iter().all(|w| w.abs() <= limit));
    assert_eq!(layer.flops(&[2, 3, 10, 10], &[2, 8, 10, 10]), 2 * 27 * 2 * 8 * 10 * 10);
    assert_eq!(layer.output_hw([10, 10]), Some([10, 10]));
    assert_eq!(layer.padding_for([10, 10]), [[1, 1], [1, 1]]);
}

#[test]
fn max_pool2d_never_picks_the_padding() {
    // All values negative: a zero padding would win; −∞ padding never does.
    let x = image(&(1..=9).map(|v| -(v as f64)).collect::<Vec<_>>(), &[1, 1, 3, 3]);
    let y = MaxPool2d::new([2, 2]).with_padding(Padding::Same).forward(&x);
    assert_eq!(y.shape(), vec![1, 1, 2, 2]);
    assert_eq!(y.value().to_vec_f64(), [-1.0, -3.0, -7.0, -9.0]);
    let y = MaxPool2d::new([3, 3]).with_stride([1, 1]).with_padding(Padding::Explicit([1, 1])).forward(&x);
    assert_eq!(y.value().to_vec_f64(), [-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -4.0, -4.0, -5.0]);
    // The gradient goes to the maxima only.
    let x = Var::new(Tensor::from_f64s(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0, 6.0], &[1, 1, 3, 3], DType::F64));
    let g = MaxPool2d::new([2, 2]).with_padding(Padding::Same).forward(&x).sum().backward();
    assert_eq!(g.get(&x).unwrap().to_vec_f64(), [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
}

#[test]
fn avg_pool2d_divides_by_real_pixels_unless_asked() {
    let x = counting(3, 3);
    let same = AvgPool2d::new([2, 2]).with_padding(Padding::Same);
    assert_eq!(same.forward(&x).value().to_vec_f64(), [3.0, 4.5, 7.5, 9.0]); // Keras' values
    let y = same.with_count_include_pad(true).forward(&x);
    assert_eq!(y.value().to_vec_f64(), [3.0, 2.25, 3.75, 2.25]);

    let explicit = AvgPool2d::new([2, 2]).with_padding(Padding::Explicit([1, 1]));
    assert_eq!(explicit.forward(&x).value().to_vec_f64(), [1.0, 2.5, 5.5, 7.0]);
    assert_eq!(explicit.with_count_include_pad(true).forward(&x).value().to_vec_f64(), [0.25, 1.25, 2.75, 7.0]);
    assert_eq!(AvgPool2d::new([2, 2]).flops(&[1, 1, 4, 4], &[1, 1, 2, 2]), 16);
}

#[test]
fn global_avg_pool2d_averages_each_channel() {
    let x = image(&[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0], &[1, 2, 2, 2]);
    let y = GlobalAvgPool2d.forward(&x);
    assert_eq!(y.shape(), vec![1, 2]);
    assert_eq!(y.value().to_vec_f64(), [2.5, 25.0]);
}

#[test]
fn flatten_and_reshape_keep_row_major_order() {
    let x = image(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[2, 2, 2]);
    let flat = Flatten.forward(&x);
    assert_eq!(flat.shape(), vec![2, 4]);
    assert_eq!(flat.value().to_vec_f64(), x.value().to_vec_f64());
    assert_eq!(Reshape::new(&[4, 1]).forward(&x).shape(), vec![2, 4, 1]);
    assert_eq!(Flatten.forward(&image(&[1.0, 2.0], &[2])).shape(), vec![2, 1]); // as Keras
}

#[test]
fn upsample2d_nearest_and_bilinear_match_pytorch() {
    let x = image(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    let nearest = Upsample2d::new([2, 2]).forward(&x);
    #[rustfmt::skip]
    let expected = [
        1.0, 1.0, 2.0, 2.0,
        1.0, 1.0, 2.0, 2.0,
        3.0, 3.0, 4.0, 4.0,
        3.0, 3.0, 4.0, 4.0,
    ];
    assert_eq!(nearest.value().to_vec_f64(), expected);

    // torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    let bilinear = Upsample2d::new([2, 2]).with_mode(UpsampleMode::Bilinear).forward(&x);
    #[rustfmt::skip]
    let expected = [
        1.0, 1.25, 1.75, 2.0,
        1.5, 1.75, 2.25, 2.5,
        2.5, 2.75, 3.25, 3.5,
        3.0, 3.25, 3.75, 4.0,
    ];
    assert_eq!(bilinear.value().to_vec_f64(), expected);

    // Different factors per axis: ×3 along the width only.
    let y = Upsample2d::new([1, 3]).with_mode(UpsampleMode::Bilinear).forward(&image(&[1.0, 2.0], &[1, 1, 1, 2]));
    let expected = [1.0, 1.0, 4.0 / 3.0, 5.0 / 3.0, 2.0, 2.0];
    for (got, want) in y.value().to_vec_f64().iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let y = Upsample2d::new([2, 1]).forward(&image(&[1.0, 2.0], &[1, 1, 1, 2]));
    assert_eq!((y.shape().to_vec(), y.value().to_vec_f64()), (vec![1, 1, 2, 2], vec![1.0, 2.0, 1.0, 2.0]));
}

#[test]
fn a_small_cnn_summarises() {
    let mut r = rng(0);
    let model = Sequential::new()
        .add(Conv2dConfig::new(1, 4, [3, 3]).with_padding(Padding::Same).init(&mut r))
        .add(ReLU)
        .add(MaxPool2d::new([2, 2]))
        .add(Conv2dConfig::new(4, 8, [3, 3]).with_stride([2, 2]).with_padding(Padding::Same).init(&mut r))
        .add(Upsample2d::new([2, 2]))
        .add(GlobalAvgPool2d)
        .add(Flatten)
        .add(LinearConfig::new(8, 10).init(&mut r));
    let s = summary(&model, &[1, 1, 28, 28]);
    let shapes: Vec<Vec<usize>> = s.rows.iter().map(|r| r.output_shape.clone()).collect();
    assert_eq!(
        shapes,
        [
            vec![1, 4, 28, 28],
            vec![1, 4, 28, 28],
            vec![1, 4, 14, 14],
            vec![1, 8, 7, 7],
            vec![1, 8, 14, 14],
            vec![1, 8],
            vec![1, 8],
            vec![1, 10]
        ]
    );
    assert_eq!(s.trainable, (4 * 9 + 4) + (8 * 4 * 9 + 8) + (8 * 10 + 10));
    assert_eq!(s.rows[0].flops, 2 * 9 * 4 * 28 * 28);
    assert_eq!(s.rows[3].flops, 2 * 36 * 8 * 7 * 7);
    let text = s.to_string();
    assert!(text.contains("0 (Conv2d)") && text.contains("2 (MaxPool2d)") && text.contains("4 (Upsample2d)"), "{text}");
}

// ---- errors name the layer and the shapes ----

#[test]
#[should_panic(expected = "Conv2d: expected input [n, 3, h, w] but received [2, 4, 8, 8]")]
fn conv2d_rejects_wrong_channels() {
    Conv2dConfig::new(3, 8, [3, 3]).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[2, 4, 8, 8], DType::F32)));
}

#[test]
#[should_panic(expected = "Conv2d: expected input [n, 3, h, w] but received [3, 8, 8]")]
fn conv2d_rejects_a_missing_batch_axis() {
    Conv2dConfig::new(3, 8, [3, 3]).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[3, 8, 8], DType::F32)));
}

#[test]
#[should_panic(expected = "Conv2d: the 5×5 kernel (dilation [1, 1]) does not fit the 4×4 input")]
fn conv2d_rejects_an_input_smaller_than_the_kernel() {
    Conv2dConfig::new(1, 1, [5, 5]).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[1, 1, 4, 4], DType::F32)));
}

#[test]
#[should_panic(expected = "Conv2dConfig: in_channels 3 and out_channels 4 must both be multiples of groups 2")]
fn conv2d_config_rejects_indivisible_groups() {
    Conv2dConfig::new(3, 4, [3, 3]).with_groups(2).init(&mut rng(0));
}

#[test]
#[should_panic(expected = "MaxPool2d: expected input [n, c, h, w] but received [4, 4]")]
fn max_pool2d_rejects_a_matrix() {
    MaxPool2d::new([2, 2]).forward(&Var::constant(Tensor::zeros(&[4, 4], DType::F32)));
}

#[test]
#[should_panic(expected = "AvgPool2d: padding [2, 2] is more than half the 3×3 window")]
fn avg_pool2d_rejects_too_much_padding() {
    AvgPool2d::new([3, 3])
        .with_padding(Padding::Explicit([2, 2]))
        .forward(&Var::constant(Tensor::zeros(&[1, 1, 4, 4], DType::F32)));
}

#[test]
#[should_panic(
    expected = "Reshape: cannot reshape input [2, 12] to [n, 5, 2]: each sample has 12 values but [5, 2] holds 10"
)]
fn reshape_rejects_a_wrong_size() {
    Reshape::new(&[5, 2]).forward(&Var::constant(Tensor::zeros(&[2, 12], DType::F32)));
}

#[test]
#[should_panic(expected = "Upsample2d: expected input [n, c, h, w] but received [1, 2, 2]")]
fn upsample2d_rejects_a_missing_batch_axis() {
    Upsample2d::new([2, 2]).forward(&Var::constant(Tensor::zeros(&[1, 2, 2], DType::F32)));
}
