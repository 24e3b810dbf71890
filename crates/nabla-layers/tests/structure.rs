//! Residual and Concat: conformance on random sizes, hierarchical names, training mode passed
//! to children, summary rows per child, and shape errors naming the branches.

use nabla_autograd::gradcheck::strategies as st;
use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::*;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

proptest! {
    #![proptest_config(st::config(12))]

    #[test]
    fn residual_with_identity_shortcut(batch in 1usize..4, d in 1usize..5, hidden in 1usize..5, seed in any::<u64>()) {
        Conformance::new("Residual", &[batch, d])
            .output_shape(&[batch, d])
            .parameters(d * hidden + hidden + hidden * d + d)
            .seed(seed)
            .check(|r| Residual::new(
                Sequential::new().add(LinearConfig::new(d, hidden).init(r)).add(Tanh).add(LinearConfig::new(hidden, d).init(r)),
            ));
    }

    #[test]
    fn residual_with_projection_shortcut(batch in 1usize..4, a in 1usize..5, b in 1usize..5, seed in any::<u64>()) {
        Conformance::new("Residual", &[batch, a])
            .output_shape(&[batch, b])
            .parameters(2 * (a * b + b))
            .seed(seed)
            .check(|r| Residual::with_shortcut(
                Sequential::new().add(LinearConfig::new(a, b).init(r)).add(Tanh),
                LinearConfig::new(a, b).with_weight_init(Initializer::HeNormal).init(r),
            ));
    }

    #[test]
    fn concat_of_branches(batch in 1usize..4, a in 1usize..5, b1 in 1usize..4, b2 in 1usize..4, seed in any::<u64>()) {
        Conformance::new("Concat", &[batch, a])
            .output_shape(&[batch, b1 + b2 + a])
            .parameters(a * b1 + b1 + a * b2 + b2)
            .seed(seed)
            .check(|r| Concat::new(1)
                .add(LinearConfig::new(a, b1).init(r))
                .add(Sequential::new().add(LinearConfig::new(a, b2).init(r)).add(Tanh))
                .add(Sequential::new()));
    }

    /// Concatenation along the batch axis, with a batch-normalised branch, in both modes.
    #[test]
    fn concat_along_another_axis(batch in 2usize..4, c in 1usize..4, seed in any::<u64>()) {
        let check = || Conformance::new("Concat", &[batch, c]).output_shape(&[2 * batch, c]).parameters(2 * c + c * c + c).seed(seed);
        let build = |r: &mut nabla_tensor::Rng| Concat::new(0)
            .add_named("norm", BatchNorm1dConfig::new(c).init(r))
            .add_named("dense", LinearConfig::new(c, c).init(r));
        check().check(build);
        check().in_eval_mode().check(build);
    }
}

/// `y = x + dropout(x)`: the children follow the container's mode.
#[test]
fn training_mode_reaches_the_children() {
    let x = Var::constant(Tensor::ones(&[4, 8], DType::F32));
    let mut residual = Residual::new(DropoutConfig::new(0.5).init(&mut rng(0)));
    let mut concat = Concat::new(1).add(DropoutConfig::new(0.5).init(&mut rng(1)));
    assert!(residual.forward(&x).value().to_vec_f32().contains(&1.0), "some elements dropped");
    assert!(concat.forward(&x).value().to_vec_f32().contains(&0.0));
    residual.eval();
    concat.eval();
    assert_eq!(residual.forward(&x).value().to_vec_f32(), vec![2.0; 32]);
    assert_eq!(concat.forward(&x).value().to_vec_f32(), vec![1.0; 32]);
}

