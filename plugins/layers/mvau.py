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
    CALIBRATION,
    FoldedBitStates,
    RomProfile,
    bram_mapping,
    clog2,
    divisors,
    int_bits,
    logic_rom_outside_calibration,
    nonconst_columns,
    ram_resources,
    rom_in_block_ram,
    threshold_rom_profile,
)

#: LUT costs of the parts of dfx_mvau, fitted (non-negative least squares, weighted by
#: relative error) on Yosys synth_xilinx -family xc7 runs of 327 layers: the shipped
#: models at seven foldings and generated layers covering every datapath kind, SIMD 1
#: to 64, PE 1 to 32, 1- to 4-bit operands, block and distributed weights.
MVAU_LUT = {
    "base": 2.0,              # stream handshake
    "counter_bit": 0.7,       # fold counters sf, nf and the weight address: +1, compare
    "input_bit": 1.2,         # per input bit (NF > 1): select buffered or streamed input
    "bram_mux": 1.5,          # per data bit and extra address range sharing a block RAM
    "rom_piece16": 1.3,       # per distinct 16-word piece of a weight ROM left in logic
    "rom_piece64": 1.3,       # per distinct 64-word piece of the threshold ROM
    "xnor_lane": 1.9,         # per SIMD lane: XNOR and popcount
    "abip_lane_bit": 3.2,     # per lane and weight bit: bipolar input, negate and sum
    "wbip_lane_bit": 2.6,     # per lane and input bit: bipolar weight, negate and sum
    "mult_bit": 1.4,          # per lane and partial product (operand bits multiplied)
    "signed_mult_bit": 1.3,   # extra per partial product with signed inputs
    "pe": 9.6,                # per PE: pipeline enables, output buffer control
    "out_bit": 1.3,           # per PE and output bit: output buffer mux
    "acc_bit": 1.05,          # per PE and accumulator bit (SF > 1): the adder
    "compare_bit": 0.52,      # per threshold and accumulator bit: acc >= T (carry chain)
    "const_compare_bit": 0.15,  # the same against a constant threshold (NF = 1)
}


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
    #: the styles the folding search tries: a file-initialised ROM cannot live in
    #: UltraRAM, so "ultra" is built (and estimated) as "block" and can never win
    folding_memory_styles = ("distributed", "block")

    # -- parameters ------------------------------------------------------
    def weights(self) -> np.ndarray:
        return self.memoized(
            "weights", lambda: self.model.get_initializer(self.node.input[1]).astype(np.int64))

    def _weight_ints(self) -> np.ndarray:
        """The weights in the narrowest signed type that holds them, for the estimates
        (an int64 copy of a 4096 x 4096 layer is 128 MB)."""
        def compute():
            w = self.model.get_initializer(self.node.input[1])
            lo, hi = (int(w.min()), int(w.max())) if w.size else (0, 0)
            for dtype in (np.int8, np.int16, np.int32):
                info = np.iinfo(dtype)
                if info.min <= lo and hi <= info.max:
                    return w.astype(dtype)
            return w.astype(np.int64)

        return self.memoized("weight_ints", compute)

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

        w = self._weight_ints()
        idt = self.input_datatype()
        # per column: positive weights reach their extremes at the input's extremes, negative
        # ones at the opposite extremes (no product matrices: this runs on 16M weights)
        pos = np.maximum(w, 0).sum(axis=0, dtype=np.int64)
        neg = np.minimum(w, 0).sum(axis=0, dtype=np.int64)
        a, b = int(idt.min()), int(idt.max())
        lo = (a * pos + b * neg).min()
        hi = (b * pos + a * neg).max()
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
                for style in self.folding_memory_styles:
                    options.append({"PE": pe, "SIMD": simd, "ram_style": style})
        return options

    def calibration_issues(self) -> list[str]:
        """Why this layer's folding lies outside the estimates' calibration region
        (:data:`dfx.plugins.layers.memory.CALIBRATION`); empty when it is inside."""
        region = CALIBRATION["MVAU"]
        pe, simd = self.get("PE"), self.get("SIMD")
        wbits = self.weight_datatype().bitwidth()
        issues = []
        if pe > region["max_pe"]:
            issues.append(f"PE {pe} > {region['max_pe']}")
        if simd > 1 and simd * wbits > region["max_weight_stream_bits"]:
            issues.append(f"weight stream SIMD {simd} x {wbits} bits = {simd * wbits} > "
                          f"{region['max_weight_stream_bits']}")
        depth = (self.get("MW") // simd) * (self.get("MH") // pe)
        style = self._memory_style(depth, pe * simd * wbits)
        if style == "distributed":
            rom = logic_rom_outside_calibration(depth, self._weight_profile().nonconst, style)
            if rom:
                issues.append(rom)
        return issues

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

    # The estimate is a model of what Yosys' synth_xilinx (7-series, flattened) makes of
    # dfx_mvau.v, calibrated with benchmarks/bench_calibrate_estimates.py: flip-flops
    # are counted register by register from the RTL; block RAM and DSP follow Yosys'
    # mapping rules exactly; LUTs add up the parts below, each a count of what the
    # part must compute times a LUT cost fitted on synthesized layers (MVAU_LUT).

    def _use_dsp(self) -> bool:
        """Whether synthesis puts the products in DSP slices: Yosys maps a multiplier
        whose operands are at least 2 bits and whose product is at least 9 bits wide.
        The RTL writes every product as a multiplication (bipolar operands need none),
        so ``resType`` does not change the hardware and is not consulted."""
        prm = self._rtl_params()
        if prm["W_BIPOLAR"] or prm["A_BIPOLAR"]:
            return False
        ax = prm["ABITS"] + (0 if prm["A_SIGNED"] else 1)
        wx = prm["WBITS"] + (0 if prm["W_SIGNED"] else 1)
        return ax >= 2 and wx >= 2 and ax + wx >= 9

    def _rtl_params(self) -> dict:
        key = ("rtl_params", self.get("PE"), self.get("SIMD"))
        return self.memoized(key, self.rtl_parameters)

    def _weight_codes(self) -> np.ndarray:
        """The weights' unsigned codes ``[MW, MH]``, in the narrowest unsigned type."""
        def compute():
            from dfx.plugins.layers.memory import _uint_for

            wdt = self.weight_datatype()
            w = self._weight_ints()
            if wdt.name == "BIPOLAR":
                return (w > 0).astype(np.uint8)
            # the low bits of the two's complement, as dfx.packing.encode_elements makes
            # them, without its int64 copies (the weights are integers of wdt already)
            ctype = _uint_for(wdt.bitwidth())
            return w.astype(ctype) & ctype((1 << wdt.bitwidth()) - 1)

        return self.memoized("weight_codes", compute)

    def _weight_states(self) -> FoldedBitStates:
        """Per-bit residue statistics of the weights, shared by every folding."""
        return self.memoized("weight_states", lambda: FoldedBitStates(
            self._weight_codes(), self.weight_datatype().bitwidth()))

    def _weight_profile(self) -> RomProfile:
        """The weight ROM as the RTL lays it out (word nf*SF+sf, PE*SIMD weights).

        The non-constant columns come from the layer's :class:`FoldedBitStates`; the
        ROM's bits are only laid out when a count that needs them is read."""
        pe, simd = self.get("PE"), self.get("SIMD")
        wbits = self.weight_datatype().bitwidth()

        def words():
            mw, mh = self.get("MW"), self.get("MH")
            sf, nf = mw // simd, mh // pe
            ordered = self._weight_codes().reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1)
            return ordered.reshape(nf * sf, pe * simd), wbits

        def columns():
            codes, _ = words()
            bits = int_bits(codes, wbits)
            return bits[:, nonconst_columns(bits)]

        def compute():
            depth = (self.get("MW") // simd) * (self.get("MH") // pe)
            nonconst = self._weight_states().nonconst(simd, pe)
            if depth <= 1:
                return RomProfile(depth, np.zeros((depth, 0), np.uint8), 0, nonconst=0)
            return RomProfile(depth, columns, nonconst=nonconst, words=words)

        return self.memoized(("weight_profile", pe, simd), compute)

    def _threshold_profile(self, acc_bits: int) -> RomProfile:
        """The threshold ROM as the RTL lays it out (word nf, PE*levels thresholds)."""
        pe = self.get("PE")
        return self.memoized(("threshold_profile", pe, acc_bits),
                             lambda: threshold_rom_profile(self.thresholds(), pe, acc_bits))

    def resources(self) -> dict[str, float]:
        prm = self._rtl_params()
        pe, simd = prm["PE"], prm["SIMD"]
        mw, mh = prm["MW"], prm["MH"]
        wbits, abits = prm["WBITS"], prm["ABITS"]
        acc, levels, obits = prm["ACCBITS"], prm["THRESHOLDS"], prm["OBITS"]
        sf, nf = mw // simd, mh // pe
        depth = sf * nf
        in_width = simd * abits
        counter_bits = sum(clog2(n) for n in (sf, nf, depth) if n > 1)
        lut = MVAU_LUT["base"] + MVAU_LUT["counter_bit"] * counter_bits
        ff = 6 + counter_bits + in_width  # valid chain, counters, input register
        if sf > 1:
            ff += 4  # first/last flags of the fold

        # Input vector buffer (NF > 1): SF words of SIMD inputs, one read/write port.
        if nf > 1:
            buf = ram_resources(sf, in_width)
            lut += buf["LUT"] + MVAU_LUT["input_bit"] * in_width
            ff += buf["FF"] + in_width + 1  # + read register and select
            bram = buf["BRAM_18K"]
        else:
            bram = 0.0

        # Weight memory: block RAM or logic, as Yosys decides (see memory.py).
        width = pe * simd * wbits
        style = self._memory_style(depth, width)
        wrom = self._weight_profile()
        if rom_in_block_ram(depth, wrom.nonconst, style):
            _, blocks, ranges = bram_mapping(depth, wrom.nonconst)
            bram += blocks
            # address ranges sharing a block's width are multiplexed after it
            lut += MVAU_LUT["bram_mux"] * wrom.nonconst * (ranges - 1)
            ff += clog2(ranges)
            visible = 1.0
        else:
            lut += MVAU_LUT["rom_piece16"] * wrom.pieces16
            ff += wrom.distinct
            # A product with a weight from a shallow ROM partly folds into the ROM
            # logic (the weight is a function of a few address bits): its cost grows
            # with log2 of the depth, in full from 256 words on.
            visible = min(1.0, math.log2(max(depth, 1)) / 8)

        # Datapath per PE: SIMD products and their sum (dfx_mvau's f_dot).
        wx = wbits + (0 if prm["W_SIGNED"] else 1)
        ax = abits + (0 if prm["A_SIGNED"] else 1)
        lanes = pe * simd
        dsp = 0.0
        if prm["W_BIPOLAR"] and prm["A_BIPOLAR"]:
            lane_luts = MVAU_LUT["xnor_lane"]  # XNOR + popcount
        elif prm["A_BIPOLAR"]:
            lane_luts = MVAU_LUT["abip_lane_bit"] * wbits  # conditional negate + sum
        elif prm["W_BIPOLAR"]:
            lane_luts = MVAU_LUT["wbip_lane_bit"] * ax
        elif self._use_dsp():
            lane_luts = 0.0  # multiplier and adder chain in the DSP slices
            dsp = float(lanes * math.ceil(max(ax, wx) / 25) * math.ceil(min(ax, wx) / 18))
        else:  # multiplier in LUTs: partial products; signed x signed costs more
            lane_luts = MVAU_LUT["mult_bit"] * ax * wx
            if prm["A_SIGNED"]:
                lane_luts += MVAU_LUT["signed_mult_bit"] * ax * wx
        lut += visible * lanes * lane_luts

        # Per PE: dot and accumulator registers, accumulator adder (SF > 1), output.
        dot_bits = self._dot_bits(prm)
        acc_regs = min(acc, dot_bits + clog2(sf)) if sf > 1 else 0
        per_pe = acc_regs if dsp else dot_bits + acc_regs
        if prm["W_BIPOLAR"] and prm["A_BIPOLAR"] and simd % 2 == 0:
            per_pe -= 1 + (1 if sf > 1 else 0)  # XNOR dot of even SIMD: LSB always 0
        ff += pe * (per_pe + obits) + 2 * pe * obits  # + 2-entry output buffer
        lut += pe * (MVAU_LUT["pe"] + MVAU_LUT["out_bit"] * obits)
        if sf > 1:
            lut += MVAU_LUT["acc_bit"] * pe * acc

        # Thresholds: a ROM of NF words (logic or block RAM), comparators per PE.
        if levels:
            compares = pe * levels * acc
            if nf > 1:
                trom = self._threshold_profile(acc)
                ff += 2 * clog2(nf)  # fold index delayed to the threshold read
                # no ram_style of its own: dfx_mvau leaves it to the tool
                if rom_in_block_ram(nf, trom.nonconst, "auto"):
                    bram += bram_mapping(nf, trom.nonconst)[1]
                else:  # in logic (a ROM of two words is only its registers)
                    ff += trom.distinct
                    if nf > 2:
                        pieces = trom.pieces64 * (1.3 if nf > 256 else 1.0)
                        lut += MVAU_LUT["rom_piece64"] * pieces
                lut += MVAU_LUT["compare_bit"] * compares
            else:  # one fold: constant thresholds
                lut += MVAU_LUT["const_compare_bit"] * compares

        weight_bits = mw * mh * wbits
        return {
            "LUT": float(round(lut)),
            "FF": float(round(ff)),
            "BRAM_18K": float(bram),
            "URAM": 0.0,  # a file-initialised ROM cannot use UltraRAM (see dfx_mvau.v)
            "DSP": dsp,
            "BRAM_efficiency": weight_bits / (bram * BRAM18_BITS) if bram else 1.0,
            "URAM_efficiency": 1.0,
        }

    @staticmethod
    def _dot_bits(prm: dict) -> int:
        """Width of the dot-product register (dfx_mvau's DW)."""
        ls = clog2(prm["SIMD"])
        ax = prm["ABITS"] + (0 if prm["A_SIGNED"] else 1)
        wx = prm["WBITS"] + (0 if prm["W_SIGNED"] else 1)
        if prm["W_BIPOLAR"] and prm["A_BIPOLAR"]:
            natural = ls + 2
        elif prm["W_BIPOLAR"] or prm["A_BIPOLAR"]:
            term = ax if prm["W_BIPOLAR"] else wx
            natural = max(term + ls, ls + 2) + 1
        else:
            natural = ax + wx + ls
        return min(natural, prm["ACCBITS"])

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
        from dfx.packing import pack_words

        pe, simd = self.get("PE"), self.get("SIMD")
        sf, nf = self.get("MW") // simd, self.get("MH") // pe
        # weights [MW, MH] = [sf, simd, nf, pe] -> word order [nf, sf], slots [pe, simd]
        ordered = self.weights().reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1)
        return pack_words(ordered, self.weight_datatype(), pe * simd)

    def threshold_words(self, acc_bits: int) -> list[int]:
        """Threshold memory words: address nf, threshold k of pe at slot pe*L+k."""
        from dfx.packing import join_codes

        t = self.thresholds()
        return join_codes(t & ((1 << acc_bits) - 1), acc_bits, self.get("PE") * t.shape[1])

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

    # -- conversion and sources (the rules this kind owns) -----------------
    @classmethod
    def match(cls, node, model, cfg):
        """A ``MatMul`` with constant integer weights, fused with the ``MultiThreshold``
        that is its only consumer (unless ``standalone_thresholds``)."""
        from onnx import helper

        from dfx.errors import UnsupportedNodeError
        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import input_vectors, node_attrs

        if node.op_type != "MatMul" or model.get_initializer(node.input[1]) is None:
            return None
        w = model.get_initializer(node.input[1])
        idt = model.get_tensor_datatype(node.input[0])
        if not idt.is_integer():
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"its input is {idt.name}, not an integer type")
        consumers = model.find_consumers(node.output[0]) or []
        mt = consumers[0] if len(consumers) == 1 else None
        fuse = (mt is not None and mt.op_type == "MultiThreshold"
                and not getattr(cfg, "standalone_thresholds", False))
        inputs = [node.input[0], node.input[1]]
        attrs = dict(MW=int(w.shape[0]), MH=int(w.shape[1]),
                     numInputVectors=input_vectors(model, node.input[0]))
        consumes = [node]
        if fuse:
            mt_attrs = node_attrs(mt)
            inputs.append(mt.input[1])
            output = mt.output[0]
            attrs.update(noActivation=0, out_scale=float(mt_attrs.get("out_scale", 1.0)),
                         out_bias=float(mt_attrs.get("out_bias", 0.0)))
            consumes.append(mt)
        else:
            output = node.output[0]
            attrs.update(noActivation=1)
        wdt = model.get_tensor_datatype(node.input[1])
        if wdt.name == "BIPOLAR" and idt.name == "BIPOLAR":
            attrs["binaryXnorMode"] = 1
        hw = helper.make_node("MVAU", inputs, [output], name=node.name, domain=HW_DOMAIN,
                              **attrs)
        return Match(nodes=[hw], consumes=consumes)

    def converted(self) -> None:
        """An MVAU without activation streams its signed accumulator: say so in its
        datatype."""
        from qonnx.core.datatype import DataType

        if self.get("noActivation"):
            bits = max(2, self.acc_dt_from_range().bitwidth())
            self.model.set_tensor_datatype(self.node.output[0], DataType[f"INT{bits}"])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_mvau.v"]
