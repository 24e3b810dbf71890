//! Layer normalisation as two fused kernels, forward and backward, for `nabla-autograd`'s
//! `layer_norm` op (whose composed form, built from mean, subtract, square, divide, multiply
//! and add, is the oracle of its gradient checks).
//!
//! `x` is seen as rows of `D` values (the trailing, normalised axes; `D = 128` for a
//! `[batch, time, 128]` activation). Each row is normalised on its own, then every position
//! `d` of the row is scaled and shifted by the optional `γ_d`, `β_d`:
//!
//! ```text
//! μ = (1/D) Σ x        σ² = (1/D) Σ (x − μ)²        x̂ = (x − μ)/√(σ² + ε)        y = γ·x̂ + β
//! ```
//!
//! Backward, with `ĝ = γ ⊙ ȳ` (or `ȳ` without `γ`), per row:
//!
//! ```text
//! x̄ = (D·ĝ − Σ ĝ − x̂·Σ ĝ⊙x̂) / (D·√(σ² + ε))        γ̄ = Σ_rows ȳ⊙x̂        β̄ = Σ_rows ȳ
//! ```
//!
//! Rows are independent, so they are split over rayon's threads; `γ̄` and `β̄` are summed in
//! fixed blocks of rows that are then added in order, so results do not depend on the thread
//! count. Row statistics accumulate in `f64`.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::tensor::Tensor;
use crate::DType;

/// Rows per block when summing `γ̄` and `β̄` (fixed, for reproducible sums).
const ROWS_PER_BLOCK: usize = 64;

/// What [`Tensor::layer_norm_forward`] returns.
#[derive(Clone, Debug)]
pub struct LayerNormForward {
    /// `y`, shaped like `x`.
    pub y: Tensor,
    /// `μ` per row, `[rows]`.
    pub mean: Tensor,
    /// `1/√(σ² + ε)` per row, `[rows]`.
    pub rstd: Tensor,
}

/// What [`Tensor::layer_norm_backward`] returns.
#[derive(Clone, Debug)]
pub struct LayerNormBackward {
    /// `x̄`, shaped like `x`.
    pub x: Tensor,
    /// `γ̄`, `[D]` (flat).
    pub weight: Tensor,
    /// `β̄`, `[D]` (flat).
    pub bias: Tensor,
}

impl Tensor {
    /// Layer normalisation of `self` over rows of `d` trailing elements with optional `γ`, `β`
    /// of `d` elements each; see the [module docs](self).
    ///
    /// # Panics
    /// If `d` is 0 or does not divide the length, or `γ`/`β` do not hold `d` elements.
    #[track_caller]
    pub fn layer_norm_forward(
        &self,
        d: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> LayerNormForward {
        check("layer_norm", self, d, weight, bias);
        let x = self.contiguous();
        match self.dtype() {
            DType::F32 => forward::<f32>(&x, d, weight, bias, eps),
            DType::F64 => forward::<f64>(&x, d, weight, bias, eps),
        }
    }

    /// The gradients of [`layer_norm_forward`](Self::layer_norm_forward) given `grad` (of `y`),
    /// the input `self` and the `mean` and `rstd` the forward returned.
    ///
    /// # Panics
    /// If the shapes do not match the forward's.
    #[track_caller]
    pub fn layer_norm_backward(
        &self,
        grad: &Tensor,
        d: usize,
        mean: &Tensor,
        rstd: &Tensor,
        weight: Option<&Tensor>,
    ) -> LayerNormBackward {
        check("layer_norm backward", self, d, weight, None);
        assert_eq!(
            grad.shape(),
            self.shape(),
            "layer_norm backward: gradient {:?} vs x {:?}",
            grad.shape(),
            self.shape()
        );
        let (x, g) = (self.contiguous(), grad.to_dtype(self.dtype()).contiguous());
        match self.dtype() {
            DType::F32 => backward::<f32>(&x, &g, d, mean, rstd, weight),
            DType::F64 => backward::<f64>(&x, &g, d, mean, rstd, weight),
        }
    }
}

#[track_caller]
fn check(op: &str, x: &Tensor, d: usize, weight: Option<&Tensor>, bias: Option<&Tensor>) {
    assert!(d > 0 && x.len() % d == 0, "{op}: rows of {d} do not tile x {:?}", x.shape());
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            assert_eq!(t.len(), d, "{op}: {name} {:?} must hold {d} elements", t.shape());
        }
    }
}

