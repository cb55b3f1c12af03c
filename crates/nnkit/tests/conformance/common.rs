//! The machinery every family module shares: loading a case, turning its
//! JSON tensors into [`Tensor<T>`] / [`Var<T>`], reading hyper-parameters,
//! seeding the backward pass and comparing results.
//!
//! A family module only writes the forward pass, through [`Ctx`]; this file
//! does everything else, the same way for every family.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use nnkit::autograd::{Reduction, Var};
use nnkit::tensor::{Element, Tensor};
use serde_json::{Map, Value};

/// The forward pass of one family: builds the outputs, by their fixture
/// names, from the inputs and params in `ctx`. An `Err` (an unknown param
/// value, a missing input) fails the case: a family never skips a case.
pub type Runner<T> = fn(&Ctx<'_, T>) -> Result<Outputs<T>, String>;

/// Outputs of a forward pass, keyed by the names in the fixture's `outputs`.
pub type Outputs<T> = BTreeMap<String, Var<T>>;

/// Builds an [`Outputs`] holding one output.
pub fn output<T: Element>(name: &str, value: Var<T>) -> Outputs<T> {
    BTreeMap::from([(name.to_string(), value)])
}

/// The element data of a fixture tensor, in its stored dtype.
#[derive(Debug)]
pub enum Data {
    /// `float64`.
    Float(Vec<f64>),
    /// `int64` (class indices, output shapes).
    Int(Vec<i64>),
    /// `bool` (masks; `true` means masked out).
    Bool(Vec<bool>),
}

/// A tensor as stored in a fixture: a shape and flat row-major data.
#[derive(Debug)]
pub struct RefTensor {
    /// The shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// The elements.
    pub data: Data,
}

impl RefTensor {
    /// Parses `{"shape": [...], "dtype": ..., "data": [...]}`, checking that
    /// the data length matches the shape before anything is allocated.
    fn parse(what: &str, v: &Value) -> Result<Self, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{what}: not a tensor object"))?;
        let shape: Vec<usize> = obj
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{what}: missing \"shape\" list"))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| format!("{what}: bad dimension {d}"))
            })
            .collect::<Result<_, _>>()?;
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| format!("{what}: shape {shape:?} overflows"))?;
        let items = obj
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{what}: missing \"data\" list"))?;
        if items.len() != numel {
            return Err(format!(
                "{what}: shape {shape:?} holds {numel} elements but data has {}",
                items.len()
            ));
        }
        let dtype = obj.get("dtype").and_then(Value::as_str).unwrap_or("");
        let bad = |x: &Value| format!("{what}: element {x} is not a {dtype}");
        let data = match dtype {
            "float64" => Data::Float(
                items
                    .iter()
                    .map(|x| x.as_f64().ok_or_else(|| bad(x)))
                    .collect::<Result<_, _>>()?,
            ),
            "int64" => Data::Int(
                items
                    .iter()
                    .map(|x| x.as_i64().ok_or_else(|| bad(x)))
                    .collect::<Result<_, _>>()?,
            ),
            "bool" => Data::Bool(
                items
                    .iter()
                    .map(|x| x.as_bool().ok_or_else(|| bad(x)))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("{what}: unknown dtype {other:?}")),
        };
        Ok(RefTensor { shape, data })
    }

    /// Every element as `f64` (ints exactly up to 2⁵³, bools as 0/1), for
    /// comparing with a computed output.
    pub fn to_f64s(&self) -> Vec<f64> {
        match &self.data {
            Data::Float(v) => v.clone(),
            Data::Int(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// The tensor in precision `T` (float64 data only: casting a mask or a
    /// class index to a float is a family's explicit decision).
    pub fn to_tensor<T: Element>(&self, what: &str) -> Result<Tensor<T>, String> {
        match &self.data {
            Data::Float(v) => {
                Tensor::try_from_vec(v.iter().map(|&x| T::of(x)).collect(), &self.shape)
                    .map_err(|e| format!("{what}: {e}"))
            }
            _ => Err(format!("{what}: expected float64 data")),
        }
    }
}

/// One fixture file.
#[derive(Debug)]
pub struct Case {
    /// The case name (the file name without `.json`).
    pub name: String,
    /// The op family.
    pub op: String,
    /// Hyper-parameters.
    pub params: Map<String, Value>,
    /// Inputs by name.
    pub inputs: BTreeMap<String, RefTensor>,
    /// Reference outputs by name.
    pub outputs: BTreeMap<String, RefTensor>,
    /// The upstream gradient of each differentiable output.
    pub grad_outputs: BTreeMap<String, RefTensor>,
    /// Reference gradients of the inputs named here.
    pub grads: BTreeMap<String, RefTensor>,
}

fn tensor_map(v: &Value, key: &str) -> Result<BTreeMap<String, RefTensor>, String> {
    let Some(v) = v.get(key) else {
        return Ok(BTreeMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| format!("\"{key}\" is not an object"))?;
    obj.iter()
        .map(|(name, t)| Ok((name.clone(), RefTensor::parse(&format!("{key}.{name}"), t)?)))
        .collect()
}

impl Case {
    /// Reads and parses one fixture file. Never panics: every problem is an
    /// `Err` naming the file.
    pub fn load(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the JSON text of a case.
    pub fn parse(text: &str) -> Result<Case, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let string = |key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing string \"{key}\""))
        };
        let params = match v.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("\"params\" is not an object".into()),
        };
        Ok(Case {
            name: string("name")?,
            op: string("op")?,
            params,
            inputs: tensor_map(&v, "inputs")?,
            outputs: tensor_map(&v, "outputs")?,
            grad_outputs: tensor_map(&v, "grad_outputs")?,
            grads: tensor_map(&v, "grads")?,
        })
    }
}

