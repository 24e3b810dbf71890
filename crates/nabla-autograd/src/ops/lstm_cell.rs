//! The elementwise half of an LSTM step as one op (fused; [`lstm_cell_composed`] is its
//! gradient-check oracle and the form its backward takes when second derivatives are wanted).
//!
//! From gate pre-activations `z` (`[batch, 4H]`, order `i, f, g, o`) and the old cell `c`
//! (`[batch, H]`) it returns `[h | c']` packed as `[batch, 2H]`:
//!
//! ```text
//! c' = σ(z_f)⊙c + σ(z_i)⊙tanh(z_g)        h = σ(z_o)⊙tanh(c')
//! ```
//!
//! Composed, that is a chunk, five activations and four products or sums: about a dozen ops
//! per time step, sixty-four steps per sequence in the benchmark's language model. Fused it is
//! one op; its kernels and the backward formula are in `nabla_tensor::lstm_cell`.

use crate::Var;

impl Var {
    /// `[h | c']` (`[batch, 2H]`) from gate pre-activations `self` (`[batch, 4H]`) and the old
    /// cell `c` (`[batch, H]`): `c' = σ(z_f)⊙c + σ(z_i)⊙tanh(z_g)`, `h = σ(z_o)⊙tanh(c')` (kernels and
    /// backward formula in `nabla_tensor::lstm_cell`).
    ///
    /// # Panics
    /// If the shapes do not fit.
    #[track_caller]
    pub fn lstm_cell(&self, c: &Var) -> Var {
        let out = self.value().lstm_cell_forward(&c.value());
        let activations = out.activations;
        Var::from_fused_op(
            "lstm_cell",
            out.packed,
            &[self, c],
            // Recording the backward pass: the vector–Jacobian product of the composed form,
            // written out with differentiable ops.
            |g, x, _| backward_composed(&x[0], &x[1], g),
            move |g, x, _| {
                let (dz, dc) = activations.lstm_cell_backward(&x[1].read(), g);
                vec![Some(dz), Some(dc)]
            },
        )
    }
}

/// The backward formula of `nabla_tensor::lstm_cell` in differentiable ops.
fn backward_composed(z: &Var, c: &Var, grad: &Var) -> Vec<Option<Var>> {
    let hidden = c.shape()[1];
    let [i, f, g, o]: [Var; 4] = z.chunk(4, 1).try_into().expect("four gate blocks");
    let (i, f, g, o) = (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid());
    let t = f.mul(c).add(&i.mul(&g)).tanh();
    let (h_bar, c_bar) = (grad.narrow(1, 0, hidden), grad.narrow(1, hidden, hidden));
    let one_minus_square = |v: &Var| v.square().neg().add_scalar(1.0);
    let sigmoid_slope = |v: &Var| v.mul(&v.neg().add_scalar(1.0));
    let c_hat = c_bar.add(&h_bar.mul(&o).mul(&one_minus_square(&t)));
    let dz = Var::concat(
        &[
            c_hat.mul(&g).mul(&sigmoid_slope(&i)),
            c_hat.mul(c).mul(&sigmoid_slope(&f)),
            c_hat.mul(&i).mul(&one_minus_square(&g)),
            h_bar.mul(&t).mul(&sigmoid_slope(&o)),
        ],
        1,
    );
    vec![Some(dz), Some(c_hat.mul(&f))]
}

/// The same step composed from primitive ops, packed as `[h | c']`: the oracle of the fused op.
pub fn lstm_cell_composed(z: &Var, c: &Var) -> Var {
    let [i, f, g, o]: [Var; 4] = z.chunk(4, 1).try_into().expect("four gate blocks");
    let (i, f, g, o) = (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid());
    let c_new = f.mul(c).add(&i.mul(&g));
    let h = o.mul(&c_new.tanh());
    Var::concat(&[h, c_new], 1)
}

#[cfg(test)]
mod tests {
    use crate::testing::v;

    #[test]
    fn golden() {
        // All pre-activations 0: i = f = o = ½, g = 0, so c' = ½c and h = ½·tanh(½c).
        let z = v(&[0.0; 4], &[1, 4]);
        let c = v(&[2.0], &[1, 1]);
        let out = z.lstm_cell(&c).value().to_vec_f64();
        assert!((out[0] - 0.5 * 1f64.tanh()).abs() < 1e-15 && out[1] == 1.0, "{out:?}");
        // ∂c'/∂c = f = ½.
        let g = z.lstm_cell(&c).narrow(1, 1, 1).sum().backward();
        assert_eq!(g.get(&c).unwrap().to_vec_f64(), vec![0.5]);
    }
}
