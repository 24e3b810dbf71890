//! ResNets: the published parameter counts, the summary of ResNet-20, names, shapes, modes,
//! and the conformance check (gradients in f64, save/load, learning) on small instances of
//! both blocks and of whole networks with either stem, in training and evaluation mode.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::{summary, LinearConfig, Module, ModuleExt, TensorKind};
use nabla_models::{BasicBlockConfig, BlockKind, BottleneckConfig, ResNetConfig, Stem};
use nabla_tensor::{init, rng, DType, Rng, Tensor};
use proptest::prelude::*;

#[test]
fn imagenet_resnets_have_the_published_parameter_counts() {
    // torchvision's figures for 1000 classes.
    let cases = [
        (ResNetConfig::resnet18(1000), 11_689_512),
        (ResNetConfig::resnet34(1000), 21_797_672),
        (ResNetConfig::resnet50(1000), 25_557_032),
    ];
    for (config, expected) in cases {
        let model = config.init(&mut rng(0));
        assert_eq!(model.num_parameters(), expected, "{config:?}");
    }
}

#[test]
fn cifar_resnets_have_the_expected_parameter_counts() {
    // The paper's option-A ResNet-20 has 269,722 parameters ("0.27 M"). Option B, used here
    // (and by benchmark W3), replaces the two parameter-free shortcuts where the shape changes
    // by a 1×1 convolution and a batch norm: 16·32 + 2·32 at the second stage, 32·64 + 2·64 at
    // the third, 2,752 more.
    let projections = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64;
    assert_eq!(projections, 2_752);
    let r20 = ResNetConfig::resnet20(10).init(&mut rng(0));
    assert_eq!(r20.num_parameters(), 269_722 + projections);
    assert_eq!(r20.num_parameters(), 272_474);

    // Layer by layer: stem, then n blocks per stage (two 3×3 convolutions and two batch
    // norms each), two projections, the dense head.
    let expected = |n: usize| {
        let block = |c_in: usize, c: usize| 9 * c_in * c + 9 * c * c + 4 * c;
        let stem = 3 * 9 * 16 + 2 * 16;
        let stages = block(16, 16) * n
            + block(16, 32)
            + block(32, 32) * (n - 1)
            + block(32, 64)
            + block(64, 64) * (n - 1)
            + projections;
        stem + stages + 64 * 10 + 10
    };
    for (depth, published) in [(20, 272_474), (32, 466_906), (56, 855_770)] {
        let model = ResNetConfig::cifar(depth, 10).init(&mut rng(0));
        assert_eq!(model.num_parameters(), published, "ResNet-{depth}");
        assert_eq!(model.num_parameters(), expected((depth - 2) / 6), "ResNet-{depth}");
    }
    assert_eq!(ResNetConfig::resnet32(10), ResNetConfig::cifar(32, 10));
    assert_eq!(ResNetConfig::resnet56(10), ResNetConfig::cifar(56, 10));
}

#[test]
fn resnet20_summary_shows_every_layer_and_the_shapes() {
    let model = ResNetConfig::resnet20(10).init(&mut rng(0));
    let table = summary(&model, &[1, 3, 32, 32]);
    println!("{table}");
    let row = |name: &str| {
        table.rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no summary row named {name}"))
    };
    assert_eq!(row("conv1").output_shape, vec![1, 16, 32, 32]);
    assert_eq!(row("layer1.2.conv2").output_shape, vec![1, 16, 32, 32]);
    assert_eq!(row("layer2.0.conv1").output_shape, vec![1, 32, 16, 16]);
    assert_eq!(row("layer2.0.downsample.0").output_shape, vec![1, 32, 16, 16]);
    assert_eq!(row("layer2.0.downsample.1").kind, "BatchNorm2d");
    assert_eq!(row("layer3.0.downsample.0").output_shape, vec![1, 64, 8, 8]);
    assert_eq!(row("layer3.2.bn2").output_shape, vec![1, 64, 8, 8]);
    assert_eq!(row("avgpool").output_shape, vec![1, 64]);
    assert_eq!(row("fc").output_shape, vec![1, 10]);
    assert_eq!(table.rows.last().unwrap().output_shape, vec![1, 10]);
    // 19 convolutions in the main path, 2 projections, 19 + 2 batch norms.
    assert_eq!(table.rows.iter().filter(|r| r.kind == "Conv2d").count(), 21);
    assert_eq!(table.rows.iter().filter(|r| r.kind == "BatchNorm2d").count(), 21);
    assert!(table.rows.iter().all(|r| !r.name.contains("layer2.1.downsample")), "identity shortcuts have no rows");
    assert_eq!(table.trainable, 272_474);
    // Running mean and variance of 16·7 + 32·7 + 64·7 channels.
    assert_eq!(table.non_trainable, 2 * (16 + 32 + 64) * 7);
    // FLOPs (2 per multiply-add): stem 2·27·16·32² = 884,736; each 3×3 convolution at 16, 32
    // or 64 channels 4,718,592 except the two strided ones at half that; projections
    // 2·16·32·16² = 2·32·64·8² = 262,144; pooling 4,096; head 1,280.
    let convs = 884_736 + 16 * 4_718_592 + 2 * 2_359_296 + 2 * 262_144;
    assert_eq!(table.total_flops(), convs + 4_096 + 1_280);
    assert_eq!(table.total_flops(), 81_630_464);
    // A summary leaves the model as it was.
    assert_eq!(model.bn1.running_mean.value().to_vec_f32(), vec![0.0; 16]);
}

