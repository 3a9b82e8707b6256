"""Unit tests of three stages on hand-made streamlined graphs: conversion
(plugins/convert.py), folding (plugins/folding.py) and the estimate reports
(plugins/estimates.py). The expected figures are worked out from the definitions
(cycles = MH/PE * MW/SIMD, the critical path of a chain is the sum of its layers, ...),
not copied from an output.

The graph: ``x (UINT2, 8) -> MatMul W0 (8x6, INT2) -> MultiThreshold T0 (UINT2) ->
MatMul W1 (6x4, INT2) -> output`` (the accumulator), the shape dfx's streamliner gives
a two-layer MLP.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from onnx import TensorProto, helper

from dfx.errors import UnsupportedNodeError

QONNX_DOMAIN = "qonnx.custom_op.general"
CLOCK_NS = 10.0  # 100 MHz

#: W1: columns 0-2 all +1, column 3 all -2, so with inputs in 0..3 the accumulators
#: reach -36 (column 3: 6 x 3 x -2) to +18 (columns 0-2: 6 x 3): INT7.
W1 = np.concatenate([np.ones((6, 3)), np.full((6, 1), -2.0)], axis=1)


def chain(first_input_threshold: bool = False, relu_between: bool = False,
          tail_mul: bool = False, bipolar: bool = False):
    """The streamlined two-layer graph (see the module docstring), with variants: a
    MultiThreshold on the input before the first MatMul, a software Relu between the
    layers, a float Mul after the last one, bipolar input and weights of layer 0."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    rng = np.random.default_rng(0)
    w0 = (rng.choice([-1.0, 1.0], size=(8, 6)) if bipolar
          else rng.integers(-2, 2, size=(8, 6)).astype(np.float64))
    t0 = np.tile([-2.0, 0.0, 2.0], (6, 1))
    nodes, x = [], "global_in"
    if first_input_threshold:
        nodes.append(helper.make_node("MultiThreshold", ["global_in", "t_in"], ["x_q"],
                                      domain=QONNX_DOMAIN, name="InputThreshold",
                                      out_dtype="UINT2"))
        x = "x_q"
    nodes += [
        helper.make_node("MatMul", [x, "W0"], ["acc0"], name="MatMul_0"),
        helper.make_node("MultiThreshold", ["acc0", "T0"], ["act0"], domain=QONNX_DOMAIN,
                         name="MultiThreshold_0", out_dtype="UINT2"),
    ]
    act = "act0"
    if relu_between:
        nodes.append(helper.make_node("Relu", ["act0"], ["act0_relu"], name="StrayRelu"))
        act = "act0_relu"
    out = "acc1" if tail_mul else "global_out"
    nodes.append(helper.make_node("MatMul", [act, "W1"], [out], name="MatMul_1"))
    if tail_mul:
        nodes.append(helper.make_node("Mul", ["acc1", "scale"], ["global_out"], name="Scale"))
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, 4])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_initializer("W0", w0.astype(np.float32))
    model.set_initializer("T0", t0.astype(np.float32))
    model.set_initializer("W1", W1.astype(np.float32))
    if first_input_threshold:
        model.set_initializer("t_in", np.tile([0.0, 1.0, 2.0], (8, 1)).astype(np.float32))
    if tail_mul:
        model.set_initializer("scale", np.float32(0.5))
    for name, shape in [("x_q", [1, 8]), ("acc0", [1, 6]), ("act0", [1, 6]),
                        ("act0_relu", [1, 6]), ("acc1", [1, 4])]:
        if name in {t for n in nodes for t in n.output}:
            model.set_tensor_shape(name, shape)
    input_dt = "BIPOLAR" if bipolar else ("INT8" if first_input_threshold else "UINT2")
    for name, dt in [("global_in", input_dt), ("x_q", "UINT2"),
                     ("W0", "BIPOLAR" if bipolar else "INT2"), ("W1", "INT2"),
                     ("act0", "UINT2"), ("act0_relu", "UINT2")]:
        model.set_tensor_datatype(name, DataType[dt])
    return model