/// A fixture file and its case, or why it could not be loaded.
pub type Loaded = (PathBuf, Result<Case, String>);

/// Every `*.json` file of `dir`, sorted by name, each loaded or with the
/// reason it could not be.
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let c = Case::load(&p);
            (p, c)
        })
        .collect())
}

/// What a runner sees of a case in precision `T`: its inputs (float inputs
/// as vars, a leaf for each input named in `grads`, so a var used in several
/// roles collects the sum of its gradients) and its params.
pub struct Ctx<'a, T: Element> {
    /// The case being run.
    pub case: &'a Case,
    vars: BTreeMap<String, Var<T>>,
}

impl<'a, T: Element> Ctx<'a, T> {
    /// Casts every float input to `T`; inputs with a reference gradient
    /// become leaves, the others constants.
    pub fn new(case: &'a Case) -> Result<Self, String> {
        let mut vars = BTreeMap::new();
        for (name, t) in &case.inputs {
            let wants_grad = case.grads.contains_key(name);
            match t.data {
                Data::Float(_) => {
                    let v = t.to_tensor(&format!("input {name}"))?;
                    let v = if wants_grad {
                        Var::leaf(v)
                    } else {
                        Var::constant(v)
                    };
                    vars.insert(name.clone(), v);
                }
                _ if wants_grad => {
                    return Err(format!("input {name} has a gradient but is not float64"))
                }
                _ => {}
            }
        }
        Ok(Ctx { case, vars })
    }

