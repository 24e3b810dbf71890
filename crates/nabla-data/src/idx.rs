//! The IDX file format, in which MNIST and Fashion-MNIST are distributed.
//!
//! An IDX file is a tiny header followed by a dense n-dimensional array, row-major (the last
//! index changes fastest). All integers in the header are big-endian.
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 2 | `00 00` |
//! | 2 | 1 | element type: `08` unsigned byte (also `09` i8, `0B` i16, `0C` i32, `0D` f32, `0E` f64) |
//! | 3 | 1 | number of dimensions `d` |
//! | 4 | 4·d | the size of each dimension, a big-endian `u32` each |
//! | 4 + 4·d | Π sizes × element size | the data |
//!
//! The first four bytes read as one big-endian number are the *magic number*: `0x00000803` for
//! an image file (bytes, 3 dimensions: count × rows × columns) and `0x00000801` for a label file
//! (bytes, 1 dimension: count). The MNIST training images begin:
//!
//! ```text
//! 00 00 08 03  00 00 ea 60  00 00 00 1c  00 00 00 1c  00 00 00 00 ...
//! └─ magic ──┘ └─ 60000 ──┘ └── 28 ────┘ └── 28 ────┘ └ pixels: 60000·28·28 = 47,040,000 bytes
//! ```
//!
//! This reader handles the unsigned-byte type (the one MNIST uses) and checks the header
//! before trusting it: the magic number, that the sizes do not overflow, that exactly the
//! declared number of bytes follows (no more, no less) — and it never allocates by the header.

use std::path::Path;

use crate::error::DataError;
use crate::reader::DataReader;

/// The element-type byte of unsigned bytes.
pub const TYPE_U8: u8 = 0x08;

/// The largest data size accepted, 4 GiB (MNIST's largest file holds 47 MB).
pub const MAX_DATA_BYTES: u64 = 4 << 30;

/// A decoded IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension, from the header.
    pub dims: Vec<usize>,
    /// `Π dims` bytes, row-major.
    pub data: Vec<u8>,
}

/// The magic number of an unsigned-byte IDX file with `ndims` dimensions.
pub fn magic_for(ndims: u8) -> u32 {
    u32::from_be_bytes([0, 0, TYPE_U8, ndims])
}

/// Describes a magic number in words, for error messages.
fn describe_magic(bytes: [u8; 4]) -> String {
    let kind = match bytes[2] {
        0x08 => "unsigned bytes",
        0x09 => "signed bytes",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "",
    };
    let value = u32::from_be_bytes(bytes);
    if bytes[0] != 0 || bytes[1] != 0 || kind.is_empty() {
        return format!("0x{value:08x} (not an IDX file)");
    }
    let plural = if bytes[3] == 1 { "" } else { "s" };
    format!("0x{value:08x} (IDX, {kind}, {} dimension{plural})", bytes[3])
}

/// Reads an unsigned-byte IDX file (raw or gzip) that must have `ndims` dimensions.
pub fn read_idx(path: &Path, ndims: u8) -> Result<IdxArray, DataError> {
    parse_idx(DataReader::open(path)?, ndims)
}

/// Parses IDX bytes from any buffered reader; `path` names the source in errors.
///
/// ```
/// use nabla_data::idx::{parse_idx_bytes, IdxArray};
/// let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]; // 3 labels: 7 2 1
/// let labels = parse_idx_bytes(&bytes, "labels.idx".as_ref(), 1).unwrap();
/// assert_eq!(labels, IdxArray { dims: vec![3], data: vec![7, 2, 1] });
/// ```
pub fn parse_idx_bytes(bytes: &[u8], path: &Path, ndims: u8) -> Result<IdxArray, DataError> {
    parse_idx(DataReader::new(bytes, path)?, ndims)
}

