//! When elementwise work is split across threads.
//!
//! Spawning work on rayon's pool costs a few microseconds, about what one core needs for
//! 10–20 thousand `exp`s. Below [`PARALLEL_THRESHOLD`] elements a kernel runs on the calling
//! thread; at or above it, rayon splits the work. The threshold was measured with
//! `cargo xtask bench` on a 2-core machine (see `ARCHITECTURE.md`). Matrix products do not use
//! it: the `gemm` crate decides its own threading.

use ndarray::{ArrayD, ArrayViewD, Zip};

use crate::dtype::Element;

/// Elementwise kernels on at least this many elements run on rayon's thread pool.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// `f` applied to every element of `a`, in parallel when `a` is large.
pub(crate) fn map<E: Element, F>(a: ArrayViewD<'_, E>, f: F) -> ArrayD<E>
where
    F: Fn(E) -> E + Sync + Send,
{
    if a.len() >= PARALLEL_THRESHOLD {
        Zip::from(&a).par_map_collect(|&x| f(x))
    } else {
        a.mapv(f)
    }
}

/// `f` applied to pairs of elements of two arrays of one shape, in parallel when large.
pub(crate) fn zip_map<E: Element, F>(a: ArrayViewD<'_, E>, b: ArrayViewD<'_, E>, f: F) -> ArrayD<E>
where
    F: Fn(E, E) -> E + Sync + Send,
{
    debug_assert_eq!(a.shape(), b.shape());
    if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
        // Both row-major: a plain loop over slices, which the compiler vectorises.
        let values: Vec<E> = if xs.len() >= PARALLEL_THRESHOLD {
            use rayon::prelude::*;
            xs.par_iter().zip(ys.par_iter()).map(|(&x, &y)| f(x, y)).collect()
        } else {
            xs.iter().zip(ys).map(|(&x, &y)| f(x, y)).collect()
        };
        return ArrayD::from_shape_vec(a.raw_dim(), values).expect("shape of a row-major input");
    }
    if a.len() >= PARALLEL_THRESHOLD {
        Zip::from(&a).and(&b).par_map_collect(|&x, &y| f(x, y))
    } else {
        Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y))
    }
}
