"""Build and sweep reports as one self-contained HTML file with plotly plots.

``dfx report BUILD --html report.html`` (:func:`build_report`) shows a build's layers and
steps: cycles against the cycle budget, resources (the estimate beside synthesis, where
it ran), the folding, the step timeline (cached steps marked), rtlsim beside the
estimate, and the FIFO depths. ``dfx sweep ... --html`` (:func:`sweep_report`) plots the
throughput of every point against LUT, BRAM and DSP, with the Pareto front and each
board's capacity.

The plots are plotly figures, written as plotly's JSON figure format (``data`` and
``layout``) and drawn by plotly.js, which is inlined once: the file opens offline and
loads nothing. The figures are built as plain dicts rather than through
``plotly.graph_objects`` so that writing a report stays well under a second; the tests
check every figure against plotly's schema. :meth:`HtmlReport.write_png` exports the same
figures as PNG images through plotly and kaleido (which needs Chrome or Chromium).

This module imports neither pandas (a build's reports are read as JSON) nor plotly's
Python package (only the path of its ``plotly.min.js`` is looked up); a sweep's report
takes the sweep's DataFrame.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from dfx.errors import DfxError

RESOURCES = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")
#: the colours of the figures: one per source of a figure
COLORS = {"estimate": "#4C78A8", "synth": "#F58518", "rtlsim": "#54A24B",
          "budget": "#E45756", "cached": "#B8B8B8", "ran": "#4C78A8", "peak": "#72B7B2"}
#: more colours, for the models or boards of a sweep
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6",
           "#9D755D", "#EECA3B", "#BAB0AC")


#: the width of an exported image in CSS pixels (times ``scale`` in image pixels)
PNG_WIDTH = 1000


class HtmlReportError(DfxError):
    """A report cannot be made: the folder is not a build, or a file is unreadable."""


# -- the report -----------------------------------------------------------------


@dataclass
class Plot:
    """One plotly figure: ``figure`` is ``{"data": [...], "layout": {...}}``."""

    slug: str
    title: str
    figure: dict
    caption: str = ""


@dataclass
class Section:
    """A heading with plots, a note (why a plot is missing) or an HTML table."""

    title: str
    plots: list[Plot] = field(default_factory=list)
    note: str | None = None
    table_html: str | None = None


@dataclass
class HtmlReport:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    @property
    def figures(self) -> list[Plot]:
        return [plot for section in self.sections for plot in section.plots]

    def to_html(self) -> str:
        """The whole page: one file, plotly.js inlined, no external resource."""
        parts = []
        for section in self.sections:
            parts.append(f"<section><h2>{_esc(section.title)}</h2>")
            if section.note:
                parts.append(f'<p class="note">{_esc(section.note)}</p>')
            for plot in section.plots:
                parts.append(f'<figure><div id="plot-{plot.slug}" class="dfx-plot" '
                             f'data-title="{_esc(plot.title)}"></div>')
                if plot.caption:
                    parts.append(f"<figcaption>{_esc(plot.caption)}</figcaption>")
                parts.append("</figure>")
            if section.table_html:
                parts.append(section.table_html)
            parts.append("</section>")
        figures = {f"plot-{p.slug}": p.figure for p in self.figures}
        return _PAGE.format(
            title=_esc(self.title), subtitle=_esc(self.subtitle), body="\n".join(parts),
            plotly_js=_script_text(plotly_js()), figures=_script_text(_json(figures)))

    def write_html(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            raise HtmlReportError(f"--html {path}: is a folder; give a file name such as "
                                  f"{path / 'report.html'}")
        if not path.parent.is_dir():
            raise HtmlReportError(f"--html {path}: the folder {path.parent} does not exist")
        try:
            path.write_text(self.to_html(), encoding="utf-8")
        except OSError as exc:
            raise HtmlReportError(f"--html {path}: cannot write it ({exc.strerror or exc})"
                                  ) from None
        return path

    def write_png(self, folder: str | Path, scale: float = 2.0) -> list[Path]:
        """Every figure as ``<folder>/<slug>.png`` (plotly + kaleido, which runs Chrome or
        Chromium headless). HtmlReportError saying what is missing when it cannot run."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise HtmlReportError(f"--png {folder}: is a file; give a folder")
        try:
            import kaleido  # noqa: F401
            import plotly.io as pio
        except ImportError as exc:
            raise HtmlReportError(
                f"--png needs plotly and kaleido ({exc.name} is not installed): pip install "
                f"'dfx-dataflow[sweep]'") from None
        folder.mkdir(parents=True, exist_ok=True)
        plots = self.figures
        paths = [folder / f"{plot.slug}.png" for plot in plots]
        if not plots:
            return []
        figures = [json.loads(_json(plot.figure)) for plot in plots]  # plain JSON, as in the page
        widths = [int(f["layout"].get("width") or PNG_WIDTH) for f in figures]
        heights = [int(f["layout"].get("height") or 450) for f in figures]
        try:
            pio.write_images(figures, paths, format="png", scale=scale, width=widths,
                             height=heights, validate=False)
        except Exception as exc:  # noqa: BLE001 - kaleido's own errors vary by release
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise HtmlReportError(
                f"--png: kaleido could not export the plots ({type(exc).__name__}: {first}). "
                f"kaleido draws with Chrome or Chromium, which must be installed here "
                f"(Debian: apt-get install chromium); the HTML report does not need it"
            ) from None
        return paths