/// Parses an IDX stream that must have `ndims` dimensions.
pub fn parse_idx(mut input: DataReader<'_>, ndims: u8) -> Result<IdxArray, DataError> {
    let path = input.path().to_path_buf();
    let magic = input.read_exact(4, "IDX magic number")?;
    let magic = [magic[0], magic[1], magic[2], magic[3]];
    if u32::from_be_bytes(magic) != magic_for(ndims) {
        let plural = if ndims == 1 { "" } else { "s" };
        return Err(DataError::invalid(
            &path,
            "magic number",
            format!("0x{:08x} (IDX, unsigned bytes, {ndims} dimension{plural})", magic_for(ndims)),
            describe_magic(magic),
        ));
    }
    let header = input.read_exact(4 * ndims as usize, "IDX dimension sizes")?;
    let dims: Vec<usize> =
        header.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let shown = dims.iter().map(usize::to_string).collect::<Vec<_>>().join(" × ");
    let total = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).filter(|&t| t <= MAX_DATA_BYTES);
    let Some(total) = total else {
        return Err(DataError::invalid(
            &path,
            "dimension sizes",
            format!("at most {MAX_DATA_BYTES} bytes of data"),
            format!("{shown} (declared by the header)"),
        ));
    };
    let field = format!("data ({shown} declared by the header)");
    let data = input.read_up_to(total)?;
    if (data.len() as u64) < total {
        return Err(DataError::Truncated { path, field, expected: total, found: data.len() as u64 });
    }
    input.expect_end(&field, total)?;
    Ok(IdxArray { dims, data })
}

/// Encodes an unsigned-byte IDX file (the inverse of [`parse_idx`]): for tests and for
/// writing small data sets.
///
/// # Panics
/// If `data.len()` is not the product of `dims`, or a size does not fit in a `u32`.
#[track_caller]
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    assert_eq!(dims.iter().product::<usize>(), data.len(), "encode_idx: {} bytes do not fill {dims:?}", data.len());
    let mut out = magic_for(u8::try_from(dims.len()).expect("at most 255 dimensions")).to_be_bytes().to_vec();
    for &d in dims {
        out.extend(u32::try_from(d).expect("sizes fit in u32").to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::testing::gzip;

    fn p() -> &'static Path {
        Path::new("t.idx")
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        assert_eq!(&bytes[..4], &[0, 0, 8, 3]);
        let want = IdxArray { dims: vec![2, 3, 4], data };
        assert_eq!(parse_idx_bytes(&bytes, p(), 3).unwrap(), want);
        assert_eq!(parse_idx_bytes(&gzip(&bytes), p(), 3).unwrap(), want);
    }

    #[test]
    fn wrong_magic_names_expected_and_found() {
        let labels = encode_idx(&[2], &[1, 2]);
        let err = parse_idx_bytes(&labels, p(), 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.idx: magic number: expected 0x00000803 (IDX, unsigned bytes, 3 dimensions), found 0x00000801 (IDX, unsigned bytes, 1 dimension)"
        );
        let err = parse_idx_bytes(b"PK\x03\x04rest", p(), 1).unwrap_err();
        assert!(err.to_string().ends_with("found 0x504b0304 (not an IDX file)"), "{err}");
    }

    #[test]
    fn lying_and_short_headers_are_errors_without_allocating() {
        // Declares 4 billion × 4 billion × 1 bytes: rejected before reading any data.
        let mut huge = magic_for(3).to_be_bytes().to_vec();
        huge.extend([0xff; 8]);
        huge.extend(1u32.to_be_bytes());
        let err = parse_idx_bytes(&huge, p(), 3).unwrap_err();
        assert!(err.to_string().contains("dimension sizes: expected at most"), "{err}");
        // Declares 60000 × 28 × 28 but holds 100 bytes: 47 MB are never allocated.
        let mut short = magic_for(3).to_be_bytes().to_vec();
        for d in [60000u32, 28, 28] {
            short.extend(d.to_be_bytes());
        }
        short.extend([0u8; 100]);
        let err = parse_idx_bytes(&short, p(), 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.idx: data (60000 × 28 × 28 declared by the header): expected 47040000 bytes, but the file ends after 100"
        );
        let err = parse_idx_bytes(&[0, 0, 8, 3, 0, 0], p(), 3).unwrap_err();
        assert_eq!(err.to_string(), "t.idx: IDX dimension sizes: expected 12 bytes, but the file ends after 2");
        let mut long = encode_idx(&[2], &[1, 2]);
        long.push(9);
        let err = parse_idx_bytes(&long, p(), 1).unwrap_err();
        assert!(err.to_string().contains("trailing data"), "{err}");
    }
}
