//! A whole LSTM layer over a sequence as two kernels — the recurrence forward and
//! backpropagation through time backward — for `nabla-autograd`'s `lstm_sequence` op, whose
//! composed form (one matrix product and one composed cell per step) is the oracle of its
//! gradient checks.
//!
//! The input's share of the gates, `Z = X·W_ihᵀ + b` for every step, is computed before (one
//! large product); what only a loop can do is the recurrence through `W_hh`:
//!
//! ```text
//! for t = 0 … T−1:   zₜ = Zₜ + hₜ₋₁·W_hhᵀ                    [B, 4H]   (one gemm per step)
//!                    (hₜ, cₜ) = cell(zₜ, cₜ₋₁)                         (crate::lstm_cell's rows)
//! ```
//!
//! | operand | shape |
//! |---|---|
//! | `Z` (`self` of the forward) | `[T·B, 4H]`, time-major: rows `t·B … t·B + B − 1` are step `t` |
//! | `W_hh` | `[4H, H]` (PyTorch's layout, gates `i, f, g, o`) |
//! | `h₋₁`, `c₋₁` | `[B, H]` |
//! | result `packed` | `[T·B, 2H]`: row block `t` is `[hₜ | cₜ]` |
//! | `activations` (kept for the backward) | `[T·B, 5H]`: `[i | f | g | o | tanh cₜ]` per row |
//!
//! Backward, from the gradient `[h̄ₜ | c̄ₜ]` of every row of `packed`, walking the steps in
//! reverse with the gradients carried from step `t + 1`:
//!
//! ```text
//! (z̄ₜ, c̄ₜ₋₁ carried) = cell backward(h̄ₜ + carried h̄, c̄ₜ + carried c̄)    (crate::lstm_cell's rows)
//! carried h̄ = z̄ₜ·W_hh                                            [B, H]    (one gemm per step)
//! Z̄ = [z̄₀; …; z̄_{T−1}]     W̄_hh = Σₜ z̄ₜᵀ·hₜ₋₁ = Z̄ᵀ·[h₋₁; h₀; …; h_{T−2}]  (two gemms: step 0, the rest)
//! ```
//!
//! **Why it is fast.** The batch rows of a recurrence never meet: row `b` of `hₜ` depends only
//! on row `b` of `hₜ₋₁`. So the batch is cut into one block of rows per thread and each thread
//! runs the whole sequence for its rows with no synchronisation between steps, each step one
//! single-threaded gemm. `W_hhᵀ` is laid out once as `[H, 4H]`, so gemm reads the long gate axis
//! contiguously (reading `W_hh` transposed in place measured 3–4× slower at these shapes). There
//! is no tape, no slice and no allocation per step. The large results are zeroed row by row by
//! the thread that writes them, not up front on one thread.

use ndarray::{ArrayView2, ShapeBuilder};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::layout::transpose_into_strided;
use crate::lstm_cell::{backward_row, forward_row};
use crate::matmul::{gemm_accumulate, is_conflicting_stride, PADDING};
use crate::tensor::Tensor;
use crate::vector_math::with_widest_vectors;
use crate::DType;

/// What [`Tensor::lstm_sequence_forward`] returns.
#[derive(Clone, Debug)]
pub struct LstmSequenceForward {
    /// `[hₜ | cₜ]` for every step, `[T·B, 2H]`, time-major.
    pub packed: Tensor,
    /// `[i | f | g | o | tanh cₜ]` for every step, `[T·B, 5H]`, for the backward.
    pub activations: Tensor,
}

/// What [`Tensor::lstm_sequence_backward`] returns: the gradient of each input of the forward.
#[derive(Clone, Debug)]
pub struct LstmSequenceGrads {
    /// `Z̄`, `[T·B, 4H]`.
    pub projected: Tensor,
    /// `W̄_hh`, `[4H, H]`.
    pub weight_hh: Tensor,
    /// `h̄₋₁`, `[B, H]`.
    pub h0: Tensor,
    /// `c̄₋₁`, `[B, H]`.
    pub c0: Tensor,
}

impl Tensor {
    /// Runs the LSTM recurrence over the gate inputs `self` (`Z`, `[T·B, 4H]`, time-major) with
    /// recurrent weights `w_hh` (`[4H, H]`) from the state `(h0, c0)` (`[B, H]` each); see the
    /// [module docs](self).
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn lstm_sequence_forward(&self, w_hh: &Tensor, h0: &Tensor, c0: &Tensor) -> LstmSequenceForward {
        let dims = check("lstm_sequence", self, w_hh, h0, c0);
        let dtype = self.dtype();
        let [z, w, h0, c0] = [self, w_hh, h0, c0].map(|t| t.to_dtype(dtype).contiguous());
        let (packed, acts) = match dtype {
            DType::F32 => forward::<f32>(&z, &w, &h0, &c0, dims),
            DType::F64 => forward::<f64>(&z, &w, &h0, &c0, dims),
        };
        LstmSequenceForward { packed, activations: acts }
    }

