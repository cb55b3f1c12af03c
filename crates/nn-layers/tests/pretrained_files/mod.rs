//! Where the PyTorch-trained models live and how their expected outputs are
//! read. Shared, through `#[path]`, by the pretrained tests of nn-layers and
//! nn-conv.
//!
//! The directory comes from `NN_PRETRAINED`, else `../shared/pretrained`
//! relative to the workspace root.

use std::path::PathBuf;

use nn_tensor::Tensor;

fn pretrained_dir() -> PathBuf {
    match std::env::var_os("NN_PRETRAINED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pretrained"),
    }
}

/// `{model}.safetensors` and `{model}.expected.json`, or `None` (with a note
/// on stdout) when either is absent: a checkout without the shared data.
pub fn model_files(model: &str) -> Option<(PathBuf, PathBuf)> {
    let dir = pretrained_dir();
    let (weights, expected) = (
        dir.join(format!("{model}.safetensors")),
        dir.join(format!("{model}.expected.json")),
    );
    if weights.exists() && expected.exists() {
        Some((weights, expected))
    } else {
        println!(
            "note: {} not found; skipping the pretrained test",
            weights.display()
        );
        None
    }
}

/// An f32 tensor from the expected file's `{"shape": [...], "data": [...]}`.
pub fn tensor_of(v: &serde_json::Value) -> Tensor<f32> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Tensor::from_vec(data, &shape)
}
