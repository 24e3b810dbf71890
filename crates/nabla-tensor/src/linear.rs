//! The dense-layer product `Y = X·Wᵀ + b` as one kernel: the bias is written into the output
//! first and gemm adds the product on top, so there is no separate broadcast add and no
//! temporary.
//!
//! | operand | shape |
//! |---|---|
//! | `x` | `[..., in]` (leading axes are folded into one row axis) |
//! | `weight` `W` | `[out, in]` (PyTorch's layout; `Wᵀ` is read in place, never copied) |
//! | `bias` `b` | `[out]`, optional |
//! | result | `[..., out]` |
//!
//! `Y[r, j] = b[j] + Σ_p X[r, p]·W[j, p]`. The composed form `x.matmul(&w.t()).add(&b)` gives
//! the same numbers and is the oracle of this kernel's tests.
//!
//! ```
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2]);
//! let w = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, -1.0], &[3, 2]);
//! let b = Tensor::from_vec(vec![0.5f32, 0.5, 0.5], &[3]);
//! assert_eq!(x.linear(&w, Some(&b)).to_vec_f32(), vec![1.5, 3.5, -1.5]);
//! ```

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::tensor::{dispatch2, Tensor};

impl Tensor {
    /// `x·Wᵀ + b`; see the [module docs](self). A [`ShapeError`] when `x`'s last axis is not
    /// `W`'s second or `b` is not `[out]`.
    pub fn try_linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor, ShapeError> {
        let (x_shape, w_shape) = (self.shape(), weight.shape());
        let fits = !x_shape.is_empty() && w_shape.len() == 2 && x_shape[x_shape.len() - 1] == w_shape[1];
        if !fits {
            return Err(ShapeError::new(
                "linear",
                &[x_shape, w_shape],
                None,
                format!("expected x [..., in] and weight [out, in], got {x_shape:?} and {w_shape:?}"),
            ));
        }
        let (out_features, in_features) = (w_shape[0], w_shape[1]);
        if let Some(b) = bias {
            if b.shape() != [out_features] {
                return Err(ShapeError::new(
                    "linear",
                    &[x_shape, w_shape, b.shape()],
                    None,
                    format!("the bias must have shape [{out_features}], got {:?}", b.shape()),
                ));
            }
        }
        let rows = self.len() / in_features.max(1);
        let x = self.contiguous();
        let mut out_shape = x_shape[..x_shape.len() - 1].to_vec();
        out_shape.push(out_features);
        let bias = bias.map(|b| b.to_dtype(self.dtype()));
        let y = dispatch2!("linear", x, weight, xa, wa => {
            let b = bias.as_ref().map(|b| b.as_array().expect("converted to x's dtype").clone());
            Tensor::from_array(linear_kernel(xa, wa, b.as_ref(), rows, &out_shape))
        });
        Ok(y)
    }

    /// [`try_linear`](Self::try_linear), panicking at the caller's line.
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        or_panic(self.try_linear(weight, bias))
    }
}

fn linear_kernel<E: Element>(
    x: &ArcArray<E, IxDyn>,
    w: &ArcArray<E, IxDyn>,
    b: Option<&ArcArray<E, IxDyn>>,
    rows: usize,
    out_shape: &[usize],
) -> ArrayD<E> {
    let (out_features, in_features) = (w.shape()[0], w.shape()[1]);
    // Every row starts as the bias (zeros without one); gemm adds the product on top.
    let mut out = match b {
        Some(b) => b.as_standard_layout().as_slice().expect("row-major").repeat(rows),
        None => vec![E::zero(); rows * out_features],
    };
    let x2 = x.view().into_shape_with_order((rows, in_features)).expect("x is row-major");
    let w2 = w.view().into_dimensionality::<ndarray::Ix2>().expect("weight is 2-D");
    crate::matmul::gemm_accumulate(x2, w2.reversed_axes(), &mut out);
    ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("rows × out elements")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init, rng, DType};

    #[test]
    fn equals_the_composed_form() {
        for (x_shape, bias) in [(vec![5, 3], true), (vec![2, 4, 3], true), (vec![3], false), (vec![0, 3], true)] {
            let x = init::uniform(&x_shape, -1.0, 1.0, DType::F64, &mut rng(1));
            let w = init::uniform(&[4, 3], -1.0, 1.0, DType::F64, &mut rng(2));
            let b = init::uniform(&[4], -1.0, 1.0, DType::F64, &mut rng(3));
            let fused = x.linear(&w, bias.then_some(&b));
            let mut composed = x.matmul(&w.t());
            if bias {
                composed = composed.add(&b);
            }
            assert_eq!(fused.shape(), composed.shape());
            assert!(fused.allclose(&composed, 1e-12, 1e-12), "{x_shape:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_op_and_shapes() {
        let x = Tensor::zeros(&[2, 3], DType::F32);
        let err = x.try_linear(&Tensor::zeros(&[4, 2], DType::F32), None).unwrap_err();
        assert!(err.to_string().contains("linear") && err.to_string().contains("[4, 2]"), "{err}");
        let err =
            x.try_linear(&Tensor::zeros(&[4, 3], DType::F32), Some(&Tensor::zeros(&[3], DType::F32))).unwrap_err();
        assert!(err.to_string().contains("bias must have shape [4]"), "{err}");
    }
}
