//! 2-D average pooling (NCHW): each output is the mean of its window.
//!
//! `y[o] = (1/kₒ) Σ_{i ∈ window(o)} x[i]`, where `kₒ` is the window size (or, without
//! `count_include_pad`, the number of real pixels in it). So `∂y[o]/∂x[i] = 1/kₒ` inside the
//! window, and `x̄[i] = Σ_{o ∋ i} ȳ[o]/kₒ` — the adjoint map `avg_pool2d_backward`, whose own
//! backward is `avg_pool2d` again.

use nabla_tensor::{Pool2dSpec, ShapeError, Tensor};

use crate::Var;

impl Var {
    /// Average pooling of `[n, c, h, w]`; a [`ShapeError`] when the window does not fit.
    pub fn try_avg_pool2d(&self, spec: Pool2dSpec, count_include_pad: bool) -> Result<Var, ShapeError> {
        let value = self.value().try_avg_pool2d(spec, count_include_pad)?;
        Ok(Var::from_op("avg_pool2d", value, &[self], move |g, x, _| {
            vec![Some(Var::avg_pool2d_backward(g, x[0].shape(), spec, count_include_pad))]
        }))
    }

    /// [`try_avg_pool2d`](Self::try_avg_pool2d), panicking at the caller's line.
    #[track_caller]
    pub fn avg_pool2d(&self, spec: Pool2dSpec, count_include_pad: bool) -> Var {
        crate::or_panic(self.try_avg_pool2d(spec, count_include_pad))
    }

    /// The adjoint of average pooling applied to `grad_out`, giving a tensor of `input_shape`.
    #[track_caller]
    pub fn avg_pool2d_backward(
        grad_out: &Var,
        input_shape: &[usize],
        spec: Pool2dSpec,
        count_include_pad: bool,
    ) -> Var {
        let value = Tensor::avg_pool2d_backward(&grad_out.value(), input_shape, spec, count_include_pad);
        Var::from_op("avg_pool2d_backward", value, &[grad_out], move |zbar, _, _| {
            vec![Some(zbar.avg_pool2d(spec, count_include_pad))]
        })
    }

    /// Mean over the spatial axes of `[n, c, h, w]`, giving `[n, c]` (global average pooling).
    #[track_caller]
    pub fn global_avg_pool2d(&self) -> Var {
        assert_eq!(self.ndim(), 4, "global_avg_pool2d: expected [n, c, h, w], got {:?}", self.shape());
        self.mean_axes(&[2, 3], false)
    }
}

#[cfg(test)]
mod tests {
    use nabla_tensor::Pool2dSpec;

    use crate::testing::v;

    #[test]
    fn golden() {
        let x =
            v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0], &[1, 1, 4, 4]);
        let y = x.avg_pool2d(Pool2dSpec::new([2, 2]), true);
        assert_eq!(y.value().to_vec_f64(), vec![3.5, 5.5, 11.5, 13.5]);
        assert_eq!(y.sum().backward().get(&x).unwrap().to_vec_f64(), vec![0.25; 16]);
        assert_eq!(x.global_avg_pool2d().item(), 8.5);
    }
}
