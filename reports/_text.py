"""Helpers shared by the readers of tool reports (internal to :mod:`dfx.reports`).

* :func:`read_text`: a report file's text, or :class:`~dfx.reports.ReportError` naming it;
* :func:`boxed_tables`: the ``+----+----+`` tables of Vivado and Vitis HLS reports;
* :func:`ruled_table`: the whitespace tables underlined with ``-----  -----`` (timing);
* :func:`vivado_header`: the ``| Key : value`` block at the top of a Vivado report;
* :func:`number` / :func:`leading_number`: figures as the file holds them (``int`` when
  the text is an integer, ``float`` otherwise, ``None`` for ``-``, ``NA``, ``?``...);
* :func:`typed_frame`: a :class:`pandas.DataFrame` with nullable integer columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dfx.reports import ReportError

#: Cell texts that mean "no figure".
MISSING = frozenset({"", "-", "NA", "N/A", "n/a", "?", "undef", "none"})

_INT = re.compile(r"[-+]?\d+")
_LEADING = re.compile(r"\s*(<|~|>)?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def read_text(path: Path | str) -> tuple[Path, str]:
    """``(path, text)`` of a text report, with ``\\n`` line ends.

    :class:`ReportError` naming the file when it does not exist, is a folder, is empty or is
    binary.
    """
    path = Path(path)
    if not path.exists():
        raise ReportError(f"report file {path} does not exist")
    if path.is_dir():
        raise ReportError(f"report file {path} is a folder, not a report file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"report file {path} cannot be read: {exc}") from None
    if not data.strip():
        raise ReportError(f"report file {path} is empty")
    if b"\0" in data[:8192]:
        raise ReportError(f"report file {path} is a binary file, not a text report")
    text = data.decode("utf-8", errors="replace")
    return path, text.replace("\r\n", "\n").replace("\r", "\n")


def number(text: str | None) -> int | float | None:
    """The figure in a table cell: ``"5417"`` -> 5417, ``"0.5"`` -> 0.5, ``"-0.590"`` ->
    -0.59, ``"inf"`` -> inf, ``"-"``/``"NA"``/``"?"``/``""`` -> ``None``.

    Anything else (text, ``<0.01``) -> ``None``; use :func:`leading_number` for cells
    with units or annotations.
    """
    if text is None:
        return None
    s = text.strip().replace(",", "")
    if s in MISSING:
        return None
    if _INT.fullmatch(s):
        return int(s)
    try:
        return float(s)
    except ValueError:
        return None


def leading_number(text: str | None) -> int | float | None:
    """The figure a cell starts with: ``"3 (~0%)"`` -> 3, ``"6.427 ns"`` -> 6.427,
    ``"<0.01"`` -> 0.01, ``"~0"`` -> 0; ``None`` when it starts with none."""
    if text is None:
        return None
    s = text.strip().replace(",", "")
    if s in MISSING:
        return None
    match = _LEADING.match(s)
    return number(match.group(2)) if match else None


# -- boxed tables (+----+) --------------------------------------------------------------

_BORDER = re.compile(r"\+(?:-+\+)+")


@dataclass
class BoxedTable:
    """A ``+---+`` table: column names (multi-line headers joined with a space), the raw
    cells of each data row (not stripped), and where it is in the file."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: 1-based line number of each data row
    row_lines: list[int] = field(default_factory=list)
    #: 1-based line number of the first border
    line: int = 0
    #: the table ended with a border line (False: the file ends inside the table)
    closed: bool = False

    def records(self, strip: bool = True) -> list[dict[str, str]]:
        return [{c: (v.strip() if strip else v) for c, v in zip(self.columns, row)}
                for row in self.rows]

    def has(self, *names: str) -> bool:
        return all(n in self.columns for n in names)


def _spans(border: str) -> list[tuple[int, int]]:
    plus = [i for i, ch in enumerate(border) if ch == "+"]
    return list(zip(plus[:-1], plus[1:]))


def _header_names(border: str, header_rows: list[str]) -> list[str]:
    """Column names of a header that may span several lines, where a group title
    (``|  Latency (cycles) |``) covers several columns of the next line."""
    spans = _spans(border)
    parts: list[list[str]] = [[] for _ in spans]
    for row in header_rows:
        bars = [i for i, ch in enumerate(row) if ch == "|"]
        for left, right in zip(bars[:-1], bars[1:]):
            text = row[left + 1:right].strip()
            if not text:
                continue
            for k, (a, b) in enumerate(spans):
                if a >= left and b <= right:
                    parts[k].append(text)
    return [" ".join(p) for p in parts]


