"""Forks and joins through the hooks: ``DuplicateStreams`` and ``AddStreams`` (FINN's names).

A residual-style graph (one stream forked into two branches that are added
again) needs two layer kinds the default plugin does not have. This plugin adds
them the way a third party would, with no default stage copied:

* a streamlining rule (``dfx_streamline_op_handlers``): an ``Add`` of two integer
  tensors with the same scale becomes an integer ``Add`` node whose output
  datatype is widened to hold every sum (other Adds go to the built-in rule);
* ``DuplicateStreams`` (``dfx_register_layer_kinds``): matches the ``StreamFork``
  node conversion puts on a tensor read by several nodes; one stream in, one
  identical stream per reader out, each output with its own backpressure;
* ``AddStreams``: matches that integer ``Add``; two streams in, their elementwise
  sum out.

Each kind has its exact execution, folding options, estimates and RTL (library
files in ``streams_rtl/``, listed by ``rtl_sources()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dfx import hookimpl
from dfx.layers import HWLayer, RTLModule, StreamSpec

__version__ = "1.0"

RTL = Path(__file__).parent / "streams_rtl"


def _sum_datatype(a, b):
    """The smallest integer datatype that holds every sum of a value of ``a`` and ``b``."""
    from dfx.plugins.datatypes import smallest_int_datatype

    return smallest_int_datatype(int(a.min()) + int(b.min()), int(a.max()) + int(b.max()))


def _integer_add(streamliner, node):
    """``Add`` of two integer tensors ``s * qa + oa`` and ``s * qb + ob`` (one scale
    ``s`` for both): the integer add ``qa + qb`` with offset ``oa + ob``."""
    from onnx import helper

    from dfx.plugins.streamline import IntValue, builtin_op_handlers

    a, b = (streamliner.values.get(t) for t in node.input[:2])
    same_scale = (isinstance(a, IntValue) and isinstance(b, IntValue)
                  and np.asarray(a.scale).size == 1 and np.asarray(b.scale).size == 1
                  and float(np.asarray(a.scale).reshape(-1)[0])
                  == float(np.asarray(b.scale).reshape(-1)[0]))
    if not same_scale or "BIPOLAR" in (a.datatype.name, b.datatype.name):
        return builtin_op_handlers()["Add"](streamliner, node)
    out = streamliner._fresh("sum")
    streamliner.nodes.append(helper.make_node("Add", [a.name, b.name], [out],
                                              name=streamliner._fresh("Add")))
    streamliner.shapes[out] = streamliner.shapes.get(a.name) or \
        list(streamliner.src.get_tensor_shape(node.output[0]))
    odt = _sum_datatype(a.datatype, b.datatype)
    streamliner.datatypes[out] = odt.name
    streamliner.values[node.output[0]] = IntValue(out, odt, np.asarray(a.scale),
                                                  np.asarray(a.offset) + np.asarray(b.offset))


class _Elementwise(HWLayer):
    """What both kinds share: ``NumChannels`` channels, ``PE`` of them a word."""

    def words(self) -> int:
        return self.get("NumChannels") // self.get("PE") * int(np.prod(self.get("numInputVectors")))

    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape()

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        if pe < 1 or self.get("NumChannels") % pe:
            return f"PE={pe} does not divide NumChannels={self.get('NumChannels')}"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        channels = self.get("NumChannels")
        return [{"PE": pe} for pe in range(1, channels + 1) if channels % pe == 0]

    def cycles(self) -> int:
        return self.words()

    def spec(self, datatype) -> StreamSpec:
        return StreamSpec(self.get("PE"), datatype, self.words())


class DuplicateStreams(_Elementwise):
    """One stream in, ``NumOutputStreams`` identical streams out."""

    op_type = "DuplicateStreams"
    attributes = {
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "NumOutputStreams": (int, 2),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2, 2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")

    @classmethod
    def match(cls, node, model, cfg):
        from onnx import helper

        from dfx.layers import GRAPH_DOMAIN, HW_DOMAIN, STREAM_FORK, Match
        from dfx.plugins.convert import input_vectors

        if node.op_type != STREAM_FORK or node.domain != GRAPH_DOMAIN:
            return None
        dt = model.get_tensor_datatype(node.input[0])
        shape = model.get_tensor_shape(node.input[0])
        if not dt.is_integer() or not shape:
            return None  # a float tensor stays in software
        hw = helper.make_node("DuplicateStreams", [node.input[0]], list(node.output),
                              name=node.name, domain=HW_DOMAIN, NumChannels=int(shape[-1]),
                              NumOutputStreams=len(node.output),
                              numInputVectors=input_vectors(model, node.input[0]),
                              outFIFODepths=[2] * len(node.output))
        return Match(nodes=[hw], consumes=[node])

    def execute(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.array(x, copy=True) for _ in range(self.get("NumOutputStreams")))

    def resources(self) -> dict[str, float]:
        n, width = self.get("NumOutputStreams"), self.input_stream().width
        # the held word, one pending flag per output; the ready logic
        return {"LUT": float(n + 1), "FF": float(width + n), "BRAM_18K": 0.0, "URAM": 0.0,
                "DSP": 0.0}

    def input_stream(self) -> StreamSpec:
        return self.spec(self.input_datatype())

    def output_streams(self) -> list[StreamSpec]:
        return [self.input_stream()] * self.get("NumOutputStreams")

    def generate_rtl(self, out_dir) -> RTLModule:
        width, n = self.input_stream().width, self.get("NumOutputStreams")
        ports = self.output_ports()
        declared = "\n".join(
            f"    output wire [{width - 1}:0] {p}_TDATA,\n    output wire {p}_TVALID,\n"
            f"    input  wire {p}_TREADY{',' if i < n - 1 else ''}" for i, p in enumerate(ports))
        unpack = "\n".join(
            f"    assign {p}_TDATA = data[{i * width} +: {width}];\n"
            f"    assign {p}_TVALID = valid[{i}];\n    assign ready[{i}] = {p}_TREADY;"
            for i, p in enumerate(ports))
        text = f"""// Generated by streams_plugin: layer {self.name} (acme_duplicate_streams).
