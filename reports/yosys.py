"""Reader of Yosys ``stat -json`` output for Xilinx netlists (``synth_xilinx``), as a
:class:`pandas.DataFrame` with the same resource columns as the Vivado utilization tables.

Write the file with ``tee -q -o stat.json stat -json`` after ``synth_xilinx``. The cell
types of each module (``num_cells_by_type``) are normalised to:

``LUT``
    every LUT the design occupies, as Vivado's ``CLB LUTs`` / ``Total LUTs`` counts them:
    ``LUT_logic`` + ``LUTRAM`` + ``SRL``.
``LUT_logic``
    ``LUT1`` ... ``LUT6`` (and ``LUT6_2``) cells, plus ``INV`` cells: Vivado implements an
    inverter in a LUT1, so counting it keeps the figure comparable with Vivado's.
``LUTRAM``
    LUTs used by distributed-RAM cells, in the units of Vivado's ``LUT as Distributed RAM``
    (a ``RAM32M``/``RAM64M`` takes 4 LUTs, a ``RAM32X1D``/``RAM64X1D`` 2, a ``RAM128X1D`` 4,
    ... see :data:`LUTRAM_LUTS`); ``LUTRAM_cells`` is the plain number of such cells.
``SRL``
    ``SRL16``/``SRL16E``/``SRLC16E``/``SRLC32E`` cells (one LUT each).
``FF``
    ``FD*`` flip-flops and ``LD*`` latches (as Vivado's ``Slice Registers`` counts both).
``BRAM_18K``
    ``2 * RAMB36* + RAMB18*``, counting ``FIFO36*`` as a RAMB36 and ``FIFO18*`` as a RAMB18
    (E1, E2 and newer variants).
``URAM``
    ``URAM288*`` cells.
``DSP``
    ``DSP48*`` and ``DSP58*`` cells (``DSP48E1`` on 7-series, ``DSP48E2`` on UltraScale).
``CARRY``
    ``CARRY4`` + ``CARRY8`` cells, reported separately from the LUTs.

Yosys has no timing: there are no timing columns. ``$scopeinfo`` cells (kept by
``-flatten`` to record the hierarchy, not hardware) are counted by Yosys in ``num_cells``
but in none of the resources.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from dfx.reports import ReportError
from dfx.reports._text import read_text, typed_frame

__all__ = ["LUTRAM_LUTS", "YOSYS_COLUMNS", "normalise_cells", "read_yosys_stat"]

TOOL = "yosys"
_RESOURCES = ("LUT", "LUTRAM", "SRL", "FF", "BRAM_18K", "URAM", "DSP")
YOSYS_COLUMNS = ("module", "scope", *_RESOURCES, "LUT_logic", "CARRY", "LUTRAM_cells",
                 "num_cells",
                 "num_submodules", "tool", "tool_version", "part", "design", "source")

#: LUTs each Xilinx distributed-RAM primitive occupies (UG953 / UG974 descriptions).
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM16X1S_1": 1, "RAM16X1D": 2, "RAM16X1D_1": 2,
    "RAM32X1S": 1, "RAM32X1S_1": 1, "RAM32X1D": 2, "RAM32X1D_1": 2, "RAM32X2S": 2,
    "RAM64X1S": 1, "RAM64X1S_1": 1, "RAM64X1D": 2, "RAM64X1D_1": 2,
    "RAM128X1S": 2, "RAM128X1S_1": 2, "RAM128X1D": 4,
    "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
}
_LUT = re.compile(r"LUT[1-6](?:_2)?|INV")
_SRL = re.compile(r"SRLC?(?:16E?|32E)(?:_1)?")
_FF = re.compile(r"FD[A-Z0-9_]*|LD[A-Z0-9_]*")
_BRAM = re.compile(r"(?:RAMB|FIFO)(36|18)\w*")
_URAM = re.compile(r"URAM288\w*")
_DSP = re.compile(r"DSP(?:48|58)\w*")
_CARRY = re.compile(r"CARRY[48]")


def normalise_cells(cells: dict[str, int]) -> dict[str, int]:
    """The resources (``LUT``, ``LUTRAM``, ...; see the module docstring) of a
    ``{cell type: count}`` mapping."""
    out = dict.fromkeys((*_RESOURCES, "LUT_logic", "CARRY", "LUTRAM_cells"), 0)
    for cell, count in cells.items():
        if _LUT.fullmatch(cell):
            out["LUT_logic"] += count
        elif cell in LUTRAM_LUTS:
            out["LUTRAM"] += LUTRAM_LUTS[cell] * count
            out["LUTRAM_cells"] += count
        elif _SRL.fullmatch(cell):
            out["SRL"] += count
        elif _FF.fullmatch(cell):
            out["FF"] += count
        elif match := _BRAM.fullmatch(cell):
            out["BRAM_18K"] += (2 if match.group(1) == "36" else 1) * count
        elif _URAM.fullmatch(cell):
            out["URAM"] += count
        elif _DSP.fullmatch(cell):
            out["DSP"] += count
        elif _CARRY.fullmatch(cell):
            out["CARRY"] += count
    out["LUT"] = out["LUT_logic"] + out["LUTRAM"] + out["SRL"]
    return out


def _load(path: Path, text: str) -> dict:
    """The JSON object; the text may have log lines before it (``tee -o`` without ``-q``)."""
    start = text.find("{")
    if start < 0:
        raise ReportError(f"report file {path} holds no JSON object")
    try:
        data, _end = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise ReportError(f"report file {path} is not valid JSON ({exc.msg} at line "
                          f"{exc.lineno}): the file may have been cut short") from None
    if not isinstance(data, dict):
        raise ReportError(f"report file {path} does not hold a JSON object")
    return data


def _version(creator) -> str | None:
    match = re.match(r"Yosys (\S+)", creator or "")
    return match.group(1) if match else None


def _cells(path: Path, name: str, entry) -> dict[str, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("num_cells_by_type", {}), dict):
        raise ReportError(f"report file {path}: module {name!r} has no 'num_cells_by_type' "
                          f"object")
    cells = entry.get("num_cells_by_type", {})
    bad = {k: v for k, v in cells.items() if not isinstance(v, int) or isinstance(v, bool)}
    if bad:
        raise ReportError(f"report file {path}: module {name!r} has non-integer cell counts "
                          f"{bad}")
    return cells


def read_yosys_stat(path: Path | str) -> pd.DataFrame:
    """A Yosys ``stat -json`` file: one row per module (``scope == "module"``) and, when
    there are several, first a ``scope == "design"`` row with the whole hierarchy's
    totals (Yosys' ``design`` entry). A single module (``synth_xilinx -flatten``) gives one
    ``scope == "design"`` row.

    Columns (:data:`YOSYS_COLUMNS`): ``module`` (without Yosys' leading ``\\``), ``scope``,
    ``LUT``, ``LUTRAM``, ``SRL``, ``FF``, ``BRAM_18K``, ``URAM``, ``DSP``, ``CARRY``,
    ``LUTRAM_cells``, ``num_cells`` and ``num_submodules`` (as Yosys counts them),
    ``tool`` (``"yosys"``), ``tool_version``, ``part`` (``<NA>``: Yosys does not know the
    part), ``design`` (the top module), ``source``.

    A module's row counts its own cells only: the cells of its sub-module instances are in
    those modules' rows and in the design row.
    """
    path, text = read_text(path)
    data = _load(path, text)
    if "modules" not in data or not str(data.get("creator", "")).startswith("Yosys"):
        raise ReportError(f"report file {path} is not Yosys 'stat -json' output (no "
                          f"'creator': 'Yosys ...' and 'modules')")
    modules = data["modules"]
    if not isinstance(modules, dict) or not modules:
        raise ReportError(f"report file {path} lists no modules")
    names = {key: key.lstrip("\\") for key in modules}
    cells = {key: _cells(path, key, entry) for key, entry in modules.items()}
    # the top: the module no other module instantiates
    instantiated = {t.lstrip("\\") for c in cells.values() for t in c}
    tops = [names[k] for k in modules if names[k] not in instantiated]
    top = tops[0] if len(tops) == 1 else None
    provenance = {"tool": TOOL, "tool_version": _version(data.get("creator")), "part": None,
                  "design": top, "source": path.name}

    def row(module: str | None, scope: str, entry: dict, own: dict[str, int]) -> dict:
        module_names = set(names.values())
        primitives = {k: v for k, v in own.items() if k.lstrip("\\") not in module_names}
        return {"module": module, "scope": scope, **normalise_cells(primitives),
                "num_cells": entry.get("num_cells"),
                "num_submodules": entry.get("num_submodules"), **provenance}

    rows = []
    if len(modules) == 1:
        (key, entry), = modules.items()
        rows.append(row(names[key], "design", entry, cells[key]))
    else:
        design = data.get("design")
        if isinstance(design, dict):
            rows.append(row(top, "design", design, _cells(path, "design", design)))
        for key, entry in modules.items():
            rows.append(row(names[key], "module", entry, cells[key]))
    return typed_frame(rows, YOSYS_COLUMNS,
                       counts=(*_RESOURCES, "LUT_logic", "CARRY", "LUTRAM_cells", "num_cells",
                               "num_submodules"))