#[test]
fn parameter_names_follow_torchvision() {
    let r50 = ResNetConfig::resnet50(1000).init(&mut rng(0));
    let tensors = r50.named_tensors();
    let shape_of = |name: &str| {
        tensors.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("no tensor named {name}")).1.shape()
    };
    assert_eq!(shape_of("conv1.weight"), vec![64, 3, 7, 7]);
    assert_eq!(shape_of("bn1.running_mean"), vec![64]);
    assert_eq!(shape_of("layer1.0.conv1.weight"), vec![64, 64, 1, 1]);
    assert_eq!(shape_of("layer1.0.conv2.weight"), vec![64, 64, 3, 3]);
    assert_eq!(shape_of("layer1.0.conv3.weight"), vec![256, 64, 1, 1]);
    // The first block of the first stage projects 64 → 256 channels at stride 1.
    assert_eq!(shape_of("layer1.0.downsample.0.weight"), vec![256, 64, 1, 1]);
    assert_eq!(shape_of("layer2.0.conv2.weight"), vec![128, 128, 3, 3]);
    assert_eq!(shape_of("layer4.2.bn3.running_var"), vec![2048]);
    assert_eq!(shape_of("fc.weight"), vec![1000, 2048]);
    assert!(!tensors.iter().any(|(n, _, _)| n.starts_with("layer1.1.downsample")));
    // No convolution has a bias: each is followed by a batch norm.
    assert!(!tensors.iter().any(|(n, _, _)| n.contains("conv") && n.ends_with("bias")));

    let r18 = ResNetConfig::resnet18(1000).init(&mut rng(0));
    let names: Vec<String> = r18.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"layer2.0.downsample.0.weight".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")), "ResNet-18's first stage keeps its shape");
}

#[test]
fn imagenet_resnets_run_on_small_images() {
    // 64×64: the stem gives 16×16, the stages 16, 8, 4, 2.
    let x = Var::constant(init::uniform(&[1, 3, 64, 64], 0.0, 1.0, DType::F32, &mut rng(1)));
    for config in [ResNetConfig::resnet18(1000), ResNetConfig::resnet50(1000)] {
        let mut model = config.init(&mut rng(0));
        model.eval();
        assert_eq!(model.forward(&x).shape(), vec![1, 1000]);
        let expected = config.out_features();
        assert_eq!(model.features(&x).shape(), vec![1, expected]);
        let table = summary(&model, &[1, 3, 64, 64]);
        let row = |name: &str| table.rows.iter().find(|r| r.name == name).unwrap().output_shape.clone();
        assert_eq!(row("maxpool"), vec![1, 64, 16, 16]);
        assert_eq!(row("avgpool"), vec![1, expected]);
    }
}

