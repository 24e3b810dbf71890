//! 2-D convolution (NCHW) and its two backward maps, three ops that differentiate into each other.
//!
//! `y = conv2d(x, w)` is linear in `x` and in `w`. Its vector–Jacobian products are the adjoint
//! maps the tensor crate provides:
//!
//! ```text
//! x̄ = conv2d_backward_input(ȳ, w)     ⟨conv2d(x, w), ȳ⟩ = ⟨x, conv2d_backward_input(ȳ, w)⟩
//! w̄ = conv2d_backward_weight(x, ȳ)    ⟨conv2d(x, w), ȳ⟩ = ⟨w, conv2d_backward_weight(x, ȳ)⟩
//! ```
//!
//! Both maps are bilinear too, and the same identities, read the other way, give *their*
//! backward rules in terms of `conv2d` and each other — so gradients of gradients work:
//!
//! | op `z = …` | gradient of its first argument | of its second argument |
//! |---|---|---|
//! | `conv2d(x, w)` | `backward_input(z̄, w)` | `backward_weight(x, z̄)` |
//! | `backward_input(g, w)` | `conv2d(z̄, w)` | `backward_weight(z̄, g)` |
//! | `backward_weight(x, g)` | `backward_input(g, z̄)` | `conv2d(x, z̄)` |
//!
//! There is no bias here: the `Conv2d` layer adds its bias (and its optional ReLU) through
//! `conv2d_fused` (its own file), whose oracle is this op followed by a broadcast add
//! (`y.add(&b.reshape(&[c_out, 1, 1]))`) and `relu`.

use nabla_tensor::{Conv2dSpec, ShapeError, Tensor};

use crate::Var;

impl Var {
    /// Convolution of `self` (`[n, c_in, h, w]`) with `weight` (`[c_out, c_in/groups, kh, kw]`);
    /// a [`ShapeError`] naming both shapes when they do not fit.
    pub fn try_conv2d(&self, weight: &Var, spec: Conv2dSpec) -> Result<Var, ShapeError> {
        let value = self.value().try_conv2d(&weight.value(), spec)?;
        Ok(Var::from_op("conv2d", value, &[self, weight], move |g, x, _| {
            // A network's first convolution reads data that needs no gradient: skip its product.
            vec![
                x[0].requires_grad().then(|| Var::conv2d_backward_input(g, &x[1], x[0].shape(), spec)),
                x[1].requires_grad().then(|| Var::conv2d_backward_weight(&x[0], g, x[1].shape(), spec)),
            ]
        }))
    }

    /// [`try_conv2d`](Self::try_conv2d), panicking at the caller's line.
    #[track_caller]
    pub fn conv2d(&self, weight: &Var, spec: Conv2dSpec) -> Var {
        crate::or_panic(self.try_conv2d(weight, spec))
    }

    /// The adjoint of `x ↦ conv2d(x, weight)` applied to `grad_out`, giving a tensor of `input_shape`.
    #[track_caller]
    pub fn conv2d_backward_input(grad_out: &Var, weight: &Var, input_shape: &[usize], spec: Conv2dSpec) -> Var {
        let value = Tensor::conv2d_backward_input(&grad_out.value(), &weight.value(), input_shape, spec);
        Var::from_op("conv2d_backward_input", value, &[grad_out, weight], move |zbar, x, _| {
            vec![Some(zbar.conv2d(&x[1], spec)), Some(Var::conv2d_backward_weight(zbar, &x[0], x[1].shape(), spec))]
        })
    }

    /// The adjoint of `w ↦ conv2d(input, w)` applied to `grad_out`, giving a tensor of `weight_shape`.
    #[track_caller]
    pub fn conv2d_backward_weight(input: &Var, grad_out: &Var, weight_shape: &[usize], spec: Conv2dSpec) -> Var {
        let value = Tensor::conv2d_backward_weight(&input.value(), &grad_out.value(), weight_shape, spec);
        Var::from_op("conv2d_backward_weight", value, &[input, grad_out], move |zbar, x, _| {
            vec![Some(Var::conv2d_backward_input(&x[1], zbar, x[0].shape(), spec)), Some(x[0].conv2d(zbar, spec))]
        })
    }
}

#[cfg(test)]
mod tests {
    use nabla_tensor::Conv2dSpec;

    use crate::testing::v;

    #[test]
    fn golden() {
        // One 3×3 image, one 2×2 kernel of ones: each output sums a 2×2 window.
        let x = v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1, 1, 3, 3]);
        let w = v(&[1.0, 1.0, 1.0, 1.0], &[1, 1, 2, 2]);
        let y = x.conv2d(&w, Conv2dSpec::default());
        assert_eq!(y.value().to_vec_f64(), vec![12.0, 16.0, 24.0, 28.0]);
        let g = y.sum().backward();
        // Each input pixel counts how many windows cover it; the kernel gradient sums each window position.
        assert_eq!(g.get(&x).unwrap().to_vec_f64(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
        assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![12.0, 16.0, 24.0, 28.0]);
    }
}
