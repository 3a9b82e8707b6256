"""Convnets in RTL (issue 12): Verilator lint, bit-exact rtlsim with and without
backpressure at two foldings, FIFO sizing and the measured throughput."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import CONV_MODEL_NAMES, load_example, model_dir, read_json, run_dfx
from dfx.cli import main
from dfx.graph import load_model
from dfx.plugin_manager import load_plugins
from modelgen import qonnx_outputs, random_inputs
from modelgen_conv import Act, Conv, Fc, Flatten, Pool, make_convnet

pytestmark = pytest.mark.slow

KINDS = load_plugins("default").layer_kinds
FOLDINGS = {"10k": ["--target-fps", "10000"], "100k": ["--target-fps", "100000"]}


def folded(name: str, folding: str, tmp_path: Path):
    out = tmp_path / f"{name}-{folding}"
    assert main(["run", "--plugins", "default", str(model_dir(name) / "model.onnx"), "-o",
                 str(out), "-q", "--stop-step", "step_apply_folding_config",
                 "--mvau-wwidth-max", "36", *FOLDINGS[folding]]) == 0
    return load_model(out / "final_model.onnx")


def stitched(model, out: Path) -> Path:
    from dfx.plugins.hw import stitch_to

    stitch_to(model, KINDS, out)
    return out


def lint(ip: Path) -> None:
    from dfx.tools import find_verilator

    verilator = find_verilator()
    sources = sorted(p.name for p in ip.glob("*.v"))
    for define in ([], ["-DDFX_SIM"]):
        result = subprocess.run([verilator.executable, "--lint-only", "-Wall", "--top-module",
                                 "dfx_top", *define, *sources], cwd=ip, env=verilator.env,
                                capture_output=True, text=True)
        assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", CONV_MODEL_NAMES)
@pytest.mark.parametrize("folding", sorted(FOLDINGS))
def test_shared_convnets_are_bit_exact_in_rtlsim(name, folding, tmp_path):
    """Lint-clean Verilog; rtlsim with and without backpressure equals qonnx's outputs (the
    float tail after the last layer in software, to float32 rounding)."""
    from dfx.plugins.hw import rtlsim_execute

    path, x, expected = load_example(name)
    model = folded(name, folding, tmp_path)
    kinds = {n.op_type for n in model.graph.node if KINDS.is_hw(n)}
    assert {"ConvolutionInputGenerator", "StreamingMaxPool", "MVAU"} <= kinds
    ip = stitched(model, tmp_path / "ip")
    lint(ip)
    x, expected = x[:24], expected[:24]
    for backpressure in (0.0, 0.4):
        output = rtlsim_execute(model, x, ip, KINDS, backpressure=backpressure)
        np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
        assert (output.argmax(1) == expected.argmax(1)).all()


#: depthwise conv with padding, average pool (a depthwise conv of ones), a 5x5 stride-2
#: conv with a bias and asymmetric padding, a max-pool before the quantizer (on the
#: accumulators), a global average pool, on a non-square image
MIXED = ([1, 4, 11, 9],
         [Conv(4, 3, pads=[1, 1, 1, 1], group=4), Act("relu_uint", 3), Pool("avg", 2),
          Act("relu_uint", 3), Conv(6, 5, stride=2, pads=[2, 1, 1, 2], bias=True),
          Pool("max", 2), Act(), Pool("gap"), Act("relu_uint", 3), Flatten(), Fc(4),
          Act("int", 4)], "UINT3")
#: every kind folded: accumulator memories (VVAU PE < C), kernel positions in parallel
#: (VVAU SIMD > 1), window rows a cycle (M > 1)
MIXED_FOLDING = {
    "ConvolutionInputGenerator_0": {"SIMD": 2, "M": 3}, "VVAU_0": {"PE": 2},
    "ConvolutionInputGenerator_1": {"SIMD": 4}, "VVAU_1": {"PE": 4, "SIMD": 2},
    "ConvolutionInputGenerator_2": {"SIMD": 1, "M": 5}, "MVAU_0": {"PE": 3, "SIMD": 5},
    "StreamingMaxPool_0": {"PE": 2}, "Thresholding_0": {"PE": 3}, "GlobalAccPool_0": {"PE": 3},
    "Thresholding_1": {"PE": 2}, "MVAU_1": {"PE": 2, "SIMD": 3},
}
BIPOLAR = ([1, 3, 7, 6], [Conv(8, 3, weight_bits=1), Act("bipolar"), Conv(8, 3, weight_bits=1),
                          Act("bipolar"), Flatten(), Fc(4, weight_bits=1, bias=False),
                          Act("int", 4)], "BIPOLAR")
BIPOLAR_FOLDING = {"ConvolutionInputGenerator_0": {"SIMD": 3, "M": 3},
                   "MVAU_0": {"PE": 4, "SIMD": 9}, "ConvolutionInputGenerator_1": {"SIMD": 2},
                   "MVAU_1": {"PE": 2, "SIMD": 8}, "MVAU_2": {"PE": 2, "SIMD": 4}}


@pytest.mark.parametrize("form", ["mixed", "bipolar"])
@pytest.mark.parametrize("folding", ["unfolded", "folded"])
def test_conv_forms_are_bit_exact_in_rtlsim(form, folding, tmp_path):
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.hw import rtlsim_execute
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.streamline import streamline_model

    shape, steps, dt = MIXED if form == "mixed" else BIPOLAR
    model = make_convnet(shape, steps, dt, seed=3)
    x = random_inputs(model, 12)
    reference = qonnx_outputs(model, x)
    assert np.unique(reference).size > 2
    hw = convert_to_hw(streamline_model(step_tidy_up(model, None, None)),
                       SimpleNamespace(standalone_thresholds=False),
                       SimpleNamespace(layer_kinds=KINDS))
    if folding == "folded":
        for layer in KINDS.hw_layers(hw):
            plan = (MIXED_FOLDING if form == "mixed" else BIPOLAR_FOLDING)[layer.name]
            assert layer.check_folding(plan) is None
            layer.set_folding(plan)
    ip = stitched(hw, tmp_path / "ip")
    lint(ip)
    for backpressure in (0.0, 0.5):
        np.testing.assert_array_equal(rtlsim_execute(hw, x, ip, KINDS, backpressure), reference)


def test_convnet_full_flow_fifo_sizing_and_measured_throughput(tmp_path):
    """The RTL flow on a convnet: FIFOs sized by simulation, rtlsim verification, a
    measured interval within 2% of the estimate (the window generators are bursty), and
    the driver on the simulated accelerator taking the model's NCHW input."""
    import sys
    d = model_dir("cnv-digits-w2a2")
    out = tmp_path / "b"
    x = np.load(d / "input.npy")[:16]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.load(d / "expected_output.npy")[:16])
    result = run_dfx("run", "--plugins", "default", d / "model.onnx", "-o", out,
                     "--target-fps", "100000", "--mvau-wwidth-max", "36",
                     "--generate-outputs",
                     "estimate_reports,stitched_ip,rtlsim_performance,pynq_driver",
                     "--verify-steps", "stitched_ip_rtlsim", "--verify-input-npy",
                     tmp_path / "x.npy", "--verify-expected-output-npy", tmp_path / "y.npy",
                     "--verification-atol", "1e-4", timeout=1500)
    assert result.returncode == 0, result.stderr
    assert read_json(out / "report" / "verify_results.json")["rtlsim"]["verdict"] == "SUCCESS"
    perf = read_json(out / "report" / "rtlsim_performance.json")
    estimate = read_json(out / "report" / "estimate_network_performance.json")
    ratio = perf["stable_throughput[images/s]"] / estimate["estimated_throughput_fps"]
    assert 0.98 <= ratio <= 1.02, (perf, estimate)
    sizing = read_json(out / "report" / "fifo_sizing.json")
    assert sizing["status"] == "sized"
    assert sizing["interval_cycles_sized"] <= sizing["interval_cycles_deep"]
    assert main(["sim", str(out), "--backend", "rtl", "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "rtl.npy"), "--backpressure", "0.3"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "rtl.npy"), np.load(tmp_path / "y.npy"),
                               rtol=0, atol=1e-4)
    io = read_json(out / "driver" / "io.json")
    assert io["input_transpose"] == [0, 2, 3, 1] and io["ishape_normal"] == [[1, 1, 8, 8]]
    np.save(tmp_path / "input.npy", x)  # NCHW, as the model takes it
    driver = subprocess.run([sys.executable, str(out / "driver" / "driver.py"), "--exec_mode",
                             "execute", "--platform", "sim", "--postprocess"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert driver.returncode == 0, driver.stderr
    np.testing.assert_allclose(np.load(tmp_path / "output.npy"), np.load(tmp_path / "y.npy"),
                               rtol=0, atol=1e-4)
