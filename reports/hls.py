"""Readers of Vitis HLS (and Vivado HLS) C-synthesis reports, as :class:`pandas.DataFrame`.

Three formats of the same figures:

``csynth.xml`` (:func:`read_hls_csynth_xml`)
    the machine-readable report: ``<UserAssignments>``, ``<PerformanceEstimates>``,
    ``<AreaEstimates>`` for the top, and from Vitis HLS 2021 on ``<ModuleInformation>``
    with every module and ``<RTLDesignHierarchy>`` with the instance tree.
``<top>_csynth.rpt`` (:func:`read_hls_csynth_text`)
    the classic ``== Vitis HLS Report for 'top'`` text: timing, latency, loop, instance
    and utilization tables.
``csynth.rpt`` (:func:`read_hls_csynth_summary`)
    the newer ``== Synthesis Summary Report of 'top'``: one table row per module or loop.

Every table has one row per top / module / instance / loop with the columns
:data:`HLS_COLUMNS`:

``name``, ``kind``
    the row's name and ``"top"``, ``"module"`` (XML, summary), ``"instance"`` (text: a
    sub-module instance, ``name`` is the instance and ``module`` its module) or ``"loop"``;
``module``, ``parent``, ``depth``
    the module (``<NA>`` for a loop), the ``name`` of the enclosing row (``<NA>`` for the
    top) and the nesting level (0 for the top);
``latency_min``, ``latency_max``
    latency in clock cycles (best / worst case); a report that gives one figure (a loop's
    ``Latency``, the summary's ``Latency (cycles)``) fills both; ``<NA>`` for ``?``/``undef``;
``interval_min``, ``interval_max``
    initiation interval in cycles (for a pipelined loop, its achieved II);
``pipeline_type``, ``trip_count``, ``iteration_latency``, ``pipelined``
    as the report says (loops: ``trip_count`` is the maximum when it is a range);
``target_clock_ns``, ``estimated_clock_ns``, ``clock_uncertainty_ns``, ``slack_ns``
    clock figures where the report has them;
``BRAM_18K``, ``DSP``, ``FF``, ``LUT``, ``URAM``
    estimated resources (``DSP48E`` in older reports is ``DSP``); ``<NA>`` where the
    report has ``-`` or no figure (loops);
``tool`` (``"vitis_hls"``), ``tool_version``, ``part``, ``design`` (the top function),
``source`` (the file's name).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from dfx.reports import ReportError
from dfx.reports._text import (
    BoxedTable,
    boxed_tables,
    leading_number,
    number,
    read_text,
    typed_frame,
    unclosed,
)

__all__ = ["HLS_COLUMNS", "HLS_RESOURCES", "read_hls_csynth_summary", "read_hls_csynth_text",
           "read_hls_csynth_xml"]

TOOL = "vitis_hls"
HLS_RESOURCES = ("BRAM_18K", "DSP", "FF", "LUT", "URAM")
_PROVENANCE = ("tool", "tool_version", "part", "design", "source")
HLS_COLUMNS = ("name", "kind", "module", "parent", "depth",
               "latency_min", "latency_max", "interval_min", "interval_max", "pipeline_type",
               "trip_count", "iteration_latency", "pipelined",
               "target_clock_ns", "estimated_clock_ns", "clock_uncertainty_ns", "slack_ns",
               *HLS_RESOURCES, *_PROVENANCE)
_COUNTS = ("depth", "latency_min", "latency_max", "interval_min", "interval_max",
           "trip_count", "iteration_latency", *HLS_RESOURCES)
_FLOATS = ("target_clock_ns", "estimated_clock_ns", "clock_uncertainty_ns", "slack_ns")
_RESOURCE_ALIASES = {"BRAM_18K": ("BRAM_18K", "BRAM"), "DSP": ("DSP", "DSP48E", "DSP48"),
                     "FF": ("FF",), "LUT": ("LUT",), "URAM": ("URAM",)}


def _truncated(path: Path, what: str) -> ReportError:
    return ReportError(f"report file {path} is incomplete (cut short?): {what}")


def _frame(rows: list[dict]) -> pd.DataFrame:
    return typed_frame(rows, HLS_COLUMNS, counts=_COUNTS, floats=_FLOATS, flags=("pipelined",))


def _yes_no(text: str | None) -> bool | None:
    if text is None:
        return None
    value = text.strip().lower()
    return True if value in ("yes", "true", "1") else False if value in ("no", "false", "0") \
        else None


def _version(text: str | None) -> str | None:
    """``"2020.2 (Build 3064766 on ...)"`` -> ``"2020.2"``."""
    if not text:
        return None
    match = re.search(r"\d{4}\.\d+(?:\.\d+)?", text)
    return match.group(0) if match else text.strip()


# -- XML ------------------------------------------------------------------------------------


def _xml_number(element: ET.Element | None, *paths: str):
    if element is None:
        return None
    for p in paths:
        child = element.find(p)
        if child is None:
            continue
        rng = child.find("range")
        if rng is not None:  # <range><min>..</min><max>..</max></range>: the maximum
            return number(rng.findtext("max"))
        return leading_number(child.text)
    return None


def _xml_range(element: ET.Element | None, tag: str) -> tuple:
    """``(min, max)`` of ``<tag>N</tag>`` or ``<tag><range><min/><max/></range></tag>``."""
    child = element.find(tag) if element is not None else None
    if child is None:
        return None, None
    rng = child.find("range")
    if rng is not None:
        return number(rng.findtext("min")), number(rng.findtext("max"))
    value = number(child.text)
    return value, value


def _xml_resources(area: ET.Element | None) -> dict:
    resources = area.find("Resources") if area is not None else None
    out = {}
    for key, aliases in _RESOURCE_ALIASES.items():
        out[key] = _xml_number(resources, *aliases) if resources is not None else None
    return out


def _xml_performance(perf: ET.Element | None) -> dict:
    if perf is None:
        return {}
    timing = perf.find("SummaryOfTimingAnalysis")
    overall = perf.find("SummaryOfOverallLatency")
    row = {
        "estimated_clock_ns": _xml_number(timing, "EstimatedClockPeriod"),
        "latency_min": _xml_number(overall, "Best-caseLatency"),
        "latency_max": _xml_number(overall, "Worst-caseLatency"),
        "interval_min": _xml_number(overall, "Interval-min", "PipelineInitiationInterval"),
        "interval_max": _xml_number(overall, "Interval-max", "PipelineInitiationInterval"),
        "pipeline_type": (perf.findtext("PipelineType")
                          or (overall.findtext("PipelineType") if overall is not None
                              else None)),
    }
    if timing is not None and timing.find("TargetClockPeriod") is not None:
        row["target_clock_ns"] = _xml_number(timing, "TargetClockPeriod")
        row["clock_uncertainty_ns"] = _xml_number(timing, "ClockUncertainty")
    return row


def _xml_loops(container: ET.Element | None, parent: str, depth: int) -> list[dict]:
    """Loop rows under ``<SummaryOfLoopLatency>`` (nested loops are nested elements)."""
    rows: list[dict] = []
    if container is None:
        return rows
    for loop in container:
        if loop.find("TripCount") is None and loop.find("Latency") is None:
            continue
        name = loop.findtext("Name") or loop.tag
        lat_min, lat_max = _xml_range(loop, "Latency")
        ii = _xml_number(loop, "PipelineII")
        _, trips = _xml_range(loop, "TripCount")
        rows.append({
            "name": name, "kind": "loop", "module": None, "parent": parent, "depth": depth,
            "latency_min": lat_min, "latency_max": lat_max,
            "interval_min": ii, "interval_max": ii,
            "trip_count": trips,
            "iteration_latency": _xml_number(loop, "IterationLatency", "PipelineDepth"),
            "pipelined": (_yes_no(loop.findtext("PipelineType")) if loop.find("PipelineType")
                          is not None else (True if ii is not None else None)),
            "slack_ns": _xml_number(loop, "Slack"),
        })
        rows.extend(_xml_loops(loop, name, depth + 1))
    return rows


def _hierarchy(root: ET.Element) -> dict[str, tuple[str, int]]:
    """module -> (parent module, depth) from ``<RTLDesignHierarchy>`` (first occurrence)."""
    out: dict[str, tuple[str, int]] = {}

    def walk(node: ET.Element, parent: str, depth: int) -> None:
        instances = node.find("InstancesList")
        if instances is None:
            return
        for inst in instances.findall("Instance"):
            module = inst.findtext("ModuleName")
            if module:
                out.setdefault(module, (parent, depth))
                walk(inst, module, depth + 1)

    top = root.find("RTLDesignHierarchy/TopModule")
    if top is not None and top.findtext("ModuleName"):
        walk(top, top.findtext("ModuleName"), 1)
    return out


def read_hls_csynth_xml(path: Path | str) -> pd.DataFrame:
    """A Vitis HLS ``csynth.xml``: the top first, then every other module of
    ``<ModuleInformation>`` (Vitis HLS 2021+), then the loops. Columns: :data:`HLS_COLUMNS`.
    """
    path, text = read_text(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReportError(f"report file {path} is not well-formed XML ({exc}): the file may "
                          f"have been cut short") from None
    if root.tag != "profile" or root.find("UserAssignments") is None:
        raise ReportError(f"report file {path} is not a Vitis HLS csynth.xml report (no "
                          f"<profile><UserAssignments>)")
    user = root.find("UserAssignments")
    top = (user.findtext("TopModelName") or "").strip() or None
    provenance = {"tool": TOOL, "tool_version": _version(root.findtext("ReportVersion/Version")),
                  "part": user.findtext("Part"), "design": top, "source": path.name}
    clocks = {"target_clock_ns": _xml_number(user, "TargetClockPeriod"),
              "clock_uncertainty_ns": _xml_number(user, "ClockUncertainty")}
    perf = root.find("PerformanceEstimates")
    area = root.find("AreaEstimates")
    if perf is None or perf.find("SummaryOfOverallLatency") is None:
        raise ReportError(f"report file {path} has no <PerformanceEstimates> latency summary")
    if area is None or area.find("Resources") is None:
        raise ReportError(f"report file {path} has no <AreaEstimates><Resources>")
    rows = [{"name": top, "kind": "top", "module": top, "parent": None, "depth": 0,
             **clocks, **_xml_performance(perf), **_xml_resources(area)}]
    loops = _xml_loops(perf.find("SummaryOfLoopLatency"), top, 1)

    hierarchy = _hierarchy(root)
    modules = root.find("ModuleInformation")
    seen_loops = {(r["parent"], r["name"]) for r in loops}
    for module in modules.findall("Module") if modules is not None else ():
        name = module.findtext("Name")
        if not name:
            continue
        mperf = module.find("PerformanceEstimates")
        mrow = {**clocks, **_xml_performance(mperf), **_xml_resources(module.find(
            "AreaEstimates"))}
        mloops = _xml_loops(mperf.find("SummaryOfLoopLatency") if mperf is not None else None,
                            name, 0)
        if name == top:
            for key, value in mrow.items():  # the module entry is the more detailed one
                if value is not None and rows[0].get(key) is None:
                    rows[0][key] = value
            depth = 0
        else:
            parent, depth = hierarchy.get(name, (top, 1))
            rows.append({"name": name, "kind": "module", "module": name, "parent": parent,
                         "depth": depth, **mrow})
        for loop in mloops:
            loop["depth"] += depth + 1
            if (loop["parent"], loop["name"]) not in seen_loops:
                loops.append(loop)
                seen_loops.add((loop["parent"], loop["name"]))
    for row in (*rows, *loops):
        row.update(provenance)
    return _frame([*rows, *loops])


# -- text reports ----------------------------------------------------------------------------

_SECTION = re.compile(r"^== (.+?)\s*$", re.M)
_REPORT_TITLE = re.compile(r"== (?:Vitis|Vivado) HLS Report for '([^']+)'")
_SUMMARY_TITLE = re.compile(r"== Synthesis Summary Report of '([^']+)'")


def _sections(text: str) -> dict[str, str]:
    """``"Performance Estimates"`` -> its text, for the ``== Title`` sections."""
    marks = list(_SECTION.finditer(text))
    return {m.group(1): text[m.end():(marks[k + 1].start() if k + 1 < len(marks)
                                      else len(text))]
            for k, m in enumerate(marks)}


def _info(text: str) -> dict[str, str]:
    """The ``* Key: value`` lines of the report's head."""
    info: dict[str, str] = {}
    for match in re.finditer(r"^\s*\*\s*([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$", text, re.M):
        info.setdefault(match.group(1), match.group(2))
    return info


