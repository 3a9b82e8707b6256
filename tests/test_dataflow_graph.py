"""The hardware layers as a dataflow graph: forks and joins, proven with a test plugin.

``tests/plugins/streams_plugin.py`` adds FINN's ``DuplicateStreams`` and ``AddStreams``
through the hooks a third party uses. Two synthetic residual-style models (built
with onnx helpers, ``modelgen.make_two_branch``) run through the real CLI:

* two branches of different depth (one MatMul + MultiThreshold against two), so
  the short branch must buffer what the long one has not caught up with: FIFO
  sizing gives it the depth that keeps the throughput at the estimate, and with
  2-word FIFOs the throughput drops;
* a skip connection (the trunk's output added to one layer's), which deadlocks
  with 2-word FIFOs and runs with the sized ones.

Both run bit-exact against qonnx's ``execute_onnx`` in Python execution and in
rtlsim with backpressure, and the estimates report the critical path.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dfx.cli import main
from modelgen import make_two_branch, qonnx_outputs, random_inputs

PLUGINS = Path(__file__).parent / "plugins"
WITH_STREAMS = "default,streams_plugin"
RTL = "estimate_reports,stitched_ip,rtlsim_performance"


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))


def _model(tmp_path: Path, a_layers: int, b_layers: int, seed: int = 3):
    model = make_two_branch(seed=seed, a_layers=a_layers, b_layers=b_layers)
    path = tmp_path / f"branches_{a_layers}_{b_layers}.onnx"
    model.save(str(path))
    x = random_inputs(model, 24, seed=seed + 1)
    np.save(tmp_path / "x.npy", x)
    return path, x, qonnx_outputs(model, x)


def _build(model: Path, out: Path, outputs: str = "estimate_reports", *extra: str) -> Path:
    assert main(["run", "--plugins", WITH_STREAMS, str(model), "-o", str(out), "-q",
                 "--target-fps", "1000000", "--generate-outputs", outputs, *extra]) == 0
    return out


def _sim(build: Path, backend: str, tmp_path: Path, *extra: str) -> np.ndarray:
    y = tmp_path / f"y_{build.name}_{backend}.npy"
    assert main(["sim", str(build), "--plugins", WITH_STREAMS, "--backend", backend,
                 "-i", str(tmp_path / "x.npy"), "-o", str(y), *extra]) == 0
    return np.load(y)


def _restitch(build: Path, out: Path, depth: int) -> Path:
    """The build's codegen manifest stitched again with every FIFO ``depth`` words deep."""
    from dfx.plugins.manifest import CODEGEN_MANIFEST, read_manifest
    from dfx.plugins.rtlgen import stitch_manifest

    manifest = read_manifest(build / CODEGEN_MANIFEST)
    stitch_manifest(manifest, build, out, {s["fifo"]: depth for s in manifest["streams"]})
    return out


def _stream(manifest: dict, producer: str, consumer: str) -> dict:
    return next(s for s in manifest["streams"]
                if s["producer"] == producer and s["consumer"] == consumer)


def _frames(build: Path, n: int) -> np.ndarray:
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import random_frames

    return random_frames(load_model(build / "final_model.onnx"),
                         load_plugins(WITH_STREAMS).layer_kinds, n, seed=5)


# -- without a simulator --------------------------------------------------------------


def test_estimates_follow_the_critical_path_and_python_execution_is_exact(tmp_path):
    model, x, reference = _model(tmp_path, a_layers=1, b_layers=2)
    build = _build(model, tmp_path / "b")
    cycles = read_json(build / "report" / "estimate_layer_cycles.json")
    assert list(cycles) == ["MVAU_0", "DuplicateStreams_0", "MVAU_1", "MVAU_2", "MVAU_3",
                            "AddStreams_0"]
    perf = read_json(build / "report" / "estimate_network_performance.json")
    # the long branch (MVAU_2, MVAU_3) is the critical path, not the sum of all layers
    path = ["MVAU_0", "DuplicateStreams_0", "MVAU_2", "MVAU_3", "AddStreams_0"]
    assert perf["critical_path_layers"] == path
    assert perf["critical_path_cycles"] == sum(cycles[name] for name in path)
    assert perf["critical_path_cycles"] < sum(cycles.values())
    assert perf["max_cycles"] == max(cycles.values())
    assert perf["estimated_latency_ns"] == pytest.approx(10 * perf["critical_path_cycles"])
    resources = read_json(build / "report" / "estimate_layer_resources.json")
    assert resources["DuplicateStreams_0"]["DSP"] == 0 and resources["AddStreams_0"]["LUT"] > 0

    # the join's output datatype is widened: two UINT2 values sum to UINT3
    from dfx.graph import load_model

    final = load_model(build / "final_model.onnx")
    add = next(n for n in final.graph.node if n.op_type == "AddStreams")
    assert final.get_tensor_datatype(add.output[0]).name == "UINT3"
    np.testing.assert_array_equal(_sim(build, "python", tmp_path), reference)


