//! Property-based gradient checks of the elementwise primitives and activations: random
//! shapes (rank ≤ 4), random values kept away from kinks and domain edges.

use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use proptest::prelude::*;

fn check(f: impl Fn(&Var) -> Var, x: nabla_tensor::Tensor) {
    if let Err(e) = check_gradients(|v| f(&v[0]), &[x], Tolerance::default()) {
        panic!("{e}");
    }
}

fn any_tensor() -> impl Strategy<Value = nabla_tensor::Tensor> {
    st::shape(4, 3).prop_flat_map(st::tensor)
}

fn away_from_zero() -> impl Strategy<Value = nabla_tensor::Tensor> {
    st::shape(4, 3).prop_flat_map(|s| st::tensor_away_from(s, vec![0.0], 0.05))
}

fn positive() -> impl Strategy<Value = nabla_tensor::Tensor> {
    st::shape(4, 3).prop_flat_map(|s| st::tensor_in(s, 0.2, 3.0))
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test] fn neg(x in any_tensor()) { check(|x| x.neg(), x) }
    #[test] fn exp(x in any_tensor()) { check(|x| x.exp(), x) }
    #[test] fn ln(x in positive()) { check(|x| x.ln(), x) }
    #[test] fn sqrt(x in positive()) { check(|x| x.sqrt(), x) }
    #[test] fn abs(x in away_from_zero()) { check(|x| x.abs(), x) }
    #[test] fn powf_integer(x in any_tensor(), p in 0u32..4) { check(move |x| x.powf(p as f64), x) }
    #[test] fn powf_real(x in positive(), p in -2.0..2.5f64) { check(move |x| x.powf(p), x) }
    #[test] fn tanh(x in any_tensor()) { check(|x| x.tanh(), x) }
    #[test] fn sigmoid(x in any_tensor()) { check(|x| x.sigmoid(), x) }
    #[test] fn relu(x in away_from_zero()) { check(|x| x.relu(), x) }
    #[test] fn erf(x in any_tensor()) { check(|x| x.erf(), x) }
    #[test] fn add_scalar(x in any_tensor(), c in -3.0..3.0f64) { check(move |x| x.add_scalar(c), x) }
    #[test] fn mul_scalar(x in any_tensor(), c in -3.0..3.0f64) { check(move |x| x.mul_scalar(c), x) }
    #[test] fn square(x in any_tensor()) { check(|x| x.square(), x) }
    #[test] fn gelu(x in any_tensor()) { check(|x| x.gelu(), x) }
    #[test] fn leaky_relu(x in away_from_zero(), slope in 0.0..0.5f64) { check(move |x| x.leaky_relu(slope), x) }
    #[test] fn elu(x in away_from_zero(), alpha in 0.1..2.0f64) { check(move |x| x.elu(alpha), x) }
    #[test] fn softplus(x in away_from_zero()) { check(|x| x.softplus(), x) }
    #[test] fn silu(x in any_tensor()) { check(|x| x.silu(), x) }
    #[test] fn clamp(x in st::shape(4, 3).prop_flat_map(|s| st::tensor_away_from(s, vec![-0.5, 1.0], 0.05))) {
        check(|x| x.clamp(-0.5, 1.0), x)
    }
}