def _provenance(info: dict[str, str], top: str | None, path: Path) -> dict:
    return {"tool": TOOL, "tool_version": _version(info.get("Version")),
            "part": info.get("Target device"), "design": top, "source": path.name}


def _column(table: BoxedTable, *patterns: str) -> str | None:
    """The first column whose name matches one of ``patterns`` (regular expressions)."""
    for pattern in patterns:
        for column in table.columns:
            if re.fullmatch(pattern, column, re.I):
                return column
    return None


def _latency_fields(table: BoxedTable, record: dict[str, str]) -> dict:
    cols = {
        "latency_min": _column(table, r"Latency(?: \(cycles\))? min"),
        "latency_max": _column(table, r"Latency(?: \(cycles\))? max"),
        "interval_min": _column(table, r"Interval min", r"Initiation Interval achieved"),
        "interval_max": _column(table, r"Interval max", r"Initiation Interval achieved"),
        "pipeline_type": _column(table, r"Pipeline Type"),
        "trip_count": _column(table, r"Trip Count"),
        "iteration_latency": _column(table, r"Iteration Latency"),
        "pipelined": _column(table, r"Pipelined"),
    }
    row: dict = {}
    for key, column in cols.items():
        if column is None:
            continue
        value = record[column]
        if key == "pipeline_type":
            row[key] = value or None
        elif key == "pipelined":
            row[key] = _yes_no(value)
        elif key == "trip_count" and "~" in value:
            row[key] = number(value.split("~")[-1])
        else:
            row[key] = number(value)
    return row