def kinds():
    from dfx.plugin_manager import load_plugins

    plugins = load_plugins("default")
    return plugins


def convert(model, standalone: bool = False):
    from dfx.plugins.convert import convert_to_hw

    plugins = kinds()
    ctx = SimpleNamespace(layer_kinds=plugins.layer_kinds, hook=plugins.hook)
    return convert_to_hw(model, SimpleNamespace(standalone_thresholds=standalone), ctx), \
        plugins.layer_kinds


def step_context(tmp_path: Path, layer_kinds, board=None):
    from dfx.steps import StepContext

    return StepContext(step_name="unit", artifact_dir=tmp_path, hook=None,
                       layer_kinds=layer_kinds, board=board, log=logging.getLogger("unit"))


def config(**keys):
    from dfx.config import make_config

    return make_config({"synth_clk_period_ns": CLOCK_NS, **keys})


def read(tmp_path: Path, name: str):
    import json

    return json.loads((tmp_path / name).read_text())


# -- conversion ---------------------------------------------------------------------------


def test_a_matmul_takes_its_threshold_and_the_last_streams_its_accumulator():
    hw, layer_kinds = convert(chain())
    assert [(n.op_type, n.name) for n in hw.graph.node] == [("MVAU", "MVAU_0"),
                                                             ("MVAU", "MVAU_1")]
    first, last = layer_kinds.hw_layers(hw)
    assert (first.get("MW"), first.get("MH"), first.get("noActivation")) == (8, 6, 0)
    assert list(first.node.input) == ["global_in", "W0", "T0"]
    assert first.node.output[0] == "act0"  # the threshold's output: the two are one layer
    assert (last.get("MW"), last.get("MH"), last.get("noActivation")) == (6, 4, 1)
    assert first.get("numInputVectors") == [1]
    # the accumulator's type from the weights and the input range (W1's docstring): INT7
    assert hw.get_tensor_datatype("global_out").name == "INT7"


def test_standalone_thresholds_and_a_threshold_before_any_matmul():
    hw, _ = convert(chain(), standalone=True)
    assert [n.name for n in hw.graph.node] == ["MVAU_0", "Thresholding_0", "MVAU_1"]
    hw, layer_kinds = convert(chain(first_input_threshold=True))
    assert [n.name for n in hw.graph.node] == ["Thresholding_0", "MVAU_0", "MVAU_1"]
    threshold = layer_kinds.hw_layers(hw)[0]
    assert threshold.get("NumChannels") == 8


def test_bipolar_inputs_and_weights_use_xnor():
    hw, layer_kinds = convert(chain(bipolar=True))
    first, last = layer_kinds.hw_layers(hw)
    assert first.get("binaryXnorMode") == 1 and last.get("binaryXnorMode") == 0


def test_a_float_tail_stays_software_after_the_layers():
    hw, _ = convert(chain(tail_mul=True))
    assert [(n.op_type, n.domain) for n in hw.graph.node] == [
        ("MVAU", "dfx.hw"), ("MVAU", "dfx.hw"), ("Mul", "")]


def test_software_between_layers_is_refused_by_name():
    with pytest.raises(UnsupportedNodeError) as info:
        convert(chain(relu_between=True))
    assert info.value.node_name == "StrayRelu"
    assert "sits between hardware layers" in str(info.value)


def test_a_graph_with_nothing_to_convert_is_refused():
    from qonnx.core.modelwrapper import ModelWrapper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["global_in"], ["global_out"], name="OnlyRelu")], "g",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(UnsupportedNodeError, match="no node could be converted"):
        convert(ModelWrapper(helper.make_model(graph)))


def test_input_vectors_are_the_dimensions_between_batch_and_channels():
    from dfx.plugins.convert import input_vectors

    model = chain()
    model.set_tensor_shape("acc0", [1, 4, 5, 6])
    assert input_vectors(model, "acc0") == [4, 5]
    assert input_vectors(model, "global_in") == [1]


# -- folding ------------------------------------------------------------------------------


