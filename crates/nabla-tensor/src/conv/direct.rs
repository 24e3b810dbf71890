//! Direct convolution: stride-1 `f32` convolutions, their input gradients and their weight
//! gradients computed straight from the padded image, with no patch matrix.
//!
//! im2col (the rest of [`conv`](super)) copies every input pixel `kh·kw` times into a patch
//! matrix, and gemm then copies that matrix once more into its packed panels; at the small
//! channel counts of a CIFAR ResNet those copies cost as much as the multiplications. With
//! stride 1 there is a simpler road. Pad the image once, and lay each channel's padded plane
//! out row after row, `wp = w + 2·pw` pixels per row. Number the output pixels the same way,
//! `o = i·wp + j`. Then tap `(p, q)` of the kernel reads, for output `o`, the input at
//! `o + p·wp + q`: the same shift for every output pixel. So
//!
//! ```text
//! y[k, o] = Σ_c Σ_(p,q) w[k, c, p, q] · xpad[c, o + p·wp + q]
//! ```
//!
//! is, for each tap, a row of consecutive output pixels times one weight, added to a row of
//! consecutive input pixels: exactly what vector registers do. A *tile* of the output,
//! 8 filters × 48 consecutive pixels, is held in 24 of the 32 AVX-512 registers for the whole
//! sum, and each step of the sum (one tap of one channel) loads the 48 input pixels once (3
//! vectors) and one weight per filter (8 broadcasts) for 24 fused multiply-adds. (With AVX2's
//! 16 registers the tile shrinks to 4 filters × 24 pixels and measured 30–40 % slower than
//! im2col, so there the convolution and its input gradient stay with im2col.)
//!
//! The columns `j ≥ ow` of the padded numbering are not outputs (their windows wrap into the
//! next row); they are computed and thrown away, `(wp − ow)/wp` of the work (6 % on a 32×32
//! image with padding 1). The input gradient of a stride-1 convolution is itself such a
//! convolution (of the output gradient, padded by `k − 1 − p`, with the filters flipped and
//! their two channel axes swapped), so it runs through the same kernel.
//!
//! Where the junk columns and the rounding to whole tiles would waste much (an unpadded
//! 13×13 image computes 144 positions for 121 outputs), a second tile turns the roles around
//! (AVX-512 only): the vector lanes hold 16 filters, a tile is 5 output pixels × 64 filters,
//! and each step loads 4 vectors of weights and broadcasts one input value per pixel. Its pixels
//! are any 5 outputs, so nothing is computed for junk; its results come out one pixel per row
//! and are transposed into the `[c_out, oh, ow]` image on the way out.
//!
//! The weight gradient sums over positions instead of filling them:
//!
//! ```text
//! dw[k, c, p, q] = Σ_n Σ_o dy[n, k, o] · xpad[n, c, o + p·wp + q]
//! ```
//!
//! with `dy` laid out in the same padded numbering, zero at the junk positions so that they add
//! nothing. A tile holds 8 filters × 2 taps, one vector of partial sums each (16 of the
//! registers; with 3 taps the compiler ran out and kept some on the stack): each step loads 16
//! positions of `dy` for each filter and of `x` for each tap, and the lanes are added up once
//! the tile has run over all of its images. This one also runs with AVX2 (4 filters × 2 taps
//! of 8 lanes), where it measured 1.3–2× faster than im2col.
//!
//! Used for `f32` with one group, stride 1 and dilation 1, at least two images, on shapes where
//! it measured faster (see [`correlate_worth_it`] for the forward pass and the input gradient,
//! [`worth_it`] for the weight gradient); everything else, and `f64`, goes through im2col. The
//! tests compare both roads.
//!
//! One difference from im2col beyond rounding: the weight gradient also multiplies the zero
//! output gradient at the junk positions by whatever input pixel they read, so an infinite
//! input value can turn a tap's gradient into NaN (`0·∞`) where im2col would have skipped it.
//! With finite inputs the two agree to rounding.

// Off x86-64 every convolution goes through im2col and most of this file is unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unreachable_code, unused))]

use std::any::TypeId;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{Epilogue, Geometry};
use crate::dtype::Element;
use crate::scratch::Scratch;

/// A stride-1 correlation of zero-padded images: the shapes the kernel needs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    batch: usize,
    c_in: usize,
    c_out: usize,
    in_hw: [usize; 2],
    pad: [usize; 2],
    kernel: [usize; 2],
}

