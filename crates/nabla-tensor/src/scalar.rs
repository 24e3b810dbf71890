//! The scalar functions behind the elementwise kernels, each with its derivative in the doc
//! comment. Kernels apply them to every element; the autograd crate composes their derivatives.

use crate::dtype::Element;

/// `relu(x) = max(x, 0)`; `relu'(x) = 1 if x > 0 else 0`.
pub fn relu<E: Element>(x: E) -> E {
    if x > E::zero() {
        x
    } else {
        E::zero()
    }
}

/// `g·relu'(x) = g·[x > 0]`: the gradient `g` of ReLU's output sent back to its input `x`.
/// A product with the 0/1 indicator, so a NaN in `g` stays NaN.
pub fn relu_backward<E: Element>(g: E, x: E) -> E {
    g * indicator(x > E::zero())
}

/// `σ(x) = 1 / (1 + e^(−x))`, computed without overflow for large `|x|`; `σ'(x) = σ(x)(1 − σ(x))`.
pub fn sigmoid<E: Element>(x: E) -> E {
    if x >= E::zero() {
        E::one() / (E::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (E::one() + e)
    }
}

/// Exact GELU, `gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2))`; `gelu'(x) = Φ(x) + x·φ(x)` (`erf` by
/// [`Element::erf_vectorised`]).
#[inline(always)]
pub fn gelu<E: Element>(x: E) -> E {
    let half = E::of(0.5);
    half * x * (E::one() + (x * E::of(std::f64::consts::FRAC_1_SQRT_2)).erf_vectorised())
}

/// The tanh approximation of GELU used by GPT-2: `½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
pub fn gelu_tanh<E: Element>(x: E) -> E {
    let inner = E::of((2.0 / std::f64::consts::PI).sqrt()) * (x + E::of(0.044715) * x * x * x);
    E::of(0.5) * x * (E::one() + inner.tanh())
}

/// `softplus(x) = ln(1 + e^x)`, stable for large `|x|`; `softplus'(x) = σ(x)`.
pub fn softplus<E: Element>(x: E) -> E {
    x.max(E::zero()) + (-x.abs()).exp().ln_1p()
}

/// The sign of `x`: −1, 0 or 1 (0 for NaN-free zero).
pub fn sign<E: Element>(x: E) -> E {
    if x > E::zero() {
        E::one()
    } else if x < E::zero() {
        -E::one()
    } else {
        E::zero()
    }
}

/// `1` where `condition` holds, else `0`: how comparisons report their result.
pub fn indicator<E: Element>(condition: bool) -> E {
    if condition {
        E::one()
    } else {
        E::zero()
    }
}

/// The larger of two values, propagating NaN (unlike `f32::max`).
pub fn maximum<E: Element>(a: E, b: E) -> E {
    if a.is_nan() || a >= b {
        a
    } else {
        b
    }
}

/// The smaller of two values, propagating NaN.
pub fn minimum<E: Element>(a: E, b: E) -> E {
    if a.is_nan() || a <= b {
        a
    } else {
        b
    }
}
