"""Build small QONNX MLPs the way Brevitas exports them, for tests.

Each layer is ``Gemm(transB=1)`` (or ``MatMul``) with ``Quant``-ed weights and a
float bias, optionally ``BatchNormalization`` and ``Relu``, then an activation
``Quant`` (or ``BipolarQuant``). Parameters are drawn from a seeded generator;
BatchNorm gains may be negative so decreasing channels are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper

QONNX = "qonnx.custom_op.general"


@dataclass
class Layer:
    out_features: int
    weight_bits: int = 2
    weight_narrow: bool = True
    per_channel_scale: bool = False
    batchnorm: bool = True
    negative_gains: bool = True
    act: str | None = "relu_uint"  # relu_uint | int | bipolar | None (float output)
    act_bits: int = 2
    use_matmul: bool = False  # MatMul + Add instead of Gemm


def make_mlp(in_features: int, layers: list[Layer], input_dt: str = "UINT2", seed: int = 0,
             input_affine: tuple[float, float] | None = None):
    """A ModelWrapper for the MLP, with the input annotated as ``input_dt`` (or FLOAT32)."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = [0]

    def name(stem):
        counter[0] += 1
        return f"{stem}_{counter[0]}"

    def const(stem, array):
        n = name(stem)
        inits.append(helper.make_tensor(n, TensorProto.FLOAT, np.shape(array),
                                        np.asarray(array, np.float32).ravel().tolist()))
        return n

    x = "global_in"
    if input_affine is not None:  # e.g. (x + 1) / 2 on a bipolar input
        add, div = input_affine
        y = name("t")
        nodes.append(helper.make_node("Add", [x, const("add", np.float32(add))], [y],
                                      name=name("Add")))
        z = name("t")
        nodes.append(helper.make_node("Div", [y, const("div", np.float32(div))], [z],
                                      name=name("Div")))
        x = z
    features = in_features
    for layer in layers:
        n_out = layer.out_features
        w = rng.normal(0, 1, (n_out, features)).astype(np.float32)
        qmax = 2 ** (layer.weight_bits - 1) - 1 if layer.weight_bits > 1 else 1
        if layer.per_channel_scale:
            scale = (np.abs(w).max(axis=1, keepdims=True) / max(qmax, 1)).astype(np.float32)
        else:
            scale = np.float32(np.abs(w).max() / max(qmax, 1))
        w_q = name("Wq")
        if layer.weight_bits == 1:
            nodes.append(helper.make_node("BipolarQuant", [const("W", w), const("s", scale)],
                                          [w_q], domain=QONNX, name=name("BipolarQuant")))
        else:
            nodes.append(helper.make_node(
                "Quant", [const("W", w), const("s", scale), const("zp", np.float32(0)),
                          const("bw", np.float32(layer.weight_bits))], [w_q], domain=QONNX,
                name=name("Quant"), signed=1, narrow=int(layer.weight_narrow),
                rounding_mode="ROUND"))
        bias = rng.normal(0, 0.5, n_out).astype(np.float32)
        y = name("t")
        if layer.use_matmul:
            wt = name("WqT")
            nodes.append(helper.make_node("Transpose", [w_q], [wt], name=name("Transpose"),
                                          perm=[1, 0]))
            mm = name("t")
            nodes.append(helper.make_node("MatMul", [x, wt], [mm], name=name("MatMul")))
            nodes.append(helper.make_node("Add", [mm, const("b", bias)], [y], name=name("Add")))
        else:
            nodes.append(helper.make_node("Gemm", [x, w_q, const("b", bias)], [y],
                                          name=name("Gemm"), transB=1))
        x = y
        if layer.batchnorm:
            gamma = rng.uniform(0.5, 2.0, n_out)
            if layer.negative_gains:
                gamma *= np.where(rng.random(n_out) < 0.3, -1, 1)
            beta = rng.normal(0, 0.5, n_out)
            mean = rng.normal(0, 1, n_out)
            var = rng.uniform(0.1, 3.0, n_out) * features
            y = name("t")
            nodes.append(helper.make_node(
                "BatchNormalization", [x, const("g", gamma), const("b", beta), const("m", mean),
                                       const("v", var)], [y], name=name("BatchNormalization"),
                epsilon=1e-5))
            x = y
        if layer.act == "relu_uint":
            y = name("t")
            nodes.append(helper.make_node("Relu", [x], [y], name=name("Relu")))
            x = y
        if layer.act in ("relu_uint", "int"):
            y = name("t")
            signed = int(layer.act == "int")
            nodes.append(helper.make_node(
                "Quant", [x, const("s", np.float32(rng.uniform(0.2, 1.0))),
                          const("zp", np.float32(0)), const("bw", np.float32(layer.act_bits))],
                [y], domain=QONNX, name=name("Quant"), signed=signed, narrow=0,
                rounding_mode="ROUND"))
            x = y
        elif layer.act == "bipolar":
            y = name("t")
            nodes.append(helper.make_node("BipolarQuant", [x, const("s", np.float32(1.0))],
                                          [y], domain=QONNX, name=name("BipolarQuant")))
            x = y
        features = n_out
    nodes[-1].output[0] = "global_out"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, in_features])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, features])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid(QONNX, 1)])
    wrapper = ModelWrapper(model).transform(InferShapes())
    if input_dt != "FLOAT32":
        wrapper.set_tensor_datatype("global_in", DataType[input_dt])
    return wrapper


