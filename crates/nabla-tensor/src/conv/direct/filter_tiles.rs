//! Filter-lane tiles (AVX-512): 5 arbitrary output pixels × 64 filters, for the images where
//! pixel lanes would waste positions on junk columns (see the [module docs](super)).

use std::mem::MaybeUninit;

use super::{pack_filters, per_image, Epilogue, Plan};

/// One filter-lane tile (AVX-512): `P` output pixels × `NV` vectors of 16 filters, summed over
/// every channel and tap and stored as `P` rows of `out` (`ldo` apart). Pixel `k` of the tile
/// reads its window at `bases[k]` (any output pixels, not only neighbours, so no position is
/// wasted); `w` is packed `[c][tap][NV·16]`.
///
/// # Safety
/// The CPU has AVX-512F; `x` is readable at `c·plane + bases[k] + taps[t]` for every channel,
/// pixel and tap, `w` for `c_in·taps.len()·NV·16` values, `out` writable for `P` rows of `NV·16`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn filter_tile<const NV: usize, const P: usize>(
    x: *const f32,
    plane: usize,
    c_in: usize,
    taps: &[usize],
    bases: &[usize],
    w: *const f32,
    out: *mut f32,
    ldo: usize,
) {
    use std::arch::x86_64::*;
    let bases: [usize; P] = std::array::from_fn(|k| bases[k]);
    let mut acc = [[_mm512_setzero_ps(); NV]; P];
    let mut w = w;
    for c in 0..c_in {
        let xc = x.add(c * plane);
        for &shift in taps {
            let filters: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(w.add(v * 16)));
            for (row, &base) in acc.iter_mut().zip(&bases) {
                let pixel = _mm512_set1_ps(*xc.add(base + shift));
                for (a, &f) in row.iter_mut().zip(&filters) {
                    *a = _mm512_fmadd_ps(f, pixel, *a);
                }
            }
            w = w.add(NV * 16);
        }
    }
    for (k, row) in acc.iter().enumerate() {
        for (v, &a) in row.iter().enumerate() {
            _mm512_storeu_ps(out.add(k * ldo + v * 16), a);
        }
    }
}

/// Every filter-lane tile of one image: `bases` the window of each output pixel (padded to
/// whole tiles), `out` one row per pixel of `blocks·NV·16` filters.
///
/// # Safety
/// The CPU has AVX-512F (the rest is checked here).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn filter_tiles_avx512<const NV: usize, const P: usize>(
    plan: &Plan,
    taps: &[usize],
    x: &[f32],
    w: &[f32],
    bases: &[usize],
    out: &mut [f32],
) {
    let (filters, reach) = (NV * 16, taps.iter().copied().max().unwrap_or(0));
    let (blocks, row_len) = (plan.c_out.div_ceil(filters), plan.c_out.div_ceil(filters) * filters);
    let far = bases.iter().copied().max().unwrap_or(0) + reach;
    assert!(plan.c_in > 0 && bases.len().is_multiple_of(P) && x.len() > (plan.c_in - 1) * plan.plane() + far);
    assert!(w.len() >= blocks * plan.c_in * taps.len() * filters && out.len() >= bases.len() * row_len);
    for block in 0..blocks {
        let w = w.as_ptr().add(block * plan.c_in * taps.len() * filters);
        for (t, bases) in bases.chunks_exact(P).enumerate() {
            let out = out.as_mut_ptr().add(t * P * row_len + block * filters);
            filter_tile::<NV, P>(x.as_ptr(), plan.plane(), plan.c_in, taps, bases, w, out, row_len);
        }
    }
}

/// Filters per filter-lane tile: 4 vectors of 16.
pub(super) const FILTER_TILE_FILTERS: usize = 64;
/// Output pixels per filter-lane tile. The compiler loads every pixel's broadcast before the
/// multiply-adds, so the 20 accumulators, 4 filter vectors and 5 broadcasts must fit the 32
/// registers together (with 6 pixels it spilled some to the stack and ran at half speed).
const FILTER_TILE_PIXELS: usize = 5;

/// [`correlate`](super::correlate) with filter-lane tiles of [`FILTER_TILE_PIXELS`] pixels ×
/// [`FILTER_TILE_FILTERS`] filters (`c_out` need not fill them: the packed filters and the
/// results past it are zeros and dropped).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn correlate_by_filters(
    plan: &Plan,
    x: &[f32],
    weight: impl Fn(usize, usize, usize, usize) -> f32,
    epilogue: Epilogue<'_, f32>,
) -> Vec<f32> {
    let ([_, wp], [oh, ow]) = (plan.padded_hw(), plan.out_hw());
    let (filters, per_tile) = (FILTER_TILE_FILTERS, FILTER_TILE_PIXELS);
    let (packed, taps) = (pack_filters(plan, filters, weight), plan.taps());
    let pixels = oh * ow;
    // Each output pixel's window; the last tile's spare slots repeat pixel 0 and are dropped.
    let bases: Vec<usize> =
        (0..pixels.div_ceil(per_tile) * per_tile).map(|n| if n < pixels { n / ow * wp + n % ow } else { 0 }).collect();
    let row_len = plan.c_out.div_ceil(filters) * filters;
    per_image(plan, x, [plan.c_in * plan.plane(), bases.len() * row_len], |xp, out, y| {
        // SAFETY: this function's caller guarantees AVX-512F; the lengths are checked inside.
        unsafe { filter_tiles_avx512::<4, FILTER_TILE_PIXELS>(plan, &taps, xp, &packed, &bases, out) };
        copy_out_transposed(plan, out, row_len, y, epilogue);
    })
}

/// The outputs of one image, `[c_out, oh·ow]`, from `out`'s rows (one per pixel, `row_len`
/// apart, one column per filter), through the `epilogue`.
fn copy_out_transposed(
    plan: &Plan,
    out: &[f32],
    row_len: usize,
    y: &mut [MaybeUninit<f32>],
    epilogue: Epilogue<'_, f32>,
) {
    let pixels = plan.out_hw()[0] * plan.out_hw()[1];
    // Every element of `y` must be written (the caller's `set_len` counts on it).
    assert!(y.len() == plan.c_out * pixels && row_len >= plan.c_out && out.len() >= pixels * row_len);
    for (k, y) in y.chunks_exact_mut(pixels).enumerate() {
        epilogue.write(k, y, out[k..].iter().step_by(row_len));
    }
}
