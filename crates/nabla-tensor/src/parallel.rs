//! When elementwise work is split across threads.
//!
//! Handing work to rayon's pool costs 10–30 µs here. Whether splitting pays depends on how much
//! work each element is, so there are two thresholds, measured on the 2-core reference machine
//! (median of 41 runs, f32, serial map against rayon's `par_map_collect`):
//!
//! | elements | `exp` serial | `exp` parallel | `add` serial | `add` parallel |
//! |---:|---:|---:|---:|---:|
//! | 8,192 | 22 µs | 37 µs | 1.3 µs | 14 µs |
//! | 32,768 | 87 µs | 51 µs | 3.4 µs | 32 µs |
//! | 262,144 | 693 µs | 373 µs | 38 µs | 49 µs |
//! | 1,048,576 | 2,811 µs | 1,434 µs | 152 µs | 83 µs |
//!
//! * [`PARALLEL_THRESHOLD`] (32 Ki elements) for *expensive* maps — `exp`, `tanh`, `erf`, … —
//!   where splitting wins from about 16 Ki elements on.
//! * [`PARALLEL_THRESHOLD_CHEAP`] (512 Ki elements) for *cheap*, memory-bound maps — `add`,
//!   `mul`, `relu`, comparisons — where one core nearly saturates memory bandwidth and splitting
//!   only wins for large arrays.
//!
//! Matrix products do not use either: the `gemm` crate decides its own threading.
//!
//! Maps over row-major tensors run in chunks of 8 Ki elements, each loop compiled for the
//! CPU's widest vectors (`vector_math::with_widest_vectors`).

use std::mem::MaybeUninit;

use ndarray::{ArcArray, ArrayViewD, IxDyn, Zip};

use crate::dtype::Element;
use crate::tensor::row_major_array;
use crate::vector_math::with_widest_vectors;

/// Expensive elementwise kernels (transcendental functions) on at least this many elements
/// run on rayon's thread pool.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Cheap, memory-bound elementwise kernels (arithmetic, comparisons) on at least this many
/// elements run on rayon's thread pool.
pub const PARALLEL_THRESHOLD_CHEAP: usize = 1 << 19;

/// How much work one element of a map is; picks the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// A few arithmetic instructions: memory-bound.
    Cheap,
    /// A transcendental function or similar: compute-bound.
    Expensive,
}

impl Cost {
    /// The element count from which work of this cost is split across threads.
    pub fn threshold(self) -> usize {
        match self {
            Cost::Cheap => PARALLEL_THRESHOLD_CHEAP,
            Cost::Expensive => PARALLEL_THRESHOLD,
        }
    }
}

/// `f` applied to every element of `a`, in parallel when `a` is large for its `cost`.
pub(crate) fn map<E: Element, F>(a: ArrayViewD<'_, E>, cost: Cost, f: F) -> ArcArray<E, IxDyn>
where
    F: Fn(E) -> E + Sync + Send,
{
    if let Some(xs) = a.as_slice().filter(|xs| xs.len() >= SMALL) {
        // Row-major: loops over slices compiled for the CPU's widest vectors, which vectorise
        // when `f` does (the `*_vectorised` functions of `Element` do; C library calls do not)
        // and is inlined into them (pass an `#[inline(always)]` closure, as `gelu` does).
        // The output starts uninitialised (a pass of zeros would cost as much as a cheap map)
        // and every element is written below before `set_len`.
        let mut out: Vec<E> = Vec::with_capacity(xs.len());
        let run = |x: &[E], o: &mut [MaybeUninit<E>]| {
            with_widest_vectors(
                #[inline(always)]
                || {
                    // An index loop, not an iterator chain: the iterator's `fold` would be a
                    // separate function, compiled without the wide vectors.
                    for i in 0..o.len().min(x.len()) {
                        o[i] = MaybeUninit::new(f(x[i]));
                    }
                },
            )
        };
        let spare = &mut out.spare_capacity_mut()[..xs.len()];
        if xs.len() >= cost.threshold() {
            use rayon::prelude::*;
            xs.par_chunks(CHUNK).zip(spare.par_chunks_mut(CHUNK)).for_each(|(x, o)| run(x, o));
        } else {
            run(xs, spare);
        }
        // SAFETY: the loops above wrote all `xs.len()` elements.
        unsafe { out.set_len(xs.len()) };
        return row_major_array(out, a.shape());
    }
    if a.len() >= cost.threshold() {
        Zip::from(&a).par_map_collect(|&x| f(x)).into_shared()
    } else {
        a.mapv(f).into_shared()
    }
}

/// Below this many elements a map runs as a plain `mapv`: choosing the vector width costs more
/// than it saves on a tiny tensor.
const SMALL: usize = 1 << 10;

/// Elements per rayon task in the slice paths: enough to amortise a task, small enough to split
/// the smallest parallel map into several.
pub(crate) const CHUNK: usize = 1 << 13;

/// `f` applied to pairs of elements of two arrays of one shape (cheap arithmetic), in parallel
/// when large.
pub(crate) fn zip_map<E: Element, F>(a: ArrayViewD<'_, E>, b: ArrayViewD<'_, E>, f: F) -> ArcArray<E, IxDyn>
where
    F: Fn(E, E) -> E + Sync + Send,
{
    debug_assert_eq!(a.shape(), b.shape());
    if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
        // Both row-major: a plain loop over slices, which the compiler vectorises.
        let values: Vec<E> = if xs.len() >= PARALLEL_THRESHOLD_CHEAP {
            use rayon::prelude::*;
            xs.par_iter().zip(ys.par_iter()).map(|(&x, &y)| f(x, y)).collect()
        } else {
            // On the widest vectors, as `map` does above `SMALL`: on a tiny MLP's `[32, 16]`
            // ReLU gradient that took 187–233 ns down to 172–195 (the baseline build's loop
            // runs four floats at a time).
            assert_eq!(xs.len(), ys.len(), "zip_map: operands of one shape have one length");
            let mut out: Vec<E> = Vec::with_capacity(xs.len());
            let o = &mut out.spare_capacity_mut()[..xs.len()];
            with_widest_vectors(
                #[inline(always)]
                || {
                    // (The bound repeats the lengths, equal as asserted, so that no index
                    // needs a check inside the loop.)
                    for i in 0..o.len().min(xs.len()).min(ys.len()) {
                        o[i] = MaybeUninit::new(f(xs[i], ys[i]));
                    }
                },
            );
            // SAFETY: the loop above wrote all `xs.len()` elements (`o` and `ys` are that long).
            unsafe { out.set_len(xs.len()) };
            out
        };
        return row_major_array(values, a.shape());
    }
    if a.len() >= PARALLEL_THRESHOLD_CHEAP {
        Zip::from(&a).and(&b).par_map_collect(|&x, &y| f(x, y)).into_shared()
    } else {
        Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)).into_shared()
    }
}
