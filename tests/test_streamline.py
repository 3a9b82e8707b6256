"""Streamlining and the hardware graph against qonnx's execution of the original model."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import MODEL_NAMES, load_example
from dfx.errors import ModelError, UnsupportedNodeError
from dfx.execute import execute
from dfx.graph import load_model
from dfx.plugin_manager import load_plugins
from dfx.plugins.importer import step_tidy_up
from dfx.plugins.streamline import streamline_model
from modelgen import Layer, make_mlp, qonnx_outputs, random_inputs


def _streamlined(model):
    return streamline_model(step_tidy_up(model, None, None))


def _to_hw(model, standalone=False):
    from types import SimpleNamespace

    from dfx.plugins.convert import convert_to_hw

    plugins = load_plugins("default")
    ctx = SimpleNamespace(layer_kinds=plugins.layer_kinds)
    cfg = SimpleNamespace(standalone_thresholds=standalone)
    return convert_to_hw(model, cfg, ctx), plugins.layer_kinds


def _assert_matches(output, expected, exact):
    if exact:
        np.testing.assert_array_equal(output, expected)
    else:
        tolerance = 1e-5 * max(1, abs(expected).max())
        np.testing.assert_allclose(output, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_streamlined_model_equals_qonnx_reference(name):
    """qonnx's executor on the streamlined graph gives expected_output.npy (made by qonnx)."""
    path, x, expected = load_example(name)
    streamlined = _streamlined(load_model(path))
    ops = {n.op_type for n in streamlined.graph.node}
    assert ops <= {"MatMul", "MultiThreshold", "Mul", "Add"}, ops
    output = qonnx_outputs(streamlined, x)
    _assert_matches(output, expected, exact=name != "digits-w4a4")


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("standalone", [False, True])
def test_hw_graph_python_execution_equals_reference(name, standalone):
    path, x, expected = load_example(name)
    hw, kinds = _to_hw(_streamlined(load_model(path)), standalone)
    hw_ops = [n.op_type for n in hw.graph.node if kinds.is_hw(n)]
    assert "MVAU" in hw_ops
    assert ("Thresholding" in hw_ops) == standalone
    output = execute(hw, x, kinds)  # the whole batch at once
    _assert_matches(output, expected, exact=name != "digits-w4a4")


def test_digits_keeps_accuracy_and_float_tail():
    path, x, expected = load_example("digits-w4a4")
    labels = np.load(path.parent / "labels.npy")
    hw, kinds = _to_hw(_streamlined(load_model(path)))
    output = execute(hw, x, kinds)
    assert (output.argmax(1) == expected.argmax(1)).all()
    assert (output.argmax(1) == labels).mean() == pytest.approx(0.975556, abs=1e-6)
    software = [n.op_type for n in hw.graph.node if not kinds.is_hw(n)]
    assert software == ["Mul", "Add"]  # the float tail stays in software


def test_cybsec_decreasing_channels_flip_weights():
    """Trained BatchNorm with negative gains: those channels' weights are negated."""
    path, x, _ = load_example("cybsec-mlp-w2a2")
    model = step_tidy_up(load_model(path), None, None)
    gain = next(model.get_initializer(n.input[1]) for n in model.graph.node
                if n.op_type == "BatchNormalization")
    quant = next(n for n in model.graph.node if n.op_type == "Quant")
    w, s = model.get_initializer(quant.input[0]), model.get_initializer(quant.input[1])
    original = np.clip(np.round(w / s), -1, 1).T  # as qonnx's float32 Quant rounds
    streamlined = streamline_model(model)
    first_w = streamlined.get_initializer(streamlined.graph.node[0].input[1])
    same = (first_w == original).all(axis=0)
    negated = (first_w == -original).all(axis=0)
    assert (same | negated).all()  # every column kept or negated as a whole
    flipped = negated & ~same
    assert flipped.any()
    assert (gain[flipped] < 0).all()  # only decreasing channels are negated


