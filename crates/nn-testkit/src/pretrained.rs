//! The models PyTorch trained on MNIST (`fixtures/pretrained`): for a model
//! `m`, its weights `m.safetensors` (PyTorch `state_dict` names) and
//! `m.expected.json`, which holds the first 32 preprocessed test inputs,
//! PyTorch's logits for them and its first 1,000 predictions.

use std::path::PathBuf;

use nn_tensor::Tensor;
use serde_json::Value;

/// The environment variable naming another folder of pretrained models.
pub const ENV: &str = "NN_PRETRAINED";

/// The folder: `$NN_PRETRAINED`, else `fixtures/pretrained` in the
/// workspace.
///
/// # Panics
/// If the folder is missing or holds no `.safetensors` file.
pub fn dir() -> PathBuf {
    crate::folder(ENV, crate::repository_fixtures("pretrained"), "safetensors")
}

/// `{model}.safetensors` and `{model}.expected.json` in [`dir`].
///
/// # Panics
/// If either file is absent.
pub fn model_files(model: &str) -> (PathBuf, PathBuf) {
    let dir = dir();
    let (weights, expected) = (
        dir.join(format!("{model}.safetensors")),
        dir.join(format!("{model}.expected.json")),
    );
    for f in [&weights, &expected] {
        assert!(
            f.is_file(),
            "pretrained model file {} not found",
            f.display()
        );
    }
    (weights, expected)
}

/// What a model must reproduce, read from its `.expected.json`.
pub struct Expected {
    /// The first 32 test inputs, already preprocessed as PyTorch did
    /// (`(pixel/255 − 0.1307)/0.3081`), in the model's input layout.
    pub inputs: Tensor<f32>,
    /// PyTorch's logits for them, `[32, 10]`.
    pub logits: Tensor<f32>,
    /// PyTorch's predicted digits for the same 32 inputs.
    pub predictions: Vec<usize>,
}

impl Expected {
    /// Reads `path`.
    ///
    /// # Panics
    /// If the file is missing or lacks one of the fields.
    pub fn read(path: &std::path::Path) -> Expected {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let inputs = crate::fixtures::tensor(&json["inputs_first_32"]);
        let predictions = json["predictions_first_1000"]
            .as_array()
            .expect("predictions_first_1000")
            .iter()
            .take(inputs.shape()[0])
            .map(|p| p.as_u64().expect("a digit") as usize)
            .collect();
        Expected {
            logits: crate::fixtures::tensor(&json["logits_first_32"]),
            inputs,
            predictions,
        }
    }

    /// Asserts that `logits` (the model's output for [`Expected::inputs`])
    /// are within 1e-4 of PyTorch's and predict the same digits; prints the
    /// error under the name `model`.
    #[track_caller]
    pub fn assert_logits(&self, model: &str, logits: &Tensor<f32>) {
        let err = logits.max_abs_diff(&self.logits);
        println!("{model}: max |logit error| = {err:e}");
        assert!(err <= 1e-4, "max logit error {err}");
        assert_eq!(logits.argmax(1), self.predictions);
    }
}
