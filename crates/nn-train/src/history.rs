//! The record of a training run, saved as CSV or JSON.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// One epoch's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, numbered from 1 (as in the progress line and in
    /// [`FitReport`](crate::FitReport)).
    pub epoch: usize,
    /// Metrics by name: `train_loss`, `val_loss`, `val_accuracy`, `lr`, `seconds`, …
    pub metrics: BTreeMap<String, f64>,
}

/// Every epoch of a run, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The epochs recorded so far.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends an epoch.
    pub fn push(&mut self, epoch: usize, metrics: BTreeMap<String, f64>) {
        self.epochs.push(EpochRecord { epoch, metrics });
    }

    /// The values of one metric over the epochs that recorded it.
    pub fn series(&self, name: &str) -> Vec<f64> {
        self.epochs
            .iter()
            .filter_map(|e| e.metrics.get(name).copied())
            .collect()
    }

    /// The last recorded value of a metric.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.epochs
            .iter()
            .rev()
            .find_map(|e| e.metrics.get(name).copied())
    }

    fn columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = self
            .epochs
            .iter()
            .flat_map(|e| e.metrics.keys().cloned())
            .collect();
        cols.sort();
        cols.dedup();
        cols
    }

    /// The history as CSV: a header `epoch,<metric>,…` then one row per epoch
    /// (empty cells where an epoch lacks a metric).
    pub fn to_csv(&self) -> String {
        let cols = self.columns();
        let mut s = String::from("epoch");
        for c in &cols {
            s.push(',');
            s.push_str(c);
        }
        s.push('\n');
        for e in &self.epochs {
            s.push_str(&e.epoch.to_string());
            for c in &cols {
                s.push(',');
                if let Some(v) = e.metrics.get(c) {
                    s.push_str(&v.to_string());
                }
            }
            s.push('\n');
        }
        s
    }

    /// The history as a JSON array of objects.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.epochs
                .iter()
                .map(|e| {
                    let mut m = serde_json::Map::new();
                    m.insert("epoch".into(), e.epoch.into());
                    for (k, v) in &e.metrics {
                        m.insert(
                            k.clone(),
                            serde_json::Number::from_f64(*v)
                                .map(Into::into)
                                .unwrap_or(serde_json::Value::Null),
                        );
                    }
                    serde_json::Value::Object(m)
                })
                .collect(),
        )
    }

    /// Reads the JSON written by [`History::to_json`] (`null` values, from
    /// non-finite numbers, are left out). Errors name the first bad entry.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let rows = value
            .as_array()
            .ok_or("history: expected a JSON array of epochs")?;
        let mut h = History::new();
        for (i, row) in rows.iter().enumerate() {
            let obj = row
                .as_object()
                .ok_or_else(|| format!("history: entry {i} is not an object"))?;
            let epoch = obj
                .get("epoch")
                .and_then(|e| e.as_u64())
                .ok_or_else(|| format!("history: entry {i} has no integer `epoch`"))?;
            let mut metrics = BTreeMap::new();
            for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "epoch") {
                if v.is_null() {
                    continue;
                }
                let x = v
                    .as_f64()
                    .ok_or_else(|| format!("history: entry {i}, `{k}` is not a number"))?;
                metrics.insert(k.clone(), x);
            }
            h.push(epoch as usize, metrics);
        }
        Ok(h)
    }

    /// Writes the history to `path`: JSON if it ends in `.json`, else CSV.
    /// The write is atomic (see [`crate::atomic_write`]).
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(&self.to_json()).expect("history serialises")
        } else {
            self.to_csv()
        };
        crate::atomic_write(path, text.as_bytes())
    }
}

/// The [`Callback`](crate::Callback) that writes the history to a file
/// after every epoch (JSON if the path ends in `.json`, else CSV; atomically).
/// Only the root process of a distributed run writes.
/// [`Trainer::save_history`](crate::Trainer::save_history) adds one.
#[derive(Clone, Debug)]
pub struct HistoryFile {
    path: std::path::PathBuf,
}

impl HistoryFile {
    /// Writes to `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        HistoryFile { path: path.into() }
    }
}

impl<T: nn_tensor::Element> crate::Callback<T> for HistoryFile {
    fn name(&self) -> &str {
        "history_file"
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut crate::FitContext<'_, T>,
        _control: &mut crate::Control,
    ) -> Result<(), crate::TrainError> {
        if ctx.is_root {
            ctx.history
                .save(&self.path)
                .map_err(crate::CheckpointError::Io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_hold_every_metric() {
        let mut h = History::new();
        h.push(1, BTreeMap::from([("train_loss".to_string(), 1.5)]));
        h.push(
            2,
            BTreeMap::from([
                ("train_loss".to_string(), 1.0),
                ("val_loss".to_string(), 1.2),
            ]),
        );
        assert_eq!(h.to_csv(), "epoch,train_loss,val_loss\n1,1.5,\n2,1,1.2\n");
        assert_eq!(h.series("train_loss"), vec![1.5, 1.0]);
        assert_eq!(h.last("val_loss"), Some(1.2));
        assert_eq!(h.to_json()[1]["val_loss"], 1.2);
        assert_eq!(History::from_json(&h.to_json()).unwrap(), h);
        assert!(History::from_json(&serde_json::json!([{"loss": 1.0}])).is_err());
    }
}
