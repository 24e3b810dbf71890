//! The direct kernels against im2col in `f64`, and the rules that choose between them.

use super::*;
use crate::{Conv2dSpec, DType, Tensor};
use proptest::prelude::*;

/// Every instruction set this CPU runs (on a machine with AVX-512, both).
fn isas() -> Vec<Isa> {
    let mut isas = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            isas.push(Isa::Avx512);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            isas.push(Isa::Avx2);
        }
    }
    isas
}

fn sample(shape: &[usize], seed: u64) -> Tensor {
    crate::init::uniform(shape, -1.0, 1.0, DType::F32, &mut crate::rng(seed))
}

/// The largest difference from the `f64` values, relative to the largest of them (at least 1).
fn off_by(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max) / scale
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The direct kernels for random stride-1 shapes (whether or not they would be chosen),
    /// against im2col in `f64`: the weight gradient on every instruction set; with AVX-512
    /// the forward pass with every epilogue and the input gradient, by pixel lanes and by
    /// filter lanes.
    #[test]
    fn direct_matches_im2col(
        batch in 2usize..12, c_in in 1usize..12, c_out in 1usize..20,
        h in 1usize..14, w in 1usize..14, kh in 1usize..5, kw in 1usize..5,
        ph in 0usize..3, pw in 0usize..3, bias in any::<bool>(), relu in any::<bool>(), seed in 0u64..1000,
    ) {
        let spec = Conv2dSpec { padding: [ph, pw], ..Conv2dSpec::default() };
        let Some(out_hw) = spec.output_hw([h, w], [kh, kw]) else { return Ok(()) };
        let x = sample(&[batch, c_in, h, w], seed);
        let wt = sample(&[c_out, c_in, kh, kw], seed + 1);
        let b = sample(&[c_out], seed + 2);
        let g = sample(&[batch, c_out, out_hw[0], out_hw[1]], seed + 3);
        let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
        let want_y = f64_of(&x).conv2d_fused(&f64_of(&wt), bias.then(|| f64_of(&b)).as_ref(), relu, spec).to_vec_f64();
        let want_dx = Tensor::conv2d_backward_input(&f64_of(&g), &f64_of(&wt), x.shape(), spec).to_vec_f64();
        let want_dw = Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&g), wt.shape(), spec).to_vec_f64();
        let geo = Geometry::check("test", x.shape(), wt.shape(), spec, &[]).unwrap();
        let (xs, ws, bs, gs) = (x.to_vec_f32(), wt.to_vec_f32(), b.to_vec_f32(), g.to_vec_f32());
        for isa in isas() {
            let epilogue = Epilogue { bias: bias.then_some(&bs[..]), relu };
            let dw = weight_gradient(isa, &forward_plan(&geo), &xs, &gs);
            prop_assert!(off_by(&dw, &want_dw) < 1e-5, "{isa:?} weight gradient off by {}", off_by(&dw, &want_dw));
            // With AVX2 the convolution and its input gradient stay on im2col.
            #[cfg(target_arch = "x86_64")]
            if isa != Isa::Avx512 {
                continue;
            }
            let y = forward(isa, &forward_plan(&geo), &xs, &ws, epilogue);
            prop_assert!(off_by(&y, &want_y) < 1e-5, "{isa:?} forward off by {}", off_by(&y, &want_y));
            #[cfg(target_arch = "x86_64")]
            {
                let (c_in, weight) = (geo.c_in, |k: usize, c: usize, p: usize, q: usize| ws[((k * geo.c_in + c) * kh + p) * kw + q]);
                // SAFETY: `isa` (AVX-512 here) was detected on this CPU.
                let y = unsafe { correlate_by_filters(&forward_plan(&geo), &xs, weight, epilogue) };
                prop_assert!(off_by(&y, &want_y) < 1e-5, "filter lanes: forward off by {}", off_by(&y, &want_y));
                if let Some(plan) = backward_input_plan(&geo) {
                    let flipped = |c: usize, k: usize, p: usize, q: usize| ws[((k * c_in + c) * kh + (kh - 1 - p)) * kw + (kw - 1 - q)];
                    // SAFETY: as above.
                    let dx = unsafe { correlate_by_filters(&plan, &gs, flipped, Epilogue { bias: None, relu: false }) };
                    prop_assert!(off_by(&dx, &want_dx) < 1e-5, "filter lanes: input gradient off by {}", off_by(&dx, &want_dx));
                }
            }
            if let Some(plan) = backward_input_plan(&geo) {
                let dx = backward_input(isa, &plan, &gs, &ws);
                prop_assert!(off_by(&dx, &want_dx) < 1e-5, "{isa:?} input gradient off by {}", off_by(&dx, &want_dx));
            }
            prop_assert_eq!(backward_input_plan(&geo).is_none(), ph >= kh || pw >= kw);
        }
    }
}

