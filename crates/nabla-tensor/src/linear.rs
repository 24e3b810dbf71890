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
//! the same numbers and is the oracle of this kernel's tests. `W` may also be any strided view
//! (the `Linear` layer passes a transposed view of a row-major `Wᵀ` copy in inference), and
//! [`Tensor::linear_backward`] computes all three gradients in one call.
//!
//! ```
//! use nabla_tensor::Tensor;
//! let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2]);
//! let w = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, -1.0], &[3, 2]);
//! let b = Tensor::from_vec(vec![0.5f32, 0.5, 0.5], &[3]);
//! assert_eq!(x.linear(&w, Some(&b)).to_vec_f32(), vec![1.5, 3.5, -1.5]);
//! ```

use ndarray::{ArcArray, ArrayView2, IxDyn};

use crate::dtype::Element;
use crate::error::{or_panic, ShapeError};
use crate::matmul::product_2d;
use crate::reduce::column_sums;
use crate::tensor::{dispatch2, Tensor};
use crate::tensor::{row_major_array, row_major_elements};

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
        let out_features = w_shape[0];
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
        // The leading axes folded into one (not `len / in`, which is 0 when `in` is).
        let rows: usize = x_shape[..x_shape.len() - 1].iter().product();
        let mut out_shape = Vec::with_capacity(x_shape.len());
        out_shape.extend_from_slice(&x_shape[..x_shape.len() - 1]);
        out_shape.push(out_features);
        let converted_bias = bias.filter(|b| b.dtype() != self.dtype()).map(|b| b.to_dtype(self.dtype()));
        let bias = converted_bias.as_ref().or(bias);
        let y = dispatch2!("linear", self, weight, xa, wa => {
            let b = bias.map(|b| b.as_array().expect("converted to x's dtype"));
            Tensor::from_shared(linear_kernel(xa, wa, b, rows, &out_shape))
        });
        Ok(y)
    }

    /// [`try_linear`](Self::try_linear), panicking at the caller's line.
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        or_panic(self.try_linear(weight, bias))
    }
}

/// Which gradients [`Tensor::linear_backward`] computes, and returns: each is skipped (and
/// `None`) when not wanted, as autograd asks only for those of inputs that need one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearGradsWanted {
    /// `∂L/∂x`, shaped like `x`.
    pub x: bool,
    /// `∂L/∂W`, `[out, in]`.
    pub weight: bool,
    /// `∂L/∂b`, `[out]`.
    pub bias: bool,
}

/// The gradients of `Y = X·Wᵀ + b` from [`Tensor::linear_backward`], in the order of its
/// operands.
#[derive(Clone, Debug)]
pub struct LinearGrads {
    /// `∂L/∂x = ∂L/∂Y · W`, shaped like `x`.
    pub x: Option<Tensor>,
    /// `∂L/∂W = (∂L/∂Y)ᵀ · X`, `[out, in]`.
    pub weight: Option<Tensor>,
    /// `∂L/∂b = Σ_rows ∂L/∂Y`, `[out]`.
    pub bias: Option<Tensor>,
}