def plotly_js() -> str:
    """plotly.js as the installed plotly package ships it (its Python code is not run)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise HtmlReportError("the HTML report needs plotly (its plotly.js is inlined): pip "
                              "install 'dfx-dataflow[sweep]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HtmlReportError(f"plotly's {path} cannot be read ({exc}); reinstall plotly"
                              ) from None


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _clean(value):
    """JSON-ready: NaN and NA as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(value)


def _json(value) -> str:
    return json.dumps(_clean(value), separators=(",", ":"), allow_nan=False)


def _script_text(text: str) -> str:
    """Text that is safe inside <script>: no "</script" can end the element early."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1150px; padding: 1em 2em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }}
h2 {{ font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
      margin-top: 1.8em; }}
.subtitle {{ color: #555; margin-top: 0; }}
.note {{ color: #666; font-style: italic; }}
figure {{ margin: 0.5em 0 1.5em 0; }}
figcaption {{ color: #555; font-size: 0.9em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f4f4f4; }}
td.text, th.text {{ text-align: left; }}
.table-wrap {{ overflow-x: auto; }}
</style>
<script>{plotly_js}</script>
</head>
<body>
<h1>{title}</h1>
<p class="subtitle">{subtitle}</p>
{body}
<script>
(function () {{
  var figures = {figures};
  Object.keys(figures).forEach(function (id) {{
    var figure = figures[id];
    Plotly.newPlot(id, figure.data, figure.layout,
                   {{displaylogo: false, responsive: true}});
  }});
}})();
</script>
</body>
</html>
"""


# -- figure helpers -------------------------------------------------------------------


def _layout(title: str, **extra) -> dict:
    layout = {"title": {"text": title, "x": 0.01, "xanchor": "left"},
              "margin": {"l": 70, "r": 30, "t": 60, "b": 80}, "height": 420,
              "plot_bgcolor": "#fafafa", "hovermode": "closest",
              "legend": {"orientation": "h", "y": -0.25}}
    layout.update(extra)
    return layout


def _grid_axes(layout: dict, titles: list[str], cols: int, y_title: str = "") -> list[tuple]:
    """Lay ``len(titles)`` small plots out in a grid of ``cols`` columns; the (xaxis,
    yaxis) names of each, for the traces' ``xaxis``/``yaxis``."""
    rows = math.ceil(len(titles) / cols)
    gap_x, gap_y = 0.08, 0.18 if rows > 1 else 0.0
    names = []
    annotations = layout.setdefault("annotations", [])
    for i, title in enumerate(titles):
        row, col = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = col / cols + (gap_x / 2 if col else 0)
        x1 = (col + 1) / cols - (gap_x / 2 if col < cols - 1 else 0)
        y1 = 1 - row / rows - (gap_y / 2 if row else 0)
        y0 = 1 - (row + 1) / rows + (gap_y / 2 if row < rows - 1 else 0)
        layout[f"xaxis{suffix}"] = {"domain": [x0, x1], "anchor": f"y{suffix}",
                                    "automargin": True}
        layout[f"yaxis{suffix}"] = {"domain": [y0, y1], "anchor": f"x{suffix}",
                                    "title": {"text": y_title} if y_title and col == 0 else {},
                                    "rangemode": "tozero"}
        annotations.append({"text": f"<b>{_esc(title)}</b>", "showarrow": False,
                            "xref": "paper", "yref": "paper", "x": (x0 + x1) / 2,
                            "y": y1 + 0.01, "xanchor": "center", "yanchor": "bottom"})
        names.append((f"x{suffix}", f"y{suffix}"))
    layout["height"] = 320 * rows + 120
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# -- reading a build folder ---------------------------------------------------------------

