//! Parity with PyTorch: every conv, pool and output-shape case of the shared
//! fixture set, forward values and gradients, in f64 (≤ 1e-9) and f32 (≤ 1e-4).
//!
//! The fixture directory comes from `NN_FIXTURES`, else
//! `../shared/fixtures` relative to the workspace root. Every
//! hyper-parameter is read from the case.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nn_autograd::Var;
use nn_conv::*;
use nn_tensor::{Element, Tensor};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    let dir = match std::env::var("NN_FIXTURES") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    assert!(
        dir.is_dir(),
        "fixture directory {} not found: set NN_FIXTURES",
        dir.display()
    );
    dir
}

/// Every case of one op family (at least one, or the test fails).
fn cases(op: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if v["op"] == op {
            out.push(v);
        }
    }
    assert!(!out.is_empty(), "no fixture cases for {op}");
    out
}

fn tensor<T: Element>(v: &Value) -> Tensor<T> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    Tensor::from_f64s(&data, &shape)
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn arr<const D: usize>(v: &Value) -> [usize; D] {
    usizes(v).try_into().unwrap()
}

fn rel_err(got: &Tensor<f64>, want: &Tensor<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.as_slice().iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.max_abs_diff(want) / scale
}

/// Named vars in, named vars out: the forward pass of one case.
type Vars<T> = BTreeMap<String, Var<T>>;

/// Runs `forward` on the case's inputs in precision `T`, seeds each output
/// with its `grad_outputs`, and compares outputs and input gradients.
fn check_case<T: Element>(
    case: &Value,
    tol: f64,
    forward: &dyn Fn(&Vars<T>, &Value) -> Vars<T>,
) {
    let name = case["name"].as_str().unwrap();
    let grads = case["grads"].as_object().unwrap();
    let inputs: BTreeMap<String, Var<T>> = case["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = tensor::<T>(v);
            let var = if grads.contains_key(k) {
                Var::leaf(t)
            } else {
                Var::constant(t)
            };
            (k.clone(), var)
        })
        .collect();
    let outs = forward(&inputs, &case["params"]);
    let mut objective: Option<Var<T>> = None;
    for (k, want) in case["outputs"].as_object().unwrap() {
        let got = outs
            .get(k)
            .unwrap_or_else(|| panic!("{name}: no output {k}"));
        let e = rel_err(&got.value().cast(), &tensor::<f64>(want));
        assert!(e <= tol, "{name} ({}): output {k} error {e:.3e}", T::DTYPE);
        if let Some(g) = case["grad_outputs"].get(k) {
            let term = got.mul_tensor(&tensor::<T>(g)).sum();
            objective = Some(match objective {
                None => term,
                Some(o) => o.add(&term),
            });
        }
    }
    if grads.is_empty() {
        return;
    }
    let store = objective.expect("grad_outputs").backward();
    for (k, want) in grads {
        let got = store
            .get(&inputs[k])
            .unwrap_or_else(|| panic!("{name}: no gradient for {k}"));
        let e = rel_err(&got.cast(), &tensor::<f64>(want));
        assert!(
            e <= tol,
            "{name} ({}): gradient of {k} error {e:.3e}",
            T::DTYPE
        );
    }
}

fn check_family<F32, F64>(op: &str, f32_fwd: F32, f64_fwd: F64)
where
    F32: Fn(&BTreeMap<String, Var<f32>>, &Value) -> BTreeMap<String, Var<f32>>,
    F64: Fn(&BTreeMap<String, Var<f64>>, &Value) -> BTreeMap<String, Var<f64>>,
{
    for case in cases(op) {
        check_case::<f64>(&case, 1e-9, &f64_fwd);
        check_case::<f32>(&case, 1e-4, &f32_fwd);
    }
}

fn out<T: Element>(k: &str, v: Var<T>) -> BTreeMap<String, Var<T>> {
    BTreeMap::from([(k.to_string(), v)])
}

fn conv_opts<const D: usize>(p: &Value) -> ConvOptions<D> {
    ConvOptions::default()
        .stride(arr::<D>(&p["stride"]))
        .padding(arr::<D>(&p["padding"]))
        .dilation(arr::<D>(&p["dilation"]))
        .groups(p["groups"].as_u64().unwrap() as usize)
}

fn conv_t_opts(p: &Value) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::default()
        .stride(arr::<2>(&p["stride"]))
        .padding(arr::<2>(&p["padding"]))
        .output_padding(arr::<2>(&p["output_padding"]))
        .dilation(arr::<2>(&p["dilation"]))
        .groups(p["groups"].as_u64().unwrap() as usize)
}

fn max_opts(p: &Value) -> MaxPoolOptions<2> {
    MaxPoolOptions::new(arr::<2>(&p["kernel_size"]))
        .stride(arr::<2>(&p["stride"]))
        .padding(arr::<2>(&p["padding"]))
        .dilation(arr::<2>(&p["dilation"]))
        .ceil_mode(p["ceil_mode"].as_bool().unwrap())
}

fn avg_opts(p: &Value) -> AvgPoolOptions<2> {
    AvgPoolOptions::new(arr::<2>(&p["kernel_size"]))
        .stride(arr::<2>(&p["stride"]))
        .padding(arr::<2>(&p["padding"]))
        .ceil_mode(p["ceil_mode"].as_bool().unwrap())
        .count_include_pad(p["count_include_pad"].as_bool().unwrap_or(true))
}

macro_rules! both {
    ($op:expr, |$i:ident, $p:ident| $body:expr) => {
        check_family(
            $op,
            |$i: &BTreeMap<String, Var<f32>>, $p: &Value| $body,
            |$i: &BTreeMap<String, Var<f64>>, $p: &Value| $body,
        )
    };
}

