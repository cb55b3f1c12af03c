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

#[test]
fn max_pool_indices_count_over_the_whole_input() {
    use nn_onnx::proto::{
        attribute_type, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
        ValueInfoProto,
    };
    use prost::Message;
    let ints = |name: &str, v: &[i64]| AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    };
    let info = |n: &str| ValueInfoProto {
        name: n.into(),
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 12,
        }],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                op_type: "MaxPool".into(),
                name: "pool".into(),
                input: vec!["x".into()],
                output: vec!["y".into(), "i".into()],
                attribute: vec![
                    ints("kernel_shape", &[2, 2]),
                    ints("strides", &[2, 2]),
                    ints("pads", &[1, 1, 1, 1]),
                ],
                ..Default::default()
            }],
            input: vec![info("x")],
            output: vec![info("y"), info("i")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = Model::from_bytes(&proto.encode_to_vec()).unwrap();
    let (n, c, h, w): (usize, usize, usize, usize) = (2, 3, 3, 4);
    // Distinct values in a scrambled order, so every window has one maximum.
    let data: Vec<f32> = (0..n * c * h * w).map(|k| ((k * 37) % 71) as f32).collect();
    let x = nn_tensor::Tensor::from_vec(data.clone(), &[n, c, h, w]);
    let out = model.run_values(&[Value::Float(x)]).unwrap();
    let (y, idx) = (out[0].to_f64s(), out[1].to_i64s());
    assert_eq!(out[1].shape(), &[n, c, 2, 3]);
    // Brute force: windows of 2×2, stride 2, one row and column of padding.
    let mut k = 0;
    for plane in 0..n * c {
        for oh in 0..2usize {
            for ow in 0..3usize {
                let mut best = (f32::NEG_INFINITY, 0usize);
                for ih in (2 * oh).saturating_sub(1)..(2 * oh + 1).min(h) {
                    for iw in (2 * ow).saturating_sub(1)..(2 * ow + 1).min(w) {
                        let at = (plane * h + ih) * w + iw;
                        if data[at] > best.0 {
                            best = (data[at], at);
                        }
                    }
                }
                assert_eq!(idx[k], best.1 as i64, "output {k}");
                assert_eq!(y[k], f64::from(best.0), "output {k}");
                k += 1;
            }
        }
    }
}
