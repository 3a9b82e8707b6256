"""MVAU: the matrix-vector-activation unit, one per fully connected layer.

It multiplies an ``MW``-element input vector by an ``MW x MH`` integer weight
matrix and, unless ``noActivation`` is set, turns each of the ``MH``
accumulators into an output level with per-channel thresholds
(``level = count(acc >= T[c, :])``, output ``out_scale * level + out_bias``).

Folding: ``PE`` rows (output channels) and ``SIMD`` columns (input elements)
are computed in parallel; one input vector takes ``(MH/PE) * (MW/SIMD)`` cycles.

Node inputs: ``x``, the weights ``W[MW, MH]`` and, with activation, the
thresholds ``T[MH, levels-1]``, all as initializers with integer values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.datatypes import signed_bits
from dfx.plugins.layers.memory import (
    BRAM18_BITS,
    URAM_BITS,
    divisors,
    memory_resources,
)


class MVAU(HWLayer):
    op_type = "MVAU"
    attributes = {
        "MW": (int, 0),
        "MH": (int, 0),
        "PE": (int, 1),
        "SIMD": (int, 1),
        "noActivation": (int, 0),
        "out_scale": (float, 1.0),
        "out_bias": (float, 0.0),
        "binaryXnorMode": (int, 0),
        "ram_style": (str, "auto"),
        "resType": (str, "auto"),
        "mem_mode": (str, "internal_decoupled"),
        "runtime_writeable_weights": (int, 0),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "SIMD", "ram_style", "resType", "mem_mode", "inFIFODepths",
                          "outFIFODepths")
    memory_styles = ("distributed", "block", "ultra")

    # -- parameters ------------------------------------------------------
    def weights(self) -> np.ndarray:
        return self.memoized(
            "weights", lambda: self.model.get_initializer(self.node.input[1]).astype(np.int64))

    def thresholds(self) -> np.ndarray | None:
        if self.get("noActivation") or len(self.node.input) < 3:
            return None
        return self.memoized(
            "thresholds",
            lambda: self.model.get_initializer(self.node.input[2]).astype(np.int64))

    def weight_datatype(self):
        return self.memoized("wdt", lambda: self.model.get_tensor_datatype(self.node.input[1]))

    def acc_dt_from_range(self):
        """The smallest integer type that holds every reachable accumulator value."""
        return self.memoized("acc_dt", self._acc_dt_from_range)

    def _acc_dt_from_range(self):
        from qonnx.core.datatype import DataType

        w = self.weights()
        idt = self.input_datatype()
        lo = np.minimum(w * idt.min(), w * idt.max()).sum(axis=0).min()
        hi = np.maximum(w * idt.min(), w * idt.max()).sum(axis=0).max()
        t = self.thresholds()
        if t is not None and t.size:
            lo, hi = min(lo, t.min()), max(hi, t.max())
        return DataType[f"INT{signed_bits(lo, hi)}"]

    def levels(self) -> int:
        t = self.thresholds()
        return 0 if t is None else t.shape[1]

    # -- shape rule and execution ----------------------------------------
    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape()[:-1] + (self.get("MH"),)

    def execute(self, x: np.ndarray) -> np.ndarray:
        acc = np.asarray(x).astype(np.int64) @ self.weights()
        t = self.thresholds()
        if t is None:
            return acc.astype(np.float32)
        count = (acc[..., None] >= t).sum(axis=-1)
        out = self.get("out_scale") * count + self.get("out_bias")
        return out.astype(np.float32)

    # -- folding ---------------------------------------------------------
    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe, simd = int(folding.get("PE", self.get("PE"))), int(folding.get("SIMD",
                                                                           self.get("SIMD")))
        if self.get("MH") % pe:
            return f"PE={pe} does not divide MH={self.get('MH')}"
        if self.get("MW") % simd:
            return f"SIMD={simd} does not divide MW={self.get('MW')}"
        style = folding.get("ram_style", "auto")
        if style not in ("auto",) + self.memory_styles:
            return f"ram_style={style!r} is not one of auto, distributed, block, ultra"
        res_type = folding.get("resType", "auto")
        if res_type not in ("auto", "lut", "dsp"):
            return f"resType={res_type!r} is not one of auto, lut, dsp"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        wbits = self.weight_datatype().bitwidth()
        options = []
        for simd in divisors(self.get("MW")):
            if simd > 1 and simd * wbits > cfg.mvau_wwidth_max:
                continue
            for pe in divisors(self.get("MH")):
                for style in self.memory_styles:
                    options.append({"PE": pe, "SIMD": simd, "ram_style": style})
        return options

    def cycles(self) -> int:
        vectors = int(np.prod(self.get("numInputVectors")))
        return (self.get("MH") // self.get("PE")) * (self.get("MW") // self.get("SIMD")) * vectors

    # -- estimates -------------------------------------------------------
    def _memory_style(self, depth: int, width: int) -> str:
        style = self.get("ram_style")
        if style != "auto":
            return style
        # Shallow or small memories go to LUTs, larger ones to block RAM.
        return "distributed" if depth <= 64 or depth * width < 4096 else "block"

    def _use_dsp(self, wbits: int, abits: int) -> bool:
        res_type = self.get("resType")
        if res_type == "auto":
            return wbits * abits >= 36 and min(wbits, abits) > 1
        return res_type == "dsp"

    def resources(self) -> dict[str, float]:
        pe, simd = self.get("PE"), self.get("SIMD")
        mw, mh = self.get("MW"), self.get("MH")
        wbits = self.weight_datatype().bitwidth()
        abits = self.input_datatype().bitwidth()
        acc_bits = self.acc_dt_from_range().bitwidth()
        levels = self.levels()
        out_bits = max(1, math.ceil(math.log2(levels + 1))) if levels else acc_bits

        # Weight memory: one word per (row fold, column fold), PE*SIMD weights wide.
        depth = (mw * mh) // (pe * simd)
        width = pe * simd * wbits
        weight_mem = memory_resources(depth, width, self._memory_style(depth, width))

        # Per PE: SIMD products, an adder tree over them, an accumulator.
        xnor = wbits == 1 and abits == 1
        dsp = 0.0
        if xnor:
            mult_luts = math.ceil(simd / 3)  # XNOR of 3 pairs per LUT6
            product_bits = 1
        elif self._use_dsp(wbits, abits):
            mult_luts = 0
            dsp = float(pe * simd)
            product_bits = wbits + abits
        elif wbits == 1 or abits == 1:
            mult_luts = simd * max(wbits, abits)  # conditional negate / AND
            product_bits = max(wbits, abits) + 1
        else:
            mult_luts = simd * wbits * abits  # partial products and their sums
            product_bits = wbits + abits
        tree_luts = sum(
            (product_bits + level) * math.ceil(simd / 2 ** (level + 1))
            for level in range(max(0, math.ceil(math.log2(simd))))
        ) if simd > 1 else 0
        acc_luts = acc_bits

        # Thresholds: one comparator per level; a memory of thresholds per PE.
        thr_mem = {"LUT": 0.0, "BRAM_18K": 0.0, "URAM": 0.0}
        comp_luts = 0
        if levels:
            comp_luts = levels * math.ceil(acc_bits / 2)
            thr_depth = mh // pe
            thr_width = levels * acc_bits
            thr_one = memory_resources(thr_depth, thr_width, "distributed")
            if thr_depth == 1:
                thr_one = {"LUT": 0.0, "BRAM_18K": 0.0, "URAM": 0.0}  # constants
            thr_mem = {k: v * pe for k, v in thr_one.items()}

        control = 60  # stream handshakes, fold counters
        lut = control + weight_mem["LUT"] + thr_mem["LUT"] + pe * (
            mult_luts + tree_luts + acc_luts + comp_luts
        )
        ff = control / 2 + simd * abits + pe * (acc_bits + out_bits + tree_luts // 2)
        bram = weight_mem["BRAM_18K"] + thr_mem["BRAM_18K"]
        uram = weight_mem["URAM"] + thr_mem["URAM"]
        weight_bits = mw * mh * wbits
        return {
            "LUT": float(round(lut)),
            "FF": float(round(ff)),
            "BRAM_18K": float(bram),
            "URAM": float(uram),
            "DSP": dsp,
            "BRAM_efficiency": weight_bits / (bram * BRAM18_BITS) if bram else 1.0,
            "URAM_efficiency": weight_bits / (uram * URAM_BITS) if uram else 1.0,
        }

    def op_and_param_counts(self) -> dict[str, int]:
        mw, mh = self.get("MW"), self.get("MH")
        vectors = int(np.prod(self.get("numInputVectors")))
        idt, wdt = self.input_datatype(), self.weight_datatype()
        counts = {
            f"op_mac_{idt.name}_{wdt.name}": mw * mh * vectors,
            f"param_weight_{wdt.name}": mw * mh,
        }
        t = self.thresholds()
        if t is not None:
            counts[f"param_threshold_{self.acc_dt_from_range().name}"] = int(t.size)
        return counts

    # -- code generation ---------------------------------------------------
    def input_stream(self) -> StreamSpec:
        vectors = int(np.prod(self.get("numInputVectors")))
        simd = self.get("SIMD")
        return StreamSpec(simd, self.input_datatype(), self.get("MW") // simd * vectors)

    def output_stream(self) -> StreamSpec:
        vectors = int(np.prod(self.get("numInputVectors")))
        pe = self.get("PE")
        return StreamSpec(pe, self.output_datatype(), self.get("MH") // pe * vectors)

    def rtl_parameters(self) -> dict:
        """The ``dfx_mvau`` parameters of this layer (without the memory file names)."""
        wdt, idt, odt = self.weight_datatype(), self.input_datatype(), self.output_datatype()
        thresholds = self.thresholds()
        acc_bits = max(2, self.acc_dt_from_range().bitwidth())
        if thresholds is None:
            # the accumulator is the output: convert_to_hw annotates it INT<acc bits>
            acc_bits = max(acc_bits, odt.bitwidth())
            out_bits, out_bias, levels = acc_bits, 0, 0
        else:
            levels = thresholds.shape[1]
            out_bits = odt.bitwidth()
            # bipolar outputs: the threshold count (0/1) is the 1-bit code itself
            out_bias = 0 if odt.name == "BIPOLAR" else int(self.get("out_bias"))
        return {
            "MW": self.get("MW"), "MH": self.get("MH"), "PE": self.get("PE"),
            "SIMD": self.get("SIMD"), "WBITS": wdt.bitwidth(), "ABITS": idt.bitwidth(),
            "ACCBITS": acc_bits, "W_SIGNED": int(wdt.signed() and wdt.name != "BIPOLAR"),
            "A_SIGNED": int(idt.signed() and idt.name != "BIPOLAR"),
            "W_BIPOLAR": int(wdt.name == "BIPOLAR"), "A_BIPOLAR": int(idt.name == "BIPOLAR"),
            "THRESHOLDS": levels, "OBITS": out_bits, "OUT_BIAS": out_bias,
        }

    def weight_words(self) -> list[int]:
        """Weight memory words: address nf*SF+sf, weight (pe, simd) at slot pe*SIMD+simd."""
        from dfx.packing import encode_elements

        w = self.weights()
        pe, simd = self.get("PE"), self.get("SIMD")
        mw, mh = self.get("MW"), self.get("MH")
        codes = encode_elements(w, self.weight_datatype()).astype(object)
        bits = self.weight_datatype().bitwidth()
        words = []
        for nf in range(mh // pe):
            for sf in range(mw // simd):
                block = codes[sf * simd:(sf + 1) * simd, nf * pe:(nf + 1) * pe]  # [simd, pe]
                word = 0
                for p in range(pe):
                    for s in range(simd):
                        word |= int(block[s, p]) << ((p * simd + s) * bits)
                words.append(word)
        return words

    def threshold_words(self, acc_bits: int) -> list[int]:
        """Threshold memory words: address nf, threshold k of pe at slot pe*L+k."""
        t = self.thresholds()
        pe = self.get("PE")
        levels = t.shape[1]
        mask = (1 << acc_bits) - 1
        words = []
        for nf in range(self.get("MH") // pe):
            word = 0
            for p in range(pe):
                for k in range(levels):
                    word |= (int(t[nf * pe + p, k]) & mask) << ((p * levels + k) * acc_bits)
            words.append(word)
        return words

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.plugins.rtlgen import write_memory, write_wrapper

        out_dir = Path(out_dir)
        params = self.rtl_parameters()
        wfile = write_memory(out_dir / f"{self.name}_weights.dat", self.weight_words(),
                             params["PE"] * params["SIMD"] * params["WBITS"])
        files = [wfile]
        params["WEIGHT_FILE"] = wfile.name
        if params["THRESHOLDS"]:
            tfile = write_memory(out_dir / f"{self.name}_thresholds.dat",
                                 self.threshold_words(params["ACCBITS"]),
                                 params["PE"] * params["THRESHOLDS"] * params["ACCBITS"])
            files.append(tfile)
            params["THRESH_FILE"] = tfile.name
        else:
            params["THRESH_FILE"] = ""
        depth = params["MW"] * params["MH"] // (params["PE"] * params["SIMD"])
        style = self._memory_style(depth, params["PE"] * params["SIMD"] * params["WBITS"])
        params["RAM_STYLE"] = style
        wrapper = write_wrapper(out_dir, self.name, "dfx_mvau", params,
                                self.input_stream().width, params["PE"] * params["OBITS"])
        return RTLModule(self.name, [wrapper, *files], ["dfx_mvau"])
