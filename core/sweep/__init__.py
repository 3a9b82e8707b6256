"""Design-space sweeps: many builds of one or more models over a grid of config keys.

``dfx sweep MODEL --grid target_fps=1e3..1e6:log:10 --grid board=Pynq-Z2,ZCU104`` and,
from Python (for notebooks)::

    from dfx.sweep import run_sweep

    df = run_sweep("model.onnx", {"target_fps": "1e3..1e6:log:10",
                                  "board": ["Pynq-Z2", "ZCU104"]}, output_dir="sweep_out")

Each point is an ordinary dfx build into ``<sweep folder>/points/<point>/``, through the
shared content-addressed cache, so the import and streamlining of a model run once for
all its points. The points run on Dask (:mod:`dfx.sweep.execute`). The result is one
pandas table (:mod:`dfx.sweep.table`), written as ``sweep.csv`` and ``sweep.parquet``
with ``boards.csv``; ``html=`` adds the HTML report (:mod:`dfx.reports.html`).

Everything is checked before any point runs: the models, the grid (an unknown key gets
the configuration's "did you mean"), and each point's whole configuration.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dfx.errors import ConfigError
from dfx.sweep.grid import GridAxis, expand_grid, parse_grid
from dfx.sweep.point import PointSpec, load_plugins_once, needs_vivado, point_config

__all__ = ["SweepPlan", "plan_sweep", "run_sweep", "GridAxis", "parse_grid", "expand_grid"]

#: the marker of a sweep folder, with what dfx wrote there
SWEEP_MARKER = ".dfx-sweep"
#: config keys that name files: relative to the config file, as in ``dfx run --config``
PATH_KEYS = ("folding_config_file", "verify_input_npy", "verify_expected_output_npy",
             "specialize_layers_config_file")


@dataclass
class SweepPlan:
    """A checked sweep, ready to run: its folder, grid and points."""

    output_dir: Path
    models: list[Path]
    axes: list[GridAxis]
    points: list[PointSpec]
    #: per point: its label ("target_fps=1000, board=Pynq-Z2"), its board (or None)
    labels: dict[int, str] = field(default_factory=dict)
    boards: dict[int, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def swept_keys(self) -> list[str]:
        return [axis.key for axis in self.axes]


def _plain(value):
    """A grid value as the table shows it: lists as ``a,b``, enums as their text."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, str):
        return str(value)
    return value


def model_name(path: str | os.PathLike) -> str:
    """How the table names a model: the file's stem, or its folder's name for the usual
    ``<name>/model.onnx``."""
    path = Path(path)
    return path.parent.name if path.stem == "model" and path.parent.name else path.stem


def _folder_name(index: int, model: Path | None, values: dict) -> str:
    parts = [f"{index:04d}"]
    if model is not None:
        parts.append(model_name(model))
    parts += [f"{key}-{_plain(value)}" for key, value in values.items()]
    name = re.sub(r"[^A-Za-z0-9.=-]+", "_", "_".join(parts)).strip("_")
    return name[:80]


def _grid_axes(grid, extra_fields) -> list[GridAxis]:
    if grid is None:
        return []
    if isinstance(grid, str):
        grid = [grid]
    if isinstance(grid, dict):
        axes = []
        for key, values in grid.items():
            if isinstance(values, str):
                axes += parse_grid([f"{key}={values}"], extra_fields)
            else:
                items = list(values) if isinstance(values, list | tuple) else [values]
                text = ",".join(f"[{','.join(map(str, v))}]" if isinstance(v, list | tuple)
                                else str(v) for v in items)
                axes += parse_grid([f"{key}={text}"], extra_fields)
        return axes
    return parse_grid(list(grid), extra_fields)


