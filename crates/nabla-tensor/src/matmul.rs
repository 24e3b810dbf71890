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
//! transposed operand (`w.t()`) is read in place, with two measured exceptions: operands of a
//! tiny product (at most 64 elements, see `small_product.rs`), and a transposed right operand
//! whose columns lie a power of two (2 KiB or more) apart, which is copied to a padded stride
//! (see `PADDED_FROM_BYTES`).

use ndarray::{ArcArray, ArrayD, IxDyn};
use rayon::prelude::*;

use crate::binary::broadcast_shapes;
use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::scratch::Scratch;
use crate::small_product::{small_product, Operand, SMALL_GEMM};
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

/// From this many multiply-adds (about 5 µs of one core), a product is worth a task per
/// thread; below, gemm runs it (on one thread, as it decides for such sizes). At 2^20, the
/// last layer of W1 (`[128, 512]·[512, 10]`, 655K multiply-adds) was left to gemm, whose own
/// threading made it twice as slow as one thread (46 µs against 21); split in two blocks of
/// rows it takes 25 µs, and its backward 40 µs instead of 68.
const SPLIT_FROM: usize = 1 << 19;

/// Up to this many multiply-adds, a product on several threads is split by [`gemm_product`]
/// rather than by gemm itself.
const SPLIT_LIMIT: usize = 1 << 28;

/// One product `dst ← β·a·b (+ α·dst when read_dst)` through gemm, on this thread alone or,
/// when `on_threads` and the product has more than [`SMALL_GEMM`] multiply-adds, on all of
/// rayon's threads. Every operand is `(pointer, [row stride, column stride])`, in elements.
///
/// On threads, from [`SPLIT_FROM`] to [`SPLIT_LIMIT`] multiply-adds, the longer of the
/// output's two axes is cut into one block per thread and each block is a single-threaded
/// gemm: on the products of a training step (a batch of 128 rows against a 512-wide layer)
/// that measured 1.3–1.7× faster than gemm's own splitting, while above the limit (large
/// square products) gemm's is as good. Up to [`SMALL_GEMM`] multiply-adds, the product goes
/// to [`small_product`] instead, which hands gemm the layouts its small-size paths are fastest on.
///
/// # Safety
/// The three operands must hold every element their shapes and strides reach, and `dst` must
/// not overlap `a` or `b`.
unsafe fn gemm_product<E: Element>(
    [m, k, n]: [usize; 3],
    (dst, [dst_rs, dst_cs]): (SendPtr<E>, [isize; 2]),
    read_dst: bool,
    (a, [a_rs, a_cs]): (SendPtr<E>, [isize; 2]),
    (b, [b_rs, b_cs]): (SendPtr<E>, [isize; 2]),
    (alpha, beta): (E, E),
    on_threads: bool,
) {
    let size = m.saturating_mul(n).saturating_mul(k);
    if size <= SMALL_GEMM {
        let (a, b) = ((a.get() as *const E, [a_rs, a_cs]), (b.get() as *const E, [b_rs, b_cs]));
        return small_product([m, k, n], (dst.get(), [dst_rs, dst_cs]), read_dst, a, b, (alpha, beta));
    }
    // Columns of `b` a power of two apart are first copied to a padded stride (see
    // `PADDED_FROM_BYTES`); the copy must outlive every product below.
    let padded: Option<Scratch<E>>;
    let (b, b_cs) = if b_rs == 1 && m >= PADDED_FROM_ROWS && is_conflicting_stride::<E>(b_cs) {
        let stride = k + PADDING;
        let mut copy = Scratch::<E>::new(n * stride);
        for j in 0..n {
            // SAFETY: `b` holds every element its strides reach (the caller's promise), and
            // with a row stride of 1 each column's k elements are contiguous.
            let column = std::slice::from_raw_parts(b.get().offset(j as isize * b_cs), k);
            copy[j * stride..][..k].copy_from_slice(column);
        }
        let b = SendPtr(copy.as_ptr() as *mut E);
        padded = Some(copy);
        (b, stride as isize)
    } else {
        padded = None;
        (b, b_cs)
    };
    let threads = rayon::current_num_threads();
    let product = |[m, n]: [usize; 2], [dst_off, a_off, b_off]: [isize; 3], parallelism| {
        let (a, b) =
            ((a.get().offset(a_off) as *const E, [a_rs, a_cs]), (b.get().offset(b_off) as *const E, [b_rs, b_cs]));
        gemm_call([m, k, n], (dst.get().offset(dst_off), [dst_rs, dst_cs]), read_dst, a, b, (alpha, beta), parallelism)
    };
    if !on_threads {
        return product([m, n], [0, 0, 0], gemm::Parallelism::None);
    }
    if threads < 2 || !(SPLIT_FROM..=SPLIT_LIMIT).contains(&size) || m.max(n) < 32 {
        return product([m, n], [0, 0, 0], gemm::Parallelism::Rayon(0));
    }
    // Blocks of a multiple of 16 rows or columns, the width of gemm's kernels.
    let along_rows = m >= n;
    let length = if along_rows { m } else { n };
    let block = length.div_ceil(threads).next_multiple_of(16);
    (0..length.div_ceil(block)).into_par_iter().for_each(|i| {
        let (start, size) = (i * block, block.min(length - i * block));
        let at = start as isize;
        if along_rows {
            product([size, n], [at * dst_rs, at * a_rs, 0], gemm::Parallelism::None);
        } else {
            product([m, size], [at * dst_cs, 0, at * b_cs], gemm::Parallelism::None);
        }
    });
    drop(padded);
}

