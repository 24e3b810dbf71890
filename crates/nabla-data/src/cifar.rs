//! CIFAR-10: 32×32 colour photos in 10 classes, in the "binary version" batch files.
//!
//! A batch file is a plain sequence of records with no header. Each record is 3,073 bytes:
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 1 | the label, 0–9 |
//! | 1 | 1024 | the red plane, 32 rows of 32 pixels |
//! | 1025 | 1024 | the green plane |
//! | 2049 | 1024 | the blue plane |
//!
//! So the planes are already in NCHW order and a record maps straight to `[3, 32, 32]`. The
//! official set has five training files `data_batch_1.bin` … `data_batch_5.bin` (10,000 records
//! each) and `test_batch.bin`; this loader takes *every* `data_batch*.bin` (or `test_batch*.bin`)
//! in the folder, in natural order (`_2` before `_10`), so subsets such as
//! `data_batch_1_first4000.bin` work too. Class names come from `batches.meta.txt` (one per
//! line) when the folder has it.
//!
//! | split | images | labels |
//! |---|---|---|
//! | any | `[N, 3, 32, 32]` f32, byte / 255 in `[0, 1]` | `N` class indices |
//!
//! CIFAR-10 is not in this repository (its license does not allow it); point `NABLA_DATA` at a
//! folder containing `cifar10-subset/` or `cifar-10-batches-bin/`.
//!
//! Cite: A. Krizhevsky, *Learning Multiple Layers of Features from Tiny Images*, 2009.

use std::path::{Path, PathBuf};

use nabla_tensor::Tensor;

use crate::error::DataError;
use crate::image::{ImageSet, Split};
use crate::locate::{Availability, SetInfo};
use crate::reader::read_file;

/// Bytes per image: 3 planes of 32 × 32.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes per record: the label byte and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The largest batch file accepted (1 GiB; an official batch is 30 MB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The CIFAR-10 class names, indexed by label (used when there is no `batches.meta.txt`).
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Where CIFAR-10 is looked for (see [`locate`](crate::locate)).
pub const CIFAR10_SET: SetInfo = SetInfo {
    name: "CIFAR-10",
    folders: &["cifar10-subset", "cifar-10-batches-bin", "cifar10"],
    availability: Availability::External,
    extra_hint: "",
};

fn prefix(split: Split) -> &'static str {
    match split {
        Split::Train => "data_batch",
        Split::Test => "test_batch",
    }
}

/// The natural-order key of a file name: text, then the first number in it as a number.
fn natural_key(name: &str) -> (String, u64, String) {
    let start = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    let digits: String = name[start..].chars().take_while(char::is_ascii_digit).collect();
    (name[..start].to_string(), digits.parse().unwrap_or(0), name.to_string())
}

/// The batch files of `split` in `dir` (`data_batch*.bin` or `test_batch*.bin`), in natural
/// order; empty if there are none.
pub fn batch_files(dir: &Path, split: Split) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix(split)) && name.ends_with(".bin"))
        .collect();
    names.sort_by_key(|name| natural_key(name));
    names.into_iter().map(|name| dir.join(name)).collect()
}

/// CIFAR-10 `split` from `NABLA_DATA` (or `../shared/data` on the course machines).
pub fn load(split: Split) -> Result<ImageSet, DataError> {
    let names = vec![format!("{}*.bin", prefix(split))];
    let what = format!("CIFAR-10 {} batches", split.name());
    let dir = CIFAR10_SET.find_dir(&what, &names, |d| !batch_files(d, split).is_empty())?;
    load_from(dir, split)
}

/// CIFAR-10 `split` from the folder `dir`: every batch file of the split, concatenated.
pub fn load_from(dir: impl AsRef<Path>, split: Split) -> Result<ImageSet, DataError> {
    let dir = dir.as_ref();
    let files = batch_files(dir, split);
    if files.is_empty() {
        return Err(DataError::NotFound {
            what: format!("CIFAR-10 {} batches", split.name()),
            names: vec![format!("{}*.bin", prefix(split))],
            tried: vec![dir.to_path_buf()],
            hint: CIFAR10_SET.hint(),
        });
    }
    let class_names = read_class_names(dir)?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for file in &files {
        let bytes = read_file(file, MAX_FILE_BYTES)?;
        decode_records(&bytes, file, class_names.len(), &mut pixels, &mut labels)?;
    }
    let n = labels.len();
    ImageSet::new(Tensor::from_vec(pixels, &[n, 3, 32, 32]), labels, class_names)
}