    /// The gradients of [`lstm_sequence_forward`](Self::lstm_sequence_forward)'s inputs from the
    /// gradient `grad` of its packed result (`[T·B, 2H]`), given its `activations` (`self`), the
    /// packed result itself and the forward's `w_hh`, `h0` and `c0`.
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn lstm_sequence_backward(
        &self,
        packed: &Tensor,
        w_hh: &Tensor,
        h0: &Tensor,
        c0: &Tensor,
        grad: &Tensor,
    ) -> LstmSequenceGrads {
        let dims = check_from_outputs(self, packed, w_hh, h0, c0, grad);
        let dtype = self.dtype();
        let [a, p, w, h0, c0, g] = [self, packed, w_hh, h0, c0, grad].map(|t| t.to_dtype(dtype).contiguous());
        match dtype {
            DType::F32 => backward::<f32>(&a, &p, &w, &h0, &c0, &g, dims),
            DType::F64 => backward::<f64>(&a, &p, &w, &h0, &c0, &g, dims),
        }
    }
}

/// `(T, B, H)`: steps, batch rows, hidden units.
#[derive(Clone, Copy, Debug)]
struct Dims {
    time: usize,
    batch: usize,
    hidden: usize,
}

#[track_caller]
fn check(op: &str, z: &Tensor, w_hh: &Tensor, h0: &Tensor, c0: &Tensor) -> Dims {
    let (batch, hidden) = match h0.shape() {
        [b, h] => (*b, *h),
        s => panic!("{op}: expected h0 [batch, H], got {s:?}"),
    };
    let fits = z.ndim() == 2
        && batch > 0
        && z.shape()[0].is_multiple_of(batch)
        && z.shape()[1] == 4 * hidden
        && w_hh.shape() == [4 * hidden, hidden]
        && c0.shape() == [batch, hidden];
    assert!(
        fits,
        "{op}: expected gate inputs [time·batch, 4H], W_hh [4H, H], h0 and c0 [batch, H], got {:?}, {:?}, {:?} and {:?}",
        z.shape(),
        w_hh.shape(),
        h0.shape(),
        c0.shape()
    );
    Dims { time: z.shape()[0] / batch, batch, hidden }
}

#[track_caller]
fn check_from_outputs(acts: &Tensor, packed: &Tensor, w_hh: &Tensor, h0: &Tensor, c0: &Tensor, grad: &Tensor) -> Dims {
    let (batch, hidden) = match h0.shape() {
        [b, h] => (*b, *h),
        s => panic!("lstm_sequence backward: expected h0 [batch, H], got {s:?}"),
    };
    let rows = packed.shape().first().copied().unwrap_or(0);
    let fits = batch > 0
        && rows % batch == 0
        && w_hh.shape() == [4 * hidden, hidden]
        && c0.shape() == [batch, hidden]
        && acts.shape() == [rows, 5 * hidden]
        && packed.shape() == [rows, 2 * hidden]
        && grad.shape() == [rows, 2 * hidden];
    assert!(
        fits,
        "lstm_sequence backward: activations {:?}, packed {:?} and gradient {:?} do not fit W_hh {:?}, h0 {:?} and c0 {:?}",
        acts.shape(),
        packed.shape(),
        grad.shape(),
        w_hh.shape(),
        h0.shape(),
        c0.shape()
    );
    Dims { time: rows / batch, batch, hidden }
}

fn slice<E: Element>(t: &Tensor) -> &[E] {
    t.as_array::<E>().and_then(|a| a.as_slice()).expect("made row-major E by the caller")
}

/// How many blocks of batch rows run side by side: one per thread, when a step's product is
/// large enough to be worth a thread (below that, one block on the calling thread).
fn blocks(dims: Dims) -> usize {
    const MIN_STEP_WORK: usize = 1 << 16;
    let Dims { batch, hidden, .. } = dims;
    if batch * 4 * hidden * hidden < MIN_STEP_WORK {
        return 1;
    }
    rayon::current_num_threads().clamp(1, batch)
}

/// The rows `b0 .. b0 + count` of a split of `batch` rows into `parts` near-equal blocks.
fn block(batch: usize, parts: usize, part: usize) -> (usize, usize) {
    let (size, extra) = (batch / parts, batch % parts);
    let b0 = part * size + part.min(extra);
    (b0, size + usize::from(part < extra))
}

