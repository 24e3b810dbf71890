//! Property-based gradient checks of concat/stack/split/chunk, index_select/index_add,
//! gather/scatter_add and where/masked_fill, on random shapes, axes and indices (repeated
//! indices included, so accumulation is checked).

use nabla_autograd::gradcheck::{check_gradients, strategies as st, Tolerance};
use nabla_autograd::Var;
use nabla_tensor::ndarray::{ArrayD, IxDyn};
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

/// A fixed random weight, so that a gradient sent to the wrong position shows.
fn weight_like(v: &Var, seed: u64) -> Var {
    Var::constant(random(v.shape(), seed))
}

fn shape_and_axis() -> impl Strategy<Value = (Vec<usize>, usize)> {
    st::shape_with_rank(1, 3, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..r)
    })
}

proptest! {
    #![proptest_config(st::config(32))]

    #[test]
    fn concat_and_stack((s, axis) in shape_and_axis(), extra in 1usize..4, seed in any::<u64>()) {
        let mut s2 = s.clone();
        s2[axis] = extra;
        check(move |v| { let y = Var::concat(&[v[0].clone(), v[1].clone()], axis); y.mul(&weight_like(&y, 9)) },
              &[random(&s, seed), random(&s2, !seed)]);
        check(move |v| { let y = Var::stack(&[v[0].clone(), v[1].clone()], axis); y.mul(&weight_like(&y, 9)) },
              &[random(&s, seed), random(&s, !seed)])
    }

    #[test]
    fn split_and_chunk((s, axis) in shape_and_axis(), n in 1usize..4, seed in any::<u64>()) {
        check(move |v| {
            let parts = v[0].chunk(n, axis);
            let weighted: Vec<Var> = parts.iter().enumerate().map(|(i, p)| p.mul(&weight_like(p, i as u64)).sum()).collect();
            weighted.into_iter().reduce(|a, b| a.add(&b)).unwrap()
        }, &[random(&s, seed)])
    }

    #[test]
    fn index_select_and_add((s, axis) in shape_and_axis(), picks in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
                            seed in any::<u64>()) {
        let indices: Vec<usize> = picks.iter().map(|p| p.index(s[axis])).collect();
        let extent = s[axis];
        let i2 = indices.clone();
        check(move |v| { let y = v[0].index_select(axis, &indices); y.mul(&weight_like(&y, 5)) }, &[random(&s, seed)]);
        let mut src_shape = s.clone();
        src_shape[axis] = i2.len();
        check(move |v| { let y = v[0].index_add(axis, &i2, extent); y.mul(&weight_like(&y, 6)) }, &[random(&src_shape, seed)])
    }

    #[test]
    fn gather_and_scatter_add((s, axis) in shape_and_axis(), out_extent in 1usize..4, seed in any::<u64>()) {
        let mut index_shape = s.clone();
        index_shape[axis] = out_extent;
        let n: usize = index_shape.iter().product();
        let mut r = rng(seed);
        let picks: Vec<usize> = init::uniform(&[n], 0.0, s[axis] as f64, DType::F64, &mut r)
            .to_vec_f64().iter().map(|&x| (x as usize).min(s[axis] - 1)).collect();
        let index = ArrayD::from_shape_vec(IxDyn(&index_shape), picks).unwrap();
        let (i2, shape) = (index.clone(), s.clone());
        check(move |v| { let y = v[0].gather(axis, &index); y.mul(&weight_like(&y, 3)) }, &[random(&s, seed)]);
        check(move |v| { let y = v[0].scatter_add(axis, &i2, &shape); y.mul(&weight_like(&y, 4)) }, &[random(&index_shape, seed)])
    }

    #[test]
    fn where_and_masked_fill((a, b) in st::broadcast_pair(3, 3), seed in any::<u64>()) {
        let shape = nabla_tensor::broadcast_shapes("test", &a, &b).unwrap();
        let cond = random(&shape, seed ^ 11).gt_scalar(0.0);
        let c2 = cond.clone();
        check(move |v| Var::where_cond(&cond, &v[0], &v[1]).mul_scalar(1.5), &[random(&a, seed), random(&b, !seed)]);
        check(move |v| v[0].broadcast_to(&shape).masked_fill(&c2, -3.0).square(), &[random(&a, seed)])
    }
}