_BUILD_FILES = ("report/estimate_layer_cycles.json", "report/estimate_layer_resources.json",
                "final_hw_config.json", "report/estimate_network_performance.json",
                "time_per_step.json", "report/rtlsim_performance.json",
                "report/ooc_synth_and_timing.json", "report/post_synth_resources.json")


class _Build:
    """The JSON reports of one build folder (None for each file it does not have)."""

    def __init__(self, folder: Path):
        self.folder = folder
        if not folder.is_dir():
            raise HtmlReportError(f"{folder} is not a dfx build folder: "
                                  f"{'it is a file' if folder.exists() else 'it does not exist'}")
        if not any((folder / name).is_file() for name in _BUILD_FILES):
            raise HtmlReportError(f"{folder} is not a dfx build folder: it has none of the "
                                  f"report files {', '.join(_BUILD_FILES)}")
        self.status = self.read("build_status.json") or {}
        self.cycles = self.read("report/estimate_layer_cycles.json") or {}
        resources = self.read("report/estimate_layer_resources.json") or {}
        self.total = resources.get("total") or {}
        self.resources = {k: v for k, v in resources.items()
                          if k != "total" and isinstance(v, dict)}
        self.hw = {k: v for k, v in (self.read("final_hw_config.json") or {}).items()
                   if k != "Defaults" and isinstance(v, dict)}
        self.folding = self.read("report/folding_summary.json") or {}
        self.perf = self.read("report/estimate_network_performance.json") or {}
        self.rtlsim = self.read("report/rtlsim_performance.json")
        self.ooc = self.read("report/ooc_synth_and_timing.json")
        self.post = self.read("report/post_synth_resources.json") or {}
        self.fifo = self.read("report/fifo_sizing.json")
        self.times = self.read("time_per_step.json") or {}
        self.layers = list(dict.fromkeys([*self.hw, *self.cycles, *self.resources]))

    def read(self, name: str) -> dict | None:
        path = self.folder / name
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise HtmlReportError(f"report file {path} cannot be read: {exc}") from None
        except ValueError as exc:
            raise HtmlReportError(f"report file {path} is not valid JSON ({exc}); the build "
                                  f"may have been interrupted, re-run dfx run") from None
        if not isinstance(data, dict):
            raise HtmlReportError(f"report file {path} does not hold a JSON object")
        return data

    def cached_steps(self) -> dict[str, bool]:
        """Per step, whether it came from the cache: from build_status.json, or (builds
        of older dfx releases) from the build log's "step X: cached" lines."""
        steps = self.status.get("steps")
        if isinstance(steps, list):
            return {s.get("step"): bool(s.get("cached")) for s in steps if isinstance(s, dict)}
        found = {}
        log = self.folder / "build_dataflow.log"
        if log.is_file():
            for match in re.finditer(r"step (\S+): (cached|ran) in", log.read_text(
                    encoding="utf-8", errors="replace")):
                found[match.group(1)] = match.group(2) == "cached"
        return found


# -- the build report ---------------------------------------------------------------


