"""dfx's build reports as normalised pandas tables (``dfx report BUILD_DIR``).

:func:`build_tables` reads the JSON reports of a build folder written by
``dfx run`` and returns named :class:`pandas.DataFrame` objects:

``layers``
    one row per hardware layer: ``layer``, ``op_type``, ``cycles``, the folding
    attributes ``PE``, ``SIMD``, ``ram_style`` (``final_hw_config.json``), the
    estimated resources ``LUT``, ``FF``, ``BRAM_18K``, ``URAM``, ``DSP``
    (``report/estimate_layer_resources.json``), and the provenance columns
    ``tool`` (``"dfx-estimate"``) and ``source`` (the report file's name).
    Further per-layer report kinds (synthesis, rtlsim, ...) are merged in by
    layer name with :func:`merge_layer_tables`; register them in
    :data:`LAYER_REPORTS`.  Always present (empty, with these columns, when the
    build has no per-layer reports) so that ``dfx report --csv`` always works.
``network``
    one row: ``report/estimate_network_performance.json`` plus the resource
    totals (``LUT``, ``FF``, ...).
``steps``
    ``step``, ``seconds`` (``time_per_step.json``), in build order.
``verify``
    ``check``, ``step``, ``verdict``, ``exact``, ``max_abs_diff``, ...
    (``report/verify_results.json``), when the build verified anything.

Tables whose files are missing are left out; a folder with none of the report
files, or a report file that is not valid JSON, raises :class:`ReportError`
(a :class:`dfx.errors.DfxError`) naming the folder or the file.

This is the only dfx package that imports pandas.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dfx.errors import DfxError

__all__ = [
    "CYCLES_FILE",
    "FOLDING_ATTRS",
    "HW_CONFIG_FILE",
    "LAYER_REPORTS",
    "NETWORK_FILE",
    "REPORT_FILES",
    "RESOURCES",
    "RESOURCES_FILE",
    "STEPS_FILE",
    "VERIFY_FILE",
    "LayerReport",
    "ReportError",
    "build_tables",
    "estimate_layer_table",
    "format_tables",
    "merge_layer_tables",
    "network_table",
    "op_type_of",
    "read_json_report",
    "steps_table",
    "verify_table",
    "summary_table",
    "compare_builds",
    "format_comparison",
    "format_report_table",
    "OOC_FILE",
    "POST_SYNTH_FILE",
    "RTLSIM_FILE",
]

# The report files, relative to the build folder.
CYCLES_FILE = "report/estimate_layer_cycles.json"
RESOURCES_FILE = "report/estimate_layer_resources.json"
NETWORK_FILE = "report/estimate_network_performance.json"
VERIFY_FILE = "report/verify_results.json"
HW_CONFIG_FILE = "final_hw_config.json"
STEPS_FILE = "time_per_step.json"
RTLSIM_FILE = "report/rtlsim_performance.json"
OOC_FILE = "report/ooc_synth_and_timing.json"
POST_SYNTH_FILE = "report/post_synth_resources.json"
REPORT_FILES = (CYCLES_FILE, RESOURCES_FILE, HW_CONFIG_FILE, NETWORK_FILE, STEPS_FILE,
                VERIFY_FILE, RTLSIM_FILE, OOC_FILE, POST_SYNTH_FILE)

RESOURCES = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")
FOLDING_ATTRS = ("PE", "SIMD", "ram_style")
LAYER_KEYS = ("layer", "op_type")
ESTIMATE_TOOL = "dfx-estimate"
ESTIMATE_COLUMNS = ("layer", "op_type", "cycles", *FOLDING_ATTRS, *RESOURCES, "tool", "source")
VERIFY_COLUMNS = ("check", "step", "verdict", "exact", "max_abs_diff", "mismatches", "samples",
                  "why")


class ReportError(DfxError):
    """A build folder's reports cannot be read."""


# -- reading --------------------------------------------------------------------


