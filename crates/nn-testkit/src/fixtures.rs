//! The PyTorch golden cases (format in `fixtures/pytorch/README.md`): one
//! JSON file per case, with an `op` family name and its tensors as
//! `{"shape": [...], "data": [...]}`.
//!
//! By default they are the cases checked in at `fixtures/pytorch`, listed by
//! family with their counts in its `manifest.txt`; `NN_FIXTURES=DIR` runs
//! the cases of another folder of the same format instead (other shapes and
//! seeds, no manifest).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nn_tensor::{Element, Tensor};
use serde_json::Value;

/// The environment variable naming another fixtures folder.
pub const ENV: &str = "NN_FIXTURES";

/// The manifest's file name inside the repository's fixtures folder.
pub const MANIFEST: &str = "manifest.txt";

/// The fixtures folder: `$NN_FIXTURES`, else `fixtures/pytorch` in the
/// workspace.
///
/// # Panics
/// If the folder is missing or holds no `.json` case.
pub fn dir() -> PathBuf {
    crate::folder(ENV, crate::repository_fixtures("pytorch"), "json")
}

/// The manifest of the folder [`dir`] returns: family name → number of
/// cases, or `None` when `NN_FIXTURES` names another folder (which has
/// none: every case there runs).
///
/// # Panics
/// If the repository's manifest is missing or malformed.
pub fn manifest() -> Option<BTreeMap<String, usize>> {
    if std::env::var_os(ENV).is_some() {
        return None;
    }
    let path = dir().join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixtures manifest {}: {e}", path.display()));
    Some(parse_manifest(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Reads a manifest: one `family cases` line per family; blank lines and
/// lines starting with `#` are comments.
///
/// ```
/// let m = nn_testkit::fixtures::parse_manifest("# families\nrelu 3\nadd 2\n").unwrap();
/// assert_eq!(m["relu"], 3);
/// assert!(nn_testkit::fixtures::parse_manifest("relu three").is_err());
/// assert!(nn_testkit::fixtures::parse_manifest("relu 1\nrelu 2").is_err());
/// ```
pub fn parse_manifest(text: &str) -> Result<BTreeMap<String, usize>, String> {
    let mut families = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [family, count] = fields[..] else {
            return Err(format!(
                "line {}: expected `family cases`, got {line:?}",
                i + 1
            ));
        };
        let count: usize = count
            .parse()
            .map_err(|_| format!("line {}: `{count}` is not a case count", i + 1))?;
        if families.insert(family.to_string(), count).is_some() {
            return Err(format!("line {}: family {family} listed twice", i + 1));
        }
    }
    Ok(families)
}

/// Every case of the family `op`, in file-name order.
///
/// # Panics
/// If the folder is missing or empty (see [`dir`]), holds no case of `op`,
/// holds a number of `op` cases other than its manifest says, or a file is
/// not JSON.
pub fn cases(op: &str) -> Vec<Value> {
    let dir = dir();
    let out = cases_in(&dir, op);
    assert!(!out.is_empty(), "no `{op}` fixture in {}", dir.display());
    if let Some(manifest) = manifest() {
        assert_eq!(
            manifest.get(op).copied(),
            Some(out.len()),
            "{}: the manifest's count of `{op}` cases differs from the folder's",
            dir.display()
        );
    }
    out
}

fn cases_in(dir: &Path, op: &str) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("fixtures folder {}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
        })
        .filter(|c| c["op"] == op)
        .collect()
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
