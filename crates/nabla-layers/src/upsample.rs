//! Upsampling (Keras: UpSampling2D, PyTorch: Upsample): enlarges NCHW images by whole factors.
//!
//! | tensor | shape |
//! |---|---|
//! | input `x` | `[n, c, h, w]` |
//! | output `y` | `[n, c, sh·h, sw·w]` for `scale = [sh, sw]` |
//!
//! Each output pixel `(i, j)` reads the input at a source position computed separately along
//! each axis, so resizing a channel plane `X` (`h × w`) is two matrix products
//!
//! ```text
//! Y = A_h · X · A_wᵀ        A_h: [sh·h, h],  A_w: [sw·w, w]
//! ```
//!
//! where row `i` of `A` holds the weights output `i` gives the input pixels:
//!
//! | mode | source of output `i` (scale `s`) | row `i` of `A` |
//! |---|---|---|
//! | [`Nearest`](UpsampleMode::Nearest) | `⌊i / s⌋` | a single 1: each pixel repeated `s` times |
//! | [`Bilinear`](UpsampleMode::Bilinear) | `u = max((i + ½)/s − ½, 0)` | `1 − λ` at `⌊u⌋`, `λ = u − ⌊u⌋` at `min(⌊u⌋ + 1, len − 1)` |
//!
//! Bilinear is PyTorch's `align_corners=False`: pixel centres, not corners, are aligned, and
//! positions past the edge repeat the edge pixel. Nearest is computed by selecting rows and
//! columns (`index_select` with repeated indices) rather than by a product with a 0/1 matrix.
//! Both are linear in `x`, so the gradient is the transposed map (`A_hᵀ · Ȳ · A_w`), which the
//! autograd ops used here provide.
//!
//! ```
//! use nabla_autograd::Var;
//! use nabla_layers::{Module, Upsample2d, UpsampleMode};
//! use nabla_tensor::Tensor;
//! let x = Var::constant(Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
//! let y = Upsample2d::new([2, 2]).with_mode(UpsampleMode::Bilinear).forward(&x);
//! assert_eq!(y.shape(), vec![1, 1, 4, 4]);
//! assert_eq!(y.value().to_vec_f32()[..4], [1.0, 1.25, 1.75, 2.0]);
//! ```

use nabla_autograd::Var;
use nabla_tensor::{DType, Tensor};

use crate::module::{Module, Visitor};

/// How [`Upsample2d`] fills the new pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpsampleMode {
    /// Repeat each pixel (Keras' default).
    #[default]
    Nearest,
    /// Interpolate linearly between the two nearest pixel centres along each axis
    /// (PyTorch's `align_corners=False`).
    Bilinear,
}

/// Upsampling by whole factors; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upsample2d {
    /// Factors `[sh, sw]` along the height and the width.
    pub scale: [usize; 2],
    /// How new pixels are filled.
    pub mode: UpsampleMode,
}

impl Upsample2d {
    /// Nearest-neighbour upsampling by `scale = [sh, sw]`.
    pub fn new(scale: [usize; 2]) -> Self {
        Upsample2d { scale, mode: UpsampleMode::Nearest }
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: UpsampleMode) -> Self {
        self.mode = mode;
        self
    }
}

/// For output position `i` of an axis upsampled `scale` times from `len` pixels, the two input
/// pixels and the weight of the second: PyTorch's `align_corners=False` bilinear rule.
fn bilinear_taps(i: usize, len: usize, scale: usize) -> (usize, usize, f64) {
    let source = ((i as f64 + 0.5) / scale as f64 - 0.5).max(0.0);
    let low = (source.floor() as usize).min(len - 1);
    let high = (low + 1).min(len - 1);
    (low, high, source - low as f64)
}

/// The bilinear interpolation matrix `A` (`[scale·len, len]`) of one axis, as a tensor of
/// `dtype`; `transposed` gives `Aᵀ` (`[len, scale·len]`).
fn bilinear_matrix(len: usize, scale: usize, transposed: bool, dtype: DType) -> Tensor {
    let out = scale * len;
    let mut a = vec![0.0; out * len];
    for i in 0..out {
        let (low, high, lambda) = bilinear_taps(i, len, scale);
        let mut put = |j: usize, weight: f64| {
            let at = if transposed { j * out + i } else { i * len + j };
            a[at] += weight;
        };
        put(low, 1.0 - lambda);
        put(high, lambda);
    }
    let shape = if transposed { [len, out] } else { [out, len] };
    Tensor::from_f64s(&a, &shape, dtype)
}

impl Module for Upsample2d {
    #[track_caller]
    fn forward(&self, input: &Var) -> Var {
        let shape = input.shape();
        assert!(shape.len() == 4, "Upsample2d: expected input [n, c, h, w] but received {shape:?}");
        let [sh, sw] = self.scale;
        assert!(sh > 0 && sw > 0, "Upsample2d: scale {:?} must be positive", self.scale);
        let (h, w) = (shape[2], shape[3]);
        if h == 0 || w == 0 {
            return input.reshape(&[shape[0], shape[1], sh * h, sw * w]);
        }
        match self.mode {
            UpsampleMode::Nearest => {
                let rows: Vec<usize> = (0..sh * h).map(|i| i / sh).collect();
                let columns: Vec<usize> = (0..sw * w).map(|j| j / sw).collect();
                input.index_select(2, &rows).index_select(3, &columns)
            }
            UpsampleMode::Bilinear => {
                let a_h = Var::constant(bilinear_matrix(h, sh, false, input.dtype()));
                let a_w_t = Var::constant(bilinear_matrix(w, sw, true, input.dtype()));
                a_h.matmul(&input.matmul(&a_w_t))
            }
        }
    }

    fn kind(&self) -> &'static str {
        "Upsample2d"
    }

    fn visit(&self, _visitor: &mut Visitor<'_>) {}

    /// Nearest copies (0). Bilinear costs its two matrix products:
    /// `2·n·c·h·w·ow + 2·n·c·oh·h·ow` for an output `[n, c, oh, ow]`.
    fn flops(&self, input_shape: &[usize], output_shape: &[usize]) -> u64 {
        match (self.mode, input_shape, output_shape) {
            (UpsampleMode::Bilinear, &[n, c, h, w], &[_, _, oh, ow]) => (2 * n * c * ow * (h * w + oh * h)) as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_rows_sum_to_one_and_match_pytorch() {
        let a = bilinear_matrix(2, 3, false, DType::F64).to_vec_f64();
        #[rustfmt::skip]
        let expected = [
            1.0, 0.0,
            1.0, 0.0,
            2.0 / 3.0, 1.0 / 3.0,
            1.0 / 3.0, 2.0 / 3.0,
            0.0, 1.0,
            0.0, 1.0,
        ];
        for (got, want) in a.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{a:?}");
        }
        let t = bilinear_matrix(5, 2, true, DType::F64);
        assert_eq!(t.shape(), &[5, 10]);
        let v = t.to_vec_f64();
        for i in 0..10 {
            let column: f64 = (0..5).map(|j| v[j * 10 + i]).sum();
            assert!((column - 1.0).abs() < 1e-12);
        }
    }
}
