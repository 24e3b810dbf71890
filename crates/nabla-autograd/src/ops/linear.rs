//! The dense layer's product as one op: `Y = X·Wᵀ + b` (fused; the composed form is
//! `x.matmul(&w.t()).add(&b)`, which is this op's gradient-check oracle).
//!
//! Composed, the layer records three ops (transpose, matmul, broadcast add) and its backward
//! builds a transposed weight gradient that the optimizer then has to copy into row-major
//! order. Fused, the forward writes the bias into the output and lets gemm add the product
//! (see `nabla_tensor::linear`), and the backward is three matrix-shaped results:
//!
//! ```text
//! X̄ = Ȳ · W        [rows, out]·[out, in] → [rows, in]
//! W̄ = Ȳᵀ · X       [out, rows]·[rows, in] → [out, in]   (row-major, like W)
//! b̄ = Σ_rows Ȳ     [out]
//! ```
//!
//! Leading axes of `X` (`[batch, time, in]`) are folded into the row axis, so one large
//! product replaces a batch of small ones. Only inputs that need a gradient get one (not the
//! data fed to a first layer). A plain `backward()` computes the three results on the tensors;
//! when the backward pass is recorded they are written with differentiable ops, so second
//! derivatives work as for the composed form.

use nabla_tensor::linear::LinearGradsWanted;
use nabla_tensor::ShapeError;

use nabla_tensor::Tensor;

use crate::Var;

impl Var {
    /// `self·Wᵀ + b` for `self` `[..., in]`, `weight` `[out, in]`, `bias` `[out]`; a
    /// [`ShapeError`] when the shapes do not fit.
    pub fn try_linear(&self, weight: &Var, bias: Option<&Var>) -> Result<Var, ShapeError> {
        // `[x, W]` or `[x, W, b]`, without a vector to grow.
        let operands = [self, weight, bias.unwrap_or(self)];
        let value = Var::read_all(operands, |[x, w, b]| x.try_linear(w, bias.and(Some(b))))?;
        let inputs = &operands[..2 + usize::from(bias.is_some())];
        Ok(Var::from_fused_op(
            "linear",
            value,
            inputs,
            |g, x, _| backward_recorded(g, x),
            |g, x, _| backward_plain(g, x),
        ))
    }

    /// [`try_linear`](Self::try_linear), panicking at the caller's line.
    #[track_caller]
    pub fn linear(&self, weight: &Var, bias: Option<&Var>) -> Var {
        crate::or_panic(self.try_linear(weight, bias))
    }
}

/// The shapes of the folded operands: `Ȳ` as `[rows, out]`, `X` as `[rows, in]`.
fn folded_shapes(x: &[Var]) -> ([usize; 2], [usize; 2]) {
    let (out_features, in_features) = (x[1].shape()[0], x[1].shape()[1]);
    let rows = x[0].shape().iter().product::<usize>() / in_features.max(1);
    ([rows, out_features], [rows, in_features])
}

/// The backward rule of a plain `backward()`: `X̄`, `W̄`, `b̄` from the fused
/// [`Tensor::linear_backward`](nabla_tensor::Tensor::linear_backward). The recorded rule below
/// composes the same products from ops, so that the gradient can be differentiated again; the
/// test `plain_and_recorded_backward_agree_and_differentiate_again` holds the two together.
fn backward_plain(g: &Tensor, x: &[Var]) -> Vec<Option<Tensor>> {
    let wanted = LinearGradsWanted {
        x: x[0].requires_grad(),
        weight: x[1].requires_grad(),
        bias: x.len() == 3 && x[2].requires_grad(),
    };
    // Read together: `x` and `W` may be the same Var (`x.linear(&x, None)`).
    let grads = Var::read_all([&x[0], &x[1]], |[x, w]| g.linear_backward(x, w, wanted));
    let mut out = Vec::with_capacity(x.len());
    out.extend([grads.x, grads.weight]);
    if x.len() == 3 {
        out.push(grads.bias);
    }
    out
}

/// The same rule with differentiable ops, for a recorded backward pass.
fn backward_recorded(g: &Var, x: &[Var]) -> Vec<Option<Var>> {
    let (g_shape, x_shape) = folded_shapes(x);
    // A `[rows, in]` input needs no folding (nor its gradient unfolding).
    let flat = x[0].ndim() == 2;
    let fold = |v: &Var, shape: &[usize]| if flat { v.clone() } else { v.reshape(shape) };
    let (g2, x2) = (fold(g, &g_shape), fold(&x[0], &x_shape));
    let x_grad = || fold(&g2.matmul(&x[1]), x[0].shape());
    let mut grads = vec![x[0].requires_grad().then(x_grad), x[1].requires_grad().then(|| g2.t().matmul(&x2))];
    if x.len() == 3 {
        grads.push(x[2].requires_grad().then(|| g2.sum_axes(&[0], false)));
    }
    grads
}

#[cfg(test)]
mod tests {
    use crate::testing::v;
    use crate::Var;

    #[test]
    fn golden() {
        let x = v(&[1.0, 2.0], &[1, 2]);
        let w = v(&[1.0, 0.0, 1.0, 1.0, 0.0, -1.0], &[3, 2]);
        let b = v(&[0.5, 0.5, 0.5], &[3]);
        let y = x.linear(&w, Some(&b));
        assert_eq!(y.value().to_vec_f64(), vec![1.5, 3.5, -1.5]);
        let g = y.sum().backward();
        // X̄ = 1·W: column sums of W; W̄ = 1ᵀ·X: every row is X; b̄ = 1.
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![2.0, 0.0]);
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
        assert!(g.get(&w).unwrap().is_contiguous());
        assert_eq!(g.get(&b).unwrap().to_vec_f64(), vec![1.0; 3]);
    }

    #[test]
    fn plain_and_recorded_backward_agree_and_differentiate_again() {
        use crate::gradcheck::{check_second_order, Tolerance};
        use nabla_tensor::{init, rng, DType};
        for x_shape in [vec![4, 3], vec![2, 2, 3], vec![3]] {
            let x = init::uniform(&x_shape, -1.0, 1.0, DType::F64, &mut rng(1));
            let w = init::uniform(&[2, 3], -1.0, 1.0, DType::F64, &mut rng(2));
            let b = init::uniform(&[2], -1.0, 1.0, DType::F64, &mut rng(3));
            let inputs: Vec<Var> = [&x, &w, &b].map(|t| Var::new(t.clone())).into();
            let loss = || inputs[0].linear(&inputs[1], Some(&inputs[2])).tanh().sum();
            let plain = loss().backward();
            let recorded = crate::grad(&loss(), &[&inputs[0], &inputs[1], &inputs[2]], true);
            for (input, g) in inputs.iter().zip(recorded) {
                assert!(plain.get(input).unwrap().allclose(&g.unwrap().value(), 1e-12, 1e-12), "{x_shape:?}");
            }
            let f = |v: &[Var]| v[0].linear(&v[1], Some(&v[2])).tanh().sum();
            check_second_order(f, &[x, w, b], Tolerance::default()).unwrap();
        }
    }
}
