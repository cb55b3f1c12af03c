//! Saving and loading an optimiser's state (safetensors), to resume a run exactly.
//!
//! File layout: one tensor per state entry, named `"{param_name}.{state_key}"`
//! (`"fc.weight.exp_avg"`), in the element type of the optimiser; the
//! metadata map holds the algorithm (`optimizer`), its hyper-parameters
//! (`config`, JSON), the parameter groups with their learning rates and weight
//! decays (`groups`, JSON), the per-parameter step counts (`steps`, JSON),
//! the gradient clipping (`grad_clipping`, JSON) and a format tag.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use nn_tensor::safetensors_io::{read_float_tensors, ReadTensorError};
use nn_tensor::{Element, LeDtype, Tensor};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::clip::GradClip;
use crate::error::{OptimError, Result};
use crate::optimizer::Optimizer;
use crate::rule::UpdateRule;

const FORMAT: &str = "nn-optim/1";

/// One parameter group as saved: its hyper-parameters and parameter names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group's learning rate when saved (a schedule's current value).
    pub lr: f64,
    /// The group's weight decay.
    pub weight_decay: f64,
    /// The names of its parameters, in order.
    pub params: Vec<String>,
}

/// Everything needed to resume an optimiser, like PyTorch's
/// `optimizer.state_dict()`: see [`Optimizer::state_dict`].
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T: Element> {
    /// The algorithm's name (`"sgd"`, `"adam"`, ...).
    pub optimizer: String,
    /// The rule's hyper-parameters, as JSON.
    pub config: String,
    /// The parameter groups.
    pub groups: Vec<GroupState>,
    /// Steps taken, per parameter name (parameters never stepped are absent).
    pub steps: BTreeMap<String, u64>,
    /// The gradient clipping applied at each step.
    pub grad_clipping: Option<GradClip>,
    /// Every state tensor, keyed `"{param_name}.{state_key}"`.
    pub tensors: BTreeMap<String, Tensor<T>>,
}

fn json<V: Serialize>(v: &V) -> String {
    serde_json::to_string(v).expect("plain data serialises to JSON")
}

fn from_json<V: for<'de> Deserialize<'de>>(what: &str, s: &str) -> Result<V> {
    serde_json::from_str(s).map_err(|e| OptimError::state(format!("bad `{what}` entry: {e}")))
}