def read_json_report(path: Path | str) -> dict:
    """The JSON object in ``path``; :class:`ReportError` naming the file if it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"report file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"report file {path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (empty file)" if not text.strip() else ""
        raise ReportError(f"report file {path} is not valid JSON{hint}: {exc.msg} at line "
                          f"{exc.lineno} column {exc.colno}; the build may have been "
                          f"interrupted, re-run dfx run") from None
    if not isinstance(data, dict):
        raise ReportError(f"report file {path} does not hold a JSON object "
                          f"(found {type(data).__name__})")
    return data


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expect(path: Path, ok: bool, what: str) -> None:
    if not ok:
        raise ReportError(f"report file {path} is malformed: {what}")


def _read_optional(build_dir: Path, name: str) -> tuple[dict | None, Path]:
    path = build_dir / name
    return (read_json_report(path) if path.is_file() else None), path


def op_type_of(layer: str) -> str:
    """The op type in a layer name: ``MVAU_3`` -> ``MVAU``, ``Thresholding_hls_0`` ->
    ``Thresholding_hls``; a name without a ``_N`` suffix is its own op type."""
    match = re.fullmatch(r"(.+)_\d+", layer)
    return match.group(1) if match else layer


def _ordered_union(*key_lists: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for keys in key_lists:
        for key in keys:
            seen.setdefault(key, None)
    return list(seen)


def _tidy_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of JSON integers become nullable ``Int64`` (so a missing value does not turn
    counts into floats); columns of numbers with a JSON float become ``float64``."""
    for column in df.columns:
        values = df[column].dropna()
        if values.empty or not values.map(_is_number).all():
            continue
        if values.map(lambda v: isinstance(v, int)).all():
            df[column] = df[column].astype("Int64")
        else:
            df[column] = df[column].astype("float64")
    return df


# -- tables ---------------------------------------------------------------------


def estimate_layer_table(build_dir: Path) -> pd.DataFrame | None:
    """The per-layer estimate table (see the module docstring), or ``None`` if the build
    has none of the per-layer files."""
    cycles, cycles_path = _read_optional(build_dir, CYCLES_FILE)
    resources, resources_path = _read_optional(build_dir, RESOURCES_FILE)
    hw_config, hw_config_path = _read_optional(build_dir, HW_CONFIG_FILE)
    if cycles is None and resources is None and hw_config is None:
        return None
    cycles = cycles or {}
    resources = {k: v for k, v in (resources or {}).items() if k != "total"}
    hw_config = {k: v for k, v in (hw_config or {}).items() if k != "Defaults"}
    for name, value in cycles.items():
        _expect(cycles_path, _is_number(value), f"cycles of {name!r} is {value!r}, not a number")
    for name, value in resources.items():
        _expect(resources_path, isinstance(value, dict),
                f"entry {name!r} is {value!r}, not an object")
    for name, value in hw_config.items():
        _expect(hw_config_path, isinstance(value, dict),
                f"entry {name!r} is {value!r}, not an object")

    rows = []
    for layer in _ordered_union(hw_config, cycles, resources):
        attrs = hw_config.get(layer, {})
        res = resources.get(layer, {})
        if layer in resources:
            source = resources_path.name
        elif layer in cycles:
            source = cycles_path.name
        else:
            source = hw_config_path.name
        row = {"layer": layer, "op_type": op_type_of(layer), "cycles": cycles.get(layer)}
        row.update({attr: attrs.get(attr) for attr in FOLDING_ATTRS})
        row.update({kind: res.get(kind) for kind in RESOURCES})
        row.update(tool=ESTIMATE_TOOL, source=source)
        rows.append(row)
    return _tidy_dtypes(pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS)))


def _empty_layer_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ESTIMATE_COLUMNS})


def network_table(build_dir: Path) -> pd.DataFrame | None:
    """One row: the network performance estimate and the resource totals."""
    perf, perf_path = _read_optional(build_dir, NETWORK_FILE)
    resources, resources_path = _read_optional(build_dir, RESOURCES_FILE)
    if perf is None and resources is None:
        return None
    row: dict = {}
    for key, value in (perf or {}).items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = " -> ".join(value)  # a path of layers (critical_path_layers)
        _expect(perf_path, value is None or isinstance(value, str | int | float),
                f"{key!r} is {value!r}, not a scalar")
        row[key] = value
    if resources is not None:
        total = resources.get("total")
        if total is None:  # older builds: sum the layers
            total = {kind: sum(v.get(kind, 0) for k, v in resources.items()
                               if isinstance(v, dict)) for kind in RESOURCES}
        _expect(resources_path, isinstance(total, dict), "'total' is not an object")
        for kind in _ordered_union(RESOURCES, total):
            if kind in total and kind in RESOURCES:
                row[kind] = total[kind]
    return _tidy_dtypes(pd.DataFrame([row]))