impl Plan {
    /// The padded plane's rows and row length, `[h + 2·ph, w + 2·pw]`.
    fn padded_hw(&self) -> [usize; 2] {
        [self.in_hw[0] + 2 * self.pad[0], self.in_hw[1] + 2 * self.pad[1]]
    }

    /// Output rows and columns, `[hp − kh + 1, wp − kw + 1]`.
    fn out_hw(&self) -> [usize; 2] {
        let [hp, wp] = self.padded_hw();
        [hp + 1 - self.kernel[0], wp + 1 - self.kernel[1]]
    }

    /// Elements of one padded plane.
    fn plane(&self) -> usize {
        let [hp, wp] = self.padded_hw();
        hp * wp
    }

    /// Output positions in the padded numbering, `oh·wp` (the last `wp − ow` of each row are
    /// thrown away).
    fn positions(&self) -> usize {
        self.out_hw()[0] * self.padded_hw()[1]
    }

    /// The positions rounded up to whole tiles of `px`: the length of a filter's row of results
    /// (pixel lanes) or of output gradient (weight gradient).
    fn row_len(&self, px: usize) -> usize {
        self.positions().div_ceil(px) * px
    }

    /// The shift `p·wp + q` of each kernel tap, row by row.
    fn taps(&self) -> Vec<usize> {
        let ([kh, kw], [_, wp]) = (self.kernel, self.padded_hw());
        (0..kh * kw).map(|t| (t / kw) * wp + t % kw).collect()
    }

    /// Elements of an image's padded planes plus the slack that tiles of `px` positions read
    /// past the last plane (junk positions only; [`pad_image`] zeroes it).
    fn padded_len(&self, px: usize) -> usize {
        let ([kh, kw], [_, wp]) = (self.kernel, self.padded_hw());
        self.c_in * self.plane() + self.row_len(px) + px + (kh - 1) * wp + kw
    }
}

/// The vector instructions a tile is written in.
trait Lanes {
    /// One vector of `f32`.
    type V: Copy;
    /// `f32`s per vector.
    const N: usize;
    /// Filters per tile.
    const FILTERS: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn splat(v: f32) -> Self::V;
    /// `a·b + c`, rounded once.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// The sum of the lanes (in a fixed order).
    unsafe fn sum(v: Self::V) -> f32;
}

/// Pixel vectors per tile row (the tile is `FILTERS × VECTORS·N`).
const VECTORS: usize = 3;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 16 lanes of AVX-512.
    pub(super) struct Avx512;

    impl super::Lanes for Avx512 {
        type V = __m512;
        const N: usize = 16;
        const FILTERS: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> __m512 {
            _mm512_set1_ps(v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            _mm512_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn sum(v: __m512) -> f32 {
            _mm512_reduce_add_ps(v)
        }
    }

    /// 8 lanes of AVX2 with FMA.
    pub(super) struct Avx2;

    impl super::Lanes for Avx2 {
        type V = __m256;
        const N: usize = 8;
        const FILTERS: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> __m256 {
            _mm256_set1_ps(v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            _mm256_storeu_ps(p, v)
        }
        #[inline(always)]
        unsafe fn sum(v: __m256) -> f32 {
            let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
        }
    }
}

/// Which instruction set this CPU gives the kernels. A value is only made by [`Isa::detect`]
/// (and by the tests, which detect too), so holding one means the CPU has those instructions:
/// the kernels below rely on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Some(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Some(Isa::Avx2);
            }
        }
        None
    }

    fn has_avx512(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => false,
        }
    }

    /// Filters and pixels per pixel-lane tile; for AVX2 only the rounding of the weight
    /// gradient's positions (the AVX2 convolution itself runs through im2col).
    fn tile(self) -> [usize; 2] {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => [8, VECTORS * 16],
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => [4, VECTORS * 8],
        }
    }
}

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

/// Every tile of one image: `x` its padded planes, `w` the filters packed by [`pack_filters`],
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
unsafe fn image_avx512(plan: &Plan, taps: &[usize], x: &[f32], w: &[f32], out: &mut [f32], ld: usize) {
    image::<x86::Avx512>(plan, taps, x, w, out, ld)
}

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

/// The filters in the order the tiles read them, `[block][c][p][q][f]` for filter
/// `block·filters + f` (zeros past `c_out`), from `weight(filter, channel, p, q)`.
fn pack_filters(plan: &Plan, filters: usize, weight: impl Fn(usize, usize, usize, usize) -> f32) -> Vec<f32> {
    let [kh, kw] = plan.kernel;
    let blocks = plan.c_out.div_ceil(filters);
    let mut packed = vec![0.0; blocks * plan.c_in * kh * kw * filters];
    for (i, slot) in packed.iter_mut().enumerate() {
        let (f, rest) = (i % filters, i / filters);
        let (tap, rest) = (rest % (kh * kw), rest / (kh * kw));
        let (c, block) = (rest % plan.c_in, rest / plan.c_in);
        let k = block * filters + f;
        if k < plan.c_out {
            *slot = weight(k, c, tap / kw, tap % kw);
        }
    }
    packed
}

