//! `exp`, the sigmoid and `tanh` for `f32`, written so that a loop over a slice compiles to
//! vector instructions: no branch, no call into the C library (whose `expf`/`tanhf` handle one
//! number at a time and were a quarter of an LSTM training step).
//!
//! **exp** by range reduction. Write `x = n·ln 2 + r` with `n = round(x / ln 2)`, so
//! `|r| ≤ ln 2 / 2 ≈ 0.347`; then
//!
//! ```text
//! eˣ = 2ⁿ · eʳ        eʳ ≈ 1 + r + r²/2! + … + r⁷/7!   (the Taylor series; the next term is below 10⁻⁸)
//! ```
//!
//! `2ⁿ` is built directly from its bits (exponent field `n + 127`), `ln 2` is split into a
//! part with few bits and a small remainder so that `n·ln 2` is subtracted without rounding
//! error, and the rounding to `n` adds `1.5·2²³`, which leaves `n` in the low bits of the
//! float's mantissa (read back as an integer for `2ⁿ`, and as a float by subtracting again).
//! Inputs above 87 are clamped to 87 (`e⁸⁷` and `e⁻⁸⁷` are still normal floats; the sigmoid and
//! `tanh` saturate long before), and below `−87` the result is 0 (so a masked `−∞` gives 0).
//!
//! **sigmoid** `σ(x) = 1 / (1 + e⁻ˣ)`.
//!
//! **erf** by the Taylor series `2/√π · Σ (−1)ⁿ x^{2n+1} / (n!·(2n+1))` for `|x| < 1`; for
//! `1 ≤ |x| < 3.9` as `1 − e^{−x²}·q(x)`, where `q(x) = erfc(x)·e^{x²}` is smooth and slowly
//! varying and is interpolated by a Chebyshev series (14 terms, relative error about 10⁻⁹);
//! beyond, `±1`.
//!
//! **tanh** `tanh x = sign(x)·(1 − 2 / (e^{2|x|} + 1))`, except near zero, where that
//! subtraction would cancel most digits: for `|x| < 0.3` the odd series
//! `x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925` is used instead.
//!
//! Accuracy, checked against `f64` by the tests: within 2 ulp for `exp`, 4 ulp for `erf` and 5
//! ulp (relative) for the sigmoid and `tanh` where the result is not tiny; NaN in gives NaN out.
//!
//! ```
//! use nabla_tensor::vector_math::{exp_f32, sigmoid_f32, tanh_f32};
//! assert!((exp_f32(1.0) - std::f32::consts::E).abs() < 1e-6);
//! assert_eq!(sigmoid_f32(0.0), 0.5);
//! assert!((tanh_f32(0.5) - 0.5f32.tanh()).abs() < 1e-7);
//! ```

/// Runs `f` inside a function compiled for the widest vector instructions this CPU has
/// (AVX-512, else AVX2, else the baseline SSE2), so the loops `f` inlines run 16 or 8 lanes at
/// a time instead of 4. The program is built for any x86-64; the choice is made at run time.
///
/// For this to help, `f` must be a closure whose loops (and the functions they call) inline
/// into it: mark such helpers `#[inline(always)]`.
#[inline(always)]
pub fn with_widest_vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { run_avx512(f) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `eˣ` for `x ≤ 87` (above, `e⁸⁷`), flushed to 0 below `−87`; see the [module docs](self).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with its low 12 mantissa bits zero, so n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³
    let x_in = x;
    let x = x.clamp(-87.0, 87.0);
    let shifted = x * LOG2_E + ROUND; // n sits in the low mantissa bits
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // e^r by Horner's rule on the Taylor series to r⁷/7!.
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2ⁿ: the exponent field n + 127, with n read back from the integer bits of `shifted`
    // (integer arithmetic, which vectorises; a float-to-integer cast does not).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_to_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x_in < -87.0 {
        0.0
    } else {
        p * two_to_n
    }
}

/// `σ(x) = 1 / (1 + e⁻ˣ)`; see the [module docs](self).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `tanh x`; see the [module docs](self).
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let far = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let s = a * a;
    let mut p = -1382.0 / 155_925.0;
    p = p * s + 62.0 / 2835.0;
    p = p * s - 17.0 / 315.0;
    p = p * s + 2.0 / 15.0;
    p = p * s - 1.0 / 3.0;
    let near = a + a * s * p;
    let t = if a < 0.3 { near } else { far };
    // NaN fails `a < 0.3` and goes through `far`, which stays NaN.
    t.copysign(x)
}

/// Chebyshev coefficients of `erfc(x)·e^{x²}` on `[1, 3.9]` (in `s = (2x − 4.9)/2.9 ∈ [−1, 1]`),
/// interpolated at 14 Chebyshev points in `f64`; the test `erf_table_is_the_interpolant`
/// computes them again from `libm::erfc`.
const ERFC_CHEBYSHEV: [f32; 14] = [
    0.247_298_5,
    -0.134_740_8,
    0.034_585_82,
    -0.008_433_347,
    0.001_965_476,
    -0.000_439_919_8,
    9.492_434e-5,
    -1.980_802e-5,
    4.007_75e-6,
    -7.879_91e-7,
    1.508_454e-7,
    -2.816_068e-8,
    5.130_19e-9,
    -8.882_28e-10,
];

