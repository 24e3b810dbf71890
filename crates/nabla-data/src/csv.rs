//! CSV tables: rows of numbers, one column of which may be the target.
//!
//! A CSV ("comma-separated values") file is text, one row per line, fields separated by a
//! delimiter. This reader handles what data sets use: an optional header line, quoted fields
//! (`"YEAR"`, with `""` for a quote inside), `\r\n` line ends, blank lines (skipped), other
//! delimiters or runs of whitespace, and gzip-compressed files (`.csv.gz`). Every other field
//! must be a number; a field that is not is reported with its file, line, column and text:
//!
//! ```text
//! iris.csv: line 7, column 3: cannot parse "1,4" as a number
//! ```
//!
//! Three header styles ([`Header`]):
//!
//! | style | first line | example |
//! |---|---|---|
//! | [`Header::None`] | a data row | `digits.csv.gz`: `0,0,5,13,…,0` |
//! | [`Header::Names`] | column names | `sunspots_yearly.csv`: `"YEAR","SUNACTIVITY"` |
//! | [`Header::Sklearn`] | `n_samples,n_features,class names…` | `iris.csv`: `150,4,setosa,versicolor,virginica` |
//!
//! The result is a [`Table`]: features `[N, F]` as `f32`, and the target column as class
//! indices ([`Target::Class`]) or as a `[N, 1]` tensor of values ([`Target::Value`]).
//!
//! ```
//! use nabla_data::csv::{parse, Column, CsvOptions, Header};
//! let text = "x,y,label\n1.5,2,0\n3,4.25,1\n";
//! let options = CsvOptions::new().header(Header::Names).class_column(Column::Last);
//! let table = parse(text.as_bytes(), "points.csv".as_ref(), &options)?;
//! assert_eq!(table.features().shape(), &[2, 2]);
//! assert_eq!(table.labels(), Some(&[0, 1][..]));
//! assert_eq!(table.feature_names(), &["x", "y"]);
//! # Ok::<(), nabla_data::DataError>(())
//! ```

use std::path::Path;

use nabla_tensor::Tensor;

use crate::dataset::{Targets, TensorDataset};
use crate::error::DataError;
use crate::reader::read_file;

/// The largest CSV file accepted (after decompression): 1 GiB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// What the first line of the file is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Header {
    /// No header: the first line is data.
    #[default]
    None,
    /// The first line names the columns.
    Names,
    /// scikit-learn's bundled tables: `n_samples,n_features,class_0_name,class_1_name,…`.
    /// The counts are checked against the data, and the names become the class names.
    Sklearn,
}

/// A column, by position or by header name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The column at this 0-based position.
    Index(usize),
    /// The last column.
    Last,
    /// The column with this header name (needs [`Header::Names`]).
    Name(String),
}

/// Which column is the target, and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Class indices (non-negative integers), for classification.
    Class(Column),
    /// Real values, for regression: a `[N, 1]` tensor.
    Value(Column),
}

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// One character, e.g. `','` or `';'` or `'\t'`.
    Char(char),
    /// Any run of spaces or tabs.
    Whitespace,
}

/// How to read a CSV file: header style, target column, delimiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// What the first line is.
    pub header: Header,
    /// The target column, if any; every other column is a feature.
    pub target: Option<Target>,
    /// The field separator.
    pub delimiter: Delimiter,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { header: Header::None, target: None, delimiter: Delimiter::Char(',') }
    }
}

impl CsvOptions {
    /// Comma-separated, no header, no target.
    pub fn new() -> Self {
        CsvOptions::default()
    }

    /// scikit-learn's tables: [`Header::Sklearn`], class label in the last column.
    pub fn sklearn() -> Self {
        CsvOptions::new().header(Header::Sklearn).class_column(Column::Last)
    }

    /// Sets the header style.
    pub fn header(mut self, header: Header) -> Self {
        self.header = header;
        self
    }

    /// The target is `column`, read as class indices.
    pub fn class_column(mut self, column: Column) -> Self {
        self.target = Some(Target::Class(column));
        self
    }

    /// The target is `column`, read as real values.
    pub fn value_column(mut self, column: Column) -> Self {
        self.target = Some(Target::Value(column));
        self
    }

    /// Fields are separated by `delimiter`.
    pub fn delimiter(mut self, delimiter: char) -> Self {
        self.delimiter = Delimiter::Char(delimiter);
        self
    }

    /// Fields are separated by runs of whitespace.
    pub fn whitespace(mut self) -> Self {
        self.delimiter = Delimiter::Whitespace;
        self
    }
}