def test_execution_runs_in_topological_order(tmp_path):
    """The hardware model's nodes shuffled (an unsorted graph) give the same outputs."""
    from dfx.execute import execute
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins

    model, x, reference = _model(tmp_path, a_layers=1, b_layers=2)
    build = _build(model, tmp_path / "b")
    final = load_model(build / "final_model.onnx")
    nodes = list(final.graph.node)
    random.Random(1).shuffle(nodes)
    del final.graph.node[:]
    final.graph.node.extend(nodes)
    assert [n.op_type for n in final.graph.node] != [n.op_type for n in nodes[::-1]]
    kinds = load_plugins(WITH_STREAMS).layer_kinds
    np.testing.assert_array_equal(execute(final, x, kinds), reference)


def test_the_graph_names_one_fifo_per_stream_and_keeps_user_depths(tmp_path):
    from dfx.dataflow import DataflowGraph
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins

    model, _, _ = _model(tmp_path, a_layers=1, b_layers=2)
    fold = {"AddStreams_0": {"inFIFODepths": [40, 3]}, "DuplicateStreams_0": {"PE": 2}}
    (tmp_path / "fold.json").write_text(json.dumps(fold))
    build = _build(model, tmp_path / "b", "estimate_reports", "--folding-config-file",
                   str(tmp_path / "fold.json"))
    final = load_model(build / "final_model.onnx")
    graph = DataflowGraph(final, load_plugins(WITH_STREAMS).layer_kinds)
    edges = {(e.producer, e.consumer): (e.fifo, e.consumer_port) for e in graph.edges}
    assert edges[("DuplicateStreams_0", "MVAU_1")] == ("fifo_2", 0)
    assert edges[("DuplicateStreams_0", "MVAU_2")] == ("fifo_3", 0)
    assert edges[("MVAU_1", "AddStreams_0")] == ("fifo_5", 0)
    assert edges[("MVAU_3", "AddStreams_0")] == ("fifo_5_1", 1)
    assert edges[(None, "MVAU_0")] == ("fifo_0", 0)
    assert edges[("AddStreams_0", None)] == ("fifo_6", None)
    depths = graph.fifo_depths()
    assert depths["fifo_5"] == 40 and depths["fifo_5_1"] == 3 and depths["fifo_2"] == 2
    # FIFO sizing keeps both FIFOs the user set (AddStreams_0's two inputs)
    assert json.loads(final.get_metadata_prop("dfx_user_fifo_depths")) == \
        ["fifo_5", "fifo_5_1"]
    graph.set_fifo_depths({"fifo_5_1": 9, "fifo_6": 4})
    assert graph.by_name["AddStreams_0"].get("inFIFODepths") == [40, 9]
    assert graph.by_name["AddStreams_0"].get("outFIFODepths") == [4]


