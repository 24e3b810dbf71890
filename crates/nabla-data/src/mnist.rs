//! MNIST and Fashion-MNIST: 70,000 grey 28×28 images in 10 classes, in [IDX](crate::idx) files.
//!
//! | set | train | test | classes | in this repository |
//! |---|---|---|---|---|
//! | MNIST (LeCun, Cortes) | 60,000 | 10,000 | digits 0–9 | yes, `data/mnist/` |
//! | Fashion-MNIST (Zalando) | 60,000 | 10,000 | T-shirt/top, Trouser, … ([`FASHION_CLASSES`]) | no: `NABLA_DATA` |
//!
//! Each split is two files in one folder (the `.gz` may be absent; a raw file works too):
//!
//! | file | magic | content |
//! |---|---|---|
//! | `train-images-idx3-ubyte.gz` | `0x00000803` | `[60000, 28, 28]` pixels, 0 = background, 255 = ink |
//! | `train-labels-idx1-ubyte.gz` | `0x00000801` | `[60000]` labels 0–9 |
//! | `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz` | | the 10,000 test images |
//!
//! The loaders return an [`ImageSet`]: images `[N, 1, 28, 28]` as `f32` in `[0, 1]` (byte / 255)
//! and labels as class indices. The training pixels have mean 0.1307 and standard deviation
//! 0.3081 ([`Normalize::mnist`](crate::Normalize::mnist)).
//!
//! ```
//! use nabla_data::{mnist, Split};
//! let test = mnist::load(Split::Test)?; // from NABLA_DATA, or this repository's data/mnist
//! assert_eq!(test.images().shape(), &[10000, 1, 28, 28]);
//! assert_eq!(test.labels()[0], 7);
//! # Ok::<(), nabla_data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use nabla_tensor::Tensor;

use crate::error::DataError;
use crate::idx::{parse_idx, IdxArray};
use crate::image::{ImageSet, Split};
use crate::locate::{first_existing, Availability, SetInfo};
use crate::reader::DataReader;

/// MNIST's class names: the digits `"0"` to `"9"`.
pub const DIGIT_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST's class names, indexed by label.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Where MNIST is looked for (see [`locate`](crate::locate)).
pub const MNIST_SET: SetInfo =
    SetInfo { name: "MNIST", folders: &["mnist"], availability: Availability::InRepository, extra_hint: "" };

/// Where Fashion-MNIST is looked for.
pub const FASHION_SET: SetInfo = SetInfo {
    name: "Fashion-MNIST",
    folders: &["fashion-mnist"],
    availability: Availability::External,
    extra_hint: "It is also in the Debian package dataset-fashion-mnist (usr/share/datasets/fashion-mnist/).",
};

/// The file names accepted for one split's images or labels, preferred first.
fn file_names(split: Split, what: &str) -> Vec<String> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let rank = if what == "images" { 3 } else { 1 };
    vec![
        format!("{prefix}-{what}-idx{rank}-ubyte.gz"),
        format!("{prefix}-{what}-idx{rank}-ubyte"),
        format!("{prefix}-{what}.idx{rank}-ubyte.gz"),
        format!("{prefix}-{what}.idx{rank}-ubyte"),
    ]
}

/// MNIST `split`, from `NABLA_DATA` or this repository's `data/mnist/`.
pub fn load(split: Split) -> Result<ImageSet, DataError> {
    load_set(&MNIST_SET, &DIGIT_CLASSES, None, split)
}

/// MNIST `split` from the folder `dir` (which holds the IDX files).
pub fn load_from(dir: impl AsRef<Path>, split: Split) -> Result<ImageSet, DataError> {
    load_set(&MNIST_SET, &DIGIT_CLASSES, Some(dir.as_ref()), split)
}

/// Fashion-MNIST `split`, from `NABLA_DATA` (a folder containing `fashion-mnist/`).
pub fn load_fashion(split: Split) -> Result<ImageSet, DataError> {
    load_set(&FASHION_SET, &FASHION_CLASSES, None, split)
}

/// Fashion-MNIST `split` from the folder `dir`.
pub fn load_fashion_from(dir: impl AsRef<Path>, split: Split) -> Result<ImageSet, DataError> {
    load_set(&FASHION_SET, &FASHION_CLASSES, Some(dir.as_ref()), split)
}

