//! Runs every ONNX test case of a folder (the ONNX backend-test layout:
//! `NAME/model.onnx`, `NAME/test_data_set_*/input_*.pb`, `output_*.pb`) and
//! compares each output with the expected one within 1e-4 relative to
//! `max(1, max |expected|)`.
//!
//! The folder is `$NN_ONNX_CASES`, by default this crate's `tests/cases`
//! (small cases copied from the ONNX project's backend tests, with their
//! licence, and cases this repository generates). One line per case, then
//! a summary:
//!
//! ```text
//! case test_Conv2d passed
//! case test_Resize unsupported: op Resize (...)
//! onnx: cases_passed=P cases_failed=F cases_unsupported=U
//! ```
//!
//! The test fails on any failed case, and when no case passed.
//!
//! `NN_ONNX_CASES=/path/to/cases cargo test --release -p nn-onnx --test backend -- --nocapture`

use std::path::{Path, PathBuf};

use nn_onnx::{Model, OnnxError, Value};

const TOLERANCE: f64 = 1e-4;

enum Outcome {
    Passed,
    Failed(String),
    Unsupported(String),
}

fn sorted_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| {
                    let name = p.file_name()?.to_str()?.to_string();
                    let n = name
                        .strip_prefix(prefix)?
                        .strip_suffix(".pb")?
                        .parse()
                        .ok()?;
                    Some((n, p))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

fn read_value(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Value::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn compare(k: usize, got: &Value, want: &Value) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "output {k}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let (g, w) = (got.to_f64s(), want.to_f64s());
    let scale = w.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0.0f64, 0);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        // NaN where NaN is expected (sqrt of a negative) is right.
        let d = if a.is_nan() && b.is_nan() {
            0.0
        } else {
            (a - b).abs()
        };
        if d > worst || d.is_nan() {
            worst = if d.is_nan() { f64::INFINITY } else { d };
            at = i;
        }
    }
    if worst / scale > TOLERANCE {
        return Err(format!(
            "output {k}: element {at} is {}, expected {} (error {:.3e} > {TOLERANCE:e} × {scale:.3})",
            g[at], w[at], worst
        ));
    }
    Ok(())
}

fn run_case(dir: &Path) -> Outcome {
    let model = match Model::load(dir.join("model.onnx")) {
        Ok(m) => m,
        Err(e @ OnnxError::Unsupported { .. }) => return Outcome::Unsupported(describe(&e)),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    if sets.is_empty() {
        return Outcome::Failed("no test_data_set_* folder".into());
    }
    for set in sets {
        let inputs: Result<Vec<Value>, String> = sorted_files(&set, "input_")
            .iter()
            .map(|p| read_value(p))
            .collect();
        let expected: Result<Vec<Value>, String> = sorted_files(&set, "output_")
            .iter()
            .map(|p| read_value(p))
            .collect();
        let (inputs, expected) = match (inputs, expected) {
            (Ok(i), Ok(e)) => (i, e),
            (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
        };
        let outputs = match model.run_values(&inputs) {
            Ok(o) => o,
            Err(e @ OnnxError::Unsupported { .. }) => return Outcome::Unsupported(describe(&e)),
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        if outputs.len() < expected.len() {
            return Outcome::Failed(format!(
                "{} outputs, expected {}",
                outputs.len(),
                expected.len()
            ));
        }
        for (k, (got, want)) in outputs.iter().zip(&expected).enumerate() {
            if let Err(e) = compare(k, got, want) {
                return Outcome::Failed(format!(
                    "{}: {e}",
                    set.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    Outcome::Passed
}

/// `op NAME (what, node, opset)` for an unsupported case.
fn describe(e: &OnnxError) -> String {
    match e {
        OnnxError::Unsupported {
            node,
            op,
            opset,
            what,
        } => {
            format!("op {op} ({what}; node {node:?}, opset {opset})")
        }
        other => other.to_string(),
    }
}

#[test]
fn backend_cases() {
    let dir = std::env::var_os("NN_ONNX_CASES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    cases.sort();
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        match run_case(case) {
            Outcome::Passed => {
                passed += 1;
                println!("case {name} passed");
            }
            Outcome::Failed(why) => {
                failed += 1;
                println!("case {name} failed: {why}");
            }
            Outcome::Unsupported(what) => {
                unsupported += 1;
                println!("case {name} unsupported: {what}");
            }
        }
    }
    println!("onnx: cases_passed={passed} cases_failed={failed} cases_unsupported={unsupported}");
    assert_eq!(failed, 0, "{failed} case(s) failed in {}", dir.display());
    assert!(passed > 0, "no case passed in {}", dir.display());
}