`default_nettype none
module {self.name} (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [{width - 1}:0] in0_V_TDATA,
    input  wire in0_V_TVALID,
    output wire in0_V_TREADY,
{declared}
);
    wire [{n * width - 1}:0] data;
    wire [{n - 1}:0] valid;
    wire [{n - 1}:0] ready;
    acme_duplicate_streams #(.WIDTH({width}), .N_OUT({n})) impl (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .in0_V_TDATA(in0_V_TDATA), .in0_V_TVALID(in0_V_TVALID), .in0_V_TREADY(in0_V_TREADY),
        .out_TDATA(data), .out_TVALID(valid), .out_TREADY(ready)
    );
{unpack}
endmodule
`default_nettype wire
"""
        path = Path(out_dir) / f"{self.name}.v"
        path.write_text(text)
        return RTLModule(self.name, [path], ["acme_duplicate_streams"])

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        return [RTL / "acme_duplicate_streams.v"]


class AddStreams(_Elementwise):
    """Two streams in, their elementwise integer sum out (a widened datatype)."""

    op_type = "AddStreams"
    attributes = {
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2, 2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")

    @classmethod
    def match(cls, node, model, cfg):
        from onnx import helper

        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import input_vectors

        if node.op_type != "Add" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
            return None
        if any(model.get_initializer(t) is not None for t in node.input):
            return None  # an Add of a constant belongs to the float tail
        types = [model.get_tensor_datatype(t) for t in node.input]
        shapes = [model.get_tensor_shape(t) for t in node.input]
        if not all(dt.is_integer() and dt.name != "BIPOLAR" for dt in types) or \
                shapes[0] != shapes[1] or not shapes[0]:
            return None
        hw = helper.make_node("AddStreams", list(node.input), [node.output[0]], name=node.name,
                              domain=HW_DOMAIN, NumChannels=int(shapes[0][-1]),
                              numInputVectors=input_vectors(model, node.input[0]))
        return Match(nodes=[hw], consumes=[node])

    def converted(self) -> None:
        """The sum's datatype holds every sum of the two inputs' values."""
        self.model.set_tensor_datatype(
            self.node.output[0], _sum_datatype(self.input_datatype(0), self.input_datatype(1)))

    def execute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.asarray(a, np.int64) + np.asarray(b, np.int64)).astype(np.float32)

    def resources(self) -> dict[str, float]:
        pe, obits = self.get("PE"), self.output_datatype().bitwidth()
        # one adder per lane (a carry chain: about a LUT per bit), the output register
        return {"LUT": float(pe * obits + 2), "FF": float(pe * obits + 1), "BRAM_18K": 0.0,
                "URAM": 0.0, "DSP": 0.0}

    def input_streams(self) -> list[StreamSpec]:
        return [self.spec(self.input_datatype(0)), self.spec(self.input_datatype(1))]

    def output_stream(self) -> StreamSpec:
        return self.spec(self.output_datatype())

    def generate_rtl(self, out_dir) -> RTLModule:
        from dfx.plugins.rtlgen import write_wrapper

        a, b = self.input_datatype(0), self.input_datatype(1)
        ins = [(port, spec.width) for port, spec in zip(self.input_ports(), self.input_streams())]
        outs = [("out_V", self.output_stream().width)]
        params = {"PE": self.get("PE"), "ABITS": a.bitwidth(), "A_SIGNED": int(a.signed()),
                  "BBITS": b.bitwidth(), "B_SIGNED": int(b.signed()),
                  "OBITS": self.output_datatype().bitwidth()}
        wrapper = write_wrapper(Path(out_dir), self.name, "acme_add_streams", params,
                                ins[0][1], outs[0][1], inputs=ins, outputs=outs)
        return RTLModule(self.name, [wrapper], ["acme_add_streams"])

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        return [RTL / "acme_add_streams.v"]


@hookimpl
def dfx_streamline_op_handlers():
    return {"Add": _integer_add}


@hookimpl
def dfx_register_layer_kinds():
    return [DuplicateStreams, AddStreams]
