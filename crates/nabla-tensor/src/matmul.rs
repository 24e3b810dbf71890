//! Matrix products through the `gemm` crate: 2-D, batched, and with broadcast batch axes.
//!
//! | `a` | `b` | `a.matmul(b)` |
//! |---|---|---|
//! | `[m, k]` | `[k, n]` | `[m, n]` |
//! | `[batch, m, k]` | `[batch, k, n]` | `[batch, m, n]` |
//! | `[batch, m, k]` | `[k, n]` | `[batch, m, n]` (b is shared by every batch) |
//! | `[2, 1, m, k]` | `[3, k, n]` | `[2, 3, m, n]` (batch axes broadcast) |
//! | `[k]` | `[k, n]` | `[n]` (a vector is a 1-row matrix, the row axis then dropped) |
//!
//! `C[i, j] = Σ_p A[i, p] · B[p, j]`. Operands are passed to gemm with their strides, so a
//! transposed operand (`w.t()`) is read in place, never copied.

use ndarray::{ArcArray, ArrayD, IxDyn};
use rayon::prelude::*;

use crate::binary::broadcast_shapes;
use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::tensor::{dispatch2, Tensor};

/// Up to this many rows in the left operand, a product with a transposed right operand is
/// computed transposed (see `try_matmul`).
const FEW_ROWS: usize = 64;

/// Below this many multiply-adds per product, a batch of products is spread over threads
/// one product per task instead of letting gemm split each product.
const SMALL_PRODUCT: usize = 64 * 64 * 64;

