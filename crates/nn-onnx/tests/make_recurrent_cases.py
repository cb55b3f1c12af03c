"""Writes the onnxruntime_* cases of tests/cases: ONNX recurrent nodes in the
forms PyTorch never exports (GRU with linear_before_reset = 0, ONNX's
default; LSTM with peephole weights P), with seeded random weights and
inputs and onnxruntime's outputs, in the backend-test layout.

    python3 make_recurrent_cases.py OUT_DIR

Needs numpy, onnx and onnxruntime (the venv of .ci/run has them).
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def case(out, name, op, attrs, inputs, n_outputs, seed):
    """One node `op` reading `inputs` (name -> array or None for an absent
    optional input); the first is the graph input, the rest initialisers."""
    names = list(inputs)
    graph_inputs = [names[0]]
    node_inputs = [n if inputs[n] is not None else "" for n in names]
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()
    outs = ["Y", "Y_h", "Y_c"][:n_outputs]
    node = helper.make_node(op, node_inputs, outs, **attrs)
    inits = [
        numpy_helper.from_array(v, n)
        for n, v in inputs.items()
        if v is not None and n not in graph_inputs
    ]
    x = inputs[names[0]]
    seq, batch = x.shape[0], x.shape[1]
    dirs, hidden = inputs["R"].shape[0], inputs["R"].shape[2]
    shapes = [(seq, dirs, batch, hidden), (dirs, batch, hidden), (dirs, batch, hidden)]
    graph = helper.make_graph(
        [node],
        name,
        [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in zip(outs, shapes)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {names[0]: x})
    d = out / name
    (d / "test_data_set_0").mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_bytes(model.SerializeToString())
    (d / "test_data_set_0" / "input_0.pb").write_bytes(numpy_helper.from_array(x).SerializeToString())
    for k, y in enumerate(got):
        (d / "test_data_set_0" / f"output_{k}.pb").write_bytes(
            numpy_helper.from_array(y).SerializeToString()
        )
    print(f"{name}: seed {seed}, outputs {[y.shape for y in got]}")


def main():
    out = pathlib.Path(sys.argv[1])
    rng = np.random.default_rng(19)
    f = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.5
    seq, batch, feat, hidden = 5, 2, 3, 4
    lens = np.array([5, 3], dtype=np.int32)
    for dirs, direction in [(2, "bidirectional"), (1, "reverse")]:
        case(
            out,
            f"onnxruntime_gru_linear_before_reset0_{direction}",
            "GRU",
            {"hidden_size": hidden, "direction": direction, "linear_before_reset": 0},
            {
                "X": f(seq, batch, feat),
                "W": f(dirs, 3 * hidden, feat),
                "R": f(dirs, 3 * hidden, hidden),
                "B": f(dirs, 6 * hidden),
                "sequence_lens": lens,
                "initial_h": f(dirs, batch, hidden),
            },
            2,
            19,
        )
        case(
            out,
            f"onnxruntime_lstm_peepholes_{direction}",
            "LSTM",
            {"hidden_size": hidden, "direction": direction},
            {
                "X": f(seq, batch, feat),
                "W": f(dirs, 4 * hidden, feat),
                "R": f(dirs, 4 * hidden, hidden),
                "B": f(dirs, 8 * hidden),
                "sequence_lens": lens,
                "initial_h": f(dirs, batch, hidden),
                "initial_c": f(dirs, batch, hidden),
                "P": f(dirs, 3 * hidden),
            },
            3,
            19,
        )


if __name__ == "__main__":
    main()
