//! [`Model`]: an ONNX file loaded, checked, and ready to run.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nn_tensor::Tensor;
use prost::Message;

use crate::error::{OnnxError, Result};
use crate::node::Node;
use crate::ops::{self, Inputs};
use crate::proto::{data_type, ModelProto, ValueInfoProto};
use crate::value::Value;

/// A graph input the caller feeds.
#[derive(Clone, Debug, PartialEq)]
pub struct InputInfo {
    /// The input's name.
    pub name: String,
    /// True when the graph declares an integer (or bool) element type: a
    /// float tensor given to [`Model::run`] is then rounded to integers.
    pub is_int: bool,
    /// The declared shape; `None` for a symbolic or unknown dim.
    pub shape: Vec<Option<usize>>,
}

/// An ONNX model: its nodes in an order where each runs after the nodes
/// it reads from, its weights (initialisers) decoded once.
///
/// Loading checks everything that can be checked without running: the
/// protobuf, every tensor's data against its shape, every operator and
/// attribute against what this crate implements, that every value read is
/// produced somewhere and that the graph has no cycle. Running checks
/// shapes as the tensors flow. Neither panics on a bad file: it returns an
/// [`OnnxError`] naming the node, its operator and the opset.
///
/// ```no_run
/// use nn_onnx::Model;
/// use nn_tensor::Tensor;
/// let model = Model::load("mlp.onnx")?;
/// let y = model.run(&[Tensor::zeros(&[1, 1, 28, 28])])?;
/// println!("{:?}", y[0].shape());
/// # Ok::<(), nn_onnx::OnnxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Model {
    nodes: Vec<Node>,
    initializers: HashMap<String, Value>,
    /// Initialiser names in the file's order (for [`Model::initializers`]).
    initializer_order: Vec<String>,
    inputs: Vec<InputInfo>,
    outputs: Vec<String>,
    opset: i64,
    /// For each node, the values whose last reader it is (freed after it).
    frees: Vec<Vec<String>>,
}

/// A protobuf message cannot be larger (its lengths are 32-bit).
const MAX_FILE_BYTES: u64 = 4 << 30;

impl Model {
    /// Reads and checks an ONNX file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let io = |source| OnnxError::Io {
            path: path.display().to_string(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(OnnxError::Invalid(format!(
                "{}: {len} bytes is over the 4 GiB a protobuf file can hold",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Model::from_bytes(&bytes)
    }

    /// Decodes and checks an ONNX model from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let proto = ModelProto::decode(bytes)?;
        Model::from_proto(&proto)
    }

    /// Checks a decoded model and prepares it to run.
    pub fn from_proto(proto: &ModelProto) -> Result<Model> {
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| {
                OnnxError::Invalid("no opset of the standard domain is imported".into())
            })?;
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| OnnxError::Invalid("the model has no graph".into()))?;
        let mut initializers = HashMap::new();
        let mut initializer_order = Vec::new();
        for t in &graph.initializer {
            if initializers
                .insert(t.name.clone(), Value::from_proto(t)?)
                .is_some()
            {
                return Err(OnnxError::Invalid(format!(
                    "initializer {:?} is defined twice",
                    t.name
                )));
            }
            initializer_order.push(t.name.clone());
        }
        // Older files list the initialisers among the inputs too.
        let inputs: Vec<InputInfo> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains_key(&i.name))
            .map(input_info)
            .collect();
        let mut nodes = Vec::with_capacity(graph.node.len());
        for n in &graph.node {
            if !(n.domain.is_empty() || n.domain == "ai.onnx") {
                return Err(OnnxError::Unsupported {
                    node: n.name.clone(),
                    op: n.op_type.clone(),
                    opset,
                    what: format!("the operator domain {:?}", n.domain),
                });
            }
            let node = Node::from_proto(n, opset)?;
            ops::check_node(&node)?;
            nodes.push(node);
        }
        let mut available: HashSet<String> = initializers.keys().cloned().collect();
        available.extend(inputs.iter().map(|i| i.name.clone()));
        let nodes = topological_order(nodes, &available)?;
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let produced: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str))
            .chain(available.iter().map(String::as_str))
            .collect();
        if let Some(o) = outputs.iter().find(|o| !produced.contains(o.as_str())) {
            return Err(OnnxError::Invalid(format!(
                "graph output {o:?} is never produced"
            )));
        }
        let frees = last_uses(&nodes, &outputs, &initializers);
        Ok(Model {
            nodes,
            initializers,
            initializer_order,
            inputs,
            outputs,
            opset,
            frees,
        })
    }

    /// The inputs a caller feeds, in the graph's order.
    pub fn inputs(&self) -> &[InputInfo] {
        &self.inputs
    }

    /// The output names, in the graph's order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// The version of the standard opset the model imports.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The operators of the nodes, in execution order.
    pub fn operators(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.op.as_str()).collect()
    }

    /// The nodes in execution order.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The initialiser `name`, if any.
    pub(crate) fn initializer(&self, name: &str) -> Option<&Value> {
        self.initializers.get(name)
    }

    /// The weights (initialisers) by name, in the file's order.
    pub fn initializers(&self) -> Vec<(&str, &Value)> {
        self.initializer_order
            .iter()
            .map(|n| (n.as_str(), &self.initializers[n]))
            .collect()
    }

    /// Runs the graph on float tensors, one per input in the graph's order;
    /// an input declared as integers (token ids, say) gets the tensor's
    /// values rounded. Integer outputs come back as floats. See
    /// [`Model::run_values`] to keep the kinds.
    pub fn run(&self, inputs: &[Tensor<f32>]) -> Result<Vec<Tensor<f32>>> {
        let values: Vec<Value> = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(t, info)| {
                if info.is_int {
                    Value::Int(t.cast::<f64>().map(f64::round))
                } else {
                    Value::Float(t.clone())
                }
            })
            .collect();
        if inputs.len() != self.inputs.len() {
            return Err(self.count_error(inputs.len()));
        }
        Ok(self
            .run_values(&values)?
            .iter()
            .map(Value::to_float)
            .collect())
    }

    fn count_error(&self, got: usize) -> OnnxError {
        OnnxError::Input(format!(
            "the graph has {} inputs ({:?}), {got} given",
            self.inputs.len(),
            self.inputs.iter().map(|i| &i.name).collect::<Vec<_>>()
        ))
    }

    /// Runs the graph on values (float or integer), one per input in the
    /// graph's order, and returns the outputs in the graph's order.
    pub fn run_values(&self, inputs: &[Value]) -> Result<Vec<Value>> {
        if inputs.len() != self.inputs.len() {
            return Err(self.count_error(inputs.len()));
        }
        let mut env: HashMap<&str, Value> = HashMap::new();
        for (info, v) in self.inputs.iter().zip(inputs) {
            if info.is_int != v.is_int() {
                let kind = |i: bool| if i { "integer" } else { "float" };
                return Err(OnnxError::Input(format!(
                    "input {:?} is declared {}, got a {} tensor",
                    info.name,
                    kind(info.is_int),
                    kind(v.is_int())
                )));
            }
            let fits = info.shape.len() == v.shape().len()
                && info
                    .shape
                    .iter()
                    .zip(v.shape())
                    .all(|(want, &got)| want.is_none_or(|w| w == got));
            if !info.shape.is_empty() && !fits {
                return Err(OnnxError::Input(format!(
                    "input {:?} is declared of shape {:?} (None: any size), got {:?}",
                    info.name,
                    info.shape,
                    v.shape()
                )));
            }
            env.insert(&info.name, v.clone());
        }
        for (node, frees) in self.nodes.iter().zip(&self.frees) {
            let values = node
                .inputs
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        None
                    } else {
                        env.get(name.as_str())
                            .or_else(|| self.initializers.get(name))
                    }
                })
                .collect();
            let outs = ops::run_node(node, &Inputs { values })?;
            let wanted = node.wanted_outputs();
            if outs.len() < wanted {
                return Err(OnnxError::Unsupported {
                    node: node.name.clone(),
                    op: node.op.clone(),
                    opset: node.opset,
                    what: format!(
                        "output {} (this implementation gives {})",
                        outs.len(),
                        outs.len()
                    ),
                });
            }
            for (name, v) in node.outputs.iter().zip(outs) {
                if !name.is_empty() {
                    env.insert(name, v);
                }
            }
            for f in frees {
                env.remove(f.as_str());
            }
        }
        self.outputs
            .iter()
            .map(|o| {
                env.get(o.as_str())
                    .or_else(|| self.initializers.get(o))
                    .cloned()
                    .ok_or_else(|| OnnxError::Invalid(format!("output {o:?} was not computed")))
            })
            .collect()
    }
}

