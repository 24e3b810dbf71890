//! MLP, LeNet-5 and VGG: parameter counts, names, shapes in the summary, errors, and the
//! conformance check (gradients in f64, save/load, learning) in training and evaluation mode.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::{summary, Module, ModuleExt};
use nabla_models::{Activation, LeNet5Config, MlpConfig, Pooling, VggConfig};
use nabla_tensor::{rng, DType, Rng, Tensor};
use proptest::prelude::*;

/// Runs the conformance check in training mode and in evaluation mode.
fn both_modes<M: Module>(check: Conformance, build: impl Fn(&mut Rng) -> M) {
    check.clone().check(&build);
    check.in_eval_mode().check(&build);
}

fn names(model: &dyn Module) -> Vec<String> {
    model.named_parameters().into_iter().map(|(n, _)| n).collect()
}

// ---- MLP ----

proptest! {
    #![proptest_config(st::config(8))]

    #[test]
    fn mlp_conforms(
        batch in 1usize..4,
        widths in prop::collection::vec(1usize..5, 2..5),
        activation in prop::sample::select(vec![
            Activation::ReLU, Activation::Tanh, Activation::Sigmoid, Activation::GELU,
            Activation::ELU(1.0), Activation::LeakyReLU(0.1),
        ]),
        seed in any::<u64>(),
    ) {
        let (input, output) = (widths[0], widths[widths.len() - 1]);
        let hidden = &widths[1..widths.len() - 1];
        let parameters: usize = widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        let check = Conformance::new("Mlp", &[batch, input]).output_shape(&[batch, output]).parameters(parameters).seed(seed);
        both_modes(check, |r| MlpConfig::new(input, hidden, output).with_activation(activation).init(r));
    }
}

#[test]
fn mlp_with_dropout_and_flatten_conforms_in_evaluation_mode() {
    // Dropout draws a new mask on every call, so the gradient check (which calls the network
    // many times) runs in evaluation mode, where dropout is the identity.
    Conformance::new("Mlp", &[3, 2, 2, 2])
        .output_shape(&[3, 4])
        .parameters(9 * 5 + 6 * 4)
        .in_eval_mode()
        .check(|r| MlpConfig::new(8, &[5], 4).with_dropout(0.3).with_flatten(true).init(r));
}

#[test]
fn mlp_layers_are_named_and_summarised() {
    let mut mlp = MlpConfig::new(784, &[512, 256], 10).with_dropout(0.2).with_flatten(true).init(&mut rng(0));
    assert_eq!(names(&mlp), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]);
    let layers: Vec<&str> = mlp.layers().map(|(n, _)| n).collect();
    assert_eq!(layers, ["flatten", "fc1", "act1", "drop1", "fc2", "act2", "drop2", "fc3"]);
    let table = summary(&mlp, &[1, 1, 28, 28]);
    assert_eq!(table.rows.last().map(|r| r.output_shape.clone()), Some(vec![1, 10]));
    assert_eq!(table.trainable, 785 * 512 + 513 * 256 + 257 * 10);
    // Dropout follows the mode: on in training, the identity in evaluation.
    let x = Var::constant(Tensor::ones(&[4, 784], DType::F32));
    let train = mlp.forward(&x).value().to_vec_f32();
    assert_ne!(train, mlp.forward(&x).value().to_vec_f32(), "a new mask every call");
    mlp.eval();
    assert_eq!(mlp.forward(&x).value().to_vec_f32(), mlp.forward(&x).value().to_vec_f32());
    assert_eq!(mlp.config().hidden, vec![512, 256]);
}

#[test]
fn a_single_linear_layer_is_an_mlp_without_hidden_layers() {
    let mlp = MlpConfig::new(3, &[], 2).init(&mut rng(0));
    assert_eq!(names(&mlp), ["fc1.weight", "fc1.bias"]);
    assert_eq!(mlp.num_parameters(), 8);
}

// ---- LeNet-5 ----

#[test]
fn lenet5_has_the_textbook_shapes_and_61706_parameters() {
    let lenet = LeNet5Config::new().init(&mut rng(0));
    assert_eq!(lenet.num_parameters(), 61_706);
    let table = summary(&lenet, &[1, 1, 32, 32]);
    println!("{table}");
    let shape = |name: &str| table.rows.iter().find(|r| r.name == name).unwrap().output_shape.clone();
    assert_eq!(shape("c1"), vec![1, 6, 28, 28]);
    assert_eq!(shape("s2"), vec![1, 6, 14, 14]);
    assert_eq!(shape("c3"), vec![1, 16, 10, 10]);
    assert_eq!(shape("s4"), vec![1, 16, 5, 5]);
    assert_eq!(shape("c5"), vec![1, 120, 1, 1]);
    assert_eq!(shape("f6"), vec![1, 84]);
    assert_eq!(shape("output"), vec![1, 10]);
    assert_eq!(names(&lenet)[..2], ["c1.weight", "c1.bias"]);

    // The MNIST variant pads C1's input instead of the images: the same shapes from C1 on.
    let mnist = LeNet5Config::mnist().init(&mut rng(0));
    assert_eq!(mnist.num_parameters(), 61_706);
    let table = summary(&mnist, &[1, 1, 28, 28]);
    assert_eq!(table.rows[0].output_shape, vec![1, 6, 28, 28]);

    // With batch norm, the normalised layers lose their biases and gain γ, β.
    let bn = LeNet5Config::new().with_batch_norm(true).init(&mut rng(0));
    assert_eq!(bn.num_parameters(), 61_706 - (6 + 16 + 120 + 84) + 2 * (6 + 16 + 120 + 84));
    assert!(names(&bn).contains(&"c3_bn.weight".to_string()));
    assert_eq!(LeNet5Config::new().with_num_classes(5).with_in_channels(3).init(&mut rng(0)).num_parameters(), {
        61_706 + 2 * 6 * 25 - 5 * 84 - 5
    });
}

