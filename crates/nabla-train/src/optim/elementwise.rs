//! One pass over a parameter and its state, in place: how the optimizers fuse their updates.
//!
//! Written with tensor ops, one Adam step is about ten passes over memory (`β₁·m`, `+ (1−β₁)·g`,
//! `g²`, `√v`, …), each allocating a temporary tensor. [`zip_update`] instead reads the `k`-th
//! gradient element and the `k`-th element of the parameter and of each state tensor, hands them
//! to a closure that states the update for *one number*, and writes the results back in place:
//! one pass, no allocation, and the optimizer's code reads like its formula.
//!
//! ```text
//! zip_update([p, m, v], g, |g, [p, m, v]| [p′, m′, v′])      for every position k
//! ```
//!
//! The closure computes in `f64` (exact for `f64` parameters, a little more precise than `f32`
//! arithmetic for `f32` ones); results are rounded to the parameter's dtype. Large tensors are
//! split into chunks updated on rayon's threads; every element's update depends on that
//! element alone, so the result is the same whatever the split.

use nabla_tensor::parallel::PARALLEL_THRESHOLD;
use nabla_tensor::vector_math::with_widest_vectors;
use nabla_tensor::{DType, Element, Tensor};
use rayon::prelude::*;

/// Elements per chunk handed to one thread.
const CHUNK: usize = 1 << 14;

/// `f(g, [p, s₁, …])` applied at every position, writing `[p′, s₁′, …]` back into `targets`
/// (the parameter, then its state tensors). `targets` are converted to the dtype of the first
/// and made row-major if needed; `grad` is read in that dtype.
///
/// # Panics
/// If the shapes of `targets` and `grad` differ.
#[track_caller]
pub(crate) fn zip_update<const N: usize>(
    mut targets: [&mut Tensor; N],
    grad: &Tensor,
    f: impl Fn(f64, [f64; N]) -> [f64; N] + Sync,
) {
    for t in &targets {
        assert_eq!(t.shape(), grad.shape(), "zip_update: shapes differ");
    }
    let dtype = targets[0].dtype();
    for t in targets.iter_mut().filter(|t| t.dtype() != dtype) {
        **t = t.to_dtype(dtype);
    }
    match dtype {
        DType::F32 => zip_update_as::<f32, N>(targets, grad, f),
        DType::F64 => zip_update_as::<f64, N>(targets, grad, f),
    }
}

fn zip_update_as<E: Element, const N: usize>(
    targets: [&mut Tensor; N],
    grad: &Tensor,
    f: impl Fn(f64, [f64; N]) -> [f64; N] + Sync,
) {
    // Read in place when the gradient already is a row-major E array (the usual case).
    let converted;
    let grad = if grad.dtype() == E::DTYPE && grad.is_contiguous() {
        grad
    } else {
        converted = grad.to_dtype(E::DTYPE).contiguous();
        &converted
    };
    let g: &[E] = grad.as_array::<E>().and_then(|a| a.as_slice()).expect("converted to a row-major E array above");
    let targets = targets.map(|t| t.as_slice_mut::<E>());
    let update = |(mut t, g): ([&mut [E]; N], &[E])| {
        // Every size, tiny parameters included: the baseline (SSE2) build of this loop ran
        // scalar, and a bias of 16 values costs the vector width's choice only once.
        with_widest_vectors(
            #[inline(always)]
            || update_in_blocks(&mut t, g, &f),
        );
    };
    if g.len() < PARALLEL_THRESHOLD {
        // One pass on this thread: a small tensor is not worth splitting into chunks.
        update((targets, g));
        return;
    }
    let mut chunks = targets.map(|t| t.chunks_mut(CHUNK));
    let parts: Vec<([&mut [E]; N], &[E])> = g
        .chunks(CHUNK)
        .map(|g| (chunks.each_mut().map(|c| c.next().expect("targets have the gradient's length")), g))
        .collect();
    parts.into_par_iter().for_each(update);
}

/// `Σ xᵢ²` over all elements, accumulated in `f64` in row-major order.
pub(crate) fn sum_of_squares(t: &Tensor) -> f64 {
    fn sum<E: Element>(t: &Tensor) -> f64 {
        t.view::<E>().iter().map(|&x| x.to_f64_exact() * x.to_f64_exact()).sum()
    }
    match t.dtype() {
        DType::F32 => sum::<f32>(t),
        DType::F64 => sum::<f64>(t),
    }
}

/// Elements per block of [`update_in_blocks`]: one AVX-512 register of `f64`. With 16, the
/// conversions between `f32` and `f64` shuffled halves between registers, and the Adam step of
/// W1's 670K parameters took 0.87 ms instead of 0.38.
const LANES: usize = 8;