def _resources(table: BoxedTable, record: dict[str, str]) -> dict:
    row = {}
    for key, aliases in _RESOURCE_ALIASES.items():
        column = next((a for a in aliases if a in table.columns), None)
        row[key] = leading_number(record[column]) if column is not None else None
    return row


def _loop_rows(table: BoxedTable, top: str) -> list[dict]:
    """The ``Loop Name`` table: ``- outer`` / `` + inner`` rows, nesting by indentation."""
    rows = []
    stack: list[tuple[int, str]] = []
    name_col = table.columns[0]
    for cells, record in zip(table.rows, table.records()):
        raw = cells[table.columns.index(name_col)]
        match = re.match(r"(\s*)[-+o*]?\s*(.*\S)", raw)
        if match is None:
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else top
        rows.append({"name": name, "kind": "loop", "module": None, "parent": parent,
                     "depth": len(stack) + 1, **_latency_fields(table, record)})
        stack.append((indent, name))
    return rows


def read_hls_csynth_text(path: Path | str) -> pd.DataFrame:
    """A ``== Vitis HLS Report for 'top'`` (or ``Vivado HLS``) text report: the top
    (timing, latency summary, utilization ``Total``), one row per sub-module instance
    (latency from the performance ``Instance`` table, resources from the utilization
    ``Instance`` table), then the loops. Columns: :data:`HLS_COLUMNS`.
    """
    path, text = read_text(path)
    title = _REPORT_TITLE.search(text)
    if title is None:
        raise ReportError(f"report file {path} is not a Vitis HLS csynth text report "
                          f"(no \"== Vitis HLS Report for '...'\" title)")
    top = title.group(1)
    sections = _sections(text)
    missing = [s for s in ("Performance Estimates", "Utilization Estimates", "Interface")
               if s not in sections]
    if missing:
        raise _truncated(path, f"it has no {', '.join(repr('== ' + m) for m in missing)} "
                               f"section")
    perf_tables = boxed_tables(sections["Performance Estimates"])
    util_tables = boxed_tables(sections["Utilization Estimates"])
    for table in (*perf_tables, *util_tables):
        if not table.closed:
            raise _truncated(path, f"a table ({' | '.join(table.columns[:3])} ...) ends "
                                   f"without its closing border")
    provenance = _provenance(_info(text.split("== Performance Estimates")[0]), top, path)

    row: dict = {"name": top, "kind": "top", "module": top, "parent": None, "depth": 0}
    timing = next((t for t in perf_tables if t.has("Clock", "Target", "Estimated")), None)
    if timing is not None and timing.rows:
        record = timing.records()[0]
        row["target_clock_ns"] = leading_number(record["Target"])
        row["estimated_clock_ns"] = leading_number(record["Estimated"])
        row["clock_uncertainty_ns"] = leading_number(record.get("Uncertainty"))
    latency = next((t for t in perf_tables if _column(t, r"Latency(?: \(cycles\))? min")
                    and not _column(t, r"Instance", r"Loop Name", r"Module")), None)
    if latency is None or not latency.rows:
        raise _truncated(path, "its Performance Estimates have no latency summary table")
    row.update(_latency_fields(latency, latency.records()[0]))

    summary = next((t for t in util_tables if t.columns and t.columns[0] == "Name"), None)
    total = None
    if summary is not None:
        total = next((r for r in summary.records() if r["Name"] == "Total"), None)
    if total is None:
        raise _truncated(path, "its Utilization Estimates have no summary 'Total' row")
    row.update(_resources(summary, total))
    rows = [row]

    inst_latency = next((t for t in perf_tables if t.has("Instance", "Module")), None)
    inst_util = next((t for t in util_tables if t.has("Instance", "Module")), None)
    instances: dict[str, dict] = {}
    for table, fields in ((inst_latency, _latency_fields), (inst_util, _resources)):
        if table is None:
            continue
        for record in table.records():
            name = record["Instance"]
            if not name or name == "Total":
                continue
            entry = instances.setdefault(name, {"name": name, "kind": "instance",
                                                "module": record["Module"] or None,
                                                "parent": top, "depth": 1})
            entry.update(fields(table, record))
    rows.extend(instances.values())

    loops = next((t for t in perf_tables if t.columns and "Loop Name" in t.columns[0]), None)
    if loops is not None:
        rows.extend(_loop_rows(loops, top))
    for r in rows:
        r.update(provenance)
    return _frame(rows)


