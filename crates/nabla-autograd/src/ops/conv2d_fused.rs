//! A convolution layer's forward pass as one op: `y = relu(conv2d(x, w) + b)`, with the bias
//! and the ReLU each optional (see [`Tensor::conv2d_fused`] for the kernel).
//!
//! The backward rule is the chain rule through the three steps, last step first:
//!
//! ```text
//! z̄ = ȳ ⊙ [y > 0]                      through the ReLU (y > 0 exactly where z > 0); z̄ = ȳ without it
//! b̄ = Σ_{n, i, j} z̄[n, ·, i, j]        the bias reaches every pixel of its channel
//! x̄ = conv2d_backward_input(z̄, w)      as for conv2d (see its module)
//! w̄ = conv2d_backward_weight(x, z̄)
//! ```
//!
//! The composed form `x.conv2d(&w, spec).add(&b.reshape(&[c_out, 1, 1])).relu()` records three
//! ops and keeps two full-size intermediates alive for the backward pass; this op records one
//! and keeps only its output. The tests hold the two forms together, gradients included.

use nabla_tensor::{Conv2dSpec, ShapeError, Tensor};

use crate::Var;

impl Var {
    /// `relu(conv2d(self, weight) + bias)` as one op; a [`ShapeError`] naming the shapes when
    /// they do not fit.
    ///
    /// | operand | shape |
    /// |---|---|
    /// | `self` (`x`) | `[n, c_in, h, w]` |
    /// | `weight` | `[c_out, c_in/groups, kh, kw]` |
    /// | `bias` (optional) | `[c_out]` |
    /// | result | `[n, c_out, oh, ow]` |
    ///
    /// ```
    /// use nabla_autograd::Var;
    /// use nabla_tensor::{Conv2dSpec, Tensor};
    /// let x = Var::constant(Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]));
    /// let w = Var::new(Tensor::from_vec(vec![1.0f32, 0.0, 0.0, -1.0], &[1, 1, 2, 2])); // x[i,j] − x[i+1,j+1]
    /// let b = Var::new(Tensor::from_vec(vec![1.0f32], &[1]));
    /// let y = x.conv2d_fused(&w, Some(&b), true, Conv2dSpec::default());
    /// assert_eq!(y.value().to_vec_f32(), vec![0.0; 4]); // −4 + 1 < 0 at every pixel
    /// let grads = y.sum().backward();
    /// assert_eq!(grads.get(&b).unwrap().to_vec_f32(), vec![0.0]); // the ReLU blocks every pixel
    /// ```
    pub fn try_conv2d_fused(
        &self,
        weight: &Var,
        bias: Option<&Var>,
        relu: bool,
        spec: Conv2dSpec,
    ) -> Result<Var, ShapeError> {
        let value = self.value().try_conv2d_fused(&weight.value(), bias.map(Var::value).as_ref(), relu, spec)?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Ok(Var::from_fused_op(
            "conv2d_fused",
            value,
            &inputs,
            move |g, x, y| {
                // The mask is a constant, as in ReLU's own recorded rule.
                let z_grad = if relu { g.mul(&Var::fixed(y.read().gt_scalar(0.0))) } else { g.clone() };
                let mut grads = vec![
                    x[0].requires_grad().then(|| Var::conv2d_backward_input(&z_grad, &x[1], x[0].shape(), spec)),
                    x[1].requires_grad().then(|| Var::conv2d_backward_weight(&x[0], &z_grad, x[1].shape(), spec)),
                ];
                if x.len() == 3 {
                    grads.push(x[2].requires_grad().then(|| z_grad.sum_axes(&[0, 2, 3], false)));
                }
                grads
            },
            move |g, x, y| {
                let z_grad = if relu { g.relu_backward(&y.read()) } else { g.clone() };
                let mut grads = vec![
                    x[0].requires_grad()
                        .then(|| Tensor::conv2d_backward_input(&z_grad, &x[1].read(), x[0].shape(), spec)),
                    x[1].requires_grad()
                        .then(|| Tensor::conv2d_backward_weight(&x[0].read(), &z_grad, x[1].shape(), spec)),
                ];
                if x.len() == 3 {
                    grads.push(x[2].requires_grad().then(|| z_grad.sum_axes(&[0, 2, 3], false)));
                }
                grads
            },
        ))
    }

    /// [`try_conv2d_fused`](Self::try_conv2d_fused), panicking at the caller's line.
    #[track_caller]
    pub fn conv2d_fused(&self, weight: &Var, bias: Option<&Var>, relu: bool, spec: Conv2dSpec) -> Var {
        crate::or_panic(self.try_conv2d_fused(weight, bias, relu, spec))
    }
}

/// The same layer composed from primitive ops (convolution, broadcast add, ReLU): the oracle of
/// the fused op's tests.
pub fn conv2d_fused_composed(x: &Var, weight: &Var, bias: Option<&Var>, relu: bool, spec: Conv2dSpec) -> Var {
    let mut y = x.conv2d(weight, spec);
    if let Some(b) = bias {
        y = y.add(&b.reshape(&[weight.shape()[0], 1, 1]));
    }
    if relu {
        y = y.relu();
    }
    y
}

#[cfg(test)]
mod tests {
    use nabla_tensor::{init, rng, Conv2dSpec, DType};

    use super::conv2d_fused_composed as composed;
    use crate::Var;

    #[test]
    fn gradients_equal_the_composed_ops_in_both_modes() {
        let spec = Conv2dSpec { stride: [2, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
        let x = Var::new(init::uniform(&[2, 3, 6, 5], -1.0, 1.0, DType::F64, &mut rng(1)));
        let w = Var::new(init::uniform(&[4, 3, 3, 3], -1.0, 1.0, DType::F64, &mut rng(2)));
        let b = Var::new(init::uniform(&[4], -0.5, 0.5, DType::F64, &mut rng(3)));
        for (bias, relu) in [(None, false), (Some(&b), false), (None, true), (Some(&b), true)] {
            let loss = |y: Var| y.square().sum();
            let fused = x.conv2d_fused(&w, bias, relu, spec);
            let oracle = composed(&x, &w, bias, relu, spec);
            assert!(fused.value().allclose(&oracle.value(), 1e-12, 1e-12));
            let inputs: Vec<&Var> = [Some(&x), Some(&w), bias].into_iter().flatten().collect();
            let plain = loss(fused.clone()).backward();
            let recorded = crate::grad(&loss(fused), &inputs, true);
            let expected = loss(oracle).backward();
            for (input, recorded) in inputs.iter().zip(recorded) {
                let want = expected.get(input).unwrap();
                assert!(plain.get(input).unwrap().allclose(want, 1e-12, 1e-12), "plain {bias:?} {relu}");
                assert!(recorded.unwrap().value().allclose(want, 1e-12, 1e-12), "recorded {bias:?} {relu}");
            }
        }
    }

    #[test]
    fn an_input_that_needs_no_gradient_gets_none() {
        let x = Var::constant(init::uniform(&[1, 1, 4, 4], -1.0, 1.0, DType::F64, &mut rng(1)));
        let w = Var::new(init::uniform(&[2, 1, 3, 3], -1.0, 1.0, DType::F64, &mut rng(2)));
        let b = Var::new(init::uniform(&[2], -1.0, 1.0, DType::F64, &mut rng(3)));
        let g = x.conv2d_fused(&w, Some(&b), true, Conv2dSpec::default()).sum().backward();
        assert!(g.get(&x).is_none() && g.get(&w).is_some() && g.get(&b).is_some());
    }
}
