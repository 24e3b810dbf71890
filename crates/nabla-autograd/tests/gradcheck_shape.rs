//! Property-based gradient checks of the matrix product and of the ops that move elements:
//! reshape, permute/transpose, slice and slice_scatter.

use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn check(f: impl Fn(&[Var]) -> Var, inputs: &[Tensor]) {
    if let Err(e) = check_gradients(f, inputs, Tolerance::default()) {
        panic!("{e}");
    }
}

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -2.0, 2.0, DType::F64, &mut rng(seed))
}

proptest! {
    #![proptest_config(st::config(32))]

    /// The fused dense product against finite differences, with and without bias and with
    /// leading axes folded into rows.
    #[test]
    fn linear_fused(lead in prop::collection::vec(1usize..4, 0..3), i in 1usize..5, o in 1usize..5, bias: bool, seed in any::<u64>()) {
        let mut x = lead.clone();
        x.push(i);
        let mut inputs = vec![random(&x, seed), random(&[o, i], seed ^ 1)];
        if bias {
            inputs.push(random(&[o], seed ^ 2));
        }
        check(|v| v[0].linear(&v[1], v.get(2)), &inputs)
    }

    /// The fused op against its composed form `x·Wᵀ + b`: same values, same gradients.
    #[test]
    fn linear_equals_composed(rows in 1usize..5, i in 1usize..5, o in 1usize..5, seed in any::<u64>()) {
        let (x, w, b) = (Var::new(random(&[rows, i], seed)), Var::new(random(&[o, i], seed ^ 1)), Var::new(random(&[o], seed ^ 2)));
        let r = Var::constant(random(&[rows, o], seed ^ 3));
        let fused = x.linear(&w, Some(&b));
        let composed = x.matmul(&w.t()).add(&b);
        prop_assert!(fused.value().allclose(&composed.value(), 1e-12, 1e-12));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in [&x, &w, &b] {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-12, 1e-12));
        }
    }

    #[test]
    fn matmul_2d(m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        check(|v| v[0].matmul(&v[1]), &[random(&[m, k], seed), random(&[k, n], seed ^ 1)])
    }

    #[test]
    fn matmul_batched_broadcast((ba, bb) in st::broadcast_pair(2, 3), m in 1usize..4, k in 1usize..4, n in 1usize..4,
                                seed in any::<u64>()) {
        let a: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
        let b: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
        check(|v| v[0].matmul(&v[1]), &[random(&a, seed), random(&b, seed ^ 1)])
    }

    #[test]
    fn matmul_transposed_operand(m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        check(|v| v[0].matmul(&v[1].t()), &[random(&[m, k], seed), random(&[n, k], seed ^ 1)])
    }

    #[test]
    fn matmul_vectors(k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        check(|v| v[0].matmul(&v[1]), &[random(&[k], seed), random(&[k, n], seed ^ 1)]);
        check(|v| v[1].matmul(&v[0]), &[random(&[n], seed), random(&[k, n], seed ^ 1)]);
        check(|v| v[0].matmul(&v[1]), &[random(&[k], seed), random(&[k], seed ^ 1)])
    }

    #[test]
    fn reshape(s in st::shape(4, 3), seed in any::<u64>()) {
        let n: usize = s.iter().product();
        check(move |v| v[0].reshape(&[n]).mul(&v[0].reshape(&[n])), &[random(&s, seed)])
    }

    #[test]
    fn permute(s in st::shape_with_rank(1, 4, 3).prop_flat_map(|s| { let r = s.len(); (Just(s), Just((0..r).collect::<Vec<_>>()).prop_shuffle()) }),
               seed in any::<u64>()) {
        let (shape, order) = s;
        // Multiply by a fixed non-uniform weight so a wrongly permuted gradient shows.
        let permuted: Vec<usize> = order.iter().map(|&d| shape[d]).collect();
        let w = Var::constant(random(&permuted, seed ^ 7));
        check(move |v| v[0].permute(&order).mul(&w), &[random(&shape, seed)])
    }

    #[test]
    fn slice_and_scatter(s in st::shape_with_rank(1, 3, 5), axis_pick in any::<prop::sample::Index>(),
                         a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), step in 1usize..3,
                         seed in any::<u64>()) {
        let axis = axis_pick.index(s.len());
        let extent = s[axis];
        let (mut start, mut end) = (a.index(extent + 1), b.index(extent + 1));
        if start > end { std::mem::swap(&mut start, &mut end); }
        let x = random(&s, seed);
        let window = x.slice(axis, start, end, step).shape().to_vec();
        let w = Var::constant(random(&window, seed ^ 3));
        let w2 = w.clone();
        check(move |v| v[0].slice(axis, start, end, step).mul(&w), &[x]);
        let shape = s.clone();
        check(move |v| v[0].slice_scatter(&shape, axis, start, end, step).sum_axes(&[axis], false)
                .mul_scalar(1.0).sum().add(&v[0].mul(&w2).sum()), &[random(&window, seed ^ 5)])
    }

    #[test]
    fn unsqueeze_squeeze_flatten_transpose(s in st::shape_with_rank(2, 4, 3), pick in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let rank = s.len();
        let axis = pick.index(rank);
        let w = Var::constant(random(&[s.iter().product()], seed ^ 9));
        let w2 = w.clone();
        check(move |v| v[0].unsqueeze(axis).squeeze(axis).flatten_from(0).mul(&w), &[random(&s, seed)]);
        check(move |v| v[0].transpose(axis, rank - 1).flatten_from(0).mul(&w2), &[random(&s, seed)])
    }
}
