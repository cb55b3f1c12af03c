//! Loads the LeNet-5 with batch norm that PyTorch trained on MNIST into
//! [`LeNet5`] and reproduces PyTorch's logits in eval mode (running
//! statistics, and the int64 `num_batches_tracked` counters read too).
//!
//! The directory comes from `NN_PRETRAINED`, else `fixtures/pretrained` in
//! the workspace; the test fails when the files are absent.

use nn_conv::layers::{LeNet5, LeNet5Config};
use nn_layers::prelude::*;
use nn_layers::serialize::{load, LoadMode};
use nn_testkit::pretrained::{model_files, Expected};

#[test]
fn lenet_bn_mnist_reproduces_pytorch_logits() {
    let (weights, expected) = model_files("lenet_bn_mnist");
    let model: LeNet5<f32> = LeNet5Config::new(1, 10)
        .with_batch_norm(true)
        .init(&mut Rng::seed_from(0))
        .unwrap();
    let report = load(&model, &weights, LoadMode::Strict).unwrap();
    // 14 parameters, 4 running statistics, 2 counters.
    assert_eq!(report.loaded.len(), 20, "{report}");
    let bn1 = model.bn1.as_ref().unwrap();
    let bn2 = model.bn2.as_ref().unwrap();
    // The counters came from the file's I64 tensors, not from our init (0).
    assert!(bn1.num_batches_tracked().unwrap() > 0);
    assert_eq!(bn1.num_batches_tracked(), bn2.num_batches_tracked());
    // So did the running statistics (init is mean 0, variance 1).
    assert!(bn1
        .running_mean()
        .unwrap()
        .as_slice()
        .iter()
        .any(|&m| m != 0.0));
    assert!(bn2
        .running_var()
        .unwrap()
        .as_slice()
        .iter()
        .any(|&v| v != 1.0));

    // The stored inputs are already preprocessed: (pixel/255 − 0.1307)/0.3081.
    let expected = Expected::read(&expected);
    assert_eq!(expected.inputs.shape(), &[32, 1, 28, 28]);
    assert_eq!(expected.logits.shape(), &[32, 10]);
    model.eval();
    let x = Var::constant(expected.inputs.clone());
    let got = no_grad(|| model.forward(&x));
    expected.assert_logits("lenet_bn_mnist", got.as_tensor());

    // In training mode the same batch is normalised by its own statistics:
    // the logits move, which shows eval mode above really used the file's
    // running statistics.
    model.train();
    let batch_stats = no_grad(|| model.forward(&x));
    assert!(batch_stats.value().max_abs_diff(&expected.logits) > 1e-3);
}
