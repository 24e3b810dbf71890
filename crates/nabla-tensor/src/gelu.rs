//! The derivative of exact GELU as one elementwise kernel, for `nabla-autograd`'s fused `gelu`
//! op (the forward, [`Tensor::gelu`], is with the other unary kernels; the op's composed form,
//! `x·½(1 + erf(x/√2))` from primitive ops, is its oracle).
//!
//! ```text
//! gelu(x)  = x·Φ(x)                 Φ(x) = ½(1 + erf(x/√2))     the standard normal CDF
//! gelu′(x) = Φ(x) + x·φ(x)          φ(x) = e^(−x²/2)/√(2π)      its density
//! ```
//!
//! Composed, the backward is about eight elementwise passes; here it is one, split over rayon's threads from [`PARALLEL_THRESHOLD`] elements (`erf` is an
//! expensive function).

use ndarray::{ArrayD, Zip};
use rayon::prelude::*;

use crate::dtype::Element;
use crate::parallel::{CHUNK, PARALLEL_THRESHOLD};
use crate::tensor::row_major_array;
use crate::tensor::{dispatch2, Tensor};
use crate::vector_math::with_widest_vectors;

/// `Φ(x)`, the standard normal CDF.
#[inline(always)]
fn cdf<E: Element>(x: E) -> E {
    E::of(0.5) * (E::one() + (x * E::of(std::f64::consts::FRAC_1_SQRT_2)).erf_vectorised())
}

/// `φ(x)`, the standard normal density.
#[inline(always)]
fn pdf<E: Element>(x: E) -> E {
    (x * x * E::of(-0.5)).exp_vectorised()
        * E::of(0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2)
}

impl Tensor {
    /// `grad ⊙ gelu′(self)`: the backward of [`gelu`](Self::gelu) at input `self`.
    ///
    /// # Panics
    /// If the shapes or dtypes differ.
    #[track_caller]
    pub fn gelu_backward(&self, grad: &Tensor) -> Tensor {
        assert_eq!(
            self.shape(),
            grad.shape(),
            "gelu_backward: input {:?} vs gradient {:?}",
            self.shape(),
            grad.shape()
        );
        dispatch2!("gelu_backward", self, grad, x, g => {
            let rule = |x, g| g * (cdf(x) + x * pdf(x));
            let out: ArrayD<_> = match (x.as_slice(), g.as_slice()) {
                (Some(xs), Some(gs)) => {
                    let mut values = vec![Default::default(); xs.len()];
                    let run = |(o, (x, g)): (&mut [_], (&[_], &[_]))| {
                        with_widest_vectors(
                            #[inline(always)]
                            || {
                                // An index loop, which inlines here (an iterator's `fold` would not).
                                for i in 0..o.len().min(x.len()).min(g.len()) {
                                    o[i] = rule(x[i], g[i]);
                                }
                            },
                        )
                    };
                    if xs.len() >= PARALLEL_THRESHOLD {
                        values.par_chunks_mut(CHUNK).zip(xs.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK))).for_each(run);
                    } else {
                        run((&mut values[..], (xs, gs)));
                    }
                    row_major_array(values, x.shape())
                }
                _ => Zip::from(x).and(g).map_collect(|&x, &g| rule(x, g)),
            };
            Tensor::from_array(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn derivative_matches_finite_differences() {
        let xs: Vec<f64> = (-30..=30).map(|i| i as f64 * 0.2).collect();
        let x = Tensor::from_vec(xs.clone(), &[xs.len()]);
        let d = x.gelu_backward(&Tensor::ones(&[xs.len()], DType::F64)).to_vec_f64();
        let h = 1e-6;
        for (i, &v) in xs.iter().enumerate() {
            let f = |v: f64| Tensor::from_vec(vec![v], &[1]).gelu().to_scalar();
            let numeric = (f(v + h) - f(v - h)) / (2.0 * h);
            assert!((d[i] - numeric).abs() < 1e-8, "at {v}: {} vs {numeric}", d[i]);
        }
    }
}
