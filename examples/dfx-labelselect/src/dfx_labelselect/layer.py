"""The ``LabelSelect`` layer kind: the indices of the K largest values of a vector.

FINN's layer of the same name ends a classifier in hardware: instead of ten (or a
thousand) logits, the host receives the index of the best class (or the K best),
a few bits per frame. Everything dfx needs to know about the kind is here:

* :meth:`LabelSelect.match`: the conversion rule. It takes an ``ArgMax`` or a
  ``TopK`` (indices only) whose input is an integer tensor, as the streamlining
  rules of :mod:`dfx_labelselect.streamline` leave them at the end of a model;
* :meth:`LabelSelect.output_shape`, :meth:`LabelSelect.execute`: the shape rule and
  the exact execution (ties go to the lower index, as ONNX resolves them);
* :meth:`LabelSelect.folding_options`: PE, the number of values compared per cycle,
  any divisor of the label count;
* :meth:`LabelSelect.cycles`, :meth:`LabelSelect.resources`: the estimates;
* :meth:`LabelSelect.generate_rtl` and :meth:`LabelSelect.rtl_sources`: a
  per-layer wrapper around ``labelselect_topk``, the Verilog library module this
  kind owns (``rtl/labelselect_topk.v``).

Node attributes (FINN's names where FINN has them): ``Labels`` (vector length),
``PE``, ``K``, ``keepdims`` (ArgMax with keepdims=0 drops the last axis),
``select_last_index`` (ArgMax's attribute: 1 picks the last of equal maxima),
``numInputVectors`` and the FIFO depths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dfx.layers import HW_DOMAIN, HWLayer, Match, RTLModule, StreamSpec

#: The library module and its file (in this package, not in dfx).
RTL_MODULE = "labelselect_topk"
RTL_FILE = Path(__file__).parent / "rtl" / f"{RTL_MODULE}.v"

#: The largest K the kind takes: the RTL compares every value with all K kept ones
#: in the cycle it arrives, so the logic grows with PE x K.
MAX_K = 16

#: LUT costs of labelselect_topk's parts, fitted (least squares, relative error) on
#: Yosys ``synth_xilinx -family xc7`` runs of the module: ``calibrate.py`` beside this
#: package, 24 configurations, Labels 2 to 1000, PE 1 to 10, K 1 to 5, 1- to 16-bit
#: values; mean error 9 %, largest 22 %. Flip-flops are counted register by register.
LUT_COST = {
    "compare_bit": 0.72,   # per value bit of each compare of a lane with a kept slot
    "move_bit": 0.67,      # per kept bit (value and index) a compare selects into its slot
    "shift_bit": 0.40,     # the same, extra for K > 1: a slot takes new, its own or the one above
    "counter_bit": 1.62,   # per bit of the word counter and the index base (NF > 1)
    "index_bit": 0.79,     # per index bit of lanes 1 .. PE-1: base + lane (NF > 1)
}


def index_datatype(labels: int):
    """The smallest unsigned type that holds every label index ``0 .. labels-1``."""
    from qonnx.core.datatype import DataType

    return DataType[f"UINT{max(1, (int(labels) - 1).bit_length())}"]


def _attr(node, name: str, default):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def selection(node, model) -> dict[str, Any] | None:
    """What an ``ArgMax`` or ``TopK`` node selects, or None if it is neither.

    Returns ``{"axis", "rank", "k", "keepdims", "select_last_index", "largest",
    "sorted", "indices", "values_used"}``: the normalized axis, the input rank, K,
    the ArgMax and TopK options, the name of the indices output, and whether a
    TopK's values output is used. ``k`` is None when a TopK's K is not a constant.
    Shared by the streamlining rules and :meth:`LabelSelect.match`, so both read the
    node the same way.
    """
    if node.op_type not in ("ArgMax", "TopK") or node.domain not in ("", "ai.onnx"):
        return None
    shape = model.get_tensor_shape(node.input[0])
    rank = len(shape) if shape else 0
    if node.op_type == "ArgMax":
        axis = int(_attr(node, "axis", 0))
        return {"axis": axis + rank if axis < 0 else axis, "rank": rank, "k": 1,
                "keepdims": int(_attr(node, "keepdims", 1)),
                "select_last_index": int(_attr(node, "select_last_index", 0)),
                "largest": 1, "sorted": 1, "indices": node.output[0], "values_used": False}
    axis = int(_attr(node, "axis", -1))
    k = model.get_initializer(node.input[1]) if len(node.input) > 1 else None
    values = node.output[0]
    values_used = bool(values) and (
        bool(model.find_consumers(values)) or values in [o.name for o in model.graph.output])
    return {"axis": axis + rank if axis < 0 else axis, "rank": rank,
            "k": None if k is None else int(np.asarray(k).reshape(-1)[0]),
            "keepdims": 1, "select_last_index": 0,
            "largest": int(_attr(node, "largest", 1)), "sorted": int(_attr(node, "sorted", 1)),
            "indices": node.output[1], "values_used": values_used}


def unsupported_selection(sel: dict, labels: int) -> str | None:
    """Why LabelSelect cannot compute the selection ``sel`` over ``labels`` values."""
    if sel["rank"] < 2 or sel["axis"] != sel["rank"] - 1:
        return "LabelSelect selects along the last axis only (the classes), after the batch"
    if sel["k"] is None:
        return "K of the TopK is not a constant"
    if not 1 <= sel["k"] <= min(labels, MAX_K):
        return f"K = {sel['k']} is outside 1 .. {min(labels, MAX_K)} for {labels} labels"
    if sel["largest"] != 1:
        return "a TopK of the smallest values (largest=0) is not a LabelSelect"
    if sel["sorted"] != 1:
        return "a TopK with sorted=0 has no defined order of its indices"
    if sel["values_used"]:
        return "LabelSelect gives the indices only, and the TopK's values output is used"
    if sel["select_last_index"] and sel["k"] != 1:
        return "select_last_index is an ArgMax option"
    return None


class LabelSelect(HWLayer):
    """Top-K class indices of ``Labels`` values; ``PE`` values compared per cycle."""

    op_type = "LabelSelect"
    attributes = {
        "Labels": (int, 0),
        "PE": (int, 1),
        "K": (int, 1),
        "keepdims": (int, 1),
        "select_last_index": (int, 0),
        "numInputVectors": (list, [1]),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "inFIFODepths", "outFIFODepths")

    # -- conversion ------------------------------------------------------------------
    @classmethod
    def match(cls, node, model, cfg) -> Match | None:
        """An ``ArgMax``/``TopK`` along the last axis of an integer tensor.

        The streamlining rules (:mod:`dfx_labelselect.streamline`) put such a node on
        the integer accumulator of the last layer when that preserves the order of
        the logits; a selection of a float tensor is not taken (it stays software).
        """
        from onnx import helper

        from dfx.errors import UnsupportedNodeError
        from dfx.plugins.convert import input_vectors

        sel = selection(node, model)
        if sel is None or not model.get_tensor_datatype(node.input[0]).is_integer():
            return None
        labels = int(model.get_tensor_shape(node.input[0])[-1])
        why = unsupported_selection(sel, labels)
        if why:
            raise UnsupportedNodeError(node.name, node.op_type, why)
        hw = helper.make_node(
            cls.op_type, [node.input[0]], [sel["indices"]], name=node.name, domain=HW_DOMAIN,
            Labels=labels, K=sel["k"], keepdims=sel["keepdims"],
            select_last_index=sel["select_last_index"],
            numInputVectors=input_vectors(model, node.input[0]))
        return Match(nodes=[hw], consumes=[node])

    def converted(self) -> None:
        """The indices are ``UINT<bits>``: the smallest type holding ``Labels - 1``."""
        self.model.set_tensor_datatype(self.node.output[0], index_datatype(self.get("Labels")))

    # -- shape rule and execution ----------------------------------------------------
    def output_shape(self) -> tuple[int, ...]:
        leading = self.input_shape()[:-1]
        return leading + (self.get("K"),) if self.get("keepdims") else leading

    def execute(self, x: np.ndarray) -> np.ndarray:
        """The indices of the K largest values along the last axis, largest first.

        Equal values keep their index order (a stable sort), so the lower index wins
        a tie, as in ONNX's ArgMax and TopK; ``select_last_index`` picks the last one.
        """
        values = np.asarray(x).astype(np.int64)
        k = self.get("K")
        if self.get("select_last_index"):
            last = values.shape[-1] - 1
            indices = (last - np.argmax(values[..., ::-1], axis=-1))[..., None]
        else:
            indices = np.argsort(-values, axis=-1, kind="stable")[..., :k]
        if not self.get("keepdims"):
            indices = indices[..., 0]
        return indices.astype(np.float32)

    # -- folding ---------------------------------------------------------------------
    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        labels = self.get("Labels")
        if pe < 1 or labels % pe:
            return f"PE={pe} does not divide Labels={labels}"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        labels = self.get("Labels")
        return [{"PE": pe} for pe in range(1, labels + 1) if labels % pe == 0]

    # -- estimates -------------------------------------------------------------------
    def _words(self) -> int:
        """Input words per vector (NF): one word of PE values per cycle."""
        return self.get("Labels") // self.get("PE")

    def _vectors(self) -> int:
        return int(np.prod(self.get("numInputVectors")))

    def cycles(self) -> int:
        """One input word per cycle: ``Labels / PE`` cycles per vector."""
        return self._words() * self._vectors()

    def _compares(self) -> int:
        """Value compares of a word: each lane with each kept slot. With one word per
        vector, lane p finds only p slots filled (the others compare with nothing)."""
        pe, k = self.get("PE"), self.get("K")
        if self._words() > 1:
            return pe * k
        return sum(min(lane, k) for lane in range(pe))

    def resources(self) -> dict[str, float]:
        """LUTs and flip-flops of ``labelselect_topk`` as Yosys (xc7) maps it.

        Flip-flops, register by register: the output word (K indices) and its valid
        flag; when a vector takes more than one word, the kept list (K values,
        indices and valid flags), the word counter and the index base. LUTs: each
        compare of a lane with a kept slot (a carry chain over the value bits) and
        the muxes that move values and indices into the slots, plus the counters and
        the lanes' index adders; the coefficients are :data:`LUT_COST`.
        """
        k = self.get("K")
        vbits = self.input_datatype().bitwidth()
        obits = index_datatype(self.get("Labels")).bitwidth()
        words = self._words()
        compares = self._compares()
        kept_bits = vbits + obits
        lut = compares * (LUT_COST["compare_bit"] * vbits + LUT_COST["move_bit"] * kept_bits)
        if k > 1:
            lut += compares * LUT_COST["shift_bit"] * kept_bits
        ff = k * obits + 1
        if words > 1:
            counter_bits = max(1, (words - 1).bit_length()) + obits
            ff += k * (kept_bits + 1) + counter_bits
            lut += (LUT_COST["counter_bit"] * counter_bits
                    + LUT_COST["index_bit"] * obits * (self.get("PE") - 1))
        return {"LUT": float(round(lut)), "FF": float(ff), "BRAM_18K": 0.0, "URAM": 0.0,
                "DSP": 0.0}

    # -- streams and code generation -------------------------------------------------
    def input_stream(self) -> StreamSpec:
        return StreamSpec(self.get("PE"), self.input_datatype(),
                          self._words() * self._vectors())

    def output_stream(self) -> StreamSpec:
        return StreamSpec(self.get("K"), self.output_datatype(), self._vectors())

    def rtl_parameters(self) -> dict[str, int]:
        """The parameters of ``labelselect_topk`` for this layer."""
        idt = self.input_datatype()
        return {
            "LABELS": self.get("Labels"), "PE": self.get("PE"), "K": self.get("K"),
            "IBITS": idt.bitwidth(),
            # BIPOLAR travels as its 1-bit code (1 = +1), which orders as unsigned
            "I_SIGNED": int(idt.signed() and idt.name != "BIPOLAR"),
            "OBITS": self.output_datatype().bitwidth(),
            "TIES_TO_LAST": self.get("select_last_index"),
        }

    def generate_rtl(self, out_dir) -> RTLModule:
        """``<layer>.v``: this layer's parameters on ``labelselect_topk``."""
        from dfx.plugins.rtlgen import write_wrapper

        params = self.rtl_parameters()
        wrapper = write_wrapper(Path(out_dir), self.name, RTL_MODULE, params,
                                self.input_stream().width, self.output_stream().width)
        return RTLModule(self.name, [wrapper], [RTL_MODULE])

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        return [RTL_FILE]
