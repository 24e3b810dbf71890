//! The weight gradient, summed over the padded positions: tiles of `FILTERS` filters × 2 taps
//! (see the [module docs](super)).

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::lanes::x86;
use super::lanes::Lanes;
use super::{pad_image, Isa, Plan};
use crate::scratch::Scratch;

/// Taps per weight-gradient tile (with 3, 24 accumulators, the compiler spilled some to the
/// stack and the kernel ran at half speed).
const TAPS: usize = 2;

/// One weight-gradient tile: for `FILTERS` filters and [`TAPS`] taps, the sums over
/// `images` images (their padded planes `x_step` apart in `x`, their gradients `dy_step` apart
/// in `dy`) and the first `vectors·N` positions of `dy[f, o] · x[o + shifts[t]]`, added to
/// `sums` (`[FILTERS][TAPS]`).
///
/// # Safety
/// The CPU has `L`'s instructions; for every image `m < images`, `x` is readable up to
/// `m·x_step + max(shifts) + vectors·N` and `dy` at `m·dy_step + f·ld .. + vectors·N` for every
/// `f < FILTERS`; `sums` has `FILTERS·TAPS` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_tile<L: Lanes>(
    x: *const f32,
    shifts: [usize; TAPS],
    dy: *const f32,
    ld: usize,
    vectors: usize,
    [images, x_step, dy_step]: [usize; 3],
    sums: *mut f32,
) {
    let mut acc = [[L::zero(); TAPS]; 8];
    for m in 0..images {
        let (x, dy) = (x.add(m * x_step), dy.add(m * dy_step));
        for v in 0..vectors {
            let at = v * L::N;
            let xs: [L::V; TAPS] = std::array::from_fn(|t| L::load(x.add(shifts[t] + at)));
            for (f, row) in acc.iter_mut().enumerate().take(L::FILTERS) {
                let d = L::load(dy.add(f * ld + at));
                for (a, &xv) in row.iter_mut().zip(&xs) {
                    *a = L::fma(d, xv, *a);
                }
            }
        }
    }
    for (f, row) in acc.iter().enumerate().take(L::FILTERS) {
        for (t, &a) in row.iter().enumerate() {
            *sums.add(f * TAPS + t) += L::sum(a);
        }
    }
}