/// `erf x`, within a few ulp; see the [module docs](self).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = a * a;
    // |x| < 1: the Taylor series 2/√π · Σ (−1)ⁿ x^{2n+1} / (n!·(2n+1)), to n = 10.
    let mut p = 1.0 / (3_628_800.0 * 21.0);
    p = p * s - 1.0 / (362_880.0 * 19.0);
    p = p * s + 1.0 / (40_320.0 * 17.0);
    p = p * s - 1.0 / (5040.0 * 15.0);
    p = p * s + 1.0 / (720.0 * 13.0);
    p = p * s - 1.0 / (120.0 * 11.0);
    p = p * s + 1.0 / (24.0 * 9.0);
    p = p * s - 1.0 / (6.0 * 7.0);
    p = p * s + 1.0 / (2.0 * 5.0);
    p = p * s - 1.0 / 3.0;
    p = p * s + 1.0;
    let near = std::f32::consts::FRAC_2_SQRT_PI * a * p;
    // 1 ≤ |x| < 3.9: 1 − e^{−x²}·(erfc(x)·e^{x²}), the second factor by Clenshaw's recurrence.
    let t = ((2.0 * a - 4.9) / 2.9).min(1.0);
    let (mut b1, mut b2) = (0.0f32, 0.0f32);
    for &c in ERFC_CHEBYSHEV[1..].iter().rev() {
        (b1, b2) = (2.0 * t * b1 - b2 + c, b1);
    }
    let erfc_scaled = t * b1 - b2 + ERFC_CHEBYSHEV[0];
    let far = 1.0 - exp_f32(-s) * erfc_scaled;
    // |x| ≥ 3.9: erfc x < 4·10⁻⁸, below half an ulp of 1. NaN fails both tests and stays NaN.
    let r = if a >= 3.9 {
        1.0
    } else if a >= 1.0 {
        far
    } else {
        near
    };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place of `want` (as an f32).
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        (got as f64 - want).abs() / ulp
    }

    fn sweep() -> impl Iterator<Item = f32> {
        (-400_000..=400_000).map(|i| i as f32 * 2.5e-4).chain([1e-30, -1e-20, 1e-7, 3e-4, 0.299_999, 0.3])
    }

    #[test]
    fn exp_within_two_ulp() {
        let worst = sweep().filter(|x| x.abs() <= 87.0).map(|x| ulps(exp_f32(x), (x as f64).exp())).fold(0.0, f64::max);
        assert!(worst <= 2.0, "exp: {worst} ulp");
    }

    #[test]
    fn sigmoid_and_tanh_within_five_ulp() {
        for x in sweep() {
            let xf = x as f64;
            let (s, t) = (1.0 / (1.0 + (-xf).exp()), xf.tanh());
            if s > 1e-30 {
                assert!(ulps(sigmoid_f32(x), s) <= 5.0, "sigmoid({x}) = {} not {s}", sigmoid_f32(x));
            }
            assert!(ulps(tanh_f32(x), t) <= 5.0, "tanh({x}) = {} not {t}", tanh_f32(x));
        }
    }

    #[test]
    fn erf_within_four_ulp() {
        let worst =
            sweep().filter(|x| x.abs() < 10.0).map(|x| ulps(erf_f32(x), libm::erf(x as f64))).fold(0.0, f64::max);
        assert!(worst <= 4.0, "erf: {worst} ulp");
        assert!(erf_f32(f32::NAN).is_nan() && erf_f32(-20.0) == -1.0 && erf_f32(f32::INFINITY) == 1.0);
    }

    #[test]
    fn erf_table_is_the_interpolant() {
        let (n, (lo, hi)) = (ERFC_CHEBYSHEV.len(), (1.0f64, 3.9f64));
        let scaled = |x: f64| libm::erfc(x) * (x * x).exp();
        for (j, &c) in ERFC_CHEBYSHEV.iter().enumerate() {
            let angle = |k: usize| std::f64::consts::PI * (k as f64 + 0.5) / n as f64;
            let sum: f64 = (0..n)
                .map(|k| scaled((hi - lo) / 2.0 * angle(k).cos() + (hi + lo) / 2.0) * (j as f64 * angle(k)).cos())
                .sum();
            let want = sum * 2.0 / n as f64 / if j == 0 { 2.0 } else { 1.0 };
            // The table holds seven significant digits.
            assert!((c as f64 - want).abs() <= 1e-6 * want.abs(), "coefficient {j}: {c} vs {want}");
        }
    }

    #[test]
    fn exp_flushes_below_minus_87() {
        assert_eq!((exp_f32(-88.0), exp_f32(f32::NEG_INFINITY)), (0.0, 0.0));
    }

    #[test]
    fn saturation_signs_and_nan() {
        assert_eq!((sigmoid_f32(200.0), sigmoid_f32(-200.0) < 1e-37), (1.0, true));
        assert!(sigmoid_f32(-200.0).is_normal());
        assert_eq!(
            (tanh_f32(50.0), tanh_f32(-50.0), tanh_f32(0.0), tanh_f32(-0.0).to_bits()),
            (1.0, -1.0, 0.0, (-0.0f32).to_bits())
        );
        assert!(exp_f32(f32::NAN).is_nan() && sigmoid_f32(f32::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
    }
}
