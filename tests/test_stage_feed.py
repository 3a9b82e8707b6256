"""Stages that feed each other, proven by test plugins (tests/plugins/):

* ``regstage_plugin`` overrides ``dfx_hw_codegen`` for one layer (its module behind an
  output register). Every later stage sees it: the rtlsim latency grows by the stage,
  the Yosys netlist has the register's flip-flops, the Vivado scripts list the wrapper,
  and ``dfx sim --backend rtl`` stays bit-exact.
* ``intrelu_plugin`` registers a new layer kind with its streamlining rule; the estimate
  flow, Python execution and rtlsim run it bit-exact with no default stage copied.

Builds run through the real CLI (``dfx.cli.main``), with Verilator and Yosys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from dfx.cli import main
from dfx.reports import read_yosys_stat
from modelgen import Layer, make_mlp, qonnx_outputs, random_inputs

PLUGINS = Path(__file__).parent / "plugins"
MLP = [Layer(12, act="relu_uint"), Layer(8, act="relu_uint"),
       Layer(6, act="int", act_bits=3)]


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))


@pytest.fixture
def no_vivado(monkeypatch):
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    clean = [p for p in os.environ.get("PATH", "").split(os.pathsep)
             if p and not (Path(p) / "vivado").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(clean))


def _model(tmp_path: Path, relu: bool = False):
    """A small MLP (and, with ``relu``, a Relu after its signed output quantizer)."""
    model = make_mlp(10, MLP, seed=11)
    if relu:
        out = model.graph.output[0].name
        producer = model.find_producer(out)
        producer.output[0] = "before_relu"
        model.graph.node.append(helper.make_node("Relu", ["before_relu"], [out],
                                                 name="OutputRelu"))
        from qonnx.transformation.infer_shapes import InferShapes

        model = model.transform(InferShapes())
    path = tmp_path / ("relu.onnx" if relu else "mlp.onnx")
    model.save(str(path))
    x = random_inputs(model, 16, seed=12)
    np.save(tmp_path / "x.npy", x)
    return path, x, qonnx_outputs(model, x)


def _build(model: Path, out: Path, plugins: str, outputs: str, *extra: str) -> Path:
    assert main(["run", "--plugins", plugins, str(model), "-o", str(out), "-q",
                 "--target-fps", "200000", "--generate-outputs", outputs, *extra]) == 0
    return out


def _sim(build: Path, backend: str, x_path: Path, tmp_path: Path) -> np.ndarray:
    y = tmp_path / f"y_{build.name}_{backend}.npy"
    assert main(["sim", str(build), "--backend", backend, "-i", str(x_path), "-o", str(y)]) == 0
    return np.load(y)


@pytest.mark.slow
def test_a_codegen_override_reaches_every_later_stage(tmp_path, no_vivado):
    model, x, reference = _model(tmp_path)
    outputs = "estimate_reports,stitched_ip,rtlsim_performance,out_of_context_synth"
    flags = ("--board", "Pynq-Z1", "--ooc-synth-tool", "yosys")
    plain = _build(model, tmp_path / "plain", "default", outputs, *flags)
    wrapped = _build(model, tmp_path / "wrapped", "default,regstage_plugin", outputs, *flags)

    # the manifest names the wrapper; the stitched top instantiates it for MVAU_0
    manifest = read_json(wrapped / "codegen" / "manifest.json")
    first = manifest["modules"][0]
    assert first["layer"] == "MVAU_0" and first["module"] == "MVAU_0_regout"
    assert "codegen/MVAU_0/MVAU_0_regout.v" in manifest["files"]
    top = (wrapped / "stitched_ip" / "dfx_top.v").read_text()
    assert "MVAU_0_regout" in top and "MVAU_0_regout" not in \
        (plain / "stitched_ip" / "dfx_top.v").read_text()
    stream = next(s for s in manifest["streams"] if s["producer"] == "MVAU_0")
    out_width = stream["producer_side"]["width"]

    # rtlsim: one more cycle of latency, the same interval (the register keeps up)
    perf_plain = read_json(plain / "report" / "rtlsim_performance.json")
    perf_wrapped = read_json(wrapped / "report" / "rtlsim_performance.json")
    assert perf_wrapped["latency_cycles"] == perf_plain["latency_cycles"] + 1
    assert perf_wrapped["interval_cycles"] == perf_plain["interval_cycles"]

    # Yosys: the layer's netlist (and the top's) has the register's flip-flops
    def ff(build, name):
        return int(read_yosys_stat(build / "ooc_synth" / "yosys" / f"{name}.stat.json")
                   .iloc[0]["FF"])
    assert ff(wrapped, "MVAU_0") == ff(plain, "MVAU_0") + out_width + 1
    assert ff(wrapped, "dfx_top") == ff(plain, "dfx_top") + out_width + 1
    post = read_json(wrapped / "report" / "post_synth_resources.json")
    assert post["MVAU_0"]["FF"] == ff(wrapped, "MVAU_0")

    # Vivado's scripts (written and dry-run, not run here) list the wrapper file
    package = (wrapped / "stitched_ip" / "package_ip.tcl").read_text()
    assert "MVAU_0_regout.v" in package
    assert (wrapped / "ooc_synth" / "rtl" / "MVAU_0_regout.v").is_file()
    assert "MVAU_0_regout.v" not in (plain / "stitched_ip" / "package_ip.tcl").read_text()

    # dfx sim --backend rtl simulates the stitched design with the wrapper, bit-exact
    np.testing.assert_array_equal(_sim(wrapped, "rtl", tmp_path / "x.npy", tmp_path),
                                  reference)


def test_a_new_layer_kind_through_the_hooks(tmp_path):
    model, x, reference = _model(tmp_path, relu=True)
    build = _build(model, tmp_path / "b", "default,intrelu_plugin",
                   "estimate_reports,stitched_ip,rtlsim_performance")
    cycles = read_json(build / "report" / "estimate_layer_cycles.json")
    resources = read_json(build / "report" / "estimate_layer_resources.json")
    assert "IntRelu_0" in cycles and resources["IntRelu_0"]["DSP"] == 0
    folding = read_json(build / "auto_folding_config.json")
    assert "PE" in folding["IntRelu_0"]
    manifest = read_json(build / "codegen" / "manifest.json")
    relu = next(m for m in manifest["modules"] if m["op_type"] == "IntRelu")
    assert relu["library"] == ["codegen/lib/acme_intrelu.v"]
    assert "acme_intrelu.v" in read_json(build / "stitched_ip" / "stitch.json")["library"]

    # the signed output is rectified in hardware now, bit-exact against qonnx
    np.testing.assert_array_equal(_sim(build, "python", tmp_path / "x.npy", tmp_path),
                                  reference)
    np.testing.assert_array_equal(_sim(build, "rtl", tmp_path / "x.npy", tmp_path),
                                  reference)
    perf = read_json(build / "report" / "rtlsim_performance.json")
    estimate = read_json(build / "report" / "estimate_network_performance.json")
    assert perf["interval_cycles"] == estimate["max_cycles"]


def test_without_the_plugin_the_relu_stays_in_software(tmp_path):
    model, x, reference = _model(tmp_path, relu=True)
    build = _build(model, tmp_path / "b", "default", "estimate_reports")
    assert not any("IntRelu" in name
                   for name in read_json(build / "report" / "estimate_layer_cycles.json"))
    np.testing.assert_array_equal(_sim(build, "python", tmp_path / "x.npy", tmp_path),
                                  reference)
    # no stitched_ip/ in this build: dfx sim runs the plugins' codegen and stitch stages
    assert not (build / "stitched_ip").exists()
    np.testing.assert_array_equal(_sim(build, "rtl", tmp_path / "x.npy", tmp_path),
                                  reference)