fn input_info(v: &ValueInfoProto) -> InputInfo {
    let tensor = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let is_int = tensor.is_some_and(|t| {
        !matches!(
            t.elem_type,
            data_type::FLOAT | data_type::DOUBLE | 0 | 10 | 16
        )
    });
    let shape = tensor
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| {
                    d.dim_value
                        .and_then(|v| usize::try_from(v).ok())
                        .filter(|_| d.dim_param.is_none())
                })
                .collect()
        })
        .unwrap_or_default();
    InputInfo {
        name: v.name.clone(),
        is_int,
        shape,
    }
}

/// The nodes in an order where every value is produced before it is read
/// (the file's order when it already is one, as the format asks). Errors
/// for a value nobody produces and for a cycle.
fn topological_order(nodes: Vec<Node>, available: &HashSet<String>) -> Result<Vec<Node>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if available.contains(o) || producer.insert(o.as_str(), i).is_some() {
                return Err(OnnxError::Invalid(format!("value {o:?} is produced twice")));
            }
        }
    }
    // Kahn's algorithm, taking ready nodes lowest index first so that a
    // sorted file keeps its order.
    let mut pending = vec![0usize; nodes.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            if available.contains(name) {
                continue;
            }
            match producer.get(name.as_str()) {
                Some(&p) => {
                    pending[i] += 1;
                    readers[p].push(i);
                }
                None => {
                    return Err(OnnxError::Invalid(format!(
                    "node {:?} ({}) reads {name:?}, which is neither an input, an initializer nor \
                         any node's output",
                    n.name, n.op
                )))
                }
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..nodes.len())
        .filter(|&i| pending[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &r in &readers[i] {
            pending[r] -= 1;
            if pending[r] == 0 {
                ready.push(std::cmp::Reverse(r));
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck = (0..nodes.len())
            .find(|i| pending[*i] > 0)
            .expect("a node is left");
        return Err(OnnxError::Invalid(format!(
            "the graph has a cycle through node {:?} ({})",
            nodes[stuck].name, nodes[stuck].op
        )));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each once"))
        .collect())
}

/// For each node, the values (not graph outputs, not initialisers) read for
/// the last time by it, so the executor frees them right after.
fn last_uses(
    nodes: &[Node],
    outputs: &[String],
    inits: &HashMap<String, Value>,
) -> Vec<Vec<String>> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            last.insert(name, i);
        }
    }
    let mut frees = vec![Vec::new(); nodes.len()];
    for (name, i) in last {
        if !outputs.iter().any(|o| o == name) && !inits.contains_key(name) {
            frees[i].push(name.to_string());
        }
    }
    frees
}
