//! The elementwise half of an LSTM step as two fused kernels, forward and backward, for
//! `nabla-autograd`'s `lstm_cell` op (whose composed form from chunk, sigmoid, tanh, multiply
//! and add is the oracle of its gradient checks).
//!
//! From the gate pre-activations `z = [z_i | z_f | z_g | z_o]` (`[batch, 4H]`, PyTorch's order)
//! and the old cell `c` (`[batch, H]`):
//!
//! ```text
//! i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
//! c' = f⊙c + i⊙g            h = o⊙tanh(c')
//! ```
//!
//! The result is packed as `[batch, 2H] = [h | c']`. Backward, from the gradients `h̄`, `c̄'`
//! of the two halves (with `σ′ = σ(1 − σ)` and `tanh′ = 1 − tanh²`):
//!
//! ```text
//! ĉ = c̄' + h̄⊙o⊙(1 − tanh²c')                    all the gradient reaching c'
//! z̄_i = ĉ⊙g⊙i(1 − i)     z̄_f = ĉ⊙c⊙f(1 − f)     z̄_g = ĉ⊙i⊙(1 − g²)     z̄_o = h̄⊙tanh(c')⊙o(1 − o)
//! c̄ = ĉ⊙f
//! ```
//!
//! The forward also returns the activations `[i | f | g | o | tanh c']` (`[batch, 5H]`) so the
//! backward does not evaluate a transcendental function again. Rows are independent and are
//! split over rayon's threads for large batches.

use rayon::prelude::*;

use crate::dtype::Element;
use crate::parallel::PARALLEL_THRESHOLD;
use crate::tensor::Tensor;
use crate::vector_math::with_widest_vectors;
use crate::DType;

/// What [`Tensor::lstm_cell_forward`] returns.
#[derive(Clone, Debug)]
pub struct LstmCellForward {
    /// `[h | c']`, `[batch, 2H]`.
    pub packed: Tensor,
    /// `[i | f | g | o | tanh c']`, `[batch, 5H]`, for the backward.
    pub activations: Tensor,
}

/// Whether `len` cell elements are enough work to split the rows over threads.
fn rows_of(len: usize) -> bool {
    len >= PARALLEL_THRESHOLD
}

impl Tensor {
    /// The LSTM cell update from gate pre-activations `self` (`[batch, 4H]`) and cell `c`
    /// (`[batch, H]`); see the [module docs](self).
    ///
    /// # Panics
    /// If the shapes do not fit or the dtypes differ.
    #[track_caller]
    pub fn lstm_cell_forward(&self, c: &Tensor) -> LstmCellForward {
        let (batch, hidden) = check("lstm_cell", self, c);
        let (z, c) = (self.contiguous(), c.to_dtype(self.dtype()).contiguous());
        match self.dtype() {
            DType::F32 => forward::<f32>(&z, &c, batch, hidden),
            DType::F64 => forward::<f64>(&z, &c, batch, hidden),
        }
    }

    /// The gradients `(z̄, c̄)` of [`lstm_cell_forward`](Self::lstm_cell_forward) from the
    /// gradient `grad` of its packed result (`[batch, 2H]`), its `activations` (`self`) and the
    /// old cell `c`.
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn lstm_cell_backward(&self, c: &Tensor, grad: &Tensor) -> (Tensor, Tensor) {
        let (batch, hidden) = (c.shape()[0], c.shape()[1]);
        assert!(
            self.shape() == [batch, 5 * hidden] && grad.shape() == [batch, 2 * hidden],
            "lstm_cell backward: activations {:?}, cell {:?}, gradient {:?}",
            self.shape(),
            c.shape(),
            grad.shape()
        );
        let dtype = self.dtype();
        let (a, c, g) = (self.contiguous(), c.to_dtype(dtype).contiguous(), grad.to_dtype(dtype).contiguous());
        match dtype {
            DType::F32 => backward::<f32>(&a, &c, &g, batch, hidden),
            DType::F64 => backward::<f64>(&a, &c, &g, batch, hidden),
        }
    }
}

#[track_caller]
fn check(op: &str, z: &Tensor, c: &Tensor) -> (usize, usize) {
    let fits = z.ndim() == 2 && c.ndim() == 2 && z.shape()[0] == c.shape()[0] && z.shape()[1] == 4 * c.shape()[1];
    assert!(fits, "{op}: expected gates [batch, 4H] and cell [batch, H], got {:?} and {:?}", z.shape(), c.shape());
    (c.shape()[0], c.shape()[1])
}

fn slice<E: Element>(t: &Tensor) -> &[E] {
    t.as_array::<E>().and_then(|a| a.as_slice()).expect("made row-major E by the caller")
}

