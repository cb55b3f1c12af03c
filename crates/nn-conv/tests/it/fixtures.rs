//! Parity of the layer *modules* with PyTorch: `batch_norm2d` and
//! `residual_block` cases run through [`layers::BatchNorm2d`] and
//! [`layers::BasicBlock`], loaded by `state_dict` name, in f64 (≤ 1e-9) and
//! f32 (≤ 1e-4): outputs, updated running statistics, and the gradients of
//! the input and of every parameter.
//!
//! The functional families (conv, pools, shapes) are in the shared
//! conformance suite (`crates/nnkit/tests/conformance/conv.rs`).
//!
//! The fixture directory comes from `NN_FIXTURES`, else the checked-in
//! `fixtures/pytorch` (see `nn_testkit::fixtures`); a missing or empty
//! folder fails. Every hyper-parameter is read from the case.

use std::collections::BTreeMap;

use nn_autograd::Var;
use nn_conv::layers;
use nn_tensor::{Element, Tensor};
use nn_testkit::fixtures::{cases, tensor};
use serde_json::Value;

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn rel_err(got: &Tensor<f64>, want: &Tensor<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.as_slice().iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.max_abs_diff(want) / scale
}

/// Loads every parameter and buffer the case provides (by `state_dict`
/// name) into `module`, runs `forward` on `x`, and compares `y`, the
/// updated buffers and the gradients of `x` and of every parameter.
fn check_module<T: Element, M: nn_layers::Module<T>>(
    case: &Value,
    tol: f64,
    module: &M,
    prefix_out: &str,
    forward: impl Fn(&Var<T>) -> Var<T>,
) {
    let name = case["name"].as_str().unwrap();
    let inputs = &case["inputs"];
    for (n, p) in module.named_parameters() {
        p.set_value(tensor::<T>(&inputs[n.as_str()]));
    }
    for (n, b) in module.named_buffers() {
        if let Some(v) = inputs.get(n.as_str()) {
            b.set_value(tensor::<T>(v));
        }
    }
    let x = Var::leaf(tensor::<T>(&inputs["x"]));
    let y = forward(&x);
    let outputs = case["outputs"].as_object().unwrap();
    let e = rel_err(&y.value().cast(), &tensor::<f64>(&outputs["y"]));
    assert!(e <= tol, "{name} ({}): y error {e:.3e}", T::DTYPE);
    let buffers: BTreeMap<String, Tensor<T>> = module
        .named_buffers()
        .into_iter()
        .map(|(n, b)| (format!("{prefix_out}{n}"), b.value()))
        .collect();
    for (k, want) in outputs.iter().filter(|(k, _)| k.as_str() != "y") {
        let got = buffers
            .get(k)
            .unwrap_or_else(|| panic!("{name}: no buffer {k}"));
        let e = rel_err(&got.cast(), &tensor::<f64>(want));
        assert!(e <= tol, "{name} ({}): {k} error {e:.3e}", T::DTYPE);
    }
    let grads = y
        .mul_tensor(&tensor::<T>(&case["grad_outputs"]["y"]))
        .sum()
        .backward();
    let params: BTreeMap<String, nn_autograd::Parameter<T>> =
        module.named_parameters().into_iter().collect();
    let want_grads = case["grads"].as_object().unwrap();
    assert_eq!(
        want_grads.len(),
        params.len() + 1,
        "{name}: every parameter and x have gradients"
    );
    for (k, want) in want_grads {
        let got = if k == "x" {
            grads.get(&x)
        } else {
            grads.get_id(params[k].id())
        };
        let got = got.unwrap_or_else(|| panic!("{name}: no gradient for {k}"));
        let e = rel_err(&got.cast(), &tensor::<f64>(want));
        assert!(
            e <= tol,
            "{name} ({}): gradient of {k} error {e:.3e}",
            T::DTYPE
        );
    }
}

fn bn_config(p: &Value) -> nn_layers::BatchNormConfig {
    nn_layers::BatchNormConfig::new(
        p.get("num_features").and_then(|v| v.as_u64()).unwrap_or(1) as usize
    )
    .with_eps(p["eps"].as_f64().unwrap())
    .with_momentum(Some(p["momentum"].as_f64().unwrap()))
}

fn run_batch_norm2d<T: Element>(case: &Value, tol: f64) {
    use nn_layers::{Forward, Module};
    let p = &case["params"];
    let bn = layers::BatchNorm2dConfig::from(bn_config(p))
        .init::<T>(&mut nn_tensor::Rng::seed_from(0))
        .unwrap();
    bn.set_training(p["training"].as_bool().unwrap());
    check_module(case, tol, &bn, "", |x| bn.forward(x));
    // Eval cases leave the statistics alone; training cases count one batch.
    let expected = u64::from(p["training"].as_bool().unwrap());
    assert_eq!(bn.num_batches_tracked(), Some(expected));
}

#[test]
fn batch_norm2d_matches_pytorch() {
    for case in cases("batch_norm2d") {
        run_batch_norm2d::<f64>(&case, 1e-9);
        run_batch_norm2d::<f32>(&case, 1e-4);
    }
}

fn run_residual_block<T: Element>(case: &Value, tol: f64) {
    use nn_layers::{Forward, Module};
    let p = &case["params"];
    let get = |k: &str| p[k].as_u64().unwrap() as usize;
    assert_eq!(usizes(&p["kernel_size"]), [3, 3]);
    assert_eq!(usizes(&p["padding"]), [1, 1]);
    assert!(!p["conv_bias"].as_bool().unwrap());
    let block = layers::BasicBlockConfig::new(get("in_channels"), get("out_channels"))
        .with_stride(get("stride"))
        .with_projection(p["shortcut"] == "projection")
        .with_batch_norm(bn_config(p))
        .init::<T>(&mut nn_tensor::Rng::seed_from(0))
        .unwrap();
    block.set_training(p["training"].as_bool().unwrap());
    check_module(case, tol, &block, "", |x| block.forward(x));
}

#[test]
fn residual_block_matches_pytorch() {
    for case in cases("residual_block") {
        run_residual_block::<f64>(&case, 1e-9);
        run_residual_block::<f32>(&case, 1e-4);
    }
}
