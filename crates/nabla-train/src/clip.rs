//! Gradient clipping by global norm.
//!
//! A single unlucky batch (or an exploding recurrent network) can produce a gradient so large
//! that one step throws the parameters far away. Clipping by the *global* norm treats all
//! gradients as one long vector `g = (g₁, …, gₙ)` and shortens it when it is too long:
//!
//! ```text
//! ‖g‖ = √(Σᵢ Σⱼ gᵢⱼ²)                           over every parameter's gradient
//! gᵢ ← gᵢ · max_norm/‖g‖   for every i,   when ‖g‖ > max_norm
//! ```
//!
//! The direction of the step is kept, only its length is limited (clipping each element
//! separately would change the direction). Call it between `backward()` and
//! [`Optimizer::step`](crate::optim::Optimizer::step), as PyTorch's `clip_grad_norm_`.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_tensor::Tensor;
//! use nabla_train::clip_grad_norm;
//! let w = Var::new(Tensor::from_vec(vec![1.0f64, 1.0], &[2]));
//! let params = vec![("w".to_string(), w.clone())];
//! let loss = w.mul(&Var::constant(Tensor::from_vec(vec![3.0f64, 4.0], &[2]))).sum();
//! let mut grads = loss.backward(); // [3, 4], norm 5
//! let norm = clip_grad_norm(&mut grads, &params, 2.5); // scaled by 2.5/5
//! assert_eq!(norm, 5.0);
//! assert_eq!(grads.get(&w).unwrap().to_vec_f64(), vec![1.5, 2.0]);
//! ```

use nabla_autograd::{Gradients, Var};

use crate::optim::elementwise::sum_of_squares;

/// Scales the gradients of `params` so that their global L2 norm is at most `max_norm`, and
/// returns the norm *before* clipping (worth logging: a growing norm warns of divergence).
///
/// The norm is summed in `f64` in the order of `params`; parameters without a gradient are
/// skipped. When the norm is NaN or infinite the gradients are left unchanged and the
/// non-finite norm is returned, for the caller to stop or skip the step.
///
/// # Panics
/// If `max_norm` is negative or NaN.
#[track_caller]
pub fn clip_grad_norm(grads: &mut Gradients, params: &[(String, Var)], max_norm: f64) -> f64 {
    assert!(max_norm >= 0.0, "clip_grad_norm: max_norm must be ≥ 0, but is {max_norm}");
    let norm = params.iter().filter_map(|(_, p)| grads.get(p)).map(sum_of_squares).sum::<f64>().sqrt();
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / norm;
        for (_, p) in params {
            if let Some(g) = grads.get(p) {
                let clipped = g.mul_scalar(scale);
                grads.insert(p, clipped);
            }
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_tensor::{DType, Tensor};

    fn setup() -> (Vec<(String, Var)>, Gradients) {
        let a = Var::new(Tensor::zeros(&[2], DType::F32));
        let b = Var::new(Tensor::zeros(&[2, 2], DType::F64));
        let c = Var::new(Tensor::zeros(&[1], DType::F32)); // no gradient
        let mut grads = Gradients::new();
        grads.insert(&a, Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
        grads.insert(&b, Tensor::from_vec(vec![2.0f64, 0.0, -4.0, 0.0], &[2, 2]));
        (vec![("a".into(), a), ("b".into(), b), ("c".into(), c)], grads)
    }

    #[test]
    fn clips_by_the_global_norm() {
        let (params, mut grads) = setup();
        // ‖g‖ = √(1 + 4 + 4 + 16) = 5; scale = 2.5/5 = 0.5
        let norm = clip_grad_norm(&mut grads, &params, 2.5);
        assert_eq!(norm, 5.0);
        let a = grads.get(&params[0].1).unwrap();
        assert_eq!(a.dtype(), DType::F32);
        assert_eq!(a.to_vec_f64(), vec![0.5, 1.0]);
        assert_eq!(grads.get(&params[1].1).unwrap().to_vec_f64(), vec![1.0, 0.0, -2.0, 0.0]);
        assert!(grads.get(&params[2].1).is_none());
        // Now exactly at the limit: unchanged.
        let norm = clip_grad_norm(&mut grads, &params, 2.5);
        assert_eq!(norm, 2.5);
        assert_eq!(grads.get(&params[0].1).unwrap().to_vec_f64(), vec![0.5, 1.0]);
    }

    #[test]
    fn leaves_small_gradients_alone() {
        let (params, mut grads) = setup();
        assert_eq!(clip_grad_norm(&mut grads, &params, 10.0), 5.0);
        assert_eq!(grads.get(&params[1].1).unwrap().to_vec_f64(), vec![2.0, 0.0, -4.0, 0.0]);
    }

    #[test]
    fn only_the_listed_parameters_count() {
        let (params, mut grads) = setup();
        // Only b: ‖g_b‖ = √20; a is neither counted nor scaled.
        let norm = clip_grad_norm(&mut grads, &params[1..], 1.0);
        assert!((norm - 20f64.sqrt()).abs() < 1e-15);
        assert_eq!(grads.get(&params[0].1).unwrap().to_vec_f64(), vec![1.0, 2.0]);
        let b = grads.get(&params[1].1).unwrap().to_vec_f64();
        assert!((b[2] + 4.0 / 20f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn a_non_finite_norm_is_reported_not_spread() {
        let (params, mut grads) = setup();
        grads.insert(&params[0].1, Tensor::from_vec(vec![f32::INFINITY, 0.0], &[2]));
        assert_eq!(clip_grad_norm(&mut grads, &params, 1.0), f64::INFINITY);
        assert_eq!(grads.get(&params[1].1).unwrap().to_vec_f64(), vec![2.0, 0.0, -4.0, 0.0]);
        grads.insert(&params[0].1, Tensor::from_vec(vec![f32::NAN, 0.0], &[2]));
        assert!(clip_grad_norm(&mut grads, &params, 1.0).is_nan());
    }

    #[test]
    #[should_panic(expected = "clip_grad_norm: max_norm must be ≥ 0, but is -1")]
    fn a_negative_limit_is_refused() {
        let (params, mut grads) = setup();
        clip_grad_norm(&mut grads, &params, -1.0);
    }
}
