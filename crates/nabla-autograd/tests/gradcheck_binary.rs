//! Property-based gradient checks of the broadcasting binary primitives, on random
//! broadcast-compatible shape pairs.

use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::{DType, Tensor};
use proptest::prelude::*;

fn check(f: impl Fn(&Var, &Var) -> Var, a: Tensor, b: Tensor) {
    if let Err(e) = check_gradients(|v| f(&v[0], &v[1]), &[a, b], Tolerance::default()) {
        panic!("{e}");
    }
}

/// Two tensors of broadcast-compatible shapes with values in [-2, 2].
fn pair() -> impl Strategy<Value = (Tensor, Tensor)> {
    st::broadcast_pair(4, 3).prop_flat_map(|(a, b)| (st::tensor(a), st::tensor(b)))
}

/// As [`pair`], with the divisor kept away from zero.
fn numerator_denominator() -> impl Strategy<Value = (Tensor, Tensor)> {
    st::broadcast_pair(4, 3).prop_flat_map(|(a, b)| (st::tensor(a), st::tensor_away_from(b, vec![0.0], 0.3)))
}

/// As [`pair`], with every value of both operands distinct (no ties for max/min).
fn distinct_pair() -> impl Strategy<Value = (Tensor, Tensor)> {
    st::broadcast_pair(4, 3).prop_flat_map(|(a, b)| {
        let (na, nb): (usize, usize) = (a.iter().product(), b.iter().product());
        st::distinct_values(na + nb).prop_map(move |values| {
            (Tensor::from_f64s(&values[..na], &a, DType::F64), Tensor::from_f64s(&values[na..], &b, DType::F64))
        })
    })
}

proptest! {
    #![proptest_config(st::config(32))]

    #[test] fn add((a, b) in pair()) { check(|a, b| a.add(b), a, b) }
    #[test] fn sub((a, b) in pair()) { check(|a, b| a.sub(b), a, b) }
    #[test] fn mul((a, b) in pair()) { check(|a, b| a.mul(b), a, b) }
    #[test] fn div((a, b) in numerator_denominator()) { check(|a, b| a.div(b), a, b) }
    #[test] fn maximum((a, b) in distinct_pair()) { check(|a, b| a.maximum(b), a, b) }
    #[test] fn minimum((a, b) in distinct_pair()) { check(|a, b| a.minimum(b), a, b) }
    #[test] fn operators((a, b) in numerator_denominator()) { check(|a, b| (a * b + a) / b - a, a, b) }
}
