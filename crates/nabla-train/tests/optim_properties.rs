//! Property: on a random convex quadratic `f(p) = Σ aᵢ(pᵢ − cᵢ)²` (`aᵢ > 0`), one
//! small-learning-rate step of every optimizer, from its fresh state, lowers `f`.
//!
//! Each coordinate starts at least 0.1 away from its minimum, and the step moves it by at most
//! about ten times the learning rate (RMSprop's first step is `lr·g/√(0.01·g²) = 10·lr`), so
//! with `lr = 1e-3` no coordinate overshoots and every one gets closer.

use nabla_autograd::gradcheck::strategies;
use nabla_autograd::{Gradients, Var};
use nabla_tensor::{DType, Tensor};
use nabla_train::optim::{AdagradConfig, AdamConfig, AdamWConfig, Optimizer, RmsPropConfig, SgdConfig};
use proptest::prelude::*;

const LR: f64 = 1e-3;

/// A random bowl: curvatures `a`, minimum `c`, and a start `p` at least 0.1 from `c` in every
/// coordinate.
#[derive(Debug, Clone)]
struct Bowl {
    a: Vec<f64>,
    c: Vec<f64>,
    p: Vec<f64>,
}

fn bowl() -> impl Strategy<Value = Bowl> {
    (1..=8usize).prop_flat_map(|n| {
        (
            prop::collection::vec(0.1..5.0f64, n),
            prop::collection::vec(-2.0..2.0f64, n),
            prop::collection::vec((0.1..2.0f64, any::<bool>()), n),
        )
            .prop_map(|(a, c, offsets)| {
                let p = c.iter().zip(offsets).map(|(c, (d, up))| if up { c + d } else { c - d }).collect();
                Bowl { a, c, p }
            })
    })
}

/// `f(p)` and its gradients, through the tape.
fn value_and_grads(bowl: &Bowl, p: &Var) -> (f64, Gradients) {
    let n = bowl.a.len();
    let a = Var::constant(Tensor::from_f64s(&bowl.a, &[n], DType::F64));
    let c = Var::constant(Tensor::from_f64s(&bowl.c, &[n], DType::F64));
    let f = p.sub(&c).powf(2.0).mul(&a).sum();
    (f.item(), f.backward())
}

/// `f` before and after one step of the optimizer `make` builds.
fn one_step(bowl: &Bowl, make: impl Fn(Vec<(String, Var)>) -> Box<dyn Optimizer>) -> (f64, f64) {
    let p = Var::new(Tensor::from_f64s(&bowl.p, &[bowl.p.len()], DType::F64));
    let mut optimizer = make(vec![("p".to_string(), p.clone())]);
    let (before, grads) = value_and_grads(bowl, &p);
    optimizer.step(&grads);
    let (after, _) = value_and_grads(bowl, &p);
    (before, after)
}

proptest! {
    #![proptest_config(strategies::config(64))]

    #[test]
    fn sgd_step_lowers_a_quadratic(bowl in bowl()) {
        let (before, after) = one_step(&bowl, |p| Box::new(SgdConfig::new(LR).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn nesterov_sgd_step_lowers_a_quadratic(bowl in bowl()) {
        let (before, after) =
            one_step(&bowl, |p| Box::new(SgdConfig::new(LR).with_momentum(0.9).with_nesterov(true).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn adam_step_lowers_a_quadratic(bowl in bowl()) {
        let (before, after) = one_step(&bowl, |p| Box::new(AdamConfig::new(LR).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn adamw_step_lowers_a_quadratic(bowl in bowl()) {
        // The default decoupled decay (0.01) moves p by lr·0.01·|p| ≤ 4e-5: far less than the step.
        let (before, after) = one_step(&bowl, |p| Box::new(AdamWConfig::new(LR).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn rmsprop_step_lowers_a_quadratic(bowl in bowl()) {
        let (before, after) = one_step(&bowl, |p| Box::new(RmsPropConfig::new(LR).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn centered_rmsprop_with_momentum_step_lowers_a_quadratic(bowl in bowl()) {
        // Centered: d = √(0.01g² − 0.0001g²) ≈ 0.0995|g|, a step of about 10·lr.
        let (before, after) =
            one_step(&bowl, |p| Box::new(RmsPropConfig::new(LR).with_centered(true).with_momentum(0.9).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }

    #[test]
    fn adagrad_step_lowers_a_quadratic(bowl in bowl()) {
        let (before, after) = one_step(&bowl, |p| Box::new(AdagradConfig::new(LR).init(p)));
        prop_assert!(after < before, "{before} → {after}");
    }
}