/// Copies one image `[c_in, h, w]` into its zero-padded planes (`plane` apart), and zeroes the
/// rest of `xp` after the last plane as well (junk positions read into it).
fn pad_image(plan: &Plan, x: &[f32], xp: &mut [f32]) {
    let ([h, w], [ph, pw], [_, wp]) = (plan.in_hw, plan.pad, plan.padded_hw());
    let plane = plan.plane();
    for (c, padded) in xp.chunks_exact_mut(plane).take(plan.c_in).enumerate() {
        let (top, rest) = padded.split_at_mut(ph * wp);
        top.fill(0.0);
        let (rows, bottom) = rest.split_at_mut(h * wp);
        bottom.fill(0.0);
        for (row, src) in rows.chunks_exact_mut(wp).zip(x[c * h * w..][..h * w].chunks_exact(w)) {
            row[..pw].fill(0.0);
            row[pw..pw + w].copy_from_slice(src);
            row[pw + w..].fill(0.0);
        }
    }
    xp[plan.c_in * plane..].fill(0.0);
}

/// The correlation of every image of `x` (`[batch, c_in, h, w]`) with the filters
/// `weight(k, c, p, q)`, through `epilogue`: `[batch, c_out, oh, ow]`.
fn correlate(
    isa: Isa,
    plan: &Plan,
    x: &[f32],
    weight: impl Fn(usize, usize, usize, usize) -> f32,
    epilogue: Epilogue<'_, f32>,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if filter_lanes_suit(isa, plan) {
        // SAFETY: `filter_lanes_suit` holds only for AVX-512, and an `Isa` is only made for
        // the instructions this CPU has.
        return unsafe { correlate_by_filters(plan, x, weight, epilogue) };
    }
    let [filters, px] = isa.tile();
    let (packed, taps, ld) = (pack_filters(plan, filters, weight), plan.taps(), plan.row_len(px));
    let scratch = [plan.padded_len(px), plan.c_out.div_ceil(filters) * filters * ld];
    per_image(plan, x, scratch, |xp, out, y| {
        // SAFETY: `isa` was detected on this CPU; `image` checks the buffer lengths.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => image_avx512(plan, &taps, xp, &packed, out, ld),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unreachable!("correlate_worth_it keeps AVX2 convolutions on im2col"),
            }
        }
        copy_out(plan, out, ld, y, epilogue);
    })
}

