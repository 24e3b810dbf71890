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
//! the tile has run over all of its images. The positions are taken in passes of 16 KiB of
//! `dy` per tile, every tile running over a pass before the next, so that `dy` is read from the
//! L1 cache (a tile over a whole 32×32 image read 35 KiB of it from L2, at half the speed).
//! This one also runs with AVX2 (4 filters × 2 taps of 8 lanes), where it measured 1.3–2×
//! faster than im2col.
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
//!
//! Here: the plan of a correlation, the instruction set, padding, the per-image driver and the
//! rules for when each road runs. The tiles are in [`pixel_tiles`] and [`weight_grad`], written
//! once over the vector trait of [`lanes`] for AVX-512 and AVX2, and in [`filter_tiles`]
//! (AVX-512 intrinsics only); `tests.rs` holds every kernel to im2col.

// Off x86-64 every convolution goes through im2col and most of this module is unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unreachable_code, unused))]

use std::any::TypeId;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{Epilogue, Geometry};
use crate::dtype::Element;
use crate::scratch::Scratch;

mod filter_tiles;
mod lanes;
mod pixel_tiles;
#[cfg(test)]
mod tests;
mod weight_grad;

#[cfg(target_arch = "x86_64")]
use filter_tiles::correlate_by_filters;
use filter_tiles::FILTER_TILE_FILTERS;
#[cfg(target_arch = "x86_64")]
use pixel_tiles::image_avx512;
use pixel_tiles::{copy_out, VECTORS};
use weight_grad::weight_gradient;

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

/// Which instruction set this CPU gives the kernels. A value is only made by [`Isa::detect`]
/// (and by the tests, which detect too), so holding one means the CPU has those instructions:
/// the kernels rely on it.
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

    /// Filters and pixels per pixel-lane tile. With AVX2 only the weight gradient runs direct
    /// (the convolution itself goes through im2col), and the pixels only size its buffers.
    fn tile(self) -> [usize; 2] {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => [8, VECTORS * 16],
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => [4, VECTORS * 8],
        }
    }
}

/// The filters in the order the tiles read them, `[block][c][p][q][f]` for filter
/// `block·filters + f` (zeros past `c_out`), from `weight(filter, channel, p, q)`.
fn pack_filters(plan: &Plan, filters: usize, weight: impl Fn(usize, usize, usize, usize) -> f32) -> Vec<f32> {
    let [kh, kw] = plan.kernel;
    let blocks = plan.c_out.div_ceil(filters);
    let mut packed = Vec::with_capacity(blocks * plan.c_in * kh * kw * filters);
    // In the packed order, loop by loop (an index split by division per value made this a
    // serial 2 % of a CIFAR ResNet's step).
    for block in 0..blocks {
        for c in 0..plan.c_in {
            for p in 0..kh {
                for q in 0..kw {
                    let k = block * filters;
                    packed.extend((k..k + filters).map(|k| if k < plan.c_out { weight(k, c, p, q) } else { 0.0 }));
                }
            }
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
/// filters fill whole tiles of 64 and a filter has at most 576 taps (64 channels of 3×3).
/// Measured at 2 threads against im2col: 1.4–1.5× faster on the second convolution of an MNIST
/// CNN (32 channels of 13×13 to 64, unpadded), and on CIFAR's 8×8 stage (64 channels to 64,
/// batch 32) 1.4× forward (0.55 → 0.40 ms) and 1.15× for the input gradient (0.47 → 0.40 ms).
/// With 32 filters (the MNIST layer's input gradient) the tiles would be half empty: im2col.
fn filter_lanes_suit(isa: Isa, plan: &Plan) -> bool {
    let [kh, kw] = plan.kernel;
    let fits = plan.c_out.is_multiple_of(FILTER_TILE_FILTERS) && plan.c_out > 0 && plan.c_in > 0;
    isa.has_avx512() && fits && plan.c_in * kh * kw <= 576 && !pixel_lanes_suit(isa, plan)
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