def random_inputs(model, n: int, seed: int = 1) -> np.ndarray:
    from qonnx.core.datatype import DataType  # noqa: F401

    dt = model.get_tensor_datatype("global_in")
    shape = model.get_tensor_shape("global_in")
    rng = np.random.default_rng(seed)
    if dt.name == "BIPOLAR":
        return rng.choice([-1.0, 1.0], size=(n, *shape[1:])).astype(np.float32)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=(n, *shape[1:])).astype(
        np.float32)


def qonnx_outputs(model, x: np.ndarray) -> np.ndarray:
    """The reference: qonnx's executor, one sample at a time."""
    from qonnx.core.onnx_exec import execute_onnx

    return np.concatenate([execute_onnx(model, {"global_in": x[i:i + 1]})["global_out"]
                           for i in range(len(x))])


def make_two_branch(in_features: int = 16, hidden: int = 16, seed: int = 0,
                    a_layers: int = 1, b_layers: int = 1, scale: float = 0.5):
    """A fork and a join, as Brevitas exports a residual-style block: ``input -> Gemm ->
    Relu -> Quant`` (the trunk), then two branches of ``a_layers`` and ``b_layers`` times
    ``Gemm -> Relu -> Quant`` (0: the branch is the trunk's output itself, a skip
    connection), added: ``output = A + B``. Every layer has ``hidden`` outputs and
    different weights; the activation quantizers share one scale (a power of two, so
    the float sum is exact), so the sum is an integer sum."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, array):
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, np.shape(array),
                                        np.asarray(array, np.float32).ravel().tolist()))
        return name

    def dense(tag, x, n_in, n_out):
        w = rng.normal(0, 1, (n_out, n_in)).astype(np.float32)
        nodes.append(helper.make_node(
            "Quant", [const(f"W_{tag}", w), const(f"ws_{tag}", np.float32(np.abs(w).max())),
                      const(f"wz_{tag}", np.float32(0)), const(f"wb_{tag}", np.float32(2))],
            [f"Wq_{tag}"], domain=QONNX, name=f"Quant_W_{tag}", signed=1, narrow=1,
            rounding_mode="ROUND"))
        nodes.append(helper.make_node("Gemm", [x, f"Wq_{tag}",
                                               const(f"b_{tag}", rng.normal(0, 0.5, n_out))],
                                      [f"g_{tag}"], name=f"Gemm_{tag}", transB=1))
        nodes.append(helper.make_node("Relu", [f"g_{tag}"], [f"r_{tag}"], name=f"Relu_{tag}"))
        nodes.append(helper.make_node(
            "Quant", [f"r_{tag}", const(f"as_{tag}", np.float32(scale)),
                      const(f"az_{tag}", np.float32(0)), const(f"ab_{tag}", np.float32(2))],
            [f"q_{tag}"], domain=QONNX, name=f"Quant_{tag}", signed=0, narrow=0,
            rounding_mode="ROUND"))
        return f"q_{tag}"

    trunk = dense("trunk", "global_in", in_features, hidden)
    ends = []
    for branch, layers in (("a", a_layers), ("b", b_layers)):
        x = trunk
        for i in range(layers):
            x = dense(f"{branch}{i}", x, hidden, hidden)
        ends.append(x)
    nodes.append(helper.make_node("Add", ends, ["global_out"], name="Add_join"))
    graph = helper.make_graph(
        nodes, "two_branch",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, in_features])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, hidden])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid(QONNX, 1)])
    wrapper = ModelWrapper(model).transform(InferShapes())
    wrapper.set_tensor_datatype("global_in", DataType["UINT2"])
    return wrapper