def _base_config(config) -> dict:
    """``config`` (a file, a dict or None) as data, with relative paths made absolute."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    from dfx.config import load_config_file

    data = load_config_file(config)
    base = Path(config).resolve().parent
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            data[key] = str(base / value)
    return data


def _check_models(models) -> list[Path]:
    if isinstance(models, str | os.PathLike):
        models = [models]
    paths = []
    for model in models:
        path = Path(model)
        if path.is_dir():
            raise ConfigError(f"model {str(path)!r} is a directory, not a model file (give "
                              f"the .onnx file inside it)")
        if not path.is_file():
            raise ConfigError(f"model file {str(path)!r} does not exist")
        paths.append(path.resolve())
    if not paths:
        raise ConfigError("dfx sweep needs at least one model")
    return paths


def _check_folder(folder: Path, force: bool) -> None:
    """The sweep folder is new, empty, a sweep folder of dfx's, or ``force`` is set."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"sweep folder {folder} is a file")
    if not folder.is_dir() or force or (folder / SWEEP_MARKER).is_file():
        return
    entries = sorted(p.name for p in folder.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ConfigError(f"sweep folder {folder} holds files dfx did not write ({shown}); "
                          f"choose another folder with -o, or pass --force to write the "
                          f"sweep beside them")


def plan_sweep(models, grid=None, *, config=None, overrides: dict | None = None,
               outputs=None, output_dir=None, plugins: str | None = None,
               cache_dir=None, use_cache: bool = True, force: bool = False) -> SweepPlan:
    """Check a sweep and lay out its points (nothing is built).

    models:     a model file, or several (each point is built for each model).
    grid:       ``["target_fps=1e3..1e6:log:10", "board=Pynq-Z2,ZCU104"]``, grid files,
                or a dict of key to values (a list, or a range string).
    config:     the base configuration: a JSON/YAML file or a dict.
    overrides:  fixed keys, as ``dfx run`` flags give them (text is parsed per key).
    outputs:    ``generate_outputs`` of every point (default: the config's, estimates).
    output_dir: the sweep folder (default ``sweep_<model>``).

    Raises :class:`~dfx.errors.ConfigError` naming the model, the grid item, or the point
    and key at fault.
    """
    paths = _check_models(models)
    loaded = load_plugins_once(plugins)
    extra_fields = loaded.config_fields()
    axes = _grid_axes(grid, extra_fields)
    data = _base_config(config)
    fixed = dict(overrides or {})
    if outputs is not None:
        if any(k.lstrip("-").replace("-", "_") == "generate_outputs" for k in fixed):
            raise ConfigError("--outputs and --generate-outputs both set generate_outputs; "
                              "give one of them")
        fixed["generate_outputs"] = outputs if isinstance(outputs, str) else list(outputs)
    for axis in axes:
        if axis.key == "output_dir":
            raise ConfigError(f"{axis.source}: output_dir cannot be swept: every point gets "
                              f"its own folder under the sweep folder (-o)")
        if axis.key in {k.lstrip("-").replace("-", "_") for k in fixed}:
            raise ConfigError(f"{axis.source}: {axis.key} is also fixed (by a flag, --set or "
                              f"--outputs); give it one way")
    folder = Path(output_dir or f"sweep_{model_name(paths[0])}").resolve()
    _check_folder(folder, force)
    plan = SweepPlan(folder, paths, axes, [])
    several = len(paths) > 1
    index = 0
    warnings: dict[str, None] = {}
    for model in paths:
        for values in expand_grid(axes):
            name = _folder_name(index, model if several else None, values)
            spec = PointSpec(index=index, name=name, model=str(model), values=values,
                             data=data, overrides=fixed, plugins=plugins,
                             output_dir=str(folder / "points" / name),
                             cache_dir=None if cache_dir is None
                             else str(Path(cache_dir).resolve()),
                             use_cache=use_cache)
            label = ", ".join(f"{k}={_plain(v)}" for k, v in values.items())
            if several:
                label = model_name(model) + (f", {label}" if label else "")
            try:
                cfg, board = point_config(spec, loaded)
                spec.needs_vivado = needs_vivado(cfg)
                for message in _preflight(spec, cfg, board, loaded):
                    warnings.setdefault(message, None)
            except ConfigError as exc:
                where = f"point {index} ({label})" if label else f"point {index}"
                raise ConfigError(f"{where}: {exc}") from None
            plan.points.append(spec)
            plan.labels[index] = label
            plan.boards[index] = cfg.board
            index += 1
    plan.warnings = list(warnings)
    return plan


def _preflight(spec: PointSpec, cfg, board, plugins) -> list[str]:
    """What ``dfx run`` checks before its first step (the steps, the outputs, the folding
    file, the verify inputs); the warnings it would print, returned instead."""
    from dfx.pipeline import Build

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        Build(spec.model, cfg, plugins, cache=None, board=board, quiet=True)
    return [line.removeprefix("dfx: warning: ") for line in stderr.getvalue().splitlines()
            if line.strip()]


def _write_marker(folder: Path, files: list[str]) -> None:
    from dfx import __version__

    marker = folder / SWEEP_MARKER
    known = []
    if marker.is_file():
        try:
            known = json.loads(marker.read_text()).get("files", [])
        except (OSError, ValueError, AttributeError):
            known = []
    marker.write_text(json.dumps({"dfx_version": __version__,
                                  "files": sorted(set(known) | set(files))}, indent=2) + "\n")


def _write_plan(plan: SweepPlan) -> Path:
    path = plan.output_dir / "sweep.json"
    body = {"models": [str(m) for m in plan.models],
            "grid": {a.key: [_plain(v) for v in a.values] for a in plan.axes},
            "points": [{"point": s.index, "label": plan.labels[s.index], "folder": s.name,
                        "model": s.model, "values": {k: _plain(v) for k, v in s.values.items()},
                        "needs_vivado": s.needs_vivado} for s in plan.points]}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path


def run_sweep(models, grid=None, *, config=None, overrides: dict | None = None, outputs=None,
              output_dir=None, plugins: str | None = None, workers: int = 2,
              scheduler: str | None = None, scheduler_timeout_s: float | None = None,
              cache_dir=None, use_cache: bool = True, boards=None, html=None, png=None,
              quiet: bool = True, force: bool = False, on_event=None, plan=None):
    """Run a sweep and return its table (a :class:`pandas.DataFrame`, one row per point).

    The arguments up to ``plugins`` are those of :func:`plan_sweep` (or pass a ``plan``).
    workers:   LocalCluster worker processes (0: every point in this process, in order).
    scheduler: ``tcp://host:port`` of a running Dask scheduler instead of a LocalCluster;
               ``scheduler_timeout_s`` bounds the wait for it (default 10 s).
    boards:    the boards for "cheapest/fastest that fits" (default: those the points
               name, or every known board).
    html, png: also write the HTML report to this file, the plots as PNG into this folder.
    quiet:     no progress display (the command line shows one).
    on_event:  ``on_event(kind, data)`` for every "cluster", "start" and "done" event.

    Ctrl-C stops the sweep: the table of the finished points is written and returned,
    with ``df.attrs["interrupted"]`` set (the signal's number). The table's files are
    in ``df.attrs["files"]``.
    """
    from dfx.sweep import execute

    if plan is None:
        plan = plan_sweep(models, grid, config=config, overrides=overrides, outputs=outputs,
                          output_dir=output_dir, plugins=plugins, cache_dir=cache_dir,
                          use_cache=use_cache, force=force)
    for message in plan.warnings:
        print(f"dfx: warning: {message}", file=sys.stderr)
    serial = workers == 0 and not scheduler
    # the cluster first: an unreachable scheduler leaves no sweep folder behind
    cluster = None if serial else execute.open_cluster(
        workers, scheduler, scheduler_timeout_s or execute.DEFAULT_SCHEDULER_TIMEOUT_S)
    try:
        return _run(plan, cluster, boards, html, png, quiet, on_event)
    finally:
        if cluster is not None:
            cluster.close()


def _run(plan: SweepPlan, cluster, boards, html, png, quiet: bool, on_event):
    import threading

    from dfx.sweep import execute
    from dfx.sweep.progress import SweepState, make_sweep_progress

    # pandas (the table) is loaded while the points run, so that the table is written at
    # once when the last point is done, or when Ctrl-C stops the sweep
    threading.Thread(target=_import_table_module, daemon=True).start()
    folder = plan.output_dir
    (folder / "points").mkdir(parents=True, exist_ok=True)
    _write_marker(folder, ["points", "sweep.json", "rows.jsonl"])
    _write_plan(plan)
    journal = folder / "rows.jsonl"
    journal.write_text("")

    state = SweepState(plan.labels, _board_resources(plan))
    display = make_sweep_progress(state, quiet=quiet)

    def event(kind: str, data: dict) -> None:
        display.event(kind, data)
        if kind == "done":
            execute.append_journal(journal, data)
        if on_event is not None:
            on_event(kind, data)

    interrupted = None
    try:
        if cluster is None:
            rows = execute.run_serial(plan.points, event)
        else:
            rows = execute.run_dask(plan.points, event, cluster)
    except execute.SweepInterrupted as stop:
        rows, interrupted = stop.rows, stop.signum
    finally:
        display.close()
    df = _table(plan, rows, state, boards)
    df.attrs["swept"] = plan.swept_keys
    files = _write_outputs(plan, df, boards, html, png)
    df.attrs["files"] = {k: str(v) for k, v in files.items()}
    df.attrs["interrupted"] = interrupted
    df.attrs["sweep_dir"] = str(folder)
    return df


def _import_table_module() -> None:
    import importlib

    importlib.import_module("dfx.sweep.table")


def _board_resources(plan: SweepPlan) -> dict[int, dict | None]:
    from dfx.board_registry import get_board

    out = {}
    for index, name in plan.boards.items():
        out[index] = dict(get_board(name).resources) if name else None
    return out


def _table(plan: SweepPlan, rows: list[dict], state, boards):
    from dfx.sweep.table import make_table

    by_index = {spec.index: spec for spec in plan.points}
    full = []
    for row in rows:
        spec = by_index[row["point"]]
        row = dict(row)
        row["model"] = model_name(spec.model)
        for key, value in spec.values.items():
            row[key] = _plain(value)
        row["board"] = plan.boards.get(spec.index)
        row["starts"] = state.starts.get(spec.index) or (1 if row.get("worker") else 0)
        row.pop("pid", None)
        full.append(row)
    return make_table(full, plan.swept_keys, boards)


def _write_outputs(plan: SweepPlan, df, boards, html, png) -> dict[str, Path]:
    from dfx.sweep.table import board_table, write_table

    table = board_table(df, df.attrs.get("boards"))
    files = write_table(df, plan.output_dir, table)
    _write_marker(plan.output_dir, [p.name for p in files.values()])
    if html or png:
        from dfx.htmlreport import sweep_report

        report = sweep_report(df, table, title=f"dfx sweep: {plan.output_dir.name}")
        if html:
            files["html"] = report.write_html(html)
        if png:
            files.update({f"png:{p.stem}": p for p in report.write_png(png)})
    return files