/// A numeric table: features `[N, F]` and an optional target column.
#[derive(Clone, Debug)]
pub struct Table {
    features: Tensor,
    targets: Option<Targets>,
    feature_names: Vec<String>,
    target_name: Option<String>,
    class_names: Vec<String>,
}

impl Table {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The feature columns, `[N, F]` f32.
    pub fn features(&self) -> &Tensor {
        &self.features
    }

    /// The target column, if one was chosen.
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref()
    }

    /// The class indices, if the target is a class column.
    pub fn labels(&self) -> Option<&[usize]> {
        self.targets.as_ref().and_then(Targets::as_classes)
    }

    /// The feature names: the header's, or `"column 3"` (1-based) without one.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The target column's name, if there is a target.
    pub fn target_name(&self) -> Option<&str> {
        self.target_name.as_deref()
    }

    /// The class names, from a [`Header::Sklearn`] header; empty otherwise.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The number of classes: the class names' count, else the largest label + 1 (0 without
    /// class targets).
    pub fn num_classes(&self) -> usize {
        match self.labels() {
            _ if !self.class_names.is_empty() => self.class_names.len(),
            Some(labels) => labels.iter().max().map_or(0, |m| m + 1),
            None => 0,
        }
    }

    /// A dataset of the features and the target; an error if the table has no target column.
    pub fn into_dataset(self) -> Result<TensorDataset, DataError> {
        match self.targets {
            Some(targets) => TensorDataset::try_new(self.features, targets),
            None => Err(DataError::mismatch("Table::into_dataset", "a table with a target column", "no target column")),
        }
    }
}