#[test]
fn training_mode_reaches_every_batch_norm() {
    let mut model = ResNetConfig::new(BlockKind::Basic, Stem::Cifar, &[(1, 4), (1, 8)], 3).init(&mut rng(0));
    let x = Var::constant(init::uniform(&[4, 3, 8, 8], 0.0, 1.0, DType::F32, &mut rng(1)));
    let buffers =
        |m: &dyn Module| m.named_buffers().into_iter().map(|(_, v)| v.value().to_vec_f32()).collect::<Vec<_>>();
    let before = buffers(&model);
    model.eval();
    let y_eval = model.forward(&x).value().to_vec_f32();
    assert_eq!(buffers(&model), before, "evaluation leaves the running statistics alone");
    assert_eq!(model.forward(&x).value().to_vec_f32(), y_eval, "evaluation does not depend on the batch");
    model.train();
    model.forward(&x);
    let after = buffers(&model);
    let names: Vec<String> = model.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 2 * 6, "stem, two blocks of two, one projection: 6 batch norms");
    for ((name, old), now) in names.iter().zip(&before).zip(&after) {
        assert_ne!(old, now, "{name} was not updated by a training-mode forward pass");
    }
}

#[test]
fn zero_init_residual_starts_each_block_as_its_shortcut() {
    let x = Var::constant(init::uniform(&[2, 4, 5, 5], -1.0, 1.0, DType::F32, &mut rng(1)));
    let block = BasicBlockConfig::new(4, 4).with_zero_init_residual(true).init(&mut rng(0));
    assert_eq!(block.forward(&x).value().to_vec_f32(), x.value().relu().to_vec_f32());
    let block = BottleneckConfig::new(16, 4).with_zero_init_residual(true).init(&mut rng(0));
    let x = Var::constant(init::uniform(&[2, 16, 3, 3], -1.0, 1.0, DType::F32, &mut rng(1)));
    assert_eq!(block.forward(&x).value().to_vec_f32(), x.value().relu().to_vec_f32());
    let model = ResNetConfig::resnet20(10).with_zero_init_residual(true).init(&mut rng(0));
    let gammas: Vec<f32> = model
        .named_parameters()
        .into_iter()
        .filter(|(n, _)| n.ends_with("bn2.weight"))
        .flat_map(|(_, v)| v.value().to_vec_f32())
        .collect();
    assert_eq!(gammas.len(), 16 * 3 + 32 * 3 + 64 * 3);
    assert!(gammas.iter().all(|&g| g == 0.0));
}

#[test]
fn the_head_can_be_replaced_for_fine_tuning() {
    let mut r = rng(0);
    let mut model = ResNetConfig::resnet20(10).init(&mut r);
    model.fc = LinearConfig::new(model.config().out_features(), 5).init(&mut r);
    let x = Var::constant(Tensor::zeros(&[2, 3, 32, 32], DType::F32));
    assert_eq!(model.forward(&x).shape(), vec![2, 5]);
    assert_eq!(model.num_parameters(), 272_474 - 650 + 64 * 5 + 5);
}

#[test]
#[should_panic(expected = "ResNet: expected input [n, 3, h, w] but received [2, 1, 32, 32]")]
fn a_wrong_channel_count_is_reported_by_the_network() {
    let model = ResNetConfig::resnet20(10).init(&mut rng(0));
    model.forward(&Var::constant(Tensor::zeros(&[2, 1, 32, 32], DType::F32)));
}

#[test]
#[should_panic(expected = "the depth must be 6n + 2 (20, 32, 44, 56, 110, …), got 21")]
fn a_cifar_depth_that_is_not_6n_plus_2_is_refused() {
    ResNetConfig::cifar(21, 10);
}

// ---- conformance: gradients in f64, save/load round trip, learning; both modes ----

/// Runs the conformance check in training mode and in evaluation mode, on the module `build`
/// makes with its batch norms moved to a generic point (see [`generic`]).
fn both_modes<M: Module>(check: Conformance, build: impl Fn(&mut Rng) -> M) {
    let build = |r: &mut Rng| generic(build(r), r);
    check.clone().check(build);
    check.in_eval_mode().check(build);
}

