"""A convnet's hardware layers as a dataflow graph: the flatten between the conv part and
the fully connected layers is passed through (the stream goes from the layer before it
to the layer after it), checked against qonnx's expected outputs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from onnx import helper

from conftest import load_example
from dfx.dataflow import DataflowGraph
from dfx.errors import ModelError
from dfx.execute import execute
from dfx.graph import load_model
from dfx.plugin_manager import load_plugins
from dfx.plugins.convert import convert_to_hw
from dfx.plugins.importer import step_tidy_up
from dfx.plugins.streamline import streamline_model

KINDS = load_plugins("default").layer_kinds


def convnet_hw(name: str):
    path, x, expected = load_example(name)
    model = streamline_model(step_tidy_up(load_model(path), None, None))
    hw = convert_to_hw(model, SimpleNamespace(standalone_thresholds=False),
                       SimpleNamespace(layer_kinds=KINDS))
    return hw, x, expected


def run_graph_on_streams(graph: DataflowGraph, frames: np.ndarray) -> np.ndarray:
    """The accelerator as streams: every layer in topological order on flat frames,
    each input reshaped from the producer's stream to the shape its layer takes (the
    element order of a stream never changes)."""
    streams = {graph.single_input().tensor: frames.reshape(len(frames), -1)}
    for layer in graph.layers:
        ins = []
        for edge, tensor in zip(graph.inputs_of(layer.name), layer.stream_inputs()):
            shape = graph.model.get_tensor_shape(tensor)
            ins.append(streams[edge.tensor].reshape((len(frames), *shape[1:])))
        out = layer.execute(*ins)
        outs = out if isinstance(out, tuple) else (out,)
        for tensor, value in zip(layer.stream_outputs(), outs):
            streams[tensor] = np.asarray(value).reshape(len(frames), -1)
    return streams[graph.single_output().tensor]


@pytest.mark.parametrize("name", ["cnv-digits-w2a2", "cnv-pad-w4a4"])
def test_the_flatten_between_conv_and_fc_layers_is_an_edge_of_the_graph(name):
    hw, x, expected = convnet_hw(name)
    graph = DataflowGraph(hw, KINDS)
    reshapes = [n for n in hw.graph.node if n.op_type in ("Reshape", "Flatten")]
    assert [n.name for n in reshapes] == sorted(graph.passthrough) and graph.passthrough
    # one input and one output stream: the reshape splits nothing
    assert len(graph.inputs) == 1 and len(graph.outputs) == 1
    reshape = reshapes[0]
    before = next(n for n in hw.graph.node if reshape.input[0] in n.output)
    after = next(n for n in hw.graph.node if reshape.output[0] in n.input)
    (edge,) = graph.inputs_of(after.name)
    assert (edge.producer, edge.tensor) == (before.name, reshape.input[0])
    # a chain: every layer's stream goes to the next one
    assert [e.consumer for e in graph.edges[:-1]] == [layer.name for layer in graph.layers]

    # the whole graph as one `hardware` function (rtlsim's place): execution skips the
    # reshape inside it and gives qonnx's outputs
    seen = []

    def hardware(frames):
        seen.append(frames.shape)
        return run_graph_on_streams(graph, frames)

    out_shape = hw.get_tensor_shape(graph.single_output().tensor)
    result = execute(hw, x, KINDS, hardware=lambda h: hardware(h).reshape(
        (len(h), *out_shape[1:])))
    assert len(seen) == 1
    np.testing.assert_allclose(result, expected, rtol=0,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_a_flattened_stream_that_also_leaves_the_accelerator_is_refused():
    """A stream has one consumer: a layer output both flattened into the next layer and
    a model output is named with its layer."""
    hw, _, _ = convnet_hw("cnv-digits-w2a2")
    reshape = next(n for n in hw.graph.node if n.op_type in ("Reshape", "Flatten"))
    before = next(n for n in hw.graph.node if reshape.input[0] in n.output)
    shape = hw.get_tensor_shape(reshape.input[0])
    hw.graph.output.append(helper.make_tensor_value_info(reshape.input[0], 1, shape))
    with pytest.raises(ModelError, match=f"layer {before.name}.*leaves the accelerator"):
        DataflowGraph(hw, KINDS)


def test_a_reshape_on_a_branch_of_a_fork_is_passed_through(tmp_path, monkeypatch):
    """Graph shapes too: a Reshape put between a DuplicateStreams output and the MVAU it
    feeds (tests/plugins/streams_plugin.py) becomes an edge from the fork to the MVAU,
    and the model still runs bit-exact against qonnx, node by node and as one
    hardware function."""
    from pathlib import Path

    from dfx.cli import main
    from modelgen import make_two_branch, qonnx_outputs, random_inputs

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    plugins = "default,streams_plugin"
    source = make_two_branch(seed=3, a_layers=1, b_layers=2)
    source.save(str(tmp_path / "branches.onnx"))
    x = random_inputs(source, 16, seed=4)
    reference = qonnx_outputs(source, x)
    assert main(["run", "--plugins", plugins, str(tmp_path / "branches.onnx"), "-o",
                 str(tmp_path / "b"), "-q", "--target-fps", "1000000",
                 "--generate-outputs", "estimate_reports"]) == 0
    kinds = load_plugins(plugins).layer_kinds
    hw = load_model(tmp_path / "b" / "final_model.onnx")
    fork = next(n for n in hw.graph.node if n.op_type == "DuplicateStreams")
    branch = fork.output[1]
    reader = next(n for n in hw.graph.node if branch in n.input)
    shape = hw.get_tensor_shape(branch)
    hw.graph.initializer.append(helper.make_tensor("branch_shape", 7, [len(shape)],
                                                   [1, *shape[1:]]))
    reshape = helper.make_node("Reshape", [branch, "branch_shape"], ["branch_reshaped"],
                               name="Reshape_branch")
    reader.input[list(reader.input).index(branch)] = "branch_reshaped"
    nodes = list(hw.graph.node)
    nodes.insert(nodes.index(reader), reshape)
    del hw.graph.node[:]
    hw.graph.node.extend(nodes)
    hw.set_tensor_shape("branch_reshaped", list(shape))
    hw.set_tensor_datatype("branch_reshaped", hw.get_tensor_datatype(branch))

    graph = DataflowGraph(hw, kinds)
    assert graph.passthrough == {"Reshape_branch"}
    into_reader = [e for e in graph.inputs_of(reader.name) if e.producer == fork.name]
    assert [(e.producer_port, e.tensor) for e in into_reader] == [(1, branch)]
    assert len(graph.inputs) == 1 and len(graph.outputs) == 1
    np.testing.assert_array_equal(execute(hw, x, kinds), reference)
    out_shape = hw.get_tensor_shape(graph.single_output().tensor)
    as_hardware = execute(hw, x, kinds, hardware=lambda h: run_graph_on_streams(
        graph, h).reshape((len(h), *out_shape[1:])))
    np.testing.assert_array_equal(as_hardware, reference)
