"""Running a model on inputs: qonnx's executor for QONNX graphs, numpy for hardware graphs.

A graph without hardware nodes runs through qonnx's ``execute_onnx``, the
reference executor, one sample at a time (the exported models have batch size
1). A graph with hardware nodes runs node by node in numpy, in topological
order (the hardware layers form a dataflow graph, :mod:`dfx.dataflow`, with
forks and joins): hardware nodes through their layer kind's exact
:meth:`dfx.layers.HWLayer.execute` (one array per input stream, one per output),
the few software ops that stay around them (the float tail) through the small
table below, all batched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dfx.errors import DfxError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    from dfx.layers import LayerRegistry


def _multithreshold(node, x, thresholds):
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    count = (x[..., None] >= thresholds).sum(axis=-1)
    return attrs.get("out_scale", 1.0) * count + attrs.get("out_bias", 0.0)


_SOFTWARE_OPS = {
    "Mul": lambda node, a, b: a * b,
    "Add": lambda node, a, b: a + b,
    "Sub": lambda node, a, b: a - b,
    "Div": lambda node, a, b: a / b,
    "Relu": lambda node, a: np.maximum(a, 0),
    "Identity": lambda node, a: a,
    "Clip": lambda node, a, lo=None, hi=None: np.clip(
        a, -np.inf if lo is None else lo, np.inf if hi is None else hi
    ),
    "MatMul": lambda node, a, b: a @ b,
    "MultiThreshold": _multithreshold,
    "Reshape": lambda node, a, shape: a.reshape((a.shape[0],) + tuple(int(s) for s in shape[1:])),
    "Flatten": lambda node, a: a.reshape(a.shape[0], -1),
    # the channels-last change of a convnet's input and output (see dfx.plugins.streamline)
    "Transpose": lambda node, a: np.transpose(a, _perm(node, a.ndim)),
}


def _perm(node, rank: int) -> list[int]:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == "perm":
            return list(helper.get_attribute_value(attr))
    return list(reversed(range(rank)))


def has_hw_nodes(model, layer_kinds: LayerRegistry) -> bool:
    return any(layer_kinds.is_hw(n) for n in model.graph.node)


def _plain_number(value) -> str:
    """A numpy scalar as a user writes it: ``0.5``, ``16``, ``nan`` (not ``np.float32(0.5)``)."""
    number = np.asarray(value).item()
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def batch_input(model, x: np.ndarray) -> np.ndarray:
    """Check ``x`` against the model's input and give it a leading batch axis.

    Accepts one sample (the model's input shape, or that shape without its
    batch dimension) or a batch ``(N, *shape[1:])``. Values must fit the
    input's datatype.
    """
    name = model.graph.input[0].name
    shape = tuple(model.get_tensor_shape(name))
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ModelError(f"the input holds {x.dtype} values; model input {name!r} takes "
                         f"numbers (an integer or float array)")
    sample_shape = shape[1:]
    if x.shape == sample_shape:
        x = x[None]
    elif x.shape[1:] != sample_shape:
        raise ModelError(
            f"input of shape {list(x.shape)} does not fit the model input {name!r} of shape "
            f"{list(shape)}: give one sample {list(sample_shape)} or a batch "
            f"[N, {', '.join(map(str, sample_shape))}]"
        )
    dt = model.get_tensor_datatype(name)
    if dt.is_integer():
        allowed = np.isin(x, [-1, 1]) if dt.name == "BIPOLAR" else (
            (x == np.round(x)) & (x >= dt.min()) & (x <= dt.max())
        )
        if not np.all(allowed):
            bad = np.argwhere(~allowed)[0]
            raise ModelError(
                f"input value {_plain_number(x[tuple(bad)])} at index {bad.tolist()} is not a "
                f"valid {dt.name} value for model input {name!r}"
            )
    return x.astype(np.float32)


def execute(model, x: np.ndarray, layer_kinds: LayerRegistry, hardware=None) -> np.ndarray:
    """Run ``model`` on a batch ``x`` (see :func:`batch_input`); returns a batch of outputs.

    ``hardware``, if given, runs the hardware layers (their whole dataflow graph)
    instead of their numpy models (rtlsim does this): it takes the batch of the
    accelerator's input stream and returns the batch of its output stream; the
    software nodes around it still run in numpy.
    """
    x = batch_input(model, x)
    if not has_hw_nodes(model, layer_kinds):
        return _execute_qonnx(model, x)
    return _execute_numpy(model, x, layer_kinds, hardware)


def _execute_qonnx(model, x: np.ndarray) -> np.ndarray:
    from qonnx.core.onnx_exec import execute_onnx

    in_name = model.graph.input[0].name
    out_name = model.graph.output[0].name
    batch_dim = model.get_tensor_shape(in_name)[0]
    if batch_dim == x.shape[0]:
        return np.asarray(execute_onnx(model, {in_name: x})[out_name])
    outputs = [execute_onnx(model, {in_name: x[i : i + 1]})[out_name] for i in range(len(x))]
    return np.concatenate(outputs, axis=0)


def _execute_numpy(model, x: np.ndarray, layer_kinds: LayerRegistry,
                   hardware=None) -> np.ndarray:
    """Node by node in numpy, in topological order; ``hardware(x) -> y`` replaces the
    hardware layers (from the accelerator's input stream to its output stream)."""
    from dfx.dataflow import DataflowGraph, topological_order

    context: dict[str, np.ndarray] = {model.graph.input[0].name: x}
    for init in model.graph.initializer:
        context[init.name] = model.get_initializer(init.name)
    accelerator = None
    inside: set[str] = set()  # Reshape / Flatten nodes the streams pass through
    if hardware is not None:
        graph = DataflowGraph(model, layer_kinds)
        accelerator = (graph.single_input().tensor, graph.single_output().tensor)
        inside = graph.passthrough
    for node in topological_order(list(model.graph.node)):
        if accelerator is not None and node.name in inside:
            continue  # part of the hardware (between two of its layers)
        if layer_kinds.is_hw(node):
            if accelerator is not None:
                in_tensor, out_tensor = accelerator
                if out_tensor not in context:  # the first hardware node: run them all
                    context[out_tensor] = np.asarray(hardware(context[in_tensor]))
                continue
            _execute_layer(layer_kinds.wrap(node, model), context)
            continue
        inputs = [context[t] if t else None for t in node.input]
        if node.op_type in _SOFTWARE_OPS:
            result = _SOFTWARE_OPS[node.op_type](node, *inputs)
        else:
            raise DfxError(
                f"node {node.name!r} ({node.op_type}) has no numpy execution; "
                f"the python backend runs hardware layers and float tails only"
            )
        context[node.output[0]] = np.asarray(result)
    return np.asarray(context[model.graph.output[0].name], dtype=np.float32)


def _execute_layer(layer, context: dict) -> None:
    """One hardware layer: its input streams in, its output streams into ``context``."""
    outputs = layer.stream_outputs()
    result = layer.execute(*[context[t] for t in layer.stream_inputs()])
    if len(outputs) == 1:
        context[outputs[0]] = np.asarray(result)
        return
    if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
        raise DfxError(f"layer {layer.name} ({layer.op_type}) has {len(outputs)} outputs; "
                       f"its execute() returned {type(result).__name__}, not a tuple of "
                       f"{len(outputs)} arrays")
    for tensor, value in zip(outputs, result):
        context[tensor] = np.asarray(value)


def compare(output: np.ndarray, expected: np.ndarray, atol: float = 0.0) -> dict:
    """Verdict for ``output`` against ``expected``.

    SUCCESS when every element differs by at most ``atol`` (FINN's
    ``verification_atol``) or by float32 rounding, whichever is larger.
    """
    output = np.asarray(output, np.float64)
    expected = np.asarray(expected, np.float64)
    if output.shape != expected.shape:
        if output.size == expected.size:
            output = output.reshape(expected.shape)
        else:
            return {"verdict": "FAIL", "why": f"shape {list(output.shape)} != expected "
                    f"{list(expected.shape)}"}
    diff = np.abs(output - expected)
    tolerance = max(float(atol), 1e-5 * max(1.0, float(np.abs(expected).max(initial=0.0))))
    exact = bool(np.array_equal(output, expected))
    ok = exact or bool(np.all(diff <= tolerance))
    return {
        "verdict": "SUCCESS" if ok else "FAIL",
        "exact": exact,
        "max_abs_diff": float(diff.max(initial=0.0)),
        "mismatches": int(np.count_nonzero(diff > tolerance)),
        "samples": int(expected.shape[0]) if expected.ndim else 1,
        "atol": float(atol),
    }
