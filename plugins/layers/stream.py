"""The stream units stitching puts between layers: FIFO and width converter.

They are not graph nodes; stitching instantiates them on the streams of the
codegen manifest. Each owns its library file (:meth:`rtl_sources`), as a layer
kind does, and says how it is parameterized.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


class StreamUnit:
    """A library module with FINN's stream ports, instantiated by the stitcher."""

    #: The library module's name.
    module: ClassVar[str] = ""
    #: ``"fifo"`` or ``"dwc"``: the stage kind in ``stitch.json``.
    kind: ClassVar[str] = ""

    @classmethod
    def rtl_sources(cls) -> list[Path]:
        """The library Verilog files of this unit."""
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / f"{cls.module}.v"]


class StreamingFIFO(StreamUnit):
    """``dfx_fifo``: a FIFO of ``DEPTH`` words of ``WIDTH`` bits (and its occupancy)."""

    module = "dfx_fifo"
    kind = "fifo"

    @staticmethod
    def params(width: int, depth: int, ram_style: str = "auto") -> dict[str, Any]:
        return {"WIDTH": int(width), "DEPTH": int(depth), "RAM_STYLE": ram_style}


class WidthConverter(StreamUnit):
    """``dfx_dwc``: repacks a stream of ``IN_ELEMS`` into ``OUT_ELEMS`` elements a word."""

    module = "dfx_dwc"
    kind = "dwc"

    @staticmethod
    def needed(src: dict, dst: dict) -> bool:
        """Whether streams sides ``src`` -> ``dst`` (manifest stream sides) differ."""
        return src["elems"] != dst["elems"]

    @staticmethod
    def params(src: dict, dst: dict) -> dict[str, Any]:
        from qonnx.core.datatype import DataType

        src_bits = DataType[src["datatype"]].bitwidth()
        if src_bits != DataType[dst["datatype"]].bitwidth():
            raise ValueError(f"stream datatypes differ between layers ({src['datatype']} "
                             f"-> {dst['datatype']})")
        return {"IN_ELEMS": src["elems"], "OUT_ELEMS": dst["elems"], "EBITS": src_bits,
                "TOTAL_ELEMS": src["elems"] * src["words_per_frame"]}


#: The stream units stitching uses.
STREAM_UNITS = (StreamingFIFO, WidthConverter)