def steps_table(build_dir: Path) -> pd.DataFrame | None:
    """``step``, ``seconds`` in build order."""
    times, path = _read_optional(build_dir, STEPS_FILE)
    if times is None:
        return None
    for step, seconds in times.items():
        _expect(path, _is_number(seconds), f"time of {step!r} is {seconds!r}, not a number")
    return pd.DataFrame({"step": list(times),
                         "seconds": pd.Series([float(s) for s in times.values()],
                                              dtype="float64")})


def verify_table(build_dir: Path) -> pd.DataFrame | None:
    """One row per verification check: ``check`` (e.g. ``streamlined_python``), ``step``,
    ``verdict``, ``exact``, ``max_abs_diff``, ``mismatches``, ``samples`` (and ``why`` when
    a check failed for a reason other than different values)."""
    results, path = _read_optional(build_dir, VERIFY_FILE)
    if results is None:
        return None
    rows = []
    for check, verdict in results.items():
        _expect(path, isinstance(verdict, dict), f"entry {check!r} is not an object")
        row = {"check": check}
        row.update({key: verdict.get(key) for key in VERIFY_COLUMNS[1:]})
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(VERIFY_COLUMNS))
    if df["why"].isna().all():
        df = df.drop(columns="why")
    if "exact" in df and df["exact"].notna().all():
        df["exact"] = df["exact"].astype(bool)
    if df["max_abs_diff"].notna().any():
        df["max_abs_diff"] = df["max_abs_diff"].astype("float64")
    for column in ("mismatches", "samples"):
        df[column] = df[column].astype("Int64")
    return df


# -- per-layer report kinds -------------------------------------------------------