/// Reads the CSV file at `path` (raw or gzip).
pub fn read(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Table, DataError> {
    let path = path.as_ref();
    parse(&read_file(path, MAX_FILE_BYTES)?, path, options)
}

/// Splits one line into fields, honouring quotes.
fn split_fields(line: &str, delimiter: Delimiter, path: &Path, line_no: usize) -> Result<Vec<String>, DataError> {
    let sep = match delimiter {
        Delimiter::Whitespace => return Ok(line.split_whitespace().map(String::from).collect()),
        Delimiter::Char(c) => c,
    };
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        // One field: skip leading blanks, then either a quoted or a bare field.
        while chars.peek().is_some_and(|&c| c != sep && c.is_whitespace()) {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(DataError::invalid(
                            path,
                            format!("line {line_no}, field {}", fields.len() + 1),
                            "a closing quote (\")",
                            "the end of the line",
                        ))
                    }
                }
            }
            while chars.peek().is_some_and(|&c| c != sep) {
                let c = chars.next().unwrap_or(' ');
                if !c.is_whitespace() {
                    return Err(DataError::invalid(
                        path,
                        format!("line {line_no}, field {}", fields.len() + 1),
                        format!("a delimiter {sep:?} after the closing quote"),
                        format!("{c:?}"),
                    ));
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == sep {
                    break;
                }
                field.push(c);
                chars.next();
            }
            field.truncate(field.trim_end().len());
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

fn parse_number(text: &str, path: &Path, line: usize, column: usize, names: &[String]) -> Result<f64, DataError> {
    text.trim().parse::<f64>().map_err(|_| DataError::Parse {
        path: path.to_path_buf(),
        line,
        column: column + 1,
        column_name: names.get(column).cloned(),
        text: text.to_string(),
    })
}

/// Parses CSV bytes (see the [module docs](self)); `path` names them in errors.
pub fn parse(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<Table, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DataError::invalid(path, "text encoding", "UTF-8", format!("an invalid byte at offset {}", e.valid_up_to()))
    })?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());

    // The header, if any.
    let mut names: Vec<String> = Vec::new();
    let mut class_names: Vec<String> = Vec::new();
    let mut declared: Option<(usize, usize, usize)> = None; // (line, samples, features)
    if options.header != Header::None {
        let Some((line_no, line)) = lines.next() else {
            return Err(DataError::invalid(path, "header", "a header line", "an empty file"));
        };
        let fields = split_fields(line, options.delimiter, path, line_no)?;
        if options.header == Header::Names {
            names = fields;
        } else {
            if fields.len() < 2 {
                return Err(DataError::invalid(
                    path,
                    format!("line {line_no} (scikit-learn header)"),
                    "n_samples,n_features,class names…",
                    format!("{} fields", fields.len()),
                ));
            }
            let count = |column: usize| -> Result<usize, DataError> {
                let v = parse_number(&fields[column], path, line_no, column, &[])?;
                if v >= 0.0 && v.fract() == 0.0 && v < 1e15 {
                    Ok(v as usize)
                } else {
                    Err(DataError::invalid(
                        path,
                        format!("line {line_no}, column {} (scikit-learn header)", column + 1),
                        "a non-negative integer",
                        fields[column].clone(),
                    ))
                }
            };
            declared = Some((line_no, count(0)?, count(1)?));
            class_names = fields[2..].to_vec();
        }
    }

    // The data rows, all parsed as numbers.
    let mut width: Option<usize> = if names.is_empty() { None } else { Some(names.len()) };
    let mut width_line = 1;
    let mut values: Vec<f64> = Vec::new();
    let mut row_lines: Vec<usize> = Vec::new();
    for (line_no, line) in lines {
        let fields = split_fields(line, options.delimiter, path, line_no)?;
        match width {
            None => {
                width = Some(fields.len());
                width_line = line_no;
            }
            Some(w) if w != fields.len() => {
                let like = if names.is_empty() { format!("line {width_line}") } else { "the header".to_string() };
                return Err(DataError::invalid(
                    path,
                    format!("line {line_no}"),
                    format!("{w} fields (like {like})"),
                    format!("{} fields", fields.len()),
                ));
            }
            Some(_) => {}
        }
        for (column, field) in fields.iter().enumerate() {
            values.push(parse_number(field, path, line_no, column, &names)?);
        }
        row_lines.push(line_no);
    }
    let rows = row_lines.len();
    let width = width.unwrap_or(0);
    if rows == 0 || width == 0 {
        return Err(DataError::invalid(path, "rows", "at least one data row", "none"));
    }
    if let Some((line_no, samples, features)) = declared {
        if samples != rows {
            return Err(DataError::invalid(
                path,
                "row count",
                format!("{samples} rows (declared by the header on line {line_no})"),
                rows.to_string(),
            ));
        }
        if features + 1 != width {
            return Err(DataError::invalid(
                path,
                "fields per row",
                format!(
                    "{} ({features} features declared by the header on line {line_no}, and the label)",
                    features + 1
                ),
                width.to_string(),
            ));
        }
    }

    // Which column is the target.
    let resolve = |column: &Column| -> Result<usize, DataError> {
        match column {
            Column::Last if width > 0 => Ok(width - 1),
            Column::Last => Err(DataError::invalid(path, "target column", "a table with at least one column", "none")),
            Column::Index(i) if *i < width => Ok(*i),
            Column::Index(i) => Err(DataError::invalid(
                path,
                "target column",
                format!("a column index below {width} (0-based)"),
                i.to_string(),
            )),
            Column::Name(name) => names.iter().position(|n| n == name).ok_or_else(|| {
                let known = if names.is_empty() { "(the file has no header)".to_string() } else { names.join(", ") };
                DataError::invalid(
                    path,
                    "target column",
                    format!("one of the header's names: {known}"),
                    format!("{name:?}"),
                )
            }),
        }
    };
    let target = match &options.target {
        None => None,
        Some(Target::Class(c)) => Some((resolve(c)?, true)),
        Some(Target::Value(c)) => Some((resolve(c)?, false)),
    };
    let column_name = |c: usize| names.get(c).cloned().unwrap_or_else(|| format!("column {}", c + 1));

    let feature_columns: Vec<usize> = (0..width).filter(|&c| Some(c) != target.map(|t| t.0)).collect();
    let mut features = Vec::with_capacity(rows * feature_columns.len());
    for row in values.chunks_exact(width) {
        features.extend(feature_columns.iter().map(|&c| row[c] as f32));
    }
    let features = Tensor::from_vec(features, &[rows, feature_columns.len()]);

    let targets = match target {
        None => None,
        Some((c, false)) => {
            let column: Vec<f32> = values.chunks_exact(width).map(|row| row[c] as f32).collect();
            Some(Targets::Tensor(Tensor::from_vec(column, &[rows, 1])))
        }
        Some((c, true)) => {
            let mut labels = Vec::with_capacity(rows);
            for (row, line_no) in values.chunks_exact(width).zip(&row_lines) {
                let v = row[c];
                let field = format!("line {line_no}, column {} (class label)", c + 1);
                if !(v >= 0.0 && v.fract() == 0.0 && v < 1e9) {
                    return Err(DataError::invalid(path, field, "a non-negative integer", v.to_string()));
                }
                let label = v as usize;
                if !class_names.is_empty() && label >= class_names.len() {
                    return Err(DataError::invalid(
                        path,
                        field,
                        format!("a class below {} ({})", class_names.len(), class_names.join(", ")),
                        label.to_string(),
                    ));
                }
                labels.push(label);
            }
            Some(Targets::Classes(labels))
        }
    };

    Ok(Table {
        features,
        targets,
        feature_names: feature_columns.iter().map(|&c| column_name(c)).collect(),
        target_name: target.map(|(c, _)| column_name(c)),
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    #[test]
    fn quotes_blank_lines_crlf_and_whitespace() {
        let text = "\"YEAR\",\"SUN \"\"ACTIVITY\"\"\"\r\n1700, 5\r\n\r\n1701,11.5\r\n";
        let t = parse(text.as_bytes(), p(), &CsvOptions::new().header(Header::Names).value_column(Column::Index(1)))
            .unwrap();
        assert_eq!(t.feature_names(), &["YEAR"]);
        assert_eq!(t.target_name(), Some("SUN \"ACTIVITY\""));
        assert_eq!(t.features().to_vec_f32(), vec![1700.0, 1701.0]);
        assert_eq!(t.targets().unwrap().as_tensor().unwrap().to_vec_f32(), vec![5.0, 11.5]);

        let t = parse(b"1 2  3\n4\t5 6\n", p(), &CsvOptions::new().whitespace()).unwrap();
        assert_eq!(t.features().shape(), &[2, 3]);
        assert!(t.targets().is_none() && t.num_classes() == 0);
        let t = parse(b"1;2\n3;4\n", p(), &CsvOptions::new().delimiter(';').class_column(Column::Index(0))).unwrap();
        assert_eq!((t.labels().unwrap(), t.feature_names()), (&[1, 3][..], &["column 2".to_string()][..]));
        assert_eq!(t.num_classes(), 4);
    }

    #[test]
    fn errors_name_file_line_column_and_text() {
        let opts = CsvOptions::new().header(Header::Names);
        let err = parse(b"a,b\n1,2\n3,x7\n", p(), &opts).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: line 3, column 2 (\"b\"): cannot parse \"x7\" as a number");
        let err = parse(b"1,2\n\n3\n", p(), &CsvOptions::new()).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: line 3: expected 2 fields (like line 1), found 1 fields");
        let err = parse(b"\"1,2\n", p(), &CsvOptions::new()).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: line 1, field 1: expected a closing quote (\"), found the end of the line");
        let err = parse(b"1,2.5\n", p(), &CsvOptions::new().class_column(Column::Last)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: line 1, column 2 (class label): expected a non-negative integer, found 2.5"
        );
        let err = parse(b"a,b\n1,2\n", p(), &opts.clone().class_column(Column::Name("c".into()))).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: target column: expected one of the header's names: a, b, found \"c\"");
        let err = parse(b"1,2\n", p(), &CsvOptions::new().class_column(Column::Index(2))).unwrap_err();
        assert!(err.to_string().contains("a column index below 2"), "{err}");
        assert!(parse(b"", p(), &CsvOptions::new()).is_err());
        assert!(parse(b"a,b\n", p(), &opts).is_err());
        let err = parse(b"1,\xff\n", p(), &CsvOptions::new()).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: text encoding: expected UTF-8, found an invalid byte at offset 2");
    }

    #[test]
    fn sklearn_headers_are_checked() {
        let ok = parse(b"2,1,no,yes\n0.5,1\n0.25,0\n", p(), &CsvOptions::sklearn()).unwrap();
        assert_eq!(ok.class_names(), &["no", "yes"]);
        assert_eq!(ok.labels().unwrap(), &[1, 0]);
        assert_eq!(ok.num_classes(), 2);
        let err = parse(b"3,1,no,yes\n0.5,1\n0.25,0\n", p(), &CsvOptions::sklearn()).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: row count: expected 3 rows (declared by the header on line 1), found 2");
        let err = parse(b"2,2,no,yes\n0.5,1\n0.25,0\n", p(), &CsvOptions::sklearn()).unwrap_err();
        assert!(err.to_string().contains("fields per row: expected 3"), "{err}");
        let err = parse(b"2,1,no,yes\n0.5,1\n0.25,2\n", p(), &CsvOptions::sklearn()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: line 3, column 2 (class label): expected a class below 2 (no, yes), found 2"
        );
        let err = parse(b"two,1,no,yes\n0.5,1\n", p(), &CsvOptions::sklearn()).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: line 1, column 1: cannot parse \"two\" as a number");
    }

    #[test]
    fn tables_become_datasets() {
        let t = parse(b"1,2,0\n3,4,1\n", p(), &CsvOptions::new().class_column(Column::Last)).unwrap();
        let d = t.clone().into_dataset().unwrap();
        assert_eq!(crate::Dataset::len(&d), 2);
        let no_target = parse(b"1,2\n", p(), &CsvOptions::new()).unwrap();
        assert!(no_target.into_dataset().is_err());
    }
}
