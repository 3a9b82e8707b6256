"""The ``dfx`` command line.

    dfx run --plugins default MODEL [--config CFG] [--output-dir DIR] [--target-fps N] ...
    dfx sim BUILD_DIR --backend python --input x.npy --output y.npy
    dfx report BUILD_DIR [--csv PATH] [--html report.html] [--png DIR]
    dfx sweep MODEL [MODEL ...] --grid KEY=VALUES ... [--outputs ...] [--scheduler ADDR]
    dfx plugins | dfx steps | dfx boards | dfx config
    dfx cache info | dfx cache clear | dfx cache verify

Start-up is kept light: this module imports only the standard library; each
command imports what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PLUGINS_HELP = ("plugins to load, comma-separated: built-in names (default), entry points of "
                "the group dfx.plugins, or dotted module paths (default: default)")


def _metavar(type_str: str) -> str:
    """A flag's value placeholder from its type: ``N``, ``X``, ``true|false``, the choices
    of an enum, ``A,B,...`` for lists (``null`` is accepted wherever the type allows it)."""
    base = type_str.replace(" | None", "").strip()
    if base.startswith("list[") and base.endswith("]"):
        item = base[5:-1]
        return f"{{{item.replace('|', ',')}}},..." if "|" in item else f"{_metavar(item)},..."
    if "|" in base:
        return "{" + base.replace("|", ",") + "}"
    return {"int": "N", "float": "X", "bool": "true|false", "str": "TEXT", "any": "VALUE",
            "dict": "JSON", "list": "A,B,..."}.get(base, base.upper())


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--key-name VALUE`` flag per configuration key (values parsed by dfx.config)."""
    from dfx.config import field_docs

    group = parser.add_argument_group(
        "configuration keys (FINN's DataflowBuildConfig names; override the config file)")
    for name, type_str, default, doc in field_docs():
        if name == "output_dir":
            continue
        metavar = _metavar(type_str)
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"cfg__{name}", metavar=metavar,
                           default=None, help=f"{doc} (default: {default})")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="set any configuration key, including plugin keys")


