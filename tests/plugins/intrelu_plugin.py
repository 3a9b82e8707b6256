"""A new layer kind through the hooks: ``IntRelu``, ``max(q, 0)`` on a signed integer stream.

Brevitas puts a ``Relu`` after a signed quantizer in some exports; the default
streamliner keeps such a Relu in the float tail (software). This plugin adds:

* a streamlining rule (``dfx_streamline_op_handlers``): a Relu of a signed,
  zero-offset, positively scaled integer tensor becomes an ``acme.ops.IntRelu``
  node on the integer tensor (other Relus go to the built-in rule);
* the layer kind ``IntRelu`` (``dfx_register_layer_kinds``) with its own match,
  exact execution, folding options, estimates and RTL (``acme_intrelu``, a
  library file of its own folder).

No default stage is copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dfx import hookimpl
from dfx.layers import HWLayer, RTLModule, StreamSpec

__version__ = "1.0"

OPS_DOMAIN = "acme.ops"


def _relu(streamliner, node):
    from qonnx.core.datatype import DataType

    from dfx.plugins.streamline import IntValue, builtin_op_handlers

    value = streamliner.values.get(node.input[0])
    if not (isinstance(value, IntValue) and value.datatype.signed()
            and value.datatype.name.startswith("INT") and value.datatype.bitwidth() >= 2
            and np.all(value.offset == 0) and np.all(value.scale > 0)):
        return builtin_op_handlers()["Relu"](streamliner, node)
    from onnx import helper

    out = streamliner._fresh("intrelu")
    streamliner.nodes.append(helper.make_node("IntRelu", [value.name], [out],
                                              name=streamliner._fresh("IntRelu"),
                                              domain=OPS_DOMAIN))
    streamliner.shapes[out] = streamliner.shapes[value.name]
    odt = DataType[f"UINT{value.datatype.bitwidth() - 1}"]
    streamliner.datatypes[out] = odt.name
    streamliner.values[node.output[0]] = IntValue(out, odt, value.scale, value.offset)


class IntRelu(HWLayer):
    """``max(x, 0)`` per element; ``PE`` elements a cycle."""

    op_type = "IntRelu"
    attributes = {
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")

    @classmethod
    def match(cls, node, model, cfg):
        from onnx import helper

        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import input_vectors

        if node.op_type != "IntRelu" or node.domain != OPS_DOMAIN:
            return None
        channels = int(model.get_tensor_shape(node.input[0])[-1])
        hw = helper.make_node("IntRelu", [node.input[0]], [node.output[0]], name=node.name,
                              domain=HW_DOMAIN, NumChannels=channels,
                              numInputVectors=input_vectors(model, node.input[0]))
        return Match(nodes=[hw], consumes=[node])

    def _words(self) -> int:
        return self.get("NumChannels") // self.get("PE") * int(np.prod(self.get("numInputVectors")))

    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape()

    def execute(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(x), 0).astype(np.float32)

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        if pe < 1 or self.get("NumChannels") % pe:
            return f"PE={pe} does not divide NumChannels={self.get('NumChannels')}"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        channels = self.get("NumChannels")
        return [{"PE": pe} for pe in range(1, channels + 1) if channels % pe == 0]

    def cycles(self) -> int:
        return self._words()

    def resources(self) -> dict[str, float]:
        ibits = self.input_datatype().bitwidth()
        pe = self.get("PE")
        return {"LUT": float(pe * (ibits - 1) + 2), "FF": float(pe * (ibits - 1) + 1),
                "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}

    def input_stream(self) -> StreamSpec:
        return StreamSpec(self.get("PE"), self.input_datatype(), self._words())

    def output_stream(self) -> StreamSpec:
        return StreamSpec(self.get("PE"), self.output_datatype(), self._words())

    def generate_rtl(self, out_dir) -> RTLModule:
        from dfx.plugins.rtlgen import write_wrapper

        ins, outs = self.input_stream(), self.output_stream()
        wrapper = write_wrapper(Path(out_dir), self.name, "acme_intrelu",
                                {"PE": self.get("PE"), "IBITS": ins.datatype.bitwidth()},
                                ins.width, outs.width)
        return RTLModule(self.name, [wrapper], ["acme_intrelu"])

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        return [Path(__file__).parent / "intrelu_rtl" / "acme_intrelu.v"]


@hookimpl
def dfx_streamline_op_handlers():
    return {"Relu": _relu}


@hookimpl
def dfx_register_layer_kinds():
    return [IntRelu]
