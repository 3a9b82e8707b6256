"""The estimate flow on big square layers (issue: scale, large layers).

    python benchmarks/bench_scale.py [--sizes 1024,2048,4096] [--target-fps 1000]
        [--work DIR]

For each size N, a one-layer MLP (tests/modelgen.py: an N x N Gemm with 4-bit weights,
4-bit activations, UINT4 input) goes through ``dfx run`` (estimate flow, empty cache, a
fresh process). Prints per size: wall time and CPU time of the ``dfx run`` process, its
peak memory (``getrusage`` of a parent that runs nothing else), the size of the build
folder and how much the artifact cache grew, the folding chosen, and the load average
after each run (on a shared machine, wall times are only comparable at a similar load).

The build folder holds the ten intermediate models ``save_intermediate_models`` (on by
default, as in FINN) asks for; the cache keeps each initializer once (its blob store).

Targets for 4096 x 4096: at most 10 s wall and 2 GB peak. Models are kept in --work (made
once; making the 4096 one takes a while) when it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs one command and reports its wall time, CPU time and peak memory (the only child).
_MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kb": usage.ru_maxrss}))
"""


def make_model(n: int, path: Path) -> None:
    if path.is_file():
        return
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from modelgen import Layer, make_mlp; "
            "n = int(sys.argv[2]); "
            "make_mlp(n, [Layer(n, weight_bits=4, act_bits=4)], input_dt='UINT4')"
            ".save(sys.argv[3])")
    subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(n), str(path)],
                   check=True)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run(model: Path, out: Path, cache: Path, fps: int) -> dict:
    cmd = [sys.executable, "-m", "dfx", "run", "--plugins", "default", str(model), "-o",
           str(out), "--cache-dir", str(cache), "-q", "--target-fps", str(fps),
           "--synth-clk-period-ns", "10"]
    before = folder_bytes(cache)
    result = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"measuring failed:\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["code"] != 0:
        sys.exit(f"dfx run failed on {model}:\n{result.stderr}")
    figures["build_bytes"] = folder_bytes(out)
    figures["cache_growth"] = folder_bytes(cache) - before
    figures["summary"] = json.loads((out / "report" / "folding_summary.json").read_text())
    return figures


def _load() -> str:
    """The 1, 5 and 15 minute load averages: the machine may be shared."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,2048,4096")
    parser.add_argument("--target-fps", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"estimate flow, {args.target_fps} fps at 100 MHz, 4-bit weights and "
              "activations, empty cache, fresh process")
        print(f"load average before: {_load()}")
        print(f"{'layer':>11} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} {'build MB':>9} "
              f"{'cache MB':>9}  folding")
        for n in sizes:
            model = work / f"mlp{n}.onnx"
            make_model(n, model)
            with tempfile.TemporaryDirectory(dir=work) as run_dir:
                run_dir = Path(run_dir)
                f = run(model, run_dir / "out", run_dir / "cache", args.target_fps)
            layers = f["summary"]["layers"]
            folding = "; ".join(f"{name} PE {v['PE']} SIMD {v['SIMD']} {v['ram_style']}"
                                for name, v in layers.items())
            if f["summary"].get("outside_calibration"):
                folding += " (outside the calibration)"
            print(f"{n:>5}x{n:<5} {f['wall']:7.2f} {f['cpu']:7.2f} "
                  f"{f['maxrss_kb'] / 1024:8.0f} {f['build_bytes'] / 2**20:9.1f} "
                  f"{f['cache_growth'] / 2**20:9.1f}  {folding}")
            print(f"{'':11} load average after it: {_load()}")
            if n == 4096:
                ok = f["wall"] <= 10 and f["maxrss_kb"] <= 2 * 2**20
                print(f"{'':11} targets for 4096: <= 10 s wall, <= 2048 MB peak: "
                      f"{'OK' if ok else 'OVER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