#[test]
fn lenet5_conforms() {
    let check = Conformance::new("LeNet5", &[2, 1, 32, 32]).output_shape(&[2, 10]).parameters(61_706);
    both_modes(check.clone(), |r| LeNet5Config::new().init(r));
    both_modes(check, |r| LeNet5Config::new().with_activation(Activation::ReLU).with_pooling(Pooling::Max).init(r));
    let check = Conformance::new("LeNet5 (batch norm, 28×28)", &[3, 1, 28, 28]).output_shape(&[3, 10]).seed(3);
    both_modes(check, |r| LeNet5Config::mnist().with_batch_norm(true).init(r));
}

#[test]
#[should_panic(expected = "LeNet5: expected input [n, 1, 32, 32] but received [2, 1, 28, 28]")]
fn lenet5_names_the_variant_when_the_image_size_is_wrong() {
    LeNet5Config::new().init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[2, 1, 28, 28], DType::F32)));
}

// ---- VGG ----

#[test]
fn vgg_features_and_classifier_are_named_like_torchvision() {
    let vgg = VggConfig::small(3, 10).init(&mut rng(0));
    let table = summary(&vgg, &[1, 3, 32, 32]);
    println!("{table}");
    let shape = |name: &str| table.rows.iter().find(|r| r.name == name).unwrap().output_shape.clone();
    // Stage 1: conv, BN, ReLU, conv, BN, ReLU (0–5), pool (6); stage 2: 7–13; stage 3: 14–20.
    assert_eq!(shape("features.0"), vec![1, 32, 32, 32]);
    assert_eq!(shape("features.6"), vec![1, 32, 16, 16]);
    assert_eq!(shape("features.13"), vec![1, 64, 8, 8]);
    assert_eq!(shape("features.20"), vec![1, 128, 4, 4]);
    assert_eq!(shape("flatten"), vec![1, 2048]);
    assert_eq!(shape("classifier.0"), vec![1, 256]);
    assert_eq!(shape("classifier.3"), vec![1, 10]);
    assert_eq!(VggConfig::small(3, 10).feature_shape(), [128, 4, 4]);
    let convs = 9 * (3 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128);
    let norms = 2 * 2 * (32 + 64 + 128);
    assert_eq!(vgg.num_parameters(), convs + norms + 2049 * 256 + 257 * 10);
    let names = names(&vgg);
    assert_eq!(names[..3], ["features.0.weight", "features.1.weight", "features.1.bias"]);
    assert_eq!(names[names.len() - 2..], ["classifier.3.weight", "classifier.3.bias"]);
    // Without batch norm the convolutions have biases and the ReLU follows directly.
    let plain = VggConfig::new(1, [8, 8], 2).stage(1, 4).with_batch_norm(false).init(&mut rng(0));
    assert_eq!(
        self::names(&plain),
        ["features.0.weight", "features.0.bias", "classifier.0.weight", "classifier.0.bias"]
    );
}

#[test]
fn vgg_conforms() {
    // Two stages on 4×4 images: 4×4 → 2×2 → 1×1.
    let config = VggConfig::new(2, [4, 4], 3).stage(1, 2).stage(2, 3).with_hidden(&[4]).with_dropout(0.0);
    let parameters = 9 * (2 * 2 + 2 * 3 + 3 * 3) + 2 * (2 + 3 + 3) + (3 + 1) * 4 + 5 * 3;
    let check = Conformance::new("Vgg", &[3, 2, 4, 4]).output_shape(&[3, 3]).parameters(parameters);
    both_modes(check.clone(), |r| config.init(r));
    // With dropout (evaluation only: a training-mode forward draws a new mask every call).
    check.in_eval_mode().check(|r| config.clone().with_dropout(0.5).init(r));
    let plain = config.with_batch_norm(false);
    let parameters = 9 * (2 * 2 + 2 * 3 + 3 * 3) + (2 + 3 + 3) + (3 + 1) * 4 + 5 * 3;
    let check = Conformance::new("Vgg (no batch norm)", &[2, 2, 4, 4]).output_shape(&[2, 3]).parameters(parameters);
    both_modes(check, |r| plain.init(r));
}

#[test]
#[should_panic(expected = "3 stages halve a [4, 4] image 3 times, which leaves nothing")]
fn vgg_refuses_more_poolings_than_the_image_allows() {
    VggConfig::new(1, [4, 4], 2).stage(1, 2).stage(1, 2).stage(1, 2).init(&mut rng(0));
}

#[test]
#[should_panic(expected = "Vgg: expected input [n, 3, 32, 32] (the config's image_size) but received [1, 3, 28, 28]")]
fn vgg_checks_the_image_size() {
    VggConfig::small(3, 10).init(&mut rng(0)).forward(&Var::constant(Tensor::zeros(&[1, 3, 28, 28], DType::F32)));
}
