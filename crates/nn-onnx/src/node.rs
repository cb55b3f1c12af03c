//! A graph node as the executor sees it: the operator, its inputs and
//! outputs by name, and its attributes decoded and checked once at load.

use std::collections::BTreeMap;

use crate::error::{fail, OnnxError, OpResult, Result};
use crate::proto::{attribute_type as ty, AttributeProto, NodeProto};
use crate::value::Value;

/// A decoded attribute value.
#[derive(Clone, Debug)]
pub(crate) enum Attr {
    Float(f32),
    Int(i64),
    Str(String),
    Tensor(Value),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    /// A subgraph or another kind no operator here reads.
    Other(&'static str),
}

/// One node of a loaded graph.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The node's name, or its first output's when it has none: what
    /// messages call it.
    pub name: String,
    pub op: String,
    /// Input names; `""` for an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, Attr>,
    /// The version of the standard opset the model imports.
    pub opset: i64,
}

impl Node {
    pub fn from_proto(n: &NodeProto, opset: i64) -> Result<Node> {
        let name = if n.name.is_empty() {
            n.output.first().cloned().unwrap_or_default()
        } else {
            n.name.clone()
        };
        let mut attrs = BTreeMap::new();
        for a in &n.attribute {
            let value = decode_attr(a).map_err(|e| {
                OnnxError::Invalid(format!(
                    "node {name:?} ({}): attribute {:?}: {e}",
                    n.op_type, a.name
                ))
            })?;
            attrs.insert(a.name.clone(), value);
        }
        Ok(Node {
            name,
            op: n.op_type.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
            opset,
        })
    }

    /// An integer attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> OpResult<i64> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(other) => wrong_kind(name, "an integer", other),
        }
    }

    /// A float attribute, or `default` when absent.
    pub fn float(&self, name: &str, default: f32) -> OpResult<f32> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(other) => wrong_kind(name, "a float", other),
        }
    }

    /// A string attribute, or `default` when absent.
    pub fn string(&self, name: &str, default: &str) -> OpResult<String> {
        match self.attrs.get(name) {
            None => Ok(default.to_string()),
            Some(Attr::Str(v)) => Ok(v.clone()),
            Some(other) => wrong_kind(name, "a string", other),
        }
    }

    /// A list-of-integers attribute, if present.
    pub fn ints(&self, name: &str) -> OpResult<Option<Vec<i64>>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(other) => wrong_kind(name, "a list of integers", other),
        }
    }

    /// A list-of-strings attribute, if present.
    pub fn strings(&self, name: &str) -> OpResult<Option<Vec<String>>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Strings(v)) => Ok(Some(v.clone())),
            Some(Attr::Str(v)) => Ok(Some(vec![v.clone()])),
            Some(other) => wrong_kind(name, "a list of strings", other),
        }
    }

    /// True when the attribute is set.
    pub fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }

    /// How many outputs the graph asks of this node (trailing optional
    /// outputs may be left out or named `""`).
    pub fn wanted_outputs(&self) -> usize {
        self.outputs
            .iter()
            .rposition(|o| !o.is_empty())
            .map_or(0, |i| i + 1)
    }
}

fn wrong_kind<T>(name: &str, want: &str, got: &Attr) -> OpResult<T> {
    let got = match got {
        Attr::Other(kind) => kind.to_string(),
        other => format!("{other:?}"),
    };
    fail(format!(
        "attribute {name} must be {want}, the file has {got}"
    ))
}

fn utf8(b: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

fn decode_attr(a: &AttributeProto) -> std::result::Result<Attr, String> {
    // IR version 1 files leave `type` unset: infer it from the field used.
    let kind = if a.r#type != 0 {
        a.r#type
    } else if a.t.is_some() {
        ty::TENSOR
    } else if !a.ints.is_empty() {
        ty::INTS
    } else if !a.floats.is_empty() {
        ty::FLOATS
    } else if !a.strings.is_empty() {
        ty::STRINGS
    } else if !a.s.is_empty() {
        ty::STRING
    } else if a.f != 0.0 {
        ty::FLOAT
    } else {
        ty::INT
    };
    Ok(match kind {
        ty::FLOAT => Attr::Float(a.f),
        ty::INT => Attr::Int(a.i),
        ty::STRING => Attr::Str(utf8(&a.s)?),
        ty::TENSOR => {
            let t = a.t.as_ref().ok_or("a tensor attribute without a tensor")?;
            Attr::Tensor(Value::from_proto(t).map_err(|e| e.to_string())?)
        }
        ty::FLOATS => Attr::Floats(a.floats.clone()),
        ty::INTS => Attr::Ints(a.ints.clone()),
        ty::STRINGS => Attr::Strings(
            a.strings
                .iter()
                .map(|s| utf8(s))
                .collect::<std::result::Result<_, _>>()?,
        ),
        ty::GRAPH => Attr::Other("a graph"),
        _ => Attr::Other("an unsupported attribute kind"),
    })
}