fn load_set(info: &SetInfo, classes: &[&str], dir: Option<&Path>, split: Split) -> Result<ImageSet, DataError> {
    let image_names = file_names(split, "images");
    let label_names = file_names(split, "labels");
    let what = |kind: &str| format!("{} {} {kind}", info.name, split.name());
    let dir: PathBuf = match dir {
        Some(dir) => dir.to_path_buf(),
        None => info.find_dir(&what("images"), &image_names, |d| first_existing(d, &image_names).is_some())?,
    };
    let find = |names: &[String], kind: &str| {
        first_existing(&dir, names).ok_or_else(|| DataError::NotFound {
            what: what(kind),
            names: names.to_vec(),
            tried: vec![dir.clone()],
            hint: info.hint(),
        })
    };
    let image_path = find(&image_names, "images")?;
    let label_path = find(&label_names, "labels")?;
    let images = read_images(&image_path)?;
    let labels = read_labels(&label_path, classes.len())?;
    if labels.len() != images.shape()[0] {
        return Err(DataError::invalid(
            &label_path,
            "label count",
            format!("{} (the number of images in {})", images.shape()[0], image_path.display()),
            labels.len().to_string(),
        ));
    }
    ImageSet::new(images, labels, classes.iter().map(|c| c.to_string()).collect())
}

/// Reads an IDX image file (raw or gzip) into `[N, 1, rows, cols]` f32 pixels in `[0, 1]`.
pub fn read_images(path: &Path) -> Result<Tensor, DataError> {
    images_from_idx(parse_idx(DataReader::open(path)?, 3)?)
}

/// Reads an IDX label file (raw or gzip); every label must be below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<usize>, DataError> {
    labels_from_idx(parse_idx(DataReader::open(path)?, 1)?, path, classes)
}

/// [`read_images`] on bytes in memory; `path` names them in errors.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Tensor, DataError> {
    images_from_idx(parse_idx(DataReader::new(bytes, path)?, 3)?)
}

/// [`read_labels`] on bytes in memory; `path` names them in errors.
pub fn parse_labels(bytes: &[u8], path: &Path, classes: usize) -> Result<Vec<usize>, DataError> {
    labels_from_idx(parse_idx(DataReader::new(bytes, path)?, 1)?, path, classes)
}

fn images_from_idx(idx: IdxArray) -> Result<Tensor, DataError> {
    let [n, rows, cols] = [idx.dims[0], idx.dims[1], idx.dims[2]];
    let pixels: Vec<f32> = idx.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(Tensor::from_vec(pixels, &[n, 1, rows, cols]))
}

fn labels_from_idx(idx: IdxArray, path: &Path, classes: usize) -> Result<Vec<usize>, DataError> {
    if let Some((i, &label)) = idx.data.iter().enumerate().find(|(_, &l)| usize::from(l) >= classes) {
        return Err(DataError::invalid(
            path,
            format!("label of item {i}"),
            format!("a class below {classes}"),
            label.to_string(),
        ));
    }
    Ok(idx.data.iter().map(|&l| usize::from(l)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    #[test]
    fn small_files_decode_to_nchw_in_unit_range() {
        let bytes = encode_idx(&[2, 2, 3], &[0, 255, 51, 0, 0, 0, 1, 2, 3, 4, 5, 255]);
        let images = parse_images(&bytes, Path::new("i")).unwrap();
        assert_eq!(images.shape(), &[2, 1, 2, 3]);
        assert_eq!(&images.to_vec_f32()[..3], &[0.0, 1.0, 0.2]);
        let labels = parse_labels(&encode_idx(&[3], &[9, 0, 4]), Path::new("l"), 10).unwrap();
        assert_eq!(labels, vec![9, 0, 4]);
    }

    #[test]
    fn a_label_out_of_range_is_named() {
        let err = parse_labels(&encode_idx(&[3], &[9, 10, 4]), Path::new("l.idx"), 10).unwrap_err();
        assert_eq!(err.to_string(), "l.idx: label of item 1: expected a class below 10, found 10");
    }

    #[test]
    fn mismatched_counts_and_missing_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("nabla-mnist-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = load_from(&dir, Split::Test).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("MNIST test images not found: looked for t10k-images-idx3-ubyte.gz"), "{text}");
        assert!(text.contains(&dir.display().to_string()) && text.contains("data/mnist/"), "{text}");

        std::fs::write(dir.join("t10k-images-idx3-ubyte"), encode_idx(&[2, 1, 1], &[0, 1])).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), encode_idx(&[3], &[0, 1, 2])).unwrap();
        let err = load_from(&dir, Split::Test).unwrap_err();
        let images = dir.join("t10k-images-idx3-ubyte");
        let want = format!("label count: expected 2 (the number of images in {}), found 3", images.display());
        assert!(err.to_string().ends_with(&want), "{err}");
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), encode_idx(&[2], &[3, 1])).unwrap();
        let set = load_fashion_from(&dir, Split::Test).unwrap();
        assert_eq!(set.class_names()[3], "Dress");
        assert_eq!(set.labels(), &[3, 1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
