//! The weight gradient, summed over the padded positions: tiles of `FILTERS` filters × 2 taps
//! (see the [module docs](super)).

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::lanes::x86;
use super::lanes::Lanes;
use super::{pad_image, Isa, Plan, VECTORS};
use crate::scratch::Scratch;

/// Taps per weight-gradient tile (with 3, 24 accumulators, the compiler spilled some to the
/// stack and the kernel ran at half speed).
const TAPS: usize = 2;

/// The output gradient a tile reads in one pass, in bytes (`FILTERS` rows of a pass's
/// positions): small enough to stay in the L1 cache (32–48 KiB) while every tap of every
/// channel runs over it. Summing each tile over a whole 32×32 image at once streamed 35 KiB of
/// it per tile from L2, and the weight gradient ran at half the speed of the forward pass.
const PASS_BYTES: usize = 16 * 1024;

/// A run of consecutive positions of one image that a pass sums over: its offset in the padded
/// planes `x` and in the output gradients `dy` (the same position, `start` vectors into the
/// image), and its length in vectors.
#[derive(Clone, Copy, Debug)]
struct Segment {
    x: usize,
    dy: usize,
    vectors: usize,
}

/// The chunk's positions cut into passes of at most `budget` vectors each: every image's
/// `per_image` vectors in order, an image split across passes where a pass fills up, several
/// short images in one pass.
fn passes(images: usize, per_image: usize, budget: usize, [x_step, dy_step, n]: [usize; 3]) -> Vec<Vec<Segment>> {
    let budget = budget.max(1);
    let (mut passes, mut pass, mut room) = (Vec::new(), Vec::new(), budget);
    for m in 0..images {
        let mut v = 0;
        while v < per_image {
            let vectors = (per_image - v).min(room);
            pass.push(Segment { x: m * x_step + v * n, dy: m * dy_step + v * n, vectors });
            (v, room) = (v + vectors, room - vectors);
            if room == 0 {
                passes.push(std::mem::take(&mut pass));
                room = budget;
            }
        }
    }
    if !pass.is_empty() {
        passes.push(pass);
    }
    passes
}

/// One weight-gradient tile over one pass: for `FILTERS` filters and [`TAPS`] taps, the sums
/// over the pass's `segments` of `dy[f, o] · x[o + shifts[t]]`, one vector of partial sums per
/// filter and tap. The vectors start from `carry` (unless this is the first pass) and end in
/// `carry` (unless it is the last, when their lanes are added up into `sums`,
/// `[FILTERS][TAPS]`).
///
/// # Safety
/// The CPU has `L`'s instructions; for every segment, `x` is readable up to
/// `seg.x + max(shifts) + seg.vectors·N` and `dy` at `seg.dy + f·ld .. + seg.vectors·N` for
/// every `f < FILTERS`; `carry` has `FILTERS·TAPS·N` values unless this pass is both the first
/// and the last (then it is not touched and may be null); `sums` has `FILTERS·TAPS`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_tile<L: Lanes>(
    x: *const f32,
    shifts: [usize; TAPS],
    dy: *const f32,
    ld: usize,
    segments: &[Segment],
    [first, last]: [bool; 2],
    carry: *mut f32,
    sums: *mut f32,
) {
    let mut acc = [[L::zero(); TAPS]; 8];
    if !first {
        for (f, row) in acc.iter_mut().enumerate().take(L::FILTERS) {
            for (t, a) in row.iter_mut().enumerate() {
                *a = L::load(carry.add((f * TAPS + t) * L::N));
            }
        }
    }
    for seg in segments {
        let (x, dy) = (x.add(seg.x), dy.add(seg.dy));
        for v in 0..seg.vectors {
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
            if last {
                *sums.add(f * TAPS + t) += L::sum(a);
            } else {
                L::store(carry.add((f * TAPS + t) * L::N), a);
            }
        }
    }
}

