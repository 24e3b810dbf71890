//! Transforms: functions a [`DataLoader`](crate::DataLoader) applies to each batch.
//!
//! A [`Transform`] takes a [`Batch`] and a random generator and returns a new batch. The
//! loader derives the generator from `(seed, epoch, batch index)` (see [`seed`](crate::seed)),
//! so a random crop of batch 17 in epoch 3 is the same in every run, whichever thread made it.
//!
//! | transform | inputs | effect |
//! |---|---|---|
//! | [`Normalize`] | `[B, C, ...]` | `(x − mean_c) / std_c` per channel `c` (axis 1) |
//! | [`OneHot`] | any | class targets → `[B, classes]` one-hot tensor |
//! | [`RandomCrop`] | `[B, C, H, W]` | zero-pad by `p`, cut a random `h × w` window per sample |
//! | [`RandomHorizontalFlip`] | `[B, ..., W]` | mirror each sample left–right with probability `p` |
//! | [`Compose`] | | apply several in order |
//!
//! Any closure `Fn(Batch, &mut Rng) -> Batch` is a transform too.
//!
//! Data augmentation (crop, flip) belongs to the training loader only; apply it *before*
//! `Normalize`, so that the padding is black (0) as in the usual CIFAR-10 recipe:
//!
//! ```
//! use nabla_data::{Compose, Normalize, RandomCrop, RandomHorizontalFlip, Transform, Batch, Targets};
//! use nabla_tensor::{rng, DType, Tensor};
//! let augment = Compose::new()
//!     .with(RandomCrop::new(32, 4))
//!     .with(RandomHorizontalFlip::new(0.5))
//!     .with(Normalize::cifar10());
//! let batch = Batch { inputs: Tensor::ones(&[8, 3, 32, 32], DType::F32), targets: Targets::Classes(vec![0; 8]) };
//! let out = augment.apply(batch, &mut rng(0));
//! assert_eq!(out.inputs.shape(), &[8, 3, 32, 32]);
//! ```

use nabla_tensor::ndarray::{ArrayD, ArrayViewD, IxDyn};
use nabla_tensor::{DType, Element, Rng, Tensor};
use rand::Rng as _;

use crate::dataset::{Batch, Targets};

/// A function from batch to batch, possibly random (drawing only from `rng`).
///
/// Transforms run on the loader's prefetch thread, hence `Send + Sync`. Shape mistakes (a crop
/// larger than the padded image, a channel count that does not match) are programming errors
/// and panic with a message naming the transform and the shapes.
pub trait Transform: Send + Sync {
    /// The transformed batch.
    fn apply(&self, batch: Batch, rng: &mut Rng) -> Batch;
}

impl<F> Transform for F
where
    F: Fn(Batch, &mut Rng) -> Batch + Send + Sync,
{
    fn apply(&self, batch: Batch, rng: &mut Rng) -> Batch {
        self(batch, rng)
    }
}

/// Several transforms applied in order, all drawing from the same generator.
#[derive(Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// No transforms yet (the identity).
    pub fn new() -> Self {
        Compose::default()
    }

    /// This composition followed by `step`.
    pub fn with(mut self, step: impl Transform + 'static) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Transform for Compose {
    fn apply(&self, batch: Batch, rng: &mut Rng) -> Batch {
        self.steps.iter().fold(batch, |b, step| step.apply(b, rng))
    }
}

