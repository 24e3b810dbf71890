//! Small synthetic data sets, generated from a seed: the classic toy problems of a first course.
//!
//! | function | inputs | targets | what it teaches |
//! |---|---|---|---|
//! | [`xor`] | `[n, 2]` points near the corners of the unit square | class `x₁ XOR x₂` | a linear model cannot separate it; one hidden layer can |
//! | [`spirals`] | `[n, 2]` points on two interleaved spirals | class 0 / 1 | deep, non-linear decision boundaries |
//! | [`moons`] | `[n, 2]` points on two interleaving half circles | class 0 / 1 | a gentle non-linear boundary |
//! | [`sine`] | `[n, 1]` `x` uniform in `[−π, π]` | `[n, 1]` `sin x + noise` | regression, function fitting |
//!
//! The classes alternate (`i % 2` or the corner `i % 4`), so every prefix is balanced.
//! `noise` is the standard deviation of the Gaussian noise added to each coordinate (or to
//! the target for [`sine`]). The same `(n, noise, seed)` gives the same set on every machine.
//!
//! ```
//! use nabla_data::{synthetic, Dataset};
//! let data = synthetic::spirals(200, 0.05, 0);
//! assert_eq!(data.inputs().shape(), &[200, 2]);
//! assert_eq!(data.get_batch(&[0, 1]).labels(), &[0, 1]);
//! ```

use std::f64::consts::PI;

use nabla_tensor::{Rng, Tensor};
use rand::Rng as _;

use crate::dataset::TensorDataset;
use crate::seed::derived_rng;

/// The purpose tag of the synthetic generators' seeds.
const SYNTHETIC: u64 = 0x5359_4e54; // "SYNT"

/// One draw from the standard normal distribution (Box–Muller: `√(−2 ln u₁) · cos 2πu₂`).
fn gaussian(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

fn check_noise(name: &str, noise: f64) {
    assert!(noise >= 0.0 && noise.is_finite(), "synthetic::{name}: noise {noise} must be finite and ≥ 0");
}

/// Builds a 2-D classification set from `point(i, rng) -> (x, y, class)`.
fn points(n: usize, seed: u64, tag: u64, mut point: impl FnMut(usize, &mut Rng) -> (f64, f64, usize)) -> TensorDataset {
    let mut rng = derived_rng(seed, &[SYNTHETIC, tag]);
    let mut xy = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y, class) = point(i, &mut rng);
        xy.extend([x as f32, y as f32]);
        labels.push(class);
    }
    TensorDataset::classification(Tensor::from_vec(xy, &[n, 2]), labels)
}

/// XOR: sample `i` sits at corner `(a, b) = (i mod 2, ⌊i/2⌋ mod 2)` of the unit square plus
/// Gaussian noise; its class is `a XOR b`.
#[track_caller]
pub fn xor(n: usize, noise: f64, seed: u64) -> TensorDataset {
    check_noise("xor", noise);
    points(n, seed, 1, |i, rng| {
        let (a, b) = (i % 2, (i / 2) % 2);
        (a as f64 + noise * gaussian(rng), b as f64 + noise * gaussian(rng), a ^ b)
    })
}

/// Two spirals, each 1.5 turns long, one rotated half a turn from the other: for class `k`
/// and `t = √u` (`u` uniform in `[0, 1)`), the point `t · (cos θ, sin θ)` with `θ = 3πt + kπ`,
/// plus noise. Radius ≤ 1.
#[track_caller]
pub fn spirals(n: usize, noise: f64, seed: u64) -> TensorDataset {
    check_noise("spirals", noise);
    points(n, seed, 2, |i, rng| {
        let k = i % 2;
        let t = rng.random::<f64>().sqrt();
        let theta = 3.0 * PI * t + k as f64 * PI;
        (t * theta.cos() + noise * gaussian(rng), t * theta.sin() + noise * gaussian(rng), k)
    })
}

/// Two moons (as scikit-learn's `make_moons`): class 0 on the upper half circle
/// `(cos t, sin t)`, class 1 on the lower one `(1 − cos t, ½ − sin t)`, `t` uniform in
/// `[0, π]`, plus noise.
#[track_caller]
pub fn moons(n: usize, noise: f64, seed: u64) -> TensorDataset {
    check_noise("moons", noise);
    points(n, seed, 3, |i, rng| {
        let k = i % 2;
        let t = PI * rng.random::<f64>();
        let (x, y) = if k == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        (x + noise * gaussian(rng), y + noise * gaussian(rng), k)
    })
}

/// Sine regression: `x` uniform in `[−π, π]`, target `sin x + noise · N(0, 1)`; inputs and
/// targets are `[n, 1]`.
#[track_caller]
pub fn sine(n: usize, noise: f64, seed: u64) -> TensorDataset {
    check_noise("sine", noise);
    let mut rng = derived_rng(seed, &[SYNTHETIC, 4]);
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let x = PI * (2.0 * rng.random::<f64>() - 1.0);
        xs.push(x as f32);
        ys.push((x.sin() + noise * gaussian(&mut rng)) as f32);
    }
    TensorDataset::regression(Tensor::from_vec(xs, &[n, 1]), Tensor::from_vec(ys, &[n, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;

    fn rows(d: &TensorDataset) -> Vec<[f32; 2]> {
        d.inputs().to_vec_f32().chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    #[test]
    fn shapes_balance_and_seeds() {
        for make in [xor, spirals, moons] {
            let d = make(101, 0.1, 3);
            assert_eq!(d.inputs().shape(), &[101, 2]);
            let labels = d.targets().as_classes().unwrap();
            assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 50);
            assert_eq!(rows(&d), rows(&make(101, 0.1, 3)));
            assert_ne!(rows(&d), rows(&make(101, 0.1, 4)));
        }
        let s = sine(50, 0.0, 1);
        assert_eq!(
            (s.inputs().shape(), s.targets().as_tensor().unwrap().shape()),
            (&[50usize, 1][..], &[50usize, 1][..])
        );
        assert_eq!(s.len(), 50);
    }

    #[test]
    fn noiseless_sets_lie_on_their_curves() {
        let d = xor(8, 0.0, 0);
        assert_eq!(rows(&d)[..4], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
        assert_eq!(&d.targets().as_classes().unwrap()[..4], &[0, 1, 1, 0]);
        for (p, &k) in rows(&moons(100, 0.0, 0)).iter().zip(moons(100, 0.0, 0).targets().as_classes().unwrap()) {
            let (cx, cy) = if k == 0 { (0.0, 0.0) } else { (1.0, 0.5) };
            let r = ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt();
            assert!((r - 1.0).abs() < 1e-5, "moon point {p:?} off its circle");
        }
        for p in rows(&spirals(100, 0.0, 0)) {
            assert!((p[0] * p[0] + p[1] * p[1]).sqrt() <= 1.0 + 1e-6);
        }
        let s = sine(20, 0.0, 0);
        for (x, y) in s.inputs().to_vec_f32().iter().zip(s.targets().as_tensor().unwrap().to_vec_f32()) {
            assert!((x.sin() - y).abs() < 1e-6 && x.abs() <= std::f32::consts::PI);
        }
    }

    #[test]
    fn gaussian_noise_has_unit_spread() {
        let mut rng = nabla_tensor::rng(0);
        let draws: Vec<f64> = (0..20000).map(|_| gaussian(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    }
}
