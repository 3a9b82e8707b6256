"""Convert to hardware: streamlined MatMul / MultiThreshold nodes -> MVAU / Thresholding.

* ``MatMul`` followed by its only consumer ``MultiThreshold`` becomes one MVAU
  with thresholds (or an MVAU and a Thresholding with ``standalone_thresholds``);
* a ``MatMul`` alone becomes an MVAU without activation;
* a ``MultiThreshold`` alone becomes a Thresholding layer.

Everything else stays a software node (the float tail after the last layer,
a reshape before the first); the hardware nodes must form one chain.
"""

from __future__ import annotations

from onnx import helper

from dfx.errors import UnsupportedNodeError
from dfx.layers import HW_DOMAIN


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def convert_to_hw(model, cfg, ctx):
    graph = model.graph
    new_nodes = []
    counters: dict[str, int] = {}
    consumed: set[str] = set()

    def name_for(op_type: str) -> str:
        n = counters.get(op_type, 0)
        counters[op_type] = n + 1
        return f"{op_type}_{n}"

    def vectors(tensor: str) -> list[int]:
        shape = model.get_tensor_shape(tensor)
        return [int(d) for d in shape[1:-1]] or [1]

    for node in graph.node:
        if node.name in consumed:
            continue
        if node.op_type == "MatMul" and model.get_initializer(node.input[1]) is not None:
            w = model.get_initializer(node.input[1])
            idt = model.get_tensor_datatype(node.input[0])
            if not idt.is_integer():
                raise UnsupportedNodeError(node.name, node.op_type,
                                           f"its input is {idt.name}, not an integer type")
            consumers = model.find_consumers(node.output[0]) or []
            mt = consumers[0] if len(consumers) == 1 else None
            fuse = (mt is not None and mt.op_type == "MultiThreshold"
                    and not cfg.standalone_thresholds)
            inputs = [node.input[0], node.input[1]]
            attrs = dict(MW=int(w.shape[0]), MH=int(w.shape[1]),
                         numInputVectors=vectors(node.input[0]))
            if fuse:
                mt_attrs = _attrs(mt)
                inputs.append(mt.input[1])
                output = mt.output[0]
                attrs.update(noActivation=0, out_scale=float(mt_attrs.get("out_scale", 1.0)),
                             out_bias=float(mt_attrs.get("out_bias", 0.0)))
                consumed.add(mt.name)
            else:
                output = node.output[0]
                attrs.update(noActivation=1)
            wdt = model.get_tensor_datatype(node.input[1])
            if wdt.name == "BIPOLAR" and idt.name == "BIPOLAR":
                attrs["binaryXnorMode"] = 1
            new_nodes.append(helper.make_node("MVAU", inputs, [output], name=name_for("MVAU"),
                                              domain=HW_DOMAIN, **attrs))
        elif node.op_type == "MultiThreshold":
            mt_attrs = _attrs(node)
            t = model.get_initializer(node.input[1])
            new_nodes.append(helper.make_node(
                "Thresholding", list(node.input[:2]), [node.output[0]],
                name=name_for("Thresholding"), domain=HW_DOMAIN,
                NumChannels=int(t.shape[0]), numInputVectors=vectors(node.input[0]),
                out_scale=float(mt_attrs.get("out_scale", 1.0)),
                out_bias=float(mt_attrs.get("out_bias", 0.0)),
            ))
        else:
            new_nodes.append(node)

    del graph.node[:]
    graph.node.extend(new_nodes)
    _annotate_accumulator_outputs(model, ctx)
    _check_one_chain(model, ctx)
    for kind_node in graph.node:
        if ctx.layer_kinds.is_hw(kind_node):
            layer = ctx.layer_kinds.wrap(kind_node, model)
            problem = layer.check_folding(layer.folding())
            if problem:
                raise UnsupportedNodeError(kind_node.name, kind_node.op_type, problem)
    return model


def _annotate_accumulator_outputs(model, ctx) -> None:
    """An MVAU without activation streams its signed accumulator: say so in its datatype."""
    from qonnx.core.datatype import DataType

    for node in model.graph.node:
        if node.op_type == "MVAU" and ctx.layer_kinds.is_hw(node):
            layer = ctx.layer_kinds.wrap(node, model)
            if layer.get("noActivation"):
                bits = max(2, layer.acc_dt_from_range().bitwidth())
                model.set_tensor_datatype(node.output[0], DataType[f"INT{bits}"])


def _check_one_chain(model, ctx) -> None:
    """Hardware nodes must be contiguous: software may only come before or after them."""
    kinds = ["hw" if ctx.layer_kinds.is_hw(n) else "sw" for n in model.graph.node]
    if "hw" not in kinds:
        raise UnsupportedNodeError(
            model.graph.node[0].name if model.graph.node else "?", "graph",
            "no node could be converted to a hardware layer",
        )
    first, last = kinds.index("hw"), len(kinds) - 1 - kinds[::-1].index("hw")
    for node, kind in zip(model.graph.node[first:last + 1], kinds[first:last + 1]):
        if kind == "sw":
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "it sits between hardware layers and has no hardware layer kind "
                f"(registered kinds: {', '.join(ctx.layer_kinds.names())})",
            )