/// A CIFAR ResNet block's shapes take the direct road through the public ops (on a CPU
/// with AVX-512; the weight gradient also with AVX2) and agree with `f64`, which takes im2col.
#[test]
#[cfg(target_arch = "x86_64")]
fn resnet_shapes_take_the_direct_road() {
    let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
    let (x, w, b) = (sample(&[3, 16, 32, 32], 1), sample(&[16, 16, 3, 3], 2), sample(&[16], 3));
    let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
    if let Some(isa) = applies::<f32>(&geo) {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        assert_eq!(correlate_worth_it(isa, &forward_plan(&geo)), avx512);
        assert_eq!(correlate_worth_it(isa, &backward_input_plan(&geo).unwrap()), avx512);
        assert!(worth_it(isa, &forward_plan(&geo)), "the weight gradient");
    }
    let y = forward_and_input_gradient_match_f64(&x, &w, &b, true, spec);
    let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
    let dw = Tensor::conv2d_backward_weight(&x, &y, w.shape(), spec);
    let want = Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&y), w.shape(), spec).to_vec_f64();
    assert!(off_by(&dw.to_vec_f32(), &want) < 1e-5);
}

/// An MNIST CNN's second convolution (unpadded 13×13, 32 channels to 64) takes the
/// filter-lane road forward (on a CPU with AVX-512) and agrees with `f64`.
#[test]
#[cfg(target_arch = "x86_64")]
fn unpadded_small_images_take_the_filter_lanes() {
    let (x, w, b) = (sample(&[3, 32, 13, 13], 4), sample(&[64, 32, 3, 3], 5), sample(&[64], 6));
    let spec = Conv2dSpec::default();
    let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
    if let Some(isa) = applies::<f32>(&geo) {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        assert_eq!(filter_lanes_suit(isa, &forward_plan(&geo)), avx512);
        assert!(!filter_lanes_suit(isa, &backward_input_plan(&geo).unwrap()), "32 filters: im2col");
    }
    let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
    let y = x.conv2d_fused(&w, Some(&b), true, spec);
    let want = f64_of(&x).conv2d_fused(&f64_of(&w), Some(&f64_of(&b)), true, spec).to_vec_f64();
    assert!(off_by(&y.to_vec_f32(), &want) < 1e-5);
}

/// CIFAR's 8×8 stage (64 channels to 64, padding 1) takes the filter lanes forward and for the
/// input gradient (with AVX-512: 576 taps per filter, the most they take) and agrees with `f64`.
#[test]
#[cfg(target_arch = "x86_64")]
fn cifar_last_stage_takes_the_filter_lanes() {
    let (x, w, b) = (sample(&[3, 64, 8, 8], 14), sample(&[64, 64, 3, 3], 15), sample(&[64], 16));
    let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
    let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
    if let Some(isa) = applies::<f32>(&geo) {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        assert_eq!(filter_lanes_suit(isa, &forward_plan(&geo)), avx512);
        assert_eq!(filter_lanes_suit(isa, &backward_input_plan(&geo).unwrap()), avx512);
    }
    forward_and_input_gradient_match_f64(&x, &w, &b, false, spec);
}

/// Asserts that `x.conv2d_fused(w, b, relu)` and the input gradient of the convolution (for
/// the output as gradient) agree with the same ops in `f64` (which take im2col); returns the
/// output.
fn forward_and_input_gradient_match_f64(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool, spec: Conv2dSpec) -> Tensor {
    let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
    let y = x.conv2d_fused(w, Some(b), relu, spec);
    let want = f64_of(x).conv2d_fused(&f64_of(w), Some(&f64_of(b)), relu, spec).to_vec_f64();
    assert!(off_by(&y.to_vec_f32(), &want) < 1e-5, "forward off by {}", off_by(&y.to_vec_f32(), &want));
    let dx = Tensor::conv2d_backward_input(&y, w, x.shape(), spec);
    let want = Tensor::conv2d_backward_input(&f64_of(&y), &f64_of(w), x.shape(), spec).to_vec_f64();
    assert!(off_by(&dx.to_vec_f32(), &want) < 1e-5, "input gradient off by {}", off_by(&dx.to_vec_f32(), &want));
    y
}

/// The weight gradient taken in several passes, on every instruction set against im2col in
/// `f64`: 32×32 images have more positions than one pass holds (AVX-512: 3 passes an image,
/// AVX2: 2), and chunks of three 20×20 images make passes that span images.
#[test]
fn weight_gradients_in_several_passes_match_im2col() {
    let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
    for (batch, c_in, hw) in [(3, 16, 32), (17, 8, 20)] {
        let (x, g) = (sample(&[batch, c_in, hw, hw], 11), sample(&[batch, 16, hw, hw], 12));
        let w_shape = [16, c_in, 3, 3];
        let geo = Geometry::check("test", x.shape(), &w_shape, spec, &[]).unwrap();
        let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
        let want = Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&g), &w_shape, spec).to_vec_f64();
        for isa in isas() {
            let dw = weight_gradient(isa, &forward_plan(&geo), &x.to_vec_f32(), &g.to_vec_f32());
            assert!(off_by(&dw, &want) < 1e-5, "{isa:?} {batch}x{c_in}x{hw}x{hw}: off by {}", off_by(&dw, &want));
        }
    }
}

