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
//! here the forward reads `x` twice (statistics, then `y`) and writes `y` once, and the
//! backward reads twice and writes once. Sums accumulate in `f64`. The statistics take one
//! pass, summing `x − k` and `(x − k)²` with `k` the channel's first value:
//!
//! ```text
//! μ = k + S₁/m        σ² = max(0, S₂/m − (S₁/m)²)        S₁ = Σ (x − k),  S₂ = Σ (x − k)²
//! ```
//!
//! (the `max` only catches rounding below zero for a constant channel). The textbook one-pass
//! formula (`k = 0`) subtracts two large numbers when `|μ| ≫ σ` and loses the variance to
//! rounding; shifted by a value of the channel itself, the two terms are of the order of the
//! channel's spread around `k`, which is `σ²` for a typical `k` and at most `m·σ²` for the most
//! outlying one, so in `f64` the variance of `f32` data keeps its digits either way.
//! Statistics are split over channels and outputs over samples on rayon's threads; every value
//! is computed by one fixed sequence of additions, so results do not depend on the thread
//! count.

use std::mem::MaybeUninit;

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

/// Two running sums over a channel's runs, `Σ f(aᵢ, bᵢ)` for a function giving two terms,
/// accumulated in `f64`. [`LANES`](Self::LANES) partial sums take every `LANES`-th element of
/// a run, so the additions run side by side in vector registers (four of them) instead of as
/// one chain of dependent additions, and the lanes are added up once, at the end of the
/// channel. The order of the additions depends only on the shape.
struct ChannelSums {
    lanes: [[f64; Self::LANES]; 2],
}

impl ChannelSums {
    /// 32 lanes of `f64`: four AVX-512 registers per sum (eight with AVX2, where the two sums
    /// take all sixteen). With 8 lanes (one AVX-512 register) each addition waited for the one
    /// before, and the statistics ran at a third of the speed of memory.
    const LANES: usize = 32;

    fn new() -> Self {
        ChannelSums { lanes: [[0.0; Self::LANES]; 2] }
    }

    /// Adds `f(aᵢ, bᵢ)` over one run (`a` and `b` have one length).
    #[inline(always)]
    fn add_run<E: Element>(&mut self, a: &[E], b: &[E], f: impl Fn(f64, f64) -> [f64; 2]) {
        let (blocks_a, blocks_b) = (a.chunks_exact(Self::LANES), b.chunks_exact(Self::LANES));
        // The elements past the last whole block go to the first lanes too, so that short runs
        // (a 4×4 feature map has 16 per image) still sum side by side.
        for (l, (&x, &y)) in blocks_a.remainder().iter().zip(blocks_b.remainder()).enumerate() {
            let [p, q] = f(x.to_f64_exact(), y.to_f64_exact());
            self.lanes[0][l] += p;
            self.lanes[1][l] += q;
        }
        for (x, y) in blocks_a.zip(blocks_b) {
            for l in 0..Self::LANES {
                let [p, q] = f(x[l].to_f64_exact(), y[l].to_f64_exact());
                self.lanes[0][l] += p;
                self.lanes[1][l] += q;
            }
        }
    }

    /// The two sums.
    fn total(&self) -> [f64; 2] {
        let mut sums = [0.0; 2];
        for (p, q) in self.lanes[0].iter().zip(&self.lanes[1]) {
            sums = [sums[0] + p, sums[1] + q];
        }
        sums
    }
}

