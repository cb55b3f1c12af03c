//! A model written with `#[derive(Module)]` loads a `state_dict` that
//! PyTorch wrote for the same nested model, computes PyTorch's output, and
//! saves a file with exactly PyTorch's names, dtypes and shapes.
//!
//! The files come from `tools/fixtures/nested_state_dict.py` (the PyTorch
//! model it defines is the Rust one below, line for line).

use std::collections::BTreeMap;
use std::path::PathBuf;

use nnkit::layers::serialize::{load, save};
use nnkit::prelude::*;

/// One residual block: `relu(norm(fc(x))) + (projection(x) or x)`.
#[derive(Module)]
struct Block<T: Element> {
    fc: Linear<T>,
    norm: BatchNorm1d<T>,
    projection: Option<Linear<T>>,
}

/// An encoder `Sequential`, a `ModuleList` of blocks, a head.
#[derive(Module)]
struct Net<T: Element> {
    encoder: Sequential<T>,
    blocks: Vec<Block<T>>,
    head: Linear<T>,
}

impl<T: Element> Forward<T> for Block<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let h = self.norm.try_forward(&self.fc.try_forward(x)?)?.relu();
        match &self.projection {
            Some(p) => h.try_add(&p.try_forward(x)?),
            None => h.try_add(x),
        }
    }
}

impl<T: Element> Forward<T> for Net<T> {
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        let mut h = self.encoder.try_forward(x)?;
        for block in &self.blocks {
            h = block.try_forward(&h)?;
        }
        self.head.try_forward(&h)
    }
}

fn net(rng: &mut Rng) -> Net<f32> {
    let block = |rng: &mut Rng, project: bool| Block {
        fc: LinearConfig::new(4, 4).init(rng).unwrap(),
        norm: BatchNormConfig::new(4)
            .init(&mut Rng::seed_from(0))
            .unwrap(),
        projection: project.then(|| LinearConfig::new(4, 4).with_bias(false).init(rng).unwrap()),
    };
    Net {
        encoder: Sequential::new()
            .append(LinearConfig::new(3, 4).init(rng).unwrap())
            .append(Relu)
            .append(DropoutConfig::new(0.5).init(rng).unwrap()),
        blocks: vec![block(rng, false), block(rng, true)],
        head: LinearConfig::new(4, 2).init(rng).unwrap(),
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/state_dict")
        .join(name)
}

/// The header of a safetensors file: name → (dtype, shape).
fn header(path: &std::path::Path) -> BTreeMap<String, (String, Vec<usize>)> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let dtype = v["dtype"].as_str().unwrap().to_string();
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (k.clone(), (dtype, shape))
        })
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn a_derived_model_loads_pytorch_weights_and_saves_them_under_the_same_names() {
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("nested.json")).unwrap()).unwrap();
    let model = net(&mut Rng::seed_from(0));

    // PyTorch's names, in PyTorch's order per module, are the derive's.
    let pytorch_names: Vec<String> = record["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let mut ours: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    let mut theirs = pytorch_names.clone();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);

    // Strict load: every key matched, nothing left over.
    let report = load(&model, fixture("nested.safetensors"), LoadMode::Strict).unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.loaded.len(), pytorch_names.len());

    // PyTorch's output in eval mode (dropout off, BatchNorm on the running
    // statistics the file carries).
    model.eval();
    let x = Tensor::from_vec(floats(&record["input"]), &shape(&record["input_shape"]));
    let y = model.forward(&x);
    assert_eq!(y.shape(), shape(&record["output_shape"]).as_slice());
    let expected = floats(&record["output"]);
    for (i, (a, b)) in y.value().to_vec().iter().zip(&expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "output {i}: {a} vs PyTorch's {b}"
        );
    }

    // Saved again: the same names, dtypes (int64 counts) and shapes as
    // PyTorch's file, and a fresh model reads it back to the same state.
    let path = std::env::temp_dir().join(format!(
        "nnkit-state-dict-{}.safetensors",
        std::process::id()
    ));
    save(&model, &path).unwrap();
    assert_eq!(header(&path), header(&fixture("nested.safetensors")));
    let again = net(&mut Rng::seed_from(1));
    assert!(load(&again, &path, LoadMode::Strict).unwrap().is_complete());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(again.state_dict(), model.state_dict());
}
