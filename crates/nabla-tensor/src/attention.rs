//! Scaled dot-product attention as two kernels, forward and backward, for `nabla-autograd`'s
//! `attention` op (whose composed form — product, scale, mask, softmax, product — is the
//! oracle of its gradient checks).
//!
//! For each matrix of the batch (one per batch element and head):
//!
//! ```text
//! S = s·Q·Kᵀ        P = softmax_rows(S, hidden keys → weight 0)        O = P·V
//! ```
//!
//! with `s` the scale (`1/√d` in a transformer) and, when `causal`, key `j` hidden from query
//! `i` if `j > i`. Backward, from `Ō` (with `P` kept from the forward):
//!
//! ```text
//! P̄ = Ō·Vᵀ     V̄ = Pᵀ·Ō     S̄ = P ⊙ (P̄ − rowsum(P̄ ⊙ P))     Q̄ = s·S̄·K     K̄ = s·S̄ᵀ·Q
//! ```
//!
//! (a hidden weight is 0, so its `S̄` is 0 and nothing flows through it).
//!
//! | operand | shape |
//! |---|---|
//! | `q` | `[..., tq, d]` |
//! | `k` | `[..., tk, d]` |
//! | `v` | `[..., tk, dv]` |
//! | output `O` | `[..., tq, dv]` |
//! | weights `P` (kept for the backward) | `[..., tq, tk]` |
//!
//! The leading axes must be equal (no broadcasting). Each matrix of the batch is one rayon
//! task running single-threaded gemm products, so the `[tq, tk]` scores, weights and their
//! gradients of one head stay in cache from one step to the next; composed, each step is a
//! pass over the whole batch's `[..., tq, tk]` tensor.

use ndarray::{ArrayView2, ArrayViewD, Axis, Ix2};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::tensor::Tensor;
use crate::vector_math::with_widest_vectors;
use crate::DType;

/// What [`Tensor::attention_forward`] returns.
#[derive(Clone, Debug)]
pub struct AttentionForward {
    /// `O = P·V`, `[..., tq, dv]`.
    pub output: Tensor,
    /// The weights `P`, `[..., tq, tk]`, for the backward.
    pub weights: Tensor,
}