/// The class names from `dir/batches.meta.txt` (non-empty lines), or [`CLASSES`] if absent.
fn read_class_names(dir: &Path) -> Result<Vec<String>, DataError> {
    let path = dir.join("batches.meta.txt");
    if !path.is_file() {
        return Ok(CLASSES.iter().map(|c| c.to_string()).collect());
    }
    let bytes = read_file(&path, 1 << 20)?;
    let text = String::from_utf8_lossy(&bytes);
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.len() != CLASSES.len() {
        return Err(DataError::invalid(&path, "class names", "10 non-empty lines", format!("{} lines", names.len())));
    }
    Ok(names)
}

/// Decodes one batch file's bytes (see the [module docs](self)); `path` names them in errors.
///
/// ```
/// use nabla_data::cifar::{parse_batch, RECORD_BYTES};
/// let mut record = vec![0u8; RECORD_BYTES];
/// record[0] = 6; // a frog
/// record[1] = 255; // top-left red pixel
/// let set = parse_batch(&record, "one.bin".as_ref())?;
/// assert_eq!(set.images().shape(), &[1, 3, 32, 32]);
/// assert_eq!((set.labels()[0], set.images().get(&[0, 0, 0, 0])), (6, 1.0));
/// # Ok::<(), nabla_data::DataError>(())
/// ```
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    decode_records(bytes, path, CLASSES.len(), &mut pixels, &mut labels)?;
    let n = labels.len();
    ImageSet::new(Tensor::from_vec(pixels, &[n, 3, 32, 32]), labels, CLASSES.iter().map(|c| c.to_string()).collect())
}

fn decode_records(
    bytes: &[u8],
    path: &Path,
    classes: usize,
    pixels: &mut Vec<f32>,
    labels: &mut Vec<usize>,
) -> Result<(), DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        let whole = bytes.len() / RECORD_BYTES;
        return Err(DataError::invalid(
            path,
            "file length",
            format!("a positive multiple of {RECORD_BYTES} bytes (1 label byte + 3072 pixel bytes per record)"),
            format!("{} bytes ({whole} whole records and {} bytes more)", bytes.len(), bytes.len() % RECORD_BYTES),
        ));
    }
    let first = labels.len();
    pixels.reserve(bytes.len() / RECORD_BYTES * IMAGE_BYTES);
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = usize::from(record[0]);
        if label >= classes {
            labels.truncate(first);
            return Err(DataError::invalid(
                path,
                format!("label of record {i} (byte offset {})", i * RECORD_BYTES),
                format!("a class below {classes}"),
                label.to_string(),
            ));
        }
        labels.push(label);
        pixels.extend(record[1..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![fill; RECORD_BYTES];
        r[0] = label;
        r
    }

    #[test]
    fn lengths_and_labels_are_checked() {
        let err = parse_batch(&[0u8; 3000], Path::new("b.bin")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.bin: file length: expected a positive multiple of 3073 bytes (1 label byte + 3072 pixel bytes per record), found 3000 bytes (0 whole records and 3000 bytes more)"
        );
        assert!(parse_batch(&[], Path::new("b.bin")).is_err());
        let bytes = [record(1, 0), record(10, 0)].concat();
        let err = parse_batch(&bytes, Path::new("b.bin")).unwrap_err();
        assert_eq!(err.to_string(), "b.bin: label of record 1 (byte offset 3073): expected a class below 10, found 10");
    }

    #[test]
    fn a_folder_of_batches_is_read_in_natural_order() {
        let dir = std::env::temp_dir().join(format!("nabla-cifar-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data_batch_10.bin"), record(3, 30)).unwrap();
        std::fs::write(dir.join("data_batch_2.bin"), [record(2, 20), record(5, 21)].concat()).unwrap();
        std::fs::write(dir.join("test_batch.bin"), record(9, 255)).unwrap();
        std::fs::write(dir.join("readme.html"), "not a batch").unwrap();
        let train = load_from(&dir, Split::Train).unwrap();
        assert_eq!(train.labels(), &[2, 5, 3]);
        assert_eq!(train.class_names()[2], "bird");
        assert_eq!(train.images().get(&[2, 2, 31, 31]), f64::from(30f32 / 255.0));
        let test = load_from(&dir, Split::Test).unwrap();
        assert_eq!((test.len(), test.images().get(&[0, 1, 5, 5])), (1, 1.0));

        std::fs::write(dir.join("batches.meta.txt"), "a\nb\n").unwrap();
        let err = load_from(&dir, Split::Test).unwrap_err();
        assert!(err.to_string().ends_with("class names: expected 10 non-empty lines, found 2 lines"), "{err}");
        std::fs::write(dir.join("batches.meta.txt"), (0..10).map(|i| format!("c{i}\n")).collect::<String>()).unwrap();
        assert_eq!(load_from(&dir, Split::Test).unwrap().class_names()[9], "c9");
        std::fs::remove_dir_all(&dir).unwrap();

        let err = load_from(&dir, Split::Train).unwrap_err();
        assert!(err.to_string().contains("set NABLA_DATA to a folder containing cifar10-subset/"), "{err}");
    }
}