/// Per-channel standardisation: `x[b, c, ...] ← (x[b, c, ...] − mean[c]) / std[c]`.
///
/// Channels are axis 1: colour planes of `[B, C, H, W]` images, or the features of `[B, F]`
/// tables. A single mean/std applies to every channel. Centred, unit-scale inputs keep the
/// first layer's pre-activations in the range its initialisation assumes.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Normalize {
    /// Statistics given per channel (or one value for all).
    ///
    /// # Panics
    /// If the lengths differ, are zero, or a `std` is not positive and finite.
    #[track_caller]
    pub fn new(mean: &[f64], std: &[f64]) -> Self {
        assert!(
            !mean.is_empty() && mean.len() == std.len(),
            "Normalize::new: mean has {} values and std {}; give one per channel (the same number)",
            mean.len(),
            std.len()
        );
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            panic!("Normalize::new: every std must be positive and finite, found {s}");
        }
        Normalize { mean: mean.to_vec(), std: std.to_vec() }
    }

    /// MNIST's training-set statistics: mean 0.1307, std 0.3081 (pixels in [0, 1]).
    pub fn mnist() -> Self {
        Normalize::new(&[0.1307], &[0.3081])
    }

    /// Fashion-MNIST's training-set statistics: mean 0.2860, std 0.3530.
    pub fn fashion_mnist() -> Self {
        Normalize::new(&[0.2860], &[0.3530])
    }

    /// CIFAR-10's training-set statistics per channel (R, G, B).
    pub fn cifar10() -> Self {
        Normalize::new(&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616])
    }

    /// The per-channel mean and (population) standard deviation of `inputs` `[N, C, ...]`,
    /// over every axis but 1. A constant channel (std 0) gets std 1, so it is only centred.
    #[track_caller]
    pub fn fit(inputs: &Tensor) -> Self {
        assert!(inputs.ndim() >= 2, "Normalize::fit: inputs of shape {:?} have no channel axis 1", inputs.shape());
        let axes: Vec<usize> = (0..inputs.ndim()).filter(|&a| a != 1).collect();
        let x = inputs.to_dtype(DType::F64);
        let mean = x.mean_axes(&axes, false).to_vec_f64();
        let std = x
            .var_axes(&axes, false, 0)
            .to_vec_f64()
            .into_iter()
            .map(|v| if v.sqrt() > 1e-12 && v.is_finite() { v.sqrt() } else { 1.0 })
            .collect::<Vec<_>>();
        Normalize::new(&mean, &std)
    }

    /// The per-channel means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The per-channel standard deviations.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Normalises a tensor `[N, C, ...]` (the same arithmetic as [`Transform::apply`]).
    #[track_caller]
    pub fn normalize(&self, inputs: &Tensor) -> Tensor {
        let shape = inputs.shape();
        assert!(shape.len() >= 2, "Normalize: inputs of shape {shape:?} have no channel axis 1");
        let channels = self.mean.len();
        assert!(
            channels == 1 || channels == shape[1],
            "Normalize: {channels} channel statistics for inputs of shape {shape:?} (axis 1 has {})",
            shape[1]
        );
        let mut stat_shape = vec![1; shape.len()];
        stat_shape[1] = channels;
        let mean = Tensor::from_f64s(&self.mean, &stat_shape, inputs.dtype());
        let std = Tensor::from_f64s(&self.std, &stat_shape, inputs.dtype());
        inputs.sub(&mean).div(&std)
    }
}

impl Transform for Normalize {
    fn apply(&self, batch: Batch, _rng: &mut Rng) -> Batch {
        Batch { inputs: self.normalize(&batch.inputs), targets: batch.targets }
    }
}

/// Class targets → one-hot rows: label `y` becomes `[0, …, 1 (at y), …, 0]`, `[B, classes]`,
/// in the dtype of the inputs. For losses that take probability targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneHot {
    classes: usize,
}

impl OneHot {
    /// One-hot rows of length `classes`.
    pub fn new(classes: usize) -> Self {
        OneHot { classes }
    }
}

impl Transform for OneHot {
    #[track_caller]
    fn apply(&self, batch: Batch, _rng: &mut Rng) -> Batch {
        let labels = match &batch.targets {
            Targets::Classes(labels) => labels,
            Targets::Tensor(t) => panic!("OneHot: the targets are already a tensor of shape {:?}", t.shape()),
        };
        let one_hot = match Tensor::try_one_hot(labels, self.classes, batch.inputs.dtype()) {
            Ok(t) => t,
            Err(e) => panic!("OneHot: {}", e.reason),
        };
        Batch { inputs: batch.inputs, targets: Targets::Tensor(one_hot) }
    }
}

