"""Convert to hardware: the walk that asks the layer kinds, node by node.

The rules live in the layer kinds (:meth:`dfx.layers.HWLayer.match`): the MVAU
takes a ``MatMul`` with constant weights (fused with the ``MultiThreshold``
after it unless ``standalone_thresholds``), Thresholding a ``MultiThreshold``
alone. This module only walks the graph, asks ``dfx_convert_node`` for every
node not taken yet, checks what comes back, and checks the result: the hardware
nodes form one chain (software may only come before or after them, for now) and
every hardware node is a registered kind.

Everything no kind takes stays a software node (the float tail after the last
layer, a reshape before the first).
"""

from __future__ import annotations

from typing import Any

from onnx import helper

from dfx.errors import DfxError, PluginError, UnsupportedNodeError
from dfx.layers import HW_DOMAIN, Match


def node_attrs(node) -> dict[str, Any]:
    """A node's attributes as a dict (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def input_vectors(model, tensor: str) -> list[int]:
    """FINN's ``numInputVectors``: the dimensions between batch and channels."""
    shape = model.get_tensor_shape(tensor)
    return [int(d) for d in shape[1:-1]] or [1]


def match_with_kinds(node, model, cfg, layer_kinds) -> tuple[str, Match] | None:
    """The default ``dfx_convert_node``: the first registered kind whose ``match`` takes
    ``node``, later registrations first (so a plugin's kind wins over a built-in one)."""
    for kind in reversed(list(layer_kinds)):
        try:
            match = kind.match(node, model, cfg)
        except DfxError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {layer_kinds.owner(kind.op_type)!r}: layer kind {kind.op_type} "
                f"raised {type(exc).__name__} in match() on node {node.name!r} "
                f"({node.op_type}): {exc}") from exc
        if match is not None:
            return kind.op_type, match
    return None


def _who(ctx, plugin: str | None, kind_name: str | None) -> str:
    """The plugin behind a conversion result: the kind's owner for the default rule."""
    if kind_name and kind_name in ctx.layer_kinds and plugin in (None, "default"):
        return ctx.layer_kinds.owner(kind_name)
    return plugin or "?"


def _implementations(hook):
    """``dfx_convert_node``'s implementations in calling order: (plugin name, function)."""
    impls = [i for i in hook.dfx_convert_node.get_hookimpls()
             if not (getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False))]
    return [(impl.plugin_name, impl.function) for impl in reversed(impls)]


def _check_match(result, node, ctx, plugin: str,
                 taken: dict[str, str]) -> tuple[str, Match]:
    """``result`` of dfx_convert_node is (kind name, Match) taking ``node`` and free nodes."""
    kind_name = result[0] if isinstance(result, tuple) and len(result) == 2 else None
    match = result[1] if kind_name is not None else None

    def bad(why: str) -> PluginError:
        return PluginError(f"plugin {_who(ctx, plugin, kind_name)!r}: converting node "
                           f"{node.name!r} ({node.op_type}): {why}")

    if not isinstance(kind_name, str) or not isinstance(match, Match):
        raise bad(f"dfx_convert_node returned {result!r}, not (op_type, Match)")
    if not match.nodes or not match.consumes:
        raise bad("the Match has no new nodes or consumes no node")
    if match.consumes[0] is not node:
        raise bad("the Match does not consume the node it was asked about first")
    for other in match.consumes:
        if other.name in taken:
            raise PluginError(
                f"plugin {_who(ctx, plugin, kind_name)!r}: layer kind {kind_name} claims node "
                f"{other.name!r} ({other.op_type}), which layer kind {taken[other.name]} "
                f"already took")
    for new in match.nodes:
        if not hasattr(new, "op_type") or new.domain != HW_DOMAIN:
            raise bad(f"new node {getattr(new, 'name', new)!r} is not a node of domain "
                      f"{HW_DOMAIN!r}")
        if new.op_type not in ctx.layer_kinds:
            raise bad(f"new node of op_type {new.op_type!r} is not a registered layer kind "
                      f"(registered: {', '.join(ctx.layer_kinds.names())})")
    return kind_name, match


def convert_to_hw(model, cfg, ctx):
    """The default ``dfx_convert_to_hw``: every node offered to ``dfx_convert_node``.

    ``ctx.hook`` is the plugin manager's hook relay; without one (a bare ``ctx``
    with ``layer_kinds`` only) the registered kinds are asked directly.
    """
    graph = model.graph
    hook = getattr(ctx, "hook", None)
    # Called one by one (first result, as pluggy would) to name the plugin at fault.
    impls = (_implementations(hook) if hook is not None else
             [("default", lambda node, model, cfg, ctx:
               match_with_kinds(node, model, cfg, ctx.layer_kinds))])

    taken: dict[str, str] = {}  # node name -> the kind that took it
    replaced: dict[str, list] = {}  # name of the first consumed node -> its new nodes
    for node in graph.node:
        if node.name in taken:
            continue
        for plugin, function in impls:
            try:
                result = function(node=node, model=model, cfg=cfg, ctx=ctx)
            except DfxError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {plugin!r}: dfx_convert_node raised "
                                  f"{type(exc).__name__} on node {node.name!r} "
                                  f"({node.op_type}): {exc}") from exc
            if result is not None:
                break
        else:
            continue
        kind_name, match = _check_match(result, node, ctx, plugin, taken)
        for other in match.consumes:
            taken[other.name] = kind_name
        replaced[node.name] = match.nodes

    counters: dict[str, int] = {}
    new_nodes = []
    for node in graph.node:
        if node.name in replaced:
            for hw in replaced[node.name]:
                # dfx names hardware nodes <op_type>_<n> in graph order, as FINN does
                n = counters.get(hw.op_type, 0)
                counters[hw.op_type] = n + 1
                hw.name = f"{hw.op_type}_{n}"
                new_nodes.append(hw)
        elif node.name not in taken:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    for node in graph.node:
        if ctx.layer_kinds.is_hw(node):
            ctx.layer_kinds.wrap(node, model).converted()
    _check_one_chain(model, ctx)
    for kind_node in graph.node:
        if ctx.layer_kinds.is_hw(kind_node):
            layer = ctx.layer_kinds.wrap(kind_node, model)
            problem = layer.check_folding(layer.folding())
            if problem:
                raise UnsupportedNodeError(kind_node.name, kind_node.op_type, problem)
    return model


#: Software ops that may sit between hardware layers: they change a tensor's shape, not
#: the order of its elements, so the stream passes through them unchanged (the flatten
#: between a conv part and its fully connected layers).
STREAM_TRANSPARENT_OPS = ("Reshape", "Flatten")


def _check_one_chain(model, ctx) -> None:
    """Hardware nodes must be contiguous: software may only come before or after them
    (or be a reshape, which the stream passes through)."""
    kinds = ["hw" if ctx.layer_kinds.is_hw(n) else
             "reshape" if n.op_type in STREAM_TRANSPARENT_OPS else "sw"
             for n in model.graph.node]
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
