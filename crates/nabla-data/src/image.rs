//! [`ImageSet`]: labelled images in memory, as the MNIST and CIFAR-10 loaders return them.
//!
//! | set | images | pixel values | labels |
//! |---|---|---|---|
//! | MNIST, Fashion-MNIST | `[N, 1, 28, 28]` f32 | `byte / 255` in `[0, 1]` | `0..10` |
//! | CIFAR-10 | `[N, 3, 32, 32]` f32 (R, G, B planes) | `byte / 255` in `[0, 1]` | `0..10` |
//!
//! Images use PyTorch's NCHW layout: sample, channel, row, column. A dense network wants one
//! vector per image instead: [`ImageSet::flattened`] gives the `[N, C·H·W]` view (no copy).

use nabla_tensor::Tensor;

use crate::dataset::{Targets, TensorDataset};
use crate::error::DataError;

/// Which part of a data set: the training part or the held-out test part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images (MNIST: 60,000).
    Train,
    /// The test images (MNIST: 10,000), for the final evaluation only.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Labelled images: `images` `[N, C, H, W]`, `labels` (one class index per image), and the
/// class names.
#[derive(Clone, Debug)]
pub struct ImageSet {
    images: Tensor,
    labels: Vec<usize>,
    class_names: Vec<String>,
}

impl ImageSet {
    /// Checks that `images` is `[N, C, H, W]`, that there are `N` labels, and that each label
    /// is below the number of class names.
    pub fn new(images: Tensor, labels: Vec<usize>, class_names: Vec<String>) -> Result<Self, DataError> {
        let shape = images.shape();
        if shape.len() != 4 {
            return Err(DataError::mismatch("ImageSet images", "shape [N, C, H, W]", format!("{shape:?}")));
        }
        if labels.len() != shape[0] {
            return Err(DataError::mismatch(
                "ImageSet labels",
                format!("{} labels (one per image)", shape[0]),
                labels.len().to_string(),
            ));
        }
        if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= class_names.len()) {
            return Err(DataError::mismatch(
                format!("ImageSet label of image {i}"),
                format!("a class below {}", class_names.len()),
                label.to_string(),
            ));
        }
        Ok(ImageSet { images, labels, class_names })
    }

    /// All images, `[N, C, H, W]`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// One class index per image.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The class names, indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of one image, `[C, H, W]`.
    pub fn image_shape(&self) -> &[usize] {
        &self.images.shape()[1..]
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }

    /// The images as vectors, `[N, C·H·W]` (a view of the same buffer).
    pub fn flattened(&self) -> Tensor {
        self.images.flatten_from(1)
    }

    /// The first `n` images (all of them if there are fewer): for quick experiments.
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        ImageSet {
            images: self.images.slice(0, 0, n, 1),
            labels: self.labels[..n].to_vec(),
            class_names: self.class_names.clone(),
        }
    }

    /// A classification dataset of the images `[N, C, H, W]` (for convolutional networks).
    pub fn into_dataset(self) -> TensorDataset {
        TensorDataset::new(self.images, Targets::Classes(self.labels))
    }

    /// A classification dataset of the flattened images `[N, C·H·W]` (for dense networks).
    pub fn into_flat_dataset(self) -> TensorDataset {
        TensorDataset::new(self.images.flatten_from(1), Targets::Classes(self.labels))
    }

    /// The images, labels and class names, taken apart.
    pub fn into_parts(self) -> (Tensor, Vec<usize>, Vec<String>) {
        (self.images, self.labels, self.class_names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;
    use nabla_tensor::DType;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn views_counts_and_datasets() {
        let set = ImageSet::new(Tensor::zeros(&[3, 1, 2, 2], DType::F32), vec![1, 0, 1], names(2)).unwrap();
        assert_eq!((set.len(), set.num_classes(), set.image_shape()), (3, 2, &[1usize, 2, 2][..]));
        assert_eq!(set.class_counts(), vec![1, 2]);
        assert_eq!(set.flattened().shape(), &[3, 4]);
        assert_eq!(set.take(2).labels(), &[1, 0]);
        assert_eq!(set.clone().into_flat_dataset().sample_shape(), &[4]);
        assert_eq!(set.into_dataset().get_batch(&[2]).labels(), &[1]);
    }

    #[test]
    fn inconsistent_parts_are_errors() {
        let img = || Tensor::zeros(&[2, 1, 2, 2], DType::F32);
        assert!(ImageSet::new(Tensor::zeros(&[2, 4], DType::F32), vec![0, 0], names(1)).is_err());
        assert!(ImageSet::new(img(), vec![0], names(1)).is_err());
        let err = ImageSet::new(img(), vec![0, 3], names(2)).unwrap_err();
        assert_eq!(err.to_string(), "ImageSet label of image 1: expected a class below 2, found 3");
    }
}
