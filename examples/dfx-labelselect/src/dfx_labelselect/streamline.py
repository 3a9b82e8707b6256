"""Streamlining rules for ``ArgMax`` and ``TopK``: take the selection on the integers.

dfx's streamliner tracks every tensor as a map of an integer tensor of the new graph
(see :mod:`dfx.plugins.streamline`): ``IntValue`` (``scale * q + offset``) after a
quantizer, ``AccValue`` (a float tail ``f(acc)``) after the last MatMul. A classifier's
logits are usually the latter: the integer accumulator times a positive scale.

The index of the largest logit is the index of the largest integer when the map from
integers to logits is the same for every class and strictly increasing: then it keeps
the order of any two classes, and their ties. So the rule re-creates the node on the
integer tensor and drops the float tail, which the indices no longer need. The map
must also be coarse enough for float32 (the reference runs in float32): two integers
one apart must give logits further apart than float32 rounding can close, or the
reference would see a tie the integers do not have.

Anything else (a per-class bias or scale, a Relu or Clip in the tail, which merge
logits into ties) is refused with the reason; without this plugin dfx has no rule for
these ops at all.
"""

from __future__ import annotations

import numpy as np

#: Two integers one apart must map at least this many float32 ulps of the largest
#: logit apart (a margin for the few float operations of the reference's tail).
MIN_ULPS_APART = 4.0


def _uniform(array, what: str, node) -> float:
    from dfx.errors import UnsupportedNodeError

    flat = np.asarray(array, np.float64).reshape(-1)
    if flat.size and np.any(flat != flat[0]):
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"the logits have a {what} that differs between classes, so their order is "
            f"not the order of the integer accumulators")
    return float(flat[0]) if flat.size else 0.0


def integer_source(streamliner, node) -> str:
    """The integer tensor whose order along the last axis is that of ``node.input[0]``;
    raises UnsupportedNodeError saying why when there is none.
    """
    from dfx.errors import UnsupportedNodeError
    from dfx.plugins.streamline import AccValue, IntValue

    value = streamliner.values.get(node.input[0])
    if isinstance(value, IntValue):
        slope = _uniform(value.scale, "scale", node)
        offset = _uniform(value.offset, "offset", node)
        name, lo, hi = value.name, int(value.datatype.min()), int(value.datatype.max())
    elif isinstance(value, AccValue):
        slope, offset = 1.0, 0.0
        for op in value.tail:
            if op.kind != "affine":
                raise UnsupportedNodeError(
                    node.name, node.op_type,
                    f"a {op.kind} before it merges logits into ties the integer accumulators "
                    f"do not have")
            a, b = _uniform(op.a, "scale", node), _uniform(op.b, "bias", node)
            slope, offset = slope * a, offset * a + b
        name, lo, hi = value.name, int(np.min(value.lo)), int(np.max(value.hi))
    else:
        raise UnsupportedNodeError(node.name, node.op_type,
                                   "its input is not computed from quantized integers")
    if slope <= 0:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"the logits are the integers times {slope:g}; only a positive scale keeps "
            f"their order")
    largest = max(abs(slope * lo + offset), abs(slope * hi + offset), np.finfo(np.float32).tiny)
    ulp = float(np.spacing(np.float32(largest)))
    if slope < MIN_ULPS_APART * ulp:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"integers one apart give logits {slope:g} apart, below float32's resolution "
            f"at {largest:g}: the float reference could see ties the integers do not have")
    return name


def _selection_or_refuse(streamliner, node):
    from dfx.errors import UnsupportedNodeError
    from dfx_labelselect.layer import selection, unsupported_selection

    sel = selection(node, streamliner.src)
    labels = int(streamliner.src.get_tensor_shape(node.input[0])[-1])
    why = unsupported_selection(sel, labels)
    if not why and sel["indices"] not in [o.name for o in streamliner.src.graph.output]:
        why = "LabelSelect ends a model: its indices must be the model's output"
    if why:
        raise UnsupportedNodeError(node.name, node.op_type, why)
    return sel


def _set_indices(streamliner, indices: str, labels: int) -> None:
    """Record the indices output: integers of the smallest unsigned type, scale 1."""
    from dfx.plugins.streamline import IntValue
    from dfx_labelselect.layer import index_datatype

    datatype = index_datatype(labels)
    streamliner.datatypes[indices] = datatype.name
    # The indices keep the output's own name and value info (int64); their shape is
    # the model's, so no float value info is added for them here.
    streamliner.values[indices] = IntValue(indices, datatype, np.ones(1), np.zeros(1))


def argmax(streamliner, node) -> None:
    """``ArgMax`` along the last axis: the same node on the integer tensor."""
    from onnx import helper

    _selection_or_refuse(streamliner, node)
    source = integer_source(streamliner, node)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    streamliner.nodes.append(helper.make_node(
        "ArgMax", [source], [node.output[0]], name=streamliner._fresh("ArgMax"), **attrs))
    _set_indices(streamliner, node.output[0],
                 int(streamliner.src.get_tensor_shape(node.input[0])[-1]))


def topk(streamliner, node) -> None:
    """``TopK`` (largest, sorted, values unused): the same node on the integer tensor."""
    from onnx import helper

    sel = _selection_or_refuse(streamliner, node)
    source = integer_source(streamliner, node)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    k = streamliner._add_init("topk_k", np.array([sel["k"]]), dtype=np.int64)
    values = streamliner._fresh("topk_values")  # unused: LabelSelect gives no values
    streamliner.shapes[values] = list(streamliner.src.get_tensor_shape(node.output[0]))
    streamliner.nodes.append(helper.make_node(
        "TopK", [source, k], [values, node.output[1]], name=streamliner._fresh("TopK"),
        **attrs))
    _set_indices(streamliner, node.output[1],
                 int(streamliner.src.get_tensor_shape(node.input[0])[-1]))


#: The rules this plugin adds to the streamliner (``dfx_streamline_op_handlers``).
HANDLERS = {"ArgMax": argmax, "TopK": topk}
