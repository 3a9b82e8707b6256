"""ConvolutionInputGenerator: the sliding-window generator in front of a convolution.

It turns a channels-last image into the stream of its convolution windows: for every
output pixel, the ``KH x KW x C`` window in ``(ky, kx, c)`` order (qonnx's
``Im2Col`` order, which the MatMul weights of a streamlined conv follow).

**Padding is folded in** rather than being a layer of its own (FINN's FMPadding):
the window generator emits the pad value wherever a window reaches outside the
image. That costs a comparison per emitted word and nothing else, where a separate
padding layer costs its own stream pass over the padded image, its FIFO and its
logic, and in FINN's foldings is often the slowest layer of the network.

Folding: ``SIMD`` channels an input word (a divisor of C) and ``M`` input words an
output word (a divisor of ``KW*C/SIMD``: a window row is that many consecutive words
of an image row, which the line buffer's ``M`` banks give in one cycle). One frame
takes ``max(IH*IW*C/SIMD, OH*OW*KH*KW*C/(SIMD*M))`` cycles: the input and output
sides run in parallel, the line buffer (a ring of image rows, see ``dfx_swg.v``)
being deep enough that neither waits for the other in steady state. ``M > 1`` is
what FINN's ``parallel_window`` does for a whole window; dfx parallelizes up to a
window row.

Node input: the image ``x[N, IH, IW, C]``; output ``[N, OH, OW, KH*KW*C]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.layers.memory import clog2, divisors, dual_port_ram_resources

#: dfx_swg's LUTs (logic, without the LUT RAM of the line buffer) and flip-flops, a linear
#: fit on Yosys synth_xilinx -family xc7 runs of 20 window generators
#: (benchmarks/bench_calibrate_conv.py: the shared convnets at four foldings and the mixed
#: forms model, 1 to 24 channels, SIMD 1 to 4, M 1 to 3, kernels 3 and 5, strides 1 and 2,
#: padded and not, LUT RAM and block RAM): LUTs within 12%, flip-flops within 11% (18%
#: for M > 1 in block RAM). Every counter and coordinate register of the RTL is counted
#: in ``counter bits`` (:meth:`ConvolutionInputGenerator.rtl_widths`).
SWG_LUT = {
    "base": -52.1,        # the fit's intercept (every generator has > 90 counter bits)
    "counter_bit": 2.055,  # per counter bit: increment, compare, wrap, the address adders
    "out_bit": 2.328,      # per output bit: pad select, output register and spare
    "rotate_bit": -0.177,  # per output bit and extra bank (M > 1): the rotation
    "read_mux_bit": 0.269,  # per bit and extra 64-word range of a LUT-RAM bank
}
SWG_FF = {"base": -3.34, "counter_bit": 0.962, "out_bit": 1.665, "bank": 3.92,
          "lutram_out_bit": 1.051}  # the read register (in the block RAM otherwise)


def ring_rows(ih: int, oh: int, kh: int, sh: int) -> int:
    """Image rows the line buffer holds: enough that the writer can fill the rows of the
    next output row (and the next frame's first rows) while the reader emits the
    current ones (checked against a cycle model and rtlsim)."""
    return max(kh + sh, kh + ih - (oh - 1) * sh)


class ConvolutionInputGenerator(HWLayer):
    op_type = "ConvolutionInputGenerator"
    attributes = {
        "ConvKernelDim": (list, [1, 1]),
        "IFMChannels": (int, 0),
        "IFMDim": (list, [1, 1]),
        "OFMDim": (list, [1, 1]),
        "Stride": (list, [1, 1]),
        "Dilation": (list, [1, 1]),
        "padding": (list, [0, 0, 0, 0]),   # top, left, bottom, right (dfx: folded in)
        "pad_value": (int, 0),
        "depthwise": (int, 0),
        "SIMD": (int, 1),
        "M": (int, 1),            # input words per output word (dfx)
        "ram_style": (str, "auto"),
        "parallel_window": (int, 0),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("SIMD", "M", "ram_style", "parallel_window", "inFIFODepths",
                          "outFIFODepths")
    folding_dimensions = {"SIMD": "IFMChannels"}
    folding_choices = {"ram_style": ("auto", "distributed", "block")}
    memory_styles = ("distributed", "block")

    # -- geometry ----------------------------------------------------------
    def _geometry(self):
        kh, kw = self.get("ConvKernelDim")
        ih, iw = self.get("IFMDim")
        oh, ow = self.get("OFMDim")
        sh, sw = self.get("Stride")
        return int(kh), int(kw), int(ih), int(iw), int(oh), int(ow), int(sh), int(sw)

    def output_shape(self) -> tuple[int, ...]:
        kh, kw, _, _, oh, ow, _, _ = self._geometry()
        return (self.input_shape()[0], oh, ow, kh * kw * self.get("IFMChannels"))

    def execute(self, x: np.ndarray) -> np.ndarray:
        """The windows of every output pixel, padding included, as qonnx's Im2Col."""
        kh, kw, ih, iw, oh, ow, sh, sw = self._geometry()
        c = self.get("IFMChannels")
        top, left, bottom, right = self.get("padding")
        x = np.asarray(x)
        n = x.shape[0]
        padded = np.full((n, ih + top + bottom, iw + left + right, c), self.get("pad_value"),
                         dtype=np.float64)
        padded[:, top:top + ih, left:left + iw, :] = x
        out = np.empty((n, oh, ow, kh, kw, c), dtype=np.float64)
        for ky in range(kh):
            for kx in range(kw):
                out[:, :, :, ky, kx, :] = padded[:, ky:ky + sh * (oh - 1) + 1:sh,
                                                 kx:kx + sw * (ow - 1) + 1:sw, :]
        return out.reshape(n, oh, ow, kh * kw * c).astype(np.float32)

    # -- folding -----------------------------------------------------------
    def check_folding(self, folding: dict[str, Any]) -> str | None:
        simd = int(folding.get("SIMD", self.get("SIMD")))
        words = int(folding.get("M", self.get("M")))
        c = self.get("IFMChannels")
        if c % simd:
            return f"SIMD={simd} does not divide IFMChannels={c}"
        kw = int(self.get("ConvKernelDim")[1])
        if words < 1 or (kw * c // simd) % words:
            return (f"M={words} does not divide the {kw * c // simd} words of a window row "
                    f"(KW={kw} x IFMChannels={c} / SIMD={simd})")
        style = folding.get("ram_style", self.get("ram_style"))
        if style not in self.folding_choices["ram_style"]:
            return f"ram_style={style!r} is not one of auto, distributed, block"
        if int(folding.get("parallel_window", 0)):
            return ("parallel_window=1 (a whole window a cycle) is not supported: dfx's "
                    "window generator emits up to a window row a cycle (M)")
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        kw = int(self.get("ConvKernelDim")[1])
        c = self.get("IFMChannels")
        return [{"SIMD": simd, "M": words, "ram_style": style}
                for simd in divisors(c) for words in divisors(kw * c // simd)
                for style in self.memory_styles]

    def cycles(self) -> int:
        kh, kw, ih, iw, oh, ow, _, _ = self._geometry()
        cf = self.get("IFMChannels") // self.get("SIMD")
        return max(ih * iw * cf, oh * ow * kh * kw * cf // self.get("M"))

    # -- estimates ---------------------------------------------------------
    def rtl_widths(self) -> dict[str, int]:
        """Register widths of dfx_swg for these parameters (its localparams)."""
        p = self.rtl_parameters()
        cf = p["C"] // p["SIMD"]
        rowbits = p["IW"] * cf
        bank_depth = p["ROWS"] * -(-rowbits // p["M"])
        ab, mb = max(1, clog2(bank_depth)), max(1, clog2(p["M"]))
        gb = clog2(p["IH"] + p["ROWS"] + 2) + 2
        yb = clog2(p["IH"] + p["KH"] + p["SH"] + p["PT"] + 2) + 2
        xb = clog2((p["IW"] + p["KW"] + p["SW"] + p["PL"] + 2) * cf + p["M"]) + 2
        loops = (max(1, clog2(p["OH"])) + max(1, clog2(p["OW"])) + max(1, clog2(p["KH"]))
                 + max(1, clog2(p["KW"] * cf // p["M"])))
        writer = max(1, clog2(rowbits)) + mb + 2 * ab + gb
        reader = gb + loops + 2 * yb + 4 * xb + 2 * mb + 3 * ab
        return {"counter_bits": writer + reader, "bank_depth": bank_depth,
                "word_bits": p["SIMD"] * p["EBITS"], "out_bits": p["M"] * p["SIMD"] * p["EBITS"]}

    def resources(self) -> dict[str, float]:
        """dfx_swg as Yosys maps it: the M banks of the ring in LUT RAM or block RAM
        (``ram_style``, or the cheaper by Yosys' costs for ``auto``), and the logic and
        registers of SWG_LUT / SWG_FF."""
        widths = self.rtl_widths()
        words = self.get("M")
        depth, width = widths["bank_depth"], widths["word_bits"]
        bank = dual_port_ram_resources(depth, width, self.get("ram_style"))
        lutram = bank["LUT"] > 0
        out_bits = widths["out_bits"]
        ranges = -(-depth // 64)
        lut = (SWG_LUT["base"] + SWG_LUT["counter_bit"] * widths["counter_bits"]
               + SWG_LUT["out_bit"] * out_bits + SWG_LUT["rotate_bit"] * (words - 1) * out_bits
               + (SWG_LUT["read_mux_bit"] * (ranges - 1) * out_bits if lutram else 0.0))
        ff = (SWG_FF["base"] + SWG_FF["counter_bit"] * widths["counter_bits"]
              + SWG_FF["out_bit"] * out_bits + SWG_FF["bank"] * words
              + (SWG_FF["lutram_out_bit"] * out_bits if lutram else 0.0))
        bram = words * bank["BRAM_18K"]
        return {"LUT": float(round(lut + words * bank["LUT"])),
                "FF": float(round(ff + words * bank["FF"])),
                "BRAM_18K": float(bram), "URAM": 0.0, "DSP": 0.0,
                "BRAM_efficiency": (words * depth * width / (bram * 18 * 1024)
                                    if bram else 1.0),
                "URAM_efficiency": 1.0}

    def op_and_param_counts(self) -> dict[str, int]:
        return {}

    # -- streams and code generation ---------------------------------------
    def input_stream(self) -> StreamSpec:
        _, _, ih, iw, _, _, _, _ = self._geometry()
        simd = self.get("SIMD")
        return StreamSpec(simd, self.input_datatype(),
                          ih * iw * self.get("IFMChannels") // simd)

    def output_stream(self) -> StreamSpec:
        kh, kw, _, _, oh, ow, _, _ = self._geometry()
        elems = self.get("SIMD") * self.get("M")
        return StreamSpec(elems, self.output_datatype(),
                          oh * ow * kh * kw * self.get("IFMChannels") // elems)

    def rtl_parameters(self) -> dict:
        kh, kw, ih, iw, oh, ow, sh, sw = self._geometry()
        top, left, _, _ = self.get("padding")
        style = self.get("ram_style")
        return {"C": self.get("IFMChannels"), "SIMD": self.get("SIMD"), "M": self.get("M"),
                "IH": ih, "IW": iw,
                "OH": oh, "OW": ow, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PT": int(top),
                "PL": int(left), "EBITS": self.input_datatype().bitwidth(),
                "PAD_VALUE": self._pad_code(), "ROWS": ring_rows(ih, oh, kh, sh),
                "RAM_STYLE": style}

    def _pad_code(self) -> int:
        """The pad value's bit pattern as the stream carries it (two's complement)."""
        from dfx.packing import encode_elements

        if not any(self.get("padding")):
            return 0
        return int(encode_elements(np.array([self.get("pad_value")]),
                                   self.input_datatype())[0])

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.plugins.rtlgen import write_wrapper

        params = self.rtl_parameters()
        wrapper = write_wrapper(Path(out_dir), self.name, "dfx_swg", params,
                                self.input_stream().width, self.output_stream().width)
        return RTLModule(self.name, [wrapper], ["dfx_swg"])

    # -- conversion and sources --------------------------------------------
    @classmethod
    def match(cls, node, model, cfg):
        """qonnx's ``Im2Col`` (channels-last) on an integer tensor."""
        from onnx import helper

        from dfx.errors import UnsupportedNodeError
        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import node_attrs

        if node.op_type != "Im2Col":
            return None
        attrs = node_attrs(node)
        idt = model.get_tensor_datatype(node.input[0])
        if not idt.is_integer():
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"its input is {idt.name}, not an integer type")
        if list(attrs.get("dilations", [1, 1])) != [1, 1]:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"dilations={list(attrs['dilations'])} is not supported")
        n, ih, iw, c = model.get_tensor_shape(node.input[0])
        _, oh, ow, _ = model.get_tensor_shape(node.output[0])
        kernel = [int(k) for k in attrs["kernel_size"]]
        pads = [int(p) for p in attrs.get("pad_amount", [0, 0, 0, 0])]
        if any(p >= k for p, k in zip(pads, kernel + kernel)):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"padding {pads} as wide as the kernel {kernel}: a window of padding only")
        hw = helper.make_node(
            cls.op_type, [node.input[0]], [node.output[0]], name=node.name, domain=HW_DOMAIN,
            ConvKernelDim=kernel, IFMChannels=int(c), IFMDim=[int(ih), int(iw)],
            OFMDim=[int(oh), int(ow)], Stride=[int(s) for s in attrs["stride"]],
            padding=pads, pad_value=int(attrs.get("pad_value", 0)),
            depthwise=int(attrs.get("depthwise", 0)))
        return Match(nodes=[hw], consumes=[node])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_swg.v"]