/// From this many bytes, a power-of-two distance between the columns of a column-major right
/// operand (the transposed view `Wᵀ` of a `[512, 512]` f32 weight) makes gemm's packing of it
/// slow: the columns it gathers all fall into the same few cache sets. Measured at 2 threads
/// for `[128, 512]·[512, 512]ᵀ`: 0.56 ms as it is, 0.35 ms with the columns 16 elements further
/// apart, 0.42 ms counting a copy into that layout on every call. At 1 KiB (`[256, 256]`) the
/// copy costs more than it saves.
const PADDED_FROM_BYTES: usize = 2048;

/// Fewest rows of the left operand for which the padded copy pays: the copy is `k·n` elements
/// against `m·k·n` multiply-adds.
const PADDED_FROM_ROWS: usize = 128;

/// Elements added between the columns of the padded copy.
pub(crate) const PADDING: usize = 16;

/// True when columns `stride` elements apart are a power of two of at least
/// [`PADDED_FROM_BYTES`] bytes apart.
pub(crate) fn is_conflicting_stride<E>(stride: isize) -> bool {
    let bytes = stride.unsigned_abs() * std::mem::size_of::<E>();
    stride > 0 && bytes.is_power_of_two() && bytes >= PADDED_FROM_BYTES
}

/// One call of `gemm::gemm` in nabla's operand convention (`[row stride, column stride]`, where
/// gemm takes the column stride first): `dst ← β·a·b`, or `dst ← α·dst + β·a·b` when
/// `read_dst`, for `a` `[m, k]`, `b` `[k, n]` and `dst` `[m, n]`.
///
/// # Safety
/// The three operands must hold every element their shapes and strides reach, and `dst` must
/// not overlap `a` or `b`.
pub(crate) unsafe fn gemm_call<E: Element>(
    [m, k, n]: [usize; 3],
    (dst, [dst_rs, dst_cs]): (*mut E, [isize; 2]),
    read_dst: bool,
    (a, [a_rs, a_cs]): Operand<E>,
    (b, [b_rs, b_cs]): Operand<E>,
    (alpha, beta): (E, E),
    parallelism: gemm::Parallelism,
) {
    let no_conjugation = false;
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        read_dst,
        a,
        a_cs,
        a_rs,
        b,
        b_cs,
        b_rs,
        alpha,
        beta,
        no_conjugation,
        no_conjugation,
        no_conjugation,
        parallelism,
    )
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
    let one_product = |item: usize, threaded: bool| {
        let index = unravel(item, batch);
        let a_off = batch_offset(&index, batch, a.shape(), a.strides());
        let b_off = batch_offset(&index, batch, b.shape(), b.strides());
        let dst = SendPtr(out_ptr.get().wrapping_add(item * m * n));
        let a = (SendPtr(a_ptr.get().wrapping_offset(a_off)), [a_rs, a_cs]);
        let b = (SendPtr(b_ptr.get().wrapping_offset(b_off)), [b_rs, b_cs]);
        // SAFETY: the offsets and strides come from the arrays' own layouts and stay inside
        // them; each `item` writes its own `m × n` block of the freshly allocated output.
        unsafe { gemm_product([m, k, n], (dst, [n as isize, 1]), false, a, b, (E::zero(), E::one()), threaded) }
    };
    if count > 1 && m * n * k < SMALL_PRODUCT {
        (0..count).into_par_iter().for_each(|item| one_product(item, false));
    } else {
        (0..count).for_each(|item| one_product(item, true));
    }
    // SAFETY: every `m × n` block was written by its gemm call above (k > 0, read_dst = false).
    unsafe { out.assume_init() }
}

/// `out ← out + a·b` for 2-D views with any strides, `out` row-major `[m, n]`, on rayon's
/// threads (see [`gemm_product`]). Used by kernels that start the output from something other
/// than zeros (the bias of [`Tensor::linear`]).
pub(crate) fn gemm_accumulate<E: Element>(a: ndarray::ArrayView2<'_, E>, b: ndarray::ArrayView2<'_, E>, out: &mut [E]) {
    let (m, n) = (a.dim().0, b.dim().1);
    assert!(out.len() == m * n, "gemm_accumulate: [{m}, _]·[_, {n}] into {} elements", out.len());
    // SAFETY: `out` holds the m·n elements of the result.
    unsafe { product_2d_into(a, b, out.as_mut_ptr(), true) }
}

