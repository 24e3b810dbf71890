//! Batch normalisation in training mode as two fused kernels, forward and backward, for
//! `nabla-autograd`'s `batch_norm` op (whose composed form, built from mean, subtract, square,
//! divide, multiply and add, is the oracle of its gradient checks).
//!
//! For `x` of shape `[N, C, ...]` (`[N, C]` for BatchNorm1d, `[N, C, H, W]` for BatchNorm2d),
//! channel `c` is normalised over the `m = N·H·W` values it has in the batch:
//!
//! ```text
//! μ_c = (1/m) Σ x          σ²_c = (1/m) Σ (x − μ_c)²          (population variance)
//! x̂ = (x − μ_c) / √(σ²_c + ε)        y = γ_c·x̂ + β_c
//! ```
//!
//! and the backward pass, with `ḡ` the gradient of `y`, needs only two sums per channel:
//!
//! ```text
//! β̄_c = Σ ḡ        γ̄_c = Σ ḡ·x̂
//! x̄ = γ_c / (m·√(σ²_c + ε)) · (m·ḡ − β̄_c − x̂·γ̄_c)
//! ```
//!
//! Composed, the same work is about a dozen passes over `x`-sized tensors, each allocating;
//! here the forward reads `x` twice (sum, then squared deviations, for an accurate variance)
//! and writes `y` once, and the backward reads twice and writes once. Sums accumulate in
//! `f64`. Statistics are split over channels and outputs over samples on rayon's threads;
//! every value is computed by one fixed sequence of additions, so results do not depend on
//! the thread count.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::tensor::row_major_array;
use crate::tensor::Tensor;
use crate::vector_math::with_widest_vectors;

/// What [`Tensor::batch_norm_forward`] returns.
#[derive(Clone, Debug)]
pub struct BatchNormForward {
    /// `y = γ·x̂ + β`, shaped like `x`.
    pub y: Tensor,
    /// `μ`, `[C]`.
    pub mean: Tensor,
    /// `σ²` (population: divided by `m`), `[C]`.
    pub var: Tensor,
}

/// What [`Tensor::batch_norm_backward`] returns.
#[derive(Clone, Debug)]
pub struct BatchNormBackward {
    /// `x̄`, shaped like `x`.
    pub x: Tensor,
    /// `γ̄`, `[C]`.
    pub weight: Tensor,
    /// `β̄`, `[C]`.
    pub bias: Tensor,
}

/// The layout every kernel here works on: `x` row-major as `[n, c, inner]`.
#[derive(Clone, Copy)]
struct Layout {
    n: usize,
    c: usize,
    inner: usize,
}

impl Layout {
    #[track_caller]
    fn of(op: &str, shape: &[usize]) -> Layout {
        assert!(shape.len() >= 2, "{op}: expected x [N, C, ...], got {shape:?}");
        Layout { n: shape[0], c: shape[1], inner: shape[2..].iter().product() }
    }

    /// Values per channel.
    fn m(self) -> usize {
        self.n * self.inner
    }

    /// The `n` contiguous runs of channel `c`.
    fn runs<'a, E>(self, xs: &'a [E], c: usize) -> impl Iterator<Item = &'a [E]> + 'a {
        (0..self.n).map(move |n| &xs[(n * self.c + c) * self.inner..][..self.inner])
    }
}

