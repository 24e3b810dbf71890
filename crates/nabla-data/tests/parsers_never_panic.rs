//! Property tests: every parser, fed random bytes, truncated files or lying headers, returns
//! an error — it never panics and never allocates what a header claims before seeing it.
//!
//! The runs start from a fixed seed, so they give the same verdict every time.

use std::path::Path;

use nabla_data::cifar::{self, RECORD_BYTES};
use nabla_data::csv::{self, Column, CsvOptions, Header};
use nabla_data::idx::{encode_idx, parse_idx_bytes};
use nabla_data::{mnist, DataError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x006e_6162_6c61), failure_persistence: None, ..Config::default() }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn path() -> &'static Path {
    Path::new("fuzz.bin")
}

/// A valid small IDX image file: `n` images of `rows × cols`.
fn images_file(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n * rows * cols).map(|i| (i * 37 % 256) as u8).collect();
    encode_idx(&[n, rows, cols], &data)
}

/// The header of an IDX image file declaring `dims`, followed by `body` bytes.
fn lying_images(dims: [u32; 3], body: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(std::iter::repeat_n(1u8, body));
    bytes
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn idx_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), ndims in 1u8..4) {
        let result = parse_idx_bytes(&bytes, path(), ndims);
        if let Ok(array) = result {
            // Only a file whose body is exactly what the header declares may be accepted.
            let declared: usize = array.dims.iter().product();
            prop_assert_eq!(array.data.len(), declared);
            prop_assert_eq!(bytes.len(), 4 + 4 * ndims as usize + declared);
        }
        let _ = mnist::parse_images(&gzip(&bytes), path());
        let _ = mnist::parse_labels(&bytes, path(), 10);
    }

    #[test]
    fn idx_with_a_valid_magic_and_random_rest_never_panics(
        ndims in 1u8..4,
        rest in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bytes = vec![0, 0, 8, ndims];
        bytes.extend(&rest);
        let result = parse_idx_bytes(&bytes, path(), ndims);
        if let Ok(array) = result {
            prop_assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
        }
    }

    #[test]
    fn truncated_idx_files_are_errors(n in 1usize..6, rows in 1usize..6, cols in 1usize..6, cut_seed in any::<usize>(), gz in any::<bool>()) {
        let valid = images_file(n, rows, cols);
        let file = if gz { gzip(&valid) } else { valid.clone() };
        prop_assert!(mnist::parse_images(&file, path()).is_ok());
        let cut = cut_seed % file.len();
        let err = mnist::parse_images(&file[..cut], path());
        prop_assert!(err.is_err(), "a file cut at {} of {} bytes was accepted", cut, file.len());
        if !gz {
            let is_truncation_or_magic = matches!(err, Err(DataError::Truncated { .. }) | Err(DataError::Invalid { .. }));
            prop_assert!(is_truncation_or_magic);
        }
    }

    #[test]
    fn lying_idx_headers_are_errors(
        dims in (any::<u32>(), any::<u32>(), any::<u32>()),
        body in 0usize..200,
        gz in any::<bool>(),
    ) {
        let dims = [dims.0, dims.1, dims.2];
        let declared = dims.iter().map(|&d| d as u128).product::<u128>();
        prop_assume!(declared != body as u128);
        let raw = lying_images(dims, body);
        let file = if gz { gzip(&raw) } else { raw };
        let result = mnist::parse_images(&file, path());
        prop_assert!(result.is_err());
    }

    #[test]
    fn huge_declared_counts_with_little_data_are_errors(count in 1_000u32.., body in 0usize..100) {
        // "count × 28 × 28" images declared, a few bytes present: must fail without
        // allocating count·784 bytes (up to 3.3 TB).
        let result = mnist::parse_images(&lying_images([count, 28, 28], body), path());
        prop_assert!(result.is_err());
        let mut labels = vec![0, 0, 8, 1];
        labels.extend(count.to_be_bytes());
        labels.extend(std::iter::repeat_n(0u8, body));
        prop_assert!(mnist::parse_labels(&labels, path(), 10).is_err());
    }

    #[test]
    fn label_files_with_out_of_range_labels_are_errors(labels in proptest::collection::vec(any::<u8>(), 1..50)) {
        let file = encode_idx(&[labels.len()], &labels);
        let result = mnist::parse_labels(&file, path(), 10);
        prop_assert_eq!(result.is_ok(), labels.iter().all(|&l| l < 10));
    }

    #[test]
    fn cifar_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8000)) {
        let result = cifar::parse_batch(&bytes, path());
        let valid = !bytes.is_empty()
            && bytes.len() % RECORD_BYTES == 0
            && bytes.chunks(RECORD_BYTES).all(|r| r[0] < 10);
        prop_assert_eq!(result.is_ok(), valid);
    }

    #[test]
    fn truncated_cifar_batches_are_errors(records in 1usize..4, cut_seed in any::<usize>()) {
        let mut file = vec![3u8; records * RECORD_BYTES];
        for r in 0..records {
            file[r * RECORD_BYTES] = r as u8;
        }
        prop_assert!(cifar::parse_batch(&file, path()).is_ok());
        let cut = cut_seed % file.len();
        prop_assume!(!cut.is_multiple_of(RECORD_BYTES) || cut == 0);
        prop_assert!(cifar::parse_batch(&file[..cut], path()).is_err());
    }

    #[test]
    fn csv_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), header in 0u8..3) {
        let header = match header { 0 => Header::None, 1 => Header::Names, _ => Header::Sklearn };
        for target in [None, Some(Column::Last), Some(Column::Index(1)), Some(Column::Name("a".into()))] {
            let mut options = CsvOptions::new().header(header.clone());
            if let Some(column) = target {
                options = options.class_column(column);
            }
            let _ = csv::parse(&bytes, path(), &options);
            let _ = csv::parse(&gzip(&bytes), path(), &options.clone().whitespace());
        }
    }

    #[test]
    fn csv_of_numeric_tokens_never_panics(
        rows in proptest::collection::vec(
            proptest::collection::vec(prop_oneof!["-?[0-9]{1,3}(\\.[0-9]{1,2})?", Just(String::new()), Just("\"4\"".to_string()), Just("x".to_string()), Just("\"".to_string())], 1..5),
            0..6,
        ),
    ) {
        let text: String = rows.iter().map(|r| r.join(",") + "\n").collect();
        let result = csv::parse(text.as_bytes(), path(), &CsvOptions::new().value_column(Column::Last));
        if let Ok(table) = result {
            // Blank lines are skipped; every other line is one row.
            let lines = rows.iter().filter(|r| !r.join(",").trim().is_empty()).count();
            prop_assert_eq!(table.len(), lines);
        }
        let _ = csv::parse(text.as_bytes(), path(), &CsvOptions::sklearn());
    }

    #[test]
    fn truncated_and_corrupted_gzip_is_an_error(cut_seed in any::<usize>(), flip in any::<usize>()) {
        let valid = gzip(&images_file(3, 4, 4));
        let cut = cut_seed % valid.len();
        prop_assert!(mnist::parse_images(&valid[..cut], path()).is_err());
        // Flipping any bit after the 10-byte gzip header must be caught (deflate error or CRC).
        let mut corrupted = valid.clone();
        let at = 10 + flip % (valid.len() - 10);
        corrupted[at] ^= 1 << (flip % 8);
        let result = mnist::parse_images(&corrupted, path());
        if let Ok(images) = result {
            // A flip in the gzip trailer's size field that the decoder ignores is the only
            // harmless case: the pixels must then be intact.
            prop_assert_eq!(images.to_vec_f32(), mnist::parse_images(&valid, path()).unwrap().to_vec_f32());
        }
    }
}

#[test]
fn text_reader_rejects_invalid_utf8_files() {
    let dir = std::env::temp_dir().join(format!("nabla-text-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.txt");
    std::fs::write(&file, [b'a', 0xc3, 0x28]).unwrap();
    let err = nabla_data::TextCorpus::read(&file).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err}");
    std::fs::write(&file, gzip(b"hello"))
        .and_then(|_| std::fs::write(dir.join("cut.txt"), &gzip(b"hello")[..12]))
        .unwrap();
    assert!(nabla_data::TextCorpus::read(&dir).is_err());
    std::fs::remove_file(dir.join("cut.txt")).unwrap();
    assert_eq!(nabla_data::TextCorpus::read(&dir).unwrap().text(), "hello");
    std::fs::remove_dir_all(&dir).unwrap();
}
