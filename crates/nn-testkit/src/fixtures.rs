//! The PyTorch golden cases of `shared/fixtures` (formats in that folder's
//! `README.md`): one JSON file per case, with an `op` family name and its
//! tensors as `{"shape": [...], "data": [...]}`.

use std::path::PathBuf;

use nn_tensor::{Element, Tensor};
use serde_json::Value;

/// The fixtures folder: `$NN_FIXTURES`, which must exist, else
/// `../shared/fixtures` next to the workspace root; `None`, with a note on
/// stdout, when that default folder is absent (a clone without the shared
/// data: the tests check nothing, like the conformance suite).
///
/// # Panics
/// If `NN_FIXTURES` names a folder that does not exist (a typo would
/// otherwise pass every test unchecked).
pub fn dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("NN_FIXTURES") {
        let d = PathBuf::from(d);
        assert!(d.is_dir(), "NN_FIXTURES={} is not a folder", d.display());
        return Some(d);
    }
    let d = crate::shared_dir("fixtures");
    if d.is_dir() {
        Some(d)
    } else {
        println!(
            "fixtures folder {} not found (set NN_FIXTURES); nothing checked",
            d.display()
        );
        None
    }
}

/// Every case of the family `op`, in file-name order; empty when there is
/// no fixtures folder (see [`dir`]).
///
/// # Panics
/// If the folder holds no case of `op`, or a file is not JSON.
pub fn cases(op: &str) -> Vec<Value> {
    let Some(dir) = dir() else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures folder {}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let out: Vec<Value> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
        })
        .filter(|c| c["op"] == op)
        .collect();
    assert!(!out.is_empty(), "no `{op}` fixture in {}", dir.display());
    out
}

/// The tensor a case stores as `{"shape": [...], "data": [...]}`, rounded
/// to `T`.
///
/// ```
/// let v = serde_json::json!({"shape": [2, 1], "data": [0.5, -1.0]});
/// let t: nn_tensor::Tensor<f32> = nn_testkit::fixtures::tensor(&v);
/// assert_eq!(t.shape(), &[2, 1]);
/// assert_eq!(t.as_slice(), &[0.5, -1.0]);
/// ```
///
/// # Panics
/// If `v` is not such an object of numbers.
#[track_caller]
pub fn tensor<T: Element>(v: &Value) -> Tensor<T> {
    let numbers = |key: &str| -> Vec<&Value> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("a tensor needs a `{key}` array, got {v}"))
            .iter()
            .collect()
    };
    let shape: Vec<usize> = numbers("shape")
        .iter()
        .map(|d| d.as_u64().expect("a dimension") as usize)
        .collect();
    let data: Vec<f64> = numbers("data")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect();
    Tensor::from_f64s(&data, &shape)
}