/// One row: `[h | c']` into `out`, `[i | f | g | o | tanh c']` into `act`. Written as passes
/// over whole gate blocks so that each compiles to vector instructions (the activations are
/// [`Element::sigmoid`] and [`Element::tanh_vectorised`]); callers run it inside
/// [`with_widest_vectors`].
#[inline(always)]
pub(crate) fn forward_row<E: Element>(out: &mut [E], act: &mut [E], z: &[E], c: &[E], hidden: usize) {
    let (z, c) = (&z[..4 * hidden], &c[..hidden]);
    let (act_ifgo, t) = act[..5 * hidden].split_at_mut(4 * hidden);
    for (gate, (a, z)) in act_ifgo.chunks_exact_mut(hidden.max(1)).zip(z.chunks_exact(hidden.max(1))).enumerate() {
        if gate == 2 {
            a.iter_mut().zip(z).for_each(|(a, &z)| *a = z.tanh_vectorised());
        } else {
            a.iter_mut().zip(z).for_each(|(a, &z)| *a = z.sigmoid());
        }
    }
    let (i, rest) = act_ifgo.split_at(hidden);
    let (f, rest) = rest.split_at(hidden);
    let (g, o) = rest.split_at(hidden);
    let (h_out, c_out) = out[..2 * hidden].split_at_mut(hidden);
    for k in 0..hidden {
        c_out[k] = f[k] * c[k] + i[k] * g[k];
    }
    t.iter_mut().zip(c_out.iter()).for_each(|(t, &c)| *t = c.tanh_vectorised());
    for k in 0..hidden {
        h_out[k] = o[k] * t[k];
    }
}

/// One row: `z̄` into `dz` and `c̄` into `dc` from the activations, the old cell and `[h̄ | c̄']`.
#[inline(always)]
pub(crate) fn backward_row<E: Element>(dz: &mut [E], dc: &mut [E], act: &[E], c: &[E], grad: &[E], hidden: usize) {
    let one = E::one();
    let (act, c, dc) = (&act[..5 * hidden], &c[..hidden], &mut dc[..hidden]);
    let (i, rest) = act.split_at(hidden);
    let (f, rest) = rest.split_at(hidden);
    let (g, rest) = rest.split_at(hidden);
    let (o, t) = rest.split_at(hidden);
    let (h_bar, c_bar) = grad[..2 * hidden].split_at(hidden);
    let (dz_i, rest) = dz[..4 * hidden].split_at_mut(hidden);
    let (dz_f, rest) = rest.split_at_mut(hidden);
    let (dz_g, dz_o) = rest.split_at_mut(hidden);
    for k in 0..hidden {
        let c_hat = c_bar[k] + h_bar[k] * o[k] * (one - t[k] * t[k]);
        dz_i[k] = c_hat * g[k] * i[k] * (one - i[k]);
        dz_f[k] = c_hat * c[k] * f[k] * (one - f[k]);
        dz_g[k] = c_hat * i[k] * (one - g[k] * g[k]);
        dz_o[k] = h_bar[k] * t[k] * o[k] * (one - o[k]);
        dc[k] = c_hat * f[k];
    }
}

fn forward<E: Element>(z: &Tensor, c: &Tensor, batch: usize, hidden: usize) -> LstmCellForward {
    let (zs, cs) = (slice::<E>(z), slice::<E>(c));
    let mut packed = vec![E::zero(); batch * 2 * hidden];
    let mut acts = vec![E::zero(); batch * 5 * hidden];
    let h = hidden.max(1);
    if rows_of(batch * hidden) {
        packed
            .par_chunks_mut(2 * h)
            .zip(acts.par_chunks_mut(5 * h))
            .zip(zs.par_chunks(4 * h).zip(cs.par_chunks(h)))
            .for_each(|((out, act), (z, c))| {
                with_widest_vectors(
                    #[inline(always)]
                    || forward_row(out, act, z, c, hidden),
                )
            });
    } else {
        packed.chunks_mut(2 * h).zip(acts.chunks_mut(5 * h)).zip(zs.chunks(4 * h).zip(cs.chunks(h))).for_each(
            |((out, act), (z, c))| {
                with_widest_vectors(
                    #[inline(always)]
                    || forward_row(out, act, z, c, hidden),
                )
            },
        );
    }
    LstmCellForward {
        packed: Tensor::from_vec(packed, &[batch, 2 * hidden]),
        activations: Tensor::from_vec(acts, &[batch, 5 * hidden]),
    }
}

fn backward<E: Element>(a: &Tensor, c: &Tensor, g: &Tensor, batch: usize, hidden: usize) -> (Tensor, Tensor) {
    let (acts, cs, gs) = (slice::<E>(a), slice::<E>(c), slice::<E>(g));
    let mut dz = vec![E::zero(); batch * 4 * hidden];
    let mut dc = vec![E::zero(); batch * hidden];
    let h = hidden.max(1);
    if rows_of(batch * hidden) {
        dz.par_chunks_mut(4 * h)
            .zip(dc.par_chunks_mut(h))
            .zip(acts.par_chunks(5 * h).zip(cs.par_chunks(h).zip(gs.par_chunks(2 * h))))
            .for_each(|((dz, dc), (act, (c, g)))| {
                with_widest_vectors(
                    #[inline(always)]
                    || backward_row(dz, dc, act, c, g, hidden),
                )
            });
    } else {
        dz.chunks_mut(4 * h)
            .zip(dc.chunks_mut(h))
            .zip(acts.chunks(5 * h).zip(cs.chunks(h).zip(gs.chunks(2 * h))))
            .for_each(|((dz, dc), (act, (c, g)))| {
                with_widest_vectors(
                    #[inline(always)]
                    || backward_row(dz, dc, act, c, g, hidden),
                )
            });
    }
    (Tensor::from_vec(dz, &[batch, 4 * hidden]), Tensor::from_vec(dc, &[batch, hidden]))
}