    fn raw(&self, name: &str) -> Result<&'a RefTensor, String> {
        self.case
            .inputs
            .get(name)
            .ok_or_else(|| format!("missing input {name:?}"))
    }

    /// True when the case has an input of that name.
    pub fn has_input(&self, name: &str) -> bool {
        self.case.inputs.contains_key(name)
    }

    /// A float input as a var (the same var on every call).
    pub fn var(&self, name: &str) -> Result<Var<T>, String> {
        self.raw(name)?;
        self.vars
            .get(name)
            .cloned()
            .ok_or_else(|| format!("input {name:?} is not float64"))
    }

    /// A float input's value, for arguments that take a constant tensor.
    pub fn tensor(&self, name: &str) -> Result<Tensor<T>, String> {
        Ok(self.var(name)?.value().clone())
    }

    /// An int64 input as indices (class targets), rejecting negatives.
    pub fn indices(&self, name: &str) -> Result<Vec<usize>, String> {
        match &self.raw(name)?.data {
            Data::Int(v) => v
                .iter()
                .map(|&i| {
                    usize::try_from(i).map_err(|_| format!("input {name}: negative index {i}"))
                })
                .collect(),
            _ => Err(format!("input {name:?} is not int64")),
        }
    }

    /// A parameter, which must be present.
    pub fn param(&self, key: &str) -> Result<&'a Value, String> {
        self.case
            .params
            .get(key)
            .ok_or_else(|| format!("missing param {key:?}"))
    }

    /// A numeric parameter in precision `T`.
    pub fn param_f(&self, key: &str) -> Result<T, String> {
        let v = self.param(key)?;
        v.as_f64()
            .map(T::of)
            .ok_or_else(|| format!("param {key:?} = {v} is not a number"))
    }

    /// A non-negative integer parameter.
    pub fn param_usize(&self, key: &str) -> Result<usize, String> {
        let v = self.param(key)?;
        v.as_u64()
            .and_then(|x| usize::try_from(x).ok())
            .ok_or_else(|| format!("param {key:?} = {v} is not a non-negative integer"))
    }

    /// A (possibly negative) dimension index.
    pub fn param_dim(&self, key: &str) -> Result<isize, String> {
        let v = self.param(key)?;
        v.as_i64()
            .and_then(|x| isize::try_from(x).ok())
            .ok_or_else(|| format!("param {key:?} = {v} is not an integer"))
    }

    /// A list of dimension indices; `null` gives `None` (every dim), and a
    /// bare integer is a list of one, as in PyTorch.
    pub fn param_dims(&self, key: &str) -> Result<Option<Vec<isize>>, String> {
        let v = self.param(key)?;
        let as_dim = |x: &Value| {
            x.as_i64()
                .and_then(|x| isize::try_from(x).ok())
                .ok_or_else(|| format!("param {key:?} = {v} is not a list of dims"))
        };
        match v {
            Value::Null => Ok(None),
            Value::Array(a) => a.iter().map(as_dim).collect::<Result<_, _>>().map(Some),
            x => as_dim(x).map(|d| Some(vec![d])),
        }
    }

    /// A boolean parameter.
    pub fn param_bool(&self, key: &str) -> Result<bool, String> {
        let v = self.param(key)?;
        v.as_bool()
            .ok_or_else(|| format!("param {key:?} = {v} is not a bool"))
    }

    /// A string parameter.
    pub fn param_str(&self, key: &str) -> Result<&'a str, String> {
        let v = self.param(key)?;
        v.as_str()
            .ok_or_else(|| format!("param {key:?} = {v} is not a string"))
    }

    /// `params.reduction` as a [`Reduction`].
    pub fn reduction(&self) -> Result<Reduction, String> {
        let s = self.param_str("reduction")?;
        Reduction::parse(s).ok_or_else(|| format!("unknown reduction {s:?}"))
    }
}

/// Tolerances of one precision (fixtures README, "Suggested tolerances").
#[derive(Clone, Copy, Debug)]
pub struct Precision {
    /// `"f64"` or `"f32"`, for messages.
    pub label: &'static str,
    /// The largest accepted error.
    pub tolerance: f64,
}

/// `max|got − ref| / max(1, max|ref|)`; infinite when either side holds a
/// non-finite value (`f64::max` would silently skip a NaN).
pub fn relative_error(got: &[f64], reference: &[f64]) -> f64 {
    let mut diff = 0.0f64;
    let mut scale = 1.0f64;
    for (&g, &r) in got.iter().zip(reference) {
        if !(g.is_finite() && r.is_finite()) {
            return f64::INFINITY;
        }
        diff = diff.max((g - r).abs());
        scale = scale.max(r.abs());
    }
    diff / scale
}

/// One tensor of one case that did not match.
#[derive(Debug)]
pub struct Mismatch {
    /// `"f64"` or `"f32"`.
    pub precision: &'static str,
    /// `output y`, `grad x`, or `run` for a failure before any comparison.
    pub tensor: String,
    /// The error measure, or why there is none.
    pub detail: String,
}

fn compare<T: Element>(
    p: Precision,
    what: String,
    got: Option<&Tensor<T>>,
    reference: &RefTensor,
    out: &mut Vec<Mismatch>,
) {
    let fail = |detail: String| Mismatch {
        precision: p.label,
        tensor: what.clone(),
        detail,
    };
    let Some(got) = got else {
        out.push(fail("not produced".into()));
        return;
    };
    if got.shape() != reference.shape.as_slice() {
        out.push(fail(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            reference.shape
        )));
        return;
    }
    let err = relative_error(&got.to_f64_vec(), &reference.to_f64s());
    if err > p.tolerance {
        out.push(fail(format!("err {err:.3e} > {:.0e}", p.tolerance)));
    }
}

/// The objective `J = Σ_k Σ_i out_k[i]·grad_out_k[i]` over the outputs named
/// in `grad_outputs`; its gradient is the fixtures' `grads`. `None` when
/// the case has no differentiable output.
pub fn objective<T: Element>(case: &Case, outs: &Outputs<T>) -> Result<Option<Var<T>>, String> {
    let mut j: Option<Var<T>> = None;
    for (name, seed) in &case.grad_outputs {
        let out = outs
            .get(name)
            .ok_or_else(|| format!("output {name:?} (in grad_outputs) not produced"))?;
        let seed = Var::constant(seed.to_tensor(&format!("grad_outputs.{name}"))?);
        let term = out
            .try_mul(&seed)
            .map_err(|e| format!("seeding output {name}: {e}"))?
            .sum();
        j = Some(match j {
            Some(acc) => acc.add(&term),
            None => term,
        });
    }
    Ok(j)
}