/// `a·b` for 2-D views with any strides, as a new row-major `[m, n]` buffer, on rayon's
/// threads (see [`gemm_product`]). Used by fused kernels that own their output's layout (the
/// gradients of [`Tensor::linear`]).
pub(crate) fn product_2d<E: Element>(a: ndarray::ArrayView2<'_, E>, b: ndarray::ArrayView2<'_, E>) -> Vec<E> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(k == k2, "product_2d: [{m}, {k}]·[{k2}, {n}]");
    if m == 0 || n == 0 || k == 0 {
        return vec![E::zero(); m * n];
    }
    let mut out: Vec<E> = Vec::with_capacity(m * n);
    // SAFETY: `out` has room for the m·n elements, and gemm writes every one of them without
    // reading (k > 0, no accumulation), so the length can then be set.
    unsafe {
        product_2d_into(a, b, out.as_mut_ptr(), false);
        out.set_len(m * n);
    }
    out
}

/// `dst ← a·b`, or `dst ← dst + a·b` when `accumulate`, with `dst` row-major `[m, n]`: the
/// shared body of [`gemm_accumulate`] and [`product_2d`].
///
/// # Safety
/// `dst` points to `m·n` writable elements (initialised when `accumulate`) that overlap
/// neither view.
unsafe fn product_2d_into<E: Element>(
    a: ndarray::ArrayView2<'_, E>,
    b: ndarray::ArrayView2<'_, E>,
    dst: *mut E,
    accumulate: bool,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(k == k2, "matrix product: [{m}, {k}]·[{k2}, {n}]");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let a_view = (SendPtr(a.as_ptr() as *mut E), [a.strides()[0], a.strides()[1]]);
    let b_view = (SendPtr(b.as_ptr() as *mut E), [b.strides()[0], b.strides()[1]]);
    // gemm's scale of the old `dst`: 1 to add onto it, 0 (and not read at all) to overwrite it.
    let dst_scale = if accumulate { E::one() } else { E::zero() };
    // SAFETY: the views' own strides keep every read inside them, and the caller guarantees
    // `dst` holds m·n elements written with row stride n.
    gemm_product([m, k, n], (SendPtr(dst), [n as isize, 1]), accumulate, a_view, b_view, (dst_scale, E::one()), true)
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
    fn a_transposed_view_with_power_of_two_columns_is_read_through_a_padded_copy() {
        // 2 KiB between columns in both dtypes: copied (on one thread and split over two), and
        // 1 KiB: read in place. Checked against the product of the same values made row-major.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (dtype, k, n) in [(DType::F32, 512, 300), (DType::F64, 256, 40), (DType::F32, 256, 64)] {
            let x = crate::init::uniform(&[130, k], -1.0, 1.0, dtype, &mut crate::rng(1));
            let w = crate::init::uniform(&[n, k], -1.0, 1.0, dtype, &mut crate::rng(2));
            let expected = x.matmul(&w.t().contiguous()).to_vec_f64();
            for got in [pool.install(|| x.matmul(&w.t())), x.linear(&w, None)] {
                assert_eq!(got.shape(), &[130, n]);
                for (g, e) in got.to_vec_f64().iter().zip(&expected) {
                    assert!((g - e).abs() < 1e-3, "{dtype} k = {k}: {g} vs {e}");
                }
            }
        }
        assert!(is_conflicting_stride::<f32>(512) && is_conflicting_stride::<f64>(256));
        assert!(!is_conflicting_stride::<f32>(256) && !is_conflicting_stride::<f32>(784));
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
    fn products_split_across_threads_match_the_triple_loop() {
        // Long enough along rows, then along columns, to be cut into per-thread blocks (not a
        // multiple of the block), with row-major and transposed operands, into zeros and on
        // top of a starting value (the bias path).
        for (m, k, n) in [(1001, 70, 40), (40, 90, 1033)] {
            let (a, b) = (sample(&[m, k], 5), sample(&[k, n], 6));
            for (a, b) in [(a.clone(), b.clone()), (a.t().contiguous().t(), b.t().contiguous().t())] {
                let expected = naive(&a.contiguous(), &b.contiguous());
                let c = a.matmul(&b).to_vec_f64();
                assert!(c.iter().zip(&expected).all(|(x, y)| (x - y).abs() < 1e-12), "[{m}, {k}]·[{k}, {n}]");
                let mut out = vec![1.0f64; m * n];
                let (av, bv) = (a.view::<f64>(), b.view::<f64>());
                let (a2, b2) = (av.into_dimensionality().unwrap(), bv.into_dimensionality().unwrap());
                gemm_accumulate(a2, b2, &mut out);
                assert!(out.iter().zip(&expected).all(|(x, y)| (x - 1.0 - y).abs() < 1e-12));
            }
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
