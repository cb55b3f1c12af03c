//! Chain graphs become the library's own layers: the same outputs as the
//! file's, PyTorch's parameter names, and gradients for fine-tuning.

use std::path::{Path, PathBuf};

use nn_autograd::Var;
use nn_layers::{Forward, Module};
use nn_onnx::{to_sequential, Model, Value};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
}

fn pb(path: PathBuf) -> Value {
    Value::decode(&std::fs::read(path).unwrap()).unwrap()
}

fn check_chain(name: &str, first_names: &[&str]) {
    let dir = case(name);
    let model = Model::load(dir.join("model.onnx")).unwrap();
    let net = to_sequential(&model).unwrap();
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..first_names.len()], first_names, "{name}");
    net.eval();
    let x = pb(dir.join("test_data_set_0/input_0.pb")).to_float();
    let want = pb(dir.join("test_data_set_0/output_0.pb")).to_float();
    let y = net.forward(Var::constant(x.clone()));
    assert_eq!(y.shape(), want.shape());
    let scale = want.as_slice().iter().fold(1.0f32, |m, v| m.max(v.abs()));
    assert!(
        y.value().max_abs_diff(&want) / scale < 1e-4,
        "{name}: {}",
        y.value().max_abs_diff(&want)
    );
    // The same as running the graph itself.
    let direct = model.run(std::slice::from_ref(&x)).unwrap();
    assert!(direct[0].max_abs_diff(y.as_tensor()) < 1e-4);
    // Fine-tuning: every parameter gets a gradient.
    net.train();
    let grads = net.forward(Var::constant(x)).square().sum().backward();
    for (n, p) in net.named_parameters() {
        assert!(
            grads.get_id(p.id()).is_some(),
            "{name}: no gradient for {n}"
        );
    }
}

#[test]
fn lenet_becomes_conv_pool_linear_layers() {
    check_chain("lenet5_bn", &["0.weight", "0.bias"]);
}

#[test]
fn dcgan_generator_becomes_transposed_convolutions_and_batch_norms() {
    check_chain("dcgan_generator", &["0.weight"]);
}

#[test]
fn a_graph_with_a_branch_is_refused_by_name() {
    let model = Model::load(case("transformer_encoder_post_norm/model.onnx")).unwrap();
    let e = to_sequential(&model).unwrap_err();
    assert!(e.is_unsupported(), "{e}");
}
