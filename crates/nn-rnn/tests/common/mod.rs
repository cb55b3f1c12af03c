//! The PyTorch golden cases of `fixtures/pytorch` (see its README) as typed
//! tensors; the folder, its manifest and the JSON come from
//! `nn_testkit::fixtures`.

#![allow(dead_code)]

use std::collections::BTreeMap;

use nn_autograd::{Gradients, Var};
use nn_tensor::{Element, Tensor};
use serde_json::Value;

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

/// Every case of family `op`, sorted by name (the folder, missing-folder
/// and manifest checks are `nn_testkit::fixtures::cases`'s).
pub fn cases(op: &str) -> Vec<Case> {
    let mut out: Vec<Case> = nn_testkit::fixtures::cases(op)
        .iter()
        .map(|v| Case {
            name: v["name"].as_str().expect("name").to_string(),
            params: v["params"].clone(),
            inputs: tensors(&v["inputs"]),
            outputs: tensors(&v["outputs"]),
            grad_outputs: tensors(&v["grad_outputs"]),
            grads: tensors(&v["grads"]),
        })
        .collect();
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
            compare(&self.name, k, y.as_tensor(), s, d, tol);
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
