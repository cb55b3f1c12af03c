//! Corrupt and hostile files are errors, never panics, hangs or unbounded
//! allocations: truncations and byte flips of a real model, and hand-made
//! graphs with cycles, missing values, huge declared shapes, wrong types.

use nn_onnx::proto::{
    attribute_type, data_type, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, ValueInfoProto,
};
use nn_onnx::{Model, OnnxError, Value};
use nn_tensor::Tensor;
use prost::Message;

fn case_bytes(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
        .join("model.onnx");
    std::fs::read(p).unwrap()
}

#[test]
fn every_truncation_is_an_error_or_a_smaller_valid_model() {
    let bytes = case_bytes("test_Conv2d_groups");
    for cut in 0..bytes.len() {
        // Must return (either way) without panicking.
        let _ = Model::from_bytes(&bytes[..cut]);
    }
    assert!(Model::from_bytes(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn byte_flips_never_panic() {
    let bytes = case_bytes("transformer_encoder_post_norm");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        let mut b = bytes.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % b.len();
            b[i] = (state >> 32) as u8;
        }
        if let Ok(m) = Model::from_bytes(&b) {
            let x = Tensor::<f32>::zeros(&[5, 2, 16]);
            let _ = m.run(&[x]);
        }
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: &[&str],
    outputs: &[&str],
) -> ModelProto {
    let info = |n: &&str| ValueInfoProto {
        name: n.to_string(),
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: inputs.iter().map(info).collect(),
            output: outputs.iter().map(info).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}_0"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn load(m: &ModelProto) -> Result<Model, OnnxError> {
    Model::from_bytes(&m.encode_to_vec())
}

#[test]
fn a_cycle_is_refused() {
    let m = model(
        vec![node("Relu", &["b"], &["a"]), node("Relu", &["a"], &["b"])],
        vec![],
        &["x"],
        &["a"],
    );
    let e = load(&m).unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn a_missing_initializer_is_named() {
    let m = model(
        vec![node("Add", &["x", "w"], &["y"])],
        vec![],
        &["x"],
        &["y"],
    );
    let e = load(&m).unwrap_err().to_string();
    assert!(e.contains("\"w\"") && e.contains("Add"), "{e}");
}

#[test]
fn huge_declared_dims_are_refused_before_allocating() {
    let w = TensorProto {
        dims: vec![1 << 31, 1 << 31],
        data_type: data_type::FLOAT,
        name: "w".into(),
        raw_data: vec![0; 16],
        ..Default::default()
    };
    let m = model(
        vec![node("Add", &["x", "w"], &["y"])],
        vec![w],
        &["x"],
        &["y"],
    );
    let e = load(&m).unwrap_err().to_string();
    assert!(e.contains("tensor \"w\""), "{e}");
    // A shape computed at run time is capped too.
    let shape = Value::ints(vec![1 << 20, 1 << 20], &[2])
        .unwrap()
        .to_proto("s");
    let m = model(
        vec![node("ConstantOfShape", &["s"], &["y"])],
        vec![shape],
        &[],
        &["y"],
    );
    let e = load(&m).unwrap().run(&[]).unwrap_err().to_string();
    assert!(e.contains("over the limit"), "{e}");
}

#[test]
fn unsupported_operator_and_attribute_name_node_op_and_opset() {
    let m = model(vec![node("Einsum", &["x"], &["y"])], vec![], &["x"], &["y"]);
    let e = load(&m).unwrap_err();
    assert!(e.is_unsupported());
    assert_eq!(
        e.to_string(),
        "onnx: node \"Einsum_0\": op Einsum (opset 17): the operator is not supported"
    );
    let mut n = node("Relu", &["x"], &["y"]);
    n.attribute.push(AttributeProto {
        name: "fancy".into(),
        r#type: attribute_type::INT,
        i: 1,
        ..Default::default()
    });
    let e = load(&model(vec![n], vec![], &["x"], &["y"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "onnx: node \"Relu_0\": op Relu (opset 17): attribute fancy is not supported"
    );
}

#[test]
fn wrong_types_are_errors() {
    // A float tensor where Gather wants integer indices.
    let m = model(
        vec![node("Gather", &["x", "x"], &["y"])],
        vec![],
        &["x"],
        &["y"],
    );
    let e = load(&m)
        .unwrap()
        .run(&[Tensor::zeros(&[2])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("Gather") && e.contains("integers"), "{e}");
    // Wrong number of inputs.
    let m = model(vec![node("Relu", &["x"], &["y"])], vec![], &["x"], &["y"]);
    assert!(matches!(
        load(&m).unwrap().run(&[]),
        Err(OnnxError::Input(_))
    ));
}
