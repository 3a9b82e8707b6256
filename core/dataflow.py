"""The dataflow graph of a model's hardware layers: layers as vertices, streams as edges.

Every hardware layer streams in the tensors of :meth:`dfx.layers.HWLayer.stream_inputs`
(one input port each) and streams out its node outputs (one output port each). An
:class:`Edge` is one stream from a producer's output port to a consumer's input
port; ``producer`` ``None`` is the accelerator's input, ``consumer`` ``None`` its
output. A stream has exactly one consumer: a tensor that feeds several layers needs
a layer that duplicates it (conversion makes such forks explicit, see
:data:`dfx.layers.STREAM_FORK`).

Everything that used to walk "the chain" walks this graph: execution (in
:func:`topological_order`), code generation and stitching (one FIFO per edge), FIFO
sizing (one depth per edge) and the estimates (latency is the longest path,
:meth:`DataflowGraph.critical_path`). A chain is the special case where every layer
has one input and one output.

A ``Reshape`` or ``Flatten`` between two hardware layers (:data:`STREAM_TRANSPARENT_OPS`,
the flatten between a convnet's conv part and its fully connected layers) changes a
tensor's shape, not the order of its elements, so the stream passes through it: the
edge goes from the layer before it to the layer after it, and the node belongs to the
accelerator (:attr:`DataflowGraph.passthrough`, see :func:`passthrough_nodes`).

FIFO names follow the edges: ``fifo_<i>`` before input port 0 of the i-th layer in
topological order (``fifo_<i>_<p>`` before port p), ``fifo_<n>`` after the
accelerator's output (``fifo_<n>_<j>`` for output j > 0), with n the number of
layers. For a chain these are the names dfx has always used. A FIFO's depth is
stored on its consumer as FINN's ``inFIFODepths[p]``, or, at the accelerator's
output, on its producer as ``outFIFODepths[port]``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dfx.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from dfx.layers import HWLayer, LayerRegistry

#: The depth of a FIFO whose layer attribute does not give one (FINN's default).
DEFAULT_FIFO_DEPTH = 2

#: Software ops that may sit between hardware layers: they change a tensor's shape, not
#: the order of its elements, so a stream passes through them unchanged.
STREAM_TRANSPARENT_OPS = ("Reshape", "Flatten")


def _transparent_source(model, node) -> str | None:
    """The one streamed (non-constant) input of a stream-transparent ``node``, or None
    if it is not such a node."""
    if node.op_type not in STREAM_TRANSPARENT_OPS or not node.input or len(node.output) != 1:
        return None
    data = [t for t in node.input if t and model.get_initializer(t) is None]
    return data[0] if data == [node.input[0]] else None


def passthrough_nodes(model, is_hw: Callable) -> dict[str, str]:
    """The stream-transparent nodes a stream passes through between two hardware layers
    (``is_hw(node)`` says which nodes are hardware): tensor read by a hardware layer ->
    the hardware layer's output it is a reshape of, for every tensor that is one. A node
    on such a path belongs to the accelerator; the same op before the first or after the
    last hardware layer stays software."""
    nodes = list(model.graph.node)
    hw_outputs = {t for n in nodes if is_hw(n) for t in n.output if t}
    graph_outputs = {o.name for o in model.graph.output}
    readers: dict[str, int] = {}
    for node in nodes:
        for t in dict.fromkeys(t for t in node.input if t):
            readers[t] = readers.get(t, 0) + 1
    # reshape output -> its source, where the reshape is the only reader of its source
    # and its output leaves to no one but nodes (a fork sits on a tensor read twice)
    source = {}
    for node in nodes:
        src = _transparent_source(model, node)
        if src is not None and readers.get(src) == 1 and node.output[0] not in graph_outputs:
            source[node.output[0]] = src
    resolved = {}
    for node in nodes:
        if not is_hw(node):
            continue
        for tensor in node.input:
            t, seen = tensor, set()
            while t in source and t not in hw_outputs and t not in seen:
                seen.add(t)
                t = source[t]
            if t != tensor and t in hw_outputs:
                resolved[tensor] = t
    return resolved


def passthrough_node_names(model, is_hw: Callable) -> set[str]:
    """The names of the nodes :func:`passthrough_nodes` puts inside the accelerator."""
    resolved = passthrough_nodes(model, is_hw)
    producer = {n.output[0]: n for n in model.graph.node if n.output}
    names = set()
    for tensor, source in resolved.items():
        while tensor != source:
            node = producer[tensor]
            names.add(node.name)
            tensor = _transparent_source(model, node)
    return names


@dataclass(frozen=True)
class Edge:
    """One stream: ``producer`` output port ``producer_port`` -> ``consumer`` input
    port ``consumer_port`` (port indices; ``None`` for the accelerator's side)."""

    name: str  # s_in, s_<i>, s_<i>_<p>, s_out, ...
    fifo: str  # the name of the FIFO stitching puts on this stream
    tensor: str
    producer: str | None
    producer_port: int | None
    consumer: str | None
    consumer_port: int | None


def topological_order(nodes: list) -> list:
    """``nodes`` (ONNX NodeProtos) in an order where every node comes after the
    producers of its inputs; graph order where it already is one (Kahn's algorithm,
    ties broken by position). A cycle is a :class:`ModelError` naming a node on it."""
    producer = {}
    for index, node in enumerate(nodes):
        for tensor in node.output:
            if tensor:
                producer[tensor] = index
    preds = [sorted({producer[t] for t in node.input if t in producer and producer[t] != i})
             for i, node in enumerate(nodes)]
    succs: list[list[int]] = [[] for _ in nodes]
    for i, before in enumerate(preds):
        for p in before:
            succs[p].append(i)
    waiting = [len(before) for before in preds]

    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for s in succs[i]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, s)
    if len(order) != len(nodes):
        stuck = next(nodes[i] for i, n in enumerate(waiting) if n > 0)
        raise ModelError(f"the graph has a cycle through node {stuck.name!r} "
                         f"({stuck.op_type}): a dataflow graph must be acyclic")
    return [nodes[i] for i in order]


