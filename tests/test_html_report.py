"""The HTML report of a build and of a sweep: the figures hold the build's own figures, the
page is one offline file, and a real headless Chromium draws every plot with its data
points and no console error (a screenshot is kept as a test artifact)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, model_dir, read_json, run_dfx
from dfx.htmlreport import HtmlReportError, build_report, sweep_report

pytest.importorskip("plotly", reason="the HTML report needs the sweep extra (plotly)")

TFC = model_dir("tfc-w1a1") / "model.onnx"
CHROMIUM = Path("/usr/bin/chromium")
#: Chromium's flags for a root user in a container, and nothing that reaches the network
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("DFX_TEST_ARTIFACTS", ROOT / ".test-artifacts"))


def _with_cache(cache: Path, fn):
    old = os.environ.get("DFX_CACHE_DIR")
    os.environ["DFX_CACHE_DIR"] = str(cache)
    try:
        return fn()
    finally:
        if old is None:
            os.environ.pop("DFX_CACHE_DIR", None)
        else:
            os.environ["DFX_CACHE_DIR"] = old


def _shared_build(tmp_path_factory, name: str, make) -> Path:
    """A build made once per test run (xdist workers share it under a file lock)."""
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / f"dfx-html-{name}"
    with FileLock(str(folder) + ".lock"):
        done = folder / "done"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            _with_cache(folder / "cache", lambda: make(folder))
            done.write_text("ok")
    return folder / "build"


@pytest.fixture(scope="module")
def estimate_build(tmp_path_factory) -> Path:
    def make(folder: Path):
        result = run_dfx("run", "--plugins", "default", TFC, "--target-fps", "100000", "-o",
                         folder / "build", "-q")
        assert result.returncode == 0, result.stderr
        # a second run takes every step from the cache: the timeline marks them
        result = run_dfx("run", "--plugins", "default", TFC, "--target-fps", "100000", "-o",
                         folder / "build", "-q")
        assert result.returncode == 0, result.stderr

    return _shared_build(tmp_path_factory, "estimate", make)


@pytest.fixture(scope="module")
def full_build(tmp_path_factory) -> Path:
    """A small MLP through rtlsim (FIFO sizing by simulation) and Yosys synthesis."""
    def make(folder: Path):
        from modelgen import Layer, make_mlp

        onnx = folder / "tiny.onnx"
        make_mlp(8, [Layer(4), Layer(4, act="int")], seed=1).save(str(onnx))
        result = run_dfx("run", "--plugins", "default", onnx, "--board", "Pynq-Z2",
                         "--generate-outputs",
                         "estimate_reports,rtlsim_performance,out_of_context_synth",
                         "-o", folder / "build", "-q", timeout=1800)
        assert result.returncode == 0, result.stderr

    return _shared_build(tmp_path_factory, "full", make)


def _trace(report, slug: str, name: str) -> dict:
    figure = next(p.figure for p in report.figures if p.slug == slug)
    return next(t for t in figure["data"] if t["name"] == name)


def _validate_with_plotly(report) -> None:
    """Every figure is valid plotly: graph_objects checks each property against the schema."""
    import plotly.graph_objects as go

    for plot in report.figures:
        go.Figure(json.loads(json.dumps(plot.figure)))  # raises on an unknown property


def test_build_report_figures_are_the_builds_figures(estimate_build):
    report = build_report(estimate_build)
    _validate_with_plotly(report)
    cycles = read_json(estimate_build / "report" / "estimate_layer_cycles.json")
    bars = _trace(report, "cycles", "estimated cycles")
    assert dict(zip(bars["x"], bars["y"])) == cycles
    budget = read_json(estimate_build / "report" / "folding_summary.json")["cycle_budget"]
    line = next(t for t in next(p.figure for p in report.figures if p.slug == "cycles")["data"]
                if t["name"].startswith("cycle budget"))
    assert set(line["y"]) == {budget}
    resources = read_json(estimate_build / "report" / "estimate_layer_resources.json")
    figure = next(p.figure for p in report.figures if p.slug == "resources")
    luts = next(t for t in figure["data"] if t["name"] == "estimate" and t["xaxis"] == "x")
    assert luts["y"] == [resources[layer]["LUT"] for layer in luts["x"]]
    hw = read_json(estimate_build / "final_hw_config.json")
    pe = _trace(report, "folding", "PE")
    assert pe["y"] == [hw[layer]["PE"] for layer in pe["x"]]
    # the second build took every step from the cache
    times = read_json(estimate_build / "time_per_step.json")
    cached = _trace(report, "timeline", "from the cache")
    assert sorted(cached["y"]) == sorted(times)
    assert cached["customdata"] == [times[step] for step in cached["y"]]
    # the build has no rtlsim: the section says why instead of a plot
    notes = {s.title: s.note for s in report.sections}
    assert "rtlsim did not run" in notes["rtlsim against the estimate"]
    # its FIFO depths are the configured ones
    fifo = _trace(report, "fifo", "configured depth")
    assert len(fifo["y"]) == 2 * len(hw) - 2  # Defaults is not a layer


def test_full_build_report_has_rtlsim_synthesis_and_sized_fifos(full_build):
    report = build_report(full_build)
    _validate_with_plotly(report)
    rtlsim = read_json(full_build / "report" / "rtlsim_performance.json")
    perf = read_json(full_build / "report" / "estimate_network_performance.json")
    throughput = _trace(report, "rtlsim", "throughput")
    assert throughput["y"][:2] == [perf["estimated_throughput_fps"],
                                   rtlsim["stable_throughput[images/s]"]]
    post = read_json(full_build / "report" / "post_synth_resources.json")
    figure = next(p.figure for p in report.figures if p.slug == "resources")
    synth = next(t for t in figure["data"] if t["name"] == "synthesis (yosys)"
                 and t["xaxis"] == "x")
    assert synth["y"] == [post[layer]["LUT"] for layer in synth["x"]]
    sizing = read_json(full_build / "report" / "fifo_sizing.json")
    depths = _trace(report, "fifo", "depth")
    assert dict(zip(depths["x"], depths["y"])) == sizing["depths"]
    html = report.to_html()
    assert "synthesis (yosys)" in html


def test_the_page_is_one_self_contained_file(estimate_build, tmp_path):
    path = build_report(estimate_build).write_html(tmp_path / "report.html")
    text = path.read_text()
    assert re.search(r"<script[^>]+src=", text) is None
    assert re.search(r"<link[^>]+href=", text) is None
    assert "Plotly.newPlot" in text and "plotly.js v" in text  # the library is inlined


def test_cli_report_html(estimate_build, tmp_path):
    out = tmp_path / "r.html"
    result = run_dfx("report", estimate_build, "--html", out)
    assert result.returncode == 0, result.stderr
    assert f"HTML report written to {out}" in result.stdout
    assert out.stat().st_size > 1_000_000  # plotly.js is in it
    missing = run_dfx("report", estimate_build, "--html", tmp_path / "no" / "r.html")
    assert missing.returncode == 1
    assert "the folder" in missing.stderr and "does not exist" in missing.stderr
    not_a_build = run_dfx("report", estimate_build / "time_per_step.json", "--html", out)
    assert not_a_build.returncode == 2
    assert "take one build folder" in not_a_build.stderr


def test_report_of_a_folder_without_reports_is_named(tmp_path):
    with pytest.raises(HtmlReportError, match="is not a dfx build folder"):
        build_report(tmp_path)


def _sweep_frame(tmp_path):
    from dfx.sweep import run_sweep

    return run_sweep(TFC, ["target_fps=1e3..1e6:log:4", "board=Pynq-Z2,U250"],
                     output_dir=tmp_path / "sweep", workers=0)


def test_sweep_report_plots_every_built_point_with_fronts_and_board_lines(tmp_path):
    from dfx.sweep.table import board_table

    df = _sweep_frame(tmp_path)
    report = sweep_report(df, board_table(df, df.attrs["boards"]))
    _validate_with_plotly(report)
    assert [p.slug for p in report.figures] == ["sweep-lut", "sweep-bram-18k", "sweep-dsp"]
    figure = report.figures[0].figure
    points = [t for t in figure["data"] if t["mode"] == "markers"]
    assert sorted(x for t in points for x in t["x"]) == sorted(df["LUT"])
    front = next(t for t in figure["data"] if t["name"] == "Pareto front")
    assert sorted(front["x"]) == sorted(df.loc[df["pareto_LUT"], "LUT"])
    lines = {t["name"]: t["x"][0] for t in figure["data"] if t["name"].endswith("capacity")}
    assert lines == {"Pynq-Z2 capacity": 53200, "U250 capacity": 1728000}


def _chromium_page_check(page_path: Path, screenshot: Path) -> dict:
    """Open ``page_path`` in headless Chromium; what every plot drew, the console errors
    and the requests the page made."""
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="Playwright (the test extra) is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); .ci/run installs Debian's "
                    f"chromium")
    errors, requests = [], []
    with playwright.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            plots = page.evaluate("""() => Array.from(document.querySelectorAll('.dfx-plot'))
                .map(div => ({
                    id: div.id,
                    svg: div.querySelectorAll('svg.main-svg').length,
                    traces: (div._fullData || []).length,
                    bars: div.querySelectorAll('.barlayer .trace .point path').length,
                    markers: div.querySelectorAll('.scatterlayer .trace .points path').length,
                    lines: div.querySelectorAll('.scatterlayer .trace path.js-line').length
                }))""")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return {"plots": plots, "errors": errors,
            "requests": [r for r in requests if not r.startswith("file:")]}


def _assert_drawn(report, seen: dict) -> None:
    assert seen["errors"] == []
    assert seen["requests"] == []  # offline: the page loads nothing
    expected = {f"plot-{p.slug}": p.figure for p in report.figures}
    assert {p["id"] for p in seen["plots"]} == set(expected)
    for plot in seen["plots"]:
        figure = expected[plot["id"]]
        assert plot["svg"] >= 1, plot
        assert plot["traces"] == len(figure["data"]), plot
        bars = sum(len([v for v in t.get("y", []) if v is not None]) for t in figure["data"]
                   if t["type"] == "bar" and t.get("orientation") != "h")
        bars += sum(len(t["x"]) for t in figure["data"] if t.get("orientation") == "h")
        assert plot["bars"] >= (1 if bars else 0) and plot["bars"] <= bars, plot
        if any(t["type"] == "scatter" for t in figure["data"]):
            assert plot["markers"] + plot["lines"] > 0, plot
        assert plot["bars"] + plot["markers"] + plot["lines"] > 0, plot


def test_build_report_in_a_real_browser(full_build, tmp_path):
    report = build_report(full_build)
    page = report.write_html(tmp_path / "build.html")
    seen = _chromium_page_check(page, ARTIFACTS / "html-report-build.png")
    _assert_drawn(report, seen)
    assert len(seen["plots"]) == 6
    assert (ARTIFACTS / "html-report-build.png").stat().st_size > 10_000


def test_sweep_report_from_the_cli_in_a_real_browser(tmp_path):
    out = tmp_path / "sweep.html"
    result = run_dfx("sweep", TFC, "--grid", "target_fps=1e3..1e6:log:4", "--grid",
                     "board=Pynq-Z2,ZCU104", "--workers", "0", "-o", tmp_path / "s",
                     "--html", out)
    assert result.returncode == 0, result.stderr
    assert f"html: {out}" in result.stdout
    import pandas as pd

    from dfx.sweep.table import board_table

    df = pd.read_parquet(tmp_path / "s" / "sweep.parquet")
    df.attrs.update(boards=["Pynq-Z2", "ZCU104"], swept=["target_fps", "board"])
    report = sweep_report(df, board_table(df, df.attrs["boards"]))
    seen = _chromium_page_check(out, ARTIFACTS / "html-report-sweep.png")
    _assert_drawn(report, seen)


def test_png_export(estimate_build, tmp_path):
    report = build_report(estimate_build)
    try:
        written = report.write_png(tmp_path / "png")
    except HtmlReportError as exc:
        # kaleido draws with Chrome/Chromium: without one it must say so plainly
        assert "Chrome or Chromium" in str(exc)
        pytest.skip(f"PNG export cannot run here: {exc}")
    assert [p.name for p in written] == [f"{p.slug}.png" for p in report.figures]
    for path in written:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(data[16:20], "big")
        assert width == 2000  # 1000 px at scale 2


def test_help_and_the_estimate_flow_import_no_sweep_package(tmp_path):
    heavy = {"dask", "distributed", "plotly", "pyarrow", "kaleido", "playwright"}
    for args in (["--help"], ["sweep", "--help"],
                 ["run", "--plugins", "default", str(TFC), "-o", str(tmp_path / "b"), "-q"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dfx", *args],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0]
                    for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & heavy, (args, sorted(imported & heavy))
