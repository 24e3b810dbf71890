//! Property-based checks of the fused ops against finite differences and against their
//! composed forms (their oracles): batch normalisation. (The fused dense product `linear` is
//! checked beside `matmul` in `gradcheck_shape.rs`.)

use nabla_autograd::gradcheck::{check_gradients, check_second_order, strategies as st, Tolerance};
use nabla_autograd::{batch_norm_composed, Var};
use nabla_tensor::{init, rng, DType, Tensor};
use proptest::prelude::*;

fn random(shape: &[usize], seed: u64) -> Tensor {
    init::uniform(shape, -2.0, 2.0, DType::F64, &mut rng(seed))
}

/// `[N, C]` or `[N, C, H, W]` with at least two values per channel, and whether `γ`, `β` exist.
fn bn_case() -> impl Strategy<Value = (Vec<usize>, bool, bool, u64)> {
    (2usize..4, 1usize..4, prop::option::of((1usize..3, 1usize..3)), any::<bool>(), any::<bool>(), any::<u64>())
        .prop_map(|(n, c, spatial, w, b, seed)| {
            let shape = match spatial {
                Some((h, w)) => vec![n, c, h, w],
                None => vec![n, c],
            };
            (shape, w, b, seed)
        })
}

fn inputs(shape: &[usize], weight: bool, bias: bool, seed: u64) -> Vec<Tensor> {
    let c = shape[1];
    let mut inputs = vec![random(shape, seed)];
    if weight {
        inputs.push(random(&[c], seed ^ 1));
    }
    if bias {
        inputs.push(random(&[c], seed ^ 2));
    }
    inputs
}

/// `(x, γ, β)` from the inputs list, for the closures below.
fn split(v: &[Var], weight: bool) -> (&Var, Option<&Var>, Option<&Var>) {
    let w = weight.then(|| &v[1]);
    let b = v.get(if weight { 2 } else { 1 });
    (&v[0], w, b)
}

proptest! {
    #![proptest_config(st::config(24))]

    #[test]
    fn batch_norm_fused((shape, weight, bias, seed) in bn_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            // Multiply by a fixed random tensor so the output is not a sum that BN makes constant.
            x.batch_norm(w, b, 1e-3).0.mul(&Var::constant(random(&x.shape(), 99)))
        };
        if let Err(e) = check_gradients(f, &inputs(&shape, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }

    #[test]
    fn batch_norm_equals_composed((shape, weight, bias, seed) in bn_case()) {
        let vars: Vec<Var> = inputs(&shape, weight, bias, seed).into_iter().map(Var::new).collect();
        let (x, w, b) = split(&vars, weight);
        let r = Var::constant(random(&shape, seed ^ 3));
        let (fused, stats) = x.batch_norm(w, b, 1e-5);
        let composed = batch_norm_composed(x, w, b, 1e-5);
        prop_assert!(fused.value().allclose(&composed.value(), 1e-10, 1e-10));
        let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
        prop_assert!(stats.mean.allclose(&x.value().mean_axes(&axes, false), 1e-12, 1e-12));
        let (gf, gc) = (fused.mul(&r).sum().backward(), composed.mul(&r).sum().backward());
        for p in &vars {
            prop_assert!(gf.get(p).unwrap().allclose(gc.get(p).unwrap(), 1e-9, 1e-9));
        }
    }

    #[test]
    fn batch_norm_second_order((shape, weight, bias, seed) in bn_case()) {
        let f = |v: &[Var]| {
            let (x, w, b) = split(v, weight);
            x.batch_norm(w, b, 1e-3).0.tanh()
        };
        if let Err(e) = check_second_order(f, &inputs(&shape, weight, bias, seed), Tolerance::default()) {
            panic!("{e}");
        }
    }
}

#[test]
fn batch_norm_f32_matches_f64() {
    let x = random(&[8, 3, 5, 5], 7);
    let w = random(&[3], 8);
    let (y64, _) = Var::new(x.clone()).batch_norm(Some(&Var::new(w.clone())), None, 1e-5);
    let (y32, _) = Var::new(x.to_dtype(DType::F32)).batch_norm(Some(&Var::new(w.to_dtype(DType::F32))), None, 1e-5);
    assert!(y32.value().to_dtype(DType::F64).allclose(&y64.value(), 1e-5, 1e-5));
}