/// A vector of `len` elements written by `fill(i, chunk)` for its `i`-th chunk of `sample`
/// elements, on rayon's threads, starting uninitialised: no pass of zeros before the values.
///
/// # Safety
/// `fill` writes every element of the chunk it is given.
unsafe fn filled<E: Element>(len: usize, sample: usize, fill: impl Fn(usize, &mut [MaybeUninit<E>]) + Sync) -> Vec<E> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len].par_chunks_mut(sample.max(1)).enumerate().for_each(|(i, chunk)| fill(i, chunk));
    // SAFETY: the chunks cover `0..len`, and the caller promised that `fill` wrote all of each.
    unsafe { out.set_len(len) };
    out
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
    // Per channel, in one pass: the sums of `x − k` and of its square, with `k` the channel's
    // first value (see the module docs), then the mean and the variance from them.
    let stats: Vec<(f64, f64)> = (0..layout.c)
        .into_par_iter()
        .map(|c| {
            let k = layout.runs(xs, c).next().and_then(|run| run.first()).map_or(0.0, |x| x.to_f64_exact());
            with_widest_vectors(
                #[inline(always)]
                || {
                    let mut sums = ChannelSums::new();
                    for run in layout.runs(xs, c) {
                        sums.add_run(run, run, |x, _| [x - k, (x - k) * (x - k)]);
                    }
                    let [shifted, squares] = sums.total();
                    let mean_shift = shifted / m;
                    // Rounding can leave a constant channel a hair below zero; a NaN stays NaN.
                    let var = squares / m - mean_shift * mean_shift;
                    (k + mean_shift, if var < 0.0 { 0.0 } else { var })
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
    let sample = (layout.c * layout.inner).max(1);
    // SAFETY: the closure writes every element of its chunk (each channel's run, in order).
    let y = unsafe {
        filled(xs.len(), sample, |i, y| {
            let x = &xs[i * sample..][..y.len()];
            with_widest_vectors(
                #[inline(always)]
                || {
                    for (c, (y, x)) in y.chunks_mut(layout.inner.max(1)).zip(x.chunks(layout.inner.max(1))).enumerate()
                    {
                        let (s, t) = (scale[c], shift[c]);
                        for (y, &x) in y.iter_mut().zip(x) {
                            y.write(x * s + t);
                        }
                    }
                },
            )
        })
    };
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
                    let mut sums = ChannelSums::new();
                    for (g, x) in layout.runs(gs, c).zip(layout.runs(xs, c)) {
                        sums.add_run(g, x, |g, x| [g, g * (x - mu) * inv]);
                    }
                    let [sg, sgx] = sums.total();
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
    let sample = (layout.c * layout.inner).max(1);
    let inner = layout.inner.max(1);
    // SAFETY: the closure writes every element of its chunk (each channel's run, in order).
    let dx = unsafe {
        filled(xs.len(), sample, |i, dx| {
            let (g, x) = (&gs[i * sample..][..dx.len()], &xs[i * sample..][..dx.len()]);
            with_widest_vectors(
                #[inline(always)]
                || {
                    for (c, (dx, (g, x))) in dx.chunks_mut(inner).zip(g.chunks(inner).zip(x.chunks(inner))).enumerate()
                    {
                        let (k, a, b) = coefficients[c];
                        for ((d, &g), &x) in dx.iter_mut().zip(g).zip(x) {
                            d.write(k * g + a * x + b);
                        }
                    }
                },
            )
        })
    };
    let (dgamma, dbeta): (Vec<E>, Vec<E>) = sums.iter().map(|&(sg, sgx)| (E::of(sgx), E::of(sg))).unzip();
    BatchNormBackward {
        x: tensor(dx, x.shape()),
        weight: tensor(dgamma, &[layout.c]),
        bias: tensor(dbeta, &[layout.c]),
    }
}

#[cfg(test)]
mod tests {
    use crate::{init, rng, DType, Tensor};

    /// A channel far from zero (mean 10⁴, spread 10⁻²) keeps its variance: the one-pass
    /// statistics are shifted by the channel's first value. Unshifted, `E[x²] − μ²` cancels
    /// 12 of `f64`'s 16 digits here and misses by about 10⁻⁴ of the variance.
    #[test]
    fn the_variance_of_a_channel_far_from_zero_keeps_its_digits() {
        let noise = init::normal(&[8, 2, 16, 16], 0.0, 0.01, DType::F32, &mut rng(5)).to_vec_f32();
        let values: Vec<f32> =
            noise.iter().enumerate().map(|(i, v)| if i / 256 % 2 == 0 { 1e4 + v } else { *v }).collect();
        let x = Tensor::from_vec(values.clone(), &[8, 2, 16, 16]);
        let stats = x.batch_norm_forward(None, None, 1e-5);
        let (mean, var) = (stats.mean.to_vec_f64(), stats.var.to_vec_f64());
        for c in 0..2 {
            let channel: Vec<f64> =
                values.iter().enumerate().filter(|(i, _)| i / 256 % 2 == c).map(|(_, &v)| v as f64).collect();
            let m = channel.len() as f64;
            let want_mean = channel.iter().sum::<f64>() / m;
            let want_var = channel.iter().map(|v| (v - want_mean).powi(2)).sum::<f64>() / m;
            // `mean` and `var` come back as f32: compare to f32 rounding.
            assert!(((mean[c] - want_mean) / want_mean.abs().max(1.0)).abs() < 1e-7, "channel {c} mean");
            assert!(((var[c] - want_var) / want_var).abs() < 1e-6, "channel {c}: var {} vs {want_var}", var[c]);
        }
    }

    /// A NaN in one channel makes that channel's statistics NaN (not a variance of 0) and
    /// leaves the other channels alone; a constant channel has variance 0, not a rounding
    /// error below it.
    #[test]
    fn a_nan_stays_in_its_channel_and_a_constant_channel_has_no_variance() {
        let mut values = vec![0.5f32; 2 * 3 * 4];
        values[4 * 4 + 1] = f32::NAN; // image 1, channel 1
        for (i, v) in values.iter_mut().enumerate().filter(|(i, _)| i / 4 % 3 == 2) {
            *v = i as f32; // channel 2 varies
        }
        let stats = Tensor::from_vec(values, &[2, 3, 2, 2]).batch_norm_forward(None, None, 1e-5);
        let (mean, var) = (stats.mean.to_vec_f64(), stats.var.to_vec_f64());
        assert_eq!((mean[0], var[0]), (0.5, 0.0));
        assert!(mean[1].is_nan() && var[1].is_nan());
        assert!(var[2] > 0.0 && var[2].is_finite());
    }
}
