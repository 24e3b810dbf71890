//! [`DataError`]: the one error type of every loader and parser in this crate.
//!
//! Reading data is where a course's first program meets the outside world, so a failure must
//! say *which file*, *which field* and *what was expected* — never panic, never just
//! "invalid data". Some messages as the user sees them:
//!
//! ```text
//! MNIST train images not found: looked for train-images-idx3-ubyte.gz, train-images-idx3-ubyte in
//!   /home/ada/nabla/data/mnist
//! It ships in this repository's data/mnist/; set NABLA_DATA to a folder containing mnist/ if you moved it.
//!
//! data/mnist/train-images-idx3-ubyte.gz: magic number: expected 0x00000803 (IDX, unsigned bytes, 3 dimensions), found 0x00000801 (IDX, unsigned bytes, 1 dimension)
//!
//! cut.idx: pixel data (60000 × 28 × 28 declared by the header): expected 47040000 bytes, but the file ends after 1000
//!
//! iris.csv: line 7, column 3 ("petal length"): cannot parse "1,4" as a number
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while finding, reading or parsing a data set.
///
/// Every variant that concerns a file carries its `path`; the `field` names the part of the
/// format that was wrong (`"magic number"`, `"label of item 17"`, `"line 4"`), and `expected` /
/// `found` say what the format requires and what the file holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No candidate location held the file; `tried` lists every folder looked in.
    #[error("{what} not found: looked for {} in\n{}\n{hint}", .names.join(", "), list_paths(.tried))]
    NotFound {
        /// What was being looked for, e.g. `"MNIST train images"`.
        what: String,
        /// The file names accepted, in order of preference.
        names: Vec<String>,
        /// Every folder that was searched, in order.
        tried: Vec<PathBuf>,
        /// Where to get the data.
        hint: String,
    },

    /// The operating system could not read the file.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The file starts like a gzip file, but its compressed stream is corrupt or cut short.
    #[error("{}: corrupt or truncated gzip stream: {source}", .path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's error.
        source: std::io::Error,
    },

    /// The file ends before the data its header (or its format) declares.
    #[error("{}: {field}: expected {expected} bytes, but the file ends after {found}", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The part that was cut short, e.g. `"IDX header"`.
        field: String,
        /// How many bytes the format requires there.
        expected: u64,
        /// How many bytes the file actually holds there.
        found: u64,
    },

    /// A field holds a value the format does not allow.
    #[error("{}: {field}: expected {expected}, found {found}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `"magic number"` or `"label of item 17"`.
        field: String,
        /// What the format requires.
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// A CSV field is not a number.
    #[error("{}: line {line}, column {column}{}: cannot parse {text:?} as a number", .path.display(), column_label(.column_name))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's header name, if the file has a header.
        column_name: Option<String>,
        /// The text that failed to parse.
        text: String,
    },

    /// The file (or its decompressed content) is larger than the loader accepts.
    #[error("{}: larger than the limit of {limit} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// Data that did not come from a file does not fit together (lengths, vocabulary, ...).
    #[error("{what}: expected {expected}, found {found}")]
    Mismatch {
        /// What was checked, e.g. `"TensorDataset targets"`.
        what: String,
        /// What was expected.
        expected: String,
        /// What was received.
        found: String,
    },
}

impl DataError {
    /// An [`Invalid`](DataError::Invalid) error (a helper for the parsers).
    pub(crate) fn invalid(
        path: &Path,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            field: field.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// A [`Mismatch`](DataError::Mismatch) error.
    pub(crate) fn mismatch(what: impl Into<String>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        DataError::Mismatch { what: what.into(), expected: expected.into(), found: found.into() }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    let mut out = String::new();
    for (i, path) in paths.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "  {}", path.display());
    }
    out
}

fn column_label(name: &Option<String>) -> String {
    match name {
        Some(name) => format!(" ({name:?})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_field_and_expectation() {
        let e = DataError::invalid(Path::new("a/b.idx"), "magic number", "0x00000803", "0x00000801");
        assert_eq!(e.to_string(), "a/b.idx: magic number: expected 0x00000803, found 0x00000801");
        let e = DataError::Parse {
            path: "iris.csv".into(),
            line: 7,
            column: 3,
            column_name: Some("petal length".into()),
            text: "1,4".into(),
        };
        assert_eq!(e.to_string(), "iris.csv: line 7, column 3 (\"petal length\"): cannot parse \"1,4\" as a number");
        let e = DataError::NotFound {
            what: "X".into(),
            names: vec!["a.gz".into(), "a".into()],
            tried: vec!["/p".into(), "/q".into()],
            hint: "Get it.".into(),
        };
        assert_eq!(e.to_string(), "X not found: looked for a.gz, a in\n  /p\n  /q\nGet it.");
    }
}
