//! Golden checks on the real data files: the published counts and statistics of each set.
//!
//! The committed sets (MNIST, the scikit-learn tables, sunspots, Shakespeare) are always
//! checked. The sets that are not committed (CIFAR-10, Fashion-MNIST, tiny-shakespeare) are
//! checked when `NABLA_DATA` or `../shared/data` holds them; otherwise the CIFAR test checks
//! the loader on a small valid batch file written to a temporary folder.

use nabla_data::{cifar, mnist, tables, DataError, Dataset, Split, TextCorpus};

/// `Some(value)` if the set loaded, `None` if it is absent; any other error fails the test.
fn optional<T>(result: Result<T, DataError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(DataError::NotFound { .. }) => None,
        Err(other) => panic!("the data set is present but did not load: {other}"),
    }
}

#[test]
fn mnist_matches_the_published_counts_and_statistics() {
    let train = mnist::load(Split::Train).expect("MNIST ships in data/mnist");
    assert_eq!(train.images().shape(), &[60000, 1, 28, 28]);
    assert_eq!(train.class_counts(), vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(&train.labels()[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
    let pixels = train.images().to_vec_f32();
    let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len() as f64;
    let var = pixels.iter().map(|&p| (f64::from(p) - mean).powi(2)).sum::<f64>() / pixels.len() as f64;
    assert!((mean - 0.1307).abs() < 5e-5, "train pixel mean {mean}");
    assert!((var.sqrt() - 0.3081).abs() < 5e-5, "train pixel std {}", var.sqrt());
    assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(train.flattened().shape(), &[60000, 784]);

    let test = mnist::load(Split::Test).unwrap();
    assert_eq!(test.len(), 10000);
    assert_eq!(test.labels()[0], 7);
    assert_eq!(test.class_counts(), vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // The first test image is a 7: ink in the middle rows, blank corners.
    let seven = test.images().index_select(0, &[0]);
    assert_eq!(seven.get(&[0, 0, 0, 0]), 0.0);
    assert!(seven.sum_all().to_scalar() > 50.0);

    let dataset = test.into_flat_dataset();
    assert_eq!(dataset.get_batch(&[0, 1]).labels(), &[7, 2]);
}

#[test]
fn mnist_from_an_explicit_folder_and_a_truncated_copy() {
    let dir = nabla_data::locate::repository_data_dir().join("mnist");
    assert_eq!(mnist::load_from(&dir, Split::Test).unwrap().len(), 10000);

    // Cut the real label file in half: a gzip error naming the file, not a panic.
    let bytes = std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let err = mnist::parse_labels(cut, "cut.gz".as_ref(), 10).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert!(err.to_string().starts_with("cut.gz: corrupt or truncated gzip stream"), "{err}");
    // Images read as labels: wrong magic number.
    let images = std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let err = mnist::parse_labels(&images, "img.gz".as_ref(), 10).unwrap_err();
    assert!(err.to_string().contains("magic number: expected 0x00000801"), "{err}");
}

#[test]
fn fashion_mnist_when_available() {
    let Some(test) = optional(mnist::load_fashion(Split::Test)) else {
        let err = mnist::load_fashion(Split::Test).unwrap_err().to_string();
        assert!(err.contains("set NABLA_DATA to a folder containing fashion-mnist/"), "{err}");
        return;
    };
    assert_eq!(test.images().shape(), &[10000, 1, 28, 28]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    assert_eq!(test.class_names()[9], "Ankle boot");
    assert_eq!(test.labels()[0], 9); // the first Fashion-MNIST test image is an ankle boot
}

#[test]
fn cifar10_subset_or_a_small_valid_batch() {
    if let Some(train) = optional(cifar::load(Split::Train)) {
        assert_eq!(train.images().shape(), &[4000, 3, 32, 32]);
        assert_eq!(train.labels()[0], 6);
        let r: Vec<f64> = (0..4).map(|j| train.images().get(&[0, 0, 0, j]) * 255.0).collect();
        let r: Vec<u8> = r.iter().map(|v| v.round() as u8).collect();
        assert_eq!(r, vec![59, 43, 50, 68]);
        assert_eq!(train.class_counts(), vec![396, 366, 420, 384, 422, 393, 414, 385, 407, 413]);
        assert_eq!(train.class_names()[6], "frog");
        let test = cifar::load(Split::Test).unwrap();
        assert_eq!(&test.labels()[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
        return;
    }
    // No CIFAR data here: write two batch files in the official layout and read them back.
    let dir = std::env::temp_dir().join(format!("nabla-cifar-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = |label: u8, r: u8, g: u8, b: u8| {
        let mut rec = vec![label];
        rec.extend(std::iter::repeat_n(r, 1024));
        rec.extend(std::iter::repeat_n(g, 1024));
        rec.extend(std::iter::repeat_n(b, 1024));
        rec
    };
    std::fs::write(dir.join("data_batch_1.bin"), [record(6, 59, 0, 255), record(9, 1, 2, 3)].concat()).unwrap();
    std::fs::write(dir.join("data_batch_2.bin"), record(0, 0, 0, 0)).unwrap();
    let train = cifar::load_from(&dir, Split::Train).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(train.images().shape(), &[3, 3, 32, 32]);
    assert_eq!(train.labels(), &[6, 9, 0]);
    assert_eq!(train.images().get(&[0, 0, 31, 31]), f64::from(59f32 / 255.0));
    assert_eq!(train.images().get(&[0, 2, 0, 0]), 1.0);
    assert_eq!(train.images().get(&[1, 1, 7, 3]), f64::from(2f32 / 255.0));
}

#[test]
fn scikit_learn_tables() {
    let iris = tables::iris().unwrap();
    assert_eq!(iris.features().shape(), &[150, 4]);
    assert_eq!(&iris.features().to_vec_f32()[..4], &[5.1, 3.5, 1.4, 0.2]);
    let labels = iris.labels().unwrap();
    assert_eq!((0..3).map(|c| labels.iter().filter(|&&l| l == c).count()).collect::<Vec<_>>(), vec![50, 50, 50]);
    assert_eq!(iris.class_names(), &["setosa", "versicolor", "virginica"]);

    let wine = tables::wine().unwrap();
    assert_eq!(wine.features().shape(), &[178, 13]);
    let labels = wine.labels().unwrap();
    assert_eq!((0..3).map(|c| labels.iter().filter(|&&l| l == c).count()).collect::<Vec<_>>(), vec![59, 71, 48]);

    let cancer = tables::breast_cancer().unwrap();
    assert_eq!(cancer.features().shape(), &[569, 30]);
    assert_eq!(cancer.labels().unwrap().iter().filter(|&&l| l == 0).count(), 212);
    assert_eq!(cancer.class_names(), &["malignant", "benign"]);

    let digits = tables::digits().unwrap();
    assert_eq!(digits.features().shape(), &[1797, 64]);
    assert_eq!(digits.num_classes(), 10);
    assert!(digits.features().max_all() == 16.0 && digits.features().min_all() == 0.0);
    let dataset = digits.into_dataset().unwrap();
    assert_eq!(dataset.len(), 1797);

    let sun = tables::sunspots().unwrap();
    assert_eq!(sun.len(), 309);
    assert_eq!(sun.feature_names(), &["YEAR"]);
    assert_eq!(sun.target_name(), Some("SUNACTIVITY"));
    assert_eq!(sun.features().get(&[0, 0]), 1700.0);
    assert_eq!(sun.targets().unwrap().as_tensor().unwrap().get(&[1, 0]), 11.0);
}

#[test]
fn csv_reader_on_the_raw_sklearn_file_with_other_options() {
    use nabla_data::csv::{read, Column, CsvOptions};
    let path = nabla_data::locate::repository_data_dir().join("sklearn").join("iris.csv");
    // Reading iris.csv as if it had no special header: line 1 has 5 fields, like the data,
    // but "setosa" is not a number.
    let err = read(&path, &CsvOptions::new().class_column(Column::Last)).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: line 1, column 3: cannot parse \"setosa\" as a number", path.display()));
}

#[test]
fn shakespeare_texts() {
    let corpus = TextCorpus::shakespeare().unwrap();
    // 5,057,198 ASCII characters in 42 files, 41 of which get a newline appended when joined.
    assert_eq!(corpus.len(), 5_057_198 + 41);
    assert!(corpus.vocab().chars().contains(&'\n') && corpus.vocab().len() < 100);
    let (train, val) = corpus.split(0.1);
    assert_eq!(train.len() + val.len(), corpus.len());
    let windows = train.windows(64);
    assert_eq!(windows.len(), (train.len() - 1 - 64) / 64 + 1);
    let batch = windows.get_batch(&[0, 1000]);
    assert_eq!(batch.inputs.shape(), &[2, 64]);
    assert_eq!(&batch.input_ids()[1..64], &batch.labels()[..63]);

    if let Some(tiny) = optional(TextCorpus::tiny_shakespeare()) {
        assert_eq!(tiny.len(), 1_115_394);
        assert_eq!(tiny.vocab().len(), 65);
        assert!(tiny.text().starts_with("First Citizen:"));
    }
}