#[test]
fn children_are_named_and_summarised() {
    let mut r = rng(0);
    let block = Residual::with_shortcut(
        Sequential::new()
            .add(LinearConfig::new(6, 4).init(&mut r))
            .add(ReLU)
            .add(BatchNorm1dConfig::new(4).init(&mut r)),
        LinearConfig::new(6, 4).with_bias(false).init(&mut r),
    );
    let inception = Concat::new(1)
        .add_named("left", LinearConfig::new(4, 3).init(&mut r))
        .add_named("right", Sequential::new().add(LinearConfig::new(4, 2).init(&mut r)).add(Tanh));
    let model = Sequential::new().add_named("block", block).add_named("mix", inception);
    let names: Vec<String> = model.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(
        names,
        [
            "block.body.0.weight",
            "block.body.0.bias",
            "block.body.2.weight",
            "block.body.2.bias",
            "block.body.2.running_mean",
            "block.body.2.running_var",
            "block.shortcut.weight",
            "mix.left.weight",
            "mix.left.bias",
            "mix.right.0.weight",
            "mix.right.0.bias",
        ]
    );
    let s = summary(&model, &[2, 6]);
    let rows: Vec<(&str, &str, Vec<usize>)> =
        s.rows.iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.clone())).collect();
    assert_eq!(
        rows,
        [
            ("block.body.0", "Linear", vec![2, 4]),
            ("block.body.1", "ReLU", vec![2, 4]),
            ("block.body.2", "BatchNorm1d", vec![2, 4]),
            ("block.shortcut", "Linear", vec![2, 4]),
            ("mix.left", "Linear", vec![2, 3]),
            ("mix.right.0", "Linear", vec![2, 2]),
            ("mix.right.1", "Tanh", vec![2, 2]),
        ]
    );
    assert_eq!(s.trainable, 6 * 4 + 4 + 8 + 6 * 4 + 4 * 3 + 3 + 4 * 2 + 2);
    assert_eq!(s.non_trainable, 8);
}

#[test]
fn the_skip_path_carries_the_gradient_unchanged() {
    // With a zero body, y = x and ∂y/∂x = 1 exactly.
    let block = Residual::new(LinearConfig::new(3, 3).with_weight_init(Initializer::Zeros).init(&mut rng(0)));
    block.to_dtype(DType::F64);
    let x = Var::new(init::uniform(&[2, 3], -1.0, 1.0, DType::F64, &mut rng(0)));
    let y = block.forward(&x);
    assert_eq!(y.value().to_vec_f64(), x.value().to_vec_f64());
    assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![1.0; 6]);
}

#[test]
#[should_panic(
    expected = "Residual: the body maps [2, 3] to [2, 5], which cannot be added to the input; give a projection shortcut"
)]
fn a_shape_changing_body_needs_a_shortcut() {
    Residual::new(LinearConfig::new(3, 5).init(&mut rng(0)))
        .forward(&Var::constant(Tensor::zeros(&[2, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "Residual: the body maps [2, 3] to [2, 5] but the shortcut to [2, 4]")]
fn body_and_shortcut_must_agree() {
    let mut r = rng(0);
    Residual::with_shortcut(LinearConfig::new(3, 5).init(&mut r), LinearConfig::new(3, 4).init(&mut r))
        .forward(&Var::constant(Tensor::zeros(&[2, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "Concat: the branch outputs cannot be joined along axis 0 (a: [2, 5], b: [2, 4])")]
fn concat_names_each_branch_shape() {
    let mut r = rng(0);
    Concat::new(0)
        .add_named("a", LinearConfig::new(3, 5).init(&mut r))
        .add_named("b", LinearConfig::new(3, 4).init(&mut r))
        .forward(&Var::constant(Tensor::zeros(&[2, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "Concat: there are no branches")]
fn an_empty_concat_is_an_error() {
    Concat::new(1).forward(&Var::constant(Tensor::zeros(&[2, 3], DType::F32)));
}

#[test]
#[should_panic(expected = "Concat: a branch is already named \"a\"")]
fn branch_names_are_unique() {
    let _ = Concat::new(1).add_named("a", ReLU).add_named("a", Tanh);
}
