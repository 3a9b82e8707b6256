"""Thresholding: a standalone multi-threshold activation on a stream of channels.

Used where an activation is not preceded by a MatMul (a requantizer on the
input, for example) or when ``standalone_thresholds`` asks for thresholds
outside the MVAU. Each of ``NumChannels`` channels maps its integer input to
``out_scale * count(x >= T[c, :]) + out_bias``; ``PE`` channels are processed
per cycle.

Node inputs: ``x`` and the thresholds ``T[NumChannels, levels-1]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.datatypes import signed_bits
from dfx.plugins.layers.memory import (
    CALIBRATION,
    RomProfile,
    bram_mapping,
    clog2,
    divisors,
    logic_rom_outside_calibration,
    rom_in_block_ram,
    threshold_rom_profile,
)

#: LUT costs of dfx_thresholding's parts, fitted on Yosys synth_xilinx -family xc7 runs
#: (27 layers: the shipped models' thresholds and generated ones, PE 1 to 8, 1 to 15
#: thresholds of 6 to 13 bits).
THRESHOLDING_LUT = {
    "base": 1.7,               # stream handshake
    "rom_piece16": 1.3,        # per distinct 16-word piece of a threshold bit in logic
    "compare_bit": 0.45,       # per threshold bit compared with a variable threshold
    "const_compare_bit": 1.5,  # per threshold bit compared with a constant (NF = 1)
}


class Thresholding(HWLayer):
    op_type = "Thresholding"
    attributes = {
        "NumChannels": (int, 0),
        "PE": (int, 1),
        "out_scale": (float, 1.0),
        "out_bias": (float, 0.0),
        "ram_style": (str, "distributed"),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "ram_style", "inFIFODepths", "outFIFODepths")

    def thresholds(self) -> np.ndarray:
        return self.model.get_initializer(self.node.input[1]).astype(np.int64)

    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape()

    def execute(self, x: np.ndarray) -> np.ndarray:
        t = self.thresholds()
        count = (np.asarray(x).astype(np.int64)[..., None] >= t).sum(axis=-1)
        return (self.get("out_scale") * count + self.get("out_bias")).astype(np.float32)

    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        if self.get("NumChannels") % pe:
            return f"PE={pe} does not divide NumChannels={self.get('NumChannels')}"
        if folding.get("ram_style", "distributed") not in ("distributed", "block", "auto"):
            return "ram_style must be distributed, block or auto"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        return [{"PE": pe, "ram_style": style} for pe in divisors(self.get("NumChannels"))
                for style in ("distributed", "block")]

    def calibration_issues(self) -> list[str]:
        """Why this layer's folding lies outside the estimates' calibration region
        (:data:`dfx.plugins.layers.memory.CALIBRATION`); empty when it is inside."""
        region = CALIBRATION["Thresholding"]
        pe = self.get("PE")
        issues = [f"PE {pe} > {region['max_pe']}"] if pe > region["max_pe"] else []
        nf = self.get("NumChannels") // pe
        if nf > 1:
            rom = logic_rom_outside_calibration(
                nf, self._threshold_profile(self._rtl_threshold_bits()).nonconst,
                self.get("ram_style"))
            if rom:
                issues.append(rom)
        return issues

    def cycles(self) -> int:
        vectors = int(np.prod(self.get("numInputVectors")))
        return self.get("NumChannels") // self.get("PE") * vectors

    def _threshold_bits(self) -> int:
        t = self.thresholds()
        idt = self.input_datatype()
        lo, hi = min(int(t.min()), int(idt.min())), max(int(t.max()), int(idt.max()))
        return signed_bits(lo, hi)

    def _rtl_threshold_bits(self) -> int:
        """TBITS of dfx_thresholding (what generate_rtl passes)."""
        return max(self._threshold_bits(), self.input_datatype().bitwidth() + 1)

    def _threshold_profile(self, tbits: int) -> RomProfile:
        pe = self.get("PE")
        return self.memoized(("threshold_profile", pe, tbits),
                             lambda: threshold_rom_profile(self.thresholds(), pe, tbits))

    def resources(self) -> dict[str, float]:
        """What Yosys' synth_xilinx (7-series, flattened) makes of dfx_thresholding.v,
        calibrated with benchmarks/bench_calibrate_estimates.py.

        The thresholds are a ROM of NF = NumChannels/PE words placed as ``ram_style``
        says: block RAM for block, logic for distributed, and for auto (no attribute)
        block RAM when Yosys finds that cheaper than logic (see memory.py); logic is
        addressed by the
        channel counter, one LUT per distinct 16-word piece of a threshold bit (x1.3,
        fitted). Each PE compares its input with every threshold (x >= T over TBITS
        bits: a carry chain, about half a LUT per bit; a constant threshold when NF = 1
        costs more per bit as the compare becomes plain logic) and counts the hits.
        Flip-flops are counted register by register.
        """
        pe = self.get("PE")
        levels = self.thresholds().shape[1]
        tbits = self._rtl_threshold_bits()
        ibits = self.input_datatype().bitwidth()
        obits = self.output_datatype().bitwidth()
        nf = self.get("NumChannels") // pe
        compares = pe * levels * tbits
        lut = THRESHOLDING_LUT["base"]
        ff = 4 + pe * ibits + 3 * pe * obits  # valid/buffer flags, input, output + buffer
        bram = 0.0
        if nf > 1:
            ff += clog2(nf)  # channel counter
            rom = self._threshold_profile(tbits)
            if rom_in_block_ram(nf, rom.nonconst, self.get("ram_style")):
                bram = float(bram_mapping(nf, rom.nonconst)[1])
            else:
                ff += rom.distinct  # the registered read (equal columns merge)
                if nf > 2:
                    lut += THRESHOLDING_LUT["rom_piece16"] * rom.pieces16
            lut += THRESHOLDING_LUT["compare_bit"] * compares
        else:
            lut += THRESHOLDING_LUT["const_compare_bit"] * compares
        return {
            "LUT": float(round(lut)),
            "FF": float(ff),
            "BRAM_18K": bram,
            "URAM": 0.0,
            "DSP": 0.0,
            "BRAM_efficiency": 1.0,
            "URAM_efficiency": 1.0,
        }

    def op_and_param_counts(self) -> dict[str, int]:
        t = self.thresholds()
        return {f"param_threshold_{self.input_datatype().name}": int(t.size)}

    # -- code generation ---------------------------------------------------
    def input_stream(self) -> StreamSpec:
        vectors = int(np.prod(self.get("numInputVectors")))
        pe = self.get("PE")
        return StreamSpec(pe, self.input_datatype(), self.get("NumChannels") // pe * vectors)

    def output_stream(self) -> StreamSpec:
        vectors = int(np.prod(self.get("numInputVectors")))
        pe = self.get("PE")
        return StreamSpec(pe, self.output_datatype(), self.get("NumChannels") // pe * vectors)

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.packing import join_codes
        from dfx.plugins.rtlgen import write_memory, write_wrapper

        out_dir = Path(out_dir)
        idt, odt = self.input_datatype(), self.output_datatype()
        t = self.thresholds()
        pe, levels = self.get("PE"), t.shape[1]
        tbits = self._rtl_threshold_bits()
        # word j: threshold k of channel j*PE+p at slot p*levels+k
        words = join_codes(t & ((1 << tbits) - 1), tbits, pe * levels)
        tfile = write_memory(out_dir / f"{self.name}_thresholds.dat", words, pe * levels * tbits)
        params = {
            "CHANNELS": self.get("NumChannels"), "PE": pe, "IBITS": idt.bitwidth(),
            "I_SIGNED": int(idt.signed() and idt.name != "BIPOLAR"),
            "I_BIPOLAR": int(idt.name == "BIPOLAR"), "THRESHOLDS": levels,
            "TBITS": tbits, "OBITS": odt.bitwidth(),
            "OUT_BIAS": 0 if odt.name == "BIPOLAR" else int(self.get("out_bias")),
            "THRESH_FILE": tfile.name, "RAM_STYLE": self.get("ram_style"),
        }
        wrapper = write_wrapper(out_dir, self.name, "dfx_thresholding", params,
                                self.input_stream().width, pe * odt.bitwidth())
        return RTLModule(self.name, [wrapper, tfile], ["dfx_thresholding"])

    # -- conversion and sources (the rules this kind owns) -----------------
    @classmethod
    def match(cls, node, model, cfg):
        """A ``MultiThreshold`` that no MVAU took (one before any MatMul, or every one
        with ``standalone_thresholds``)."""
        from onnx import helper

        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import input_vectors, node_attrs

        if node.op_type != "MultiThreshold":
            return None
        mt_attrs = node_attrs(node)
        t = model.get_initializer(node.input[1])
        hw = helper.make_node(
            "Thresholding", list(node.input[:2]), [node.output[0]], name=node.name,
            domain=HW_DOMAIN, NumChannels=int(t.shape[0]),
            numInputVectors=input_vectors(model, node.input[0]),
            out_scale=float(mt_attrs.get("out_scale", 1.0)),
            out_bias=float(mt_attrs.get("out_bias", 0.0)))
        return Match(nodes=[hw], consumes=[node])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_thresholding.v"]
