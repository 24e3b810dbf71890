//! Pixel-lane tiles: `FILTERS` filters × `VECTORS·N` consecutive output positions held in
//! registers for the whole sum over channels and taps (see the [module docs](super)).

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use super::lanes::x86;
use super::lanes::Lanes;
use super::{Epilogue, Plan};

/// Pixel vectors per tile row (the tile is `FILTERS × VECTORS·N`).
pub(super) const VECTORS: usize = 3;

/// One output tile: `FILTERS` filters × `VECTORS·N` positions starting at `start`, summed over
/// every channel and tap, stored into rows of `out` (`ld` apart) at column `start`.
///
/// `x` is the image's padded planes (`plane` apart), `taps` the shift `p·wp + q` of each tap,
/// `w` this tile's filters packed `[c][tap][FILTERS]`.
///
/// # Safety
/// The CPU has `L`'s instructions; `x` is readable up to `(c_in − 1)·plane + start +
/// VECTORS·N + max(taps)`, `w` for `c_in·taps.len()·FILTERS` values, and `out` writable at
/// `r·ld + start .. r·ld + start + VECTORS·N` for every row `r < FILTERS`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<L: Lanes>(
    x: *const f32,
    plane: usize,
    c_in: usize,
    taps: &[usize],
    w: *const f32,
    start: usize,
    out: *mut f32,
    ld: usize,
) {
    // Written for at most 8 filters; the compiler keeps the array in registers.
    let mut acc = [[L::zero(); VECTORS]; 8];
    let mut w = w;
    for c in 0..c_in {
        let xc = x.add(c * plane + start);
        for &shift in taps {
            let xs = xc.add(shift);
            let pixels: [L::V; VECTORS] = std::array::from_fn(|v| L::load(xs.add(v * L::N)));
            for (f, row) in acc.iter_mut().enumerate().take(L::FILTERS) {
                let weight = L::splat(*w.add(f));
                for (a, &px) in row.iter_mut().zip(&pixels) {
                    *a = L::fma(px, weight, *a);
                }
            }
            w = w.add(L::FILTERS);
        }
    }
    for (f, row) in acc.iter().enumerate().take(L::FILTERS) {
        for (v, &a) in row.iter().enumerate() {
            L::store(out.add(f * ld + start + v * L::N), a);
        }
    }
}

/// Every tile of one image: `x` its padded planes, `w` the filters packed by [`pack_filters`](super::pack_filters),
/// `out` the `[filter blocks·FILTERS, ld]` result.
///
/// # Safety
/// The CPU has `L`'s instructions (the rest is checked here).
#[inline(always)]
unsafe fn image<L: Lanes>(plan: &Plan, taps: &[usize], x: &[f32], w: &[f32], out: &mut [f32], ld: usize) {
    let px = VECTORS * L::N;
    let (blocks, tiles) = (plan.c_out.div_ceil(L::FILTERS), plan.positions().div_ceil(px));
    let reach = taps.iter().copied().max().unwrap_or(0);
    // What the safety contract of `tile` needs, for the last tile of the last channel.
    assert!(plan.c_in > 0 && tiles * px <= ld && x.len() >= (plan.c_in - 1) * plan.plane() + tiles * px + reach);
    assert!(w.len() >= blocks * plan.c_in * taps.len() * L::FILTERS && out.len() >= blocks * L::FILTERS * ld);
    for block in 0..blocks {
        let w = w.as_ptr().add(block * plan.c_in * taps.len() * L::FILTERS);
        let out = out.as_mut_ptr().add(block * L::FILTERS * ld);
        for t in 0..tiles {
            tile::<L>(x.as_ptr(), plan.plane(), plan.c_in, taps, w, t * px, out, ld);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn image_avx512(plan: &Plan, taps: &[usize], x: &[f32], w: &[f32], out: &mut [f32], ld: usize) {
    image::<x86::Avx512>(plan, taps, x, w, out, ld)
}

/// The outputs of one image, `[c_out, oh, ow]`, from the first `ow` of every `wp` positions of
/// each filter's row of `out` (`ld` apart), through the `epilogue`.
pub(super) fn copy_out(plan: &Plan, out: &[f32], ld: usize, y: &mut [MaybeUninit<f32>], epilogue: Epilogue<'_, f32>) {
    let ([oh, ow], [_, wp]) = (plan.out_hw(), plan.padded_hw());
    // Every element of `y` must be written (the caller's `set_len` counts on it).
    assert!(y.len() == plan.c_out * oh * ow && wp >= ow && ld >= oh * wp && out.len() >= plan.c_out * ld);
    for (k, y) in y.chunks_exact_mut(oh * ow).enumerate() {
        for (dst, src) in y.chunks_exact_mut(ow).zip(out[k * ld..].chunks(wp)) {
            epilogue.write(k, dst, src.iter());
        }
    }
}
