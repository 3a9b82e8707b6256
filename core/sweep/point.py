"""One point of a sweep: its configuration, its build, and its row of the table.

:func:`run_point` is what a Dask worker (or the sweep's own process, for a serial run)
executes. It builds the point into its own build folder with the ordinary
:class:`dfx.pipeline.Build`, through the shared content-addressed cache, and returns the
point's row: plain Python values read from the build's JSON reports. A build that fails
gives a row whose ``status`` is ``failed`` and whose ``error`` says why; it never raises.

This module does not import Dask: the same code runs in a worker and in one process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

#: the resources of the estimate and synthesis tables, in FINN's names
RESOURCES = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")

#: outputs only Vivado makes: a point asking for one runs only on a worker that has the
#: Dask resource ``vivado`` (dfx itself would write and dry-run the scripts elsewhere)
VIVADO_OUTPUTS = frozenset({"bitfile"})


@dataclass
class PointSpec:
    """Everything a worker needs to build one point (picklable, plain values).

    index:      the point's number in the grid (0-based), also its row's ``point``.
    name:       the point's build folder name under the sweep's ``points/``.
    model:      the model file (an absolute path the workers can read).
    values:     the swept keys and this point's values (typed as the config keys).
    data:       the base configuration (``--config``), relative paths already resolved.
    overrides:  fixed keys from the command line (``--set``, ``--target-fps`` ...).
    plugins:    the plugins to load, as ``dfx run --plugins`` takes them.
    output_dir: the point's build folder (absolute).
    cache_dir:  the artifact cache (None: the worker's $DFX_CACHE_DIR or user cache).
    use_cache:  False for ``--no-cache``.
    needs_vivado: the point asks for an output only Vivado makes (see VIVADO_OUTPUTS).
    """

    index: int
    name: str
    model: str
    values: dict
    data: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)
    plugins: str | None = None
    output_dir: str = ""
    cache_dir: str | None = None
    use_cache: bool = True
    needs_vivado: bool = False


_PLUGINS: dict = {}


def load_plugins_once(names: str | None):
    """The plugin manager for ``names``, loaded once per process (a worker builds many
    points with the same plugins)."""
    from dfx.plugin_manager import load_plugins

    key = names or ""
    if key not in _PLUGINS:
        _PLUGINS[key] = load_plugins(names)
    return _PLUGINS[key]


def point_config(spec: PointSpec, plugins):
    """The point's validated configuration and board: the base config, the fixed keys,
    then the swept values (ConfigError naming the key on a bad value)."""
    from dfx.board_registry import get_board
    from dfx.config import apply_board, make_config

    overrides = {**spec.overrides, **spec.values}
    if spec.output_dir:
        overrides["output_dir"] = spec.output_dir
    cfg = make_config(spec.data, overrides, extra_fields=plugins.config_fields(),
                      source="the sweep's configuration")
    board = apply_board(cfg, get_board)
    return cfg, board


def needs_vivado(cfg) -> bool:
    """Whether a point with configuration ``cfg`` can only be built where Vivado is: it asks
    for a bitfile, or for out-of-context synthesis with ``ooc_synth_tool: vivado``."""
    outputs = {str(o) for o in cfg.generate_outputs}
    if outputs & VIVADO_OUTPUTS:
        return True
    return "out_of_context_synth" in outputs and str(cfg.get("ooc_synth_tool")) == "vivado"


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    notes = getattr(exc, "__notes__", ())
    return "; ".join([text, *notes])


def run_point(spec: PointSpec) -> dict:
    """Build one point and return its row (see :func:`figures_of_build` for the columns).

    Never raises for a failed build: the row's ``status`` is ``failed`` and ``error`` says
    why (the configuration's message, or the failing step's). Warnings the build prints go
    into ``warnings`` instead of the worker's terminal.
    """
    from dfx.errors import DfxError

    started = time.perf_counter()
    cpu_started = time.thread_time()  # this thread's CPU: the build, not Dask's own threads
    row: dict = {"point": spec.index, "status": "failed", "error": None}
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            row.update(_build(spec))
    except DfxError as exc:
        row["error"] = _error_text(exc)
        row["failed_step"] = getattr(exc, "step_name", None)
    except Exception as exc:  # a plugin's bug must not end the sweep: the row says it
        row["error"] = f"{type(exc).__name__}: {_error_text(exc)}"
    row["build_seconds"] = time.perf_counter() - started
    row["cpu_seconds"] = time.thread_time() - cpu_started
    warnings = [line.removeprefix("dfx: warning: ") for line in stderr.getvalue().splitlines()
                if line.strip()]
    row["warnings"] = "; ".join(warnings) or None
    row["build_dir"] = spec.output_dir
    row["pid"] = os.getpid()
    return row


def _build(spec: PointSpec) -> dict:
    from dfx.cache import ArtifactCache
    from dfx.pipeline import Build

    plugins = load_plugins_once(spec.plugins)
    cfg, board = point_config(spec, plugins)
    cache = ArtifactCache(spec.cache_dir, enabled=spec.use_cache)
    result = Build(spec.model, cfg, plugins, cache, board=board, quiet=True).run()
    row = figures_of_build(Path(spec.output_dir))
    row["steps_cached"] = result.cached_steps
    row["steps_run"] = len(result.steps) - result.cached_steps
    return row


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def figures_of_build(build_dir: Path) -> dict:
    """The figures of a finished build folder as one row.

    ``status`` (``ok``: every requested output produced; ``incomplete``: some were only
    prepared, for example Vivado did not run), ``outputs`` (each output's status), the
    estimates (``estimated_fps``, ``estimated_latency_ns``, ``max_cycles``,
    ``target_met``, ``LUT`` ... ``DSP``), rtlsim's ``rtlsim_fps`` and
    ``rtlsim_latency_cycles``, and synthesis' ``synth_tool``, ``LUT_synth`` ...
    ``DSP_synth``, ``WNS_ns`` and ``fmax_mhz`` where they exist.
    """
    report = build_dir / "report"
    row: dict = {}
    status = _read(build_dir / "build_status.json") or {}
    outputs = status.get("outputs") or {}
    row["status"] = "ok" if status.get("status") == "complete" else "incomplete"
    row["outputs"] = "; ".join(f"{name} {entry.get('status')}" for name, entry in outputs.items())
    if row["status"] == "incomplete":
        from dfx.pipeline import describe_output

        short = [describe_output(n, e) for n, e in outputs.items() if e.get("status")
                 != "produced"]
        row["error"] = "; ".join(short) or None
    perf = _read(report / "estimate_network_performance.json") or {}
    row["estimated_fps"] = perf.get("estimated_throughput_fps")
    row["estimated_latency_ns"] = perf.get("estimated_latency_ns")
    row["max_cycles"] = perf.get("max_cycles")
    row["slowest_layer"] = perf.get("max_cycles_node_name")
    folding = _read(report / "folding_summary.json") or {}
    row["target_met"] = folding.get("target_met")
    resources = (_read(report / "estimate_layer_resources.json") or {}).get("total") or {}
    for kind in RESOURCES:
        row[kind] = resources.get(kind)
    rtlsim = _read(report / "rtlsim_performance.json")
    if rtlsim is not None:
        row["rtlsim_fps"] = rtlsim.get("stable_throughput[images/s]")
        row["rtlsim_latency_cycles"] = rtlsim.get("latency_cycles")
    ooc = _read(report / "ooc_synth_and_timing.json")
    post = _read(report / "post_synth_resources.json") or {}
    if ooc is not None:
        from dfx.reports.synth import TOP_KEY  # the whole design's row of post_synth

        top = post.get(TOP_KEY) or {}
        row["synth_tool"] = ooc.get("tool")
        for kind in RESOURCES:
            row[f"{kind}_synth"] = top.get(kind, ooc.get(kind))
        if "WNS" in ooc:
            row["WNS_ns"] = ooc.get("WNS")
            row["fmax_mhz"] = ooc.get("fmax_mhz")
    return row