/// `t[i][k] ← f(g[k], [t[0][k], …])[i]` at every position `k`, compiled into the caller (so
/// into [`with_widest_vectors`]' wide-vector code, with `f` inlined: the optimizers pass
/// `#[inline(always)]` closures, whose square roots and divisions then run 8 `f64` lanes at
/// a time with AVX-512).
///
/// The elements go through in blocks of [`LANES`], copied into local arrays: the compiler
/// cannot tell that the `N` target slices do not overlap, but it can vectorise a loop over
/// local arrays.
#[inline(always)]
fn update_in_blocks<E: Element, const N: usize>(
    t: &mut [&mut [E]; N],
    g: &[E],
    f: &impl Fn(f64, [f64; N]) -> [f64; N],
) {
    let blocks = g.len() / LANES;
    for b in 0..blocks {
        let at = b * LANES;
        // Index loops only: `std::array::from_fn` here was compiled as a separate
        // function, outside the wide-vector code, and the loop did not vectorise.
        // Each block borrowed as a fixed-size array: one bounds check per block instead of
        // one per element, and the loads and conversions vectorise (indexing element by
        // element, W1's Adam step took 0.76 ms instead of 0.38).
        let g_block: &[E; LANES] = g[at..at + LANES].try_into().expect("a whole block");
        let mut gs = [0.0f64; LANES];
        for l in 0..LANES {
            gs[l] = g_block[l].to_f64_exact();
        }
        let mut ins = [[0.0f64; LANES]; N];
        for i in 0..N {
            let block: &[E; LANES] = t[i][at..at + LANES].try_into().expect("a whole block");
            for l in 0..LANES {
                ins[i][l] = block[l].to_f64_exact();
            }
        }
        let mut outs = [[0.0f64; LANES]; N];
        for l in 0..LANES {
            let mut args = [0.0f64; N];
            for i in 0..N {
                args[i] = ins[i][l];
            }
            let y = f(gs[l], args);
            for i in 0..N {
                outs[i][l] = y[i];
            }
        }
        for i in 0..N {
            let block: &mut [E; LANES] = (&mut t[i][at..at + LANES]).try_into().expect("a whole block");
            for l in 0..LANES {
                block[l] = E::of(outs[i][l]);
            }
        }
    }
    for k in blocks * LANES..g.len() {
        let y = f(g[k].to_f64_exact(), std::array::from_fn(|i| t[i][k].to_f64_exact()));
        for i in 0..N {
            t[i][k] = E::of(y[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_update_writes_in_place_and_copies_shared_buffers() {
        let mut p = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let before = p.clone(); // shares p's buffer: must not change
        let mut m = Tensor::from_vec(vec![0.5f32; 4], &[2, 2]).t(); // strided: made row-major
                                                                    // A transposed f64 gradient: converted and read in row-major order of its logical shape.
        let g = Tensor::from_vec(vec![10.0f64, 30.0, 20.0, 40.0], &[2, 2]).t();
        zip_update([&mut p, &mut m], &g, |g, [p, m]| [p + g, m * g]);
        assert_eq!(p.dtype(), DType::F32);
        assert_eq!(p.to_vec_f64(), vec![11.0, 22.0, 33.0, 44.0]);
        assert_eq!(m.to_vec_f64(), vec![5.0, 10.0, 15.0, 20.0]);
        assert_eq!(before.to_vec_f64(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn zip_update_in_parallel_chunks_equals_one_pass() {
        let n = 3 * CHUNK + 17;
        let values: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut p = Tensor::from_vec(values.clone(), &[n]);
        let g = Tensor::from_vec(values.iter().map(|v| v * v).collect::<Vec<_>>(), &[n]);
        zip_update([&mut p], &g, |g, [p]| [p - 0.1 * g / (g.sqrt() + 1e-8)]);
        let expected: Vec<f64> = values.iter().map(|&p| p - 0.1 * (p * p) / ((p * p).sqrt() + 1e-8)).collect();
        assert_eq!(p.to_vec_f64(), expected);
    }

    #[test]
    fn sum_of_squares_of_both_dtypes() {
        assert_eq!(sum_of_squares(&Tensor::from_vec(vec![3.0f32, 4.0], &[2])), 25.0);
        assert_eq!(sum_of_squares(&Tensor::from_vec(vec![1.0f64, -2.0, 2.0], &[3, 1])), 9.0);
        assert_eq!(sum_of_squares(&Tensor::scalar(-1.5, DType::F64)), 2.25);
    }
}
