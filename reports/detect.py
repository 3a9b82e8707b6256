"""Which report a file is, found from its content (never its name), and one entry point,
:func:`read_report`, that reads any kind dfx knows into a :class:`pandas.DataFrame`.

The kinds (:data:`REPORT_KINDS`):

=================================== ==========================================================
kind                                content
=================================== ==========================================================
``vivado_utilization``              ``report_utilization`` (flat)
``vivado_utilization_hierarchical`` ``report_utilization -hierarchical``
``vivado_timing_summary``           ``report_timing_summary``
``vivado_log``                      a Vivado / Vitis HLS log (``vivado.log``, ``runme.log``)
``vitis_hls_csynth_xml``            Vitis HLS ``csynth.xml``
``vitis_hls_csynth_text``           ``== Vitis HLS Report for 'top'`` (``top_csynth.rpt``)
``vitis_hls_csynth_summary``        ``== Synthesis Summary Report of 'top'`` (``csynth.rpt``)
``yosys_stat_json``                 Yosys ``stat -json``
``dfx_estimate_resources``          ``report/estimate_layer_resources.json``
``dfx_estimate_cycles``             ``report/estimate_layer_cycles.json``
``dfx_estimate_network``            ``report/estimate_network_performance.json``
``dfx_rtlsim_performance``          ``report/rtlsim_performance.json``
``dfx_ooc_synth``                   ``report/ooc_synth_and_timing.json``
``dfx_post_synth_resources``        ``report/post_synth_resources.json``
``dfx_time_per_step``               ``time_per_step.json``
``dfx_verify_results``              ``report/verify_results.json``
=================================== ==========================================================

A missing, empty or unrecognised file raises :class:`~dfx.reports.ReportError` naming it;
so does a file cut short (the readers check that every section and table is complete).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dfx.reports import ReportError
from dfx.reports._text import read_text, typed_frame, vivado_header
from dfx.reports.hls import read_hls_csynth_summary, read_hls_csynth_text, read_hls_csynth_xml
from dfx.reports.synth import TOP_KEY, post_synth_table
from dfx.reports.vivado import (
    read_vivado_log,
    read_vivado_timing_summary,
    read_vivado_utilization,
    read_vivado_utilization_hierarchical,
)
from dfx.reports.yosys import read_yosys_stat

__all__ = ["REPORT_KINDS", "detect_report_kind", "read_report"]

_HEAD = 16384  # characters of a text report looked at to find its kind
_LOG_MESSAGE = re.compile(r"^(?:ERROR|CRITICAL WARNING|WARNING|INFO): \[[^\]]+\]", re.M)
_LOG_BANNER = re.compile(r"^(?:#|\*{4,}) (?:Vivado|Vitis HLS|Vitis|Vivado HLS) v?\d{4}\.\d", re.M)
_RESOURCE_KEYS = {"LUT", "FF", "BRAM_18K", "URAM", "DSP"}
#: A hardware layer's name: its kind and an index (MVAU_0, Thresholding_hls_2).
_LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_\d+$")


def _json_kind(path: Path, text: str) -> str:
    start = text.lstrip()
    if '"creator"' in text[:_HEAD] and re.search(r'"creator"\s*:\s*"Yosys', text[:_HEAD]):
        if re.search(r'"invocation"\s*:\s*"stat\b', text[:_HEAD]) or '"num_cells"' in text:
            return "yosys_stat_json"
        raise ReportError(f"report file {path} is a Yosys JSON netlist (write_json), not a "
                          f"'stat -json' report")
    try:
        data = json.loads(start)
    except json.JSONDecodeError as exc:
        raise ReportError(f"report file {path} looks like JSON but is not valid JSON "
                          f"({exc.msg} at line {exc.lineno}): it may have been cut short") \
            from None
    if not isinstance(data, dict) or not data:
        raise ReportError(f"report file {path} holds JSON that is not a report dfx knows")
    values = list(data.values())
    if "LUT" in data and "tool" in data and not isinstance(data["LUT"], dict):
        return "dfx_ooc_synth"
    if TOP_KEY in data and all(isinstance(v, dict) for v in values):
        return "dfx_post_synth_resources"
    if {"runtime[ms]", "cycles"} <= data.keys() and any("throughput" in k for k in data):
        return "dfx_rtlsim_performance"
    if {"critical_path_cycles", "max_cycles"} <= data.keys():
        return "dfx_estimate_network"
    if all(isinstance(v, dict) for v in values):
        if any(_RESOURCE_KEYS & v.keys() for v in values):
            return "dfx_estimate_resources"
        if all("verdict" in v for v in values):
            return "dfx_verify_results"
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numbers and all(k.startswith("step_") for k in data):
        return "dfx_time_per_step"
    if numbers and all(isinstance(v, int) for v in values):
        # a layer-cycles table names layers (MVAU_0, FINN's MVAU_hls_0) and counts cycles:
        # any object of integers is not one
        odd = [k for k in data if not _LAYER_NAME.match(k)]
        if odd:
            names = ", ".join(map(repr, odd[:3])) + (", ..." if len(odd) > 3 else "")
            verb = "is not a layer name" if len(odd) == 1 else "are not layer names"
            raise ReportError(
                f"report file {path} holds a JSON object of integers, but not a layer-cycles "
                f"table (estimate_layer_cycles.json): {names} {verb} such as MVAU_0")
        negative = [k for k, v in data.items() if v < 0]
        if negative:
            raise ReportError(f"report file {path}: layer {negative[0]!r} has "
                              f"{data[negative[0]]} cycles; a layer-cycles table counts "
                              f"cycles >= 0")
        return "dfx_estimate_cycles"
    raise ReportError(f"report file {path} holds JSON that is not a report dfx knows "
                      f"(keys: {', '.join(list(data)[:6])}{', ...' if len(data) > 6 else ''})")


def _detect(path: Path, text: str) -> str:
    head = text[:_HEAD]
    stripped = head.lstrip()
    if stripped.startswith("<"):
        if re.search(r"<profile\b", head) and ("<UserAssignments>" in head
                                               or "<ReportVersion>" in head):
            return "vitis_hls_csynth_xml"
        raise ReportError(f"report file {path} is XML that is not a Vitis HLS csynth.xml")
    if stripped.startswith(("{", "[")) or re.search(r'^\s*"creator"\s*:\s*"Yosys', head, re.M):
        return _json_kind(path, text)
    if re.search(r"^== (?:Vitis|Vivado) HLS Report for '", head, re.M):
        return "vitis_hls_csynth_text"
    if re.search(r"^== Synthesis Summary Report of '", head, re.M):
        return "vitis_hls_csynth_summary"
    first = stripped.split("\n", 1)[0]
    is_vivado_report = first.startswith("Copyright") and "Xilinx" in first
    if is_vivado_report:
        command = vivado_header(head).get("Command", "")
        if "report_utilization" in command or "Utilization Design Information" in head:
            hierarchical = "-hierarchical" in command or "Utilization by Hierarchy" in head
            return "vivado_utilization_hierarchical" if hierarchical else "vivado_utilization"
        if "report_timing_summary" in command or "Timing Summary Report" in head:
            return "vivado_timing_summary"
        what = f" (Command: {command})" if command else ""
        raise ReportError(f"report file {path} is a Vivado report of a kind dfx does not "
                          f"read{what}")
    if _LOG_BANNER.search(head) or _LOG_MESSAGE.search(text):
        return "vivado_log"
    raise ReportError(f"report file {path} is not a report dfx knows (not a Vivado, Vitis "
                      f"HLS, Yosys or dfx report)")


def detect_report_kind(path: Path | str) -> str:
    """The kind of report in ``path`` (one of :data:`REPORT_KINDS`), from its content.

    :class:`ReportError` naming the file when it does not exist, is empty or binary, or
    holds nothing dfx knows.
    """
    path, text = read_text(path)
    return _detect(path, text)


# -- dfx's own JSON reports ------------------------------------------------------------------

_ESTIMATE_TOOL = "dfx-estimate"


def _json(path: Path) -> dict:
    from dfx.reports import read_json_report

    return read_json_report(path)


def _read_estimate_resources(path: Path) -> pd.DataFrame:
    """``layer``, the resources of each layer (``total`` left out), ``tool``, ``source``."""
    data = _json(path)
    rows, keys = [], ["LUT", "FF", "BRAM_18K", "URAM", "DSP"]
    for layer, res in data.items():
        if layer == "total":
            continue
        if not isinstance(res, dict):
            raise ReportError(f"report file {path}: entry {layer!r} is not an object")
        keys += [k for k in res if k not in keys]
        rows.append({"layer": layer, **res})
    for row in rows:
        row.update(tool=_ESTIMATE_TOOL, source=path.name)
    ints = [k for k in keys if all(isinstance(r.get(k), int | None) for r in rows)]
    return typed_frame(rows, ["layer", *keys, "tool", "source"], counts=ints,
                       floats=[k for k in keys if k not in ints])


def _read_one_row(path: Path, tool: str) -> pd.DataFrame:
    data = _json(path)
    return pd.DataFrame([{**data, "tool": tool, "source": path.name}])


def _read_cycles(path: Path) -> pd.DataFrame:
    data = _json(path)
    rows = [{"layer": k, "cycles": v, "tool": _ESTIMATE_TOOL, "source": path.name}
            for k, v in data.items()]
    return typed_frame(rows, ["layer", "cycles", "tool", "source"], counts=["cycles"])


def _read_steps(path: Path) -> pd.DataFrame:
    data = _json(path)
    rows = [{"step": k, "seconds": v} for k, v in data.items()]
    return typed_frame(rows, ["step", "seconds"], floats=["seconds"])


def _read_verify(path: Path) -> pd.DataFrame:
    data = _json(path)
    rows = [{"check": k, **v} for k, v in data.items()]
    columns = list(dict.fromkeys(c for r in rows for c in r))
    return pd.DataFrame(rows, columns=columns)


def _read_ooc(path: Path) -> pd.DataFrame:
    data = _json(path)
    row = {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in data.items()}
    row.setdefault("source", path.name)
    return pd.DataFrame([row])


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "vivado_utilization": read_vivado_utilization,
    "vivado_utilization_hierarchical": read_vivado_utilization_hierarchical,
    "vivado_timing_summary": read_vivado_timing_summary,
    "vivado_log": lambda p: read_vivado_log(Path(p)),
    "vitis_hls_csynth_xml": read_hls_csynth_xml,
    "vitis_hls_csynth_text": read_hls_csynth_text,
    "vitis_hls_csynth_summary": read_hls_csynth_summary,
    "yosys_stat_json": read_yosys_stat,
    "dfx_estimate_resources": _read_estimate_resources,
    "dfx_estimate_cycles": _read_cycles,
    "dfx_estimate_network": lambda p: _read_one_row(p, _ESTIMATE_TOOL),
    "dfx_rtlsim_performance": lambda p: _read_one_row(p, "dfx-rtlsim"),
    "dfx_ooc_synth": _read_ooc,
    "dfx_post_synth_resources": post_synth_table,
    "dfx_time_per_step": _read_steps,
    "dfx_verify_results": _read_verify,
}
#: Every kind :func:`detect_report_kind` returns.
REPORT_KINDS = tuple(_READERS)


def read_report(path: Path | str, kind: str | None = None) -> pd.DataFrame:
    """The table of any report dfx knows, read by the reader of its kind
    (:func:`detect_report_kind`): see :mod:`dfx.reports.vivado`, :mod:`dfx.reports.hls`,
    :mod:`dfx.reports.yosys` for the columns. ``vivado_log`` gives the ``ERROR`` and
    ``CRITICAL WARNING`` messages. ``kind`` (one of :data:`REPORT_KINDS`) skips the
    detection when the caller has already made it.
    """
    path = Path(path)
    if kind is None:
        kind = detect_report_kind(path)
    elif kind not in _READERS:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(_READERS)}")
    return _READERS[kind](path)