def build_parser(with_config_flags: bool | str = False) -> argparse.ArgumentParser:
    """The argument parser; ``with_config_flags`` ("run", "sweep", or True for run) adds
    one flag per configuration key to that command (built only when it is asked for)."""
    parser = argparse.ArgumentParser(
        prog="dfx",
        description="Compile quantized neural networks (QONNX) into streaming dataflow "
                    "accelerators for AMD/Xilinx FPGAs.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="build a model", description="Build MODEL: run the steps "
                         "of the loaded plugins up to the requested outputs.")
    run.add_argument("model", help="the QONNX model (.onnx)")
    run.add_argument("--plugins", default=None, help=PLUGINS_HELP)
    run.add_argument("--config", "-c", help="a build configuration, JSON or YAML")
    run.add_argument("--output-dir", "-o", help="the build folder (overrides output_dir)")
    run.add_argument("--cache-dir", help="the artifact cache (default: $DFX_CACHE_DIR or the "
                                         "user cache folder)")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    run.add_argument("--force", action="store_true",
                     help="write into an output folder that holds files dfx did not write "
                          "(none of them is removed or overwritten; force_output_dir)")
    run.add_argument("--require-outputs", action="store_true",
                     help="exit non-zero when a requested output was only prepared, not "
                          "produced (require_all_outputs)")
    if with_config_flags == "run" or with_config_flags is True:
        _config_flags(run)
    else:
        run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    sim = sub.add_parser("sim", help="run a built accelerator on inputs")
    sim.add_argument("build_dir", help="a build folder written by dfx run")
    sim.add_argument("--backend", choices=["python", "rtl"], default="python",
                     help="python: the exact numpy model of every hardware layer; rtl: the "
                          "generated Verilog, cycle-accurate in Verilator")
    sim.add_argument("--backpressure", type=float, default=0.0,
                     help="rtl: probability that the output is not ready in a cycle")
    sim.add_argument("--exact-fifos", action="store_true",
                     help="rtl: compile the FIFO depths into the simulator as synthesis reads "
                          "them (costs a compile; by default the shared simulator takes them "
                          "at run time, with the same cycles)")
    sim.add_argument("--input", "-i", required=True, help="input .npy: one sample or a batch")
    sim.add_argument("--output", "-o", required=True, help="where to write the outputs (.npy)")
    sim.add_argument("--plugins", default=None, help=PLUGINS_HELP + " (default: as built)")

    report = sub.add_parser(
        "report", help="show a build's reports as tables, compare two builds, or read a file",
        description="dfx report BUILD_DIR: estimates, rtlsim and synthesis side by side. "
                    "dfx report A B: two builds compared. dfx report FILE: one report file "
                    "(Vivado utilization or timing, Vivado log, Vitis HLS csynth, Yosys stat "
                    "-json, or a dfx JSON report; the kind is found from the content) as a "
                    "normalised table.")
    report.add_argument("paths", nargs="+", metavar="PATH",
                        help="a build folder, two build folders, or one report file")
    report.add_argument("--csv", help="write the table (the per-layer table of a build, or "
                                      "the file's table) as CSV to this path")
    report.add_argument("--html", metavar="FILE",
                        help="write a build's report with plots as one self-contained HTML "
                             "file that opens offline (needs the sweep extra: plotly)")
    report.add_argument("--png", metavar="DIR",
                        help="export the same plots as PNG images into DIR (kaleido, with "
                             "Chrome or Chromium)")

    sweep = sub.add_parser(
        "sweep", help="build a model over a grid of configuration keys (on Dask)",
        description="Build every point of a grid of configuration keys (estimates by "
                    "default) on Dask and write one table: a row per point, the Pareto front "
                    "of throughput against each resource, the cheapest and the fastest point "
                    "that fits each board (sweep.csv, sweep.parquet, boards.csv).")
    sweep.add_argument("models", nargs="+", metavar="MODEL", help="the QONNX model(s)")
    sweep.add_argument("--grid", "-g", action="append", default=[], metavar="KEY=VALUES",
                       help="a swept key: a list (board=Pynq-Z2,ZCU104,U250), a range "
                            "(target_fps=1e3..1e6:log:10, :lin:N, :step:S) or one value; or "
                            "a YAML/JSON grid file (repeatable)")
    sweep.add_argument("--outputs", metavar="A,B,...",
                       help="generate_outputs of every point (default: estimate_reports; "
                            "out_of_context_synth for synthesized figures)")
    sweep.add_argument("--plugins", default=None, help=PLUGINS_HELP)
    sweep.add_argument("--config", "-c", help="the base configuration, JSON or YAML")
    sweep.add_argument("--output-dir", "-o", help="the sweep folder (default sweep_<model>)")
    sweep.add_argument("--workers", "-j", type=int, default=2,
                       help="LocalCluster worker processes (default 2; 0: every point in this "
                            "process, one after another)")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on this Dask scheduler's workers instead of a LocalCluster")
    sweep.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                       help="seconds to wait for the scheduler and a worker (default 10)")
    sweep.add_argument("--boards", metavar="A,B,...",
                       help="the boards for 'cheapest/fastest point that fits' (default: the "
                            "boards the points name, else every known board)")
    sweep.add_argument("--html", metavar="FILE", help="also write the HTML report of the sweep")
    sweep.add_argument("--png", metavar="DIR", help="also export its plots as PNG into DIR")
    sweep.add_argument("--cache-dir", help="the artifact cache (shared by all points)")
    sweep.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    sweep.add_argument("--force", action="store_true",
                       help="write into a sweep folder that holds files dfx did not write")
    sweep.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    if with_config_flags == "sweep":
        _config_flags(sweep)
    else:
        sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    plugins = sub.add_parser("plugins", help="list the loaded plugins and their hooks")
    plugins.add_argument("--plugins", default=None, help=PLUGINS_HELP)

    steps = sub.add_parser(
        "steps", help="list the build steps in order, and which a build runs",
        description="List the registered build steps in order. Each line ends with whether "
                    "a build with the given configuration (default: the default one, "
                    "generate_outputs estimate_reports) runs the step, and when or why not.")
    steps.add_argument("--plugins", default=None, help=PLUGINS_HELP)
    steps.add_argument("--config", "-c", help="a build configuration, JSON or YAML")
    steps.add_argument("--generate-outputs", metavar="A,B,...", default=None,
                       help="the outputs the build asks for (overrides the configuration)")
    steps.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="set any configuration key (steps, start_step, stop_step, ...)")

    sub.add_parser("boards", help="list the known boards")
    config = sub.add_parser("config", help="list the configuration keys")
    config.add_argument("--plugins", default=None, help=PLUGINS_HELP)

    dep = sub.add_parser("deploy", help="copy a build's deployment package to a board (ssh)")
    dep.add_argument("build_dir", help="a build folder with deploy/deploy.zip")
    dep.add_argument("--to", required=True, help="user@host:path")
    dep.add_argument("--run", choices=["validate", "throughput_test"], default=None)
    dep.add_argument("--platform", default="sim", help="driver platform there (default sim)")
    dep.add_argument("--port", type=int, default=None)
    dep.add_argument("--identity", default=None, help="ssh private key")
    dep.add_argument("--ssh-option", action="append", default=[], help="ssh -o OPTION")
    dep.add_argument("--remote-python", default="python3")
    dep.add_argument("--batchsize", type=int, default=1000)
    dep.add_argument("--dataset", default=None, help="for --run validate, in the package")
    dep.add_argument("--labels", default=None)
    dep.add_argument("--timeout", type=float, default=300.0, help="seconds per remote step")

    cache = sub.add_parser("cache", help="inspect, verify or clear the artifact cache")
    cache.add_argument("action", choices=["info", "clear", "verify"],
                       help="info: sizes and leftovers; clear: remove everything; verify: "
                            "re-hash every entry, blob and simulator, drop what is damaged")
    cache.add_argument("--cache-dir", help="the artifact cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The per-key flags are only built when `dfx run` or `dfx sweep` is asked for.
    command = argv[0] if argv and argv[0] in ("run", "sweep") else False
    parser = build_parser(with_config_flags=command)
    args = parser.parse_args(argv)
    if args.version:
        from dfx import __version__

        print(f"dfx {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 0
    from dfx import processes
    from dfx.errors import DfxError

    # SIGTERM, SIGINT, SIGHUP: stop every tool's process group, start nothing more, and
    # unwind the cleanups written for Ctrl-C (dfx.processes says what covers SIGKILL).
    handlers = processes.install_signal_handlers()
    try:
        return COMMANDS[args.command](args)
    except DfxError as exc:
        print(f"dfx: error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):
            print(f"dfx: {note}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        import signal

        stop = exc if isinstance(exc, processes.Terminated) else \
            processes.Terminated(processes.stopping() or signal.SIGINT)
        processes.stop_all(stop.signum)  # whatever a cleanup did not stop yet
        print(f"dfx: {stop}", file=sys.stderr)
        return stop.exit_code
    except BrokenPipeError:
        # the reader went away (`dfx report ... | head`): not an error of dfx's. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        processes.restore_signal_handlers(handlers)


# -- commands -----------------------------------------------------------------


def _set_overrides(items: list[str], plugins) -> dict[str, str]:
    """``--set KEY=VALUE`` items as overrides; an unknown key is an error naming it."""
    from dfx.config import config_keys
    from dfx.errors import ConfigError

    known = config_keys() + [f.name for f in plugins.config_fields()]
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean --set {close[0]}={value}?" if close else ""
            raise ConfigError(f"--set: unknown key {key!r}{hint} (dfx config lists the keys)")
        overrides[key] = value
    return overrides


def _flag_overrides(args, plugins) -> dict:
    """The configuration keys set by flags (``--target-fps N``) and ``--set KEY=VALUE``."""
    overrides = {}
    for key, value in vars(args).items():
        if key.startswith("cfg__") and value is not None:
            overrides[key[5:]] = value
    overrides.update(_set_overrides(args.set, plugins))
    return overrides


def _load_config(args, plugins):
    from dfx.board_registry import get_board
    from dfx.config import apply_board, load_config_file, make_config

    data, source = {}, "command line"
    if args.config:
        data = load_config_file(args.config)
        source = args.config
    overrides = _flag_overrides(args, plugins)
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if getattr(args, "force", False):
        overrides["force_output_dir"] = True
    if getattr(args, "require_outputs", False):
        overrides["require_all_outputs"] = True
    cfg = make_config(data, overrides, extra_fields=plugins.config_fields(), source=source)
    if args.config:
        # Relative paths in a config file are relative to the file, as users expect.
        base = Path(args.config).resolve().parent
        for key in ("folding_config_file", "verify_input_npy", "verify_expected_output_npy",
                    "specialize_layers_config_file"):
            value = getattr(cfg, key)
            if value and key not in overrides and not os.path.isabs(value):
                candidate = base / value
                if candidate.exists() or key.startswith("verify") and (cfg.verify_steps or []):
                    setattr(cfg, key, str(candidate))
        if cfg.output_dir and "output_dir" not in overrides and not os.path.isabs(cfg.output_dir):
            cfg.output_dir = str(base / cfg.output_dir)
    if not cfg.output_dir:
        cfg.output_dir = f"output_{Path(args.model).stem}"
    board = apply_board(cfg, get_board)
    return cfg, board


def cmd_run(args) -> int:
    import time

    from dfx.cache import ArtifactCache
    from dfx.pipeline import Build
    from dfx.plugin_manager import load_plugins

    started = time.perf_counter()
    _reuse_memory_for_large_model(args.model)
    plugins = load_plugins(args.plugins)
    cfg, board = _load_config(args, plugins)
    cache = ArtifactCache(args.cache_dir, enabled=not args.no_cache)
    build = Build(args.model, cfg, plugins, cache, board=board, quiet=args.quiet)
    result = build.run()
    if not args.quiet:
        _print_summary(result, cfg, time.perf_counter() - started)
    return 0


def _reuse_memory_for_large_model(model) -> None:
    """A big model's build makes and frees many arrays of its weights' size: keep their
    memory for reuse instead of faulting it in again each time (dfx.allocator)."""
    import os

    from dfx.allocator import LARGE_MODEL_BYTES, reuse_freed_memory

    try:
        large = model is not None and os.stat(model).st_size >= LARGE_MODEL_BYTES
    except (OSError, TypeError, ValueError):  # missing or odd: the build says what is wrong
        return
    if large:
        reuse_freed_memory()


def _print_summary(result, cfg, seconds: float) -> None:
    import json

    out = result.output_dir
    print(f"build done in {seconds:.2f} s ({result.cached_steps}/{len(result.steps)} steps "
          f"from the cache): {out}")
    perf = out / "report" / "estimate_network_performance.json"
    if perf.is_file():
        p = json.loads(perf.read_text())
        print(f"  estimated {p['estimated_throughput_fps']:,.0f} fps, latency "
              f"{p['estimated_latency_ns']:,.0f} ns, slowest layer {p['max_cycles_node_name']} "
              f"({p['max_cycles']} cycles)")
    res = out / "report" / "estimate_layer_resources.json"
    if res.is_file():
        total = json.loads(res.read_text())["total"]
        print("  estimated resources: " + ", ".join(f"{k} {v:,.0f}" for k, v in total.items()))
    verify = out / "report" / "verify_results.json"
    if verify.is_file():
        for name, v in json.loads(verify.read_text()).items():
            print(f"  verify {name}: {v['verdict']} (max abs diff {v.get('max_abs_diff')})")
    rtlsim = out / "report" / "rtlsim_performance.json"
    if rtlsim.is_file():
        r = json.loads(rtlsim.read_text())
        print(f"  rtlsim: {r['stable_throughput[images/s]']:,.0f} fps "
              f"({r['interval_cycles']:g} cycles a frame), latency {r['latency_cycles']} cycles")
    ooc = out / "report" / "ooc_synth_and_timing.json"
    if ooc.is_file():
        o = json.loads(ooc.read_text())
        timing = (f", WNS {o['WNS']:.3f} ns, fmax {o['fmax_mhz']:.1f} MHz" if "WNS" in o
                  else ", no timing (Yosys)")
        print(f"  synthesis ({o.get('tool')}): LUT {o.get('LUT'):,}, FF {o.get('FF'):,}, "
              f"BRAM {o.get('BRAM')}, DSP {o.get('DSP')}{timing}")
    for status_file in sorted((out / "report").glob("vivado_*.json")):
        status = json.loads(status_file.read_text())
        purpose = status_file.stem.removeprefix("vivado_")
        if status.get("vivado") == "not run":
            instead = f"; {status['instead']}" if status.get("instead") else ""
            print(f"  {purpose}: Vivado did not run ({status.get('why')}){instead}; scripts "
                  f"written and dry-run: "
                  f"{', '.join(s['script'] for s in status.get('scripts', []))}")
        else:
            print(f"  {purpose}: Vivado {status.get('version')} ran in {status.get('seconds')} s")
    _print_outputs(result.outputs)


def _print_outputs(outputs: dict) -> None:
    """The last summary line: per requested output, produced or only prepared, and what is
    missing (the same as build_status.json's ``outputs``)."""
    from dfx.pipeline import describe_output

    if not outputs:
        return
    produced = sum(1 for o in outputs.values() if o["status"] == "produced")
    print(f"outputs: {produced} of {len(outputs)} produced: " + "; ".join(
        describe_output(name, entry) for name, entry in outputs.items()))


def cmd_sim(args) -> int:
    import json

    import numpy as np

    from dfx.errors import DfxError
    from dfx.execute import batch_input, execute
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins

    build_dir = Path(args.build_dir)
    model_path = build_dir / "final_model.onnx"
    if not model_path.is_file():
        raise DfxError(f"{build_dir} is not a finished dfx build (no final_model.onnx)")
    # Checked before the (possibly long) simulation, so its result is never lost.
    output = _check_output_path(args.output)
    status_path = build_dir / "build_status.json"
    status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    plugins = load_plugins(args.plugins or status.get("plugins") or "default")
    model = load_model(model_path)
    if not any(plugins.layer_kinds.is_hw(n) for n in model.graph.node):
        raise DfxError(f"{build_dir}: the build stopped before step_convert_to_hw; there are no "
                       f"hardware layers to simulate")
    try:
        x = np.load(args.input)
    except (OSError, ValueError) as exc:
        raise DfxError(f"--input {args.input}: not a readable .npy file ({exc})") from None
    x = batch_input(model, x)
    try:
        if len(x) == 0 or args.backend == "python":
            # An empty batch gives an empty output on both backends: no simulator for nothing.
            y = execute(model, x, plugins.layer_kinds)
        else:
            y = _rtl_sim(build_dir, model, x, plugins, args.backpressure, args.exact_fifos)
    except Exception as exc:
        from dfx.errors import PluginError
        from dfx.layers import layer_kind_at_fault

        culprit = None if isinstance(exc, DfxError) else \
            layer_kind_at_fault(exc, plugins.layer_kinds)
        if culprit is None:
            raise
        raise PluginError(culprit) from exc
    try:
        with open(output, "wb") as f:  # exactly the path asked for (np.save adds .npy)
            np.save(f, y)
    except OSError as exc:
        raise DfxError(f"--output {args.output}: cannot write it ({exc.strerror or exc})"
                       ) from None
    empty = " (the input batch is empty)" if len(y) == 0 else ""
    print(f"{len(y)} output(s) of shape {list(y.shape[1:])} written to {args.output}{empty}")
    return 0


def _check_output_path(text: str) -> Path:
    """``--output``: a file path in an existing, writable folder (checked before any work)."""
    from dfx.errors import DfxError

    path = Path(text)
    parent = path.parent
    if path.is_dir():
        raise DfxError(f"--output {text}: is a folder; give a file path such as "
                       f"{path / 'outputs.npy'}")
    if not parent.exists():
        raise DfxError(f"--output {text}: the folder {parent} does not exist; create it "
                       f"first or choose another path")
    if not parent.is_dir():
        raise DfxError(f"--output {text}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DfxError(f"--output {text}: the folder {parent} is not writable")
    return path


def _rtl_sim(build_dir, model, x, plugins, backpressure, exact_fifos=False):
    """Simulate the build's stitched design (made again by the plugins' codegen and stitch
    stages when the build has none)."""
    import tempfile

    from dfx.plugins.hw import rtlsim_execute
    from dfx.plugins.manifest import STITCHED_DIR
    from dfx.steps import run_stage

    stitched = build_dir / STITCHED_DIR
    if (stitched / "stitch.json").is_file():
        return rtlsim_execute(model, x, stitched, plugins.layer_kinds, backpressure,
                              exact_fifos=exact_fifos)
    with tempfile.TemporaryDirectory(prefix="dfx-sim-") as tmp:
        for hook in ("dfx_hw_codegen", "dfx_ip_stitch"):
            model = run_stage(plugins, hook, model, Path(tmp))
        return rtlsim_execute(model, x, Path(tmp) / STITCHED_DIR, plugins.layer_kinds,
                              backpressure, exact_fifos=exact_fifos)


def cmd_report(args) -> int:
    from dfx.errors import ConfigError
    from dfx.reports import (
        build_tables,
        compare_builds,
        detect_report_kind,
        format_comparison,
        format_report_table,
        format_tables,
        read_report,
    )

    paths = [Path(p) for p in args.paths]
    if len(paths) > 2:
        raise ConfigError("dfx report takes one build folder, two build folders to compare, "
                          f"or one report file; got {len(paths)} paths")
    if len(paths) == 2:
        for path in paths:
            if not path.is_dir():
                raise ConfigError(f"dfx report A B compares two build folders; {path} is "
                                  f"{'a file' if path.exists() else 'missing'}")
        tables = compare_builds(*paths)
        print(format_comparison(tables, str(paths[0]), str(paths[1])))
        table = tables["layers"]
        what = "comparison of the layers"
    elif paths[0].is_dir():
        tables = build_tables(paths[0])
        print(format_tables(tables))
        table, what = tables["layers"], "per-layer table"
    else:
        kind = detect_report_kind(paths[0])
        table = read_report(paths[0], kind)
        print(format_report_table(table, f"{paths[0].name} ({kind})"))
        what = f"{kind} table"
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"{what} written to {args.csv}")
    if args.html or args.png:
        if len(paths) != 1 or not paths[0].is_dir():
            raise ConfigError("--html and --png take one build folder (dfx report BUILD_DIR "
                              "--html report.html)")
        _write_build_report(paths[0], args.html, args.png)
    return 0


def _write_build_report(build_dir: Path, html: str | None, png: str | None) -> None:
    import time

    from dfx.htmlreport import build_report

    started = time.perf_counter()
    report = build_report(build_dir)
    if html:
        path = report.write_html(html)
        print(f"HTML report written to {path} ({path.stat().st_size / 1e6:.1f} MB, "
              f"{len(report.figures)} plots, {time.perf_counter() - started:.2f} s)")
    if png:
        written = report.write_png(png)
        print(f"{len(written)} PNG images written to {png}")


def cmd_sweep(args) -> int:
    from dfx.plugin_manager import load_plugins
    from dfx.sweep import plan_sweep, run_sweep

    plugins = load_plugins(args.plugins)
    plan = plan_sweep(args.models, args.grid, config=args.config,
                      overrides=_flag_overrides(args, plugins), outputs=args.outputs,
                      output_dir=args.output_dir, plugins=args.plugins,
                      cache_dir=args.cache_dir, use_cache=not args.no_cache, force=args.force)
    if not args.quiet:
        shape = " x ".join(f"{len(a.values)} {a.key}" for a in plan.axes) or "no grid"
        models = f"{len(plan.models)} models x " if len(plan.models) > 1 else ""
        print(f"sweep: {len(plan.points)} points ({models}{shape}) into {plan.output_dir}")
    boards = [b.strip() for b in args.boards.split(",") if b.strip()] if args.boards else None
    df = run_sweep(None, plan=plan, workers=args.workers, scheduler=args.scheduler,
                   scheduler_timeout_s=args.scheduler_timeout, boards=boards, html=args.html,
                   png=args.png, quiet=args.quiet)
    files = df.attrs.get("files", {})
    built = int(df["status"].isin(["ok", "incomplete"]).sum()) if len(df) else 0
    if not args.quiet:
        _print_sweep_summary(df, files)
    stopped = df.attrs.get("interrupted")
    if stopped:
        from dfx import processes

        stop = processes.Terminated(stopped)
        print(f"dfx: sweep {stop}: {len(df)} of {len(plan.points)} points finished; their "
              f"rows are in {files.get('csv')}", file=sys.stderr)
        return stop.exit_code
    if built == 0:
        print(f"dfx: error: no point of the sweep could be built (the rows say why: "
              f"{files.get('csv')})", file=sys.stderr)
        return 1
    return 0


def _print_sweep_summary(df, files: dict) -> None:
    from dfx.sweep.table import board_table

    table = board_table(df, df.attrs.get("boards"))
    for _, entry in table.iterrows():
        model = f" ({entry['model']})" if df["model"].nunique() > 1 else ""
        if entry["points_fitting"] == 0:
            print(f"  {entry['board']}{model}: no point fits")
            continue
        print(f"  {entry['board']}{model}: {entry['points_fitting']} points fit; cheapest: "
              f"point {entry['cheapest_point']} ({entry['cheapest_fps']:,.0f} fps, "
              f"{entry['cheapest_share']:.1%} of the fullest resource); fastest: point "
              f"{entry['fastest_point']} ({entry['fastest_fps']:,.0f} fps, "
              f"{entry['fastest_share']:.1%})")
    for kind, path in files.items():
        print(f"  {kind}: {path}")


def cmd_plugins(args) -> int:
    from dfx.plugin_manager import load_plugins

    plugins = load_plugins(args.plugins)
    for plugin in plugins.plugins:
        print(f"{plugin.name}  (module {plugin.module.__name__}, version {plugin.version}, "
              f"{plugin.origin})")
        for hook in plugins.hooks_of(plugin):
            print(f"    {hook}")
    kinds = plugins.layer_kinds
    print(f"layer kinds: {', '.join(kinds.names()) or 'none'}")
    return 0


def cmd_steps(args) -> int:
    """The registered steps in order; each line ends with whether the build runs it
    (``runs: ...``, when) or not (``skipped: ...``, why), for the configuration given."""
    from dfx.config import load_config_file, make_config
    from dfx.pipeline import plan_steps, registered_steps
    from dfx.plugin_manager import load_plugins

    plugins = load_plugins(args.plugins)
    data = load_config_file(args.config) if args.config else {}
    overrides = _set_overrides(args.set, plugins)
    if args.generate_outputs is not None:
        overrides["generate_outputs"] = args.generate_outputs
    cfg = make_config(data, overrides, extra_fields=plugins.config_fields(),
                      source=args.config or "command line")
    steps = registered_steps(plugins)
    plan = {planned.step.name: planned for planned in plan_steps(cfg, steps)}
    for i, step in enumerate(steps, 1):
        outputs = f" [{', '.join(sorted(step.outputs))}]" if step.outputs else ""
        planned = plan[step.name]
        status = f"runs: {planned.why}" if planned.runs else f"skipped: {planned.why}"
        description = f"  {step.description}" if step.description else ""
        print(f"{i:2d}. {step.name}{outputs}{description}  ({status})")
    return 0


def cmd_boards(args) -> int:
    from dfx.board_registry import format_boards_table, load_boards

    print(format_boards_table(load_boards()))
    return 0


def cmd_config(args) -> int:
    from dfx.config import field_docs
    from dfx.plugin_manager import load_plugins

    plugins = load_plugins(args.plugins)
    for name, type_str, default, doc in field_docs(plugins.config_fields()):
        print(f"{name:32s} {type_str:24s} default {default!r}\n    {doc}")
    return 0


def cmd_cache(args) -> int:
    from dfx.cache import (
        ArtifactCache,
        compiled_simulators,
        simulator_leftovers,
        simulators_dir,
        sweep_simulator_leftovers,
    )

    sims = simulators_dir()
    if args.action == "clear":
        cache = ArtifactCache(args.cache_dir, check_version=False)
        removed = cache.clear()
        count = _clear_simulators(sims)
        swept = sweep_simulator_leftovers(sims)
        print(f"removed {removed} entries from {cache.root} and {count} compiled simulators "
              f"from {sims}" + (f" ({swept} work folders of dead processes)" if swept else ""))
        return 0
    if args.action == "verify":
        return _verify_cache(ArtifactCache(args.cache_dir), sims)
    info = ArtifactCache(args.cache_dir).info()
    print(f"cache: {info['root']}")
    print(f"entries: {info['entries']}, {info['bytes'] / 1e6:.1f} MB")
    for step, s in sorted(info.get("steps", {}).items()):
        print(f"  {step:40s} {s['entries']:5d} entries {s['bytes'] / 1e6:8.2f} MB")
    if info.get("blobs"):
        print(f"shared blobs (large initializers): {info['blobs']}, "
              f"{info['blob_bytes'] / 1e6:.1f} MB")
    compiled = compiled_simulators(sims)
    if compiled:
        size = sum((p / "Vdfx_top").stat().st_size for p in compiled)
        print(f"compiled simulators: {len(compiled)}, {size / 1e6:.1f} MB in {sims}")
    leftovers = len(simulator_leftovers(sims))
    dead = info.get("stale_staging", 0) + info.get("dead_trash", 0)
    if dead or leftovers:
        print(f"leftovers of dead processes: {dead} cache staging folders, {leftovers} "
              f"simulator work folders (the next run or `dfx cache clear` removes them)")
    return 0


def _clear_simulators(sims: Path) -> int:
    """Remove the compiled simulators and kept failed compiles; live work folders stay."""
    import shutil

    from dfx.cache import compiled_simulators

    compiled = compiled_simulators(sims)
    for path in compiled + [sims / "failed"]:
        shutil.rmtree(path, ignore_errors=True)
    return len(compiled)


def _verify_cache(cache, sims: Path) -> int:
    from dfx.cache import compiled_simulators
    from dfx.plugins.rtlsim import _discard, simulator_problem

    report = cache.verify_all()
    dropped = list(report["dropped"])
    sound_sims = 0
    for path in compiled_simulators(sims):
        problem = simulator_problem(path)
        if problem is None:
            sound_sims += 1
        else:
            dropped.append((str(path), f"simulator: {problem}"))
            _discard(path)
    print(f"cache: {cache.root}")
    print(f"sound: {report['entries']} entries, {report['blobs']} blobs, {sound_sims} "
          f"compiled simulators (in {sims})")
    for path, why in dropped:
        print(f"dropped {path}: {why}")
    if report["orphans"]:
        print(f"removed {report['orphans']} blobs no entry uses")
    if report["busy"]:
        print(f"not checked (being built now): {len(report['busy'])} entries")
    if not dropped:
        print("all sound, nothing dropped")
        return 0
    print(f"{len(dropped)} damaged items dropped (rebuilt when next needed)")
    return 1  # like fsck: damage was found (and removed)


def cmd_deploy(args) -> int:
    from dfx.plugins.driver.remote import deploy, parse_target

    target = parse_target(args.to, port=args.port, identity=args.identity,
                          options=args.ssh_option)
    deploy(args.build_dir, target, run=args.run, platform=args.platform,
           remote_python=args.remote_python, batch_size=args.batchsize,
           dataset=args.dataset, labels=args.labels, timeout_s=args.timeout)
    return 0


COMMANDS = {
    "run": cmd_run,
    "sim": cmd_sim,
    "report": cmd_report,
    "sweep": cmd_sweep,
    "plugins": cmd_plugins,
    "steps": cmd_steps,
    "boards": cmd_boards,
    "config": cmd_config,
    "cache": cmd_cache,
    "deploy": cmd_deploy,
}
