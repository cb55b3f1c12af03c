//! Loading the PyTorch golden cases of `shared/fixtures` (see its README).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use nn_autograd::{Gradients, Var};
use nn_tensor::{Element, Tensor};
use serde_json::Value;

/// The fixture directory: `$NN_FIXTURES`, else `shared/fixtures` in the
/// workspace root's parent (as the conformance suite resolves it).
pub fn fixture_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("NN_FIXTURES") {
        return PathBuf::from(p);
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.ancestors().nth(3) {
        Some(outside) => outside.join("shared/fixtures"),
        None => manifest.join("../../../shared/fixtures"),
    }
}

/// One case, with its tensors kept as f64 and bool.
pub struct Case {
    pub name: String,
    pub params: Value,
    pub inputs: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    pub outputs: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    pub grad_outputs: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    pub grads: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
}

fn tensors(v: &Value) -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    let mut m = BTreeMap::new();
    for (k, t) in v.as_object().expect("tensor map") {
        let shape = t["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let data = t["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|x| match x {
                Value::Bool(b) => f64::from(u8::from(*b)),
                x => x.as_f64().expect("number"),
            })
            .collect();
        m.insert(k.clone(), (shape, data));
    }
    m
}

/// Every case of family `op`, sorted by name. Like the conformance suite, an
/// absent folder (a clone without `shared/`) is reported and checks nothing;
/// a folder without cases of the family fails.
pub fn cases(op: &str) -> Vec<Case> {
    let dir = fixture_dir();
    if std::env::var_os("NN_FIXTURES").is_none() && !dir.is_dir() {
        eprintln!(
            "fixtures folder {} not found (set NN_FIXTURES); `{op}` not checked",
            dir.display()
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "fixture dir {} unreadable ({e}); set NN_FIXTURES",
            dir.display()
        )
    });
    for e in entries {
        let path = e.expect("dir entry").path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read fixture");
        let v: Value = serde_json::from_str(&text).expect("fixture json");
        if v["op"] != op {
            continue;
        }
        out.push(Case {
            name: v["name"].as_str().expect("name").to_string(),
            params: v["params"].clone(),
            inputs: tensors(&v["inputs"]),
            outputs: tensors(&v["outputs"]),
            grad_outputs: tensors(&v["grad_outputs"]),
            grads: tensors(&v["grads"]),
        });
    }
    assert!(!out.is_empty(), "no `{op}` fixtures in {}", dir.display());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

impl Case {
    pub fn tensor<T: Element>(&self, name: &str) -> Tensor<T> {
        let (s, d) = self
            .inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no input {name}", self.name));
        Tensor::from_f64s(d, s)
    }
    pub fn has(&self, name: &str) -> bool {
        self.inputs.contains_key(name)
    }
    pub fn mask(&self, name: &str) -> Option<(Vec<usize>, Vec<bool>)> {
        self.inputs
            .get(name)
            .map(|(s, d)| (s.clone(), d.iter().map(|&v| v != 0.0).collect()))
    }
    pub fn usize(&self, k: &str) -> usize {
        self.params[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: param {k}", self.name)) as usize
    }
    pub fn f64(&self, k: &str) -> f64 {
        self.params[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: param {k}", self.name))
    }
    pub fn bool(&self, k: &str) -> bool {
        self.params[k]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: param {k}", self.name))
    }

    /// J = Σ_k outputs[k] ⊙ grad_outputs[k]: a scalar to back-propagate.
    pub fn objective<T: Element>(&self, outs: &BTreeMap<&str, Var<T>>) -> Var<T> {
        let mut j: Option<Var<T>> = None;
        for (k, (s, d)) in &self.grad_outputs {
            let y = outs
                .get(k.as_str())
                .unwrap_or_else(|| panic!("{}: no output {k}", self.name));
            let term = y.mul_tensor(&Tensor::from_f64s(d, s)).sum();
            j = Some(match j {
                Some(j) => j.add(&term),
                None => term,
            });
        }
        j.expect("a case with gradients")
    }

    /// Compares every stored output present in `outs`, then every stored
    /// gradient via `grad_of`. Panics with the worst error.
    pub fn check<T: Element>(
        &self,
        outs: &BTreeMap<&str, Var<T>>,
        grads: &Gradients<T>,
        leaves: &BTreeMap<&str, Var<T>>,
        tol: f64,
    ) {
        for (k, (s, d)) in &self.outputs {
            let Some(y) = outs.get(k.as_str()) else {
                panic!("{}: output {k} not produced", self.name)
            };
            compare(&self.name, k, y.value(), s, d, tol);
        }
        for (k, (s, d)) in &self.grads {
            let leaf = leaves
                .get(k.as_str())
                .unwrap_or_else(|| panic!("{}: no leaf for {k}", self.name));
            let g = grads
                .get(leaf)
                .unwrap_or_else(|| panic!("{}: no gradient reached {k}", self.name));
            compare(&self.name, &format!("grad {k}"), g, s, d, tol);
        }
    }
}

pub fn compare<T: Element>(
    case: &str,
    what: &str,
    got: &Tensor<T>,
    shape: &[usize],
    want: &[f64],
    tol: f64,
) {
    assert_eq!(got.shape(), shape, "{case}: {what} shape");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = got
        .to_f64_vec()
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale;
    assert!(err <= tol, "{case}: {what} error {err:.3e} > {tol:.0e}");
}
