//! Small classic tables that ship in this repository's `data/` folder, read with [`csv`](crate::csv).
//!
//! | function | file | rows | features | target |
//! |---|---|---|---|---|
//! | [`iris`] | `sklearn/iris.csv` | 150 | 4 (sepal/petal length/width, cm) | 3 species |
//! | [`wine`] | `sklearn/wine_data.csv` | 178 | 13 (chemical analysis) | 3 cultivars |
//! | [`breast_cancer`] | `sklearn/breast_cancer.csv` | 569 | 30 (cell nuclei measurements) | malignant / benign |
//! | [`digits`] | `sklearn/digits.csv.gz` | 1,797 | 64 (8×8 pixels, 0–16) | digits 0–9 |
//! | [`sunspots`] | `timeseries/sunspots_yearly.csv` | 309 | 1 (the year, 1700–2008) | yearly sunspot number (a value) |
//!
//! The first four come with scikit-learn (BSD-3-Clause; the data are from the UCI Machine
//! Learning Repository, CC BY 4.0), the sunspots with statsmodels (public domain); see
//! `data/README.md`.
//!
//! ```
//! let iris = nabla_data::tables::iris()?;
//! assert_eq!(iris.features().shape(), &[150, 4]);
//! assert_eq!(iris.class_names(), &["setosa", "versicolor", "virginica"]);
//! # Ok::<(), nabla_data::DataError>(())
//! ```

use crate::csv::{read, Column, CsvOptions, Header, Table};
use crate::error::DataError;
use crate::locate::{first_existing, Availability, SetInfo};

/// Where the scikit-learn tables are looked for.
pub const SKLEARN_SET: SetInfo = SetInfo {
    name: "scikit-learn tables",
    folders: &["sklearn"],
    availability: Availability::InRepository,
    extra_hint: "",
};

/// Where the time series are looked for.
pub const TIMESERIES_SET: SetInfo =
    SetInfo { name: "time series", folders: &["timeseries"], availability: Availability::InRepository, extra_hint: "" };

fn load(set: &SetInfo, file: &str, options: &CsvOptions) -> Result<Table, DataError> {
    let names = vec![file.to_string()];
    let dir = set.find_dir(file, &names, |d| first_existing(d, &names).is_some())?;
    read(dir.join(file), options)
}

/// Fisher's iris flowers: 150 × 4 features, 3 classes of 50.
pub fn iris() -> Result<Table, DataError> {
    load(&SKLEARN_SET, "iris.csv", &CsvOptions::sklearn())
}

/// Wine recognition: 178 × 13 features, 3 classes (59, 71, 48).
pub fn wine() -> Result<Table, DataError> {
    load(&SKLEARN_SET, "wine_data.csv", &CsvOptions::sklearn())
}

/// Breast cancer Wisconsin (diagnostic): 569 × 30 features; 0 = malignant (212), 1 = benign (357).
pub fn breast_cancer() -> Result<Table, DataError> {
    load(&SKLEARN_SET, "breast_cancer.csv", &CsvOptions::sklearn())
}

/// Handwritten digits, 8×8 pixels with values 0–16: 1,797 × 64 features, 10 classes.
/// (Reshape the features to `[N, 1, 8, 8]` for a convolutional network.)
pub fn digits() -> Result<Table, DataError> {
    load(&SKLEARN_SET, "digits.csv.gz", &CsvOptions::new().class_column(Column::Last))
}

/// Yearly mean sunspot numbers 1700–2008: feature `YEAR`, value target `SUNACTIVITY`.
/// For sequence models, cut the values into windows with [`series::windows`](crate::series::windows).
pub fn sunspots() -> Result<Table, DataError> {
    let options = CsvOptions::new().header(Header::Names).value_column(Column::Name("SUNACTIVITY".into()));
    load(&TIMESERIES_SET, "sunspots_yearly.csv", &options)
}