/// `model` with random shifts `β` (every bias: in these networks only batch norms and the head
/// have one) and random running statistics, drawn from `r`.
///
/// A gradient check compares derivatives with finite differences, so no ReLU input may sit
/// exactly on the kink at 0. Freshly built tiny networks can put one there: with `β = 0`, an
/// evaluation-mode batch norm (running mean 0, variance 1) maps an all-zero convolution output
/// — all its inputs switched off by a ReLU — to exactly 0, and a block whose last `γ` starts
/// at 0 adds nothing to its shortcut, itself the output of a ReLU with exact zeros. Moving `β`
/// and the running statistics off their initial values removes those exact zeros.
fn generic<M: Module>(model: M, r: &mut Rng) -> M {
    for (name, var, kind) in model.named_tensors() {
        let shape = var.shape();
        let (low, high) = match (kind, name.rsplit('.').next()) {
            (TensorKind::Parameter, Some("bias")) | (TensorKind::Buffer, Some("running_mean")) => (-0.5, 0.5),
            (TensorKind::Buffer, Some("running_var")) => (0.5, 2.0),
            _ => continue,
        };
        var.set_value(init::uniform(shape, low, high, var.dtype(), r));
    }
    model
}

proptest! {
    #![proptest_config(st::config(6))]

    #[test]
    fn basic_block_conforms(
        batch in 2usize..4,
        c_in in 1usize..4,
        width in 1usize..4,
        side in 2usize..6,
        stride in 1usize..3,
        seed in any::<u64>(),
    ) {
        let out = side.div_ceil(stride);
        let projection = if stride != 1 || c_in != width { c_in * width + 2 * width } else { 0 };
        let parameters = 9 * c_in * width + 9 * width * width + 4 * width + projection;
        let check = Conformance::new("BasicBlock", &[batch, c_in, side, side])
            .output_shape(&[batch, width, out, out])
            .parameters(parameters)
            .seed(seed);
        both_modes(check, |r| BasicBlockConfig::new(c_in, width).with_stride(stride).init(r));
    }

    #[test]
    fn bottleneck_conforms(
        batch in 2usize..4,
        c_in in 1usize..9,
        width in 1usize..3,
        side in 2usize..5,
        stride in 1usize..3,
        seed in any::<u64>(),
    ) {
        let (out, c_out) = (side.div_ceil(stride), 4 * width);
        let projection = if stride != 1 || c_in != c_out { c_in * c_out + 2 * c_out } else { 0 };
        let parameters = c_in * width + 9 * width * width + width * c_out + 2 * (2 * width + c_out) + projection;
        let check = Conformance::new("Bottleneck", &[batch, c_in, side, side])
            .output_shape(&[batch, c_out, out, out])
            .parameters(parameters)
            .seed(seed);
        both_modes(check, |r| BottleneckConfig::new(c_in, width).with_stride(stride).init(r));
    }
}

#[test]
fn bottleneck_with_an_identity_shortcut_conforms() {
    let check = Conformance::new("Bottleneck", &[2, 8, 3, 3])
        .output_shape(&[2, 8, 3, 3])
        .parameters(8 * 2 + 36 + 16 + 2 * (2 + 2 + 8));
    both_modes(check, |r| BottleneckConfig::new(8, 2).init(r));
}

#[test]
fn mini_cifar_resnet_conforms() {
    // One basic block per stage at 2 and 4 channels on 4×4 images: 4×4 → 2×2.
    let config = ResNetConfig::new(BlockKind::Basic, Stem::Cifar, &[(1, 2), (1, 4)], 3);
    let parameters = config.init(&mut rng(0)).num_parameters();
    let stem = 3 * 9 * 2 + 4;
    let block1 = 9 * 2 * 2 * 2 + 4 * 2;
    let block2 = 9 * 2 * 4 + 9 * 4 * 4 + 4 * 4 + 2 * 4 + 2 * 4;
    assert_eq!(parameters, stem + block1 + block2 + 4 * 3 + 3);
    let check = Conformance::new("mini CIFAR ResNet", &[2, 3, 4, 4]).output_shape(&[2, 3]).parameters(parameters);
    both_modes(check.clone(), |r| config.init(r));
    both_modes(check.seed(1), |r| config.clone().with_zero_init_residual(true).init(r));
}

#[test]
fn mini_imagenet_resnet_with_bottlenecks_conforms() {
    // 8×8 → stem 4×4 → max pool 2×2 → stages 2×2 and 1×1; 8 output channels.
    let config = ResNetConfig::new(BlockKind::Bottleneck, Stem::ImageNet, &[(1, 2), (2, 2)], 3);
    let parameters = config.init(&mut rng(0)).num_parameters();
    let check = Conformance::new("mini ImageNet ResNet", &[2, 3, 8, 8]).output_shape(&[2, 3]).parameters(parameters);
    both_modes(check, |r| config.init(r));
}
