//! ConvTranspose2d: conformance on random configurations (groups, stride, padding, output
//! padding, dilation), agreement with a textbook scatter loop, the output-size formula against
//! PyTorch's, the adjoint identity `⟨conv2d(z, W), x⟩ = ⟨z, conv_transpose2d(x, W)⟩` shown
//! with a `Conv2d` and a `ConvTranspose2d` sharing one weight, parameter counts, and errors.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

/// The settings of one random case, with its input shape.
#[derive(Clone, Debug)]
struct Case {
    input: [usize; 4],
    config: ConvTranspose2dConfig,
}

impl Case {
    /// PyTorch's formula, `(in − 1)·s − 2p + d·(k − 1) + op + 1`, if positive.
    fn output(&self) -> Option<[usize; 4]> {
        let c = &self.config;
        let axis = |a: usize| {
            let full =
                (self.input[2 + a] - 1) * c.stride[a] + c.dilation[a] * (c.kernel[a] - 1) + c.output_padding[a] + 1;
            full.checked_sub(2 * c.padding[a]).filter(|&n| n > 0)
        };
        Some([self.input[0], c.out_channels, axis(0)?, axis(1)?])
    }

    fn parameters(&self) -> usize {
        let c = &self.config;
        c.in_channels * (c.out_channels / c.groups) * c.kernel[0] * c.kernel[1]
            + if c.bias { c.out_channels } else { 0 }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..3, 1usize..3, 1usize..3, 1usize..4, 1usize..4),
        (1usize..4, 1usize..4, 1usize..3, 1usize..3, 0usize..3, 0usize..3),
        (0usize..3, 0usize..3, 1usize..4, 1usize..4, any::<bool>()),
    )
        .prop_filter_map(
            "output padding below stride or dilation, output not cropped away",
            |((batch, groups, cin_g, cout_g, h, w), (kh, kw, sh, sw, ph, pw), (oph, opw, dh, dw, bias))| {
                if oph >= sh.max(dh) || opw >= sw.max(dw) {
                    return None;
                }
                let config = ConvTranspose2dConfig::new(groups * cin_g, groups * cout_g, [kh, kw])
                    .with_stride([sh, sw])
                    .with_padding([ph, pw])
                    .with_output_padding([oph, opw])
                    .with_dilation([dh, dw])
                    .with_groups(groups)
                    .with_bias(bias);
                let case = Case { input: [batch, groups * cin_g, h, w], config };
                case.output().map(|_| case)
            },
        )
}