impl Tensor {
    /// Attention of the queries `self` (`[..., tq, d]`) over `k` (`[..., tk, d]`) and `v`
    /// (`[..., tk, dv]`) with scores scaled by `scale`, hiding later keys when `causal`; see
    /// the [module docs](self).
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn attention_forward(&self, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> AttentionForward {
        let dims = check(self, k, v);
        let dtype = self.dtype();
        let (k, v) = (k.to_dtype(dtype), v.to_dtype(dtype));
        let (output, weights) = match dtype {
            DType::F32 => forward::<f32>(self, &k, &v, scale, causal, &dims),
            DType::F64 => forward::<f64>(self, &k, &v, scale, causal, &dims),
        };
        AttentionForward { output, weights }
    }

    /// The gradients `(Q̄, K̄, V̄)` of [`attention_forward`](Self::attention_forward) at queries
    /// `self`, keys `k` and values `v`, from the gradient `grad` of its output and its `weights`.
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn attention_backward(
        &self,
        k: &Tensor,
        v: &Tensor,
        weights: &Tensor,
        grad: &Tensor,
        scale: f64,
    ) -> (Tensor, Tensor, Tensor) {
        let dims = check(self, k, v);
        let mut p_shape = dims.batch.clone();
        p_shape.extend([dims.tq, dims.tk]);
        let mut o_shape = dims.batch.clone();
        o_shape.extend([dims.tq, dims.dv]);
        assert!(
            weights.shape() == p_shape.as_slice() && grad.shape() == o_shape.as_slice(),
            "attention backward: expected weights {p_shape:?} and gradient {o_shape:?}, got {:?} and {:?}",
            weights.shape(),
            grad.shape()
        );
        let dtype = self.dtype();
        let [k, v, g] = [k, v, grad].map(|t| t.to_dtype(dtype));
        let p = weights.to_dtype(dtype).contiguous();
        match dtype {
            DType::F32 => backward::<f32>(self, &k, &v, &p, &g, scale, &dims),
            DType::F64 => backward::<f64>(self, &k, &v, &p, &g, scale, &dims),
        }
    }
}

/// The leading (batch) axes and the matrix sizes.
struct Dims {
    batch: Vec<usize>,
    tq: usize,
    tk: usize,
    d: usize,
    dv: usize,
}

#[track_caller]
fn check(q: &Tensor, k: &Tensor, v: &Tensor) -> Dims {
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let r = qs.len();
    let fits = r >= 2
        && ks.len() == r
        && vs.len() == r
        && qs[..r - 2] == ks[..r - 2]
        && ks[..r - 2] == vs[..r - 2]
        && qs[r - 1] == ks[r - 1]
        && ks[r - 2] == vs[r - 2];
    assert!(
        fits,
        "attention: expected q [..., tq, d], k [..., tk, d] and v [..., tk, dv] with the same leading axes, \
         got {qs:?}, {ks:?} and {vs:?}"
    );
    Dims { batch: qs[..r - 2].to_vec(), tq: qs[r - 2], tk: ks[r - 2], d: qs[r - 1], dv: vs[r - 1] }
}

/// The matrix at batch position `item` (row-major order over the leading axes).
fn matrix<'a, E>(a: &'a ArrayViewD<'a, E>, batch: &[usize], mut item: usize) -> ArrayView2<'a, E> {
    let mut m = a.view();
    let mut index = vec![0; batch.len()];
    for d in (0..batch.len()).rev() {
        index[d] = item % batch[d];
        item /= batch[d];
    }
    for &i in &index {
        m = m.index_axis_move(Axis(0), i);
    }
    m.into_dimensionality::<Ix2>().expect("two axes left")
}

/// `dst ← beta·a·b` (`dst` row-major `[m, n]`, overwritten) for 2-D views with any strides,
/// on the calling thread.
fn product<E: Element>(a: ArrayView2<'_, E>, b: ArrayView2<'_, E>, beta: E, dst: &mut [E]) {
    let ((m, k), (_, n)) = (a.dim(), b.dim());
    debug_assert_eq!(dst.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(E::zero());
        return;
    }
    // SAFETY: the views' own strides keep every read inside them; `dst` holds m·n elements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a.strides()[1],
            a.strides()[0],
            b.as_ptr(),
            b.strides()[1],
            b.strides()[0],
            E::zero(),
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The keys query `i` may read: `0..=i` when causal (at most `tk`), else all.
fn visible(i: usize, tk: usize, causal: bool) -> usize {
    if causal {
        (i + 1).min(tk)
    } else {
        tk
    }
}

fn array<E: Element>(t: &Tensor) -> ArrayViewD<'_, E> {
    t.as_array::<E>().expect("converted to one dtype by the caller").view()
}

fn forward<E: Element>(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, causal: bool, dims: &Dims) -> (Tensor, Tensor) {
    let Dims { batch, tq, tk, dv, .. } = dims;
    let (tq, tk, dv) = (*tq, *tk, *dv);
    let count: usize = batch.iter().product();
    let (qa, ka, va) = (array::<E>(q), array::<E>(k), array::<E>(v));
    let mut out = vec![E::zero(); count * tq * dv];
    let mut weights = vec![E::zero(); count * tq * tk];
    let one_matrix = |(item, (o, p)): (usize, (&mut [E], &mut [E]))| {
        let (qm, km, vm) = (matrix(&qa, batch, item), matrix(&ka, batch, item), matrix(&va, batch, item));
        // S = s·Q·Kᵀ, written where P goes.
        product(qm, km.t(), E::of(scale), p);
        with_widest_vectors(
            #[inline(always)]
            || {
                for (i, row) in p.chunks_exact_mut(tk.max(1)).enumerate() {
                    let (seen, hidden) = row.split_at_mut(visible(i, tk, causal));
                    softmax_in_place(seen);
                    hidden.fill(E::zero());
                }
            },
        );
        product(ArrayView2::from_shape((tq, tk), p).expect("P is [tq, tk]"), vm, E::one(), o);
    };
    if count * tq * tk > 0 {
        out.par_chunks_mut((tq * dv).max(1)).zip(weights.par_chunks_mut(tq * tk)).enumerate().for_each(one_matrix);
    }
    let shape = |last: [usize; 2]| {
        let mut s = batch.clone();
        s.extend(last);
        s
    };
    (Tensor::from_vec(out, &shape([tq, dv])), Tensor::from_vec(weights, &shape([tq, tk])))
}

/// `row ← softmax(row)`, shifted by the row's maximum.
#[inline(always)]
fn softmax_in_place<E: Element>(row: &mut [E]) {
    let m = row.iter().fold(E::neg_infinity(), |m, &x| if x > m { x } else { m });
    for x in row.iter_mut() {
        *x = (*x - m).exp_vectorised();
    }
    let total = row.iter().fold(E::zero(), |s, &e| s + e);
    let inv = E::one() / total;
    for x in row.iter_mut() {
        *x = *x * inv;
    }
}

fn backward<E: Element>(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &Tensor,
    g: &Tensor,
    scale: f64,
    dims: &Dims,
) -> (Tensor, Tensor, Tensor) {
    let Dims { batch, tq, tk, d, dv } = dims;
    let (tq, tk, d, dv) = (*tq, *tk, *d, *dv);
    let count: usize = batch.iter().product();
    let (qa, ka, va, pa, ga) = (array::<E>(q), array::<E>(k), array::<E>(v), array::<E>(p), array::<E>(g));
    let mut dq = vec![E::zero(); count * tq * d];
    let mut dk = vec![E::zero(); count * tk * d];
    let mut dv_all = vec![E::zero(); count * tk * dv];
    let one_matrix = |item: usize, dq: &mut [E], dk: &mut [E], dv_m: &mut [E]| {
        let [qm, km, vm, pm, gm] = [&qa, &ka, &va, &pa, &ga].map(|a| matrix(a, batch, item));
        // V̄ = Pᵀ·Ō
        product(pm.t(), gm, E::one(), dv_m);
        // P̄ = Ō·Vᵀ, then S̄ = P ⊙ (P̄ − rowsum(P̄ ⊙ P)) in place.
        let mut ds = vec![E::zero(); tq * tk];
        product(gm, vm.t(), E::one(), &mut ds);
        with_widest_vectors(
            #[inline(always)]
            || {
                for (i, row) in ds.chunks_exact_mut(tk.max(1)).enumerate() {
                    let prow = pm.row(i);
                    let prow = prow.as_slice().expect("P is row-major");
                    let dot = row.iter().zip(prow).fold(E::zero(), |s, (&a, &b)| s + a * b);
                    for j in 0..tk {
                        row[j] = prow[j] * (row[j] - dot);
                    }
                }
            },
        );
        let ds = ArrayView2::from_shape((tq, tk), &ds[..]).expect("S̄ is [tq, tk]");
        // Q̄ = s·S̄·K,  K̄ = s·S̄ᵀ·Q
        product(ds, km, E::of(scale), dq);
        product(ds.t(), qm, E::of(scale), dk);
    };
    if count * tq * tk > 0 {
        dq.par_chunks_mut((tq * d).max(1))
            .zip(dk.par_chunks_mut((tk * d).max(1)).zip(dv_all.par_chunks_mut((tk * dv).max(1))))
            .enumerate()
            .for_each(|(item, (dq, (dk, dv)))| one_matrix(item, dq, dk, dv));
    }
    let shape = |last: [usize; 2]| {
        let mut s = batch.clone();
        s.extend(last);
        s
    };
    (
        Tensor::from_vec(dq, &shape([tq, d])),
        Tensor::from_vec(dk, &shape([tk, d])),
        Tensor::from_vec(dv_all, &shape([tk, dv])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init, rng};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(seed))
    }

