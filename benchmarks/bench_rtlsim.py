"""Figures of the Verilator rtlsim (issue: RTL backend and Verilator rtlsim).

    python benchmarks/bench_rtlsim.py [--frames 10000] [--model-dir DIR]

Builds examples/models/cybsec-mlp-w2a2 at the 1,000,000 fps folding up to the
stitched IP, then prints:

* simulator compile time with an empty simulator cache, and with the cached one
  (target: a cached simulator costs no recompilation)
* wall time to stream --frames frames through the compiled simulator
  (target: 10,000 frames in <= 5 s) and simulated cycles per second (target >= 1,000,000)
* measured steady-state throughput against the estimate (target: within 2%) and latency
* bit-exactness of the shipped inputs against expected_output.npy
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--model-dir", type=Path,
                        default=ROOT / "examples" / "models" / "cybsec-mlp-w2a2")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "DFX_CACHE_DIR": str(tmp / "cache"),
               "DFX_SIM_CACHE_DIR": str(tmp / "sims")}
        os.environ.update(env)
        out = tmp / "build"
        result = subprocess.run(
            [sys.executable, "-m", "dfx", "run", "--plugins", "default",
             str(args.model_dir / "model.onnx"), "-o", str(out), "-q", "--target-fps", "1000000",
             "--mvau-wwidth-max", "36", "--generate-outputs", "estimate_reports,stitched_ip"],
            env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stderr)

        from dfx.graph import load_model
        from dfx.plugin_manager import load_plugins
        from dfx.plugins.hw import random_frames, rtlsim_execute
        from dfx.plugins.rtlsim import compile_simulator, simulate

        stitched = out / "stitched_ip"
        os.environ["DFX_SIM_CACHE_DIR"] = str(tmp / "sims-empty")  # a truly cold compile
        started = time.perf_counter()
        compile_simulator(stitched)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        compile_simulator(stitched)
        warm = time.perf_counter() - started

        model = load_model(out / "final_model.onnx")
        kinds = load_plugins("default").layer_kinds
        x = random_frames(model, kinds, args.frames, seed=3)
        started = time.perf_counter()
        sim = simulate(stitched, x)
        wall = time.perf_counter() - started
        cycles = sim.stats["cycles"]

        estimate = json.loads((out / "report" / "estimate_network_performance.json").read_text())
        fclk = 100e6
        measured_fps = fclk / sim.interval_cycles
        ratio = measured_fps / estimate["estimated_throughput_fps"]

        x_ref = np.load(args.model_dir / "input.npy")
        expected = np.load(args.model_dir / "expected_output.npy")
        exact = np.array_equal(rtlsim_execute(model, x_ref, stitched, kinds), expected)
        exact_bp = np.array_equal(rtlsim_execute(model, x_ref, stitched, kinds,
                                                 backpressure=0.5), expected)

    print(f"model: {args.model_dir.name}, folding for 1,000,000 fps at 100 MHz")
    print(f"  simulator compile, empty cache   {cold:7.2f} s")
    print(f"  simulator compile, cached        {warm:7.3f} s   (no recompilation)")
    verdict = "OK" if wall <= 5.0 * args.frames / 10_000 else "OVER"
    print(f"  {args.frames:,} frames                   {wall:7.3f} s wall (subprocess + I/O "
          f"included)   target <= {5.0 * args.frames / 10_000:g} s  {verdict}")
    rate = cycles / sim.stats['wall_seconds']
    print(f"  simulated cycles                 {cycles:,} in {sim.stats['wall_seconds']:.3f} s "
          f"= {rate:,.0f} cycles/s   target >= 1,000,000  {'OK' if rate >= 1e6 else 'LOW'}")
    print(f"  steady interval                  {sim.interval_cycles:.2f} cycles/frame "
          f"(estimate: {estimate['max_cycles']})")
    print(f"  throughput                       {measured_fps:,.0f} fps measured vs "
          f"{estimate['estimated_throughput_fps']:,.0f} estimated = {100 * ratio:.2f}%   "
          f"target within 2%  {'OK' if abs(ratio - 1) <= 0.02 else 'OFF'}")
    print(f"  latency                          {sim.latency_cycles} cycles "
          f"({sim.latency_cycles * 10} ns at 100 MHz)")
    print(f"  bit-exact on {len(x_ref)} shipped inputs: {exact}; with 50% output "
          f"backpressure: {exact_bp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
