//! Loads a model trained and saved by PyTorch and reproduces its logits.
//!
//! The directory comes from `NN_PRETRAINED`, else `../shared/pretrained`
//! relative to the workspace root; the test prints a note and passes when
//! the files are absent (a checkout without the shared data).

mod pretrained_files;

use nn_layers::prelude::*;
use nn_layers::serialize::{load, LoadMode};
use pretrained_files::{model_files, tensor_of};

#[test]
fn mlp_mnist_reproduces_pytorch_logits() {
    let Some((weights, expected)) = model_files("mlp_mnist") else {
        return;
    };
    // nn.Sequential(Linear(784,256), ReLU, Linear(256,128), ReLU, Linear(128,10)).
    let mut rng = Rng::seed_from(0);
    let model = Sequential::<f32>::new()
        .append(LinearConfig::new(784, 256).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(256, 128).init(&mut rng).unwrap())
        .append(Relu)
        .append(LinearConfig::new(128, 10).init(&mut rng).unwrap());
    let report = load(&model, &weights, LoadMode::Strict).unwrap();
    assert_eq!(report.loaded.len(), 6);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    // The stored inputs are already preprocessed: (pixel/255 − 0.1307)/0.3081, flattened.
    let x = tensor_of(&json["inputs_first_32"]);
    let want = tensor_of(&json["logits_first_32"]);
    assert_eq!(x.shape(), &[32, 784]);
    model.eval();
    let got = no_grad(|| model.forward(&Var::constant(x)));
    let err = got.value().max_abs_diff(&want);
    println!("mlp_mnist: max |logit error| = {err:e}");
    assert!(err <= 1e-4, "max logit error {err}");
    let preds = got.value().argmax(1);
    let stored: Vec<usize> = json["predictions_first_1000"].as_array().unwrap()[..32]
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(preds, stored);
}