SYNTHETIC = {
    "int4_signed_act_per_channel_scale": dict(
        in_features=24, input_dt="INT4",
        layers=[Layer(16, weight_bits=4, per_channel_scale=True, act="int", act_bits=4),
                Layer(8, weight_bits=3, act="relu_uint", act_bits=3), Layer(5, act=None)]),
    "wide_weights_not_narrow": dict(
        in_features=20, input_dt="UINT3",
        layers=[Layer(12, weight_bits=3, weight_narrow=False, act="relu_uint", act_bits=2),
                Layer(4, weight_bits=2, weight_narrow=False, act="int", act_bits=3)]),
    "matmul_bias_no_batchnorm": dict(
        in_features=10, input_dt="UINT4",
        layers=[Layer(12, use_matmul=True, batchnorm=False, act="relu_uint", act_bits=4),
                Layer(3, use_matmul=True, batchnorm=False, act=None)]),
    "bipolar_everything": dict(
        in_features=32, input_dt="BIPOLAR",
        layers=[Layer(16, weight_bits=1, act="bipolar"), Layer(8, weight_bits=1, act="bipolar"),
                Layer(4, weight_bits=1, batchnorm=False, act=None)]),
    "bipolar_input_affine": dict(
        in_features=30, input_dt="BIPOLAR", input_affine=(1.0, 2.0),
        layers=[Layer(8, act="relu_uint", act_bits=2), Layer(1, act="bipolar", batchnorm=False)]),
    "eight_bit": dict(
        in_features=16, input_dt="UINT8",
        layers=[Layer(8, weight_bits=8, act="relu_uint", act_bits=8), Layer(4, weight_bits=8,
                                                                           act=None)]),
}


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_mlps_are_exact(case, seed):
    spec = dict(SYNTHETIC[case])
    model = make_mlp(spec.pop("in_features"), spec.pop("layers"), seed=seed, **spec)
    x = random_inputs(model, 48, seed=seed + 10)
    reference = qonnx_outputs(model, x)
    streamlined = _streamlined(model)
    quantized_output = SYNTHETIC[case]["layers"][-1].act is not None
    _assert_matches(qonnx_outputs(streamlined, x), reference, exact=quantized_output)
    hw, kinds = _to_hw(streamlined)
    _assert_matches(execute(hw, x, kinds), reference, exact=quantized_output)


def test_float_model_without_quantizers_is_rejected():
    model = make_mlp(8, [Layer(4, act=None, batchnorm=False)], input_dt="FLOAT32")
    # strip the weight quantizer: a plain float Gemm
    quant = next(n for n in model.graph.node if n.op_type == "Quant")
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    gemm.input[1] = quant.input[0]
    model.graph.node.remove(quant)
    with pytest.raises(ModelError, match="no quantizers"):
        _streamlined(model)


def test_missing_input_datatype_names_the_input():
    model = make_mlp(8, [Layer(4, act="relu_uint")], input_dt="FLOAT32")
    with pytest.raises(ModelError, match="input 'global_in' has no integer datatype"):
        _streamlined(model)


def test_op_without_hardware_layer_names_the_node():
    from onnx import helper

    model = make_mlp(8, [Layer(6, act="relu_uint"), Layer(4, act=None)])
    relu_q = next(n for n in model.graph.node if n.op_type == "Quant" and
                  model.get_initializer(n.input[0]) is None)
    # insert a Softmax after the first activation quantizer
    old = relu_q.output[0]
    relu_q.output[0] = "pre_softmax"
    model.graph.node.insert(list(model.graph.node).index(relu_q) + 1, helper.make_node(
        "Softmax", ["pre_softmax"], [old], name="MySoftmax", axis=-1))
    with pytest.raises(UnsupportedNodeError) as info:
        _streamlined(model)
    assert info.value.node_name == "MySoftmax"
    assert info.value.op_type == "Softmax"
    assert "MySoftmax" in str(info.value) and "Softmax" in str(info.value)
