//! Seeded random tensors: uniform, normal, and the Glorot (Xavier) and He (Kaiming) schemes.
//!
//! Every function takes the random generator explicitly, so the same seed gives the same
//! numbers run after run. [`Rng`] is ChaCha8, whose stream is fixed by its specification.
//!
//! Fan-in and fan-out are read from the weight shape the way PyTorch lays weights out:
//!
//! | weight | shape | fan_in | fan_out |
//! |---|---|---|---|
//! | dense | `[out, in]` | `in` | `out` |
//! | conv | `[out, in, kh, kw]` | `in·kh·kw` | `out·kh·kw` |
//!
//! ```
//! use nabla_tensor::{init, rng, DType};
//! let w = init::glorot_uniform(&[64, 784], DType::F32, &mut rng(42));
//! let again = init::glorot_uniform(&[64, 784], DType::F32, &mut rng(42));
//! assert_eq!(w.to_vec_f32(), again.to_vec_f32());
//! ```

use ndarray::IxDyn;
use ndarray_rand::rand_distr::{Normal, Uniform};
use ndarray_rand::RandomExt;
use rand::SeedableRng;

use crate::dtype::DType;
use crate::tensor::Tensor;

/// The random generator every seeded function in nabla takes.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator started from `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// Values drawn uniformly from `[low, high)`.
pub fn uniform(shape: &[usize], low: f64, high: f64, dtype: DType, rng: &mut Rng) -> Tensor {
    assert!(low < high, "uniform: low {low} must be below high {high}");
    match dtype {
        DType::F32 => Tensor::from_array(ndarray::ArrayD::random_using(
            IxDyn(shape),
            Uniform::new(low as f32, high as f32).expect("low < high"),
            rng,
        )),
        DType::F64 => Tensor::from_array(ndarray::ArrayD::random_using(
            IxDyn(shape),
            Uniform::new(low, high).expect("low < high"),
            rng,
        )),
    }
}

/// Values drawn from the normal distribution `N(mean, std²)`.
pub fn normal(shape: &[usize], mean: f64, std: f64, dtype: DType, rng: &mut Rng) -> Tensor {
    assert!(std >= 0.0 && std.is_finite(), "normal: std {std} must be finite and non-negative");
    match dtype {
        DType::F32 => Tensor::from_array(ndarray::ArrayD::random_using(
            IxDyn(shape),
            Normal::new(mean as f32, std as f32).expect("finite std"),
            rng,
        )),
        DType::F64 => Tensor::from_array(ndarray::ArrayD::random_using(
            IxDyn(shape),
            Normal::new(mean, std).expect("finite std"),
            rng,
        )),
    }
}

/// `(fan_in, fan_out)` of a weight of `shape`; see the [module docs](self).
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        _ => {
            let receptive: usize = shape[2..].iter().product();
            (shape[1] * receptive, shape[0] * receptive)
        }
    }
}

/// Glorot/Xavier uniform: `U(−a, a)` with `a = √(6 / (fan_in + fan_out))` (Keras' default).
pub fn glorot_uniform(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform(shape, -a, a, dtype, rng)
}

/// Glorot/Xavier normal: `N(0, 2 / (fan_in + fan_out))`.
pub fn glorot_normal(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    normal(shape, 0.0, (2.0 / (fan_in + fan_out) as f64).sqrt(), dtype, rng)
}

/// He/Kaiming uniform for ReLU networks: `U(−a, a)` with `a = √(6 / fan_in)`.
pub fn he_uniform(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    let (fan_in, _) = fans(shape);
    let a = (6.0 / fan_in as f64).sqrt();
    uniform(shape, -a, a, dtype, rng)
}

/// He/Kaiming normal for ReLU networks: `N(0, 2 / fan_in)`.
pub fn he_normal(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    let (fan_in, _) = fans(shape);
    normal(shape, 0.0, (2.0 / fan_in as f64).sqrt(), dtype, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_right_spread() {
        let a = he_normal(&[256, 128], DType::F64, &mut rng(7));
        let b = he_normal(&[256, 128], DType::F64, &mut rng(7));
        assert_eq!(a.to_vec_f64(), b.to_vec_f64());
        let var = a.var_axes(&[0, 1], false, 0).to_scalar();
        assert!((var - 2.0 / 128.0).abs() < 0.1 * 2.0 / 128.0, "variance {var}");
        let g = glorot_uniform(&[32, 16, 3, 3], DType::F32, &mut rng(1));
        let limit = (6.0f64 / (16.0 * 9.0 + 32.0 * 9.0)).sqrt();
        assert!(g.max_all() <= limit && g.min_all() >= -limit);
        assert_eq!(fans(&[32, 16, 3, 3]), (144, 288));
    }
}
