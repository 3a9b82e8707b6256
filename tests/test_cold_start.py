"""The cold estimate flow imports only what it needs (see benchmarks/bench_estimate_flow.py
for its figures)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import load_example, model_dir, run_dfx

#: Heavy packages the estimate flow has no use for.
NOT_NEEDED = ("onnxruntime", "pandas", "rich", "jinja2", "scipy", "sympy", "onnxscript")


def test_estimate_flow_does_not_import_heavy_packages(tmp_path):
    out = tmp_path / "b"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dfx", "run", "--plugins", "default",
         str(model_dir("cybsec-mlp-w2a2") / "model.onnx"), "-o", str(out), "-q",
         "--target-fps", "1000000", "--mvau-wwidth-max", "36"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "onnx" in imported and "qonnx" in imported  # the flow did run through them
    assert not imported & set(NOT_NEEDED), sorted(imported & set(NOT_NEEDED))
    assert (out / "report" / "estimate_layer_resources.json").is_file()


def test_deferred_onnxruntime_still_executes_qonnx_models(tmp_path):
    """After load_model, onnxruntime is a stand-in; qonnx's executor loads it on use."""
    path, x, expected = load_example("cybsec-mlp-w2a2")
    script = f"""
import sys
import numpy as np
from dfx.graph import load_model
from dfx.execute import _execute_qonnx
model = load_model({str(path)!r})
assert type(sys.modules["onnxruntime"]).__name__ == "_Deferred"
y = _execute_qonnx(model, np.load({str(path.parent / "input.npy")!r})[:8])
assert type(sys.modules["onnxruntime"]).__name__ == "module"
np.save({str(tmp_path / "y.npy")!r}, y)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import numpy as np

    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected[:8])


def test_verify_with_qonnx_execution_works_in_the_cli(tmp_path):
    """A verify check that runs the QONNX model (qonnx's executor) in a real build."""
    d = model_dir("cybsec-mlp-w2a2")
    out = tmp_path / "b"
    result = run_dfx("run", "--plugins", "default", d / "model.onnx", "-o", out, "-q",
                     "--verify-steps", "initial_python,hw_python", "--verify-input-npy",
                     d / "input.npy", "--verify-expected-output-npy",
                     d / "expected_output.npy")
    assert result.returncode == 0, result.stderr
    verdicts = json.loads((out / "report" / "verify_results.json").read_text())
    assert verdicts["initial_python"]["verdict"] == "SUCCESS"
    assert verdicts["hw_python"]["verdict"] == "SUCCESS"