/// Runs one case in precision `T`: forward, every output compared, then
/// backward from [`objective`] and every listed gradient compared. A panic
/// inside the library is caught and reported as a failure of this case.
pub fn run_case<T: Element>(case: &Case, runner: Runner<T>, p: Precision) -> Vec<Mismatch> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<Mismatch>, String> {
        let ctx = Ctx::<T>::new(case)?;
        let outs = runner(&ctx)?;
        let mut mismatches = Vec::new();
        for (name, reference) in &case.outputs {
            let got = outs.get(name).map(|v| v.as_tensor());
            compare(p, format!("output {name}"), got, reference, &mut mismatches);
        }
        if let Some(j) = objective(case, &outs)? {
            let grads = j.backward();
            for (name, reference) in &case.grads {
                let var = ctx.var(name).map_err(|e| format!("grad {name}: {e}"))?;
                compare(
                    p,
                    format!("grad {name}"),
                    grads.get(&var),
                    reference,
                    &mut mismatches,
                );
            }
        } else if !case.grads.is_empty() {
            return Err("grads listed but grad_outputs empty".into());
        }
        Ok(mismatches)
    }));
    let run_failure = |detail: String| {
        vec![Mismatch {
            precision: p.label,
            tensor: "run".into(),
            detail,
        }]
    };
    match result {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => run_failure(e),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            run_failure(format!("panicked: {msg}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = r#"{"name": "t", "op": "relu", "params": {"dim": null},
        "inputs": {"x": {"shape": [2], "dtype": "float64", "data": [1.5, -2.0]},
                   "i": {"shape": [], "dtype": "int64", "data": [3]}},
        "outputs": {"y": {"shape": [2], "dtype": "float64", "data": [1.5, 0.0]}},
        "grad_outputs": {"y": {"shape": [2], "dtype": "float64", "data": [0.5, 2.0]}},
        "grads": {"x": {"shape": [2], "dtype": "float64", "data": [0.5, 0.0]}}}"#;

    #[test]
    fn parses_a_case_and_builds_leaves_for_inputs_with_gradients() {
        let case = Case::parse(CASE).unwrap();
        let ctx = Ctx::<f32>::new(&case).unwrap();
        assert!(ctx.var("x").unwrap().requires_grad());
        assert_eq!(ctx.indices("i").unwrap(), vec![3]);
        assert_eq!(ctx.param_dims("dim").unwrap(), None);
        assert!(ctx.var("i").is_err());
        assert!(ctx.param_f("missing").is_err());
    }

    #[test]
    fn rejects_data_that_does_not_fill_the_shape() {
        let bad = CASE.replace(
            "\"shape\": [2], \"dtype\": \"float64\", \"data\": [1.5, -2.0]",
            "\"shape\": [3000000000], \"dtype\": \"float64\", \"data\": [1.5, -2.0]",
        );
        let err = Case::parse(&bad).unwrap_err();
        assert!(
            err.contains("holds 3000000000 elements but data has 2"),
            "{err}"
        );
        assert!(Case::parse(&CASE.replace("int64", "int8")).is_err());
    }

    #[test]
    fn error_is_relative_to_the_reference_scale_and_rejects_non_finite() {
        assert_eq!(relative_error(&[1.0, 2.5], &[1.0, 2.0]), 0.25);
        assert_eq!(relative_error(&[10.0, 0.0], &[20.0, 0.0]), 0.5);
        assert_eq!(relative_error(&[f64::NAN], &[0.0]), f64::INFINITY);
    }

    #[test]
    fn a_wrong_gradient_fails_the_case() {
        fn relu<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
            Ok(output("y", c.var("x")?.relu()))
        }
        fn leaky<T: Element>(c: &Ctx<'_, T>) -> Result<Outputs<T>, String> {
            Ok(output("y", c.var("x")?.leaky_relu(T::of(1e-3))))
        }
        let case = Case::parse(CASE).unwrap();
        let p = Precision {
            label: "f64",
            tolerance: 1e-9,
        };
        assert!(run_case::<f64>(&case, relu::<f64>, p).is_empty());
        let m = run_case::<f64>(&case, leaky::<f64>, p);
        assert_eq!(
            m.iter().map(|m| m.tensor.as_str()).collect::<Vec<_>>(),
            ["output y", "grad x"]
        );
    }
}