#[test]
fn conv1d_matches_pytorch() {
    both!("conv1d", |i, p| out(
        "y",
        conv1d(&i["x"], &i["weight"], i.get("bias"), &conv_opts::<1>(p))
    ));
}

#[test]
fn conv2d_matches_pytorch() {
    both!("conv2d", |i, p| out(
        "y",
        conv2d(&i["x"], &i["weight"], i.get("bias"), &conv_opts::<2>(p))
    ));
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    both!("conv_transpose2d", |i, p| out(
        "y",
        conv_transpose2d(&i["x"], &i["weight"], i.get("bias"), &conv_t_opts(p))
    ));
}

#[test]
fn max_pool2d_matches_pytorch() {
    both!("max_pool2d", |i, p| out(
        "y",
        max_pool2d(&i["x"], &max_opts(p))
    ));
}

#[test]
fn avg_pool2d_matches_pytorch() {
    both!("avg_pool2d", |i, p| out(
        "y",
        avg_pool2d(&i["x"], &avg_opts(p))
    ));
}

#[test]
fn adaptive_avg_pool2d_matches_pytorch() {
    both!("adaptive_avg_pool2d", |i, p| out(
        "y",
        adaptive_avg_pool2d(&i["x"], arr::<2>(&p["output_size"]))
    ));
}

/// The output shape of each shape case, computed with the public size
/// functions and checked against the stored int64 vector.
fn check_shapes(op: &str, shape_of: impl Fn(&Value, &[usize]) -> Vec<usize>) {
    for case in cases(op) {
        let p = &case["params"];
        let input = usizes(&p["input_shape"]);
        let want = usizes(&case["outputs"]["output_shape"]["data"]);
        assert_eq!(shape_of(p, &input), want, "{}", case["name"]);
    }
}

fn conv_shape(p: &Value, input: &[usize]) -> Vec<usize> {
    let (k, s, pad, d) = (
        usizes(&p["kernel_size"]),
        usizes(&p["stride"]),
        usizes(&p["padding"]),
        usizes(&p["dilation"]),
    );
    let mut out = vec![input[0], p["out_channels"].as_u64().unwrap() as usize];
    for i in 0..k.len() {
        out.push(conv_output_size(input[2 + i], k[i], s[i], pad[i], d[i]).unwrap());
    }
    out
}

#[test]
fn shape_conv1d_matches_pytorch() {
    check_shapes("shape_conv1d", conv_shape);
}

#[test]
fn shape_conv2d_matches_pytorch() {
    check_shapes("shape_conv2d", conv_shape);
}

#[test]
fn shape_conv_transpose2d_matches_pytorch() {
    check_shapes("shape_conv_transpose2d", |p, input| {
        let (k, s, pad, op, d) = (
            usizes(&p["kernel_size"]),
            usizes(&p["stride"]),
            usizes(&p["padding"]),
            usizes(&p["output_padding"]),
            usizes(&p["dilation"]),
        );
        let mut out = vec![input[0], p["out_channels"].as_u64().unwrap() as usize];
        for i in 0..2 {
            out.push(
                conv_transpose_output_size(input[2 + i], k[i], s[i], pad[i], op[i], d[i]).unwrap(),
            );
        }
        out
    });
}

fn pool_shape(p: &Value, input: &[usize]) -> Vec<usize> {
    let (k, s, pad) = (
        usizes(&p["kernel_size"]),
        usizes(&p["stride"]),
        usizes(&p["padding"]),
    );
    let d = p.get("dilation").map(usizes).unwrap_or(vec![1, 1]);
    let ceil = p["ceil_mode"].as_bool().unwrap();
    let mut out = input[..2].to_vec();
    for i in 0..2 {
        out.push(pool_output_size(input[2 + i], k[i], s[i], pad[i], d[i], ceil).unwrap());
    }
    out
}

#[test]
fn shape_max_pool2d_matches_pytorch() {
    check_shapes("shape_max_pool2d", pool_shape);
}

#[test]
fn shape_avg_pool2d_matches_pytorch() {
    check_shapes("shape_avg_pool2d", pool_shape);
}

/// The functional ops agree with the shape cases too (not only the size functions).
#[test]
fn ops_produce_the_shape_case_shapes() {
    for case in cases("shape_conv2d") {
        let p = &case["params"];
        let input = usizes(&p["input_shape"]);
        let k = usizes(&p["kernel_size"]);
        let groups = p["groups"].as_u64().unwrap() as usize;
        let x = Var::constant(Tensor::<f32>::zeros(&input));
        let w = Var::constant(Tensor::zeros(&[
            p["out_channels"].as_u64().unwrap() as usize,
            input[1] / groups,
            k[0],
            k[1],
        ]));
        let y = conv2d(&x, &w, None, &conv_opts::<2>(p));
        assert_eq!(
            y.shape(),
            usizes(&case["outputs"]["output_shape"]["data"]).as_slice()
        );
    }
    for case in cases("shape_max_pool2d") {
        let p = &case["params"];
        let x = Var::constant(Tensor::<f32>::zeros(&usizes(&p["input_shape"])));
        let y = max_pool2d(&x, &max_opts(p));
        assert_eq!(
            y.shape(),
            usizes(&case["outputs"]["output_shape"]["data"]).as_slice()
        );
    }
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
    let bn = layers::BatchNorm2d::<T>::new(bn_config(p)).unwrap();
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
    let block = layers::BlockConfig::new(get("in_channels"), get("out_channels"), get("stride"))
        .with_projection(p["shortcut"] == "projection")
        .with_batch_norm(bn_config(p))
        .basic::<T>(&mut nn_tensor::Rng::seed_from(0))
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