impl<T: Element> OptimizerState<T> {
    /// The state as a safetensors file in memory.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let dtype = LeDtype::of::<T>();
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.shape().to_vec(), t.to_le_bytes(dtype)))
            .collect();
        let mut views = Vec::with_capacity(bytes.len());
        for (k, shape, b) in &bytes {
            let view = TensorView::new(dtype.into(), shape.clone(), b)
                .map_err(|e| OptimError::state(format!("tensor `{k}`: {e:?}")))?;
            views.push((k.as_str(), view));
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("optimizer".to_string(), self.optimizer.clone());
        meta.insert("config".to_string(), self.config.clone());
        meta.insert("groups".to_string(), json(&self.groups));
        meta.insert("steps".to_string(), json(&self.steps));
        meta.insert("grad_clipping".to_string(), json(&self.grad_clipping));
        safetensors::serialize(views, &Some(meta))
            .map_err(|e| OptimError::state(format!("cannot serialise: {e:?}")))
    }

    /// Reads a state from safetensors bytes. A corrupt, truncated or foreign
    /// file is an error, never a panic. Tensors stored as f32 or f64 are
    /// converted to `T`.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| OptimError::state(format!("not a valid safetensors file: {e:?}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| OptimError::state(format!("not a valid safetensors file: {e:?}")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| OptimError::state("the file has no metadata: not an optimiser state"))?;
        let get = |k: &str| {
            meta.get(k)
                .ok_or_else(|| OptimError::state(format!("the metadata lacks `{k}`")))
        };
        let format = get("format")?;
        if format != FORMAT {
            return Err(OptimError::state(format!(
                "unknown format `{format}` (expected `{FORMAT}`)"
            )));
        }
        let tensors = read_float_tensors(&st).map_err(|e| {
            OptimError::state(match e {
                ReadTensorError::Dtype { name, dtype } => {
                    format!("tensor `{name}` has dtype {dtype:?}; only F32 and F64 are supported")
                }
                ReadTensorError::Bytes { name, source } => format!("tensor `{name}`: {source}"),
            })
        })?;
        Ok(OptimizerState {
            optimizer: get("optimizer")?.clone(),
            config: get("config")?.clone(),
            groups: from_json("groups", get("groups")?)?,
            steps: from_json("steps", get("steps")?)?,
            grad_clipping: from_json("grad_clipping", get("grad_clipping")?)?,
            tensors,
        })
    }

    /// Writes the state to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_safetensors()?).map_err(|e| io_error(path, e))
    }

    /// Reads a state from a safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        Self::from_safetensors(&bytes)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> OptimError {
    OptimError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl<T: Element, R: UpdateRule<T>> Optimizer<T, R> {
    /// Exports the state: every state tensor under
    /// `"{param_name}.{state_key}"`, the step counts, the groups with their
    /// current learning rates and the hyper-parameters.
    pub fn state_dict(&self) -> OptimizerState<T> {
        let mut steps = BTreeMap::new();
        let mut tensors = BTreeMap::new();
        let mut groups = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            for s in &g.slots {
                if s.steps > 0 {
                    steps.insert(s.name.clone(), s.steps);
                }
                if let Some(st) = &s.state {
                    for (key, t) in self.rule.state_tensors(st) {
                        tensors.insert(format!("{}.{key}", s.name), t);
                    }
                }
            }
            groups.push(GroupState {
                lr: g.lr,
                weight_decay: g.weight_decay,
                params: g.slots.iter().map(|s| s.name.clone()).collect(),
            });
        }
        OptimizerState {
            optimizer: R::NAME.to_string(),
            config: json(&self.rule),
            groups,
            steps,
            grad_clipping: self.clip,
            tensors,
        }
    }

    /// Restores a state exported by [`Optimizer::state_dict`]: the
    /// hyper-parameters, learning rates, step counts and state tensors.
    ///
    /// The state must come from the same algorithm over the same parameter
    /// names, grouped the same way, with tensors of the parameters' shapes;
    /// otherwise nothing changes and the error says what differs.
    pub fn load_state_dict(&mut self, state: &OptimizerState<T>) -> Result<()> {
        if state.optimizer != R::NAME {
            return Err(OptimError::state(format!(
                "saved by `{}`, cannot load into `{}`",
                state.optimizer,
                R::NAME
            )));
        }
        let rule: R = from_json("config", &state.config)?;
        rule.validate()?;
        if let Some(c) = &state.grad_clipping {
            c.validate()?;
        }
        if state.groups.len() != self.groups.len() {
            return Err(OptimError::state(format!(
                "{} parameter groups saved, this optimiser has {}",
                state.groups.len(),
                self.groups.len()
            )));
        }
        for (i, (saved, g)) in state.groups.iter().zip(&self.groups).enumerate() {
            let ours: Vec<&str> = g.slots.iter().map(|s| s.name.as_str()).collect();
            if saved.params != ours {
                return Err(OptimError::state(format!(
                    "group {i} holds parameters {:?} when saved, {ours:?} here",
                    saved.params
                )));
            }
            crate::error::check::lr(R::DISPLAY, saved.lr)?;
            crate::error::check::non_negative(R::DISPLAY, "weight_decay", saved.weight_decay)?;
        }
        // Split the tensors by parameter; names may contain dots, keys do not.
        let mut by_param: HashMap<&str, HashMap<&str, &Tensor<T>>> = HashMap::new();
        for (k, t) in &state.tensors {
            let (param, key) = k
                .rsplit_once('.')
                .ok_or_else(|| OptimError::state(format!("tensor name `{k}` has no state key")))?;
            by_param.entry(param).or_default().insert(key, t);
        }
        for name in state.steps.keys() {
            if self.slot(name).is_none() {
                return Err(OptimError::state(format!(
                    "step count for unknown parameter `{name}`"
                )));
            }
        }
        // Build every new state first, so a failure changes nothing.
        let mut new_states = Vec::new();
        for g in &self.groups {
            for s in &g.slots {
                let steps = state.steps.get(&s.name).copied().unwrap_or(0);
                let mut saved = by_param.remove(s.name.as_str()).unwrap_or_default();
                if steps == 0 {
                    if let Some(k) = saved.keys().next() {
                        return Err(OptimError::state(format!(
                            "tensor `{}.{k}` for a parameter that never stepped",
                            s.name
                        )));
                    }
                    new_states.push((0, None));
                    continue;
                }
                let value = s.param.value();
                let mut bad_shape = None;
                let mut take = |key: &'static str| {
                    let t = saved.remove(key)?;
                    if t.shape() != value.shape() {
                        bad_shape = Some((key, t.shape().to_vec()));
                        return None;
                    }
                    Some(t.clone())
                };
                let built = rule.state_from_tensors(&value, &mut take);
                if let Some((key, shape)) = bad_shape {
                    return Err(OptimError::state(format!(
                        "tensor `{}.{key}` has shape {shape:?}, the parameter has shape {:?}",
                        s.name,
                        value.shape()
                    )));
                }
                let built =
                    built.map_err(|e| OptimError::state(format!("parameter `{}`: {e}", s.name)))?;
                if let Some(k) = saved.keys().next() {
                    return Err(OptimError::state(format!(
                        "unexpected tensor `{}.{k}` for {}",
                        s.name,
                        R::DISPLAY
                    )));
                }
                new_states.push((steps, Some(built)));
            }
        }
        if let Some(param) = by_param.keys().next() {
            return Err(OptimError::state(format!(
                "state tensors for unknown parameter `{param}`"
            )));
        }
        // Commit.
        self.rule = rule;
        self.clip = state.grad_clipping;
        let mut it = new_states.into_iter();
        for (g, saved) in self.groups.iter_mut().zip(&state.groups) {
            g.lr = saved.lr;
            g.weight_decay = saved.weight_decay;
            for s in &mut g.slots {
                let (steps, st) = it.next().expect("one state per slot");
                s.steps = steps;
                s.state = st;
            }
        }
        Ok(())
    }

    /// Writes [`Optimizer::state_dict`] to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.state_dict().save(path)
    }

    /// Reads a safetensors file written by [`Optimizer::save`] and restores it.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let state = OptimizerState::load(path)?;
        self.load_state_dict(&state)
    }
}