impl Tensor {
    /// The backward pass of [`linear`](Self::linear), fused: `self` is `Ḡ = ∂L/∂Y`
    /// `[..., out]`, and with the leading axes folded into rows (`Ḡ [rows, out]`,
    /// `X [rows, in]`):
    ///
    /// | gradient | formula | shape |
    /// |---|---|---|
    /// | `x̄` | `Ḡ·W` | `x`'s |
    /// | `W̄` | `Ḡᵀ·X` | `[out, in]` |
    /// | `b̄` | column sums of `Ḡ` | `[out]` |
    ///
    /// Two gemm calls and one sum, straight on the buffers: the composed form
    /// (`g.matmul(&w)`, `g.t().matmul(&x)`, `g.sum_axes(&[0], false)`, with the reshapes
    /// around them) gives the same numbers and is this kernel's oracle; what the fused form
    /// saves is the per-op bookkeeping, which is most of the cost on small layers.
    ///
    /// ```
    /// use nabla_tensor::linear::LinearGradsWanted;
    /// use nabla_tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2]);
    /// let w = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, -1.0], &[3, 2]);
    /// let g = Tensor::from_vec(vec![1.0f32, 1.0, 1.0], &[1, 3]);
    /// let all = LinearGradsWanted { x: true, weight: true, bias: true };
    /// let grads = g.linear_backward(&x, &w, all);
    /// assert_eq!(grads.x.unwrap().to_vec_f32(), vec![2.0, 0.0]); // column sums of W
    /// assert_eq!(grads.weight.unwrap().to_vec_f32(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// assert_eq!(grads.bias.unwrap().to_vec_f32(), vec![1.0; 3]);
    /// ```
    ///
    /// # Panics
    /// If the shapes are not those of a `linear` call and its output gradient, or the dtypes
    /// differ; the message names the op and the shapes.
    #[track_caller]
    pub fn linear_backward(&self, x: &Tensor, weight: &Tensor, wanted: LinearGradsWanted) -> LinearGrads {
        let (g_shape, x_shape, w_shape) = (self.shape(), x.shape(), weight.shape());
        let fits = w_shape.len() == 2
            && !x_shape.is_empty()
            && x_shape.len() == g_shape.len()
            && x_shape[..x_shape.len() - 1] == g_shape[..g_shape.len() - 1]
            && x_shape[x_shape.len() - 1] == w_shape[1]
            && g_shape[g_shape.len() - 1] == w_shape[0];
        assert!(
            fits,
            "linear_backward: expected grad [..., out], x [..., in] and weight [out, in], got {g_shape:?}, \
             {x_shape:?} and {w_shape:?}"
        );
        let (out_features, in_features) = (w_shape[0], w_shape[1]);
        // The leading axes folded into one (not `len / in`, which is 0 when `in` is).
        let rows: usize = x_shape[..x_shape.len() - 1].iter().product();
        let dtypes_agree = x.dtype() == self.dtype() && weight.dtype() == self.dtype();
        assert!(
            dtypes_agree,
            "linear_backward: dtype mismatch: grad {}, x {}, weight {}",
            self.dtype(),
            x.dtype(),
            weight.dtype()
        );
        dispatch2!("linear_backward", self, x, ga, xa => {
            let wa = weight.as_array().expect("dtypes checked above");
            linear_backward_kernel(ga, xa, wa, [rows, in_features, out_features], x_shape, wanted)
        })
    }
}

/// [`Tensor::linear_backward`] on arrays of one element type.
fn linear_backward_kernel<E: Element>(
    g: &ArcArray<E, IxDyn>,
    x: &ArcArray<E, IxDyn>,
    w: &ArcArray<E, IxDyn>,
    [rows, in_features, out_features]: [usize; 3],
    x_shape: &[usize],
    wanted: LinearGradsWanted,
) -> LinearGrads {
    // `g` and `x` folded to matrices (copied only if they are not row-major).
    let (g, x) = (row_major_elements(g), row_major_elements(x));
    let g2 = ArrayView2::from_shape((rows, out_features), &g).expect("g has rows × out elements");
    let x2 = ArrayView2::from_shape((rows, in_features), &x).expect("x has rows × in elements");
    let w2 = w.view().into_dimensionality::<ndarray::Ix2>().expect("weight is 2-D");
    let as_tensor = |values: Vec<E>, shape: &[usize]| Tensor::from_shared(row_major_array(values, shape));
    LinearGrads {
        x: wanted.x.then(|| as_tensor(product_2d(g2.view(), w2.view()), x_shape)),
        weight: wanted.weight.then(|| as_tensor(product_2d(g2.t(), x2.view()), &[out_features, in_features])),
        bias: wanted.bias.then(|| as_tensor(column_sums(&g, out_features), &[out_features])),
    }
}

