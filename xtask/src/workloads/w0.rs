//! W0: single-precision matrix product `C = A·B` of square `n × n` matrices, for n = 256,
//! 512, 1024 and 2048, in GFLOP/s counting `2n³` floating-point operations per product.
//!
//! Three frameworks multiply the same matrices (uniform in `[-1, 1)`, seed 0):
//!
//! - `nabla`: [`Tensor::matmul`], which allocates its result on every call, as user code
//!   sees it;
//! - `gemm-crate`: `gemm::gemm` itself on row-major `Vec<f32>`s, writing into a buffer
//!   allocated once, with `Parallelism::Rayon(0)` (rayon's pool). nabla's matmul calls this,
//!   so the ratio between the two is the cost of nabla's layer on top;
//! - `ndarray-dot`: `Array2::<f32>::dot`, i.e. the matrixmultiply crate, threaded by its own
//!   pool (`MATMUL_NUM_THREADS`, at most 4 threads).
//!
//! Before timing, each framework's product is checked against a sum in `f64` at a few
//! entries, so a fast wrong answer cannot be reported.

use std::hint::black_box;

use nabla_tensor::{init, rng, DType, Tensor};
use ndarray::Array2;

use super::{Measurement, Reference, Runner, Settings, Workload};
use crate::measure::measure;
use crate::system::{locked_version, NABLA_VERSION};

/// The W0 entry of the registry.
pub const W0: Workload = Workload {
    id: "W0",
    summary: "sgemm C = A·B, square n = 256, 512, 1024, 2048 (GFLOP/s, 2n³ flops)",
    notes: "",
    // nabla's matmul must keep 90 % of the gemm crate it calls.
    reference: Some(Reference { framework: "gemm-crate", bar: 0.9 }),
    runners: &[
        Runner { framework: "nabla", version: || NABLA_VERSION.to_string(), run: run_nabla },
        Runner { framework: "gemm-crate", version: || locked_version("gemm"), run: run_gemm },
        Runner { framework: "ndarray-dot", version: || locked_version("ndarray"), run: run_ndarray },
    ],
};

/// The matrix sizes measured.
const SIZES: [usize; 4] = [256, 512, 1024, 2048];
/// Seed of the random operands (WORKLOADS.md: "random synthetic inputs from a fixed seed").
const SEED: u64 = 0;

/// The operands `A` and `B` for size `n`, the same for every framework.
fn operands(n: usize) -> (Tensor, Tensor) {
    let mut rng = rng(SEED);
    let a = init::uniform(&[n, n], -1.0, 1.0, DType::F32, &mut rng);
    let b = init::uniform(&[n, n], -1.0, 1.0, DType::F32, &mut rng);
    (a, b)
}

/// The figure for one size from its step times.
fn gflops(n: usize, timing: crate::measure::Timing) -> Measurement {
    let flops = 2.0 * (n as f64).powi(3);
    Measurement::per_second(format!("n{n}"), "gflops", flops / 1e9, timing)
}

/// Checks row-major `c = a·b` at a handful of entries (corners, middle, off-diagonal).
fn check_product(framework: &str, n: usize, a: &[f32], b: &[f32], c: &[f32]) -> Result<(), String> {
    let entries = [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1), (n / 2, n / 3), (n / 3, n / 2 + 1)];
    for (i, j) in entries {
        let exact: f64 = (0..n).map(|p| f64::from(a[i * n + p]) * f64::from(b[p * n + j])).sum();
        let got = f64::from(c[i * n + j]);
        // Terms are below 1 in magnitude; f32 accumulation error grows at most like n·ε.
        let tolerance = 1e-6 * n as f64 + 1e-4;
        if (got - exact).abs() > tolerance {
            return Err(format!(
                "{framework} computed a wrong product for n = {n}: C[{i}, {j}] = {got}, expected {exact} (± {tolerance})"
            ));
        }
    }
    Ok(())
}