/// The definition, as loops: every input pixel scatters `x · W` onto the output window it
/// lands on (positions cropped by the padding dropped), then the bias is added.
fn scatter_reference(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    c: &ConvTranspose2dConfig,
    out: [usize; 4],
) -> Vec<f64> {
    let [n, c_in, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [_, c_out, oh, ow] = out;
    let (cin_g, cout_g) = (c_in / c.groups, c_out / c.groups);
    let mut y = vec![0.0; n * c_out * oh * ow];
    for b in 0..n {
        for ci in 0..c_in {
            let g = ci / cin_g;
            for i in 0..h {
                for j in 0..w {
                    let xv = x.get(&[b, ci, i, j]);
                    for o in 0..cout_g {
                        for p in 0..c.kernel[0] {
                            for q in 0..c.kernel[1] {
                                let r = (i * c.stride[0] + p * c.dilation[0]) as isize - c.padding[0] as isize;
                                let s = (j * c.stride[1] + q * c.dilation[1]) as isize - c.padding[1] as isize;
                                if r < 0 || s < 0 || r as usize >= oh || s as usize >= ow {
                                    continue;
                                }
                                let oc = g * cout_g + o;
                                y[((b * c_out + oc) * oh + r as usize) * ow + s as usize] +=
                                    xv * weight.get(&[ci, o, p, q]);
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(bias) = bias {
        for (k, v) in y.iter_mut().enumerate() {
            *v += bias.get(&[(k / (oh * ow)) % c_out]);
        }
    }
    y
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_vec_f64().iter().zip(b.to_vec_f64()).map(|(x, y)| x * y).sum()
}

proptest! {
    #![proptest_config(st::config(48))]

    #[test]
    fn conv_transpose2d(case in case(), seed in any::<u64>()) {
        Conformance::new("ConvTranspose2d", &case.input)
            .output_shape(&case.output().unwrap())
            .parameters(case.parameters())
            .seed(seed)
            .check(|r| case.config.init(r));
    }

    /// The layer equals the scatter loop (random weights and bias, not just zeros).
    #[test]
    fn matches_the_scatter_loop(case in case(), seed in any::<u64>()) {
        let config = case.config.clone().with_dtype(DType::F64);
        let layer = config.with_bias_init(Initializer::Uniform { low: -1.0, high: 1.0 }).init(&mut rng(seed));
        let x = init::uniform(&case.input, -1.0, 1.0, DType::F64, &mut rng(!seed));
        let y = layer.forward(&Var::constant(x.clone())).value();
        let out = case.output().unwrap();
        prop_assert_eq!(y.shape(), out.as_slice());
        prop_assert_eq!(layer.output_hw([case.input[2], case.input[3]]), Some([out[2], out[3]]));
        let bias = layer.bias.as_ref().map(|b| b.value());
        let expected = scatter_reference(&x, &layer.weight.value(), bias.as_ref(), &case.config, out);
        for (got, want) in y.to_vec_f64().iter().zip(&expected) {
            prop_assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    /// `Conv2d(c_out → c_in)` with the same kernel, stride, padding, dilation and groups takes a
    /// weight of exactly the transposed layer's shape, and the two are adjoint:
    /// `⟨conv2d(z, W), x⟩ = ⟨z, conv_transpose2d(x, W)⟩`.
    #[test]
    fn is_the_adjoint_of_conv2d(case in case(), seed in any::<u64>()) {
        let c = &case.config;
        let transposed = c.clone().with_bias(false).with_dtype(DType::F64).init(&mut rng(seed));
        let conv = Conv2dConfig::new(c.out_channels, c.in_channels, c.kernel)
            .with_stride(c.stride)
            .with_padding(Padding::Explicit(c.padding))
            .with_dilation(c.dilation)
            .with_groups(c.groups)
            .with_bias(false)
            .init(&mut rng(0));
        prop_assert_eq!(conv.weight.shape(), transposed.weight.shape());
        conv.weight.set_value(transposed.weight.value());
        let x = init::uniform(&case.input, -1.0, 1.0, DType::F64, &mut rng(!seed));
        let z = init::uniform(&case.output().unwrap(), -1.0, 1.0, DType::F64, &mut rng(seed ^ 7));
        let conv_z = conv.forward(&Var::constant(z.clone())).value();
        // With output_padding ≥ stride the convolution has extra rows (columns) the transposed
        // layer treats as zeros: compare over the input's extent.
        let conv_z = conv_z.narrow(2, 0, case.input[2]).narrow(3, 0, case.input[3]);
        let lhs = dot(&conv_z, &x);
        let rhs = dot(&z, &transposed.forward(&Var::constant(x)).value());
        prop_assert!((lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }
}

#[test]
fn output_size_follows_pytorch() {
    // (in, kernel, stride, padding, output_padding, dilation) → out, by PyTorch's formula.
    let cases = [
        (5, 3, 1, 0, 0, 1, 7),  // stride 1, no padding: in + k − 1 ("full" convolution)
        (5, 3, 1, 1, 0, 1, 5),  // padding 1 undoes it: the shape is kept
        (7, 3, 2, 1, 1, 1, 14), // doubles 7 → 14 (the adjoint of a stride-2 "same" conv)
        (6, 3, 2, 1, 1, 1, 12), // torch docs: Conv2d(3, stride=2, padding=1) 12 → 6, back with output_size 12
        (4, 4, 2, 1, 0, 1, 8),  // DCGAN's 4×4, stride 2, padding 1 upsampler
        (3, 2, 3, 0, 2, 1, 10), // stride 3, output padding 2
        (3, 3, 1, 0, 1, 2, 8),  // output padding 1 < dilation 2 (stride 1)
        (1, 1, 1, 0, 0, 1, 1),
    ];
    for (n, k, s, p, op, d, expected) in cases {
        let layer = ConvTranspose2dConfig::new(1, 1, [k, k])
            .with_stride([s, s])
            .with_padding([p, p])
            .with_output_padding([op, op])
            .with_dilation([d, d])
            .init(&mut rng(0));
        assert_eq!(layer.output_hw([n, n]), Some([expected, expected]), "{:?}", (n, k, s, p, op, d));
        let y = layer.forward(&Var::constant(Tensor::zeros(&[1, 1, n, n], DType::F32)));
        assert_eq!(y.shape(), vec![1, 1, expected, expected]);
    }
    // Rectangular: height and width follow their own settings.
    let layer = ConvTranspose2dConfig::new(2, 4, [3, 2]).with_stride([2, 1]).with_padding([1, 0]).init(&mut rng(0));
    assert_eq!(layer.output_hw([5, 6]), Some([9, 7]));
    assert_eq!(layer.output_hw([1, 1]), Some([1, 2]));
    assert_eq!(ConvTranspose2dConfig::new(1, 1, [1, 1]).with_padding([1, 1]).init(&mut rng(0)).output_hw([2, 2]), None);
}

#[test]
fn scatters_a_kernel_per_pixel_by_hand() {
    // One 2×2 input, a 2×2 kernel [[1, 2], [3, 4]], stride 2: four non-overlapping copies.
    let layer = ConvTranspose2dConfig::new(1, 1, [2, 2]).with_stride([2, 2]).with_bias(false).init(&mut rng(0));
    layer.weight.set_value(Tensor::from_f64s(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2], DType::F32));
    let x = Var::constant(Tensor::from_f64s(&[1.0, 10.0, 100.0, 1000.0], &[1, 1, 2, 2], DType::F32));
    #[rustfmt::skip]
    let expected = [
        1.0, 2.0, 10.0, 20.0,
        3.0, 4.0, 30.0, 40.0,
        100.0, 200.0, 1000.0, 2000.0,
        300.0, 400.0, 3000.0, 4000.0,
    ];
    assert_eq!(layer.forward(&x).value().to_vec_f64(), expected);

    // Stride 1: the copies overlap and add; padding 1 crops the border.
    let layer = ConvTranspose2dConfig::new(1, 1, [2, 2]).with_bias(false).init(&mut rng(0));
    layer.weight.set_value(Tensor::ones(&[1, 1, 2, 2], DType::F32));
    let x = Var::constant(Tensor::ones(&[1, 1, 2, 2], DType::F32));
    assert_eq!(layer.forward(&x).value().to_vec_f64(), [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    let cropped = ConvTranspose2dConfig::new(1, 1, [2, 2]).with_padding([1, 1]).with_bias(false).init(&mut rng(0));
    cropped.weight.set_value(Tensor::ones(&[1, 1, 2, 2], DType::F32));
    assert_eq!(cropped.forward(&x).value().to_vec_f64(), [4.0]);
}

/// `output_padding ≥ stride` (allowed below the dilation): the convolution of the output size
/// has more rows than the input, which the layer pads with zeros before taking the adjoint.
#[test]
fn output_padding_beyond_the_stride_matches_the_scatter_loop() {
    let config = ConvTranspose2dConfig::new(2, 2, [3, 2])
        .with_dilation([3, 2])
        .with_stride([1, 2])
        .with_padding([1, 1])
        .with_output_padding([2, 1])
        .with_dtype(DType::F64)
        .with_bias_init(Initializer::Constant(0.5));
    let layer = config.init(&mut rng(1));
    let x = init::uniform(&[2, 2, 3, 4], -1.0, 1.0, DType::F64, &mut rng(2));
    let y = layer.forward(&Var::constant(x.clone())).value();
    // h: 2·1 − 2 + 3·2 + 2 + 1 = 9;  w: 3·2 − 2 + 2·1 + 1 + 1 = 8.
    assert_eq!(y.shape(), [2, 2, 9, 8]);
    let expected =
        scatter_reference(&x, &layer.weight.value(), Some(&Tensor::full(&[2], 0.5, DType::F64)), &config, [2, 2, 9, 8]);
    let got = y.to_vec_f64();
    assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?}\n{expected:?}");
}

#[test]
fn parameters_match_pytorch() {
    // nn.ConvTranspose2d(16, 33, (3, 5), groups=1): weight [16, 33, 3, 5] + bias 33.
    let layer = ConvTranspose2dConfig::new(16, 33, [3, 5]).init(&mut rng(0));
    assert_eq!(layer.weight.shape(), vec![16, 33, 3, 5]);
    assert_eq!(layer.num_parameters(), 16 * 33 * 15 + 33);
    // groups = 4: weight [8, 12/4, 2, 2] + bias 12.
    let grouped = ConvTranspose2dConfig::new(8, 12, [2, 2]).with_groups(4).init(&mut rng(0));
    assert_eq!(grouped.weight.shape(), vec![8, 3, 2, 2]);
    assert_eq!((grouped.num_parameters(), grouped.in_channels(), grouped.out_channels()), (8 * 3 * 4 + 12, 8, 12));
    let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(
        ConvTranspose2dConfig::new(16, 33, [3, 5]).with_bias(false).init(&mut rng(0)).num_parameters(),
        16 * 33 * 15
    );
    // Each input pixel is scattered through c_out/groups · kh · kw taps.
    assert_eq!(grouped.flops(&[2, 8, 5, 5], &[2, 12, 6, 6]), 2 * 12 * (2 * 8 * 5 * 5));
}

#[test]
#[should_panic(
    expected = "ConvTranspose2dConfig: output_padding [2, 0] must be smaller than the stride [2, 2] or the dilation [1, 1]"
)]
fn output_padding_must_be_below_stride_or_dilation() {
    ConvTranspose2dConfig::new(1, 1, [3, 3]).with_stride([2, 2]).with_output_padding([2, 0]).init(&mut rng(0));
}

#[test]
#[should_panic(expected = "ConvTranspose2d: expected input [n, 3, h, w] but received [2, 4, 5, 5]")]
fn rejects_wrong_channels() {
    ConvTranspose2dConfig::new(3, 2, [3, 3])
        .init(&mut rng(0))
        .forward(&Var::constant(Tensor::zeros(&[2, 4, 5, 5], DType::F32)));
}

#[test]
#[should_panic(expected = "ConvTranspose2d: padding [2, 2] crops the whole output of the 1×1 input of [1, 1, 1, 1]")]
fn rejects_padding_that_crops_everything() {
    ConvTranspose2dConfig::new(1, 1, [3, 3])
        .with_padding([2, 2])
        .init(&mut rng(0))
        .forward(&Var::constant(Tensor::zeros(&[1, 1, 1, 1], DType::F32)));
}

#[test]
#[should_panic(expected = "ConvTranspose2dConfig: in_channels 3 and out_channels 4 must both be multiples of groups 2")]
fn rejects_indivisible_groups() {
    ConvTranspose2dConfig::new(3, 4, [3, 3]).with_groups(2).init(&mut rng(0));
}
