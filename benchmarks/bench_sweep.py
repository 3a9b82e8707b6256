"""Figures of `dfx sweep` and of the HTML report (issue 13).

    python benchmarks/bench_sweep.py [--targets 10] [--workers 2] [--report-build DIR]

Prints:

* a sweep of the seven shipped and example models (examples/models and, when present,
  ../shared/models-conv and ../shared/models-scale) x ``--targets`` target_fps values
  (1e3..1e6, log), estimates only:
  - the wall time of every point run one after another in this process (a fresh cache),
  - the wall time on a LocalCluster of ``--workers`` worker processes (another fresh
    cache), cluster start-up included, and the speed-up (goal: >= 1.8x on 2 workers);
  and the same in CPU time (the serial builds' CPU against the busiest worker's), which
  other work on a shared machine does not stretch as it stretches wall time;
* Dask's overhead per point beyond the build itself: the same points again on a
  LocalCluster of one worker, over the warm cache (the builds are short, the overhead is
  not): (wall time from the cluster's start to the last row - the builds' own time) /
  points (goal: <= 50 ms);
* the time to write the HTML report of a full rtlsim + Yosys build, and the file's size
  (goal: <= 1 s). ``--report-build`` takes an existing build folder; otherwise a small
  MLP is built with rtlsim_performance and out_of_context_synth first (a minute or two).

Points that fail (a model with an operator dfx cannot build yet) are counted and named:
their time is in the figures as it is in a real sweep. The machine's load average is
printed with the figures, since other work on the machine slows every figure here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def models() -> list[Path]:
    found = sorted((ROOT / "examples" / "models").glob("*/model.onnx"))
    for folder in ("models-conv", "models-scale"):
        found += sorted((SHARED / folder).glob("*/model.onnx"))
    return found


def _load() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _sweep(models_: list[Path], grid: list[str], folder: Path, cache: Path, workers: int):
    from dfx.sweep import run_sweep

    os.environ["DFX_CACHE_DIR"] = str(cache)
    marks = {}

    def on_event(kind, data):
        if kind == "cluster":
            marks["cluster"] = time.perf_counter()
        elif kind == "done":
            marks["last"] = time.perf_counter()

    start = time.perf_counter()
    df = run_sweep(models_, grid, output_dir=folder, workers=workers, on_event=on_event,
                   force=True)
    wall = time.perf_counter() - start
    return df, wall, marks.get("cluster", start), marks.get("last", start + wall)


def _summary(df) -> str:
    ok = int(df["status"].isin(["ok", "incomplete"]).sum())
    failed = df[~df["status"].isin(["ok", "incomplete"])]
    text = f"{ok} of {len(df)} points built"
    if len(failed):
        reasons = failed.groupby("model")["error"].first()
        text += "; failed: " + "; ".join(f"{m} ({str(e)[:90]})" for m, e in reasons.items())
    return text


def _full_build(tmp: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from modelgen import Layer, make_mlp

    onnx = tmp / "tiny.onnx"
    make_mlp(8, [Layer(4), Layer(4, act="int")], seed=1).save(str(onnx))
    out = tmp / "full-build"
    print("building a small MLP with rtlsim and Yosys synthesis for the report figure ...",
          flush=True)
    result = subprocess.run([sys.executable, "-m", "dfx", "run", "--plugins", "default",
                             str(onnx), "--board", "Pynq-Z2", "--generate-outputs",
                             "estimate_reports,rtlsim_performance,out_of_context_synth", "-o",
                             str(out), "-q"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"the full build failed:\n{result.stderr}")
    return out


def report_figures(build: Path, tmp: Path) -> None:
    from dfx.htmlreport import build_report

    for name in ("report/rtlsim_performance.json", "report/post_synth_resources.json"):
        if not (build / name).is_file():
            print(f"note: {build} has no {name}: not a full rtlsim + synthesis build")
    times = []
    for i in range(3):
        start = time.perf_counter()
        path = build_report(build).write_html(tmp / f"report{i}.html")
        times.append(time.perf_counter() - start)
    size = path.stat().st_size
    print(f"HTML report of {build.name}: written in {min(times):.3f} s (best of 3 in this "
          f"process; first {times[0]:.3f} s), {size / 1e6:.2f} MB ({size:,} bytes), "
          f"{len(build_report(build).figures)} plots  [goal <= 1 s]")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", "import sys, time; t = time.perf_counter(); "
                             "from dfx.htmlreport import build_report; "
                             f"build_report({str(build)!r}).write_html({str(tmp / 'cli.html')!r}); "
                             "print(time.perf_counter() - t)"],
                            capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode == 0:
        print(f"  in a new process: {float(result.stdout):.3f} s after start-up, {wall:.3f} s "
              f"with the interpreter's start-up and dfx's import")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10, help="target_fps values per model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report-build", type=Path, default=None,
                        help="a full rtlsim + Yosys build folder for the report figure")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dfx-bench-sweep-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_sweep:
            found = models()
            grid = [f"target_fps=1e3..1e6:log:{args.targets}"]
            print(f"{len(found)} models x {args.targets} targets = "
                  f"{len(found) * args.targets} points (estimates only); cpus: "
                  f"{os.cpu_count()}, load average before: {_load()}")
            for model in found:
                print(f"  {model.parent.name}")
            serial, t_serial, _, _ = _sweep(found, grid, tmp / "serial", tmp / "cache-serial", 0)
            print(f"serial, one process:        {t_serial:7.2f} s  ({_summary(serial)})")
            par, t_par, cluster_at, last_at = _sweep(found, grid, tmp / "dask",
                                                     tmp / "cache-dask", args.workers)
            run_part = last_at - cluster_at
            print(f"LocalCluster, {args.workers} workers:    {t_par:7.2f} s  (points "
                  f"{run_part:.2f} s after the cluster started; {_summary(par)})")
            print(f"speed-up: {t_serial / t_par:.2f}x with cluster start-up, "
                  f"{t_serial / run_part:.2f}x without  [goal >= 1.8x on 2 workers]")
            busy = float(par["build_seconds"].sum()) / (args.workers * run_part)
            print(f"  the {args.workers} workers were busy building {busy:.0%} of the time; "
                  f"CPU time of the builds: {serial['cpu_seconds'].sum():.2f} s serially, "
                  f"{par['cpu_seconds'].sum():.2f} s in the workers (their wall time: "
                  f"{serial['build_seconds'].sum():.2f} s and {par['build_seconds'].sum():.2f} s)")
            # The same comparison in CPU time, which other work on the machine does not
            # stretch: the serial builds' CPU against the busiest worker's (an estimate of
            # the speed-up on idle cores, start-up and Dask's overhead left out)
            per_worker = par.groupby("worker")["cpu_seconds"].sum()
            print(f"  CPU-time speed-up (serial builds' CPU / busiest worker's): "
                  f"{serial['cpu_seconds'].sum() / per_worker.max():.2f}x "
                  f"(per worker: {', '.join(f'{v:.2f} s' for v in per_worker)})")
            warm, t_warm, cluster_at, last_at = _sweep(found, grid, tmp / "dask1",
                                                       tmp / "cache-dask", 1)
            builds = float(warm["build_seconds"].sum())
            span = last_at - cluster_at
            per_point = (span - builds) / len(warm)
            print(f"Dask overhead per point (1 worker, warm cache): {per_point * 1000:.1f} ms "
                  f"({span:.2f} s for {len(warm)} points, of which the builds "
                  f"{builds:.2f} s)  [goal <= 50 ms]")
            print(f"load average after: {_load()}")
        build = args.report_build or _full_build(tmp)
        report_figures(build, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
