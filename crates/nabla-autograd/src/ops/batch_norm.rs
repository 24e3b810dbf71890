//! Batch normalisation in training mode as one op (fused; the composed form below is its
//! gradient-check oracle and its second-derivative path).
//!
//! For `x` `[N, C, ...]`, each channel is normalised with the mean and (population) variance
//! of its values in the batch, then scaled and shifted by the optional `γ`, `β` (`[C]`):
//!
//! ```text
//! y = γ·(x − μ)/√(σ² + ε) + β
//! ```
//!
//! Composed from primitives this is about twelve recorded ops and as many passes over
//! activation-sized tensors, forward and backward. The fused op records one, and its forward
//! and backward are the two kernels of `nabla_tensor::batch_norm` (the backward formula is
//! written out there). When the backward pass is itself being recorded (`create_graph`, for
//! second derivatives), the backward rule is the same formula written with differentiable ops,
//! so higher derivatives stay exact.

use nabla_tensor::Tensor;

use crate::Var;

/// The statistics of the batch, for the layer's running averages.
#[derive(Clone, Debug)]
pub struct BatchStats {
    /// `μ`, `[C]`.
    pub mean: Tensor,
    /// `σ²`, the population variance (divided by the `m` values per channel), `[C]`.
    pub var: Tensor,
}

impl Var {
    /// Training-mode batch normalisation over every axis but 1; returns `y` and the batch
    /// statistics. See [`BatchStats`] and the formulas in `nabla_tensor::batch_norm`.
    ///
    /// # Panics
    /// If `self` has fewer than two axes or `weight`/`bias` are not `[C]`.
    #[track_caller]
    pub fn batch_norm(&self, weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> (Var, BatchStats) {
        let out =
            self.value().batch_norm_forward(weight.map(|w| w.value()).as_ref(), bias.map(|b| b.value()).as_ref(), eps);
        let stats = BatchStats { mean: out.mean.clone(), var: out.var.clone() };
        let (has_weight, has_bias) = (weight.is_some(), bias.is_some());
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (mean, var) = (out.mean, out.var);
        let y = Var::from_fused_op(
            "batch_norm",
            out.y,
            &inputs,
            // Recording the backward pass (second derivatives): the same formula in
            // differentiable ops.
            move |g, x, _| backward_composed(&x[0], has_weight.then(|| &x[1]), has_bias, g, eps),
            move |g, x, _| {
                let weight = has_weight.then(|| x[1].value());
                let grads = x[0].read().batch_norm_backward(g, &mean, &var, weight.as_ref(), eps);
                let mut out = vec![Some(grads.x)];
                if has_weight {
                    out.push(Some(grads.weight));
                }
                if has_bias {
                    out.push(Some(grads.bias));
                }
                out
            },
        );
        (y, stats)
    }
}

/// The backward formula of `nabla_tensor::batch_norm` written with differentiable ops, used
/// when the backward pass is recorded: `β̄ = Σ ḡ`, `γ̄ = Σ ḡ·x̂`, and `x̄` from
/// [`Var::normalize_backward`] with `ḡ` scaled by `γ`.
fn backward_composed(x: &Var, weight: Option<&Var>, has_bias: bool, g: &Var, eps: f64) -> Vec<Option<Var>> {
    let shape = x.shape();
    let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
    let mut broadcast = vec![1; shape.len()];
    broadcast[1] = shape[1];
    let g_hat = match weight {
        Some(w) => g.mul(&w.reshape(&broadcast)),
        None => g.clone(),
    };
    let (dx, x_hat) = x.normalize_backward(&axes, eps, &g_hat);
    let mut grads = vec![Some(dx)];
    if weight.is_some() {
        grads.push(Some(g.mul(&x_hat).sum_axes(&axes, false)));
    }
    if has_bias {
        grads.push(Some(g.sum_axes(&axes, false)));
    }
    grads
}

/// The same normalisation composed from primitive ops: the oracle of the fused op's tests and
/// the rule its backward differentiates when second derivatives are wanted.
pub fn batch_norm_composed(x: &Var, weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Var {
    let shape = x.shape();
    let axes: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
    let mut broadcast = vec![1; shape.len()];
    broadcast[1] = shape[1];
    let y = x.normalize(&axes, eps);
    let y = match weight {
        Some(w) => y.mul(&w.reshape(&broadcast)),
        None => y,
    };
    match bias {
        Some(b) => y.add(&b.reshape(&broadcast)),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // One channel, values 1 and 3: μ = 2, σ² = 1, so x̂ = ∓1/√(1 + ε).
        let x = v(&[1.0, 3.0], &[2, 1]);
        let (w, b) = (v(&[2.0], &[1]), v(&[0.5], &[1]));
        let (y, stats) = x.batch_norm(Some(&w), Some(&b), 0.0);
        assert_eq!(y.value().to_vec_f64(), vec![-1.5, 2.5]);
        assert_eq!((stats.mean.to_vec_f64(), stats.var.to_vec_f64()), (vec![2.0], vec![1.0]));
        // Σ y is 2β whatever x is: x̄ = 0, γ̄ = Σ x̂ = 0, β̄ = 2.
        let g = y.sum().backward();
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![0.0, 0.0]);
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![0.0]);
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![2.0]);
    }
}
