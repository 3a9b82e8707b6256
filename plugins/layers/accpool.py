"""GlobalAccPool: the per-channel sum over all pixels (a global average pool's integer
part; the division by H*W stays in the float tail, where the quantizer after it turns
it into exact thresholds).

Folding: ``PE`` channels a word (a divisor of C); one frame takes ``H*W*C/PE``
cycles. The running sums of the ``C/PE`` channel groups sit in a small memory; a
group's sums leave with the frame's last pixel.

Node input: ``x[N, H, W, C]``; output ``[N, 1, 1, C]`` (the sums).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.layers.memory import clog2, divisors, ram_resources

#: LUT costs of dfx_accpool's parts (Yosys synth_xilinx -family xc7).
ACCPOOL_LUT = {"base": 8.0, "counter_bit": 1.2, "add_bit": 1.0, "out_bit": 1.0}


class GlobalAccPool(HWLayer):
    op_type = "GlobalAccPool"
    attributes = {
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "numInputVectors": (list, [1, 1]),   # the pixels (H, W)
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")
    folding_dimensions = {"PE": "NumChannels"}

    def pixels(self) -> int:
        return int(np.prod(self.get("numInputVectors")))

    def output_shape(self) -> tuple[int, ...]:
        return (self.input_shape()[0], 1, 1, self.get("NumChannels"))

    def execute(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x).astype(np.int64)
        return x.sum(axis=(1, 2), keepdims=True).astype(np.float32)

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        if self.get("NumChannels") % pe:
            return f"PE={pe} does not divide NumChannels={self.get('NumChannels')}"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        return [{"PE": pe} for pe in divisors(self.get("NumChannels"))]

    def cycles(self) -> int:
        return self.pixels() * self.get("NumChannels") // self.get("PE")

    def resources(self) -> dict[str, float]:
        pe = self.get("PE")
        cf = self.get("NumChannels") // pe
        obits = self.output_datatype().bitwidth()
        width = pe * obits
        counter_bits = clog2(cf) + clog2(self.pixels())
        mem = ram_resources(cf, width) if cf > 1 else {"LUT": 0.0, "FF": width,
                                                       "BRAM_18K": 0.0}
        lut = (ACCPOOL_LUT["base"] + ACCPOOL_LUT["counter_bit"] * counter_bits
               + ACCPOOL_LUT["add_bit"] * width + ACCPOOL_LUT["out_bit"] * width + mem["LUT"])
        ff = counter_bits + 3 * width + pe * self.input_datatype().bitwidth() + 4 + mem["FF"]
        return {"LUT": float(round(lut)), "FF": float(round(ff)),
                "BRAM_18K": float(mem["BRAM_18K"]), "URAM": 0.0, "DSP": 0.0,
                "BRAM_efficiency": 1.0, "URAM_efficiency": 1.0}

    def input_stream(self) -> StreamSpec:
        pe = self.get("PE")
        return StreamSpec(pe, self.input_datatype(),
                          self.pixels() * self.get("NumChannels") // pe)

    def output_stream(self) -> StreamSpec:
        pe = self.get("PE")
        return StreamSpec(pe, self.output_datatype(), self.get("NumChannels") // pe)

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.plugins.rtlgen import write_wrapper

        idt, odt = self.input_datatype(), self.output_datatype()
        params = {"C": self.get("NumChannels"), "PE": self.get("PE"), "PIXELS": self.pixels(),
                  "IBITS": idt.bitwidth(), "I_SIGNED": int(idt.signed() and idt.name != "BIPOLAR"),
                  "I_BIPOLAR": int(idt.name == "BIPOLAR"), "OBITS": odt.bitwidth()}
        wrapper = write_wrapper(Path(out_dir), self.name, "dfx_accpool", params,
                                self.input_stream().width, self.output_stream().width)
        return RTLModule(self.name, [wrapper], ["dfx_accpool"])

    @classmethod
    def match(cls, node, model, cfg):
        """A ``ReduceSum`` over the H and W axes of a channels-last integer tensor."""
        from onnx import helper

        from dfx.errors import UnsupportedNodeError
        from dfx.layers import HW_DOMAIN, Match

        if node.op_type != "ReduceSum":
            return None
        if len(node.input) > 1:
            axes = model.get_initializer(node.input[1])
        else:
            from dfx.plugins.convert import node_attrs

            axes = node_attrs(node).get("axes")
        shape = model.get_tensor_shape(node.input[0])
        if axes is None or len(shape) != 4 or sorted(int(a) % 4 for a in axes) != [1, 2]:
            return None
        dt = model.get_tensor_datatype(node.input[0])
        if not dt.is_integer():
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"its input is {dt.name}, not an integer type")
        n, h, w, c = shape
        hw = helper.make_node(cls.op_type, [node.input[0]], [node.output[0]], name=node.name,
                              domain=HW_DOMAIN, NumChannels=int(c),
                              numInputVectors=[int(h), int(w)])
        return Match(nodes=[hw], consumes=[node])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_accpool.v"]