class DataflowGraph:
    """The hardware layers of a model and the streams between them.

    ``layers`` are in topological order (graph order for a sorted ONNX graph);
    ``edges`` in the order stitching builds them: for each layer its input edges by
    port, then the accelerator's outputs.
    """

    def __init__(self, model, layer_kinds: LayerRegistry):
        hw_nodes = [n for n in model.graph.node if layer_kinds.is_hw(n)]
        self.model = model
        #: tensor a layer streams in -> the layer output it is a reshape of (a stream
        #: passing through Reshape / Flatten nodes between two layers)
        self.through = passthrough_nodes(model, layer_kinds.is_hw)
        #: the names of those Reshape / Flatten nodes: part of the accelerator
        self.passthrough = passthrough_node_names(model, layer_kinds.is_hw)
        self.layers: list[HWLayer] = [layer_kinds.wrap(n, model)
                                      for n in topological_order(hw_nodes)]
        self.by_name = {layer.name: layer for layer in self.layers}
        self.index = {layer.name: i for i, layer in enumerate(self.layers)}
        self._build()

    # -- construction ----------------------------------------------------------
    def _build(self) -> None:
        produced: dict[str, tuple[str, int]] = {}  # tensor -> (layer, output port)
        for layer in self.layers:
            for port, tensor in enumerate(layer.stream_outputs()):
                produced[tensor] = (layer.name, port)
        consumers: dict[str, list[tuple[str, int]]] = {}
        for layer in self.layers:
            for port, tensor in enumerate(layer.stream_inputs()):
                consumers.setdefault(self.through.get(tensor, tensor), []).append(
                    (layer.name, port))
        for tensor, takers in consumers.items():
            if len(takers) > 1:
                names = ", ".join(name for name, _ in takers)
                raise ModelError(
                    f"tensor {tensor!r} is streamed into several hardware layers ({names}); "
                    f"a stream has one consumer: a layer kind that duplicates streams must "
                    f"take the StreamFork node conversion puts there")
        graph_outputs = {o.name for o in self.model.graph.output}
        software_inputs = {t for n in self.model.graph.node if n.name not in self.by_name
                           and n.name not in self.passthrough for t in n.input}
        edges_in: list[Edge] = []
        self.inputs: list[Edge] = []
        n_in = sum(1 for layer in self.layers for t in layer.stream_inputs()
                   if self.through.get(t, t) not in produced)
        for layer in self.layers:
            i = self.index[layer.name]
            for port, tensor in enumerate(layer.stream_inputs()):
                tensor = self.through.get(tensor, tensor)  # the stream as produced
                source = produced.get(tensor)
                suffix = "" if port == 0 else f"_{port}"
                if source is None:
                    j = len(self.inputs)
                    name = "s_in" if n_in == 1 else f"s_in{j}"
                    edge = Edge(name, f"fifo_{i}{suffix}", tensor, None, None, layer.name,
                                port)
                    self.inputs.append(edge)
                else:
                    edge = Edge(f"s_{i}{suffix}", f"fifo_{i}{suffix}", tensor, source[0],
                                source[1], layer.name, port)
                edges_in.append(edge)
        n = len(self.layers)
        self.outputs: list[Edge] = []
        leaving = []
        for layer in self.layers:
            for port, tensor in enumerate(layer.stream_outputs()):
                taken = tensor in consumers
                leaves = tensor in graph_outputs or tensor in software_inputs
                if taken and leaves:
                    raise ModelError(
                        f"tensor {tensor!r} of layer {layer.name} feeds hardware layer "
                        f"{consumers[tensor][0][0]} and also leaves the accelerator; a "
                        f"stream has one consumer (a layer that duplicates streams must "
                        f"fork it)")
                if not taken:
                    if not leaves:
                        raise ModelError(f"output {tensor!r} of layer {layer.name} is used "
                                         f"by nothing")
                    leaving.append((layer, port, tensor))
        for j, (layer, port, tensor) in enumerate(leaving):
            self.outputs.append(Edge("s_out" if len(leaving) == 1 else f"s_out{j}",
                                     f"fifo_{n}" if j == 0 else f"fifo_{n}_{j}", tensor,
                                     layer.name, port, None, None))
        self.edges: list[Edge] = edges_in + self.outputs

    # -- queries ---------------------------------------------------------------
    def inputs_of(self, name: str) -> list[Edge]:
        """The edges into layer ``name``, by input port."""
        return sorted((e for e in self.edges if e.consumer == name),
                      key=lambda e: e.consumer_port)

    def outputs_of(self, name: str) -> list[Edge]:
        """The edges out of layer ``name``, by output port."""
        return sorted((e for e in self.edges if e.producer == name),
                      key=lambda e: e.producer_port)

    def predecessors(self, name: str) -> list[str]:
        return [e.producer for e in self.inputs_of(name) if e.producer is not None]

    def single_input(self) -> Edge:
        """The accelerator's one input stream (an error naming the streams otherwise)."""
        return self._single(self.inputs, "input")

    def single_output(self) -> Edge:
        """The accelerator's one output stream (an error naming the streams otherwise)."""
        return self._single(self.outputs, "output")

    @staticmethod
    def _single(edges: list[Edge], what: str) -> Edge:
        if len(edges) != 1:
            streams = ", ".join(f"{e.tensor!r} ({e.consumer or e.producer})" for e in edges)
            raise ModelError(
                f"the hardware layers have {len(edges)} {what} streams ({streams or 'none'}); "
                f"dfx builds accelerators with one input and one output stream")
        return edges[0]

    def critical_path(self, cycles: dict[str, int] | None = None) -> tuple[int, list[str]]:
        """The longest path through the graph, weighted by each layer's cycles per frame
        (FINN's ``critical_path_cycles``), and the layers on it, input to output.

        A frame's last word leaves a layer about its cycles after the last of its inputs
        arrived, so the latency at a layer's output is its cycles plus the largest
        latency at its inputs. For a chain that is the sum over all layers.
        """
        if cycles is None:
            cycles = {layer.name: int(layer.cycles()) for layer in self.layers}
        at_output: dict[str, int] = {}
        via: dict[str, str | None] = {}
        for layer in self.layers:
            before = self.predecessors(layer.name)
            best = max(before, key=lambda p: at_output[p], default=None)
            at_output[layer.name] = cycles[layer.name] + (at_output[best] if best else 0)
            via[layer.name] = best
        if not at_output:
            return 0, []
        end = max(at_output, key=lambda name: (at_output[name], -self.index[name]))
        path = [end]
        while via[path[-1]] is not None:
            path.append(via[path[-1]])
        return at_output[end], path[::-1]

    # -- FIFO depths on the layers ----------------------------------------------
    def fifo_depths(self) -> dict[str, int]:
        """FIFO name -> depth, from the layers' inFIFODepths / outFIFODepths."""
        depths = {}
        for edge in self.edges:
            if edge.consumer is not None:
                values = _depth_list(self.by_name[edge.consumer], "inFIFODepths")
                index = edge.consumer_port
            else:
                values = _depth_list(self.by_name[edge.producer], "outFIFODepths")
                index = edge.producer_port
            depths[edge.fifo] = int(values[index]) if index < len(values) else \
                DEFAULT_FIFO_DEPTH
        return depths

    def set_fifo_depths(self, depths: dict[str, int]) -> None:
        """Store ``depths`` (FIFO name -> depth) on the layers; FIFOs not named keep theirs."""
        for edge in self.edges:
            if edge.fifo not in depths:
                continue
            if edge.consumer is not None:
                layer, key, index = self.by_name[edge.consumer], "inFIFODepths", \
                    edge.consumer_port
                ports = len(layer.stream_inputs())
            else:
                layer, key, index = self.by_name[edge.producer], "outFIFODepths", \
                    edge.producer_port
                ports = len(layer.stream_outputs())
            values = _depth_list(layer, key)
            values = values + [DEFAULT_FIFO_DEPTH] * (ports - len(values))
            values[index] = int(depths[edge.fifo])
            layer.set(key, values)

    def fifos_set_by(self, name: str, key: str) -> list[str]:
        """The FIFOs whose depth attribute ``key`` (inFIFODepths / outFIFODepths) of
        layer ``name`` holds."""
        if key == "inFIFODepths":
            return [e.fifo for e in self.inputs_of(name)]
        return [e.fifo for e in self.outputs_of(name) if e.consumer is None]


def _depth_list(layer, key: str) -> list[int]:
    try:
        return [int(v) for v in layer.get(key)]
    except KeyError:  # a kind without FIFO depth attributes
        return []
