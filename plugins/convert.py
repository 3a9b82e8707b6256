"""Convert to hardware: the walk that asks the layer kinds, node by node.

The rules live in the layer kinds (:meth:`dfx.layers.HWLayer.match`): the MVAU
takes a ``MatMul`` with constant weights (fused with the ``MultiThreshold``
after it unless ``standalone_thresholds``), Thresholding a ``MultiThreshold``
alone. This module only walks the graph, asks ``dfx_convert_node`` for every
node not taken yet, checks what comes back, and checks the result: the hardware
nodes form one dataflow graph (:mod:`dfx.dataflow`; software may only come
before or after it) with one input and one output stream, and every hardware
node is a registered kind.

Forks are made explicit first: a tensor that feeds several nodes gets a
``StreamFork`` node (:data:`dfx.layers.STREAM_FORK`) with one output per
consumer, offered to the kinds like any other node, because a hardware stream
has exactly one consumer. A kind that duplicates streams takes it; a fork no
kind takes is removed again where only software reads it, and is an error
where hardware layers read it.

Everything no kind takes stays a software node (the float tail after the last
layer, a reshape before the first). A ``Reshape`` or ``Flatten`` between two
hardware layers (:data:`STREAM_TRANSPARENT_OPS`) is allowed: the stream passes
through it, and it belongs to the accelerator.
"""

from __future__ import annotations

from typing import Any

from onnx import helper

# STREAM_TRANSPARENT_OPS: the reshapes a stream passes through between hardware layers
from dfx.dataflow import STREAM_TRANSPARENT_OPS as STREAM_TRANSPARENT_OPS
from dfx.errors import DfxError, PluginError, UnsupportedNodeError
from dfx.layers import GRAPH_DOMAIN, HW_DOMAIN, STREAM_FORK, Match


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
    forks = insert_stream_forks(model)
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
    _remove_untaken_forks(model, ctx, forks)
    for node in graph.node:
        if ctx.layer_kinds.is_hw(node):
            ctx.layer_kinds.wrap(node, model).converted()
    _check_one_partition(model, ctx)
    for kind_node in graph.node:
        if ctx.layer_kinds.is_hw(kind_node):
            layer = ctx.layer_kinds.wrap(kind_node, model)
            problem = layer.check_folding(layer.folding())
            if problem:
                raise UnsupportedNodeError(kind_node.name, kind_node.op_type, problem)
    return model


def is_stream_fork(node) -> bool:
    return node.op_type == STREAM_FORK and node.domain == GRAPH_DOMAIN


def insert_stream_forks(model) -> list[str]:
    """A ``StreamFork`` node on every non-constant tensor read by more than one node:
    one output ``<tensor>_fork<i>`` per consumer (same shape and datatype), placed
    right after the tensor's producer so the graph stays sorted. Returns their names."""
    graph = model.graph
    readers: dict[str, list] = {}
    for node in graph.node:
        for tensor in dict.fromkeys(t for t in node.input if t):
            if model.get_initializer(tensor) is None:
                readers.setdefault(tensor, []).append(node)
    forked = {t: nodes for t, nodes in readers.items() if len(nodes) > 1}
    if not forked:
        return []
    names = []
    placed: dict[int, list] = {}  # position of the producer (-1: graph input) -> forks
    position = {t: i for i, node in enumerate(graph.node) for t in node.output}
    for tensor, nodes in forked.items():
        outs = [f"{tensor}_fork{i}" for i in range(len(nodes))]
        shape, datatype = model.get_tensor_shape(tensor), model.get_tensor_datatype(tensor)
        for out, reader in zip(outs, nodes):
            for k, t in enumerate(reader.input):
                if t == tensor:
                    reader.input[k] = out
            if shape is not None:
                model.set_tensor_shape(out, list(shape))
            model.set_tensor_datatype(out, datatype)
        fork = helper.make_node(STREAM_FORK, [tensor], outs, name=f"{STREAM_FORK}_{tensor}",
                                domain=GRAPH_DOMAIN)
        placed.setdefault(position.get(tensor, -1), []).append(fork)
        names.append(fork.name)
    nodes = list(placed.get(-1, []))
    for i, node in enumerate(graph.node):
        nodes.append(node)
        nodes.extend(placed.get(i, []))
    del graph.node[:]
    graph.node.extend(nodes)
    return names


def _remove_untaken_forks(model, ctx, forks: list[str]) -> None:
    """Forks no kind took: where only software reads them, undo them; where a hardware
    layer reads one, no stream can reach it (an error naming the fork and its readers)."""
    graph = model.graph
    left = [n for n in graph.node if is_stream_fork(n) and n.name in forks]
    for fork in left:
        readers = [n for n in graph.node for t in n.input if t in fork.output]
        hw = [n.name for n in readers if ctx.layer_kinds.is_hw(n)]
        if hw:
            raise UnsupportedNodeError(
                fork.name, STREAM_FORK,
                f"tensor {fork.input[0]!r} feeds {len(fork.output)} nodes "
                f"({', '.join(n.name for n in readers)}), hardware layer(s) {', '.join(hw)} "
                f"among them; a stream has one consumer, and no registered layer kind "
                f"duplicates streams (takes a {STREAM_FORK} node; registered kinds: "
                f"{', '.join(ctx.layer_kinds.names())})")
        for reader in readers:
            for k, t in enumerate(reader.input):
                if t in fork.output:
                    reader.input[k] = fork.input[0]
        graph.node.remove(fork)


def _check_one_partition(model, ctx) -> None:
    """Hardware nodes must form one partition with one input and one output stream:
    software may only come before or after them, never on a path between two (except a
    reshape, :data:`STREAM_TRANSPARENT_OPS`, which the stream passes through)."""
    from dfx.dataflow import DataflowGraph, passthrough_node_names

    nodes = list(model.graph.node)
    is_hw = [ctx.layer_kinds.is_hw(n) for n in nodes]
    passthrough = passthrough_node_names(model, ctx.layer_kinds.is_hw)
    if not any(is_hw):
        raise UnsupportedNodeError(
            nodes[0].name if nodes else "?", "graph",
            "no node could be converted to a hardware layer",
        )
    producer = {t: i for i, n in enumerate(nodes) for t in n.output}
    # after_hw[i]: node i reads (transitively) from a hardware node
    after_hw = [False] * len(nodes)
    for i, node in enumerate(nodes):  # graph order is topological
        after_hw[i] = any(is_hw[producer[t]] or after_hw[producer[t]]
                          for t in node.input if t in producer)
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for t in node.input:
            if t in producer:
                consumers.setdefault(producer[t], []).append(i)
    before_hw = [False] * len(nodes)
    for i in reversed(range(len(nodes))):
        before_hw[i] = any(is_hw[c] or before_hw[c] for c in consumers.get(i, []))
    for i, node in enumerate(nodes):
        if not is_hw[i] and after_hw[i] and before_hw[i] and node.name not in passthrough:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "it sits between hardware layers and has no hardware layer kind "
                f"(registered kinds: {', '.join(ctx.layer_kinds.names())})",
            )
    graph = DataflowGraph(model, ctx.layer_kinds)
    for edges, what in ((graph.inputs, "input"), (graph.outputs, "output")):
        if len(edges) > 1:
            tensors = ", ".join(f"{e.tensor!r}" for e in edges)
            first = edges[1].consumer or edges[1].producer
            raise UnsupportedNodeError(
                first, graph.by_name[first].op_type,
                f"the hardware layers would have {len(edges)} {what} streams ({tensors}); "
                f"dfx builds accelerators with one input and one output stream")
