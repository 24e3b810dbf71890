//! A whole LSTM layer's recurrence over a sequence as one op (fused;
//! [`lstm_sequence_composed`] is its gradient-check oracle and the form its backward takes when
//! second derivatives are wanted).
//!
//! From the input's share of the gates `Z = X·W_ihᵀ + b` (`[T·B, 4H]`, time-major), the
//! recurrent weights `W_hh` (`[4H, H]`) and the state `(h₋₁, c₋₁)` (`[B, H]` each) it returns
//! `[hₜ | cₜ]` for every step, packed time-major as `[T·B, 2H]`:
//!
//! ```text
//! zₜ = Zₜ + hₜ₋₁·W_hhᵀ        (hₜ, cₜ) = lstm_cell(zₜ, cₜ₋₁)        t = 0 … T−1
//! ```
//!
//! Composed, a step is a slice, a matrix product, an add and the cell: four nodes per step on
//! the tape, each with its own allocation, and a backward that adds up the slices' gradients.
//! Fused it is one node; the kernels (one thread per block of batch rows, one gemm per step,
//! two for `W̄_hh`: step 0, then all later steps at once) and the backward formula are in
//! `nabla_tensor::lstm_sequence`.

use crate::backward::grad;
use crate::ops::lstm_cell::lstm_cell_composed;
use crate::Var;

impl Var {
    /// `[hₜ | cₜ]` for every step (`[T·B, 2H]`, time-major) of the LSTM recurrence over the
    /// gate inputs `self` (`[T·B, 4H]`) with recurrent weights `w_hh` (`[4H, H]`) from the
    /// state `(h0, c0)` (`[B, H]` each); kernels and backward formula in
    /// `nabla_tensor::lstm_sequence`.
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn lstm_sequence(&self, w_hh: &Var, h0: &Var, c0: &Var) -> Var {
        let out = self.value().lstm_sequence_forward(&w_hh.value(), &h0.value(), &c0.value());
        let (packed, activations) = (out.packed.clone(), out.activations);
        Var::from_fused_op(
            "lstm_sequence",
            out.packed,
            &[self, w_hh, h0, c0],
            // Recording the backward pass: the vector–Jacobian product of the composed form,
            // taken through its own recorded tape.
            |g, x, _| backward_composed(x, g),
            move |g, x, _| {
                let grads = activations.lstm_sequence_backward(&packed, &x[1].value(), &x[2].value(), &x[3].value(), g);
                [grads.projected, grads.weight_hh, grads.h0, grads.c0].into_iter().map(Some).collect()
            },
        )
    }
}

/// `Σ composed(x) ⊙ g` differentiated with respect to the inputs, recorded.
fn backward_composed(x: &[Var], g: &Var) -> Vec<Option<Var>> {
    let out = lstm_sequence_composed(&x[0], &x[1], &x[2], &x[3]);
    let inputs: Vec<&Var> = x.iter().collect();
    grad(&out.mul(g).sum(), &inputs, true)
}

/// The same recurrence composed from primitive ops, packed as `[T·B, 2H]`: the oracle of the
/// fused op (a slice, a product, an add and [`lstm_cell_composed`] per step).
pub fn lstm_sequence_composed(z: &Var, w_hh: &Var, h0: &Var, c0: &Var) -> Var {
    let (batch, hidden) = (h0.shape()[0], h0.shape()[1]);
    let time = z.shape()[0] / batch.max(1);
    let w_t = w_hh.t();
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let steps: Vec<Var> = (0..time)
        .map(|t| {
            let step = lstm_cell_composed(&z.narrow(0, t * batch, batch).add(&h.matmul(&w_t)), &c);
            (h, c) = (step.narrow(1, 0, hidden), step.narrow(1, hidden, hidden));
            step
        })
        .collect();
    Var::concat(&steps, 0)
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // One unit, W_hh = 0, all gate inputs 0: every step halves the cell (f = ½, i·g = 0),
        // c₀ = ½·c₋₁ = 2, c₁ = 1, and hₜ = ½·tanh(cₜ).
        let z = v(&[0.0; 8], &[2, 4]);
        let w = v(&[0.0; 4], &[4, 1]);
        let (h0, c0) = (v(&[0.0], &[1, 1]), v(&[4.0], &[1, 1]));
        let out = z.lstm_sequence(&w, &h0, &c0).value().to_vec_f64();
        let want = [0.5 * 2f64.tanh(), 2.0, 0.5 * 1f64.tanh(), 1.0];
        assert!(out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15), "{out:?}");
        // ∂c₁/∂c₋₁ = f·f = ¼.
        let g = z.lstm_sequence(&w, &h0, &c0).narrow(0, 1, 1).narrow(1, 1, 1).sum().backward();
        assert_eq!(g.get(&c0).unwrap().to_vec_f64(), vec![0.25]);
    }
}
