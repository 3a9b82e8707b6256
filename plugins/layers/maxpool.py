"""StreamingMaxPool: max-pooling over non-overlapping windows of a channels-last stream.

Each output pixel is the per-channel maximum of a ``KH x KW`` window (stride = kernel,
FINN's StreamingMaxPool); rows and columns past the last whole window are read and
dropped (floor mode). The input arrives row by row, so the running maxima of one
output row (``OW * C`` values) sit in a small memory; the output of a window leaves
when its last pixel arrives.

Folding: ``PE`` channels a word (a divisor of C); one frame takes ``IH*IW*C/PE``
cycles. The values may be of any integer type, accumulators included (a pool before
the quantizer).

Node input: ``x[N, IH, IW, C]``; output ``[N, IH/KH, IW/KW, C]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.layers.memory import clog2, divisors, ram_resources

#: LUT costs of dfx_maxpool's parts (Yosys synth_xilinx -family xc7, see
#: benchmarks/bench_calibrate_estimates.py, the conv section).
MAXPOOL_LUT = {
    "base": 10.0,
    "counter_bit": 1.2,
    "compare_bit": 1.5,   # per element bit: compare and select
    "out_bit": 1.0,       # per output bit: output buffer
}


class StreamingMaxPool(HWLayer):
    op_type = "StreamingMaxPool"
    attributes = {
        "ImgDim": (list, [1, 1]),
        "PoolDim": (list, [2, 2]),
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")
    folding_dimensions = {"PE": "NumChannels"}

    def _dims(self):
        ih, iw = (int(v) for v in self.get("ImgDim"))
        kh, kw = (int(v) for v in self.get("PoolDim"))
        return ih, iw, kh, kw, ih // kh, iw // kw

    def output_shape(self) -> tuple[int, ...]:
        _, _, _, _, oh, ow = self._dims()
        return (self.input_shape()[0], oh, ow, self.get("NumChannels"))

    def execute(self, x: np.ndarray) -> np.ndarray:
        ih, iw, kh, kw, oh, ow = self._dims()
        x = np.asarray(x)[:, :oh * kh, :ow * kw, :]
        n, c = x.shape[0], x.shape[-1]
        return x.reshape(n, oh, kh, ow, kw, c).max(axis=(2, 4)).astype(np.float32)

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        if self.get("NumChannels") % pe:
            return f"PE={pe} does not divide NumChannels={self.get('NumChannels')}"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        return [{"PE": pe} for pe in divisors(self.get("NumChannels"))]

    def cycles(self) -> int:
        ih, iw, _, _, _, _ = self._dims()
        return ih * iw * self.get("NumChannels") // self.get("PE")

    def resources(self) -> dict[str, float]:
        ih, iw, kh, kw, oh, ow = self._dims()
        pe = self.get("PE")
        cf = self.get("NumChannels") // pe
        width = pe * self.input_datatype().bitwidth()
        counter_bits = (clog2(cf) + clog2(iw) + clog2(ih) + clog2(max(kh, 2))
                        + clog2(max(kw, 2)) + clog2(ow * cf + 1))
        mem = ram_resources(ow * cf, width) if ow * cf > 1 else {"LUT": 0.0, "FF": width,
                                                                "BRAM_18K": 0.0}
        lut = (MAXPOOL_LUT["base"] + MAXPOOL_LUT["counter_bit"] * counter_bits
               + MAXPOOL_LUT["compare_bit"] * width + MAXPOOL_LUT["out_bit"] * width
               + mem["LUT"])
        ff = counter_bits + 3 * width + 4 + mem["FF"]
        return {"LUT": float(round(lut)), "FF": float(round(ff)),
                "BRAM_18K": float(mem["BRAM_18K"]), "URAM": 0.0, "DSP": 0.0,
                "BRAM_efficiency": 1.0, "URAM_efficiency": 1.0}

    def input_stream(self) -> StreamSpec:
        ih, iw, _, _, _, _ = self._dims()
        pe = self.get("PE")
        return StreamSpec(pe, self.input_datatype(), ih * iw * self.get("NumChannels") // pe)

    def output_stream(self) -> StreamSpec:
        _, _, _, _, oh, ow = self._dims()
        pe = self.get("PE")
        return StreamSpec(pe, self.output_datatype(), oh * ow * self.get("NumChannels") // pe)

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.plugins.rtlgen import write_wrapper

        ih, iw, kh, kw, _, _ = self._dims()
        dt = self.input_datatype()
        params = {"C": self.get("NumChannels"), "PE": self.get("PE"), "IH": ih, "IW": iw,
                  "KH": kh, "KW": kw, "EBITS": dt.bitwidth(),
                  "SIGNED": int(dt.signed() and dt.name != "BIPOLAR")}
        width = self.input_stream().width
        wrapper = write_wrapper(Path(out_dir), self.name, "dfx_maxpool", params, width, width)
        return RTLModule(self.name, [wrapper], ["dfx_maxpool"])

    @classmethod
    def match(cls, node, model, cfg):
        """qonnx's ``MaxPoolNHWC`` with stride = kernel and no padding."""
        from onnx import helper

        from dfx.errors import UnsupportedNodeError
        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import node_attrs

        if node.op_type != "MaxPoolNHWC":
            return None
        attrs = node_attrs(node)
        kernel = [int(k) for k in attrs["kernel_shape"]]
        if [int(s) for s in attrs.get("strides", kernel)] != kernel or any(attrs.get("pads", [])):
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "only non-overlapping, unpadded windows (stride = kernel)")
        dt = model.get_tensor_datatype(node.input[0])
        if not dt.is_integer():
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"its input is {dt.name}, not an integer type")
        n, ih, iw, c = model.get_tensor_shape(node.input[0])
        hw = helper.make_node(cls.op_type, [node.input[0]], [node.output[0]], name=node.name,
                              domain=HW_DOMAIN, ImgDim=[int(ih), int(iw)], PoolDim=kernel,
                              NumChannels=int(c))
        return Match(nodes=[hw], consumes=[node])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_maxpool.v"]