/// A buffer written by several threads, each in its own rows.
#[derive(Clone, Copy)]
struct Rows<E> {
    ptr: *mut E,
    width: usize,
}
unsafe impl<E> Send for Rows<E> {}
unsafe impl<E> Sync for Rows<E> {}

impl<E> Rows<E> {
    fn of(buffer: &mut [E], width: usize) -> Self {
        Rows { ptr: buffer.as_mut_ptr(), width }
    }

    /// The unused capacity of `buffer` as rows of `width`: the caller zeroes each row
    /// ([`zeroed_rows`](Self::zeroed_rows)) before anything reads it.
    fn of_capacity(buffer: &mut Vec<E>, width: usize) -> Self {
        Rows { ptr: buffer.spare_capacity_mut().as_mut_ptr().cast(), width }
    }

    /// Rows `first .. first + count`, set to zero first (all-zero bytes are `0.0` for `f32` and
    /// `f64`).
    ///
    /// # Safety
    /// As [`rows`](Self::rows), with memory that may be uninitialised.
    #[allow(clippy::mut_from_ref)]
    unsafe fn zeroed_rows(&self, first: usize, count: usize) -> &mut [E] {
        let start = self.ptr.add(first * self.width);
        start.write_bytes(0, count * self.width);
        std::slice::from_raw_parts_mut(start, count * self.width)
    }

    /// Rows `first .. first + count`.
    ///
    /// # Safety
    /// Inside the buffer, and no other live slice covers these rows.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, first: usize, count: usize) -> &mut [E] {
        std::slice::from_raw_parts_mut(self.ptr.add(first * self.width), count * self.width)
    }
}

/// `dst ← [dst +] a·b` on the calling thread, every operand row-major with the given row
/// strides: `a` `[m, k]`, `b` `[k, n]`, `dst` `[m, n]`.
///
/// # Safety
/// The pointers and strides stay inside their buffers, and `dst` overlaps neither operand.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_rows<E: Element>(
    (m, k, n): (usize, usize, usize),
    dst: *mut E,
    dst_rs: usize,
    accumulate: bool,
    a: *const E,
    a_rs: usize,
    b: *const E,
    b_rs: usize,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        a,
        1,
        a_rs as isize,
        b,
        1,
        b_rs as isize,
        E::one(),
        E::one(),
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

fn forward<E: Element>(z: &Tensor, w_hh: &Tensor, h0: &Tensor, c0: &Tensor, dims: Dims) -> (Tensor, Tensor) {
    let Dims { time, batch, hidden } = dims;
    let (z, w, h0, c0) = (slice::<E>(z), slice::<E>(w_hh), slice::<E>(h0), slice::<E>(c0));
    let gates = 4 * hidden;
    // W_hhᵀ as [H, 4H] row-major, its rows `w_t_rs` apart: 16 elements more than 4H when 4H
    // is a power of two of 2 KiB or more, whose rows gemm would read through the same few cache
    // sets (matmul's `is_conflicting_stride`; W4's [32, 256]·[256, 1024] step: 78 → 75 µs).
    let w_t_rs = if is_conflicting_stride::<E>(gates as isize) { gates + PADDING } else { gates };
    let mut w_t = vec![E::zero(); hidden * w_t_rs];
    transpose_into_strided(w, gates, hidden, &mut w_t, w_t_rs);
    let rows = time * batch;
    // The two results are large (W4's: 4 and 10 MB) and every row is written once, by the
    // thread that owns it; zeroing them here, on one thread, cost more than a millisecond of a
    // 30 ms step, so each thread zeroes its rows of a step just before writing them.
    let mut packed: Vec<E> = Vec::with_capacity(rows * 2 * hidden);
    let mut acts: Vec<E> = Vec::with_capacity(rows * 5 * hidden);
    let (out, act) = (Rows::of_capacity(&mut packed, 2 * hidden), Rows::of_capacity(&mut acts, 5 * hidden));
    let parts = blocks(dims);
    let run = |part: usize| {
        let (b0, count) = block(batch, parts, part);
        let mut z_step = vec![E::zero(); count * gates];
        for t in 0..time {
            let r0 = t * batch + b0;
            z_step.copy_from_slice(&z[r0 * gates..(r0 + count) * gates]);
            // SAFETY: this block's rows of step t are written only here; step t − 1's rows
            // (read) were finished by this same thread.
            let (h_out, a_out) = unsafe { (out.zeroed_rows(r0, count), act.zeroed_rows(r0, count)) };
            let (h_prev, h_prev_rs) = match t {
                0 => (h0[b0 * hidden..].as_ptr(), hidden),
                _ => (unsafe { out.ptr.add((r0 - batch) * 2 * hidden) } as *const E, 2 * hidden),
            };
            // zₜ = Zₜ + hₜ₋₁·W_hhᵀ
            unsafe {
                gemm_rows(
                    (count, hidden, gates),
                    z_step.as_mut_ptr(),
                    gates,
                    true,
                    h_prev,
                    h_prev_rs,
                    w_t.as_ptr(),
                    w_t_rs,
                )
            };
            with_widest_vectors(
                #[inline(always)]
                || {
                    for j in 0..count {
                        let c_prev: &[E] = match t {
                            0 => &c0[(b0 + j) * hidden..(b0 + j + 1) * hidden],
                            // SAFETY: a row of step t − 1, finished and no longer written.
                            _ => unsafe { &out.rows(r0 - batch + j, 1)[hidden..] },
                        };
                        forward_row(
                            &mut h_out[j * 2 * hidden..(j + 1) * 2 * hidden],
                            &mut a_out[j * 5 * hidden..(j + 1) * 5 * hidden],
                            &z_step[j * gates..(j + 1) * gates],
                            c_prev,
                            hidden,
                        );
                    }
                },
            );
        }
    };
    if parts > 1 {
        (0..parts).into_par_iter().for_each(run);
    } else {
        run(0);
    }
    // SAFETY: the blocks cover every batch row and each block every step, so all `rows` rows
    // of both buffers were zeroed and then written.
    unsafe {
        packed.set_len(rows * 2 * hidden);
        acts.set_len(rows * 5 * hidden);
    }
    (Tensor::from_vec(packed, &[rows, 2 * hidden]), Tensor::from_vec(acts, &[rows, 5 * hidden]))
}