    #[test]
    fn matches_the_composed_products() {
        for causal in [false, true] {
            let (q, k, v) = (random(&[2, 3, 5, 4], 1), random(&[2, 3, 5, 4], 2), random(&[2, 3, 5, 6], 3));
            let got = q.attention_forward(&k, &v, 0.5, causal);
            let mut scores = q.matmul(&k.t()).mul_scalar(0.5);
            if causal {
                let hide = Tensor::from_vec((0..25).map(|n| if n % 5 > n / 5 { 1.0 } else { 0.0 }).collect(), &[5, 5]);
                scores = scores.add(&hide.mul_scalar(-1e300));
            }
            let p = scores.softmax(3);
            assert!(got.weights.allclose(&p, 1e-12, 1e-12), "causal {causal}");
            assert!(got.output.allclose(&p.matmul(&v), 1e-12, 1e-12), "causal {causal}");
        }
    }

    #[test]
    fn strided_views_give_the_same_result() {
        // q as a permuted view [batch, heads, t, d] of [batch, t, heads, d], as a layer makes it.
        let base = random(&[2, 5, 3, 4], 4);
        let q = base.permute(&[0, 2, 1, 3]);
        let (k, v) = (random(&[2, 3, 5, 4], 5), random(&[2, 3, 5, 4], 6));
        let a = q.attention_forward(&k, &v, 0.3, true).output;
        let b = q.contiguous().attention_forward(&k, &v, 0.3, true).output;
        assert_eq!(a.to_vec_f64(), b.to_vec_f64());
    }
}
