//! Opening a data file: raw or gzip, read with limits, never trusting a header.
//!
//! Data sets are often shipped gzip-compressed (`train-images-idx3-ubyte.gz`). Rather than trust
//! the file name, [`DataReader`] looks at the first two bytes: every gzip file starts with the
//! magic bytes `1f 8b`. If they are there, the bytes are decompressed on the fly
//! ([`flate2::read::MultiGzDecoder`]); otherwise they are read as they are.
//!
//! ```text
//! gzip file:  1f 8b 08 ... (compressed stream) ... CRC32 ISIZE
//!             └─┬─┘
//!               magic: "this is gzip"
//! ```
//!
//! **The rule every parser here follows:** a header is a claim, not a fact. A 16-byte IDX
//! header can declare 4 billion images; allocating a buffer of that size before looking at the
//! file would crash the program (or the machine). So the readers below only ever grow a buffer
//! as bytes actually arrive ([`DataReader::read_up_to`] uses [`Read::take`] + `read_to_end`),
//! and the parser then compares what arrived with what the header declared.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The first two bytes of every gzip file.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The largest file (after decompression) the whole-file readers accept: 4 GiB.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// A byte stream from a data file, decompressed on the fly if it is gzip.
///
/// Errors name the file: an I/O failure is [`DataError::Io`], a broken compressed stream
/// [`DataError::Gzip`], and a stream that ends early [`DataError::Truncated`].
pub struct DataReader<'a> {
    reader: Box<dyn Read + 'a>,
    path: PathBuf,
    compressed: bool,
}

impl DataReader<'static> {
    /// Opens the file at `path`.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(DataError::invalid(path, "path", "a file", "a directory"));
        }
        DataReader::new(BufReader::new(file), path)
    }
}

impl<'a> DataReader<'a> {
    /// Wraps any buffered reader (a file, or bytes in memory: `&[u8]` is a `BufRead`); `path`
    /// is the name used in error messages.
    pub fn new(mut reader: impl BufRead + 'a, path: &Path) -> Result<Self, DataError> {
        let head = reader.fill_buf().map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
        let compressed = head.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read + 'a> =
            if compressed { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
        Ok(DataReader { reader, path: path.to_path_buf(), compressed })
    }

    /// The file name used in errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Reads at most `limit` bytes (fewer if the stream ends first). The buffer grows only as
    /// data arrives, so a large `limit` taken from a header costs nothing if the file is short.
    pub fn read_up_to(&mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        let mut out = Vec::new();
        (&mut self.reader).take(limit).read_to_end(&mut out).map_err(|e| self.stream_error(e))?;
        Ok(out)
    }

    /// Reads exactly `n` bytes of `field`, or fails with [`DataError::Truncated`].
    pub fn read_exact(&mut self, n: usize, field: &str) -> Result<Vec<u8>, DataError> {
        let bytes = self.read_up_to(n as u64)?;
        if bytes.len() < n {
            return Err(DataError::Truncated {
                path: self.path.clone(),
                field: field.to_string(),
                expected: n as u64,
                found: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Reads everything that is left, failing with [`DataError::TooLarge`] past `limit` bytes.
    pub fn read_to_end(&mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        let bytes = self.read_up_to(limit.saturating_add(1))?;
        if bytes.len() as u64 > limit {
            return Err(DataError::TooLarge { path: self.path.clone(), limit });
        }
        Ok(bytes)
    }

    /// Checks that the stream has ended (no bytes past what the format declares). For gzip
    /// this also runs the decompressor to the end, which verifies the CRC32 checksum.
    pub fn expect_end(&mut self, field: &str, declared: u64) -> Result<(), DataError> {
        let extra = self.read_up_to(1)?;
        if !extra.is_empty() {
            return Err(DataError::invalid(
                &self.path,
                field,
                format!("the file to end after {declared} bytes"),
                "more bytes after them (trailing data)",
            ));
        }
        Ok(())
    }

    fn stream_error(&self, source: io::Error) -> DataError {
        if self.compressed {
            DataError::Gzip { path: self.path.clone(), source }
        } else {
            DataError::Io { path: self.path.clone(), source }
        }
    }
}

/// Reads a whole file (decompressing gzip), failing past `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    DataReader::open(path)?.read_to_end(limit)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;

    /// `bytes` gzip-compressed, for tests.
    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("writing to memory");
        encoder.finish().expect("writing to memory")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::gzip;
    use super::*;

    #[test]
    fn raw_and_gzip_read_the_same_bytes() {
        let data: Vec<u8> = (0..=255).cycle().take(5000).collect();
        let packed = gzip(&data);
        assert_eq!(&packed[..2], &GZIP_MAGIC);
        let path = Path::new("x");
        let mut raw = DataReader::new(&data[..], path).unwrap();
        let mut unzipped = DataReader::new(&packed[..], path).unwrap();
        assert!(!raw.is_compressed() && unzipped.is_compressed());
        assert_eq!(raw.read_to_end(10_000).unwrap(), data);
        assert_eq!(unzipped.read_to_end(10_000).unwrap(), data);
    }

    #[test]
    fn limits_truncation_and_corruption_are_errors() {
        let data = vec![7u8; 100];
        let path = Path::new("f.bin");
        let err = DataReader::new(&data[..], path).unwrap().read_to_end(99).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { limit: 99, .. }), "{err}");
        let err = DataReader::new(&data[..], path).unwrap().read_exact(101, "header").unwrap_err();
        assert_eq!(err.to_string(), "f.bin: header: expected 101 bytes, but the file ends after 100");

        let packed = gzip(&data);
        let cut = &packed[..packed.len() / 2];
        let err = DataReader::new(cut, path).unwrap().read_to_end(1000).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        let mut flipped = packed.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff; // inside the CRC32
        let err = DataReader::new(&flipped[..], path).unwrap().read_to_end(1000).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = read_file(Path::new("/no/such/file.gz"), 10).unwrap_err();
        assert!(err.to_string().starts_with("/no/such/file.gz: cannot read"), "{err}");
    }
}
