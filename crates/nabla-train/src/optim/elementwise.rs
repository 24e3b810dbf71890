//! One pass over a parameter and its state: how the optimizers fuse their updates.
//!
//! Written with tensor ops, one Adam step is about ten passes over memory (`β₁·m`, `+ (1−β₁)·g`,
//! `g²`, `√v`, …), each allocating a temporary tensor. [`zip_map`] instead reads the `k`-th
//! element of every input, hands them to a closure that states the update for *one number*, and
//! writes the `k`-th element of every output: one pass, one allocation per output, and the
//! optimizer's code reads like its formula.
//!
//! The closure computes in `f64` (exact for `f64` parameters, a little more precise than `f32`
//! arithmetic for `f32` ones); outputs are rounded to the dtype of the first input, the
//! parameter. Elements are visited in row-major order, so results are deterministic.

use nabla_tensor::{DType, Element, Tensor};

/// `f` applied to the elements of `inputs` at each position, giving `O` tensors of the shape and
/// dtype of `inputs[0]`.
///
/// # Panics
/// If the inputs' shapes differ.
#[track_caller]
pub(crate) fn zip_map<const I: usize, const O: usize>(
    inputs: [&Tensor; I],
    f: impl Fn([f64; I]) -> [f64; O],
) -> [Tensor; O] {
    match inputs[0].dtype() {
        DType::F32 => zip_map_as::<f32, I, O>(inputs, f),
        DType::F64 => zip_map_as::<f64, I, O>(inputs, f),
    }
}

#[track_caller]
fn zip_map_as<E: Element, const I: usize, const O: usize>(
    inputs: [&Tensor; I],
    f: impl Fn([f64; I]) -> [f64; O],
) -> [Tensor; O] {
    let shape = inputs[0].shape().to_vec();
    for t in &inputs {
        assert_eq!(t.shape(), shape.as_slice(), "zip_map: shapes differ");
    }
    // Row-major copies in E (cheap clones when they already are).
    let owned: [Tensor; I] = inputs.map(|t| t.to_dtype(E::DTYPE).contiguous());
    let slices: [&[E]; I] = std::array::from_fn(|i| {
        owned[i].as_array::<E>().and_then(|a| a.as_slice()).expect("converted to a row-major E array above")
    });
    let n = inputs[0].len();
    let mut outputs: [Vec<E>; O] = std::array::from_fn(|_| vec![E::zero(); n]);
    let mut out: [&mut [E]; O] = outputs.each_mut().map(|v| v.as_mut_slice());
    for k in 0..n {
        let y = f(slices.map(|s| s[k].to_f64_exact()));
        for (o, y) in out.iter_mut().zip(y) {
            o[k] = E::of(y);
        }
    }
    outputs.map(|values| Tensor::from_vec(values, &shape))
}

/// `Σ xᵢ²` over all elements, accumulated in `f64` in row-major order.
pub(crate) fn sum_of_squares(t: &Tensor) -> f64 {
    fn sum<E: Element>(t: &Tensor) -> f64 {
        t.view::<E>().iter().map(|&x| x.to_f64_exact() * x.to_f64_exact()).sum()
    }
    match t.dtype() {
        DType::F32 => sum::<f32>(t),
        DType::F64 => sum::<f64>(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_map_fuses_several_outputs_and_keeps_the_first_dtype() {
        let p = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        // A transposed f64 input: converted and read in row-major order of its logical shape.
        let g = Tensor::from_vec(vec![10.0f64, 30.0, 20.0, 40.0], &[2, 2]).t();
        let [sum, prod] = zip_map([&p, &g], |[p, g]| [p + g, p * g]);
        assert_eq!(sum.dtype(), DType::F32);
        assert_eq!(sum.shape(), &[2, 2]);
        assert_eq!(sum.to_vec_f64(), vec![11.0, 22.0, 33.0, 44.0]);
        assert_eq!(prod.to_vec_f64(), vec![10.0, 40.0, 90.0, 160.0]);
    }

    #[test]
    fn sum_of_squares_of_both_dtypes() {
        assert_eq!(sum_of_squares(&Tensor::from_vec(vec![3.0f32, 4.0], &[2])), 25.0);
        assert_eq!(sum_of_squares(&Tensor::from_vec(vec![1.0f64, -2.0, 2.0], &[3, 1])), 9.0);
        assert_eq!(sum_of_squares(&Tensor::scalar(-1.5, DType::F64)), 2.25);
    }
}
