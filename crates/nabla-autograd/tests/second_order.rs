//! Second derivatives: backward rules are written with differentiable ops, so the gradient of a
//! gradient is correct. Each check gradient-checks the first derivative taken with
//! `create_graph`.

use nabla_autograd::gradcheck::{check_second_order, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::Tensor;
use proptest::prelude::*;

fn check(f: impl Fn(&[Var]) -> Var, inputs: &[Tensor]) {
    if let Err(e) = check_second_order(f, inputs, Tolerance::default()) {
        panic!("{e}");
    }
}

proptest! {
    #![proptest_config(st::config(12))]

    #[test] fn exp(x in st::shape(3, 3).prop_flat_map(st::tensor)) { check(|v| v[0].exp(), &[x]) }
    #[test] fn tanh(x in st::shape(3, 3).prop_flat_map(st::tensor)) { check(|v| v[0].tanh(), &[x]) }
    #[test] fn sigmoid(x in st::shape(3, 3).prop_flat_map(st::tensor)) { check(|v| v[0].sigmoid(), &[x]) }
    #[test] fn ln(x in st::shape(3, 3).prop_flat_map(|s| st::tensor_in(s, 0.3, 3.0))) { check(|v| v[0].ln(), &[x]) }
    #[test] fn gelu(x in st::shape(3, 3).prop_flat_map(st::tensor)) { check(|v| v[0].gelu(), &[x]) }

    #[test]
    fn div((a, b) in st::broadcast_pair(3, 3).prop_flat_map(|(a, b)| (st::tensor(a), st::tensor_away_from(b, vec![0.0], 0.3)))) {
        check(|v| v[0].div(&v[1]), &[a, b])
    }

    #[test]
    fn matmul_tanh(m in 1usize..4, k in 1usize..4, n in 1usize..4, seed in any::<u64>()) {
        let a = nabla_tensor::init::uniform(&[m, k], -1.0, 1.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        let b = nabla_tensor::init::uniform(&[k, n], -1.0, 1.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(!seed));
        check(|v| v[0].matmul(&v[1]).tanh(), &[a, b])
    }

    #[test]
    fn log_softmax(x in st::shape_with_rank(1, 3, 4).prop_flat_map(st::tensor)) {
        check(|v| v[0].log_softmax(v[0].ndim() - 1), &[x])
    }
}
