"""Readers of Vivado's text reports and logs, as normalised :class:`pandas.DataFrame` tables.

Utilization (``report_utilization``), flat and ``-hierarchical``
    :func:`read_vivado_utilization` (one row for the whole design) and
    :func:`read_vivado_utilization_hierarchical` (one row per instance). Both have the
    normalised resource columns :data:`UTILIZATION_COLUMNS`:

    ``LUT``
        LUTs in use: ``Slice LUTs`` (7-series) / ``CLB LUTs`` (UltraScale) *Used*;
        ``Total LUTs`` in hierarchical reports. Logic and memory LUTs together.
    ``LUTRAM``
        LUTs used as distributed RAM (``LUT as Distributed RAM``; ``LUTRAMs``).
    ``SRL``
        LUTs used as shift registers (``LUT as Shift Register``; ``SRLs``).
    ``FF``
        ``Slice Registers`` / ``CLB Registers`` (flip-flops and latches); ``FFs``.
    ``BRAM_18K``
        block RAM in 18 Kb halves: ``BRAM_18K = 2 * RAMB36 + RAMB18``, where ``RAMB36`` is
        the ``RAMB36/FIFO`` row (``RAMB36`` column) and ``RAMB18`` the ``RAMB18`` row
        (column). Vivado's ``Block RAM Tile`` figure is in 36 Kb tiles and may be
        fractional (``0.5``); it is kept as ``BRAM_tiles``.
    ``URAM``
        UltraRAM blocks (``URAM``); ``<NA>`` when the report has no URAM figure (7-series,
        Kintex UltraScale).
    ``DSP``
        DSP slices: ``DSPs`` row; ``DSP Blocks`` or (older) ``DSP48 Blocks`` column.

    Figures are as the file holds them: integers stay integers (nullable ``Int64``), a
    fractional figure makes its column ``float64``; a figure the report does not have is
    ``<NA>``.

Timing (``report_timing_summary``)
    :func:`read_vivado_timing_summary`: a ``design`` row and one row per clock with WNS,
    TNS, WHS, THS, WPWS, TPWS, the failing/total endpoint counts, the clock period and
    frequency, ``timing_met`` and ``fmax_mhz`` (see there).

Logs (``vivado.log``, ``runme.log``, ``vitis_hls.log``)
    :func:`read_vivado_log`: the ``ERROR`` and ``CRITICAL WARNING`` messages;
    :func:`first_errors`: the first few, ready for an error message.

Every table has the provenance columns ``tool`` (``"vivado"``), ``tool_version``
(``"2022.1"``), ``part`` (the report's ``Device`` line, as written), ``design``,
``design_state`` and ``source`` (the file's name). A file cut short raises
:class:`~dfx.reports.ReportError` naming the file and what is missing: a half table is
never returned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from dfx.reports import ReportError
from dfx.reports._text import (
    BoxedTable,
    boxed_tables,
    number,
    read_text,
    ruled_table,
    typed_frame,
    unclosed,
    vivado_header,
    vivado_version,
)

__all__ = [
    "LOG_COLUMNS",
    "TIMING_COLUMNS",
    "UTILIZATION_COLUMNS",
    "UTILIZATION_FLAT_COLUMNS",
    "UTILIZATION_HIER_COLUMNS",
    "first_errors",
    "fmax_mhz",
    "read_vivado_log",
    "read_vivado_timing_summary",
    "read_vivado_utilization",
    "read_vivado_utilization_hierarchical",
]

TOOL = "vivado"
#: The normalised resource columns of every utilization table (Vivado, Vitis HLS, Yosys).
UTILIZATION_COLUMNS = ("LUT", "LUTRAM", "SRL", "FF", "BRAM_18K", "URAM", "DSP")
PROVENANCE_COLUMNS = ("tool", "tool_version", "part", "design", "design_state", "source")
#: Columns of :func:`read_vivado_utilization`.
UTILIZATION_FLAT_COLUMNS = (
    *UTILIZATION_COLUMNS, "LUT_logic", "CARRY", "BRAM_tiles", "RAMB36", "RAMB18",
    "LUT_available", "FF_available", "BRAM_18K_available", "URAM_available", "DSP_available",
    *PROVENANCE_COLUMNS)
#: Columns of :func:`read_vivado_utilization_hierarchical`.
UTILIZATION_HIER_COLUMNS = (
    "instance", "module", "depth", "parent", "path", "is_self", *UTILIZATION_COLUMNS,
    "LUT_logic", "RAMB36", "RAMB18", *PROVENANCE_COLUMNS)
_FLAT_COUNTS = (*UTILIZATION_COLUMNS, "LUT_logic", "CARRY", "BRAM_tiles", "RAMB36", "RAMB18",
                "LUT_available", "FF_available", "BRAM_18K_available", "URAM_available",
                "DSP_available")
_HIER_COUNTS = (*UTILIZATION_COLUMNS, "LUT_logic", "RAMB36", "RAMB18")


def _provenance(header: dict[str, str], path: Path) -> dict:
    return {"tool": TOOL, "tool_version": vivado_version(header.get("Tool Version")),
            "part": header.get("Device"), "design": header.get("Design"),
            "design_state": header.get("Design State"), "source": path.name}


def _truncated(path: Path, what: str) -> ReportError:
    return ReportError(f"report file {path} is incomplete (cut short?): {what}")


def _check_unclosed(path: Path, tables: list[BoxedTable]) -> None:
    table = unclosed(tables)
    if table is not None:
        title = " | ".join(c for c in table.columns[:3] if c)
        raise _truncated(path, f"the table at line {table.line} ({title} ...) ends after "
                               f"{len(table.rows)} rows without its closing border")


def _check_sections(path: Path, text: str) -> None:
    """Every section the table of contents lists is in the file."""
    lines = text.split("\n")
    try:
        toc = next(i for i, line in enumerate(lines) if line.strip() == "Table of Contents")
    except StopIteration:
        raise _truncated(path, "it has no 'Table of Contents'") from None
    entries: list[str] = []
    i = toc + 2  # the title and its dashes
    while i < len(lines) and lines[i].strip():
        entries.append(lines[i].strip())
        i += 1
    if not entries:
        raise _truncated(path, "its table of contents is empty")
    headings = {lines[k].strip() for k in range(i, len(lines) - 1)
                if lines[k + 1].strip() and set(lines[k + 1].strip()) == {"-"}}
    missing = [e for e in entries if e not in headings]
    if missing:
        raise _truncated(path, f"the sections {', '.join(repr(m) for m in missing)} listed in "
                               f"its table of contents are missing")


def _require_command(path: Path, header: dict[str, str], text: str, hierarchical: bool):
    command = header.get("Command", "")
    is_hier = "-hierarchical" in command or "Utilization by Hierarchy" in text
    if "Utilization Design Information" not in text and "report_utilization" not in command:
        raise ReportError(f"report file {path} is not a Vivado utilization report")
    if is_hier != hierarchical:
        other = "read_vivado_utilization_hierarchical" if is_hier else "read_vivado_utilization"
        kind = "hierarchical" if is_hier else "flat"
        raise ReportError(f"report file {path} is a {kind} utilization report: read it with "
                          f"{other}")


# -- flat utilization -----------------------------------------------------------------------


def _site_rows(tables: list[BoxedTable]) -> dict[str, dict[str, str]]:
    """``Site Type`` -> its cells, first occurrence (``RAMB36/FIFO*`` -> ``RAMB36/FIFO``)."""
    rows: dict[str, dict[str, str]] = {}
    for table in tables:
        if not table.columns or table.columns[0] != "Site Type":
            continue
        for record in table.records():
            rows.setdefault(record["Site Type"].rstrip("*").strip(), record)
    return rows


def _primitives(tables: list[BoxedTable]) -> dict[str, int | float | None] | None:
    for table in tables:
        if table.has("Ref Name", "Used", "Functional Category"):
            return {r["Ref Name"]: number(r["Used"]) for r in table.records()}
    return None


def _first(rows: dict[str, dict[str, str]], names: tuple[str, ...], column: str = "Used"):
    for name in names:
        if name in rows:
            return number(rows[name].get(column))
    return None


_LUT_ROWS = ("Slice LUTs", "CLB LUTs", "Slice LUTs*", "CLB LUTs*")
_FF_ROWS = ("Slice Registers", "CLB Registers", "Registers")
_DSP_ROWS = ("DSPs", "DSP Slices", "DSP48E2", "DSP58")


def read_vivado_utilization(path: Path | str) -> pd.DataFrame:
    """One row: a flat ``report_utilization`` report (7-series, UltraScale(+), with or
    without the ``Prohibited`` column).

    Columns: :data:`UTILIZATION_FLAT_COLUMNS`, i.e. the resources of :data:`UTILIZATION_COLUMNS`
    (see the module docstring; ``BRAM_18K = 2 * RAMB36 + RAMB18``), then
    ``LUT_logic`` (``LUT as Logic``), ``CARRY`` (``CARRY4`` + ``CARRY8`` primitives),
    ``BRAM_tiles`` (``Block RAM Tile``, 36 Kb units, may be fractional), ``RAMB36``,
    ``RAMB18``, the device's ``*_available`` figures (``BRAM_18K_available`` is the
    ``RAMB18`` row's *Available*, twice the tiles), and the provenance columns.
    """
    path, text = read_text(path)
    header = vivado_header(text)
    _require_command(path, header, text, hierarchical=False)
    tables = boxed_tables(text)
    _check_unclosed(path, tables)
    _check_sections(path, text)
    rows = _site_rows(tables)

    def need(names: tuple[str, ...], what: str):
        value = _first(rows, names)
        if value is None:
            raise _truncated(path, f"it has no {what} figure (a {' / '.join(map(repr, names))} "
                                   f"row)")
        return value

    lut = need(_LUT_ROWS, "LUT")
    ff = need(_FF_ROWS, "register")
    dsp = need(_DSP_ROWS, "DSP")
    tiles = _first(rows, ("Block RAM Tile",))
    ramb36 = _first(rows, ("RAMB36/FIFO", "RAMB36"))
    ramb18 = _first(rows, ("RAMB18",))
    if ramb36 is not None and ramb18 is not None:
        bram_18k = 2 * ramb36 + ramb18
    elif tiles is not None:
        bram_18k = 2 * tiles
    else:
        raise _truncated(path, "it has no block RAM figures ('Block RAM Tile', "
                               "'RAMB36/FIFO', 'RAMB18' rows)")
    avail_18k = _first(rows, ("RAMB18",), "Available")
    if avail_18k is None:
        tiles_avail = _first(rows, ("Block RAM Tile",), "Available")
        avail_18k = None if tiles_avail is None else 2 * tiles_avail
    prims = _primitives(tables)
    carry = None
    if prims is not None:
        carry = sum((prims.get(c) or 0) for c in ("CARRY4", "CARRY8"))
    row = {
        "LUT": lut,
        "LUTRAM": _first(rows, ("LUT as Distributed RAM",)),
        "SRL": _first(rows, ("LUT as Shift Register",)),
        "FF": ff,
        "BRAM_18K": bram_18k,
        "URAM": _first(rows, ("URAM",)),
        "DSP": dsp,
        "LUT_logic": _first(rows, ("LUT as Logic",)),
        "CARRY": carry,
        "BRAM_tiles": tiles,
        "RAMB36": ramb36,
        "RAMB18": ramb18,
        "LUT_available": _first(rows, _LUT_ROWS, "Available"),
        "FF_available": _first(rows, _FF_ROWS, "Available"),
        "BRAM_18K_available": avail_18k,
        "URAM_available": _first(rows, ("URAM",), "Available"),
        "DSP_available": _first(rows, _DSP_ROWS, "Available"),
        **_provenance(header, path),
    }
    return typed_frame([row], UTILIZATION_FLAT_COLUMNS, counts=_FLAT_COUNTS)


# -- hierarchical utilization ------------------------------------------------------------------

_HIER_MAP = {  # normalised column -> the report's column names, newest first
    "LUT": ("Total LUTs",),
    "LUT_logic": ("Logic LUTs",),
    "LUTRAM": ("LUTRAMs",),
    "SRL": ("SRLs",),
    "FF": ("FFs",),
    "RAMB36": ("RAMB36",),
    "RAMB18": ("RAMB18",),
    "URAM": ("URAM",),
    "DSP": ("DSP Blocks", "DSP48 Blocks", "DSPs"),
}
_HIER_REQUIRED = ("LUT", "FF", "RAMB36", "RAMB18", "DSP")


def read_vivado_utilization_hierarchical(path: Path | str) -> pd.DataFrame:
    """One row per instance of a ``report_utilization -hierarchical`` report, in the
    report's order.

    Columns (:data:`UTILIZATION_HIER_COLUMNS`):

    ``instance``
        the instance name as printed (``u_lf``; ``(pll_top)`` for a *self* row, the
        cells of an instance that are not in any of its sub-instances);
    ``module``
        the module (``(top)`` for the top row, as Vivado prints it);
    ``depth``
        nesting level from the indentation (two spaces a level): 0 for the top;
    ``parent``
        the ``path`` of the enclosing instance (``<NA>`` for the top). Instance names
        repeat across a hierarchy, so rows are keyed by ``path``;
    ``path``
        the instance names from the top joined with ``/`` (``leaf/leaf_interface_inst/sfc``);
    ``is_self``
        True for the ``(name)`` self rows;

    then the resources (``LUT`` = ``Total LUTs``, ``LUTRAM``, ``SRL``, ``FF``,
    ``BRAM_18K = 2 * RAMB36 + RAMB18``, ``URAM``, ``DSP`` = ``DSP Blocks`` or
    ``DSP48 Blocks``), ``LUT_logic``, ``RAMB36``, ``RAMB18`` and the provenance columns.
    A parent's figures include its children's (Vivado's note: the sum of the children may
    exceed the parent because of LUT combining across the hierarchy).
    """
    path, text = read_text(path)
    header = vivado_header(text)
    _require_command(path, header, text, hierarchical=True)
    tables = boxed_tables(text)
    _check_unclosed(path, tables)
    _check_sections(path, text)
    table = next((t for t in tables if t.has("Instance", "Module")), None)
    if table is None:
        raise _truncated(path, "it has no 'Instance | Module | ...' table")
    columns: dict[str, str] = {}
    for key, names in _HIER_MAP.items():
        found = next((n for n in names if n in table.columns), None)
        if found is not None:
            columns[key] = found
    missing = [" or ".join(map(repr, _HIER_MAP[k])) for k in _HIER_REQUIRED if k not in columns]
    if missing:
        raise ReportError(f"report file {path}: the hierarchy table has no column "
                          f"{', '.join(missing)} (columns: {', '.join(table.columns)})")
    if not table.rows:
        raise _truncated(path, "its hierarchy table has no rows")
    provenance = _provenance(header, path)
    instance_col = table.columns.index("Instance")
    out: list[dict] = []
    stack: list[tuple[int, str]] = []  # (depth, path) of the open ancestors
    for cells, line in zip(table.rows, table.row_lines):
        raw = cells[instance_col]
        raw = raw[1:] if raw.startswith(" ") else raw  # the pad space after "|"
        name = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 2:
            raise ReportError(f"report file {path}, line {line}: odd indentation "
                              f"({indent} spaces) of instance {name!r}")
        depth = indent // 2
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if depth and (not stack or stack[-1][0] != depth - 1):
            raise ReportError(f"report file {path}, line {line}: instance {name!r} is nested "
                              f"{depth} levels deep but has no parent row")
        parent = stack[-1][1] if stack else None
        row_path = f"{parent}/{name}" if parent else name
        record = dict(zip(table.columns, (c.strip() for c in cells)))
        row = {"instance": name, "module": record["Module"], "depth": depth,
               "parent": parent, "path": row_path,
               "is_self": name.startswith("(") and name.endswith(")")}
        for key, column in columns.items():
            row[key] = number(record[column])
        for key in ("LUT", "FF", "RAMB36", "RAMB18", "DSP"):
            if row[key] is None:
                raise ReportError(f"report file {path}, line {line}: instance {name!r} has no "
                                  f"{columns[key]!r} figure ({record[columns[key]]!r})")
        row["BRAM_18K"] = 2 * row["RAMB36"] + row["RAMB18"]
        row.update(provenance)
        out.append(row)
        stack.append((depth, row_path))
    if out[0]["depth"] != 0:
        raise ReportError(f"report file {path}: the first row of the hierarchy is indented")
    return typed_frame(out, UTILIZATION_HIER_COLUMNS, counts=(*_HIER_COUNTS, "depth"),
                       flags=("is_self",))


# -- timing summary ------------------------------------------------------------------------------

_TIMING_FIGURES = ("WNS", "TNS", "TNS_failing_endpoints", "TNS_total_endpoints",
                   "WHS", "THS", "THS_failing_endpoints", "THS_total_endpoints",
                   "WPWS", "TPWS", "TPWS_failing_endpoints", "TPWS_total_endpoints")
_SLACKS = ("WNS", "TNS", "WHS", "THS", "WPWS", "TPWS")
_ENDPOINTS = tuple(c for c in _TIMING_FIGURES if c.endswith("endpoints"))
_FAILING = tuple(c for c in _ENDPOINTS if "failing" in c)
#: Columns of :func:`read_vivado_timing_summary`.
TIMING_COLUMNS = ("scope", "clock", "master_clock", "period_ns", "frequency_mhz",
                  *_TIMING_FIGURES, "fmax_mhz", "timing_met", *PROVENANCE_COLUMNS)
_MET = "All user specified timing constraints are met."
_NOT_MET = "Timing constraints are not met."
_NO_CONSTRAINTS = "There are no user specified timing constraints."


def _timing_name(column: str) -> str:
    """``"TNS Failing Endpoints"`` -> ``"TNS_failing_endpoints"``, ``"WNS(ns)"`` -> ``"WNS"``."""
    words = column.replace("(ns)", "").split()
    return "_".join([words[0], *(w.lower() for w in words[1:])]) if words else column


def _section_start(lines: list[str], title: str) -> int | None:
    for i, line in enumerate(lines):
        if line.strip() == f"| {title}":
            return i + 1
    return None


def _timing_values(path: Path, table, first_columns: int, line_of: int) -> list[dict]:
    """Rows of a Design Timing Summary / Intra Clock table: the first ``first_columns``
    fields are names, the rest figures."""
    names = [_timing_name(c) for c in table.columns]
    out = []
    for k, text_row in enumerate(table.rows):
        fields = text_row.split()
        if len(fields) != len(names):
            raise _truncated(path, f"line {table.line + 2 + k} of the table at line "
                                   f"{line_of} has {len(fields)} fields, not {len(names)}")
        row = dict(zip(names[:first_columns], fields[:first_columns]))
        for name, value in zip(names[first_columns:], fields[first_columns:]):
            row[name] = number(value)
        out.append(row)
    return out


def _check_followed(path: Path, table, title: str) -> None:
    if not table.followed:
        raise _truncated(path, f"the file ends in or right after the '{title}' table (line "
                               f"{table.line}), before the sections that follow it")


def _met(row: dict) -> bool | None:
    counts = [row.get(c) for c in _FAILING if row.get(c) is not None]
    return all(c == 0 for c in counts) if counts else None


_CLOCK_LINE = re.compile(r"(\s*)(\S+)\s+\{([^}]*)\}\s+(\S+)\s+(\S+)\s*")


def fmax_mhz(period_ns: float | None, wns_ns: float | None) -> float | None:
    """``1000 / (period - WNS)``: the clock frequency (MHz) at which the worst setup path of
    a clock would have zero slack, assuming the path delay stays the same.

    ``None`` when either figure is missing or the difference is not positive. The estimate
    is exact for single-cycle register-to-register paths; paths with a multicycle or
    half-period requirement, I/O delays or clock uncertainty that scales with the period
    make it approximate.
    """
    if period_ns is None or wns_ns is None:
        return None
    if period_ns != period_ns or wns_ns != wns_ns or wns_ns in (float("inf"), float("-inf")):
        return None
    span = period_ns - wns_ns
    return 1000.0 / span if span > 0 else None


def read_vivado_timing_summary(path: Path | str) -> pd.DataFrame:
    """A ``report_timing_summary`` report: the first row has ``scope == "design"`` (the
    Design Timing Summary), then one row per clock (``scope == "clock"``, from the Clock
    Summary and the Intra Clock Table), in the report's order.

    Columns (:data:`TIMING_COLUMNS`): ``scope``, ``clock``, ``master_clock`` (for a
    generated clock, the clock it is indented under), ``period_ns``, ``frequency_mhz``;
    ``WNS``, ``TNS``, ``WHS``, ``THS``, ``WPWS``, ``TPWS`` in ns; ``TNS_failing_endpoints``,
    ``TNS_total_endpoints``, ``THS_...``, ``TPWS_...`` counts; then

    ``fmax_mhz``
        for a clock: ``1000 / (period_ns - WNS)`` with that clock's intra-clock WNS (see
        :func:`fmax_mhz`); for the design row, the one clock's figure when the design has
        exactly one clock with a WNS, else ``<NA>``;
    ``timing_met``
        for the design: the report's verdict (``All user specified timing constraints are
        met.`` / ``Timing constraints are not met.``), else no failing endpoint of any
        kind; for a clock: none of its setup, hold and pulse-width endpoints fail. ``<NA>``
        when the design has no timing constraints.

    ``NA`` figures (a clock without paths) are ``NaN``; ``inf`` stays ``inf``.
    """
    path, text = read_text(path)
    header = vivado_header(text)
    if "Timing Summary Report" not in text and "report_timing_summary" not in header.get(
            "Command", ""):
        raise ReportError(f"report file {path} is not a Vivado timing summary report")
    lines = text.split("\n")
    provenance = _provenance(header, path)

    start = _section_start(lines, "Design Timing Summary")
    design_table = ruled_table(lines, start) if start is not None else None
    if design_table is None or not design_table.rows:
        raise _truncated(path, "it has no 'Design Timing Summary' figures")
    _check_followed(path, design_table, "Design Timing Summary")
    design_rows = _timing_values(path, design_table, 0, design_table.line)
    if len(design_rows) != 1 or "WNS" not in design_rows[0]:
        raise _truncated(path, "its 'Design Timing Summary' is not one row of WNS, TNS, ...")
    design = design_rows[0]

    clocks: dict[str, dict] = {}
    start = _section_start(lines, "Clock Summary")
    if start is None:
        raise _truncated(path, "it has no 'Clock Summary' section")
    clock_table = ruled_table(lines, start)
    if clock_table is None or not clock_table.columns or clock_table.columns[0] != "Clock":
        raise _truncated(path, "its 'Clock Summary' section has no clock table")
    _check_followed(path, clock_table, "Clock Summary")
    masters: list[tuple[int, str]] = []
    for k, text_row in enumerate(clock_table.rows):
        match = _CLOCK_LINE.fullmatch(text_row)
        if match is None:
            raise ReportError(f"report file {path}, line {clock_table.line + 2 + k}: cannot "
                              f"read the clock line {text_row.strip()!r}")
        indent, name = len(match.group(1)), match.group(2)
        while masters and masters[-1][0] >= indent:
            masters.pop()
        clocks[name] = {"scope": "clock", "clock": name,
                        "master_clock": masters[-1][1] if masters else None,
                        "period_ns": number(match.group(4)),
                        "frequency_mhz": number(match.group(5))}
        masters.append((indent, name))

    start = _section_start(lines, "Intra Clock Table")
    if start is None:
        raise _truncated(path, "it has no 'Intra Clock Table' section")
    intra_table = ruled_table(lines, start)
    if intra_table is None or not intra_table.columns or intra_table.columns[0] != "Clock":
        raise _truncated(path, "its 'Intra Clock Table' section has no table")
    _check_followed(path, intra_table, "Intra Clock Table")
    for row in _timing_values(path, intra_table, 1, intra_table.line):
        name = row.pop("Clock")
        entry = clocks.setdefault(name, {"scope": "clock", "clock": name,
                                         "master_clock": None, "period_ns": None,
                                         "frequency_mhz": None})
        entry.update(row)

    if _MET in text:
        design_met = True
    elif _NOT_MET in text:
        design_met = False
    elif _NO_CONSTRAINTS in text:
        design_met = None
    else:
        design_met = _met(design)
    out = []
    for entry in clocks.values():
        entry["fmax_mhz"] = fmax_mhz(entry.get("period_ns"), entry.get("WNS"))
        entry["timing_met"] = _met(entry)
        entry.update(provenance)
    with_wns = [e for e in clocks.values() if e.get("WNS") is not None
                and e["fmax_mhz"] is not None]
    design_row = {"scope": "design", "clock": None, "master_clock": None, "period_ns": None,
                  "frequency_mhz": None, **design,
                  "fmax_mhz": with_wns[0]["fmax_mhz"] if len(with_wns) == 1 else None,
                  "timing_met": design_met, **provenance}
    out = [design_row, *clocks.values()]
    return typed_frame(out, TIMING_COLUMNS, counts=_ENDPOINTS,
                       floats=(*_SLACKS, "period_ns", "frequency_mhz", "fmax_mhz"),
                       flags=("timing_met",))


# -- logs ------------------------------------------------------------------------------------

#: Columns of :func:`read_vivado_log`.
LOG_COLUMNS = ("line", "kind", "id", "message", "file", "file_line", "source")
LOG_KINDS = ("ERROR", "CRITICAL WARNING", "WARNING", "INFO")
_MESSAGE = re.compile(r"(ERROR|CRITICAL WARNING|WARNING|INFO):\s*(?:\[([^\]]+)\]\s*)?(.*)")
_LOCATION = re.compile(r"\s*\[([^\[\]]+?):(\d+)\]\s*$")


def _log_text(path_or_text: Path | str) -> tuple[str, str | None]:
    """``(text, file name or None)``: a :class:`~pathlib.Path` or a string naming an
    existing file is read; any other string is the log text itself."""
    if isinstance(path_or_text, Path):
        path, text = read_text(path_or_text)
        return text, path.name
    if "\n" not in path_or_text and len(path_or_text) < 4096:
        candidate = Path(path_or_text)
        try:
            is_file = candidate.is_file()
        except OSError:
            is_file = False
        if is_file:
            path, text = read_text(candidate)
            return text, path.name
        if not _MESSAGE.match(path_or_text.strip()):
            raise ReportError(f"log file {path_or_text} does not exist")
    return path_or_text.replace("\r\n", "\n"), None


def read_vivado_log(path_or_text: Path | str,
                    kinds: tuple[str, ...] = ("ERROR", "CRITICAL WARNING")) -> pd.DataFrame:
    """The messages of the given ``kinds`` in a Vivado / Vitis HLS log, in order.

    Columns (:data:`LOG_COLUMNS`): ``line`` (1-based line number), ``kind`` (``"ERROR"``,
    ``"CRITICAL WARNING"``, or with ``kinds=LOG_KINDS`` also ``"WARNING"``, ``"INFO"``),
    ``id`` (``"Synth 8-439"``, without brackets; ``<NA>`` for a message without one),
    ``message`` (the rest of the line), ``file`` and ``file_line`` (the ``[path:N]`` a
    message ends with, when it does), ``source`` (the log's file name; ``<NA>`` for text).
    A log with no such message gives an empty table with these columns.

    ``path_or_text``: a :class:`~pathlib.Path`, a string naming an existing file, or the
    log text itself.
    """
    unknown = [k for k in kinds if k not in LOG_KINDS]
    if unknown:
        raise ValueError(f"unknown message kinds {unknown}; choose from {LOG_KINDS}")
    text, source = _log_text(path_or_text)
    rows = []
    for number_, line in enumerate(text.split("\n"), start=1):
        match = _MESSAGE.match(line)
        if not match or match.group(1) not in kinds:
            continue
        message = match.group(3).strip()
        location = _LOCATION.search(message)
        rows.append({"line": number_, "kind": match.group(1), "id": match.group(2),
                     "message": message,
                     "file": location.group(1) if location else None,
                     "file_line": int(location.group(2)) if location else None,
                     "source": source})
    return typed_frame(rows, LOG_COLUMNS, counts=("line", "file_line"))


def first_errors(path_or_text: Path | str, n: int = 3, *, max_chars: int | None = 300,
                 kinds: tuple[str, ...] = ("ERROR",)) -> list[str]:
    """The first ``n`` ``ERROR`` lines of a Vivado log, as the log writes them
    (``"ERROR: [DRC NSTD-1] Unspecified I/O Standard: ..."``), each cut to ``max_chars``
    characters (``...`` marks a cut). Falls back to the ``CRITICAL WARNING`` lines when the
    log has no ``ERROR`` line; an empty list when it has neither.
    """
    if n <= 0:
        return []
    table = read_vivado_log(path_or_text, kinds=tuple(dict.fromkeys(
        (*kinds, "CRITICAL WARNING"))))
    chosen = table[table["kind"].isin(kinds)]
    if chosen.empty:
        chosen = table[table["kind"] == "CRITICAL WARNING"]
    out = []
    for row in chosen.head(n).itertuples(index=False):
        text = f"{row.kind}: [{row.id}] {row.message}" if isinstance(row.id, str) else \
            f"{row.kind}: {row.message}"
        if max_chars is not None and len(text) > max_chars:
            text = text[:max(max_chars - 3, 0)].rstrip() + "..."
        out.append(text)
    return out
