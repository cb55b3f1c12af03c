"""Checks models exported by nn-onnx with the ONNX project's own tools.

For every folder under DIR holding model.onnx and test_data_set_0/input_I.pb,
output_J.pb (written by tests/export.rs): the full ONNX checker accepts the
file, and onnxruntime's outputs on the inputs (given in the graph's input
order) are the library's outputs within 1e-5 (relative to
max(1, max |expected|)). One line per model, a summary, and a
non-zero exit on any failure.

    python3 onnxruntime_check.py DIR
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

TOLERANCE = 1e-5


def read(path):
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def check(case):
    model_path = case / "model.onnx"
    onnx.checker.check_model(str(model_path), full_check=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    data = case / "test_data_set_0"
    count = lambda kind: len(list(data.glob(f"{kind}_*.pb")))
    feeds = {
        i.name: read(data / f"input_{k}.pb") for k, i in enumerate(session.get_inputs())
    }
    if len(feeds) != count("input"):
        return f"{len(feeds)} graph inputs, {count('input')} input files"
    got = session.run(None, feeds)
    if len(got) != count("output"):
        return f"{len(got)} outputs, {count('output')} expected"
    for k, out in enumerate(got):
        want = read(data / f"output_{k}.pb")
        if out.shape != want.shape:
            return f"output {k}: shape {out.shape}, expected {want.shape}"
        scale = max(1.0, float(np.abs(want).max(initial=0.0)))
        err = float(np.abs(out.astype(np.float64) - want).max(initial=0.0)) / scale
        if err > TOLERANCE:
            return f"output {k}: error {err:.3e} > {TOLERANCE:e}"
    return None


def main():
    root = pathlib.Path(sys.argv[1])
    cases = sorted(p for p in root.iterdir() if (p / "model.onnx").is_file())
    failed = 0
    for case in cases:
        try:
            why = check(case)
        except Exception as e:  # the checker's and onnxruntime's errors
            why = f"{type(e).__name__}: {e}"
        if why is None:
            print(f"export {case.name} passed (checker, onnxruntime {ort.__version__})")
        else:
            failed += 1
            print(f"export {case.name} failed: {why}")
    print(f"onnxruntime: exports_passed={len(cases) - failed} exports_failed={failed}")
    sys.exit(1 if failed or not cases else 0)


if __name__ == "__main__":
    main()
