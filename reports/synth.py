"""Synthesis results of a build: the two JSON files FINN users know, and their tables.

``report/ooc_synth_and_timing.json``
    the out-of-context synthesis of the whole accelerator, one object with FINN's keys:
    ``LUT``, ``LUTRAM``, ``FF``, ``SRL``, ``DSP``, ``BRAM`` (36 Kb tiles, an 18 Kb block
    counting half), ``BRAM_18K`` and ``BRAM_36K`` (the numbers of RAMB18 and RAMB36
    primitives, as FINN counts them: not the 18 Kb equivalents of the tables), ``URAM``,
    ``Carry``, and, from Vivado only, ``WNS``, ``Delay`` (the clock period minus WNS),
    ``fmax_mhz`` and ``estimated_throughput_fps`` (fmax over the slowest layer's cycles),
    plus ``TNS``, ``WHS``, ``THS`` and ``timing_met`` from the timing summary.
    dfx adds ``tool`` (``vivado`` or ``yosys``), ``tool_version``, ``part``,
    ``clk_period_ns`` and ``sources`` (the report files the figures come from). Yosys
    gives no timing, so a Yosys file has no timing keys at all: dfx never writes a figure
    that no tool produced.
``report/post_synth_resources.json``
    per layer, the resources of its instance after synthesis (Vivado's hierarchical
    utilization, or Yosys run on the layer's module): ``{"MVAU_0": {"LUT": ..., ...},
    ..., "(top)": {...}}``. Each entry has ``LUT``, ``LUTRAM``, ``SRL``, ``FF``,
    ``BRAM_18K`` (18 Kb equivalents: a RAMB36 counts two), ``URAM``, ``DSP``, ``tool`` and
    ``source``.

:func:`synth_layer_table` reads the second file into the per-layer table that
``dfx report`` merges beside the estimates (columns suffixed ``_synth``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from dfx.reports import POST_SYNTH_FILE, ReportError, read_json_report
from dfx.reports._text import typed_frame
from dfx.reports.vivado import UTILIZATION_COLUMNS

__all__ = [
    "SYNTH_RESOURCES",
    "TOP_KEY",
    "layer_resources_from_hierarchy",
    "ooc_from_vivado",
    "post_synth_resources",
    "post_synth_table",
    "synth_layer_table",
]

TOP_KEY = "(top)"
SYNTH_RESOURCES = UTILIZATION_COLUMNS  # the same columns as every synthesis table


def _count(value) -> int | float | None:
    """A table cell as a JSON number (NA -> None; whole floats -> int)."""
    if value is None or value is pd.NA:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _resources(row: Mapping) -> dict:
    return {kind: _count(row.get(kind)) for kind in SYNTH_RESOURCES}


# -- post_synth_resources.json -----------------------------------------------------------


def layer_resources_from_hierarchy(table: pd.DataFrame, layers: Iterable[str],
                                   top_module: str = "dfx_top") -> dict[str, dict]:
    """Per-layer resources from a Vivado hierarchical utilization table
    (:func:`dfx.reports.read_vivado_utilization_hierarchical`).

    A layer is the shallowest instance named like it (the stitched top names each layer's
    instance after the layer) below the accelerator: the instance of ``top_module`` (in a
    shell's block design) or, out of context, the report's top. The accelerator's own row is
    ``(top)``. A layer that is not in the report is left out (Vivado may have optimised it
    away); the caller decides whether that is an error.
    """
    rows = table[~table["is_self"].astype(bool)]
    accel = rows[rows["module"].astype(str).str.fullmatch(rf"{top_module}(_\d+)?|.*_{top_module}")]
    if accel.empty:
        accel = rows[rows["depth"] == 0]
    if accel.empty:
        raise ReportError(f"hierarchical utilization report {table['source'].iloc[0]!s} has no "
                          f"top row")
    accel_row = accel.sort_values("depth").iloc[0]
    prefix = f"{accel_row['path']}/" if accel_row["depth"] > 0 else ""
    result: dict[str, dict] = {}
    for layer in layers:
        candidates = rows[(rows["instance"] == layer)
                          & rows["path"].astype(str).str.startswith(prefix)]
        if not candidates.empty:
            result[layer] = _resources(candidates.sort_values("depth").iloc[0])
    result[TOP_KEY] = _resources(accel_row)
    return result


def post_synth_resources(per_instance: Mapping[str, Mapping], tool: str,
                         source: str | Mapping[str, str]) -> dict:
    """The ``post_synth_resources.json`` object: ``per_instance`` (layer name or ``(top)``
    -> resources) with ``tool`` and ``source`` (one file name, or one per instance) added."""
    out = {}
    for name, res in per_instance.items():
        src = source.get(name) if isinstance(source, Mapping) else source
        out[name] = {**_resources(res), "tool": tool, "source": src}
    return out


def post_synth_table(path: Path, *, keep_top: bool = True) -> pd.DataFrame:
    """A ``post_synth_resources.json`` file as a table: ``layer`` (``(top)`` included with
    ``keep_top``), the resources, ``tool``, ``source``."""
    path = Path(path)
    data = read_json_report(path)
    rows = []
    for layer, entry in data.items():
        if not isinstance(entry, dict):
            raise ReportError(f"report file {path}: entry {layer!r} is not an object")
        if layer == TOP_KEY and not keep_top:
            continue
        rows.append({"layer": layer, **_resources(entry), "tool": entry.get("tool"),
                     "source": entry.get("source") or path.name})
    return typed_frame(rows, ["layer", *SYNTH_RESOURCES, "tool", "source"],
                       counts=list(SYNTH_RESOURCES))


def synth_layer_table(build_dir: Path) -> pd.DataFrame | None:
    """``report/post_synth_resources.json`` as a per-layer table (``(top)`` left out);
    ``None`` if the build has no such file."""
    path = Path(build_dir) / POST_SYNTH_FILE
    return post_synth_table(path, keep_top=False) if path.is_file() else None


# -- ooc_synth_and_timing.json ------------------------------------------------------------


def ooc_from_vivado(flat: pd.DataFrame, timing: pd.DataFrame, *, clk_period_ns: float,
                    max_cycles: int | None, folder: str) -> dict:
    """FINN's ``ooc_synth_and_timing.json`` from Vivado's flat utilization table and timing
    summary table (:func:`dfx.reports.read_vivado_utilization`,
    :func:`dfx.reports.read_vivado_timing_summary`) of the out-of-context run."""
    u = flat.iloc[0]
    design = timing[timing["scope"] == "design"] if "scope" in timing else timing
    t = (design if not design.empty else timing).iloc[0]
    wns = _count(t.get("WNS"))
    ramb18, ramb36 = _count(u.get("RAMB18")) or 0, _count(u.get("RAMB36")) or 0
    out = {
        "vivado_proj_folder": folder,
        "LUT": _count(u["LUT"]), "LUTRAM": _count(u["LUTRAM"]), "FF": _count(u["FF"]),
        "SRL": _count(u["SRL"]), "DSP": _count(u["DSP"]),
        "BRAM": ramb36 + ramb18 / 2, "BRAM_18K": ramb18, "BRAM_36K": ramb36,
        "URAM": _count(u["URAM"]), "Carry": _count(u.get("CARRY")),
        "WNS": wns,
        # the rest of the timing summary's design figures (dfx's additions to FINN's keys)
        "TNS": _count(t.get("TNS")), "WHS": _count(t.get("WHS")), "THS": _count(t.get("THS")),
        "timing_met": _count(t.get("timing_met")),
    }
    if wns is not None:
        delay = clk_period_ns - wns
        out["Delay"] = delay
        fmax = 1000.0 / delay if delay > 0 else math.inf
        out["fmax_mhz"] = fmax
        if max_cycles:
            out["estimated_throughput_fps"] = fmax * 1e6 / max_cycles
    out.update(tool="vivado", tool_version=_count(u.get("tool_version")),
               part=_count(u.get("part")), clk_period_ns=clk_period_ns,
               sources=[str(u.get("source")), str(t.get("source"))])
    return out