def test_a_fork_needs_a_kind_that_duplicates_streams(tmp_path, capsys):
    """With AddStreams but no DuplicateStreams, conversion names the fork and its readers;
    without the plugin at all, the streamliner names the Add of two tensors."""
    from streams_plugin import AddStreams, _integer_add

    from dfx.errors import UnsupportedNodeError
    from dfx.layers import LayerRegistry
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.layers.mvau import MVAU
    from dfx.plugins.layers.thresholding import Thresholding
    from dfx.plugins.streamline import builtin_op_handlers, streamline_model

    model = make_two_branch(seed=3, a_layers=1, b_layers=1)
    kinds = LayerRegistry()
    for kind in (MVAU, Thresholding, AddStreams):
        kinds.register(kind, "test")
    ctx = SimpleNamespace(layer_kinds=kinds, log=None)
    cfg = SimpleNamespace(standalone_thresholds=False)
    tidy = step_tidy_up(model, cfg, ctx)
    streamlined = streamline_model(tidy, {**builtin_op_handlers(), "Add": _integer_add})
    with pytest.raises(UnsupportedNodeError) as info:
        convert_to_hw(streamlined, cfg, ctx)
    message = str(info.value)
    assert "StreamFork" in message and "no registered layer kind duplicates streams" in message
    assert "MVAU" in message and "AddStreams" in message  # the readers and the known kinds

    path, _, _ = _model(tmp_path, a_layers=1, b_layers=1)
    code = main(["run", "--plugins", "default", str(path), "-o", str(tmp_path / "plain"),
                 "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "'Add_join'" in err and "one constant operand" in err, err


def test_a_stream_with_two_readers_is_rejected_by_the_graph(tmp_path):
    """A hand-made hardware graph where one tensor feeds two layers (no fork) is an error
    naming the tensor and both layers, not a broken stitch."""
    from dfx.dataflow import DataflowGraph
    from dfx.errors import ModelError
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins

    model, _, _ = _model(tmp_path, a_layers=1, b_layers=2)
    build = _build(model, tmp_path / "b")
    final = load_model(build / "final_model.onnx")
    dup = next(n for n in final.graph.node if n.op_type == "DuplicateStreams")
    for node in final.graph.node:  # both branches read the fork's input directly
        for k, tensor in enumerate(node.input):
            if tensor in dup.output:
                node.input[k] = dup.input[0]
    final.graph.node.remove(dup)
    with pytest.raises(ModelError, match=r"streamed into several hardware layers "
                                         r"\(MVAU_1, MVAU_2\)"):
        DataflowGraph(final, load_plugins(WITH_STREAMS).layer_kinds)


# -- rtlsim ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_branches_run_bit_exact_in_rtlsim_with_sized_fifos(tmp_path):
    from dfx.plugins.rtlsim import simulate

    model, x, reference = _model(tmp_path, a_layers=1, b_layers=2)
    build = _build(model, tmp_path / "b", RTL)
    manifest = read_json(build / "codegen" / "manifest.json")
    modules = {m["layer"]: m for m in manifest["modules"]}
    assert [p["port"] for p in modules["DuplicateStreams_0"]["outputs"]] == ["out0_V",
                                                                            "out1_V"]
    assert [p["port"] for p in modules["AddStreams_0"]["inputs"]] == ["in0_V", "in1_V"]
    assert "codegen/lib/acme_add_streams.v" in modules["AddStreams_0"]["library"]
    top = (build / "stitched_ip" / "dfx_top.v").read_text()
    assert ".out1_V_TDATA(" in top and ".in1_V_TDATA(" in top

    # bit-exact against qonnx, with and without backpressure on the output
    np.testing.assert_array_equal(_sim(build, "rtl", tmp_path), reference)
    np.testing.assert_array_equal(_sim(build, "rtl", tmp_path, "--backpressure", "0.4"),
                                  reference)

    # throughput = estimate with the sized FIFOs
    perf = read_json(build / "report" / "rtlsim_performance.json")
    estimate = read_json(build / "report" / "estimate_network_performance.json")
    assert perf["interval_cycles"] == estimate["max_cycles"]
    assert perf["latency_cycles"] >= estimate["critical_path_cycles"] // 2

    # the short branch waits for the long one: sizing gave its FIFO room for that ...
    short = _stream(manifest, "MVAU_1", "AddStreams_0")["fifo"]
    sizing = read_json(build / "report" / "fifo_sizing.json")
    assert sizing["depths"][short] > 2 and sizing["peaks"][short] > 2
    # ... and with 2-word FIFOs everywhere the same design loses throughput
    small = simulate(_restitch(build, tmp_path / "small", 2), _frames(build, 32))
    assert small.interval_cycles > estimate["max_cycles"]


@pytest.mark.slow
def test_a_skip_connection_deadlocks_with_small_fifos_and_runs_with_sized_ones(tmp_path):
    from dfx.plugins.rtlsim import SimulationError, simulate

    model, x, reference = _model(tmp_path, a_layers=0, b_layers=1, seed=5)
    build = _build(model, tmp_path / "b", RTL)
    np.testing.assert_array_equal(_sim(build, "rtl", tmp_path, "--backpressure", "0.3"),
                                  reference)
    perf = read_json(build / "report" / "rtlsim_performance.json")
    estimate = read_json(build / "report" / "estimate_network_performance.json")
    assert perf["interval_cycles"] == estimate["max_cycles"]
    manifest = read_json(build / "codegen" / "manifest.json")
    skip = _stream(manifest, "DuplicateStreams_0", "AddStreams_0")["fifo"]
    words = _stream(manifest, "DuplicateStreams_0", "AddStreams_0")["consumer_side"][
        "words_per_frame"]
    # the skip FIFO holds what the branch's layer has not answered yet: about a frame
    assert read_json(build / "report" / "fifo_sizing.json")["depths"][skip] >= words

    # 2-word FIFOs: the fork cannot hand the layer its whole frame, the layer cannot
    # answer, and the watchdog names the full skip FIFO
    with pytest.raises(SimulationError) as info:
        simulate(_restitch(build, tmp_path / "small", 2), _frames(build, 8))
    message = str(info.value)
    assert "deadlock" in message and f"{skip} -> AddStreams_0 holds data" in message