fn linear_kernel<E: Element>(
    x: &ArcArray<E, IxDyn>,
    w: &ArcArray<E, IxDyn>,
    b: Option<&ArcArray<E, IxDyn>>,
    rows: usize,
    out_shape: &[usize],
) -> ArcArray<E, IxDyn> {
    let (out_features, in_features) = (w.shape()[0], w.shape()[1]);
    // Every row starts as the bias (zeros without one); gemm adds the product on top.
    let mut out = match b {
        // Row by row: `[T]::repeat` doubles its copies through `memcpy` calls, which cost more
        // than the copying on a tiny network's 16-wide rows.
        Some(b) => {
            let b = row_major_elements(b);
            let mut out = Vec::with_capacity(rows * out_features);
            (0..rows).for_each(|_| out.extend_from_slice(&b));
            out
        }
        None => vec![E::zero(); rows * out_features],
    };
    let x = row_major_elements(x);
    let x2 = ArrayView2::from_shape((rows, in_features), &x).expect("x has rows × in elements");
    let w2 = w.view().into_dimensionality::<ndarray::Ix2>().expect("weight is 2-D");
    crate::matmul::gemm_accumulate(x2, w2.reversed_axes(), &mut out);
    row_major_array(out, out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init, rng, DType};

    #[test]
    fn no_input_features_give_the_bias_rows() {
        let b = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], &[3]);
        let y = Tensor::zeros(&[2, 0], DType::F32).linear(&Tensor::zeros(&[3, 0], DType::F32), Some(&b));
        assert_eq!((y.shape(), y.to_vec_f32()), (&[2, 3][..], vec![1.0, -2.0, 3.0, 1.0, -2.0, 3.0]));
    }

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

    /// The composed gradients of `Y = X·Wᵀ + b` for `Ḡ = g`: `[x̄, W̄, b̄]`.
    fn composed_backward(g: &Tensor, x: &Tensor, w: &Tensor) -> [Tensor; 3] {
        let (out, inp) = (w.shape()[0], w.shape()[1]);
        let rows: usize = x.shape()[..x.ndim() - 1].iter().product();
        let (g2, x2) = (g.reshape(&[rows, out]), x.reshape(&[rows, inp]));
        [g2.matmul(w).reshape(x.shape()), g2.t().matmul(&x2), g2.sum_axes(&[0], false)]
    }

    #[test]
    fn fused_backward_equals_the_composed_form() {
        let all = LinearGradsWanted { x: true, weight: true, bias: true };
        // Rank 1, 2 and 3 inputs, no rows, no input features, and one product large enough to
        // be split across threads; each in f64 and f32.
        let cases =
            [(vec![3], 4), (vec![5, 3], 4), (vec![2, 4, 3], 4), (vec![0, 3], 4), (vec![300, 70], 90), (vec![2, 0], 3)];
        // Two threads even on a one-core machine, so the large case's products are split.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| check_fused_backward(&cases, all));
    }

    fn check_fused_backward(cases: &[(Vec<usize>, usize)], all: LinearGradsWanted) {
        for dtype in [DType::F64, DType::F32] {
            for (seed, (x_shape, out)) in cases.iter().enumerate() {
                let seed = seed as u64;
                let inp = x_shape[x_shape.len() - 1];
                let mut g_shape = x_shape.clone();
                *g_shape.last_mut().unwrap() = *out;
                let x = init::uniform(x_shape, -1.0, 1.0, dtype, &mut rng(seed));
                let w = init::uniform(&[*out, inp], -1.0, 1.0, dtype, &mut rng(seed + 10));
                let g = init::uniform(&g_shape, -1.0, 1.0, dtype, &mut rng(seed + 20));
                let grads = g.linear_backward(&x, &w, all);
                let fused = [grads.x.unwrap(), grads.weight.unwrap(), grads.bias.unwrap()];
                let tol = if dtype == DType::F64 { 1e-12 } else { 1e-4 };
                for (name, (f, c)) in
                    ["x", "weight", "bias"].iter().zip(fused.iter().zip(composed_backward(&g, &x, &w)))
                {
                    assert_eq!(f.shape(), c.shape(), "{name} {x_shape:?}");
                    assert!(f.allclose(&c, tol, tol), "{name} {x_shape:?} {dtype}");
                }
            }
        }
    }

    #[test]
    fn fused_backward_reads_strided_operands_and_skips_unwanted_gradients() {
        // x, g and W as transposed views of row-major buffers.
        let x = init::uniform(&[3, 5], -1.0, 1.0, DType::F64, &mut rng(1)).t();
        let w = init::uniform(&[3, 4], -1.0, 1.0, DType::F64, &mut rng(2)).t();
        let g = init::uniform(&[4, 5], -1.0, 1.0, DType::F64, &mut rng(3)).t();
        assert!(!x.is_contiguous() && !w.is_contiguous() && !g.is_contiguous());
        let all = LinearGradsWanted { x: true, weight: true, bias: true };
        let grads = g.linear_backward(&x, &w, all);
        let composed = composed_backward(&g.contiguous(), &x.contiguous(), &w.contiguous());
        let fused = [grads.x.unwrap(), grads.weight.unwrap(), grads.bias.unwrap()];
        for (f, c) in fused.iter().zip(&composed) {
            assert!(f.allclose(c, 1e-12, 1e-12));
        }
        let only_weight = LinearGradsWanted { x: false, weight: true, bias: false };
        let grads = g.linear_backward(&x, &w, only_weight);
        assert!(grads.x.is_none() && grads.bias.is_none());
        assert!(grads.weight.unwrap().allclose(&composed[1], 1e-12, 1e-12));
    }

    #[test]
    #[should_panic(
        expected = "linear_backward: expected grad [..., out], x [..., in] and weight [out, in], got [2, 5]"
    )]
    fn fused_backward_names_mismatched_shapes() {
        let all = LinearGradsWanted { x: true, weight: true, bias: true };
        Tensor::zeros(&[2, 5], DType::F32).linear_backward(
            &Tensor::zeros(&[2, 3], DType::F32),
            &Tensor::zeros(&[4, 3], DType::F32),
            all,
        );
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