def boxed_tables(text: str) -> list[BoxedTable]:
    """Every ``+----+`` table in ``text``, in order.

    A table is a border, header rows, a border, data rows (further borders separate
    footer rows such as HLS's ``Total``), and a final border. Rows are split on ``|``.
    A table the file ends inside of (no final border, or a last row without its closing
    ``|``) has ``closed=False``: the file was cut short.
    """
    lines = text.split("\n")
    tables: list[BoxedTable] = []
    i, n = 0, len(lines)
    while i < n:
        stripped = lines[i].strip()
        if not _BORDER.fullmatch(stripped):
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        border = lines[i][indent:].rstrip()
        start = i
        i += 1
        header: list[str] = []
        while i < n and lines[i].strip().startswith("|") and lines[i].rstrip().endswith("|"):
            header.append(lines[i][indent:].rstrip())
            i += 1
        if not header:  # a lone border line, not a table
            continue
        table = BoxedTable(columns=_header_names(border, header), line=start + 1)
        tables.append(table)
        if i >= n or not _BORDER.fullmatch(lines[i].strip()):
            table.closed = False  # the file ends inside the header
            continue
        i += 1  # the border under the header
        table.closed = True
        while i < n:
            s = lines[i].strip()
            if _BORDER.fullmatch(s):
                table.closed = True
                i += 1
                continue
            if s.startswith("|"):
                cells = lines[i][indent:].rstrip()[1:-1].split("|")
                if len(s) < 2 or not s.endswith("|") or len(cells) != len(table.columns):
                    table.closed = False  # a row cut short: the file ends here
                    break
                table.rows.append(cells)
                table.row_lines.append(i + 1)
                table.closed = False
                i += 1
                continue
            break
    return tables


def unclosed(tables: Iterable[BoxedTable]) -> BoxedTable | None:
    """The first table the file ends inside of, if any."""
    return next((t for t in tables if not t.closed), None)


# -- ruled whitespace tables (timing summary) ---------------------------------------------

_RULE = re.compile(r"\s*-+(?:\s+-+)*\s*")


@dataclass
class RuledTable:
    columns: list[str]
    #: each data line, as text (callers split it)
    rows: list[str]
    line: int
    #: more text follows the table (False: the file ends in or right after it, cut short)
    followed: bool = True


def ruled_table(lines: Sequence[str], start: int) -> RuledTable | None:
    """The first whitespace table at or after ``lines[start]``: a header line, a line of
    dash groups under the column names, and data lines up to the next blank line."""
    for i in range(start, len(lines) - 1):
        head = lines[i]
        if (head.strip() and not head.lstrip().startswith("|") and not _RULE.fullmatch(head)
                and _RULE.fullmatch(lines[i + 1]) and "-" in lines[i + 1]):
            rule = lines[i + 1]
            spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
            # each name runs from its dashes to the next column's (a name may be longer)
            starts = [a for a, _ in spans] + [len(head)]
            columns = [head[a:b].strip() for a, b in zip(starts[:-1], starts[1:])]
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].strip():
                rows.append(lines[j])
                j += 1
            followed = any(line.strip() for line in lines[j:])
            return RuledTable(columns=columns, rows=rows, line=i + 1, followed=followed)
    return None


# -- Vivado report header -------------------------------------------------------------------

_HEADER_LINE = re.compile(r"\|\s*([A-Za-z][A-Za-z ]*?)\s*:\s?(.*)")
_VIVADO_VERSION = re.compile(r"\bv\.?(\d{4}\.\d+(?:\.\d+)?)")


def vivado_header(text: str) -> dict[str, str]:
    """The ``| Key : value`` lines at the top of a Vivado report (``Tool Version``,
    ``Command``, ``Design``, ``Device``, ``Design State``...), keys as written."""
    header: dict[str, str] = {}
    for line in text.split("\n")[:40]:
        match = _HEADER_LINE.fullmatch(line.rstrip())
        if match:
            header.setdefault(match.group(1), match.group(2).strip())
        elif header and not line.startswith("|"):
            break
    return header


def vivado_version(tool_version: str | None) -> str | None:
    """``"Vivado v.2022.1 (lin64) Build 3526262 ..."`` -> ``"2022.1"``."""
    if not tool_version:
        return None
    match = _VIVADO_VERSION.search(tool_version)
    return match.group(1) if match else tool_version.split(" (")[0]


# -- frames ---------------------------------------------------------------------------------


def typed_frame(rows: list[dict], columns: Sequence[str], *, counts: Iterable[str] = (),
                floats: Iterable[str] = (), flags: Iterable[str] = ()) -> pd.DataFrame:
    """A frame with exactly ``columns`` (a key missing from a row is a missing value).

    ``counts`` columns become nullable ``Int64`` when every value is an integer (``float64``
    when the file holds a fraction, as Vivado's ``0.5`` Block RAM tiles); ``floats`` become
    ``float64``; ``flags`` become ``bool`` (``boolean`` when a value is missing). Missing
    values are ``<NA>``/``NaN``.
    """
    counts, floats, flags = set(counts), set(floats), set(flags)
    data = {}
    for column in columns:
        values = [None if _isna(row.get(column)) else row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        if column in counts:
            if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
                data[column] = pd.array(values, dtype="Int64")
            else:
                data[column] = pd.array([float("nan") if v is None else float(v)
                                         for v in values], dtype="float64")
        elif column in floats:
            data[column] = pd.array([float("nan") if v is None else float(v) for v in values],
                                    dtype="float64")
        elif column in flags:
            if len(present) == len(values):
                data[column] = pd.array([bool(v) for v in values], dtype=bool)
            else:
                data[column] = pd.array([None if v is None else bool(v) for v in values],
                                        dtype="boolean")
        else:  # text: pandas' own string inference
            data[column] = pd.Series(values, index=pd.RangeIndex(len(rows)),
                                     dtype=None if present else object)
    return pd.DataFrame(data, columns=list(columns), index=pd.RangeIndex(len(rows)))


def _isna(value) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value