impl Tensor {
    /// The matrix product; see the [module docs](self) for the shapes accepted.
    pub fn try_matmul(&self, other: &Tensor) -> Result<Tensor, ShapeError> {
        if self.ndim() == 0 || other.ndim() == 0 {
            return Err(ShapeError::new(
                "matmul",
                &[self.shape(), other.shape()],
                None,
                format!("operands must have at least one axis, got {:?} and {:?}", self.shape(), other.shape()),
            ));
        }
        let a = if self.ndim() == 1 { self.unsqueeze(0) } else { self.clone() };
        let b = if other.ndim() == 1 { other.unsqueeze(1) } else { other.clone() };
        let (ra, rb) = (a.ndim(), b.ndim());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
        if k != k2 {
            return Err(ShapeError::new(
                "matmul",
                &[self.shape(), other.shape()],
                Some(ra - 1),
                format!(
                    "cannot multiply {:?} by {:?}: the last axis of the first ({k}) must equal the \
                     second-to-last axis of the second ({k2})",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        let batch = broadcast_shapes("matmul", &a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
        // A few rows times a transposed view (`h·Wᵀ` in a recurrent step) is a layout gemm
        // handles 2–6× slower than the same product transposed, `(W·hᵀ)ᵀ`, whose left operand
        // is then row-major and whose many rows fill gemm's kernels (measured per core:
        // [32, 256]·[256, 1024] at 47 GFLOP/s, its transpose at 112). The result is returned as
        // a transposed view, which every op reads through its strides.
        if m <= FEW_ROWS && n > FEW_ROWS && self.ndim() == 2 && other.ndim() == 2 && is_transposed(&b) {
            return Ok(b.t().matmul(&a.t()).t());
        }
        let mut out = dispatch2!("matmul", a, b, x, y => Tensor::from_array(matmul_kernel(x, y, &batch, m, k, n)));
        if self.ndim() == 1 {
            out = out.squeeze(out.ndim() - 2);
        }
        if other.ndim() == 1 {
            out = out.squeeze(out.ndim() - 1);
        }
        Ok(out)
    }

    /// [`try_matmul`](Self::try_matmul), panicking at the caller's line.
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        or_panic(self.try_matmul(other))
    }
}

/// True for a 2-D view stored column by column (the transpose of a row-major matrix), with
/// more than one column.
fn is_transposed(t: &Tensor) -> bool {
    crate::tensor::dispatch!(t, a => a.ndim() == 2 && a.shape()[1] > 1 && a.strides()[0] == 1 && a.strides()[1] != 1)
}

/// The element offset of batch item `index` (a multi-index into `batch`) in an operand whose
/// leading axes broadcast to `batch`.
fn batch_offset(index: &[usize], batch: &[usize], shape: &[usize], strides: &[isize]) -> isize {
    let lead = shape.len() - 2;
    let skip = batch.len() - lead;
    (0..lead).map(|d| if shape[d] == 1 { 0 } else { index[skip + d] as isize * strides[d] }).sum()
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = flat % shape[d];
        flat /= shape[d];
    }
    index
}

/// A raw pointer that may cross threads: each task writes a disjoint output block.
#[derive(Clone, Copy)]
struct SendPtr<E>(*mut E);
unsafe impl<E> Send for SendPtr<E> {}
unsafe impl<E> Sync for SendPtr<E> {}

impl<E> SendPtr<E> {
    fn get(self) -> *mut E {
        self.0
    }
}

fn matmul_kernel<E: Element>(
    a: &ArcArray<E, IxDyn>,
    b: &ArcArray<E, IxDyn>,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> ArrayD<E> {
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    let count: usize = batch.iter().product();
    if count == 0 || m == 0 || n == 0 || k == 0 {
        return ArrayD::<E>::zeros(IxDyn(&shape));
    }
    // gemm overwrites every element of the output (read_dst = false), so it starts uninitialised
    // rather than paying for a pass of zeros over a possibly large buffer.
    let mut out = ArrayD::<E>::uninit(IxDyn(&shape));
    let (ra, rb) = (a.ndim(), b.ndim());
    let (a_rs, a_cs) = (a.strides()[ra - 2], a.strides()[ra - 1]);
    let (b_rs, b_cs) = (b.strides()[rb - 2], b.strides()[rb - 1]);
    let out_ptr = SendPtr(out.as_mut_ptr() as *mut E);
    let (a_ptr, b_ptr) = (SendPtr(a.as_ptr() as *mut E), SendPtr(b.as_ptr() as *mut E));
    let one_product = |item: usize, parallelism: gemm::Parallelism| {
        let index = unravel(item, batch);
        let a_off = batch_offset(&index, batch, a.shape(), a.strides());
        let b_off = batch_offset(&index, batch, b.shape(), b.strides());
        // SAFETY: the offsets and strides come from the arrays' own layouts and stay inside
        // them; each `item` writes its own `m × n` block of the freshly allocated output.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out_ptr.get().add(item * m * n),
                1,
                n as isize,
                false,
                a_ptr.get().offset(a_off),
                a_cs,
                a_rs,
                b_ptr.get().offset(b_off),
                b_cs,
                b_rs,
                E::zero(),
                E::one(),
                false,
                false,
                false,
                parallelism,
            )
        }
    };
    if count > 1 && m * n * k < SMALL_PRODUCT {
        (0..count).into_par_iter().for_each(|item| one_product(item, gemm::Parallelism::None));
    } else {
        (0..count).for_each(|item| one_product(item, gemm::Parallelism::Rayon(0)));
    }
    // SAFETY: every `m × n` block was written by its gemm call above (k > 0, read_dst = false).
    unsafe { out.assume_init() }
}

/// `out ← out + a·b` for 2-D views with any strides, `out` row-major `[m, n]`; gemm splits
/// the work over rayon's threads. Used by kernels that start the output from something other
/// than zeros (the bias of [`Tensor::linear`]).
pub(crate) fn gemm_accumulate<E: Element>(a: ndarray::ArrayView2<'_, E>, b: ndarray::ArrayView2<'_, E>, out: &mut [E]) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(k == k2 && out.len() == m * n, "gemm_accumulate: [{m}, {k}]·[{k2}, {n}] into {} elements", out.len());
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: the views' own strides keep every read inside them, and `out` holds m·n elements
    // written with row stride n.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            E::one(),
            E::one(),
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    /// The textbook triple loop, as the oracle.
    fn naive(a: &Tensor, b: &Tensor) -> Vec<f64> {
        let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a.get(&[i, p]) * b.get(&[p, j])).sum();
            }
        }
        c
    }

    fn sample(shape: &[usize], seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, DType::F64, &mut crate::rng(seed))
    }

    #[test]
    fn matches_the_triple_loop() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 2), (17, 33, 9), (70, 80, 90)] {
            let (a, b) = (sample(&[m, k], 1), sample(&[k, n], 2));
            let c = a.matmul(&b);
            assert_eq!(c.shape(), &[m, n]);
            for (x, y) in c.to_vec_f64().iter().zip(naive(&a, &b)) {
                assert!((x - y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn few_rows_times_a_transposed_view_is_computed_transposed() {
        // m = 5 rows, n = 70 > FEW_ROWS columns: the `(bᵀ·aᵀ)ᵀ` path.
        let a = sample(&[5, 33], 1);
        let w = sample(&[70, 33], 2);
        let product = a.matmul(&w.t());
        assert_eq!(product.shape(), &[5, 70]);
        let expected = naive(&a, &w.t().contiguous());
        for (got, want) in product.to_vec_f64().iter().zip(&expected) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
    }

    #[test]
    fn transposed_operands_are_read_in_place() {
        let (a, b) = (sample(&[6, 4], 3), sample(&[5, 4], 4));
        let c = a.matmul(&b.t());
        let expected = naive(&a, &b.t().contiguous());
        assert!(c.to_vec_f64().iter().zip(expected).all(|(x, y)| (x - y).abs() < 1e-12));
    }

    #[test]
    fn batch_axes_broadcast() {
        let a = sample(&[2, 1, 3, 4], 5);
        let b = sample(&[3, 4, 2], 6);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 3, 3, 2]);
        let a1 = a.slice(0, 1, 2, 1).reshape(&[3, 4]);
        let b2 = b.slice(0, 2, 3, 1).reshape(&[4, 2]);
        let c12 = c.slice(0, 1, 2, 1).slice(1, 2, 3, 1).reshape(&[3, 2]);
        assert!(c12.allclose(&a1.matmul(&b2), 1e-12, 1e-12));
    }

    #[test]
    fn vectors_and_errors() {
        let v = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
        let m = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        assert_eq!(v.matmul(&m).to_vec_f32(), vec![7.0, 10.0]);
        assert_eq!(m.matmul(&v).to_vec_f32(), vec![5.0, 11.0]);
        let err = m.try_matmul(&Tensor::zeros(&[3, 2], DType::F32)).unwrap_err();
        assert!(err.to_string().contains("(2) must equal"), "{err}");
    }
}
