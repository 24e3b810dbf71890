//! Property-based gradient checks of reductions and their composites, over random shapes and
//! random sets of axes.

use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::Tensor;
use proptest::prelude::*;

fn check(f: impl Fn(&Var) -> Var, x: Tensor) {
    if let Err(e) = check_gradients(|v| f(&v[0]), &[x], Tolerance::default()) {
        panic!("{e}");
    }
}

/// A shape of rank 1..=4 and a random subset of its axes.
fn shape_and_axes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    st::shape_with_rank(1, 4, 3).prop_flat_map(|s| {
        let rank = s.len();
        (Just(s), prop::sample::subsequence((0..rank).collect::<Vec<_>>(), 0..=rank))
    })
}

/// A shape of rank 1..=4 and one of its axes.
fn shape_and_axis() -> impl Strategy<Value = (Vec<usize>, usize)> {
    st::shape_with_rank(1, 4, 3).prop_flat_map(|s| {
        let rank = s.len();
        (Just(s), 0..rank)
    })
}

proptest! {
    #![proptest_config(st::config(32))]

    #[test]
    fn sum_axes((s, axes) in shape_and_axes(), keep in any::<bool>(), seed in any::<u64>()) {
        let x = nabla_tensor::init::uniform(&s, -2.0, 2.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        check(move |x| x.sum_axes(&axes, keep), x)
    }

    #[test]
    fn max_axes((s, axes) in shape_and_axes(), keep in any::<bool>(), seed in any::<u64>()) {
        // Distinct values: the maximum of every lane is unique, away from ties.
        let n: usize = s.iter().product();
        let mut values: Vec<f64> = (0..n).map(|i| -2.0 + 4.0 * (i as f64 + 0.3) / n as f64).collect();
        use rand::seq::SliceRandom;
        values.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed));
        let x = Tensor::from_f64s(&values, &s, nabla_tensor::DType::F64);
        check(move |x| x.max_axes(&axes, keep), x)
    }

    #[test]
    fn mean_axes((s, axes) in shape_and_axes(), keep in any::<bool>(), seed in any::<u64>()) {
        let x = nabla_tensor::init::uniform(&s, -2.0, 2.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        check(move |x| x.mean_axes(&axes, keep), x)
    }

    #[test]
    fn var_axes((s, axes) in shape_and_axes(), keep in any::<bool>(), correction in 0usize..2, seed in any::<u64>()) {
        let n: usize = axes.iter().map(|&d| s[d]).product();
        prop_assume!(n > correction);
        let x = nabla_tensor::init::uniform(&s, -2.0, 2.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        check(move |x| x.var_axes(&axes, keep, correction), x)
    }

    #[test]
    fn sum_to_and_broadcast_to((big, small) in st::broadcast_pair(4, 3), seed in any::<u64>()) {
        let target = nabla_tensor::broadcast_shapes("test", &big, &small).unwrap();
        let x = nabla_tensor::init::uniform(&small, -2.0, 2.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        let t2 = target.clone();
        check(move |x| x.broadcast_to(&t2), x);
        let y = nabla_tensor::init::uniform(&target, -2.0, 2.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        check(move |y| y.sum_to(&small), y)
    }

    #[test]
    fn softmax_log_softmax_logsumexp((s, axis) in shape_and_axis(), seed in any::<u64>()) {
        let x = nabla_tensor::init::uniform(&s, -3.0, 3.0, nabla_tensor::DType::F64, &mut nabla_tensor::rng(seed));
        check(move |x| x.softmax(axis), x.clone());
        check(move |x| x.log_softmax(axis), x.clone());
        check(move |x| x.logsumexp(axis, false), x)
    }

    #[test]
    fn mean_all(x in st::shape(4, 3).prop_flat_map(st::tensor)) { check(|x| x.mean(), x) }
}