/// Random crop with zero padding, per sample: `[B, C, H, W]` → `[B, C, h, w]`.
///
/// Each image is padded with `padding` zeros on every side (`H + 2p` × `W + 2p`), and an
/// `h × w` window is cut at an offset `(dy, dx)` drawn uniformly from `0..=H + 2p − h` and
/// `0..=W + 2p − w`. The model sees each training image shifted by up to `p` pixels, which
/// teaches it that a shifted object is the same object. CIFAR-10's standard is `(32, 4)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    padding: usize,
}

impl RandomCrop {
    /// A square `size × size` crop after padding by `padding`.
    pub fn new(size: usize, padding: usize) -> Self {
        RandomCrop { height: size, width: size, padding }
    }

    /// A `height × width` crop after padding by `padding`.
    pub fn rect(height: usize, width: usize, padding: usize) -> Self {
        RandomCrop { height, width, padding }
    }
}

fn crop<E: Element>(x: ArrayViewD<'_, E>, out_hw: [usize; 2], pad: usize, offsets: &[(usize, usize)]) -> ArrayD<E> {
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let [oh, ow] = out_hw;
    let x = x.as_standard_layout();
    let src = x.as_slice().expect("standard layout is contiguous");
    let mut out = vec![E::zero(); n * c * oh * ow];
    for (sample, &(dy, dx)) in offsets.iter().enumerate() {
        // Output column j reads input column j + dx − pad; keep the j where that is in 0..w.
        let j_lo = pad.saturating_sub(dx).min(ow);
        let j_hi = (w + pad).saturating_sub(dx).min(ow).max(j_lo);
        for ch in 0..c {
            let plane_in = (sample * c + ch) * h * w;
            let plane_out = (sample * c + ch) * oh * ow;
            for i in 0..oh {
                let row = (i + dy) as isize - pad as isize;
                if row < 0 || row as usize >= h || j_lo == j_hi {
                    continue; // a padding row: stays zero
                }
                let start_in = plane_in + row as usize * w + (j_lo + dx - pad);
                let start_out = plane_out + i * ow + j_lo;
                out[start_out..start_out + (j_hi - j_lo)].copy_from_slice(&src[start_in..start_in + (j_hi - j_lo)]);
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, c, oh, ow]), out).expect("length is n·c·oh·ow")
}

impl Transform for RandomCrop {
    #[track_caller]
    fn apply(&self, batch: Batch, rng: &mut Rng) -> Batch {
        let shape = batch.inputs.shape().to_vec();
        assert!(shape.len() == 4, "RandomCrop: expected images [B, C, H, W], got inputs of shape {shape:?}");
        let (h, w, p) = (shape[2], shape[3], self.padding);
        assert!(
            self.height <= h + 2 * p && self.width <= w + 2 * p,
            "RandomCrop: a {}×{} crop does not fit in {h}×{w} images padded by {p} (shape {shape:?})",
            self.height,
            self.width
        );
        let offsets: Vec<(usize, usize)> = (0..shape[0])
            .map(|_| {
                let dy = rng.random_range(0..=h + 2 * p - self.height);
                let dx = rng.random_range(0..=w + 2 * p - self.width);
                (dy, dx)
            })
            .collect();
        let hw = [self.height, self.width];
        let inputs = match batch.inputs.dtype() {
            DType::F32 => Tensor::from_array(crop(batch.inputs.view::<f32>(), hw, p, &offsets)),
            DType::F64 => Tensor::from_array(crop(batch.inputs.view::<f64>(), hw, p, &offsets)),
        };
        Batch { inputs, targets: batch.targets }
    }
}

/// Mirrors each sample left–right (reverses its last axis) with probability `p`.
///
/// For `[B, C, H, W]` images this flips the width; a cat facing left is still a cat. (Do not
/// use it on digits or text: a mirrored 3 is not a 3.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    /// Flip each sample with probability `p` (0.5 is the usual choice).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn new(p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "RandomHorizontalFlip::new: probability {p} must be in [0, 1]");
        RandomHorizontalFlip { p }
    }
}

