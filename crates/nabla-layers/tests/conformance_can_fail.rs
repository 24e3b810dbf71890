//! The conformance check rejects a layer whose backward rule is wrong, or which cannot learn.

use nabla_autograd::Var;
use nabla_layers::conformance::Conformance;
use nabla_layers::{Module, Visitor};
use nabla_tensor::{init, DType, Rng};

/// `y = x ⊙ w` with the gradient for `w` deliberately doubled.
struct BrokenScale {
    w: Var,
}

impl Module for BrokenScale {
    fn forward(&self, x: &Var) -> Var {
        Var::from_op("broken_scale", x.value().mul(&self.w.value()), &[x, &self.w], |g, inputs, _| {
            vec![Some(g.mul(&inputs[1])), Some(g.mul(&inputs[0]).mul_scalar(2.0).sum_to(inputs[1].shape()))]
        })
    }
    fn kind(&self) -> &'static str {
        "BrokenScale"
    }
    fn visit(&self, visitor: &mut Visitor<'_>) {
        visitor.parameter("w", &self.w);
    }
}

fn broken(rng: &mut Rng) -> BrokenScale {
    BrokenScale { w: Var::new(init::uniform(&[3], 0.5, 1.5, DType::F32, rng)) }
}

#[test]
#[should_panic(expected = "BrokenScale: wrong gradient for `w`")]
fn a_wrong_parameter_gradient_is_caught() {
    Conformance::new("BrokenScale", &[2, 3]).output_shape(&[2, 3]).parameters(3).check(broken);
}

#[test]
#[should_panic(expected = "output shape")]
fn a_wrong_output_shape_is_caught() {
    Conformance::new("BrokenScale", &[2, 3]).output_shape(&[3, 2]).check(broken);
}

#[test]
#[should_panic(expected = "number of learned parameters")]
fn a_wrong_parameter_count_is_caught() {
    Conformance::new("BrokenScale", &[2, 3]).parameters(4).check(broken);
}
