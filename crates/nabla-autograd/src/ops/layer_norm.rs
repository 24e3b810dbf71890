//! Layer normalisation as one op (fused; [`layer_norm_composed`] is its gradient-check oracle
//! and the form its backward takes when second derivatives are wanted).
//!
//! Each row of the last `k` axes (`D` values) is normalised with its own mean and variance,
//! then scaled and shifted by the optional `γ`, `β` of the normalised shape:
//!
//! ```text
//! y = γ·(x − μ)/√(σ² + ε) + β
//! ```
//!
//! Composed from primitives this records about ten ops per call (the GPT of the benchmarks
//! calls it five times per step); fused it is one op whose forward and backward are the two
//! kernels of `nabla_tensor::layer_norm`, where the backward formula is written out.

use crate::Var;

impl Var {
    /// Layer normalisation over the last `k` axes with optional `γ`, `β` shaped like those
    /// axes, `y = γ·(x − μ)/√(σ² + ε) + β` per row (kernels and backward formula in
    /// `nabla_tensor::layer_norm`).
    ///
    /// # Panics
    /// If `self` has fewer than `k` axes or `γ`/`β` do not have the shape of the last `k`.
    #[track_caller]
    pub fn layer_norm(&self, k: usize, weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Var {
        let shape = self.shape();
        assert!(k >= 1 && k <= shape.len(), "layer_norm: cannot normalise the last {k} axes of {shape:?}");
        let normalized = &shape[shape.len() - k..];
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let Some(p) = p {
                assert!(p.shape() == normalized, "layer_norm: {name} {:?} must have shape {normalized:?}", p.shape());
            }
        }
        let d: usize = normalized.iter().product();
        let out = self.value().layer_norm_forward(
            d,
            weight.map(|w| w.value()).as_ref(),
            bias.map(|b| b.value()).as_ref(),
            eps,
        );
        let (has_weight, has_bias) = (weight.is_some(), bias.is_some());
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (mean, rstd) = (out.mean, out.rstd);
        Var::from_fused_op(
            "layer_norm",
            out.y,
            &inputs,
            move |g, x, _| {
                let weight = has_weight.then(|| &x[1]);
                let bias = has_bias.then(|| &x[x.len() - 1]);
                backward_composed(&x[0], k, weight, bias, g, eps)
            },
            move |g, x, _| {
                let weight = has_weight.then(|| &x[1]);
                let bias = has_bias.then(|| &x[x.len() - 1]);
                // The weight's value first: no second lock taken while `x`'s is held.
                let weight_value = weight.map(Var::value);
                let grads = x[0].read().layer_norm_backward(g, d, &mean, &rstd, weight_value.as_ref());
                let mut out = vec![Some(grads.x)];
                if let Some(w) = weight {
                    out.push(Some(grads.weight.reshape(w.shape())));
                }
                if let Some(b) = bias {
                    out.push(Some(grads.bias.reshape(b.shape())));
                }
                out
            },
        )
    }
}

/// The backward formula of `nabla_tensor::layer_norm` in differentiable ops, used when the
/// backward pass is recorded.
fn backward_composed(
    x: &Var,
    k: usize,
    weight: Option<&Var>,
    bias: Option<&Var>,
    g: &Var,
    eps: f64,
) -> Vec<Option<Var>> {
    let n = x.ndim();
    let axes: Vec<usize> = (n - k..n).collect();
    let g_hat = match weight {
        Some(w) => g.mul(w),
        None => g.clone(),
    };
    let (dx, x_hat) = x.normalize_backward(&axes, eps, &g_hat);
    let mut grads = vec![Some(dx)];
    if let Some(w) = weight {
        grads.push(Some(g.mul(&x_hat).sum_to(w.shape())));
    }
    if let Some(b) = bias {
        grads.push(Some(g.sum_to(b.shape())));
    }
    grads
}

/// The same normalisation composed from primitive ops: the oracle of the fused op's tests.
pub fn layer_norm_composed(x: &Var, k: usize, weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Var {
    let n = x.ndim();
    let axes: Vec<usize> = (n - k..n).collect();
    let y = x.normalize(&axes, eps);
    let y = match weight {
        Some(w) => y.mul(w),
        None => y,
    };
    match bias {
        Some(b) => y.add(b),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // Row [1, 3]: μ = 2, σ² = 1, x̂ = [−1, 1] (ε = 0); γ = [2, 1], β = [0, 1].
        let x = v(&[1.0, 3.0], &[1, 2]);
        let (w, b) = (v(&[2.0, 1.0], &[2]), v(&[0.0, 1.0], &[2]));
        let y = x.layer_norm(1, Some(&w), Some(&b), 0.0);
        assert_eq!(y.value().to_vec_f64(), vec![-2.0, 2.0]);
        let g = y.sum().backward();
        // γ̄ = x̂, β̄ = 1; x̄ = (2ĝ − Σĝ − x̂·Σĝx̂)/2 with ĝ = γ = [2, 1]: Σĝ = 3, Σĝx̂ = −1.
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![-1.0, 1.0]);
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![1.0, 1.0]);
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.0, 0.0]);
    }
}
