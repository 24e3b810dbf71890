//! [`History`]: what `fit` returns — one record per epoch — saved as CSV or JSON.
//!
//! ```text
//! epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds
//! 1,0.2841,0.9171,0.1420,0.9573,0.001,5.92
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One epoch's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number, as printed.
    pub epoch: usize,
    /// Training loss and metrics (mean over the epoch), by name (`loss`, `accuracy`).
    pub train: BTreeMap<String, f64>,
    /// Validation loss and metrics, by name, if there was validation data.
    pub validation: BTreeMap<String, f64>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// Every epoch's record, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The records.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The series of a training figure (`"loss"`, `"accuracy"`) over the epochs.
    pub fn train_series(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.train.get(name).copied()).collect()
    }

    /// The series of a validation figure over the epochs.
    pub fn validation_series(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.validation.get(name).copied()).collect()
    }

    /// Names of every figure recorded, training ones first.
    fn columns(&self) -> (Vec<String>, Vec<String>) {
        let mut train: Vec<String> = vec![];
        let mut val: Vec<String> = vec![];
        for e in &self.epochs {
            for k in e.train.keys() {
                if !train.contains(k) {
                    train.push(k.clone());
                }
            }
            for k in e.validation.keys() {
                if !val.contains(k) {
                    val.push(k.clone());
                }
            }
        }
        (train, val)
    }

    /// The history as CSV: `epoch`, each training figure, each validation figure (prefixed
    /// `val_`), `learning_rate`, `seconds`.
    pub fn to_csv(&self) -> String {
        let (train, val) = self.columns();
        let mut header = vec!["epoch".to_string()];
        header.extend(train.iter().cloned());
        header.extend(val.iter().map(|k| format!("val_{k}")));
        header.extend(["learning_rate".to_string(), "seconds".to_string()]);
        let mut out = header.join(",") + "\n";
        for e in &self.epochs {
            let mut row = vec![e.epoch.to_string()];
            row.extend(train.iter().map(|k| e.train.get(k).map_or(String::new(), |v| v.to_string())));
            row.extend(val.iter().map(|k| e.validation.get(k).map_or(String::new(), |v| v.to_string())));
            row.push(e.learning_rate.to_string());
            row.push(format!("{:.3}", e.seconds));
            out += &(row.join(",") + "\n");
        }
        out
    }

    /// Writes [`History::to_csv`] to `path`.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_csv()).map_err(TrainError::io(path))
    }

    /// Writes the history as pretty-printed JSON to `path`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).expect("a history is plain data");
        std::fs::write(path, text).map_err(TrainError::io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_column_per_figure() {
        let mut h = History::default();
        for (i, loss) in [0.5, 0.25].iter().enumerate() {
            h.epochs.push(EpochRecord {
                epoch: i + 1,
                train: [("loss".to_string(), *loss)].into(),
                validation: [("loss".to_string(), loss * 2.0)].into(),
                learning_rate: 0.1,
                seconds: 1.0,
            });
        }
        assert_eq!(h.to_csv(), "epoch,loss,val_loss,learning_rate,seconds\n1,0.5,1,0.1,1.000\n2,0.25,0.5,0.1,1.000\n");
        assert_eq!(h.validation_series("loss"), vec![1.0, 0.5]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), h);
    }
}