/// The direct kernels are right over work buffers full of NaN left by an earlier user (each
/// kernel must write every element it later reads, zeros included, before reading it), and
/// give the same bits on one thread and on three.
#[test]
#[cfg(target_arch = "x86_64")]
fn same_bits_on_any_thread_count_and_over_stale_buffers() {
    let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
    let (x, w, g) = (sample(&[6, 16, 32, 32], 10), sample(&[16, 16, 3, 3], 11), sample(&[6, 16, 32, 32], 12));
    let (x2, w2) = (sample(&[5, 32, 13, 13], 13), sample(&[64, 32, 3, 3], 14));
    let run = || {
        [
            x.conv2d(&w, spec).to_vec_f32(),
            Tensor::conv2d_backward_input(&g, &w, x.shape(), spec).to_vec_f32(),
            Tensor::conv2d_backward_weight(&x, &g, w.shape(), spec).to_vec_f32(),
            x2.conv2d(&w2, Conv2dSpec::default()).to_vec_f32(),
        ]
    };
    let poisoned = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            // Fill every worker's scratch pool with large NaN buffers.
            pool.broadcast(|_| {
                let mut buffers: Vec<Scratch<f32>> = (0..4).map(|_| Scratch::new(1 << 20)).collect();
                buffers.iter_mut().for_each(|b| b.fill(f32::NAN));
            });
            run()
        })
    };
    let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
    assert!(applies::<f32>(&geo).is_some_and(|isa| worth_it(isa, &forward_plan(&geo))), "takes the direct road");
    let one = poisoned(1);
    let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
    let want = [
        f64_of(&x).conv2d(&f64_of(&w), spec).to_vec_f64(),
        Tensor::conv2d_backward_input(&f64_of(&g), &f64_of(&w), x.shape(), spec).to_vec_f64(),
        Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&g), w.shape(), spec).to_vec_f64(),
        f64_of(&x2).conv2d(&f64_of(&w2), Conv2dSpec::default()).to_vec_f64(),
    ];
    for (got, want) in one.iter().zip(&want) {
        assert!(off_by(got, want) < 1e-5, "off by {}", off_by(got, want));
    }
    let bits =
        |r: &[Vec<f32>; 4]| r.iter().map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&poisoned(3)));
    assert_eq!(bits(&one), bits(&run()));
}

/// Images with no columns but padding (a valid convolution: only padding is read) stay
/// with im2col, whose answer is zeros plus the bias.
#[test]
fn empty_images_stay_with_im2col() {
    let spec = Conv2dSpec { padding: [0, 1], ..Conv2dSpec::default() };
    let (x, w, b) = (sample(&[2, 16, 24, 0], 7), sample(&[64, 16, 1, 1], 8), sample(&[64], 9));
    let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
    assert!(applies::<f32>(&geo).is_none());
    let y = x.conv2d_fused(&w, Some(&b), false, spec);
    assert_eq!(y.shape(), &[2, 64, 24, 2]);
    let bias = b.to_vec_f32();
    assert!(y.to_vec_f32().chunks(48).enumerate().all(|(i, plane)| plane.iter().all(|&v| v == bias[i % 64])));
    let dw = Tensor::conv2d_backward_weight(&x, &y, w.shape(), spec);
    assert!(dw.to_vec_f32().iter().all(|&v| v == 0.0));
}

/// The shape rules of [`worth_it`] and [`filter_lanes_suit`]: 8×8 images, 128 channels and
/// one-channel input gradients do not take the pixel lanes; 8×8 images with 64 filters take the
/// filter lanes (with AVX-512), 128 channels of 3×3 neither.
#[test]
fn the_rules_send_small_images_and_wide_filters_elsewhere() {
    let Some(isa) = Isa::detect() else { return };
    let plan = |c_in, c_out, hw| Plan { batch: 32, c_in, c_out, in_hw: [hw, hw], pad: [1, 1], kernel: [3, 3] };
    assert!(worth_it(isa, &plan(16, 16, 32)));
    assert!(!worth_it(isa, &plan(64, 64, 8)));
    assert!(!worth_it(isa, &plan(128, 128, 16)));
    assert!(!worth_it(isa, &plan(32, 1, 28)));
    assert_eq!(filter_lanes_suit(isa, &plan(64, 64, 8)), isa.has_avx512(), "576 taps per filter: filter lanes");
    assert!(!filter_lanes_suit(isa, &plan(128, 128, 8)), "1152 taps per filter: im2col");
}