def build_report(build_dir: str | Path) -> HtmlReport:
    """The HTML report of a build folder written by ``dfx run``."""
    build = _Build(Path(build_dir))
    model = build.status.get("model")
    outputs = build.status.get("outputs") or {}
    subtitle = "; ".join(x for x in (
        f"model {model}" if model else "",
        f"status {build.status.get('status')}" if build.status.get("status") else "",
        ", ".join(f"{name} {entry.get('status')}" for name, entry in outputs.items()),
        f"dfx {build.status.get('dfx_version')}" if build.status.get("dfx_version") else "",
    ) if x)
    report = HtmlReport(f"dfx build report: {build.folder.name}", subtitle)
    report.sections.append(Section("Summary", table_html=_summary_table(build)))
    report.sections.append(_cycles_section(build))
    report.sections.append(_resources_section(build))
    report.sections.append(_folding_section(build))
    report.sections.append(_timeline_section(build))
    report.sections.append(_rtlsim_section(build))
    report.sections.append(_fifo_section(build))
    return report


def _number(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _esc(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _summary_table(build: _Build) -> str:
    ooc, rtlsim, top = build.ooc or {}, build.rtlsim or {}, build.post.get("(top)") or {}
    tool = ooc.get("tool") or top.get("tool")
    rows = [("throughput (fps)", build.perf.get("estimated_throughput_fps"),
             rtlsim.get("stable_throughput[images/s]"), ooc.get("estimated_throughput_fps")),
            ("interval (cycles)", build.perf.get("max_cycles"), rtlsim.get("interval_cycles"),
             None),
            ("latency (cycles)", build.perf.get("critical_path_cycles"),
             rtlsim.get("latency_cycles"), None)]
    rows += [(kind, build.total.get(kind), None, top.get(kind, ooc.get(kind)))
             for kind in RESOURCES]
    if "WNS" in ooc:
        rows += [("WNS (ns)", None, None, ooc.get("WNS")),
                 ("fmax (MHz)", None, None, ooc.get("fmax_mhz"))]
    rows = [r for r in rows if any(v is not None for v in r[1:])]
    synth = f"synthesis ({tool})" if tool else "synthesis"
    head = (f'<tr><th class="text">figure</th><th>estimate</th><th>rtlsim</th>'
            f"<th>{_esc(synth)}</th></tr>")
    body = "".join(f'<tr><td class="text">{_esc(name)}</td>' + "".join(
        f"<td>{_number(v, 1 if isinstance(v, float) and abs(v) < 1000 else 0)}</td>"
        for v in values) + "</tr>" for name, *values in rows)
    return f'<div class="table-wrap"><table id="summary">{head}{body}</table></div>'


def _cycles_section(build: _Build) -> Section:
    section = Section("Cycles per layer against the cycle budget")
    layers = [layer for layer in build.layers if layer in build.cycles]
    if not layers:
        section.note = "This build has no per-layer cycle estimates " \
                       "(report/estimate_layer_cycles.json)."
        return section
    slowest = build.perf.get("max_cycles_node_name")
    data = [{"type": "bar", "name": "estimated cycles", "x": layers,
             "y": [build.cycles[layer] for layer in layers],
             "marker": {"color": [COLORS["budget"] if layer == slowest else COLORS["estimate"]
                                  for layer in layers]},
             "hovertemplate": "%{x}: %{y:,} cycles<extra></extra>"}]
    budget = build.folding.get("cycle_budget")
    if budget:
        data.append({"type": "scatter", "mode": "lines", "name": f"cycle budget ({budget:,.0f})",
                     "x": layers, "y": [budget] * len(layers),
                     "line": {"color": COLORS["budget"], "dash": "dash"},
                     "hovertemplate": "cycle budget: %{y:,}<extra></extra>"})
    if build.rtlsim and build.rtlsim.get("interval_cycles"):
        interval = build.rtlsim["interval_cycles"]
        data.append({"type": "scatter", "mode": "lines", "name": f"rtlsim interval "
                     f"({interval:,.0f})", "x": layers, "y": [interval] * len(layers),
                     "line": {"color": COLORS["rtlsim"], "dash": "dot"},
                     "hovertemplate": "rtlsim interval: %{y:,}<extra></extra>"})
    met = build.folding.get("target_met")
    caption = (f"The slowest layer ({slowest}) is red; it sets the interval. "
               + ("" if met is None else "The target was met." if met
                  else "The target was not met."))
    section.plots.append(Plot("cycles", "cycles per layer", {
        "data": data, "layout": _layout("Estimated cycles per frame, per layer",
                                        yaxis={"title": {"text": "cycles"}})}, caption))
    return section


def _resources_section(build: _Build) -> Section:
    section = Section("Resources per layer")
    layers = [layer for layer in build.layers if layer in build.resources or layer in build.post]
    if not layers:
        section.note = "This build has no per-layer resource estimates."
        return section
    synth_tool = next((v.get("tool") for v in build.post.values() if isinstance(v, dict)
                       and v.get("tool")), None)
    has_synth = any(layer in build.post for layer in layers)
    kinds = [k for k in RESOURCES if k != "URAM" or any(
        (build.resources.get(layer, {}).get(k) or 0) + (build.post.get(layer, {}).get(k) or 0)
        for layer in layers)]
    layout = _layout("Resources per layer: estimate" + (
        f" and synthesis ({synth_tool})" if has_synth else ""), barmode="group")
    axes = _grid_axes(layout, kinds, cols=2)
    data = []
    for i, (kind, (xaxis, yaxis)) in enumerate(zip(kinds, axes)):
        data.append({"type": "bar", "name": "estimate", "legendgroup": "estimate",
                     "showlegend": i == 0, "x": layers, "xaxis": xaxis, "yaxis": yaxis,
                     "y": [build.resources.get(layer, {}).get(kind) for layer in layers],
                     "marker": {"color": COLORS["estimate"]},
                     "hovertemplate": f"%{{x}}: %{{y:,}} {kind} (estimate)<extra></extra>"})
        if has_synth:
            data.append({"type": "bar", "name": f"synthesis ({synth_tool})",
                         "legendgroup": "synth", "showlegend": i == 0, "x": layers,
                         "xaxis": xaxis, "yaxis": yaxis,
                         "y": [build.post.get(layer, {}).get(kind) for layer in layers],
                         "marker": {"color": COLORS["synth"]},
                         "hovertemplate": f"%{{x}}: %{{y:,}} {kind} ({synth_tool})"
                                          f"<extra></extra>"})
    caption = ("Synthesis did not run in this build (out_of_context_synth adds it)."
               if not has_synth else "Synthesis figures are per layer, from the "
               f"{synth_tool} run of each layer.")
    section.plots.append(Plot("resources", "resources per layer",
                              {"data": data, "layout": layout}, caption))
    return section


def _folding_section(build: _Build) -> Section:
    section = Section("Folding")
    layers = [layer for layer in build.layers if layer in build.hw]
    if not layers:
        section.note = "This build has no folding (final_hw_config.json)."
        return section
    data = []
    for attr, color in (("PE", COLORS["estimate"]), ("SIMD", COLORS["synth"])):
        values = [build.hw[layer].get(attr) for layer in layers]
        if all(v is None for v in values):
            continue
        data.append({"type": "bar", "name": attr, "x": layers, "y": values,
                     "marker": {"color": color},
                     "customdata": [[build.hw[layer].get("ram_style") or "-",
                                     build.cycles.get(layer)] for layer in layers],
                     "hovertemplate": f"%{{x}}: {attr} %{{y}}<br>ram_style %{{customdata[0]}}"
                                      f"<br>%{{customdata[1]:,}} cycles<extra></extra>"})
    styles = sorted({str(build.hw[layer].get("ram_style")) for layer in layers
                     if build.hw[layer].get("ram_style")})
    section.plots.append(Plot("folding", "folding", {
        "data": data, "layout": _layout("PE and SIMD per layer", barmode="group",
                                        yaxis={"title": {"text": "parallelism"},
                                               "type": "log", "dtick": math.log10(2)})},
        "Hover a bar for the layer's ram_style and cycles." + (
            f" Memory styles in this build: {', '.join(styles)}." if styles else "")))
    return section


def _timeline_section(build: _Build) -> Section:
    section = Section("Step timeline")
    if not build.times:
        section.note = "This build has no time_per_step.json."
        return section
    cached = build.cached_steps()
    steps = list(build.times)
    starts, clock = [], 0.0
    for step in steps:
        starts.append(clock)
        clock += float(build.times[step])
    data = []
    for kind, label, color in ((False, "ran", COLORS["ran"]),
                               (True, "from the cache", COLORS["cached"])):
        chosen = [i for i, step in enumerate(steps) if cached.get(step, False) == kind]
        if not chosen:
            continue
        data.append({"type": "bar", "orientation": "h", "name": label,
                     "y": [steps[i] for i in chosen], "base": [starts[i] for i in chosen],
                     "x": [max(float(build.times[steps[i]]), clock * 0.002) for i in chosen],
                     "customdata": [float(build.times[steps[i]]) for i in chosen],
                     "text": [f"{float(build.times[steps[i]]):.3g} s" for i in chosen],
                     "textposition": "outside", "marker": {"color": color},
                     "hovertemplate": "%{y}: %{customdata:.3f} s, " + label
                                      + "<extra></extra>"})
    unknown = "" if cached else " (this build does not say which steps were cached)"
    section.plots.append(Plot("timeline", "step timeline", {
        "data": data, "layout": _layout(
            f"Steps in build order, {clock:,.2f} s in all", barmode="overlay",
            height=max(300, 26 * len(steps) + 120),
            xaxis={"title": {"text": "seconds since the build started"}},
            yaxis={"categoryorder": "array", "categoryarray": list(reversed(steps)),
                   "automargin": True})},
        f"{sum(1 for s in steps if cached.get(s))} of {len(steps)} steps came from the "
        f"cache{unknown}."))
    return section


def _rtlsim_section(build: _Build) -> Section:
    section = Section("rtlsim against the estimate")
    if not build.rtlsim:
        section.note = ("rtlsim did not run in this build (generate_outputs rtlsim_performance "
                        "adds it).")
        return section
    layout = _layout("Throughput and latency: estimate and rtlsim", barmode="group")
    axes = _grid_axes(layout, ["throughput (frames/s)", "latency (cycles)"], cols=2)
    sources = ["estimate", "rtlsim"]
    throughput = [build.perf.get("estimated_throughput_fps"),
                  build.rtlsim.get("stable_throughput[images/s]")]
    latency = [build.perf.get("critical_path_cycles"), build.rtlsim.get("latency_cycles")]
    colors = [COLORS["estimate"], COLORS["rtlsim"]]
    if build.ooc and build.ooc.get("estimated_throughput_fps"):
        sources_t = [*sources, "synthesis fmax"]
        throughput.append(build.ooc["estimated_throughput_fps"])
        colors_t = [*colors, COLORS["synth"]]
    else:
        sources_t, colors_t = sources, colors
    data = [{"type": "bar", "name": "throughput", "showlegend": False, "x": sources_t,
             "y": throughput, "marker": {"color": colors_t}, "xaxis": axes[0][0],
             "yaxis": axes[0][1], "hovertemplate": "%{x}: %{y:,.0f} frames/s<extra></extra>"},
            {"type": "bar", "name": "latency", "showlegend": False, "x": sources, "y": latency,
             "marker": {"color": colors}, "xaxis": axes[1][0], "yaxis": axes[1][1],
             "hovertemplate": "%{x}: %{y:,} cycles<extra></extra>"}]
    frames = build.rtlsim.get("N")
    section.plots.append(Plot("rtlsim", "rtlsim against the estimate",
                              {"data": data, "layout": layout},
                              f"rtlsim ran {frames} frames" if frames else ""))
    return section


def _fifo_section(build: _Build) -> Section:
    section = Section("FIFO depths")
    if build.fifo and build.fifo.get("depths"):
        depths = build.fifo["depths"]
        peaks = build.fifo.get("peaks") or {}
        names = list(depths)
        data = [{"type": "bar", "name": "depth", "x": names, "y": [depths[n] for n in names],
                 "marker": {"color": COLORS["estimate"]},
                 "hovertemplate": "%{x}: depth %{y:,}<extra></extra>"}]
        if peaks:
            data.append({"type": "bar", "name": "peak occupancy (deep FIFOs)", "x": names,
                         "y": [peaks.get(n) for n in names],
                         "marker": {"color": COLORS["peak"]},
                         "hovertemplate": "%{x}: peak %{y:,}<extra></extra>"})
        status = build.fifo.get("status", "")
        caption = f"FIFO sizing: {status}" + (
            f", {build.fifo['frames']} frames simulated" if build.fifo.get("frames") else "")
        section.plots.append(Plot("fifo", "FIFO depths", {
            "data": data, "layout": _layout("FIFO depths", barmode="group",
                                            yaxis={"title": {"text": "words"}})}, caption))
        return section
    names, values = [], []
    for layer in build.layers:
        for attr in ("inFIFODepths", "outFIFODepths"):
            for i, depth in enumerate(build.hw.get(layer, {}).get(attr) or []):
                names.append(f"{layer} {attr[:-10]}put {i}" if i else
                             f"{layer} {attr[:-10]}put")
                values.append(depth)
    if not names:
        section.note = "This build has no FIFOs."
        return section
    section.plots.append(Plot("fifo", "FIFO depths", {
        "data": [{"type": "bar", "name": "configured depth", "x": names, "y": values,
                  "marker": {"color": COLORS["estimate"]},
                  "hovertemplate": "%{x}: depth %{y:,}<extra></extra>"}],
        "layout": _layout("FIFO depths as configured", yaxis={"title": {"text": "words"}})},
        "These are the depths of final_hw_config.json; they were not sized by simulation "
        "(stitched_ip or rtlsim_performance sizes them)."))
    return section


# -- the sweep report -----------------------------------------------------------------------

#: the resources a sweep plots throughput against
SWEEP_RESOURCES = ("LUT", "BRAM_18K", "DSP")
_TABLE_COLUMNS = ("point", "model", "status", "estimated_fps", "LUT", "FF", "BRAM_18K", "DSP",
                  "URAM", "board", "fits_board", "LUT_synth", "BRAM_18K_synth", "DSP_synth",
                  "rtlsim_fps", "cheapest_fit_for", "fastest_fit_for", "build_seconds",
                  "error")


def sweep_report(df, boards=None, title: str = "dfx sweep") -> HtmlReport:
    """The HTML report of a sweep's table (:func:`dfx.sweep.run_sweep`'s DataFrame) and
    its board table (:func:`dfx.sweep.table.board_table`)."""
    from dfx.board_registry import get_board

    built = df[df["status"].isin(["ok", "incomplete"]) & df["estimated_fps"].notna()]
    swept = _swept_columns(df)
    subtitle = (f"{len(df)} points, {len(built)} built, {len(df) - len(built)} failed or "
                f"without figures; swept: {', '.join(swept) or 'nothing'}")
    report = HtmlReport(title, subtitle)
    names = list(df.attrs.get("boards") or [])
    capacity = {}
    for name in names:
        try:
            capacity[name] = dict(get_board(name).resources)
        except DfxError:
            continue
    group_column = "model" if df["model"].nunique() > 1 else (
        "board" if "board" in df and df["board"].nunique() > 1 else None)
    section = Section("Throughput against resources")
    if built.empty:
        section.note = "No point of this sweep was built, so there is nothing to plot."
    for kind in SWEEP_RESOURCES:
        if not built.empty and kind in built and built[kind].notna().any():
            section.plots.append(_sweep_plot(df, built[built[kind].notna()], kind, swept,
                                             capacity, group_column))
    report.sections.append(section)
    if boards is not None and len(boards):
        report.sections.append(Section("Boards: the cheapest and the fastest point that fits",
                                       table_html=_frame_html(boards, "boards")))
    columns = [c for c in ("point", "model", *swept, *_TABLE_COLUMNS[2:]) if c in df.columns]
    # (a swept board shows once, in the grid's place)
    report.sections.append(Section("Points", table_html=_frame_html(
        df[list(dict.fromkeys(columns))], "points")))
    return report


def _swept_columns(df) -> list[str]:
    """The grid's columns: ``df.attrs["swept"]`` (set by run_sweep), else those between
    ``model`` and ``status`` in a sweep table (the board column is always further on)."""
    if df.attrs.get("swept"):
        return [c for c in df.attrs["swept"] if c in df.columns]
    columns = list(df.columns)
    if "model" in columns and "status" in columns:
        return columns[columns.index("model") + 1:columns.index("status")]
    return []


def _point_label(row, swept: list[str]) -> str:
    values = ", ".join(f"{key}={_clean(row[key])}" for key in swept if key in row)
    return f"point {row['point']} ({row['model']}" + (f", {values})" if values else ")")


def _sweep_plot(df, built, kind: str, swept: list[str], capacity: dict, group_column) -> Plot:
    data = []
    groups = [(None, built)] if group_column is None else list(
        built.groupby(group_column, sort=False, dropna=False))
    positive = bool(len(built)) and bool((built[kind].astype(float) > 0).all())
    for i, (name, group) in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        label = "points" if name is None else str(name)
        data.append({"type": "scatter", "mode": "markers", "name": label,
                     "legendgroup": label, "x": group[kind].tolist(),
                     "y": group["estimated_fps"].tolist(),
                     "text": [_point_label(r, swept) for _, r in group.iterrows()],
                     "marker": {"color": color, "size": 9, "opacity": 0.85},
                     "hovertemplate": f"%{{text}}<br>%{{x:,}} {kind}<br>%{{y:,.0f}} fps"
                                      f"<extra></extra>"})
    front_column = f"pareto_{kind}"
    if front_column in df:
        for i, (model, group) in enumerate(built.groupby("model", sort=False)):
            front = group[group[front_column].fillna(False).astype(bool)].sort_values(kind)
            if front.empty:
                continue
            data.append({"type": "scatter", "mode": "lines+markers",
                         "name": f"Pareto front ({model})" if df["model"].nunique() > 1
                         else "Pareto front", "x": front[kind].tolist(),
                         "y": front["estimated_fps"].tolist(), "line": {"shape": "hv",
                         "color": "#333333", "width": 1.5, "dash": "dash" if i else "solid"},
                         "marker": {"symbol": "diamond-open", "size": 12, "color": "#333333"},
                         "text": [_point_label(r, swept) for _, r in front.iterrows()],
                         "hovertemplate": "Pareto front: %{text}<extra></extra>"})
    fps = built["estimated_fps"].astype(float)
    low, high = float(fps.min()) / 1.5, float(fps.max()) * 1.5
    for j, (board, resources) in enumerate(capacity.items()):
        cap = resources.get(kind)
        if not cap:
            continue
        data.append({"type": "scatter", "mode": "lines+text", "name": f"{board} capacity",
                     "x": [cap, cap], "y": [low, high], "text": ["", board],
                     "textposition": "top center", "textfont": {"size": 10},
                     "line": {"color": PALETTE[(j + 3) % len(PALETTE)], "width": 1,
                              "dash": "dot"},
                     "hovertemplate": f"{board}: {cap:,} {kind}<extra></extra>"})
    layout = _layout(f"Estimated throughput against {kind}", height=480,
                     xaxis={"title": {"text": f"{kind} (estimate)"},
                            "type": "log" if positive else "linear"},
                     yaxis={"title": {"text": "estimated throughput (frames/s)"},
                            "type": "log" if float(fps.min()) > 0 else "linear"})
    return Plot(f"sweep-{_slug(kind)}", f"throughput against {kind}",
                {"data": data, "layout": layout},
                "Dotted lines: each board's capacity; diamonds: the Pareto front (no other "
                "point is as fast with as little of this resource).")


def _frame_html(frame, table_id: str) -> str:
    """A DataFrame as an HTML table (text columns left-aligned), every cell escaped."""
    columns = list(frame.columns)
    text_columns = {c for c in columns if str(frame[c].dtype) in ("object", "str", "string")}
    head = "".join(f'<th class="text">{_esc(c)}</th>' if c in text_columns
                   else f"<th>{_esc(c)}</th>" for c in columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for column, value in zip(columns, values):
            clean = _clean(value)
            if clean is None:
                shown = "-"
            elif isinstance(clean, float):
                shown = f"{clean:,.4g}" if abs(clean) < 100 else f"{clean:,.0f}"
            elif isinstance(clean, int) and not isinstance(clean, bool):
                shown = f"{clean:,}"
            else:
                shown = _esc(clean)
            css = ' class="text"' if column in text_columns else ""
            cells.append(f"<td{css}>{shown}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table id="{table_id}"><tr>{head}</tr>'
            + "".join(rows) + "</table></div>")