fn run_nabla(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    for n in SIZES {
        let (a, b) = operands(n);
        check_product("nabla", n, slice(&a), slice(&b), slice(&a.matmul(&b)))?;
        let timing = measure(settings.seconds, || {
            black_box(black_box(&a).matmul(black_box(&b)));
        });
        sink(gflops(n, timing));
    }
    Ok(())
}

/// The values of a row-major f32 tensor, borrowed (copies would inflate the peak memory).
fn slice(t: &Tensor) -> &[f32] {
    t.as_array::<f32>().and_then(|a| a.as_slice()).expect("a row-major f32 tensor")
}

/// `c = a·b` for row-major `n × n` matrices, straight through `gemm::gemm`.
fn gemm_product(n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() == n * n && b.len() == n * n && c.len() == n * n, "operands must be n × n");
    let stride = n as isize;
    // SAFETY: the three slices hold n × n elements each (checked above) and are laid out
    // row-major, i.e. column stride 1 and row stride n; `c` is borrowed mutably, so it
    // overlaps neither operand.
    unsafe {
        gemm::gemm(
            n,
            n,
            n,
            c.as_mut_ptr(),
            1,
            stride,
            false, // c is overwritten, not accumulated into
            a.as_ptr(),
            1,
            stride,
            b.as_ptr(),
            1,
            stride,
            0.0, // alpha: factor on the old c (unread)
            1.0, // beta: factor on a·b
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0), // 0: every thread of rayon's pool
        );
    }
}

fn run_gemm(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    for n in SIZES {
        let (a, b) = operands(n);
        let (a, b) = (into_vec(a), into_vec(b));
        let mut c = vec![0.0f32; n * n];
        gemm_product(n, &a, &b, &mut c);
        check_product("gemm-crate", n, &a, &b, &c)?;
        let timing = measure(settings.seconds, || {
            gemm_product(n, black_box(&a), black_box(&b), black_box(&mut c));
        });
        sink(gflops(n, timing));
    }
    Ok(())
}

fn run_ndarray(settings: &Settings, sink: &mut dyn FnMut(Measurement)) -> Result<(), String> {
    for n in SIZES {
        let (a, b) = operands(n);
        let (a, b) = (to_array2(a), to_array2(b));
        check_product("ndarray-dot", n, flat(&a), flat(&b), flat(&a.dot(&b)))?;
        let timing = measure(settings.seconds, || {
            black_box(black_box(&a).dot(black_box(&b)));
        });
        sink(gflops(n, timing));
    }
    Ok(())
}

/// A row-major f32 tensor's values as a plain vector, without copying.
fn into_vec(t: Tensor) -> Vec<f32> {
    let (values, offset) = t.into_array::<f32>().into_raw_vec_and_offset();
    assert_eq!(offset.unwrap_or(0), 0, "a tensor that starts at its buffer's start");
    values
}

/// A 2-D tensor as an `Array2`, without copying.
fn to_array2(t: Tensor) -> Array2<f32> {
    t.into_array::<f32>().into_dimensionality().expect("a 2-D tensor")
}

/// The values of a row-major matrix, borrowed.
fn flat(m: &Array2<f32>) -> &[f32] {
    m.as_slice().expect("standard layout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_products_agree_and_the_check_catches_errors() {
        let n = 33;
        let (a, b) = operands(n);
        let (av, bv) = (a.to_vec_f32(), b.to_vec_f32());
        let mut c = vec![0.0; n * n];
        gemm_product(n, &av, &bv, &mut c);
        assert_eq!(check_product("gemm-crate", n, &av, &bv, &c), Ok(()));
        assert_eq!(check_product("nabla", n, &av, &bv, &a.matmul(&b).to_vec_f32()), Ok(()));
        c[n * (n - 1)] += 0.1;
        let err = check_product("gemm-crate", n, &av, &bv, &c).unwrap_err();
        assert!(err.contains("C[32, 0]"), "{err}");
    }
}
