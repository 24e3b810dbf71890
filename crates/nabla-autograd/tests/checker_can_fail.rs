//! The gradient checker must be able to fail: an op whose backward rule is deliberately wrong
//! is rejected, in both modes, for several kinds of mistake.

use nabla_autograd::gradcheck::{check_gradients_with, strategies as st, Mode, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::Tensor;
use proptest::prelude::*;

/// `sin`, with a backward rule that is wrong in the way `kind` says.
fn broken_sin(x: &Var, kind: u8) -> Var {
    Var::from_op("broken_sin", x.value().sin(), &[x], move |g, x, _| {
        let right = x[0].value().cos();
        let wrong = match kind {
            0 => right.mul_scalar(1.01), // off by 1%
            1 => right.neg(),            // wrong sign
            2 => x[0].value().sin(),     // wrong derivative (sin instead of cos)
            _ => right.add_scalar(1e-3), // a small bias
        };
        vec![Some(g.mul(&Var::constant(wrong)))]
    })
}

/// `sin` with the correct rule, to show the checker passes what is right.
fn sin(x: &Var) -> Var {
    Var::from_op("sin", x.value().sin(), &[x], |g, x, _| vec![Some(g.mul(&Var::constant(x[0].value().cos())))])
}

proptest! {
    #![proptest_config(st::config(16))]

    #[test]
    fn wrong_backward_is_rejected(x in st::shape(3, 3).prop_flat_map(|s| st::tensor_in(s, 0.2, 1.2)), kind in 0u8..4,
                                  full in any::<bool>()) {
        let mode = if full { Mode::Full } else { Mode::RandomDirections(4) };
        let verdict = check_gradients_with(|v| broken_sin(&v[0], kind), std::slice::from_ref(&x), Tolerance::default(), mode);
        prop_assert!(verdict.is_err(), "a wrong backward (kind {kind}) passed the check");
        prop_assert!(check_gradients_with(|v| sin(&v[0]), &[x], Tolerance::default(), mode).is_ok());
    }
}

#[test]
fn the_error_names_the_entry() {
    let x = Tensor::from_vec(vec![0.5f64, 1.0], &[2]);
    let err = check_gradients_with(|v| broken_sin(&v[0], 1), &[x], Tolerance::default(), Mode::Full).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("input 0") && text.contains("d output[0] / d input[0]"), "{text}");
}