def read_hls_csynth_summary(path: Path | str) -> pd.DataFrame:
    """A ``== Synthesis Summary Report of 'top'`` (``csynth.rpt``): one row per module
    (``+``) and loop (``o``) of its table, nesting from the indentation. Resources such as
    ``3 (~0%)`` are 3; ``-`` is ``<NA>``. The table gives one latency and one interval
    figure per row: they fill both ``*_min`` and ``*_max``. Columns: :data:`HLS_COLUMNS`.
    """
    path, text = read_text(path)
    title = _SUMMARY_TITLE.search(text)
    if title is None:
        raise ReportError(f"report file {path} is not a Vitis HLS synthesis summary report "
                          f"(no \"== Synthesis Summary Report of '...'\" title)")
    top = title.group(1)
    tables = boxed_tables(text)
    table = next((t for t in tables if t.columns and t.columns[0].startswith("Modules")), None)
    if table is None:
        raise _truncated(path, "it has no 'Modules & Loops' table")
    if not table.closed or unclosed(tables) is not None:
        raise _truncated(path, f"the 'Modules & Loops' table ends after {len(table.rows)} rows "
                               f"without its closing border")
    if not table.rows:
        raise _truncated(path, "its 'Modules & Loops' table has no rows")
    provenance = _provenance(_info(text), top, path)
    latency_col = _column(table, r"Latency \(cycles\)", r"Latency")
    interval_col = _column(table, r"Interval")
    slack_col = _column(table, r"Slack")
    rows = []
    stack: list[tuple[int, str]] = []
    for cells, record in zip(table.rows, table.records()):
        raw = cells[0]
        match = re.match(r"(\s*)((?:[+o*] )+)?\s*(.*\S)", raw)
        if match is None:
            continue
        indent, marks, name = len(match.group(1)), match.group(2) or "", match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        is_loop = "o" in marks.split()
        kind = "loop" if is_loop else ("top" if not stack else "module")
        row = {"name": name, "kind": kind, "module": None if is_loop else name,
               "parent": stack[-1][1] if stack else None, "depth": len(stack)}
        for key, column in (("latency", latency_col), ("interval", interval_col)):
            value = number(record[column]) if column else None
            if column and "~" in record[column]:
                low, high = record[column].split("~", 1)
                row[f"{key}_min"], row[f"{key}_max"] = number(low), number(high)
            else:
                row[f"{key}_min"] = row[f"{key}_max"] = value
        fields = _latency_fields(table, record)
        row["trip_count"] = fields.get("trip_count")
        row["iteration_latency"] = fields.get("iteration_latency")
        row["pipelined"] = fields.get("pipelined")
        row["slack_ns"] = number(record[slack_col]) if slack_col else None
        row.update(_resources(table, record))
        row.update(provenance)
        rows.append(row)
        stack.append((indent, name))
    return _frame(rows)
