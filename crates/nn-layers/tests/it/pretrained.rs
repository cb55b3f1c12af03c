//! Loads a model trained and saved by PyTorch and reproduces its logits.
//!
//! The directory comes from `NN_PRETRAINED`, else `fixtures/pretrained` in
//! the workspace; the test fails when the files are absent.

use nn_layers::prelude::*;
use nn_layers::serialize::{load, LoadMode};
use nn_testkit::pretrained::{model_files, Expected};

#[test]
fn mlp_mnist_reproduces_pytorch_logits() {
    let (weights, expected) = model_files("mlp_mnist");
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

    let expected = Expected::read(&expected);
    assert_eq!(expected.inputs.shape(), &[32, 784]);
    model.eval();
    let got = no_grad(|| model.forward(Var::constant(expected.inputs.clone())));
    expected.assert_logits("mlp_mnist", got.as_tensor());
}