/// Every weight-gradient tile of a chunk of `images` images: `x` their padded planes
/// (`x_step` apart), `shifts` the offset `c·plane + p·wp + q` of every tap (padded to whole
/// tiles), `dy` their output gradients in the padded numbering (`dy_step` apart, each
/// `[filter blocks·FILTERS, ld]`, zero at the junk positions), `sums`
/// `[filter blocks][tap blocks][FILTERS][TAPS]`.
///
/// The positions are taken in passes of [`PASS_BYTES`] of output gradient per tile
/// ([`passes`]): every tile runs over one pass before the next pass starts, so the pass's
/// gradient rows are read from L1 by every tap. Each tile keeps its partial sums as vectors
/// between passes (in `carry`, `[filter blocks][tap blocks][FILTERS][TAPS]` vectors, stored and
/// reloaded exactly, so the passes do not change a bit of the result) and adds up their lanes
/// once, after the last, so short images
/// (16×16, several to a pass) do not pay that per image.
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
    // What the safety contract of `weight_tile` needs (each segment lies inside its image).
    assert!(
        ld.is_multiple_of(L::N) && shifts.len().is_multiple_of(TAPS) && x.len() >= (images - 1) * x_step + reach + ld
    );
    assert!(dy.len() >= (images - 1) * dy_step + blocks * L::FILTERS * ld);
    assert!(sums.len() >= blocks * tap_blocks * tile_len);
    let budget = PASS_BYTES / (L::FILTERS * L::N * std::mem::size_of::<f32>());
    let passes = passes(images, ld / L::N, budget, [x_step, dy_step, L::N]);
    // The tiles' vectors between passes, written before they are read; none for a single pass.
    let mut carry = Scratch::<f32>::new(if passes.len() > 1 { blocks * tap_blocks * tile_len * L::N } else { 0 });
    for (p, segments) in passes.iter().enumerate() {
        let first_last = [p == 0, p + 1 == passes.len()];
        for block in 0..blocks {
            let dy = dy.as_ptr().add(block * L::FILTERS * ld);
            for (t, taps) in shifts.chunks_exact(TAPS).enumerate() {
                let taps: [usize; TAPS] = taps.try_into().expect("chunks of TAPS");
                let tile = block * tap_blocks + t;
                let carry = if passes.len() > 1 {
                    carry.as_mut_ptr().add(tile * tile_len * L::N)
                } else {
                    std::ptr::null_mut()
                };
                let sums = sums.as_mut_ptr().add(tile * tile_len);
                weight_tile::<L>(x.as_ptr(), taps, dy, ld, segments, first_last, carry, sums);
            }
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
    // Rows of `dy` rounded to whole vectors (`px / VECTORS` lanes), buffers to whole tiles.
    let (ld, padded_len) = (plan.row_len(px / VECTORS), plan.padded_len(px));
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
            let mut sums = sums.iter();
            for block in 0..rows / filters {
                for tap_block in 0..tap_blocks {
                    for f in 0..filters {
                        for t in 0..TAPS {
                            let (filter, tap, &sum) =
                                (block * filters + f, tap_block * TAPS + t, sums.next().expect("sums_len"));
                            if filter < plan.c_out && tap < k {
                                partial[filter * k + tap] = sum;
                            }
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The passes visit every vector of every image once, in order, each segment inside
        /// its image, and no pass holds more than the budget.
        #[test]
        fn passes_cover_each_position_once(images in 0usize..6, per_image in 0usize..40, budget in 1usize..50) {
            let (x_step, dy_step, n) = (1000, 700, 16);
            let passes = passes(images, per_image, budget, [x_step, dy_step, n]);
            let mut visited = Vec::new();
            for pass in &passes {
                prop_assert!(!pass.is_empty());
                prop_assert!(pass.iter().map(|s| s.vectors).sum::<usize>() <= budget);
                for seg in pass {
                    let (m, start) = (seg.dy / dy_step, seg.dy % dy_step / n);
                    prop_assert_eq!(seg.x, m * x_step + start * n);
                    prop_assert!(seg.vectors > 0 && start + seg.vectors <= per_image);
                    visited.extend((start..start + seg.vectors).map(|v| (m, v)));
                }
            }
            let every: Vec<(usize, usize)> = (0..images).flat_map(|m| (0..per_image).map(move |v| (m, v))).collect();
            prop_assert_eq!(visited, every);
        }
    }
}
