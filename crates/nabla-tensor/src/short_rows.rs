//! Copying and adding short rows whose length is only known at run time, for the convolution
//! kernels' inner loops.
//!
//! im2col copies one output row per kernel tap (11 values in the second convolution of an
//! MNIST CNN), im2row a few values per output pixel when the input has few channels (3 for a
//! 3×3 kernel over one channel), and col2im adds rows back. For such short pieces a call to
//! `memmove` costs more than the copy, and a loop whose length is a run-time value is too short
//! for its vectorised body. So lengths up to 16 are dispatched to a copy of the loop compiled
//! for that one length (fully unrolled, a few vector moves); longer rows take the ordinary path.
//!
//! The rows a kernel copies for one tap all have the same length and lie a fixed stride apart,
//! so [`copy_rows`] and [`add_rows`] take them all at once and choose the compiled copy once:
//! chosen per row, the choice cost as much as the copy. Measured on the MNIST CNN (batch 64):
//! the second convolution's forward went from 2.04 to 1.70 ms, its input gradient from 1.88 to
//! 1.67 ms and its weight gradient from 1.93 to 1.66 ms; the one-channel weight gradient from
//! 0.88 to 0.64 ms.

use crate::dtype::Element;

/// Calls `$fixed::<E, N>($args…)` for `N = $len` when it is 1 to 16, else evaluates
/// `$otherwise`.
macro_rules! by_length {
    ($len:expr, $fixed:ident $args:tt, $otherwise:expr) => {
        by_length!(@arms $len, $fixed $args, $otherwise, 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    };
    (@arms $len:expr, $fixed:ident $args:tt, $otherwise:expr, $($n:literal)*) => {
        match $len {
            $($n => $fixed::<E, $n> $args,)*
            _ => $otherwise,
        }
    };
}

/// `dst.copy_from_slice(src)` (the two have the same length): [`copy_rows`] with one row.
#[inline(always)]
pub(crate) fn copy_short<E: Copy>(dst: &mut [E], src: &[E]) {
    copy_rows(dst, 0, src, 0, 1, dst.len());
}

/// Copies `count` rows of `len` values: row `r` of `src`, starting at `r·src_stride`, onto row
/// `r` of `dst`, starting at `r·dst_stride`.
#[inline(always)]
pub(crate) fn copy_rows<E: Copy>(
    dst: &mut [E],
    dst_stride: usize,
    src: &[E],
    src_stride: usize,
    count: usize,
    len: usize,
) {
    #[inline(always)]
    fn fixed<E: Copy, const N: usize>(dst: &mut [E], dst_stride: usize, src: &[E], src_stride: usize, count: usize) {
        for r in 0..count {
            let values: [E; N] = src[r * src_stride..][..N].try_into().expect("N values");
            dst[r * dst_stride..][..N].copy_from_slice(&values);
        }
    }
    by_length!(len, fixed(dst, dst_stride, src, src_stride, count), {
        for r in 0..count {
            dst[r * dst_stride..][..len].copy_from_slice(&src[r * src_stride..][..len]);
        }
    })
}

/// [`copy_rows`] adding instead of copying: row `r` of `src` (at `r·src_stride`) is added onto
/// row `r` of `dst` (at `r·dst_stride`), `len` values each.
///
/// The two are written out separately on purpose: one loop taking the copy or the add as a
/// closure over slices of the fixed length made col2im's adds slower (W2's second convolution's
/// input gradient, 1.69 against 1.89 ms); the add wants the rows as fixed-size arrays.
#[inline(always)]
pub(crate) fn add_rows<E: Element>(
    dst: &mut [E],
    dst_stride: usize,
    src: &[E],
    src_stride: usize,
    count: usize,
    len: usize,
) {
    #[inline(always)]
    fn fixed<E: Element, const N: usize>(dst: &mut [E], dst_stride: usize, src: &[E], src_stride: usize, count: usize) {
        for r in 0..count {
            let dst: &mut [E; N] = (&mut dst[r * dst_stride..][..N]).try_into().expect("N values");
            let src: &[E; N] = src[r * src_stride..][..N].try_into().expect("N values");
            for k in 0..N {
                dst[k] = dst[k] + src[k];
            }
        }
    }
    by_length!(len, fixed(dst, dst_stride, src, src_stride, count), {
        for r in 0..count {
            let (dst, src) = (&mut dst[r * dst_stride..][..len], &src[r * src_stride..][..len]);
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = *d + s);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_copies_like_the_plain_loop() {
        for len in 0..=19 {
            let src: Vec<f32> = (0..len).map(|k| k as f32 + 0.5).collect();
            let mut copied = vec![-1.0f32; len];
            copy_short(&mut copied, &src);
            assert_eq!(copied, src, "length {len}");
        }
    }

    #[test]
    fn strided_rows_copy_and_add_like_the_plain_loops() {
        for len in 0..=19 {
            for count in [0, 1, 4] {
                let (src_stride, dst_stride) = (len + 3, len + 5);
                let src: Vec<f32> = (0..count * src_stride).map(|k| k as f32 + 0.5).collect();
                let mut got = vec![-1.0f32; count * dst_stride];
                copy_rows(&mut got, dst_stride, &src, src_stride, count, len);
                let mut want = vec![-1.0f32; count * dst_stride];
                for r in 0..count {
                    for k in 0..len {
                        want[r * dst_stride + k] = src[r * src_stride + k];
                    }
                }
                assert_eq!(got, want, "copy, length {len}, {count} rows");
                add_rows(&mut got, dst_stride, &src, src_stride, count, len);
                for r in 0..count {
                    for k in 0..len {
                        want[r * dst_stride + k] += src[r * src_stride + k];
                    }
                }
                assert_eq!(got, want, "add, length {len}, {count} rows");
            }
        }
    }
}
