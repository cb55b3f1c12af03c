//! Runs a model that PyTorch exported to ONNX, checks it against the
//! outputs PyTorch (or onnxruntime) computed, and, when its graph is a
//! chain of known layers, turns it into the library's own `Sequential`,
//! ready to fine-tune.
//!
//! `cargo run --release -p nnkit --example onnx_import -- [--model DIR]`
//!
//! `DIR` is a folder in the ONNX backend-test layout (`model.onnx`,
//! `test_data_set_0/input_0.pb`, `output_0.pb`, ...), by default the
//! PyTorch-exported LeNet-5 with batch norm that the repository keeps in
//! `crates/nn-onnx/tests/cases/lenet5_bn`; the shared set's
//! `pytorch-exported/` holds six more (an MLP, a small ResNet, a 2-layer
//! LSTM, a bidirectional GRU, a DCGAN generator, a Transformer encoder
//! layer).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use nnkit::onnx::{to_sequential, Model, Value};
use nnkit::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("onnx_import", &["model"]);
    let dir = args
        .text("model")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace_root().join("crates/nn-onnx/tests/cases/lenet5_bn"));

    // Load: the whole file is checked (operators, shapes of the weights,
    // every value produced before it is read) before anything runs.
    let model = Model::load(dir.join("model.onnx"))?;
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for op in model.operators() {
        *ops.entry(op).or_default() += 1;
    }
    eprintln!(
        "{}: opset {}, operators {ops:?}",
        dir.display(),
        model.opset()
    );
    for input in model.inputs() {
        eprintln!("input {}: shape {:?}", input.name, input.shape);
    }

    // The inputs and expected outputs stored beside the model.
    let data = dir.join("test_data_set_0");
    let read = |name: String| -> Result<Value, Box<dyn std::error::Error>> {
        Ok(Value::decode(&std::fs::read(data.join(name))?)?)
    };
    let inputs = (0..model.inputs().len())
        .map(|i| read(format!("input_{i}.pb")))
        .collect::<Result<Vec<_>, _>>()?;
    let expected = (0..model.output_names().len())
        .map(|i| read(format!("output_{i}.pb")))
        .collect::<Result<Vec<_>, _>>()?;

    // Run on the library's kernels and compare, as the ONNX backend tests
    // do: the largest difference relative to max(1, max |expected|).
    let outputs = model.run_values(&inputs)?;
    let mut worst = 0.0f64;
    for (name, (got, want)) in model
        .output_names()
        .iter()
        .zip(outputs.iter().zip(&expected))
    {
        let (got, want) = (got.to_f64s(), want.to_f64s());
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        eprintln!(
            "output {name}: {} values, max difference {:.2e}",
            got.len(),
            diff / scale
        );
        worst = worst.max(diff / scale);
    }

    // A chain of known layers becomes a Sequential of the library's
    // layers, with the file's weights under PyTorch's names: it computes
    // the same output, and any optimiser can train it further.
    let as_layers = match to_sequential(&model) {
        Ok(net) => {
            net.eval();
            let x = inputs[0].to_float();
            let y = net.forward(&x);
            let same = y.to_vec() == outputs[0].to_float().to_vec();
            eprintln!(
                "as layers: {} parameters ({}), the same output bit for bit: {same}",
                net.num_parameters(),
                net.named_parameters()
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Some(same)
        }
        Err(e) => {
            eprintln!("not a chain of layers ({e}): run it with Model::run");
            None
        }
    };

    let json = serde_json::json!({
        "example": "onnx_import",
        "model": dir.display().to_string(),
        "nodes": model.operators().len(),
        "max_relative_difference": worst,
        "within_1e-4": worst <= 1e-4,
        "as_sequential_bit_identical": as_layers,
    });
    println!("{json}");
    if worst > 1e-4 {
        return Err(format!("outputs differ by {worst:e}").into());
    }
    Ok(())
}
