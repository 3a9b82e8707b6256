"""Figures of the estimate-only flow (issue: the spine).

    python benchmarks/bench_estimate_flow.py [--repeat 5] [--model PATH]

Prints, for examples/models/cybsec-mlp-w2a2:

* wall time of `dfx run` in a cold process with a cold (empty) cache   target <= 1.0 s
* wall time of an identical rerun (new process, warm cache)            target <= 0.3 s
* the folding at target_fps 1,000,000, 10 ns, mvau_wwidth_max 36:
  cycles per layer (target <= 100) and the sum of PE x SIMD
  (FINN's greedy folding: 609; the cheapest folding meeting the budget: 513)

Each time is the median of --repeat runs of the real command line in a fresh
Python process, so interpreter start-up and imports are included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "examples" / "models" / "cybsec-mlp-w2a2" / "model.onnx"
ARGS = ["--target-fps", "1000000", "--synth-clk-period-ns", "10", "--mvau-wwidth-max", "36",
        "-q"]


def timed_run(model: Path, out: Path, cache: Path) -> float:
    env = {**os.environ, "DFX_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dfx", "run", "--plugins", "default",
                             str(model), "-o", str(out), *ARGS], env=env, capture_output=True,
                            text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"dfx run failed:\n{result.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()

    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(args.repeat):
            cache = tmp / f"cache{i}"  # empty: every step runs
            cold.append(timed_run(args.model, tmp / f"out{i}", cache))
            warm.append(timed_run(args.model, tmp / f"out{i}", cache))
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