def test_folding_options_are_every_divisor_pair_within_the_weight_width():
    hw, layer_kinds = convert(chain())
    first = layer_kinds.hw_layers(hw)[0]  # MW 8, MH 6, 2-bit weights
    options = first.folding_options(SimpleNamespace(mvau_wwidth_max=8))
    pairs = {(o["PE"], o["SIMD"]) for o in options}
    # SIMD x 2 bits <= 8: SIMD 1, 2, 4 of the divisors of 8; PE any divisor of 6
    assert pairs == {(pe, simd) for pe in (1, 2, 3, 6) for simd in (1, 2, 4)}
    for option in options:
        assert first.with_folding(option).cycles() == (6 // option["PE"]) * (8 // option["SIMD"])


def test_the_folding_meets_the_budget_at_the_least_cost(tmp_path):
    from dfx.plugins.folding import set_folding
    from dfx.plugins.layers.memory import LUT_EQUIVALENT, cost

    hw, layer_kinds = convert(chain())
    cfg = config(target_fps=10_000_000, mvau_wwidth_max=36)  # 100 MHz / 10 M: 10 cycles
    set_folding(hw, cfg, step_context(tmp_path, layer_kinds))
    summary = read(tmp_path, "report/folding_summary.json")
    assert summary["cycle_budget"] == 10 and summary["target_met"] is True
    for layer in layer_kinds.hw_layers(hw):
        assert layer.cycles() <= 10
        # no valid folding within the budget is cheaper than the chosen one
        within = [layer.with_folding(o) for o in layer.folding_options(cfg)
                  if layer.with_folding(o).cycles() <= 10]
        cheapest = min(cost(view.resources(), LUT_EQUIVALENT) for view in within)
        assert cost(layer.resources(), LUT_EQUIVALENT) == cheapest
    slowest = max(layer.cycles() for layer in layer_kinds.hw_layers(hw))
    assert summary["estimated_fps"] == pytest.approx(1e8 / slowest)
    written = read(tmp_path, "auto_folding_config.json")
    assert set(written) == {"Defaults", "MVAU_0", "MVAU_1"}
    assert written["MVAU_0"]["PE"] == layer_kinds.hw_layers(hw)[0].get("PE")


def test_an_unreachable_target_names_the_limiting_layer(tmp_path):
    from dfx.plugins.folding import set_folding

    hw, layer_kinds = convert(chain())
    # mvau_wwidth_max 8 caps SIMD at 4 for 2-bit weights: MVAU_0 (MW 8) needs at least
    # 8/4 = 2 cycles, MVAU_1 (MW 6: SIMD 3) 6/3 = 2; 1e9 fps at 100 MHz asks for 0.1
    set_folding(hw, config(target_fps=1e9, mvau_wwidth_max=8),
                step_context(tmp_path, layer_kinds))
    summary = read(tmp_path, "report/folding_summary.json")
    assert summary["target_met"] is False
    assert summary["limiting_layer"] == "MVAU_0"
    assert summary["reachable_fps"] == pytest.approx(1e8 / 2)
    assert [layer.cycles() for layer in layer_kinds.hw_layers(hw)] == [2, 2]


def test_without_a_target_the_layers_keep_their_folding(tmp_path):
    from dfx.plugins.folding import set_folding

    hw, layer_kinds = convert(chain())
    set_folding(hw, config(), step_context(tmp_path, layer_kinds))
    # PE = SIMD = 1: one MAC a cycle, MH x MW cycles
    assert [layer.cycles() for layer in layer_kinds.hw_layers(hw)] == [6 * 8, 4 * 6]
    assert read(tmp_path, "report/folding_summary.json")["cycle_budget"] is None


def test_resources_fit_a_board_share():
    from dfx.plugins.folding import fits

    board = SimpleNamespace(resources={"LUT": 1000, "FF": 2000, "BRAM_18K": 10, "URAM": 0,
                                       "DSP": 10})
    total = {"LUT": 850, "FF": 100, "BRAM_18K": 8, "URAM": 0, "DSP": 0}
    assert fits(total, board, 0.85)
    assert not fits(dict(total, LUT=851), board, 0.85)
    assert not fits(dict(total, URAM=1), board, 0.85)  # the board has none


# -- estimates ----------------------------------------------------------------------------


def _folded(tmp_path):
    """The chain at PE 2, SIMD 4 (MVAU_0: 3 x 2 = 6 cycles) and PE 2, SIMD 3 (MVAU_1:
    2 x 2 = 4 cycles), with its estimate reports written into ``tmp_path``."""
    from dfx.plugins.estimates import generate_estimate_reports

    hw, layer_kinds = convert(chain())
    first, last = layer_kinds.hw_layers(hw)
    first.set_folding({"PE": 2, "SIMD": 4})
    last.set_folding({"PE": 2, "SIMD": 3})
    board = SimpleNamespace(name="unit-board", part="xc7z020clg400-1",
                            resources={"LUT": 1000, "FF": 2000, "BRAM_18K": 10, "URAM": 0,
                                       "DSP": 20})
    generate_estimate_reports(hw, config(), step_context(tmp_path, layer_kinds, board))
    return hw, layer_kinds


def test_network_performance_of_a_chain(tmp_path):
    _folded(tmp_path)
    assert read(tmp_path, "report/estimate_layer_cycles.json") == {"MVAU_0": 6, "MVAU_1": 4}
    performance = read(tmp_path, "report/estimate_network_performance.json")
    # a chain: every layer is on the critical path; the slowest sets the pace
    assert performance["critical_path_cycles"] == 10
    assert performance["max_cycles"] == 6 and performance["max_cycles_node_name"] == "MVAU_0"
    assert performance["estimated_throughput_fps"] == pytest.approx(1e9 / (6 * CLOCK_NS))
    assert performance["estimated_latency_ns"] == pytest.approx(10 * CLOCK_NS)


def test_resource_totals_and_board_share(tmp_path):
    hw, layer_kinds = _folded(tmp_path)
    resources = read(tmp_path, "report/estimate_layer_resources.json")
    layers = layer_kinds.hw_layers(hw)
    for layer in layers:
        assert resources[layer.name]["LUT"] == layer.resources()["LUT"]
    for key in ("LUT", "FF", "BRAM_18K", "URAM", "DSP"):
        assert resources["total"][key] == sum(resources[lay.name][key] for lay in layers)
    share = read(tmp_path, "report/estimate_board_utilization.json")
    assert share["board"] == "unit-board"
    assert share["utilization"]["LUT"] == pytest.approx(resources["total"]["LUT"] / 1000)
    assert share["utilization"]["URAM"] is None  # the board has none


def test_op_and_param_counts(tmp_path):
    _folded(tmp_path)
    counts = read(tmp_path, "report/op_and_param_counts.json")
    # MACs a frame: MW x MH; parameters: the weights, and MH x 3 thresholds of layer 0
    assert counts["MVAU_0"]["op_mac_UINT2_INT2"] == 8 * 6
    assert counts["MVAU_0"]["param_weight_INT2"] == 8 * 6
    assert sum(v for k, v in counts["MVAU_0"].items() if k.startswith("param_threshold_")) \
        == 6 * 3
    assert counts["MVAU_1"] == {"op_mac_UINT2_INT2": 6 * 4, "param_weight_INT2": 6 * 4}
    assert counts["total"]["op_mac_UINT2_INT2"] == 8 * 6 + 6 * 4


def test_config_alternatives_list_every_memory_style(tmp_path):
    hw, layer_kinds = _folded(tmp_path)
    alternatives = read(tmp_path, "report/estimate_layer_config_alternatives.json")
    for layer in layer_kinds.hw_layers(hw):
        entries = alternatives[layer.name]
        styles = [entry["ram_style"] for entry in entries]
        # the current style first (here "auto", as converted), then every other one
        current = layer.get("ram_style")
        assert styles == [current] + [s for s in layer.memory_styles if s != current]
        for entry in entries:
            expected = layer.with_folding({"ram_style": entry["ram_style"]}).resources()
            assert {k: entry[k] for k in expected} == pytest.approx(expected)