/// Every weight-gradient tile of a chunk of `images` images: `x` their padded planes
/// (`x_step` apart), `shifts` the offset `c·plane + p·wp + q` of every tap (padded to whole
/// tiles), `dy` their output gradients in the padded numbering (`dy_step` apart, each
/// `[filter blocks·FILTERS, ld]`, zero at the junk positions), `sums`
/// `[filter blocks][tap blocks][FILTERS][TAPS]`. Each tile sums over the whole chunk before it
/// adds its lanes up, so short images (16×16) do not pay that per image.
///
/// # Safety
/// The CPU has `L`'s instructions (the rest is checked here).
#[inline(always)]
unsafe fn weight_image<L: Lanes>(
    plan: &Plan,
    shifts: &[usize],
    (x, x_step): (&[f32], usize),
    (dy, dy_step): (&[f32], usize),
    (images, ld): (usize, usize),
    sums: &mut [f32],
) {
    let (blocks, tap_blocks) = (plan.c_out.div_ceil(L::FILTERS), shifts.len() / TAPS);
    let reach = shifts.iter().copied().max().unwrap_or(0);
    let tile_len = L::FILTERS * TAPS;
    if images == 0 {
        return;
    }
    // What the safety contract of `weight_tile` needs.
    assert!(
        ld.is_multiple_of(L::N) && shifts.len().is_multiple_of(TAPS) && x.len() >= (images - 1) * x_step + reach + ld
    );
    assert!(dy.len() >= (images - 1) * dy_step + blocks * L::FILTERS * ld);
    assert!(sums.len() >= blocks * tap_blocks * tile_len);
    for block in 0..blocks {
        let dy = dy.as_ptr().add(block * L::FILTERS * ld);
        for (t, taps) in shifts.chunks_exact(TAPS).enumerate() {
            let taps: [usize; TAPS] = taps.try_into().expect("chunks of TAPS");
            let sums = sums.as_mut_ptr().add((block * tap_blocks + t) * tile_len);
            weight_tile::<L>(x.as_ptr(), taps, dy, ld, ld / L::N, [images, x_step, dy_step], sums);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn weight_image_avx512(
    plan: &Plan,
    shifts: &[usize],
    x: (&[f32], usize),
    dy: (&[f32], usize),
    images_ld: (usize, usize),
    sums: &mut [f32],
) {
    weight_image::<x86::Avx512>(plan, shifts, x, dy, images_ld, sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_image_avx2(
    plan: &Plan,
    shifts: &[usize],
    x: (&[f32], usize),
    dy: (&[f32], usize),
    images_ld: (usize, usize),
    sums: &mut [f32],
) {
    weight_image::<x86::Avx2>(plan, shifts, x, dy, images_ld, sums)
}

/// One image's output gradient `[c_out, oh, ow]` in the padded numbering: row `f` of `dy`
/// (`ld` apart, `rows` rows) holds `grad_out[f, i, j]` at `i·wp + j`, and zeros at the junk
/// positions, past the last output and in the rows past `c_out`, so that summing over every
/// position adds exactly the outputs' terms.
fn spread_grad(plan: &Plan, grad_out: &[f32], dy: &mut [f32], ld: usize, rows: usize) {
    let ([oh, ow], [_, wp]) = (plan.out_hw(), plan.padded_hw());
    for (f, row) in dy.chunks_exact_mut(ld).take(rows).enumerate() {
        if f >= plan.c_out {
            row.fill(0.0);
            continue;
        }
        let (outputs, tail) = row.split_at_mut(oh * wp);
        tail.fill(0.0);
        for (dst, src) in outputs.chunks_exact_mut(wp).zip(grad_out[f * oh * ow..][..oh * ow].chunks_exact(ow)) {
            dst[..ow].copy_from_slice(src);
            dst[ow..].fill(0.0);
        }
    }
}

/// The weight gradient `[c_out, c_in, kh, kw]` of the correlation: for every filter `f` and
/// tap `(c, p, q)`, `Σ_n Σ_o grad_out[n, f, o] · xpad[n, c, o + p·wp + q]` over the output
/// positions `o`. Images are taken in at most 8 chunks fixed by the batch size alone, and the
/// chunks' sums added in order, so the result does not depend on the thread count.
pub(super) fn weight_gradient(isa: Isa, plan: &Plan, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
    let ([filters, px], [kh, kw], [oh, ow]) = (isa.tile(), plan.kernel, plan.out_hw());
    let (k, plane) = (plan.c_in * kh * kw, plan.plane());
    let weight_len = plan.c_out * k;
    if plan.batch == 0 || weight_len == 0 {
        return vec![0.0; weight_len];
    }
    let tap_blocks = k.div_ceil(TAPS);
    // Taps past the last one (to fill the last tile) read the first plane and are dropped.
    let taps = plan.taps();
    let mut shifts: Vec<usize> = (0..k).map(|t| (t / (kh * kw)) * plane + taps[t % (kh * kw)]).collect();
    shifts.resize(tap_blocks * TAPS, 0);
    let (ld, padded_len) = (plan.row_len(px), plan.padded_len(px));
    let rows = plan.c_out.div_ceil(filters) * filters;
    let sums_len = rows * tap_blocks * TAPS;
    let (in_len, out_len) = (plan.c_in * plan.in_hw[0] * plan.in_hw[1], plan.c_out * oh * ow);
    let per_chunk = plan.batch.div_ceil(8);
    let partials: Vec<Vec<f32>> = (0..plan.batch.div_ceil(per_chunk))
        .into_par_iter()
        .map(|chunk| {
            let images = chunk * per_chunk..((chunk + 1) * per_chunk).min(plan.batch);
            let (x_step, dy_step) = (padded_len, rows * ld);
            let mut xp = Scratch::<f32>::new(images.len() * x_step);
            let mut dy = Scratch::<f32>::new(images.len() * dy_step);
            let mut sums = Scratch::<f32>::new(sums_len);
            sums.fill(0.0);
            for (m, n) in images.clone().enumerate() {
                pad_image(plan, &x[n * in_len..][..in_len], &mut xp[m * x_step..][..x_step]);
                spread_grad(plan, &grad_out[n * out_len..][..out_len], &mut dy[m * dy_step..][..dy_step], ld, rows);
            }
            let (x, dy, images_ld) = ((&xp[..], x_step), (&dy[..], dy_step), (images.len(), ld));
            // SAFETY: `isa` was detected on this CPU; `weight_image` checks the lengths.
            unsafe {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => weight_image_avx512(plan, &shifts, x, dy, images_ld, &mut sums),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => weight_image_avx2(plan, &shifts, x, dy, images_ld, &mut sums),
                }
            }
            // From the tiles' order into the weight's.
            let mut partial = vec![0.0f32; weight_len];
            for (i, &sum) in sums.iter().enumerate() {
                let (t, rest) = (i % TAPS, i / TAPS);
                let (f, rest) = (rest % filters, rest / filters);
                let (tap_block, block) = (rest % tap_blocks, rest / tap_blocks);
                let (filter, tap) = (block * filters + f, tap_block * TAPS + t);
                if filter < plan.c_out && tap < k {
                    partial[filter * k + tap] = sum;
                }
            }
            partial
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next().expect("at least one chunk");
    for partial in partials {
        dw.iter_mut().zip(partial).for_each(|(total, v)| *total += v);
    }
    dw
}
