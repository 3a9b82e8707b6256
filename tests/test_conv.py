"""Convolutional networks (issue 12): streamlining, conversion and exact execution.

Every check is against qonnx's execution of the original model: the shipped convnets'
expected outputs (made by qonnx's executor) and, for the forms they do not show,
small generated models run through ``execute_onnx`` here.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import CONV_MODEL_NAMES, load_example, model_dir, run_dfx
from dfx.errors import UnsupportedNodeError
from dfx.execute import execute
from dfx.graph import load_model
from dfx.plugin_manager import load_plugins
from dfx.plugins.convert import convert_to_hw
from dfx.plugins.importer import step_tidy_up
from dfx.plugins.streamline import streamline_model
from modelgen import qonnx_outputs, random_inputs
from modelgen_conv import Act, Conv, Fc, Flatten, Pad, Pool, Transpose, make_convnet

KINDS = load_plugins("default").layer_kinds


def streamlined(model):
    return streamline_model(step_tidy_up(model, None, None))


def to_hw(model, standalone=False):
    return convert_to_hw(model, SimpleNamespace(standalone_thresholds=standalone),
                         SimpleNamespace(layer_kinds=KINDS))


def hw_ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node if KINDS.is_hw(n)]


def close(output, expected):
    np.testing.assert_allclose(output, expected, rtol=0,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


# -- the shipped convnets --------------------------------------------------------------


@pytest.mark.parametrize("name", CONV_MODEL_NAMES)
def test_streamlined_convnet_equals_qonnx_reference(name):
    """Im2Col + integer MatMul + MultiThreshold, channels-last, run by qonnx's executor,
    gives expected_output.npy (made by qonnx on the original model)."""
    path, x, expected = load_example(name)
    model = streamlined(load_model(path))
    ops = [n.op_type for n in model.graph.node]
    assert ops[0] == "Transpose"  # NCHW -> NHWC, in software before the accelerator
    assert set(ops) <= {"Transpose", "Im2Col", "MatMul", "MultiThreshold", "MaxPoolNHWC",
                        "Reshape", "Mul", "Add"}, ops
    assert "Conv" not in ops and "BatchNormalization" not in ops
    close(qonnx_outputs(model, x), expected)


@pytest.mark.parametrize("name", CONV_MODEL_NAMES)
@pytest.mark.parametrize("standalone", [False, True])
def test_convnet_hw_layers_execute_exactly(name, standalone):
    path, x, expected = load_example(name)
    hw = to_hw(streamlined(load_model(path)), standalone)
    ops = hw_ops(hw)
    assert ops.count("ConvolutionInputGenerator") == 2 and "StreamingMaxPool" in ops
    assert ("Thresholding" in ops) == standalone
    software = [n.op_type for n in hw.graph.node if not KINDS.is_hw(n)]
    assert software == ["Transpose", "Reshape", "Mul", "Add"]
    output = execute(hw, x, KINDS)  # the whole batch at once
    close(output, expected)
    assert (output.argmax(1) == expected.argmax(1)).all()


def test_cnv_digits_keeps_its_accuracy():
    path, x, expected = load_example("cnv-digits-w2a2")
    labels = np.load(path.parent / "labels.npy")
    output = execute(to_hw(streamlined(load_model(path))), x, KINDS)
    assert (output.argmax(1) == labels).mean() == pytest.approx(0.973333, abs=1e-6)


def test_cnv_pad_padding_is_folded_into_the_window_generator():
    path, _, _ = load_example("cnv-pad-w4a4")
    hw = to_hw(streamlined(load_model(path)))
    swg = [KINDS.wrap(n, hw) for n in hw.graph.node if n.op_type == "ConvolutionInputGenerator"]
    assert [s.get("padding") for s in swg] == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert [s.get("Stride") for s in swg] == [[1, 1], [2, 2]]
    # the 1x1 conv needs no window generator: an MVAU over the 3x3 pixels
    mvau = [KINDS.wrap(n, hw) for n in hw.graph.node if n.op_type == "MVAU"]
    assert [m.get("numInputVectors") for m in mvau] == [[12, 12], [6, 6], [3, 3], [1]]
    assert mvau[3].get("MW") == 144  # the flatten over 3x3 pixels


# -- forms the shipped models do not show ------------------------------------------------

FORMS = {
    "depthwise": ([1, 4, 6, 6], [Conv(4, 3, pads=[1, 1, 1, 1], group=4), Act(), Conv(8, 1),
                                 Act(), Pool("max", 2), Flatten(), Fc(5), Act("int", 3)],
                  "UINT4"),
    "bipolar_input": ([1, 3, 6, 6], [Conv(8, 3, weight_bits=1), Act("bipolar"),
                                     Conv(8, 3, weight_bits=1), Act("bipolar"), Flatten(),
                                     Fc(4, weight_bits=1, bias=False), Act("int", 4)], "BIPOLAR"),
    "kernel5_stride2_asymmetric": ([1, 2, 9, 7], [Conv(4, 5, stride=2, pads=[1, 2, 2, 0]),
                                                 Act("relu_uint", 3), Conv(6, 1, stride=2),
                                                 Act("int", 3), Flatten(), Fc(3),
                                                 Act("int", 4)], "UINT3"),
    "non_square_kernels": ([1, 1, 5, 9], [Conv(3, (3, 1), pads=[1, 0, 1, 0]), Act(),
                                          Conv(4, (1, 3), stride=(1, 2)), Act(), Flatten(),
                                          Fc(3), Act("int", 3)], "INT3"),
    "average_pools": ([1, 3, 8, 8], [Conv(6, 3, pads=[1, 1, 1, 1]), Act(), Pool("avg", 2),
                                     Act("relu_uint", 3), Conv(8, 3), Act(), Pool("gap"),
                                     Act("relu_uint", 3), Flatten(), Fc(4), Act("int", 3)],
                      "UINT2"),
    "grouped": ([1, 4, 6, 6], [Conv(6, 3, group=2), Act(), Flatten(), Fc(3), Act("int", 3)],
                "UINT2"),
    "pool_before_quantizer": ([1, 2, 8, 8], [Conv(4, 3, bias=True), Pool("max", 2), Act(),
                                             Flatten(), Fc(3), Act("int", 3)], "UINT2"),
    "pad_node": ([1, 2, 6, 5], [Pad([1, 1, 0, 1]), Conv(4, 3), Act(), Flatten(), Fc(3),
                                Act("int", 3)], "UINT2"),
    "channels_last_flatten": ([1, 2, 5, 5], [Conv(4, 3), Act(), Transpose([0, 2, 3, 1]),
                                             Flatten(), Fc(3), Act("int", 3)], "UINT2"),
    "conv_output": ([1, 2, 6, 6], [Conv(4, 3, pads=[1, 1, 1, 1]), Act("int", 3)], "UINT2"),
}
#: the hardware layers each form must become
FORM_LAYERS = {
    "depthwise": {"VVAU", "ConvolutionInputGenerator", "StreamingMaxPool", "MVAU"},
    "average_pools": {"VVAU", "GlobalAccPool", "Thresholding"},
    "pool_before_quantizer": {"StreamingMaxPool", "Thresholding"},
}


def form_model(name: str, seed: int = 1):
    shape, steps, dt = FORMS[name]
    return make_convnet(shape, steps, dt, seed=seed)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_conv_forms_are_bit_exact_with_qonnx(name):
    """Each form through streamlining and conversion: the hardware graph's numpy
    execution equals qonnx's execution of the original model, bit for bit (every model
    ends in a quantizer, so the outputs are exact multiples of its scale)."""
    model = form_model(name)
    x = random_inputs(model, 24)
    reference = qonnx_outputs(model, x)
    assert np.unique(reference).size > 2  # not a constant output
    hw = to_hw(streamlined(model))
    assert FORM_LAYERS.get(name, {"ConvolutionInputGenerator"}) <= set(hw_ops(hw))
    np.testing.assert_array_equal(execute(hw, x, KINDS), reference)


def test_bipolar_input_feeds_an_xnor_conv_without_reannotation():
    """FINN needs the input re-annotated here (ConvertBipolarMatMulToXnorPopcount finds no
    upstream MultiThreshold); dfx takes the BIPOLAR input as it is."""
    hw = to_hw(streamlined(form_model("bipolar_input")))
    first = next(KINDS.wrap(n, hw) for n in hw.graph.node if n.op_type == "MVAU")
    assert first.input_datatype().name == "BIPOLAR"
    assert first.weight_datatype().name == "BIPOLAR" and first.get("binaryXnorMode") == 1


def test_model_with_conv_output_is_transposed_back_in_software():
    hw = to_hw(streamlined(form_model("conv_output")))
    software = [n.op_type for n in hw.graph.node if not KINDS.is_hw(n)]
    assert software[0] == "Transpose" and software[-1] == "Transpose"
    x = random_inputs(form_model("conv_output"), 4)
    assert execute(hw, x, KINDS).shape == (4, 4, 6, 6)  # NCHW, as the model's output


def test_grouped_conv_becomes_dense_with_zero_weights():
    hw = to_hw(streamlined(form_model("grouped")))
    mvau = next(KINDS.wrap(n, hw) for n in hw.graph.node if n.op_type == "MVAU")
    w = mvau.weights().reshape(3, 3, 4, 6)  # (ky, kx, c, oc)
    assert not w[:, :, :2, 3:].any() and not w[:, :, 2:, :3].any()  # the other group's


# -- bad input -----------------------------------------------------------------------------


def _unsupported(model) -> UnsupportedNodeError:
    with pytest.raises(UnsupportedNodeError) as info:
        streamlined(model)
    return info.value


def test_dilation_is_rejected_naming_node_and_attribute():
    error = _unsupported(make_convnet([1, 2, 8, 8], [Conv(4, 3, dilation=2), Act(), Flatten(),
                                                      Fc(3)]))
    assert error.node_name.startswith("Conv") and error.op_type == "Conv"
    assert "dilations=[2, 2] is not supported" in str(error)


def test_conv_bias_without_quantizer_is_rejected():
    error = _unsupported(make_convnet([1, 2, 6, 6], [Conv(4, 3, bias=True, batchnorm=False),
                                                      Flatten(), Fc(3)]))
    assert error.node_name.startswith("Conv")
    assert "input B (a float bias) with no quantizer after the convolution" in str(error)


def test_pool_kernel_larger_than_input_is_rejected():
    model = make_convnet([1, 2, 5, 5], [Conv(4, 3), Act(), Pool("max", 2), Flatten(), Fc(3)])
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    for attr in pool.attribute:
        if attr.name in ("kernel_shape", "strides"):
            attr.ints[:] = [4, 4]
    error = _unsupported(model)
    assert error.node_name == pool.name
    assert "the pooling kernel [4, 4] is larger than its input [3, 3]" in str(error)


def test_padding_value_other_than_zero_is_rejected():
    error = _unsupported(make_convnet([1, 2, 6, 6], [Pad([1, 1, 1, 1], value=1.0), Conv(4, 3),
                                                      Act(), Flatten(), Fc(3)]))
    assert error.op_type == "Pad" and "padding value 1 is not supported" in str(error)


def test_zero_padding_of_a_bipolar_input_is_rejected():
    error = _unsupported(make_convnet([1, 2, 6, 6], [Conv(4, 3, pads=[1, 1, 1, 1],
                                                          weight_bits=1), Act("bipolar"),
                                                     Flatten(), Fc(3)], "BIPOLAR"))
    assert error.op_type == "Conv" and "0 is not a bipolar value" in str(error)


def test_overlapping_max_pool_is_rejected():
    model = make_convnet([1, 2, 8, 8], [Conv(4, 3), Act(), Pool("max", 3, stride=1),
                                        Flatten(), Fc(3)])
    error = _unsupported(model)
    assert error.op_type == "MaxPool" and "stride = kernel" in str(error)


def test_cli_names_the_node_of_an_unsupported_conv(tmp_path):
    import onnx

    model = make_convnet([1, 2, 8, 8], [Conv(4, 3, dilation=2), Act(), Flatten(), Fc(3)])
    path = tmp_path / "dilated.onnx"
    onnx.save(model.model, path)
    result = run_dfx("run", "--plugins", "default", path, "-o", tmp_path / "out")
    assert result.returncode == 3, result.stderr
    assert "dilations=[2, 2] is not supported" in result.stderr
    assert "Traceback" not in result.stderr


# -- the host side ---------------------------------------------------------------------------


def test_dfx_sim_takes_and_gives_the_models_layout(tmp_path):
    """``dfx sim`` takes the NCHW input the model takes (the channels-last change is the
    host's) and gives the model's output."""
    from dfx.cli import main

    d = model_dir("cnv-pad-w4a4")
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(d / "model.onnx"), "-o", str(out), "-q",
                 "--target-fps", "10000"]) == 0
    assert main(["sim", str(out), "--backend", "python", "--input", str(d / "input.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    close(np.load(tmp_path / "y.npy"), np.load(d / "expected_output.npy"))