/// The outputs `[batch, c_out, oh, ow]` of a correlation, image by image on rayon's threads:
/// `kernel(xp, work, y)` gets the image padded into `xp` (a scratch buffer of `scratch[0]`
/// elements), a second scratch buffer of `scratch[1]` and the image's uninitialised outputs,
/// every one of which it must write.
fn per_image(
    plan: &Plan,
    x: &[f32],
    scratch: [usize; 2],
    kernel: impl Fn(&mut [f32], &mut [f32], &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let [oh, ow] = plan.out_hw();
    let (in_len, out_len) = (plan.c_in * plan.in_hw[0] * plan.in_hw[1], plan.c_out * oh * ow);
    let len = plan.batch * out_len;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    if out_len > 0 {
        y.spare_capacity_mut()[..len].par_chunks_mut(out_len).enumerate().for_each_init(
            || (Scratch::<f32>::new(scratch[0]), Scratch::<f32>::new(scratch[1])),
            |(xp, work), (n, y)| {
                pad_image(plan, &x[n * in_len..][..in_len], xp);
                kernel(xp, work, y);
            },
        );
    }
    // SAFETY: the images cover all `len` elements, and `kernel` wrote each one of its image's.
    unsafe { y.set_len(len) };
    y
}

/// Whether the pixel-lane tiles (the default) suit this plan, measured as for [`worth_it`]:
/// few positions wasted on junk columns and tile rounding.
fn pixel_lanes_suit(isa: Isa, plan: &Plan) -> bool {
    let ([_, px], [oh, ow]) = (isa.tile(), plan.out_hw());
    plan.row_len(px) * 100 <= oh * ow * 115
}

/// Whether the filter-lane kernel should run this plan instead of the pixel-lane one: with
/// AVX-512, when the pixel-lane tiles would waste too much (small or unpadded images), the
/// filters fill whole tiles of 64 and a filter has at most 288 taps. Measured
/// at 2 threads against im2col: 1.4–1.5× faster on the second convolution of an MNIST CNN
/// (32 channels of 13×13 to 64, unpadded); no faster with 64 input channels (CIFAR's 8×8
/// stage) or with 32 filters (that layer's input gradient), which stay with im2col.
fn filter_lanes_suit(isa: Isa, plan: &Plan) -> bool {
    let [kh, kw] = plan.kernel;
    let fits = plan.c_out.is_multiple_of(FILTER_TILE_FILTERS) && plan.c_out > 0 && plan.c_in > 0;
    isa.has_avx512() && fits && plan.c_in * kh * kw <= 288 && !pixel_lanes_suit(isa, plan)
}

/// Filters per filter-lane tile: 4 vectors of 16.
const FILTER_TILE_FILTERS: usize = 64;
/// Output pixels per filter-lane tile. The compiler loads every pixel's broadcast before the
/// multiply-adds, so the 20 accumulators, 4 filter vectors and 5 broadcasts must fit the 32
/// registers together (with 6 pixels it spilled some to the stack and ran at half speed).
const FILTER_TILE_PIXELS: usize = 5;

/// [`correlate`] with filter-lane tiles of [`FILTER_TILE_PIXELS`] pixels ×
/// [`FILTER_TILE_FILTERS`] filters (`c_out` need not fill them: the packed filters and the
/// results past it are zeros and dropped).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
unsafe fn correlate_by_filters(
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
fn weight_gradient(isa: Isa, plan: &Plan, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
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

/// The outputs of one image, `[c_out, oh, ow]`, from the first `ow` of every `wp` positions of
/// each filter's row of `out` (`ld` apart), through the `epilogue`.
fn copy_out(plan: &Plan, out: &[f32], ld: usize, y: &mut [MaybeUninit<f32>], epilogue: Epilogue<'_, f32>) {
    let ([oh, ow], [_, wp]) = (plan.out_hw(), plan.padded_hw());
    // Every element of `y` must be written (the caller's `set_len` counts on it).
    assert!(y.len() == plan.c_out * oh * ow && wp >= ow && ld >= oh * wp && out.len() >= plan.c_out * ld);
    for (k, y) in y.chunks_exact_mut(oh * ow).enumerate() {
        for (dst, src) in y.chunks_exact_mut(ow).zip(out[k * ld..].chunks(wp)) {
            epilogue.write(k, dst, src.iter());
        }
    }
}

/// The direct kernels' instruction set, if they take this convolution: `f32`, one group, stride
/// and dilation 1, no empty axis, a CPU with AVX-512 or AVX2, and at least two images (the
/// images are spread over the threads; one image goes through im2col, whose gemm uses them
/// all).
fn applies<E: Element>(geo: &Geometry) -> Option<Isa> {
    let spec = geo.spec;
    let plain = spec.stride == [1, 1] && spec.dilation == [1, 1] && spec.groups == 1;
    let empty = geo.in_hw.contains(&0) || geo.out_hw.contains(&0) || geo.c_in == 0 || geo.c_out == 0;
    if TypeId::of::<E>() != TypeId::of::<f32>() || !plain || geo.batch < 2 || empty {
        return None;
    }
    Isa::detect()
}

/// Whether the pixel-lane kernels beat im2col on this plan: the rule for the weight gradient
/// (with AVX-512 or AVX2) and, through [`correlate_worth_it`], for the forward pass and the
/// input gradient (AVX-512). Measured at 2 threads on batches of 32 to 256 (CIFAR ResNet and
/// MNIST CNN shapes), the direct kernels were 10–30 % faster (the weight gradient up to 2×)
/// where
///
/// - the positions it computes (rounded up to whole tiles, junk columns included) are at most
///   1.15 × the outputs: 32×32 and 16×16 images with padding 1, 28×28 without; on 8×8 images
///   it computes 1.5 × and was 35 % slower;
/// - a filter has at most 576 taps (`c_in·kh·kw`, 64 channels of 3×3): with 128 channels
///   gemm's longer sums won by 20 %;
/// - there are at least as many filters as a tile holds (the input gradient of a first layer
///   with one input channel would fill 1 of 8).
fn worth_it(isa: Isa, plan: &Plan) -> bool {
    let [kh, kw] = plan.kernel;
    plan.c_in > 0 && plan.c_out >= isa.tile()[0] && pixel_lanes_suit(isa, plan) && plan.c_in * kh * kw <= 576
}

/// Whether [`correlate`] (the forward pass and the input gradient) beats im2col on this plan:
/// with AVX-512 only, with pixel lanes where [`worth_it`], or else with filter lanes where
/// [`filter_lanes_suit`]. (With AVX2, whose
/// 16 registers hold a tile of 4 filters × 24 pixels, the forward tile measured 30–40 % slower
/// than im2col on the CIFAR shapes, so only the weight gradient uses AVX2.)
fn correlate_worth_it(isa: Isa, plan: &Plan) -> bool {
    isa.has_avx512() && (worth_it(isa, plan) || filter_lanes_suit(isa, plan))
}

/// `E` is `f32` (checked by the caller): the same slice as `f32`.
fn as_f32<E: Element>(values: &[E]) -> &[f32] {
    assert_eq!(TypeId::of::<E>(), TypeId::of::<f32>());
    // SAFETY: `E` is `f32`, checked above.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<f32>(), values.len()) }
}

/// `E` is `f32` (checked by the caller): the same vector as `Vec<E>`.
fn from_f32<E: Element>(values: Vec<f32>) -> Vec<E> {
    assert_eq!(TypeId::of::<E>(), TypeId::of::<f32>());
    let mut values = std::mem::ManuallyDrop::new(values);
    // SAFETY: `E` is `f32`, so pointer, length, capacity and allocation layout carry over.
    unsafe { Vec::from_raw_parts(values.as_mut_ptr().cast::<E>(), values.len(), values.capacity()) }
}

/// [`conv2d_kernel`](super::conv2d_kernel) by the direct kernel, or `None` when it does not
/// apply or would be slower (see [`applies`] and [`worth_it`]).
pub(super) fn conv2d<E: Element>(x: &[E], w: &[E], geo: &Geometry, epilogue: Epilogue<'_, E>) -> Option<Vec<E>> {
    let isa = applies::<E>(geo)?;
    let plan = forward_plan(geo);
    if !correlate_worth_it(isa, &plan) {
        return None;
    }
    let epilogue = Epilogue { bias: epilogue.bias.map(as_f32), relu: epilogue.relu };
    Some(from_f32(forward(isa, &plan, as_f32(x), as_f32(w), epilogue)))
}

/// [`conv2d_backward_input_kernel`](super::conv2d_backward_input_kernel) by the direct kernel,
/// or `None` when it does not apply or would be slower.
pub(super) fn conv2d_backward_input<E: Element>(grad_out: &[E], w: &[E], geo: &Geometry) -> Option<Vec<E>> {
    let isa = applies::<E>(geo)?;
    let plan = backward_input_plan(geo)?;
    if !correlate_worth_it(isa, &plan) {
        return None;
    }
    Some(from_f32(backward_input(isa, &plan, as_f32(grad_out), as_f32(w))))
}

/// [`conv2d_backward_weight_kernel`](super::conv2d_backward_weight_kernel) by the direct
/// kernel, or `None` when it does not apply or would be slower.
pub(super) fn conv2d_backward_weight<E: Element>(x: &[E], grad_out: &[E], geo: &Geometry) -> Option<Vec<E>> {
    let isa = applies::<E>(geo)?;
    let plan = forward_plan(geo);
    if !worth_it(isa, &plan) {
        return None;
    }
    Some(from_f32(weight_gradient(isa, &plan, as_f32(x), as_f32(grad_out))))
}

/// The forward convolution as a stride-1 correlation: the input padded as the spec says.
fn forward_plan(geo: &Geometry) -> Plan {
    Plan {
        batch: geo.batch,
        c_in: geo.c_in,
        c_out: geo.c_out,
        in_hw: geo.in_hw,
        pad: geo.spec.padding,
        kernel: geo.kernel,
    }
}

/// `y = conv2d(x, w)` through the `epilogue`, for a plan from [`forward_plan`].
fn forward(isa: Isa, plan: &Plan, x: &[f32], w: &[f32], epilogue: Epilogue<'_, f32>) -> Vec<f32> {
    let ([kh, kw], c_in) = (plan.kernel, plan.c_in);
    correlate(isa, plan, x, |k, c, p, q| w[((k * c_in + c) * kh + p) * kw + q], epilogue)
}

/// The input gradient as a stride-1 correlation, or `None` when the padding is as wide as the
/// kernel (the correlation would have to crop the output gradient instead of padding it).
///
/// With stride 1, input pixel `a` receives from output pixels `a + ph − p` for every tap `p`:
/// a correlation of the output gradient, padded by `kh − 1 − ph`, with the kernel flipped
/// (tap `kh − 1 − p`) and the filter and channel axes swapped.
fn backward_input_plan(geo: &Geometry) -> Option<Plan> {
    let ([kh, kw], [ph, pw]) = (geo.kernel, geo.spec.padding);
    if ph >= kh || pw >= kw {
        return None;
    }
    let plan = Plan {
        batch: geo.batch,
        c_in: geo.c_out,
        c_out: geo.c_in,
        in_hw: geo.out_hw,
        pad: [kh - 1 - ph, kw - 1 - pw],
        kernel: geo.kernel,
    };
    debug_assert_eq!(plan.out_hw(), geo.in_hw);
    Some(plan)
}

/// `dx` from the output gradient `grad_out` and the forward convolution's weight `w`
/// (`[c_out, c_in, kh, kw]`), for a plan from [`backward_input_plan`], whose filters are the
/// forward's input channels (`plan.c_out` is the forward's `c_in`) and whose channels its
/// filters. The closure below is called as `(plan filter, plan channel, p, q)`, i.e. (forward
/// channel `c`, forward filter `k`), and reads the forward weight with the taps flipped.
fn backward_input(isa: Isa, plan: &Plan, grad_out: &[f32], w: &[f32]) -> Vec<f32> {
    let ([kh, kw], c_in) = (plan.kernel, plan.c_out);
    let weight = |c: usize, k: usize, p: usize, q: usize| w[((k * c_in + c) * kh + (kh - 1 - p)) * kw + (kw - 1 - q)];
    correlate(isa, plan, grad_out, weight, Epilogue { bias: None, relu: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Conv2dSpec, DType, Tensor};
    use proptest::prelude::*;

    /// Every instruction set this CPU runs (on a machine with AVX-512, both).
    fn isas() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                isas.push(Isa::Avx2);
            }
        }
        isas
    }

    fn sample(shape: &[usize], seed: u64) -> Tensor {
        crate::init::uniform(shape, -1.0, 1.0, DType::F32, &mut crate::rng(seed))
    }

    /// The largest difference from the `f64` values, relative to the largest of them (at least 1).
    fn off_by(got: &[f32], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max) / scale
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The direct kernels for random stride-1 shapes (whether or not they would be chosen),
        /// against im2col in `f64`: the weight gradient on every instruction set; with AVX-512
        /// the forward pass with every epilogue and the input gradient, by pixel lanes and by
        /// filter lanes.
        #[test]
        fn direct_matches_im2col(
            batch in 2usize..12, c_in in 1usize..12, c_out in 1usize..20,
            h in 1usize..14, w in 1usize..14, kh in 1usize..5, kw in 1usize..5,
            ph in 0usize..3, pw in 0usize..3, bias in any::<bool>(), relu in any::<bool>(), seed in 0u64..1000,
        ) {
            let spec = Conv2dSpec { padding: [ph, pw], ..Conv2dSpec::default() };
            let Some(out_hw) = spec.output_hw([h, w], [kh, kw]) else { return Ok(()) };
            let x = sample(&[batch, c_in, h, w], seed);
            let wt = sample(&[c_out, c_in, kh, kw], seed + 1);
            let b = sample(&[c_out], seed + 2);
            let g = sample(&[batch, c_out, out_hw[0], out_hw[1]], seed + 3);
            let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
            let want_y = f64_of(&x).conv2d_fused(&f64_of(&wt), bias.then(|| f64_of(&b)).as_ref(), relu, spec).to_vec_f64();
            let want_dx = Tensor::conv2d_backward_input(&f64_of(&g), &f64_of(&wt), x.shape(), spec).to_vec_f64();
            let want_dw = Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&g), wt.shape(), spec).to_vec_f64();
            let geo = Geometry::check("test", x.shape(), wt.shape(), spec, &[]).unwrap();
            let (xs, ws, bs, gs) = (x.to_vec_f32(), wt.to_vec_f32(), b.to_vec_f32(), g.to_vec_f32());
            for isa in isas() {
                let epilogue = Epilogue { bias: bias.then_some(&bs[..]), relu };
                let dw = weight_gradient(isa, &forward_plan(&geo), &xs, &gs);
                prop_assert!(off_by(&dw, &want_dw) < 1e-5, "{isa:?} weight gradient off by {}", off_by(&dw, &want_dw));
                // With AVX2 the convolution and its input gradient stay on im2col.
                #[cfg(target_arch = "x86_64")]
                if isa != Isa::Avx512 {
                    continue;
                }
                let y = forward(isa, &forward_plan(&geo), &xs, &ws, epilogue);
                prop_assert!(off_by(&y, &want_y) < 1e-5, "{isa:?} forward off by {}", off_by(&y, &want_y));
                #[cfg(target_arch = "x86_64")]
                {
                    let (c_in, weight) = (geo.c_in, |k: usize, c: usize, p: usize, q: usize| ws[((k * geo.c_in + c) * kh + p) * kw + q]);
                    // SAFETY: `isa` (AVX-512 here) was detected on this CPU.
                    let y = unsafe { correlate_by_filters(&forward_plan(&geo), &xs, weight, epilogue) };
                    prop_assert!(off_by(&y, &want_y) < 1e-5, "filter lanes: forward off by {}", off_by(&y, &want_y));
                    if let Some(plan) = backward_input_plan(&geo) {
                        let flipped = |c: usize, k: usize, p: usize, q: usize| ws[((k * c_in + c) * kh + (kh - 1 - p)) * kw + (kw - 1 - q)];
                        // SAFETY: as above.
                        let dx = unsafe { correlate_by_filters(&plan, &gs, flipped, Epilogue { bias: None, relu: false }) };
                        prop_assert!(off_by(&dx, &want_dx) < 1e-5, "filter lanes: input gradient off by {}", off_by(&dx, &want_dx));
                    }
                }
                if let Some(plan) = backward_input_plan(&geo) {
                    let dx = backward_input(isa, &plan, &gs, &ws);
                    prop_assert!(off_by(&dx, &want_dx) < 1e-5, "{isa:?} input gradient off by {}", off_by(&dx, &want_dx));
                }
                prop_assert_eq!(backward_input_plan(&geo).is_none(), ph >= kh || pw >= kw);
            }
        }
    }

    /// A CIFAR ResNet block's shapes take the direct road through the public ops (on a CPU
    /// with AVX-512; the weight gradient also with AVX2) and agree with `f64`, which takes im2col.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn resnet_shapes_take_the_direct_road() {
        let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
        let (x, w, b) = (sample(&[3, 16, 32, 32], 1), sample(&[16, 16, 3, 3], 2), sample(&[16], 3));
        let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
        if let Some(isa) = applies::<f32>(&geo) {
            let avx512 = std::is_x86_feature_detected!("avx512f");
            assert_eq!(correlate_worth_it(isa, &forward_plan(&geo)), avx512);
            assert_eq!(correlate_worth_it(isa, &backward_input_plan(&geo).unwrap()), avx512);
            assert!(worth_it(isa, &forward_plan(&geo)), "the weight gradient");
        }
        let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
        let y = x.conv2d_fused(&w, Some(&b), true, spec);
        let want = f64_of(&x).conv2d_fused(&f64_of(&w), Some(&f64_of(&b)), true, spec).to_vec_f64();
        assert!(off_by(&y.to_vec_f32(), &want) < 1e-5);
        let dx = Tensor::conv2d_backward_input(&y, &w, x.shape(), spec);
        let want = Tensor::conv2d_backward_input(&f64_of(&y), &f64_of(&w), x.shape(), spec).to_vec_f64();
        assert!(off_by(&dx.to_vec_f32(), &want) < 1e-5);
        let dw = Tensor::conv2d_backward_weight(&x, &y, w.shape(), spec);
        let want = Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&y), w.shape(), spec).to_vec_f64();
        assert!(off_by(&dw.to_vec_f32(), &want) < 1e-5);
    }

    /// An MNIST CNN's second convolution (unpadded 13×13, 32 channels to 64) takes the
    /// filter-lane road forward (on a CPU with AVX-512) and agrees with `f64`.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn unpadded_small_images_take_the_filter_lanes() {
        let (x, w, b) = (sample(&[3, 32, 13, 13], 4), sample(&[64, 32, 3, 3], 5), sample(&[64], 6));
        let spec = Conv2dSpec::default();
        let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
        if let Some(isa) = applies::<f32>(&geo) {
            let avx512 = std::is_x86_feature_detected!("avx512f");
            assert_eq!(filter_lanes_suit(isa, &forward_plan(&geo)), avx512);
            assert!(!filter_lanes_suit(isa, &backward_input_plan(&geo).unwrap()), "32 filters: im2col");
        }
        let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
        let y = x.conv2d_fused(&w, Some(&b), true, spec);
        let want = f64_of(&x).conv2d_fused(&f64_of(&w), Some(&f64_of(&b)), true, spec).to_vec_f64();
        assert!(off_by(&y.to_vec_f32(), &want) < 1e-5);
    }

    /// The direct kernels are right over work buffers full of NaN left by an earlier user (each
    /// kernel must write every element it later reads, zeros included, before reading it), and
    /// give the same bits on one thread and on three.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn same_bits_on_any_thread_count_and_over_stale_buffers() {
        let spec = Conv2dSpec { padding: [1, 1], ..Conv2dSpec::default() };
        let (x, w, g) = (sample(&[6, 16, 32, 32], 10), sample(&[16, 16, 3, 3], 11), sample(&[6, 16, 32, 32], 12));
        let (x2, w2) = (sample(&[5, 32, 13, 13], 13), sample(&[64, 32, 3, 3], 14));
        let run = || {
            [
                x.conv2d(&w, spec).to_vec_f32(),
                Tensor::conv2d_backward_input(&g, &w, x.shape(), spec).to_vec_f32(),
                Tensor::conv2d_backward_weight(&x, &g, w.shape(), spec).to_vec_f32(),
                x2.conv2d(&w2, Conv2dSpec::default()).to_vec_f32(),
            ]
        };
        let poisoned = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                // Fill every worker's scratch pool with large NaN buffers.
                pool.broadcast(|_| {
                    let mut buffers: Vec<Scratch<f32>> = (0..4).map(|_| Scratch::new(1 << 20)).collect();
                    buffers.iter_mut().for_each(|b| b.fill(f32::NAN));
                });
                run()
            })
        };
        let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
        assert!(applies::<f32>(&geo).is_some_and(|isa| worth_it(isa, &forward_plan(&geo))), "takes the direct road");
        let one = poisoned(1);
        let f64_of = |t: &Tensor| t.to_dtype(DType::F64);
        let want = [
            f64_of(&x).conv2d(&f64_of(&w), spec).to_vec_f64(),
            Tensor::conv2d_backward_input(&f64_of(&g), &f64_of(&w), x.shape(), spec).to_vec_f64(),
            Tensor::conv2d_backward_weight(&f64_of(&x), &f64_of(&g), w.shape(), spec).to_vec_f64(),
            f64_of(&x2).conv2d(&f64_of(&w2), Conv2dSpec::default()).to_vec_f64(),
        ];
        for (got, want) in one.iter().zip(&want) {
            assert!(off_by(got, want) < 1e-5, "off by {}", off_by(got, want));
        }
        let bits =
            |r: &[Vec<f32>; 4]| r.iter().map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&poisoned(3)));
        assert_eq!(bits(&one), bits(&run()));
    }

    /// Images with no columns but padding (a valid convolution: only padding is read) stay
    /// with im2col, whose answer is zeros plus the bias.
    #[test]
    fn empty_images_stay_with_im2col() {
        let spec = Conv2dSpec { padding: [0, 1], ..Conv2dSpec::default() };
        let (x, w, b) = (sample(&[2, 16, 24, 0], 7), sample(&[64, 16, 1, 1], 8), sample(&[64], 9));
        let geo = Geometry::check("test", x.shape(), w.shape(), spec, &[]).unwrap();
        assert!(applies::<f32>(&geo).is_none());
        let y = x.conv2d_fused(&w, Some(&b), false, spec);
        assert_eq!(y.shape(), &[2, 64, 24, 2]);
        let bias = b.to_vec_f32();
        assert!(y.to_vec_f32().chunks(48).enumerate().all(|(i, plane)| plane.iter().all(|&v| v == bias[i % 64])));
        let dw = Tensor::conv2d_backward_weight(&x, &y, w.shape(), spec);
        assert!(dw.to_vec_f32().iter().all(|&v| v == 0.0));
    }

    /// The shape rules of [`worth_it`]: 8×8 images, 128 channels and one-channel input
    /// gradients stay with im2col.
    #[test]
    fn small_images_and_wide_filters_stay_with_im2col() {
        let Some(isa) = Isa::detect() else { return };
        let plan = |c_in, c_out, hw| Plan { batch: 32, c_in, c_out, in_hw: [hw, hw], pad: [1, 1], kernel: [3, 3] };
        assert!(worth_it(isa, &plan(16, 16, 32)));
        assert!(!worth_it(isa, &plan(64, 64, 8)));
        assert!(!worth_it(isa, &plan(128, 128, 16)));
        assert!(!worth_it(isa, &plan(32, 1, 28)));
        assert!(!filter_lanes_suit(isa, &plan(64, 64, 8)), "576 taps per filter: im2col");
    }
}
