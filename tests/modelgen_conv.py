"""Build small QONNX convnets the way Brevitas exports them, for the conv tests.

A model is a list of steps applied to an NCHW input:

* ``Conv(out, k, ...)``: ``Conv`` with ``Quant``-ed (or ``BipolarQuant``-ed) weights,
  optionally a float bias and ``BatchNormalization`` (gains may be negative);
* ``Act(kind, bits)``: ``Relu`` + unsigned ``Quant``, a signed ``Quant``, or ``BipolarQuant``;
* ``Pool(kind, k, stride)``: ``MaxPool``, ``AveragePool`` or ``GlobalAveragePool``;
* ``Pad(pads, value)``: an ONNX ``Pad`` of the spatial axes;
* ``Flatten()``, ``Transpose(perm)``;
* ``Fc(out, ...)``: ``Gemm(transB=1)`` with quantized weights and a float bias.

Parameters come from a seeded generator, so every model is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper

QONNX = "qonnx.custom_op.general"


@dataclass
class Conv:
    out: int
    k: int | tuple = 3
    stride: int | tuple = 1
    pads: list = field(default_factory=lambda: [0, 0, 0, 0])  # top, left, bottom, right
    group: int = 1
    weight_bits: int = 2
    per_channel_scale: bool = False
    bias: bool = False
    batchnorm: bool = True
    negative_gains: bool = True
    dilation: int = 1


@dataclass
class Act:
    kind: str = "relu_uint"  # relu_uint | int | bipolar
    bits: int = 2


@dataclass
class Pool:
    kind: str = "max"  # max | avg | gap
    k: int = 2
    stride: int | None = None


@dataclass
class Pad:
    pads: list
    value: float = 0.0


@dataclass
class Flatten:
    pass


@dataclass
class Transpose:
    perm: list


@dataclass
class Fc:
    out: int
    weight_bits: int = 2
    bias: bool = True
    batchnorm: bool = False


def make_convnet(input_shape: list[int], steps: list, input_dt: str = "UINT4", seed: int = 0):
    """A ModelWrapper of the convnet, its input annotated ``input_dt``."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = [0]

    def name(stem):
        counter[0] += 1
        return f"{stem}_{counter[0]}"

    def const(stem, array, dtype=TensorProto.FLOAT):
        n = name(stem)
        arr = np.asarray(array, np.float32 if dtype == TensorProto.FLOAT else np.int64)
        inits.append(helper.make_tensor(n, dtype, arr.shape, arr.ravel().tolist()))
        return n

    def quant_weights(w, bits, per_channel):
        qmax = 2 ** (bits - 1) - 1 if bits > 1 else 1
        axes = tuple(range(1, w.ndim))
        scale = (np.abs(w).max(axis=axes, keepdims=True) / qmax if per_channel
                 else np.float32(np.abs(w).max() / qmax)).astype(np.float32)
        out = name("Wq")
        if bits == 1:
            nodes.append(helper.make_node("BipolarQuant", [const("W", w), const("s", scale)],
                                          [out], domain=QONNX, name=name("BipolarQuant")))
        else:
            nodes.append(helper.make_node(
                "Quant", [const("W", w), const("s", scale), const("zp", np.float32(0)),
                          const("bw", np.float32(bits))], [out], domain=QONNX,
                name=name("Quant"), signed=1, narrow=1, rounding_mode="ROUND"))
        return out

    def batchnorm(x, channels, fan_in, negative):
        gamma = rng.uniform(0.5, 2.0, channels)
        if negative:
            gamma *= np.where(rng.random(channels) < 0.3, -1, 1)
        y = name("t")
        nodes.append(helper.make_node(
            "BatchNormalization",
            [x, const("g", gamma), const("b", rng.normal(0, 0.5, channels)),
             const("m", rng.normal(0, 1, channels)),
             const("v", rng.uniform(0.1, 3.0, channels) * fan_in)],
            [y], name=name("BatchNormalization"), epsilon=1e-5))
        return y

    x = "global_in"
    shape = list(input_shape)
    for step in steps:
        y = name("t")
        if isinstance(step, Conv):
            kh, kw = (step.k, step.k) if isinstance(step.k, int) else step.k
            sh, sw = (step.stride, step.stride) if isinstance(step.stride, int) else step.stride
            c = shape[1]
            w = rng.normal(0, 1, (step.out, c // step.group, kh, kw)).astype(np.float32)
            wq = quant_weights(w, step.weight_bits, step.per_channel_scale)
            inputs = [x, wq]
            if step.bias:
                inputs.append(const("bias", rng.normal(0, 0.5, step.out)))
            nodes.append(helper.make_node(
                "Conv", inputs, [y], name=name("Conv"), kernel_shape=[kh, kw],
                strides=[sh, sw], pads=list(step.pads), group=step.group,
                dilations=[step.dilation, step.dilation]))
            t, left, b, r = step.pads
            oh = (shape[2] + t + b - step.dilation * (kh - 1) - 1) // sh + 1
            ow = (shape[3] + left + r - step.dilation * (kw - 1) - 1) // sw + 1
            shape = [1, step.out, oh, ow]
            x = y
            if step.batchnorm:
                x = batchnorm(x, step.out, c // step.group * kh * kw, step.negative_gains)
        elif isinstance(step, Act):
            if step.kind == "relu_uint":
                nodes.append(helper.make_node("Relu", [x], [y], name=name("Relu")))
                x, y = y, name("t")
            if step.kind == "bipolar":
                nodes.append(helper.make_node("BipolarQuant", [x, const("s", np.float32(1.0))],
                                              [y], domain=QONNX, name=name("BipolarQuant")))
            else:
                nodes.append(helper.make_node(
                    "Quant", [x, const("s", np.float32(rng.uniform(0.2, 1.0))),
                              const("zp", np.float32(0)), const("bw", np.float32(step.bits))],
                    [y], domain=QONNX, name=name("Quant"), signed=int(step.kind == "int"),
                    narrow=0, rounding_mode="ROUND"))
            x = y
        elif isinstance(step, Pool):
            if step.kind == "gap":
                nodes.append(helper.make_node("GlobalAveragePool", [x], [y],
                                              name=name("GlobalAveragePool")))
                shape = [1, shape[1], 1, 1]
            else:
                stride = step.stride or step.k
                op = "MaxPool" if step.kind == "max" else "AveragePool"
                nodes.append(helper.make_node(op, [x], [y], name=name(op),
                                              kernel_shape=[step.k, step.k],
                                              strides=[stride, stride]))
                shape = [1, shape[1], (shape[2] - step.k) // stride + 1,
                         (shape[3] - step.k) // stride + 1]
            x = y
        elif isinstance(step, Pad):
            t, left, b, r = step.pads
            pads = const("pads", [0, 0, t, left, 0, 0, b, r], TensorProto.INT64)
            nodes.append(helper.make_node("Pad", [x, pads, const("v", np.float32(step.value))],
                                          [y], name=name("Pad"), mode="constant"))
            shape = [1, shape[1], shape[2] + t + b, shape[3] + left + r]
            x = y
        elif isinstance(step, Flatten):
            nodes.append(helper.make_node("Flatten", [x], [y], name=name("Flatten"), axis=1))
            shape = [1, int(np.prod(shape[1:]))]
            x = y
        elif isinstance(step, Transpose):
            nodes.append(helper.make_node("Transpose", [x], [y], name=name("Transpose"),
                                          perm=list(step.perm)))
            shape = [shape[p] for p in step.perm]
            x = y
        elif isinstance(step, Fc):
            features = shape[-1]
            w = rng.normal(0, 1, (step.out, features)).astype(np.float32)
            wq = quant_weights(w, step.weight_bits, False)
            inputs = [x, wq] + ([const("b", rng.normal(0, 0.5, step.out))] if step.bias else [])
            nodes.append(helper.make_node("Gemm", inputs, [y], name=name("Gemm"), transB=1))
            shape = [1, step.out]
            x = y
            if step.batchnorm:
                x = batchnorm(x, step.out, features, True)
        else:
            raise TypeError(step)
    nodes[-1].output[0] = "global_out"
    graph = helper.make_graph(
        nodes, "convnet",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, shape)],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid(QONNX, 1)])
    wrapper = ModelWrapper(model).transform(InferShapes())
    wrapper.set_tensor_datatype("global_in", DataType[input_dt])
    return wrapper