fn slice<E: Element>(t: &Tensor) -> &[E] {
    t.as_array::<E>().and_then(|a| a.as_slice()).expect("made row-major E by the caller")
}

/// `t` as a `Vec<E>` of the caller's dtype, or `fill` repeated `d` times when absent.
fn per_position<E: Element>(t: Option<&Tensor>, d: usize, fill: f64) -> Vec<E> {
    match t {
        Some(t) => t.to_vec_f64().into_iter().map(E::of).collect(),
        None => vec![E::of(fill); d],
    }
}

fn forward<E: Element>(
    x: &Tensor,
    d: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> LayerNormForward {
    let xs = slice::<E>(x);
    let (gamma, beta) = (per_position::<E>(weight, d, 1.0), per_position::<E>(bias, d, 0.0));
    let rows = xs.len() / d;
    let mut y = vec![E::zero(); xs.len()];
    let mut stats = vec![(E::zero(), E::zero()); rows];
    y.par_chunks_mut(d).zip(xs.par_chunks(d)).zip(stats.par_iter_mut()).for_each(|((y, x), stat)| {
        let mean = x.iter().map(|v| v.to_f64_exact()).sum::<f64>() / d as f64;
        let var = x.iter().map(|v| (v.to_f64_exact() - mean).powi(2)).sum::<f64>() / d as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        let (m, r) = (E::of(mean), E::of(rstd));
        for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(&gamma).zip(&beta) {
            *y = (x - m) * r * g + b;
        }
        *stat = (m, r);
    });
    let (mean, rstd): (Vec<E>, Vec<E>) = stats.into_iter().unzip();
    LayerNormForward {
        y: Tensor::from_vec(y, x.shape()),
        mean: Tensor::from_vec(mean, &[rows]),
        rstd: Tensor::from_vec(rstd, &[rows]),
    }
}

fn backward<E: Element>(
    x: &Tensor,
    g: &Tensor,
    d: usize,
    mean: &Tensor,
    rstd: &Tensor,
    weight: Option<&Tensor>,
) -> LayerNormBackward {
    let (xs, gs) = (slice::<E>(x), slice::<E>(g));
    let gamma = per_position::<E>(weight, d, 1.0);
    let (mean, rstd) = (mean.to_dtype(E::DTYPE).contiguous(), rstd.to_dtype(E::DTYPE).contiguous());
    let (mean, rstd) = (slice::<E>(&mean), slice::<E>(&rstd));
    let mut dx = vec![E::zero(); xs.len()];
    let block = ROWS_PER_BLOCK * d;
    // Each block of rows: x̄ for its rows, and its partial sums of γ̄ and β̄.
    let partials: Vec<(Vec<E>, Vec<E>)> = dx
        .par_chunks_mut(block)
        .zip(xs.par_chunks(block).zip(gs.par_chunks(block)))
        .enumerate()
        .map(|(b, (dx, (x, g)))| {
            let (mut dgamma, mut dbeta) = (vec![E::zero(); d], vec![E::zero(); d]);
            for (r, (dx, (x, g))) in dx.chunks_mut(d).zip(x.chunks(d).zip(g.chunks(d))).enumerate() {
                let row = b * ROWS_PER_BLOCK + r;
                let (m, s) = (mean[row], rstd[row]);
                let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
                for i in 0..d {
                    let x_hat = (x[i] - m) * s;
                    let g_hat = g[i] * gamma[i];
                    sum_g += g_hat.to_f64_exact();
                    sum_gx += (g_hat * x_hat).to_f64_exact();
                    dgamma[i] = dgamma[i] + g[i] * x_hat;
                    dbeta[i] = dbeta[i] + g[i];
                }
                let (a, c) = (E::of(sum_g / d as f64), E::of(sum_gx / d as f64));
                for i in 0..d {
                    let x_hat = (x[i] - m) * s;
                    dx[i] = (g[i] * gamma[i] - a - x_hat * c) * s;
                }
            }
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![E::zero(); d], vec![E::zero(); d]);
    for (pg, pb) in partials {
        dgamma.iter_mut().zip(pg).for_each(|(t, v)| *t = *t + v);
        dbeta.iter_mut().zip(pb).for_each(|(t, v)| *t = *t + v);
    }
    LayerNormBackward {
        x: Tensor::from_vec(dx, x.shape()),
        weight: Tensor::from_vec(dgamma, &[d]),
        bias: Tensor::from_vec(dbeta, &[d]),
    }
}
