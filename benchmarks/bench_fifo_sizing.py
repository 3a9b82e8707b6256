"""FIFO sizing: simulator compiles and time per design (issue: the plugin contract made real).

    python benchmarks/bench_fifo_sizing.py [--fps 5000 1000000] [--model-dir DIR]

For each target fps, builds the model (default examples/models/cybsec-mlp-w2a2,
mvau_wwidth_max 36) with an empty artifact cache and an empty simulator cache
through the estimates, the FIFO sizing, the stitched IP and the rtlsim
performance measurement, then prints:

* how many simulators were compiled (target: at most one per design), read from
  the simulator cache the build used;
* the time of step_set_fifo_depths and of the whole build (time_per_step.json);
* the FIFO depths sizing chose, and the measured interval against the estimate.
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


def build(model: Path, fps: int, tmp: Path) -> dict:
    env = {**os.environ, "DFX_CACHE_DIR": str(tmp / "cache"),
           "DFX_SIM_CACHE_DIR": str(tmp / "sims")}
    out = tmp / "build"
    result = subprocess.run(
        [sys.executable, "-m", "dfx", "run", "--plugins", "default", str(model), "-o",
         str(out), "-q", "--target-fps", str(fps), "--mvau-wwidth-max", "36",
         "--generate-outputs", "estimate_reports,stitched_ip,rtlsim_performance"],
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr)
    sims = tmp / "sims" / "simulators"
    compiled = [d for d in sims.iterdir() if (d / "build.json").is_file()] \
        if sims.is_dir() else []
    seconds = [json.loads((d / "build.json").read_text())["seconds"] for d in compiled]
    times = json.loads((out / "time_per_step.json").read_text())
    sizing = json.loads((out / "report" / "fifo_sizing.json").read_text())
    perf = json.loads((out / "report" / "rtlsim_performance.json").read_text())
    estimate = json.loads((out / "report" / "estimate_network_performance.json").read_text())
    return {"compiles": len(compiled), "compile_seconds": seconds,
            "sizing_s": times.get("step_set_fifo_depths"),
            "total_s": sum(v for v in times.values() if isinstance(v, int | float)),
            "depths": sizing.get("depths"), "interval": perf["interval_cycles"],
            "max_cycles": estimate["max_cycles"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=int, nargs="+", default=[5000, 1_000_000])
    parser.add_argument("--model-dir", type=Path,
                        default=ROOT / "examples" / "models" / "cybsec-mlp-w2a2")
    args = parser.parse_args()
    print(f"model: {args.model_dir.name}, FIFO sizing with empty caches")
    for fps in args.fps:
        with tempfile.TemporaryDirectory() as tmp:
            r = build(args.model_dir / "model.onnx", fps, Path(tmp))
        verdict = "OK" if r["compiles"] <= 1 else "OVER"
        compiles = ", ".join(f"{s:.1f} s" for s in r["compile_seconds"])
        print(f"  {fps:>9,} fps: {r['compiles']} simulator compile(s) ({compiles})   target <= 1  "
              f"{verdict}")
        print(f"  {'':>9}      step_set_fifo_depths {r['sizing_s']:.1f} s, whole build "
              f"{r['total_s']:.1f} s")
        print(f"  {'':>9}      depths {r['depths']}")
        print(f"  {'':>9}      rtlsim interval {r['interval']:g} cycles (estimate "
              f"{r['max_cycles']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
