"""Figures of the estimate-only flow (issue: the spine).

    python benchmarks/bench_estimate_flow.py [--repeat 5] [--model PATH]

Prints, for examples/models/cybsec-mlp-w2a2:

* wall time of `dfx run` in a cold process with a cold (empty) cache   target <= 1.0 s
  (and its CPU time, which a busy machine disturbs less)
* wall time of an identical rerun (new process, warm cache)            target <= 0.3 s
* the share of imports in one more cold run (``python -X importtime``): the sum of
  the top-level imports against that run's wall time, and the largest packages
* the folding at target_fps 1,000,000, 10 ns, mvau_wwidth_max 36:
  cycles per layer (target <= 100) and the sum of PE x SIMD
  (FINN's greedy folding: 609; the cheapest folding meeting the budget: 513)

Each time is the median of --repeat runs of the real command line in a fresh
Python process, so interpreter start-up and imports are included (after one
untimed run, so that Python's bytecode cache of dfx exists, as it does for users).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "examples" / "models" / "cybsec-mlp-w2a2" / "model.onnx"
ARGS = ["--target-fps", "1000000", "--synth-clk-period-ns", "10", "--mvau-wwidth-max", "36",
        "-q"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(model: Path, out: Path, cache: Path, python_flags=()) -> tuple[float, float, str]:
    """One `dfx run` in a new process: (wall seconds, CPU seconds, its stderr)."""
    env = {**os.environ, "DFX_CACHE_DIR": str(cache)}
    # as a user's Python: dfx's bytecode cached (a cold start is not the first after install)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cpu = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *python_flags, "-m", "dfx", "run", "--plugins",
                             "default", str(model), "-o", str(out), *ARGS], env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"dfx run failed:\n{result.stderr}")
    return seconds, _children_cpu() - cpu, result.stderr


def import_times(stderr: str) -> dict[str, float]:
    """Seconds per top-level package from ``-X importtime`` output (nested imports are
    counted in the cumulative time of the import that made them)."""
    per_package: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit() or name.startswith("  "):
            continue  # the header, or an import nested in another
        root = name.strip().split(".")[0]
        per_package[root] = per_package.get(root, 0.0) + int(cumulative) / 1e6
    return per_package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()

    cold, cold_cpu, warm = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timed_run(args.model, tmp / "warm_up", tmp / "cache_warm_up")  # writes the bytecode
        for i in range(args.repeat):
            cache = tmp / f"cache{i}"  # empty: every step runs
            seconds, cpu, _ = timed_run(args.model, tmp / f"out{i}", cache)
            cold.append(seconds)
            cold_cpu.append(cpu)
            warm.append(timed_run(args.model, tmp / f"out{i}", cache)[0])
        import_wall, _, stderr = timed_run(args.model, tmp / "out_imports", tmp / "cache_imp",
                                           python_flags=("-X", "importtime"))
        imports = import_times(stderr)
        out = tmp / "out0"
        hw = json.loads((out / "final_hw_config.json").read_text())
        cycles = json.loads((out / "report" / "estimate_layer_cycles.json").read_text())
        perf = json.loads((out / "report" / "estimate_network_performance.json").read_text())
        res = json.loads((out / "report" / "estimate_layer_resources.json").read_text())

    print(f"model: {args.model.parent.name}, {args.repeat} runs each, median (min .. max)")
    for label, values, target in (("cold process, cold cache", cold, 1.0),
                                  ("rerun from the cache", warm, 0.3)):
        med = statistics.median(values)
        verdict = "OK" if med <= target else "OVER"
        print(f"  {label:26s} {med:6.3f} s ({min(values):.3f} .. {max(values):.3f})  "
              f"target <= {target} s  {verdict}")
    print(f"  cold run CPU time          {statistics.median(cold_cpu):6.3f} s "
          f"({min(cold_cpu):.3f} .. {max(cold_cpu):.3f})")
    total_imports = sum(imports.values())
    top = sorted(imports.items(), key=lambda kv: -kv[1])[:6]
    print(f"imports in one cold run (-X importtime): {total_imports:.3f} s of "
          f"{import_wall:.3f} s wall ({100 * total_imports / import_wall:.0f}%)")
    print("  largest: " + ", ".join(f"{name} {sec:.3f} s" for name, sec in top))
    versions = []
    for dist in ("onnx", "ml_dtypes", "qonnx", "numpy"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} missing")
    print(f"  with {', '.join(versions)}; onnxruntime "
          f"{'imported' if 'onnxruntime' in stderr else 'not imported'}")
    lanes = 0
    print("folding at 1,000,000 fps, 10 ns, mvau_wwidth_max 36:")
    for name, fold in hw.items():
        if name == "Defaults":
            continue
        lanes += fold["PE"] * fold["SIMD"]
        print(f"  {name}: PE {fold['PE']:3d} SIMD {fold['SIMD']:3d}  {cycles[name]:4d} cycles  "
              f"{fold['ram_style']}")
    print(f"  sum of PE x SIMD: {lanes} (FINN's greedy folding: 609; cheapest possible: 513)")
    print(f"  max cycles {perf['max_cycles']} (target <= 100), estimated "
          f"{perf['estimated_throughput_fps']:,.0f} fps, latency "
          f"{perf['estimated_latency_ns']:,.0f} ns")
    total = res["total"]
    print("  estimated resources: " + ", ".join(f"{k} {v:,}" for k, v in total.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