impl Tensor {
    /// Training-mode batch normalisation of `self` (`[N, C, ...]`) with optional `γ`, `β`
    /// (`[C]`); see the [module docs](self).
    ///
    /// # Panics
    /// If `self` has fewer than two axes, or `γ`/`β` are not `[C]`.
    #[track_caller]
    pub fn batch_norm_forward(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> BatchNormForward {
        let layout = Layout::of("batch_norm", self.shape());
        let per_channel = |t: Option<&Tensor>, name: &str| {
            t.map(|t| {
                assert_eq!(t.shape(), [layout.c], "batch_norm: {name} must be [{}], got {:?}", layout.c, t.shape());
                t.to_vec_f64()
            })
        };
        let (gamma, beta) = (per_channel(weight, "weight"), per_channel(bias, "bias"));
        let x = self.contiguous();
        match self.dtype() {
            crate::DType::F32 => forward::<f32>(&x, layout, gamma, beta, eps),
            crate::DType::F64 => forward::<f64>(&x, layout, gamma, beta, eps),
        }
    }

    /// The gradients of [`batch_norm_forward`](Self::batch_norm_forward) given `grad` (the
    /// gradient of `y`), the input `self` and the `mean` and `var` the forward returned.
    ///
    /// # Panics
    /// If the shapes do not match the forward's.
    #[track_caller]
    pub fn batch_norm_backward(
        &self,
        grad: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        weight: Option<&Tensor>,
        eps: f64,
    ) -> BatchNormBackward {
        let layout = Layout::of("batch_norm backward", self.shape());
        assert_eq!(
            grad.shape(),
            self.shape(),
            "batch_norm backward: gradient {:?} vs x {:?}",
            grad.shape(),
            self.shape()
        );
        let gamma = weight.map(|w| w.to_vec_f64());
        let (x, g) = (self.contiguous(), grad.to_dtype(self.dtype()).contiguous());
        match self.dtype() {
            crate::DType::F32 => backward::<f32>(&x, &g, layout, &mean.to_vec_f64(), &var.to_vec_f64(), gamma, eps),
            crate::DType::F64 => backward::<f64>(&x, &g, layout, &mean.to_vec_f64(), &var.to_vec_f64(), gamma, eps),
        }
    }
}

fn slice<E: Element>(t: &Tensor) -> &[E] {
    t.as_array::<E>().and_then(|a| a.as_slice()).expect("made row-major E by the caller")
}

fn tensor<E: Element>(values: Vec<E>, shape: &[usize]) -> Tensor {
    Tensor::from_array(row_major_array(values, shape))
}

/// `Σᵢ f(aᵢ, bᵢ)` for a function giving two terms, accumulated in `f64` (the slices have one
/// length). Eight running sums take every 8th element, so the additions run side by side in
/// vector lanes instead of as one chain of dependent additions (a run of BatchNorm statistics
/// went several times faster); the order depends only on the length.
#[inline(always)]
fn lane_sums<E: Element>(a: &[E], b: &[E], f: impl Fn(f64, f64) -> [f64; 2]) -> [f64; 2] {
    const LANES: usize = 8;
    let mut lanes = [[0.0f64; LANES]; 2];
    let (blocks_a, blocks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let mut sums = [0.0f64; 2];
    for (&x, &y) in blocks_a.remainder().iter().zip(blocks_b.remainder()) {
        let [p, q] = f(x.to_f64_exact(), y.to_f64_exact());
        sums = [sums[0] + p, sums[1] + q];
    }
    for (x, y) in blocks_a.zip(blocks_b) {
        for l in 0..LANES {
            let [p, q] = f(x[l].to_f64_exact(), y[l].to_f64_exact());
            lanes[0][l] += p;
            lanes[1][l] += q;
        }
    }
    for (p, q) in lanes[0].iter().zip(&lanes[1]) {
        sums = [sums[0] + p, sums[1] + q];
    }
    sums
}

/// `Σᵢ f(aᵢ)`: [`lane_sums`] with one term.
#[inline(always)]
fn lane_sum<E: Element>(a: &[E], f: impl Fn(f64) -> f64) -> f64 {
    lane_sums(a, a, |x, _| [f(x), 0.0])[0]
}

fn forward<E: Element>(
    x: &Tensor,
    layout: Layout,
    gamma: Option<Vec<f64>>,
    beta: Option<Vec<f64>>,
    eps: f64,
) -> BatchNormForward {
    let xs = slice::<E>(x);
    let m = layout.m() as f64;
    // Per channel: the mean, then the mean squared deviation from it.
    let stats: Vec<(f64, f64)> = (0..layout.c)
        .into_par_iter()
        .map(|c| {
            with_widest_vectors(
                #[inline(always)]
                || {
                    let sum: f64 = layout.runs(xs, c).map(|run| lane_sum(run, |x| x)).sum();
                    let mean = sum / m;
                    let sq: f64 = layout.runs(xs, c).map(|run| lane_sum(run, |x| (x - mean).powi(2))).sum();
                    (mean, sq / m)
                },
            )
        })
        .collect();
    // y = scale·x + shift per channel, with scale = γ/√(σ²+ε) and shift = β − μ·scale.
    let (scale, shift): (Vec<E>, Vec<E>) = stats
        .iter()
        .enumerate()
        .map(|(c, &(mean, var))| {
            let s = gamma.as_ref().map_or(1.0, |g| g[c]) / (var + eps).sqrt();
            (E::of(s), E::of(beta.as_ref().map_or(0.0, |b| b[c]) - mean * s))
        })
        .unzip();
    let mut y = vec![E::zero(); xs.len()];
    let sample = (layout.c * layout.inner).max(1);
    y.par_chunks_mut(sample).zip(xs.par_chunks(sample)).for_each(|(y, x)| {
        with_widest_vectors(
            #[inline(always)]
            || {
                for (c, (y, x)) in y.chunks_mut(layout.inner.max(1)).zip(x.chunks(layout.inner.max(1))).enumerate() {
                    let (s, t) = (scale[c], shift[c]);
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = x * s + t;
                    }
                }
            },
        )
    });
    let (mean, var): (Vec<E>, Vec<E>) = stats.iter().map(|&(m, v)| (E::of(m), E::of(v))).unzip();
    BatchNormForward { y: tensor(y, x.shape()), mean: tensor(mean, &[layout.c]), var: tensor(var, &[layout.c]) }
}

fn backward<E: Element>(
    x: &Tensor,
    g: &Tensor,
    layout: Layout,
    mean: &[f64],
    var: &[f64],
    gamma: Option<Vec<f64>>,
    eps: f64,
) -> BatchNormBackward {
    let (xs, gs) = (slice::<E>(x), slice::<E>(g));
    let m = layout.m() as f64;
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    // Per channel: β̄ = Σ ḡ and γ̄ = Σ ḡ·x̂.
    let sums: Vec<(f64, f64)> = (0..layout.c)
        .into_par_iter()
        .map(|c| {
            let (mu, inv) = (mean[c], inv_std[c]);
            with_widest_vectors(
                #[inline(always)]
                || {
                    let (mut sg, mut sgx) = (0.0, 0.0);
                    for (g, x) in layout.runs(gs, c).zip(layout.runs(xs, c)) {
                        let [a, b] = lane_sums(g, x, |g, x| [g, g * (x - mu) * inv]);
                        (sg, sgx) = (sg + a, sgx + b);
                    }
                    (sg, sgx)
                },
            )
        })
        .collect();
    // x̄ = k·(ḡ − β̄/m − x̂·γ̄/m) with k = γ/√(σ²+ε), written as x̄ = k·ḡ + a·x + b per channel.
    let coefficients: Vec<(E, E, E)> = (0..layout.c)
        .map(|c| {
            let k = gamma.as_ref().map_or(1.0, |g| g[c]) * inv_std[c];
            let (sg, sgx) = sums[c];
            let a = -k * inv_std[c] * sgx / m;
            let b = -k * sg / m - a * mean[c];
            (E::of(k), E::of(a), E::of(b))
        })
        .collect();
    let mut dx = vec![E::zero(); xs.len()];
    let sample = (layout.c * layout.inner).max(1);
    let inner = layout.inner.max(1);
    dx.par_chunks_mut(sample).zip(gs.par_chunks(sample).zip(xs.par_chunks(sample))).for_each(|(dx, (g, x))| {
        with_widest_vectors(
            #[inline(always)]
            || {
                for (c, (dx, (g, x))) in dx.chunks_mut(inner).zip(g.chunks(inner).zip(x.chunks(inner))).enumerate() {
                    let (k, a, b) = coefficients[c];
                    for ((d, &g), &x) in dx.iter_mut().zip(g).zip(x) {
                        *d = k * g + a * x + b;
                    }
                }
            },
        )
    });
    let (dgamma, dbeta): (Vec<E>, Vec<E>) = sums.iter().map(|&(sg, sgx)| (E::of(sgx), E::of(sg))).unzip();
    BatchNormBackward {
        x: tensor(dx, x.shape()),
        weight: tensor(dgamma, &[layout.c]),
        bias: tensor(dbeta, &[layout.c]),
    }
}
