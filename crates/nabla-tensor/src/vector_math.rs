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
//! float's mantissa (read back as an integer for `2ⁿ`, and as a float by subtracting again). Inputs are clamped to `[−87, 87]`, where `eˣ` and `e⁻ˣ` are normal floats: the
//! sigmoid and `tanh` below saturate long before that.
//!
//! **sigmoid** `σ(x) = 1 / (1 + e⁻ˣ)`.
//!
//! **tanh** `tanh x = sign(x)·(1 − 2 / (e^{2|x|} + 1))`, except near zero, where that
//! subtraction would cancel most digits: for `|x| < 0.3` the odd series
//! `x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925` is used instead.
//!
//! Accuracy, checked against `f64` by the tests: within 2 ulp for `exp` and 5 ulp (relative)
//! for the sigmoid and `tanh` where the result is not tiny, and NaN in gives NaN out.
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

/// `eˣ` for `x` clamped to `[−87, 87]`; see the [module docs](self).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with its low 12 mantissa bits zero, so n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³
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
    p * two_to_n
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