fn flip_rows<E: Element>(x: ArrayViewD<'_, E>, flip: &[bool]) -> ArrayD<E> {
    let mut out = x.as_standard_layout().into_owned();
    let shape = out.shape().to_vec();
    let width = shape[shape.len() - 1];
    let per_sample: usize = shape[1..].iter().product();
    let data = out.as_slice_mut().expect("standard layout is contiguous");
    if width > 0 && per_sample > 0 {
        for (sample, chunk) in data.chunks_mut(per_sample).enumerate() {
            if flip[sample] {
                chunk.chunks_mut(width).for_each(<[E]>::reverse);
            }
        }
    }
    out
}

impl Transform for RandomHorizontalFlip {
    #[track_caller]
    fn apply(&self, batch: Batch, rng: &mut Rng) -> Batch {
        let shape = batch.inputs.shape();
        assert!(shape.len() >= 2, "RandomHorizontalFlip: inputs of shape {shape:?} have no axis to flip");
        let flip: Vec<bool> = (0..shape[0]).map(|_| rng.random::<f64>() < self.p).collect();
        let inputs = match batch.inputs.dtype() {
            DType::F32 => Tensor::from_array(flip_rows(batch.inputs.view::<f32>(), &flip)),
            DType::F64 => Tensor::from_array(flip_rows(batch.inputs.view::<f64>(), &flip)),
        };
        Batch { inputs, targets: batch.targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_tensor::rng;

    fn images(n: usize, c: usize, h: usize, w: usize) -> Batch {
        let values: Vec<f32> = (0..n * c * h * w).map(|v| v as f32 + 1.0).collect();
        Batch { inputs: Tensor::from_vec(values, &[n, c, h, w]), targets: Targets::Classes(vec![1; n]) }
    }

    #[test]
    fn normalize_per_channel_and_fit() {
        let x = Tensor::from_vec(vec![1.0f32, 3.0, 10.0, 30.0, 1.0, 3.0, 10.0, 30.0], &[2, 2, 2]);
        let b = Batch { inputs: x.clone(), targets: Targets::Classes(vec![0, 0]) };
        let out = Normalize::new(&[2.0, 20.0], &[1.0, 10.0]).apply(b, &mut rng(0));
        assert_eq!(out.inputs.to_vec_f32(), vec![-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]);
        let fitted = Normalize::fit(&x);
        assert_eq!(fitted.mean(), &[2.0, 20.0]);
        assert_eq!(fitted.std(), &[1.0, 10.0]);
        // A constant feature is centred, not divided by zero.
        let table = Tensor::from_vec(vec![5.0f32, 1.0, 5.0, 3.0], &[2, 2]);
        let n = Normalize::fit(&table);
        assert_eq!(n.normalize(&table).to_vec_f32(), vec![0.0, -1.0, 0.0, 1.0]);
        // One statistic for every channel.
        let all = Normalize::mnist().normalize(&Tensor::full(&[1, 1, 2, 2], 0.1307, DType::F32));
        assert!(all.to_vec_f32().iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    #[should_panic(expected = "3 channel statistics for inputs of shape [1, 2, 2]")]
    fn normalize_with_wrong_channels_panics_clearly() {
        let _ = Normalize::cifar10().normalize(&Tensor::zeros(&[1, 2, 2], DType::F32));
    }

    #[test]
    fn one_hot_turns_classes_into_rows() {
        let b = Batch { inputs: Tensor::zeros(&[3, 1], DType::F64), targets: Targets::Classes(vec![2, 0, 1]) };
        let out = OneHot::new(3).apply(b, &mut rng(0));
        let t = out.target_tensor();
        assert_eq!(t.shape(), &[3, 3]);
        assert_eq!(t.dtype(), DType::F64);
        assert_eq!(t.to_vec_f32(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn crop_without_padding_at_full_size_is_identity_and_windows_come_from_the_padded_image() {
        let b = images(2, 3, 4, 5);
        let same = RandomCrop::rect(4, 5, 0).apply(b.clone(), &mut rng(1));
        assert_eq!(same.inputs.to_vec_f32(), b.inputs.to_vec_f32());

        // With padding, every output window must equal some window of the zero-padded input.
        let cropped = RandomCrop::rect(3, 3, 2).apply(b.clone(), &mut rng(2));
        assert_eq!(cropped.inputs.shape(), &[2, 3, 3, 3]);
        let (h, w, p) = (4isize, 5isize, 2isize);
        for n in 0..2 {
            let found = (0..=(h + 2 * p - 3)).any(|dy| {
                (0..=(w + 2 * p - 3)).any(|dx| {
                    (0..3).all(|c| {
                        (0..3).all(|i| {
                            (0..3).all(|j| {
                                let (r, col) = (i + dy - p, j + dx - p);
                                let expected = if (0..h).contains(&r) && (0..w).contains(&col) {
                                    b.inputs.get(&[n, c, r as usize, col as usize])
                                } else {
                                    0.0
                                };
                                cropped.inputs.get(&[n, c, i as usize, j as usize]) == expected
                            })
                        })
                    })
                })
            });
            assert!(found, "sample {n} is not a window of the padded image");
        }
        // Same generator state, same crops; the f64 path agrees with the f32 one.
        let again = RandomCrop::rect(3, 3, 2).apply(b.clone(), &mut rng(2));
        assert_eq!(again.inputs.to_vec_f32(), cropped.inputs.to_vec_f32());
        let b64 = Batch { inputs: b.inputs.to_dtype(DType::F64), targets: b.targets.clone() };
        let c64 = RandomCrop::rect(3, 3, 2).apply(b64, &mut rng(2));
        assert_eq!(c64.inputs.to_vec_f32(), cropped.inputs.to_vec_f32());
    }

    #[test]
    fn crop_of_all_padding_is_zero() {
        // 1×1 crop from a 1×1 image padded by 3: most offsets land in the padding.
        let b = images(64, 1, 1, 1);
        let out = RandomCrop::new(1, 3).apply(b, &mut rng(0)).inputs.to_vec_f32();
        let zeros = out.iter().filter(|&&v| v == 0.0).count();
        assert!(zeros > 40 && zeros < 64, "{zeros} of 64 crops hit the padding (expected about 48)");
    }

    #[test]
    fn flips_reverse_rows_of_some_samples() {
        let b = images(200, 1, 2, 3);
        let out = RandomHorizontalFlip::new(0.5).apply(b.clone(), &mut rng(3));
        let mut flipped = 0;
        for n in 0..200 {
            let original: Vec<f64> = (0..6).map(|k| b.inputs.get(&[n, 0, k / 3, k % 3])).collect();
            let got: Vec<f64> = (0..6).map(|k| out.inputs.get(&[n, 0, k / 3, k % 3])).collect();
            let mirrored: Vec<f64> = (0..6).map(|k| original[(k / 3) * 3 + 2 - k % 3]).collect();
            if got == mirrored {
                flipped += 1;
            } else {
                assert_eq!(got, original);
            }
        }
        assert!((70..130).contains(&flipped), "{flipped} of 200 flipped");
        let never = RandomHorizontalFlip::new(0.0).apply(b.clone(), &mut rng(3));
        assert_eq!(never.inputs.to_vec_f32(), b.inputs.to_vec_f32());
    }

    #[test]
    fn compose_and_closures_apply_in_order() {
        let double = |b: Batch, _: &mut Rng| Batch { inputs: b.inputs.mul_scalar(2.0), targets: b.targets };
        let t = Compose::new().with(double).with(Normalize::new(&[1.0], &[2.0]));
        assert_eq!(t.len(), 2);
        let b = Batch { inputs: Tensor::from_vec(vec![3.0f32], &[1, 1]), targets: Targets::Classes(vec![0]) };
        assert_eq!(t.apply(b, &mut rng(0)).inputs.to_vec_f32(), vec![2.5]);
        assert!(Compose::new().is_empty());
    }
}