fn backward<E: Element>(
    acts: &Tensor,
    packed: &Tensor,
    w_hh: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    grad: &Tensor,
    dims: Dims,
) -> LstmSequenceGrads {
    let Dims { time, batch, hidden } = dims;
    let (acts, packed, w, h0, c0, grad) =
        (slice::<E>(acts), slice::<E>(packed), slice::<E>(w_hh), slice::<E>(h0), slice::<E>(c0), slice::<E>(grad));
    let gates = 4 * hidden;
    let rows = time * batch;
    // Z̄ (W4's: 8 MB) is zeroed row by row by the thread that writes it, as in the forward.
    let mut dz: Vec<E> = Vec::with_capacity(rows * gates);
    let mut dh0 = vec![E::zero(); batch * hidden];
    let mut dc0 = vec![E::zero(); batch * hidden];
    let (dz_rows, dh0_rows, dc0_rows) =
        (Rows::of_capacity(&mut dz, gates), Rows::of(&mut dh0, hidden), Rows::of(&mut dc0, hidden));
    let parts = blocks(dims);
    let run = |part: usize| {
        let (b0, count) = block(batch, parts, part);
        // The gradients carried from step t + 1 into step t: h̄ (through W_hh) and c̄ (through f).
        let mut dh = vec![E::zero(); count * hidden];
        let mut dc = vec![E::zero(); count * hidden];
        let mut hc_bar = vec![E::zero(); 2 * hidden];
        for t in (0..time).rev() {
            let r0 = t * batch + b0;
            // SAFETY: this block's rows of step t are written only here.
            let dz_t = unsafe { dz_rows.zeroed_rows(r0, count) };
            with_widest_vectors(
                #[inline(always)]
                || {
                    for j in 0..count {
                        let r = r0 + j;
                        let g = &grad[r * 2 * hidden..(r + 1) * 2 * hidden];
                        for k in 0..hidden {
                            hc_bar[k] = g[k] + dh[j * hidden + k];
                            hc_bar[hidden + k] = g[hidden + k] + dc[j * hidden + k];
                        }
                        let c_prev = match t {
                            0 => &c0[(b0 + j) * hidden..(b0 + j + 1) * hidden],
                            _ => &packed[(r - batch) * 2 * hidden + hidden..(r - batch + 1) * 2 * hidden],
                        };
                        backward_row(
                            &mut dz_t[j * gates..(j + 1) * gates],
                            &mut dc[j * hidden..(j + 1) * hidden],
                            &acts[r * 5 * hidden..(r + 1) * 5 * hidden],
                            c_prev,
                            &hc_bar,
                            hidden,
                        );
                    }
                },
            );
            // carried h̄ = z̄ₜ·W_hh
            unsafe {
                gemm_rows(
                    (count, gates, hidden),
                    dh.as_mut_ptr(),
                    hidden,
                    false,
                    dz_t.as_ptr(),
                    gates,
                    w.as_ptr(),
                    hidden,
                )
            };
        }
        // SAFETY: each block writes its own rows of h̄₋₁ and c̄₋₁.
        unsafe {
            dh0_rows.rows(b0, count).copy_from_slice(&dh);
            dc0_rows.rows(b0, count).copy_from_slice(&dc);
        }
    };
    if parts > 1 {
        (0..parts).into_par_iter().for_each(run);
    } else {
        run(0);
    }
    // SAFETY: as in the forward, every row of Z̄ was zeroed and written by its block.
    unsafe { dz.set_len(rows * gates) };
    // W̄_hh = Z̄ᵀ·[h₋₁; h₀; …; h_{T−2}] (gemm's own threads): step 0's rows of Z̄ with h₋₁, then
    // one product for all later steps, reading h₀ … h_{T−2} in place in `packed` (the first H
    // columns of its rows, 2H apart). Z̄ᵀ is read as a view: writing it out transposed during
    // the steps (8 MB for W4) made the product 1–1.5 ms faster but cost as much in stores.
    let mut dw = vec![E::zero(); gates * hidden];
    let dz_view = ArrayView2::from_shape((rows, gates), &dz[..]).expect("Z̄ is [T·B, 4H]");
    let (dz_first, dz_later) = dz_view.split_at(ndarray::Axis(0), batch.min(rows));
    // Step 0's rows (none when T = 0, so that the empty product keeps matching shapes).
    let h_first = ArrayView2::from_shape((batch.min(rows), hidden), h0).expect("h₋₁ is [B, H]");
    gemm_accumulate(dz_first.t(), h_first, &mut dw);
    let later = rows - batch.min(rows);
    if later > 0 {
        let h_later = ArrayView2::from_shape((later, hidden).strides((2 * hidden, 1)), packed)
            .expect("hₜ is the first H columns of packed's [T·B, 2H] rows");
        gemm_accumulate(dz_later.t(), h_later, &mut dw);
    }
    LstmSequenceGrads {
        projected: Tensor::from_vec(dz, &[rows, gates]),
        weight_hh: Tensor::from_vec(dw, &[gates, hidden]),
        h0: Tensor::from_vec(dh0, &[batch, hidden]),
        c0: Tensor::from_vec(dc0, &[batch, hidden]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init, rng};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        init::uniform(shape, -1.0, 1.0, DType::F64, &mut rng(seed))
    }

    /// The recurrence written out step by step with the tensor ops and the cell kernel.
    fn stepwise(z: &Tensor, w: &Tensor, h0: &Tensor, c0: &Tensor) -> Vec<f64> {
        let (batch, hidden) = (h0.shape()[0], h0.shape()[1]);
        let (mut h, mut c, mut out) = (h0.clone(), c0.clone(), Vec::new());
        for t in 0..z.shape()[0] / batch {
            let zt = z.narrow(0, t * batch, batch).add(&h.matmul(&w.t()));
            let packed = zt.lstm_cell_forward(&c).packed;
            h = packed.narrow(1, 0, hidden).contiguous();
            c = packed.narrow(1, hidden, hidden).contiguous();
            out.extend(packed.to_vec_f64());
        }
        out
    }

    #[test]
    fn matches_the_step_by_step_recurrence() {
        // Small (one block) and large enough for one block of rows per thread.
        // 64 units in f64 make 4H a power of two of 2 KiB: W_hhᵀ's rows are padded.
        for (time, batch, hidden) in [(3, 2, 3), (5, 9, 48), (3, 4, 64)] {
            let z = random(&[time * batch, 4 * hidden], 1);
            let w = random(&[4 * hidden, hidden], 2);
            let (h0, c0) = (random(&[batch, hidden], 3), random(&[batch, hidden], 4));
            let got = z.lstm_sequence_forward(&w, &h0, &c0).packed.to_vec_f64();
            let want = stepwise(&z, &w, &h0, &c0);
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-12, "{time}×{batch}×{hidden}: off by {worst}");
        }
    }

    #[test]
    fn blocks_cover_the_batch() {
        for (batch, parts) in [(32, 2), (7, 3), (3, 3)] {
            let covered: Vec<usize> = (0..parts)
                .flat_map(|p| {
                    let (b0, n) = block(batch, parts, p);
                    b0..b0 + n
                })
                .collect();
            assert_eq!(covered, (0..batch).collect::<Vec<_>>());
        }
    }
}