def merge_layer_tables(base: pd.DataFrame, other: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """``base`` with the columns of ``other`` joined by layer name.

    Every column of ``other`` except ``layer`` and ``op_type`` is renamed with ``suffix``
    (``LUT`` -> ``LUT_synth``, ``tool`` -> ``tool_synth``). Layers keep ``base``'s order;
    layers only in ``other`` follow, in ``other``'s order. Missing values are NA.
    """
    if "layer" not in base or "layer" not in other:
        raise ValueError("both tables need a 'layer' column")
    if not suffix:
        raise ValueError("merge_layer_tables needs a non-empty suffix")
    renamed = other.rename(columns={c: f"{c}{suffix}" for c in other.columns
                                    if c not in LAYER_KEYS})
    clash = [c for c in renamed.columns if c not in LAYER_KEYS and c in base.columns]
    if clash:
        raise ValueError(f"columns {clash} are already in the base table; use another suffix")
    has_op_type = "op_type" in renamed
    if has_op_type:
        renamed = renamed.rename(columns={"op_type": "_op_type_other"})
    merged = base.merge(renamed, on="layer", how="outer", sort=False)
    order = _ordered_union(base["layer"], other["layer"])
    merged = merged.set_index("layer").loc[order].reset_index()
    if has_op_type:
        if "op_type" in merged:
            merged["op_type"] = merged["op_type"].fillna(merged["_op_type_other"])
        else:
            merged.insert(1, "op_type", merged["_op_type_other"])
        merged = merged.drop(columns="_op_type_other")
    elif "op_type" in merged:
        merged["op_type"] = merged["op_type"].fillna(merged["layer"].map(op_type_of))
    return merged


@dataclass(frozen=True)
class LayerReport:
    """A kind of per-layer report merged into the ``layers`` table.

    ``load(build_dir)`` returns a table with a ``layer`` column, or ``None`` when the build
    has no such report; its other columns are merged in with ``suffix``. The first kind
    (the estimates) has no suffix: it is the base table.
    """

    name: str
    suffix: str
    load: Callable[[Path], pd.DataFrame | None]


#: The per-layer report kinds, in merge order. Later kinds (synthesis, rtlsim) are appended.
LAYER_REPORTS: list[LayerReport] = [LayerReport("estimate", "", estimate_layer_table)]


def _layers_table(build_dir: Path) -> pd.DataFrame | None:
    table = None
    for kind in LAYER_REPORTS:
        other = kind.load(build_dir)
        if other is None:
            continue
        if table is None:
            table = other if not kind.suffix else other.rename(
                columns={c: f"{c}{kind.suffix}" for c in other.columns if c not in LAYER_KEYS})
        else:
            table = merge_layer_tables(table, other, kind.suffix)
    return table


# -- estimates, rtlsim and synthesis side by side -------------------------------------

SUMMARY_COLUMNS = ("metric", "estimate", "rtlsim", "synth")
#: metric -> (estimate key in estimate_network_performance.json, rtlsim key)
_PERFORMANCE_METRICS = {
    "throughput_fps": ("estimated_throughput_fps", "stable_throughput[images/s]"),
    "interval_cycles": ("max_cycles", "interval_cycles"),
    "latency_cycles": ("critical_path_cycles", "latency_cycles"),
}


def summary_table(build_dir: Path) -> pd.DataFrame | None:
    """One row per figure, one column per source: what the estimate says, what rtlsim
    measured and what synthesis reported (``-`` where a source has no such figure).

    Rows: ``throughput_fps``, ``interval_cycles``, ``latency_cycles``, the resources, and
    from Vivado ``WNS_ns`` and ``fmax_mhz``. The synthesis column is headed by its tool
    (``synth (vivado)``, ``synth (yosys)``). ``None`` when the build has none of the files.
    """
    perf, _ = _read_optional(build_dir, NETWORK_FILE)
    totals, _ = _read_optional(build_dir, RESOURCES_FILE)
    rtlsim, _ = _read_optional(build_dir, RTLSIM_FILE)
    ooc, _ = _read_optional(build_dir, OOC_FILE)
    post, _ = _read_optional(build_dir, POST_SYNTH_FILE)
    if perf is None and rtlsim is None and ooc is None and post is None:
        return None
    perf, rtlsim, ooc = perf or {}, rtlsim or {}, ooc or {}
    estimate_total = (totals or {}).get("total", {})
    synth_total = (post or {}).get(TOP_KEY, {})
    rows = []
    for metric, (estimate_key, rtlsim_key) in _PERFORMANCE_METRICS.items():
        synth = ooc.get("estimated_throughput_fps") if metric == "throughput_fps" else None
        rows.append((metric, perf.get(estimate_key), rtlsim.get(rtlsim_key), synth))
    for kind in UTILIZATION_COLUMNS:
        rows.append((kind, estimate_total.get(kind), None, synth_total.get(kind)))
    if "WNS" in ooc:
        rows.append(("WNS_ns", None, None, ooc.get("WNS")))
        rows.append(("fmax_mhz", None, None, ooc.get("fmax_mhz")))
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    df = df[df[["estimate", "rtlsim", "synth"]].notna().any(axis=1)].reset_index(drop=True)
    tool = ooc.get("tool") or next((e.get("tool") for e in (post or {}).values()
                                    if isinstance(e, dict) and e.get("tool")), None)
    if tool:
        df = df.rename(columns={"synth": f"synth ({tool})"})
    return df


def compare_builds(build_a: Path, build_b: Path) -> dict[str, pd.DataFrame]:
    """Two builds side by side: ``summary`` (each figure of :func:`summary_table` for A and B
    and the change in percent) and ``layers`` (per layer, the folding, cycles and
    resources of A and B, estimated and, where both have it, synthesised)."""
    a_tables, b_tables = build_tables(build_a), build_tables(build_b)
    out: dict[str, pd.DataFrame] = {}
    sa, sb = a_tables.get("summary"), b_tables.get("summary")
    if sa is not None and sb is not None:
        rows = []
        for source in ("estimate", "rtlsim", "synth"):
            col_a = next((c for c in sa.columns if c.startswith(source)), None)
            col_b = next((c for c in sb.columns if c.startswith(source)), None)
            if col_a is None or col_b is None:
                continue
            a = sa.set_index("metric")[col_a]
            b = sb.set_index("metric")[col_b]
            for metric in _ordered_union(a.index, b.index):
                va, vb = a.get(metric), b.get(metric)
                if pd.isna(va) and pd.isna(vb):
                    continue
                change = None
                if _is_number(va) and _is_number(vb) and va:
                    change = 100.0 * (vb - va) / abs(va)
                rows.append({"metric": metric, "source": col_a if col_a == col_b else source,
                             "A": va, "B": vb, "change_%": change})
        out["summary"] = pd.DataFrame(rows, columns=["metric", "source", "A", "B", "change_%"])
    la, lb = a_tables["layers"], b_tables["layers"]
    keep = [c for c in ("cycles", *FOLDING_ATTRS, *RESOURCES,
                        *(f"{r}_synth" for r in RESOURCES)) if c in la or c in lb]
    left = la[["layer", "op_type", *[c for c in keep if c in la]]]
    right = lb[["layer", *[c for c in keep if c in lb]]]
    left = left.rename(columns={c: f"{c}_A" for c in keep})
    right = right.rename(columns={c: f"{c}_B" for c in keep})
    merged = left.merge(right, on="layer", how="outer", sort=False)
    order = _ordered_union(la["layer"], lb["layer"])
    if len(merged):
        merged = merged.set_index("layer").loc[order].reset_index()
    merged["op_type"] = merged["op_type"].fillna(merged["layer"].map(op_type_of))
    paired = [f"{c}_{side}" for c in keep for side in "AB" if f"{c}_{side}" in merged]
    merged = merged[["layer", "op_type", *paired]]
    out["layers"] = merged
    return out


_CONSTANT_NOTE_COLUMNS = ("tool", "tool_version", "part", "design", "design_state", "source")


def format_report_table(df: pd.DataFrame, title: str) -> str:
    """One report file's table for the terminal: columns that hold one value for every row
    (the tool, its version, the part, the design, the source file) become a note line, and
    a hierarchy is shown by indenting the instance names (``path`` and ``parent`` stay in
    the CSV)."""
    shown = df.copy()
    notes = []
    for column in _CONSTANT_NOTE_COLUMNS:
        if column in shown:
            values = shown[column].dropna().unique()
            if len(values) <= 1:
                if len(values):
                    notes.append(f"{column}: {values[0]}")
                shown = shown.drop(columns=column)
    if {"kind", "message", "line"} <= set(shown.columns):  # a log: one message a line
        lines = []
        for _, row in shown.iterrows():
            text = str(row["message"])
            text = text if len(text) <= 160 else text[:157] + "..."
            lines.append(f"line {row['line']}: {row['kind']} [{row.get('id')}] {text}")
        body = "\n".join(lines) if lines else "(no errors or critical warnings)"
    elif {"instance", "depth", "path"} <= set(shown.columns):
        names = [("  " * int(d)) + str(i)
                 for i, d in zip(shown["instance"], shown["depth"], strict=True)]
        width = max(len(n) for n in names) if names else 0
        shown["instance"] = [n.ljust(width) for n in names]
        shown = shown.drop(columns=[c for c in ("parent", "path", "depth", "is_self")
                                    if c in shown])
        body = _render(shown, {"instance": str})
    else:
        body = _render(shown) if not shown.empty else "(empty)"
    note = f"\n({', '.join(notes)})" if notes else ""
    return f"== {title} ==\n{body}{note}"


def format_comparison(tables: dict[str, pd.DataFrame], a: str, b: str) -> str:
    """A readable rendering of :func:`compare_builds`' result."""
    parts = [f"A: {a}\nB: {b}"]
    if "summary" in tables:
        parts.append("== summary ==\n" + _render(tables["summary"], {
            "change_%": lambda v: "-" if v is None or pd.isna(v) else f"{v:+.1f}%"}))
    parts.append("== layers ==\n" + (_render(tables["layers"]) if len(tables["layers"])
                                      else "(no per-layer reports)"))
    return "\n\n".join(parts)


# -- the entry points -------------------------------------------------------------


def build_tables(build_dir: Path, plugins=None) -> dict[str, pd.DataFrame]:
    """The report tables of ``build_dir`` (see the module docstring).

    ``plugins`` (optional, a :class:`dfx.plugin_manager.DfxPluginManager`) lets plugins add
    tables through the ``dfx_reports`` hook.
    """
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise ReportError(f"{build_dir} is not a dfx build folder: "
                          f"{'it is a file' if build_dir.exists() else 'it does not exist'}")
    present = [name for name in REPORT_FILES if (build_dir / name).is_file()]
    if not present:
        raise ReportError(f"{build_dir} is not a dfx build folder: it has none of the report "
                          f"files {', '.join(REPORT_FILES)}")
    tables: dict[str, pd.DataFrame] = {}
    layers = _layers_table(build_dir)
    tables["layers"] = layers if layers is not None else _empty_layer_table()
    for name, make in (("summary", summary_table), ("network", network_table),
                       ("steps", steps_table), ("verify", verify_table)):
        table = make(build_dir)
        if table is not None:
            tables[name] = table
    if plugins is not None:
        for extra in plugins.hook.dfx_reports(build_dir=build_dir, tables=dict(tables)):
            tables.update(extra or {})
    return tables


def _format_value(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e15):
            return f"{value:.3g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    try:
        if pd.isna(value):
            return "-"
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalars
        return _format_value(value.item())
    return str(value)


def _render(df: pd.DataFrame, formatters: dict | None = None) -> str:
    shown = df.astype(object)
    fmt = {c: (formatters or {}).get(c, _format_value) for c in shown.columns}
    for column, f in fmt.items():
        shown[column] = shown[column].map(f)
    return shown.to_string(index=False)


def _provenance_note(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Move ``tool*``/``source*`` columns that hold one value into a note line."""
    notes = []
    for column in list(df.columns):
        if column.startswith(("tool", "source")):
            values = df[column].dropna().unique()
            if len(values) == 1:
                notes.append(f"{column}: {values[0]}")
                df = df.drop(columns=column)
    return df, ", ".join(notes)


def format_tables(tables: dict[str, pd.DataFrame]) -> str:
    """A readable text rendering of :func:`build_tables`' result."""
    parts = []
    for name, df in tables.items():
        header = f"== {name} =="
        if name == "layers":
            if df.empty:
                parts.append(f"{header}\n(no per-layer reports in this build)")
                continue
            df, note = _provenance_note(df)
            body = _render(df)
            if note:
                body += f"\n({note})"
        elif name == "network" and len(df) == 1:
            values = [_format_value(v) for v in df.iloc[0].tolist()]
            key_width = max(len(str(c)) for c in df.columns)
            value_width = max(len(v) for v in values)
            body = "\n".join(f"{c!s:<{key_width}}  {v:>{value_width}}"
                              for c, v in zip(df.columns, values, strict=True))
        elif name == "steps":
            total = float(df["seconds"].sum())
            body = _render(df, {"seconds": lambda v: f"{v:,.3f}"})
            body += f"\ntotal: {total:,.3f} s"
        elif name == "verify":
            body = _render(df, {"max_abs_diff": lambda v: "-" if pd.isna(v) else f"{v:.3g}"})
        else:
            body = _render(df) if not df.empty else "(empty)"
        parts.append(f"{header}\n{body}")
    return "\n\n".join(parts)


# -- readers of tool reports (Vivado, Vitis HLS, Yosys) ----------------------------------------
# Imported last: the reader modules import ReportError from this module.
from dfx.reports.detect import REPORT_KINDS, detect_report_kind, read_report  # noqa: E402
from dfx.reports.hls import (  # noqa: E402
    HLS_COLUMNS,
    read_hls_csynth_summary,
    read_hls_csynth_text,
    read_hls_csynth_xml,
)
from dfx.reports.synth import TOP_KEY, synth_layer_table  # noqa: E402
from dfx.reports.vivado import (  # noqa: E402
    LOG_COLUMNS,
    TIMING_COLUMNS,
    UTILIZATION_COLUMNS,
    UTILIZATION_FLAT_COLUMNS,
    UTILIZATION_HIER_COLUMNS,
    first_errors,
    fmax_mhz,
    read_vivado_log,
    read_vivado_timing_summary,
    read_vivado_utilization,
    read_vivado_utilization_hierarchical,
)
from dfx.reports.yosys import YOSYS_COLUMNS, read_yosys_stat  # noqa: E402

LAYER_REPORTS.append(LayerReport("synth", "_synth", synth_layer_table))

__all__ += [
    "HLS_COLUMNS",
    "LOG_COLUMNS",
    "REPORT_KINDS",
    "TIMING_COLUMNS",
    "UTILIZATION_COLUMNS",
    "UTILIZATION_FLAT_COLUMNS",
    "UTILIZATION_HIER_COLUMNS",
    "YOSYS_COLUMNS",
    "detect_report_kind",
    "first_errors",
    "fmax_mhz",
    "read_hls_csynth_summary",
    "read_hls_csynth_text",
    "read_hls_csynth_xml",
    "read_report",
    "read_vivado_log",
    "read_vivado_timing_summary",
    "read_vivado_utilization",
    "read_vivado_utilization_hierarchical",
    "read_yosys_stat",
]
