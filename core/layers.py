"""Hardware layer kinds: the base class plugin authors subclass, and their registry.

A hardware layer is an ONNX node whose ``op_type`` names a registered
:class:`HWLayer` subclass. The node keeps its parameters as node attributes
(folding, datatypes, dimensions) and initializer inputs (weights, thresholds);
the :class:`HWLayer` object is a view on the node that knows the layer's rules:

* shape rule:       :meth:`HWLayer.input_shape` / :meth:`HWLayer.output_shape`
* execution:        :meth:`HWLayer.execute`, exact integer numpy semantics
* folding options:  :meth:`HWLayer.folding_options`, every valid parallelism
* estimates:        :meth:`HWLayer.cycles`, :meth:`HWLayer.resources`,
                    :meth:`HWLayer.op_and_param_counts`
* conversion:       :meth:`HWLayer.match`, the rule that turns streamlined nodes
                    into this kind (asked node by node by ``dfx_convert_node``)
* code generation:  :meth:`HWLayer.generate_rtl` and the library files the kind
                    owns, :meth:`HWLayer.rtl_sources`; HLS C++ by
                    :meth:`HWLayer.generate_hls` and :meth:`HWLayer.hls_sources`
* streams:          :meth:`HWLayer.stream_inputs` (the tensors streamed in, one
                    input port each), :meth:`HWLayer.input_streams` /
                    :meth:`HWLayer.output_streams` (how each port packs its
                    stream) and the port names; a layer may have several inputs
                    and outputs, so the layers form a dataflow graph
                    (:mod:`dfx.dataflow`), not only a chain

Register a kind through the ``dfx_register_layer_kinds`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dfx.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from onnx import NodeProto
    from qonnx.core.modelwrapper import ModelWrapper

#: The ONNX domain dfx gives its hardware nodes.
HW_DOMAIN = "dfx.hw"

#: The domain of the graph nodes conversion adds itself (see :data:`STREAM_FORK`).
GRAPH_DOMAIN = "dfx.graph"

#: A node ``StreamFork`` (domain :data:`GRAPH_DOMAIN`) makes a fork explicit: conversion
#: puts one on every tensor that feeds more than one node (one output per consumer),
#: since a stream has exactly one consumer. A layer kind that duplicates streams
#: matches it; one that nobody takes before software consumers is removed again.
STREAM_FORK = "StreamFork"

#: Resource keys every estimate provides (FINN's names).
RESOURCE_KEYS = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")


@dataclass(frozen=True)
class StreamSpec:
    """One AXI-Stream of a layer: ``elems`` elements of ``datatype`` per word.

    See :mod:`dfx.packing` for how elements are packed into a word.
    """

    elems: int
    datatype: Any  # qonnx DataType
    words_per_frame: int

    @property
    def width(self) -> int:
        return self.elems * self.datatype.bitwidth()

    @property
    def elems_per_frame(self) -> int:
        return self.elems * self.words_per_frame


@dataclass
class RTLModule:
    """What a layer's code generation produced: a module with FINN's stream ports.

    ``module`` has ports ``ap_clk, ap_rst_n``, and per stream port
    ``<port>_TDATA/TVALID/TREADY``: ``in0_V`` (``in1_V``, ... for more inputs) and
    ``out_V`` (``out0_V``, ``out1_V``, ... for more than one output), as
    :meth:`HWLayer.input_ports` and :meth:`HWLayer.output_ports` name them;
    ``files`` are the sources and memory init files it needs (Verilog files and
    ``$readmemh`` data, all in one folder).
    """

    module: str
    files: list = field(default_factory=list)
    library: list = field(default_factory=list)  # names of shared library modules used


@dataclass
class HLSModule:
    """What a layer's HLS code generation produced: a C++ top function.

    ``top`` is the function's name (the layer's name), with FINN's stream ports
    (``in0_V``, ..., ``out_V``) as ``hls::stream<ap_uint<W>>`` arguments; ``files``
    are the generated sources (the top's ``.cpp`` and its parameter headers, all in
    one folder); the kind's library headers are :meth:`HWLayer.hls_sources`.
    """

    top: str
    files: list = field(default_factory=list)


@dataclass
class Match:
    """What a layer kind's :meth:`HWLayer.match` returns when it takes a node.

    ``nodes``: the new hardware node(s) (domain :data:`HW_DOMAIN`), in graph order;
    ``consumes``: the streamlined nodes they replace, the matched node first (a
    kind may fuse the matched node with its consumers, as the MVAU takes the
    MultiThreshold after its MatMul).
    """

    nodes: list
    consumes: list


class HWLayer:
    """A view on one hardware node, with the rules of its layer kind.

    Subclasses set :attr:`op_type` and :attr:`attributes` and implement the
    abstract methods. Attribute values are read with :meth:`get` and written
    with :meth:`set`; they are stored on the ONNX node, so they survive saving
    and loading the model.
    """

    #: The node op_type this kind handles.
    op_type: ClassVar[str] = ""
    #: Node attributes: name -> (python type, default). Types: int, float, str, list.
    attributes: ClassVar[dict[str, tuple[type, Any]]] = {}
    #: The attributes a folding config may set for this kind (FINN's JSON keys).
    folding_attributes: ClassVar[tuple[str, ...]] = ()
    #: True: this kind replaces a kind of the same op_type registered before it
    #: (otherwise two registrations of one op_type are an error).
    replaces: ClassVar[bool] = False

    # -- conversion ------------------------------------------------------
    @classmethod
    def match(cls, node: NodeProto, model: ModelWrapper, cfg: Any) -> Match | None:
        """Take ``node`` of the streamlined graph, or leave it (None).

        Return a :class:`Match` with the hardware node(s) that replace ``node``
        (and any nodes fused with it). Called once per node not yet taken, in
        graph order; must not modify ``model``.
        """
        return None

    def converted(self) -> None:
        """Called once on every new node after conversion (e.g. to annotate datatypes)."""

    def __init__(self, node: NodeProto, model: ModelWrapper):
        self.node = node
        self.model = model
        #: Values that do not depend on the folding (weights, datatypes), shared
        #: with the copies :meth:`with_folding` makes, so exploring foldings is cheap.
        self.memo: dict[str, Any] = {}

    def memoized(self, key: str, compute):
        """``compute()`` once per layer (and its folding copies)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    # -- attributes -------------------------------------------------------
    @property
    def name(self) -> str:
        return self.node.name

    def get(self, name: str) -> Any:
        from onnx import helper

        if name not in self.attributes:
            raise KeyError(f"{self.op_type} has no attribute {name!r}")
        for attr in self.node.attribute:
            if attr.name == name:
                value = helper.get_attribute_value(attr)
                if isinstance(value, bytes):
                    value = value.decode()
                if isinstance(value, list) and value and isinstance(value[0], bytes):
                    value = [v.decode() for v in value]
                return value
        return self.attributes[name][1]

    def set(self, name: str, value: Any) -> None:
        from onnx import helper

        if name not in self.attributes:
            raise KeyError(f"{self.op_type} has no attribute {name!r}")
        kind = self.attributes[name][0]
        value = kind(value) if kind in (int, float, str) else list(value)
        for i, attr in enumerate(self.node.attribute):
            if attr.name == name:
                del self.node.attribute[i]
                break
        self.node.attribute.append(helper.make_attribute(name, value))

    # -- datatypes and shapes --------------------------------------------
    def input_datatype(self, index: int = 0):
        return self.model.get_tensor_datatype(self.node.input[index])

    def output_datatype(self, index: int = 0):
        return self.model.get_tensor_datatype(self.node.output[index])

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.get_tensor_shape(self.node.input[0]))

    def output_shape(self) -> tuple[int, ...]:
        """The shape rule: the output shape from the attributes and input shape."""
        raise NotImplementedError

    # -- execution -------------------------------------------------------
    def execute(self, *inputs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Run the layer exactly on integer inputs (any leading batch dims).

        One array per :meth:`stream_inputs` tensor, in port order; returns one
        array, or a tuple of one per node output for a layer with several outputs.
        """
        raise NotImplementedError

    # -- folding ---------------------------------------------------------
    def folding(self) -> dict[str, Any]:
        """The current folding, as FINN's folding config writes it."""
        return {name: self.get(name) for name in self.folding_attributes}

    def set_folding(self, folding: dict[str, Any]) -> None:
        for key, value in folding.items():
            self.set(key, value)

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        """Every valid folding of this layer under ``cfg``'s constraints."""
        return [self.folding()]

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        """Why ``folding`` is invalid for this layer, or None when it is valid."""
        return None

    # -- estimates -------------------------------------------------------
    def cycles(self) -> int:
        """Cycles per frame at the current folding (initiation interval)."""
        raise NotImplementedError

    def resources(self) -> dict[str, float]:
        """Estimated LUT, FF, BRAM_18K, URAM, DSP at the current folding.

        Kinds may add efficiency keys (``BRAM_efficiency``, ``URAM_efficiency``).
        """
        raise NotImplementedError

    def op_and_param_counts(self) -> dict[str, int]:
        """Operation and parameter counts, FINN's keys (``op_mac_...``, ``param_...``)."""
        return {}

    # -- streams: the layer's ports in the dataflow graph -----------------
    def stream_inputs(self) -> list[str]:
        """The tensors streamed into this layer, one input port each, in port order.

        By default every node input that is not an initializer (weights and
        thresholds are parameters, not streams).
        """
        return [t for t in self.node.input if t and self.model.get_initializer(t) is None]

    def stream_outputs(self) -> list[str]:
        """The tensors this layer streams out, one output port each: its node outputs."""
        return [t for t in self.node.output if t]

    def input_ports(self) -> list[str]:
        """The module's input port names (FINN's): ``in0_V``, ``in1_V``, ..."""
        return [f"in{i}_V" for i in range(len(self.stream_inputs()))]

    def output_ports(self) -> list[str]:
        """The module's output port names (FINN's): ``out_V``, or ``out0_V``,
        ``out1_V``, ... when there is more than one."""
        n = len(self.stream_outputs())
        return ["out_V"] if n == 1 else [f"out{i}_V" for i in range(n)]

    def input_stream(self) -> StreamSpec:
        """The input stream at the current folding (a layer with one input)."""
        raise NotImplementedError(f"{self.op_type} does not describe its streams")

    def output_stream(self) -> StreamSpec:
        """The output stream at the current folding (a layer with one output)."""
        raise NotImplementedError(f"{self.op_type} does not describe its streams")

    def input_streams(self) -> list[StreamSpec]:
        """Every input port's stream, in port order (default: :meth:`input_stream`)."""
        return [self.input_stream()]

    def output_streams(self) -> list[StreamSpec]:
        """Every output port's stream, in port order (default: :meth:`output_stream`)."""
        return [self.output_stream()]

    # -- code generation -------------------------------------------------

    def generate_rtl(self, out_dir) -> RTLModule:
        """Write this layer's Verilog module (named after the layer) into ``out_dir``."""
        raise NotImplementedError(f"{self.op_type} has no RTL code generation")

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        """The library Verilog files this kind's generated modules instantiate.

        Code generation copies them into the build and lists them in
        ``codegen/manifest.json``; stitching and synthesis read that list.
        """
        return []

    def generate_hls(self, out_dir) -> HLSModule:
        """Write this layer's Vitis HLS C++ top function (named after the layer) into
        ``out_dir``: the top and its generated parameter arrays (weights, thresholds).

        The top function has FINN's AXI-Stream ports (``hls::stream<ap_uint<W>>`` named
        as :meth:`input_ports` / :meth:`output_ports` name them, packed as
        :mod:`dfx.packing` packs the streams) and ``ap_ctrl_none``, so its exported
        Verilog replaces the RTL module of :meth:`generate_rtl` in the stitched design.
        A kind without HLS code generation leaves this unimplemented
        (:meth:`has_hls` is then False).
        """
        raise NotImplementedError(f"{self.op_type} has no HLS code generation")

    @classmethod
    def has_hls(cls) -> bool:
        """True when this kind generates HLS C++ (it overrides :meth:`generate_hls`)."""
        return cls.generate_hls is not HWLayer.generate_hls

    @classmethod
    def hls_sources(cls) -> list[Path]:
        """The HLS library headers this kind's generated top functions include.

        Code generation copies them beside the tops; C simulation and Vitis HLS
        compile them with the tops.
        """
        return []

    def with_folding(self, folding: dict[str, Any]) -> HWLayer:
        """A copy of this view on a copy of the node, with ``folding`` applied."""
        from onnx import NodeProto

        node = NodeProto()
        node.CopyFrom(self.node)
        other = type(self)(node, self.model)
        other.memo = self.memo
        other.set_folding(folding)
        return other


class LayerRegistry:
    """The registered layer kinds, by op_type."""

    def __init__(self):
        self._kinds: dict[str, type[HWLayer]] = {}
        self._owners: dict[str, str] = {}

    def register(self, kind: type[HWLayer], owner: str = "?") -> None:
        """Add ``kind`` (registered by plugin ``owner``).

        A second kind of the same op_type is an error naming both plugins unless it
        says ``replaces = True``.
        """
        if not (isinstance(kind, type) and issubclass(kind, HWLayer)) or not kind.op_type:
            raise PluginError(f"plugin {owner!r}: {kind!r} is not a HWLayer subclass with an "
                              f"op_type")
        earlier = self._kinds.get(kind.op_type)
        if earlier is not None and earlier is not kind and not kind.replaces:
            raise PluginError(
                f"layer kind {kind.op_type!r} is registered twice: by plugin "
                f"{self._owners[kind.op_type]!r} ({earlier.__module__}.{earlier.__qualname__}) "
                f"and by plugin {owner!r} ({kind.__module__}.{kind.__qualname__}); set "
                f"'replaces = True' on {kind.__qualname__} to replace the first")
        self._kinds[kind.op_type] = kind
        self._owners[kind.op_type] = owner

    def owner(self, op_type: str) -> str:
        """The name of the plugin that registered ``op_type``."""
        return self._owners.get(op_type, "?")

    def kind(self, op_type: str) -> type[HWLayer]:
        return self._kinds[op_type]

    def __contains__(self, op_type: str) -> bool:
        return op_type in self._kinds

    def __iter__(self):
        """The kinds in registration order (built-in plugins first)."""
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def is_hw(self, node: NodeProto) -> bool:
        return node.domain == HW_DOMAIN and node.op_type in self._kinds

    def wrap(self, node: NodeProto, model: ModelWrapper) -> HWLayer:
        try:
            kind = self._kinds[node.op_type]
        except KeyError:
            raise PluginError(
                f"node {node.name!r}: no layer kind {node.op_type!r} is registered "
                f"(known: {', '.join(self.names()) or 'none'})"
            ) from None
        return kind(node, model)

    def hw_layers(self, model: ModelWrapper) -> list[HWLayer]:
        """The hardware layers of ``model`` in graph order."""
        return [self.wrap(n, model) for n in model.graph.node if self.is_hw(n)]


def layer_kind_at_fault(exc: BaseException, layer_kinds: LayerRegistry | None = None
                        ) -> str | None:
    """Name the layer kind whose method raised ``exc``, or None if none did.

    Walks ``exc``'s traceback from the caller inwards to the first frame running a
    method of a :class:`HWLayer` (the method dfx called) and returns, for messages,
    ``"plugin 'p': layer kind K raised ValueError in cycles() on node 'LabelSelect_0':
    <message>"``; ``layer_kinds`` gives the plugin that registered the kind.
    """
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
        kind = owner if isinstance(owner, type) else type(owner)
        if issubclass(kind, HWLayer) and kind is not HWLayer:
            node = owner.node if isinstance(owner, HWLayer) else frame.f_locals.get("node")
            where = f" on node {node.name!r}" if getattr(node, "name", "") else ""
            plugin = layer_kinds.owner(kind.op_type) if layer_kinds is not None else "?"
            return (f"plugin {plugin!r}: layer kind {kind.__qualname__} ({kind.op_type}) "
                    f"raised {type(exc).__name__} in {frame.f_code.co_name}(){where}: {exc}")
        tb = tb.tb_next
    return None
