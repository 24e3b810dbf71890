//! Elementwise functions of one tensor: `y[i] = f(x[i])`, same shape in and out.
//!
//! Each is a plain map over the elements, split across threads for large tensors
//! (see [`crate::parallel`]). Their derivatives live in the autograd crate, one file per op.

use crate::dtype::Element;
use crate::parallel::{map, Cost};
use crate::scalar;
use crate::tensor::{dispatch, Tensor};

macro_rules! unary {
    ($(#[$doc:meta])* $name:ident, $cost:ident, $f:expr) => {
        $(#[$doc])*
        pub fn $name(&self) -> Tensor {
            dispatch!(self, a => Tensor::from_shared(map(a.view(), Cost::$cost, $f)))
        }
    };
}

macro_rules! unary_with {
    ($(#[$doc:meta])* $name:ident($param:ident), $cost:ident, |$x:ident, $p:ident| $body:expr) => {
        $(#[$doc])*
        pub fn $name(&self, $param: f64) -> Tensor {
            fn apply<E: Element>(a: &ndarray::ArcArray<E, ndarray::IxDyn>, param: f64) -> Tensor {
                let $p = E::of(param);
                Tensor::from_shared(map(a.view(), Cost::$cost, move |$x: E| $body))
            }
            dispatch!(self, a => apply(a, $param))
        }
    };
}

impl Tensor {
    unary!(
        /// `−x`
        neg, Cheap, |x| -x);
    unary!(
        /// `e^x`
        exp, Expensive, |x| x.exp());
    unary!(
        /// Natural logarithm `ln x` (NaN for negative `x`, −∞ at 0).
        ln, Expensive, |x| x.ln());
    unary!(
        /// `√x`
        sqrt, Expensive, |x| x.sqrt());
    unary!(
        /// `|x|`
        abs, Cheap, |x| x.abs());
    unary!(
        /// `x²`
        square, Cheap, |x| x * x);
    unary!(
        /// `1/x`
        recip, Cheap, |x| x.recip());
    unary!(
        /// `sin x`
        sin, Expensive, |x| x.sin());
    unary!(
        /// `cos x`
        cos, Expensive, |x| x.cos());
    unary!(
        /// `tanh x`
        tanh, Expensive, |x| x.tanh());
    unary!(
        /// The logistic sigmoid `σ(x) = 1/(1 + e^(−x))`, stable for large `|x|`.
        sigmoid, Expensive, scalar::sigmoid);
    unary!(
        /// `max(x, 0)`
        relu, Cheap, scalar::relu);
    // A closure rather than the function's name: an `#[inline(always)]` closure is inlined
    // into the map's wide-vector loop, where the erf polynomial vectorises.
    unary!(
        /// Exact GELU `x·Φ(x)` (PyTorch's and Keras' default).
        gelu, Expensive, #[allow(clippy::redundant_closure)] #[inline(always)] |x| scalar::gelu(x));
    unary!(
        /// GELU's tanh approximation (GPT-2's).
        gelu_tanh, Expensive, scalar::gelu_tanh);
    unary!(
        /// The error function `erf x`.
        erf, Expensive, Element::erf);
    unary!(
        /// `ln(1 + e^x)`, stable for large `|x|`.
        softplus, Expensive, scalar::softplus);
    unary!(
        /// −1, 0 or 1 by the sign of `x`.
        sign, Cheap, scalar::sign);

    unary_with!(
        /// `x^p` for a constant exponent `p`.
        powf(p), Expensive, |x, p| x.powf(p));
    unary_with!(
        /// `x + c` for a constant `c`.
        add_scalar(c), Cheap, |x, c| x + c);
    unary_with!(
        /// `c·x` for a constant `c`.
        mul_scalar(c), Cheap, |x, c| x * c);
    unary_with!(
        /// `x` where `x > 0`, else `slope·x`.
        leaky_relu(slope), Cheap, |x, s| if x > E::zero() { x } else { s * x });
    unary_with!(
        /// `x` where `x > 0`, else `α·(e^x − 1)`.
        elu(alpha), Expensive, |x, a| if x > E::zero() { x } else { a * x.exp_m1() });
    unary_with!(
        /// 1 where `x > c`, else 0.
        gt_scalar(c), Cheap, |x, c| scalar::indicator(x > c));
    unary_with!(
        /// 1 where `x < c`, else 0.
        lt_scalar(c), Cheap, |x, c| scalar::indicator(x < c));

    /// `x` limited to `[min, max]`.
    pub fn clamp(&self, min: f64, max: f64) -> Tensor {
        fn apply<E: Element>(a: &ndarray::ArcArray<E, ndarray::IxDyn>, lo: f64, hi: f64) -> Tensor {
            let (lo, hi) = (E::of(lo), E::of(hi));
            Tensor::from_shared(map(a.view(), Cost::Cheap, move |x: E| x.max(lo).min(hi)))
        }
        dispatch!(self, a => apply(a, min, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn golden_values() {
        let x = Tensor::from_vec(vec![-1.0f64, 0.0, 2.0], &[3]);
        assert_eq!(x.relu().to_vec_f64(), vec![0.0, 0.0, 2.0]);
        let s = x.sigmoid().to_vec_f64();
        assert!((s[0] - 0.2689414213699951).abs() < 1e-12 && s[1] == 0.5);
        let g = x.gelu().to_vec_f64();
        assert!((g[0] - -0.15865525393145707).abs() < 1e-12 && (g[2] - 1.9544997361036416).abs() < 1e-12);
        assert_eq!(x.powf(2.0).to_vec_f64(), vec![1.0, 0.0, 4.0]);
        assert_eq!(x.leaky_relu(0.1).to_vec_f64(), vec![-0.1, 0.0, 2.0]);
        assert_eq!(x.clamp(-0.5, 1.0).to_vec_f64(), vec![-0.5, 0.0, 1.0]);
    }

    #[test]
    fn sigmoid_does_not_overflow() {
        let x = Tensor::from_vec(vec![-1000.0f32, 1000.0], &[2]);
        assert_eq!(x.sigmoid().to_vec_f32(), vec![0.0, 1.0]);
        assert_eq!(Tensor::from_vec(vec![1000.0f32], &[1]).softplus().to_vec_f32(), vec![1000.0]);
    }

    #[test]
    fn parallel_path_matches_serial() {
        let n = crate::parallel::PARALLEL_THRESHOLD + 3;
        let x = Tensor::arange(0.0, n as f64, 1.0, DType::F32).mul_scalar(1e-4);
        let y = x.tanh().to_vec_f32();
        for (i, v) in y.iter().enumerate().step_by(997) {
            assert_eq!(*v, (i as f32 * 1e-4).tanh());
        }
    }
}
