"""Figures of the convolutional networks (issue 12).

    python benchmarks/bench_conv.py [--repeat 3] [--no-rtl] [--cnv-fps 3000]

Prints:

* for the two shared convnets at 10,000 and 100,000 fps (10 ns, mvau_wwidth_max 36,
  Pynq-Z1 / xc7z020): whether dfx meets the target (slowest layer against the cycle
  budget), its estimated fps, multiply lanes (sum of PE x SIMD of the matrix units),
  LUT and BRAM, against FINN's folding of the same model (from the issue) priced by
  dfx's own estimates, and FINN's own figures;
* the cold estimate flow's wall and CPU time on each (a fresh process, an empty cache;
  the median of --repeat runs)                                        target <= 1.0 s;
* with RTL (unless --no-rtl): each convnet at 100k built with FIFO sizing and rtlsim,
  the measured interval against the estimate                          target within 2%;
* on FINN's CNV-w1a1 topology (3x32x32, convs 64-64-pool-128-128-pool-256-256, FC
  512-512-10; models-scale), the estimate flow's wall and CPU time and peak memory
  (target <= 3 s) and, with RTL, rtlsim's simulated cycles per second (target >= 1M).

Times are of the real command line in a fresh Python process, after one untimed run so
that Python's bytecode cache exists. On a busy machine the wall time includes waiting
for a CPU; the CPU time does not.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
SCALE = ROOT.parent / "shared" / "models-scale" / "cnv-w1a1-cifar" / "model.onnx"
COMMON = ["--synth-clk-period-ns", "10", "--mvau-wwidth-max", "36", "--board", "Pynq-Z1"]


def dfx(args: list, cache: Path, timeout: int = 3600) -> tuple[float, float, int, str]:
    """`dfx ARGS` in a fresh process: (wall s, CPU s, peak RSS MiB, stderr)."""
    env = {**os.environ, "DFX_CACHE_DIR": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dfx", *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"dfx {' '.join(map(str, args))} failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss // 1024, result.stderr


def read(out: Path, name: str):
    return json.loads((out / name).read_text())


def summary(out: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from dfx.board_registry import get_board
    from dfx.plugins.layers.memory import board_weights, cost
    from finn_conv import lanes

    total = read(out, "report/estimate_layer_resources.json")["total"]
    perf = read(out, "report/estimate_network_performance.json")
    return {"cost": cost(total, board_weights(get_board("Pynq-Z1"))),
            "lanes": lanes(read(out, "final_hw_config.json")), "LUT": total["LUT"],
            "BRAM": total["BRAM_18K"], "DSP": total["DSP"], "max_cycles": perf["max_cycles"],
            "fps": perf["estimated_throughput_fps"],
            "slowest": perf["max_cycles_node_name"]}


def shared_convnets(tmp: Path, repeat: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from finn_conv import FINN_FIGURES, FINN_FOLDINGS, write_finn_folding_config

    print("shared convnets (10 ns, mvau_wwidth_max 36, Pynq-Z1): dfx's folding against "
          "FINN's, both priced by dfx's estimates")
    for (name, fps), _ in sorted(FINN_FOLDINGS.items()):
        model = MODELS / name / "model.onnx"
        base = ["run", "--plugins", "default", model, "--target-fps", fps, *COMMON, "-q"]
        dfx([*base, "-o", tmp / "warm"], tmp / "cache-warm")  # bytecode, untimed
        walls, cpus = [], []
        for i in range(repeat):
            wall, cpu, _, _ = dfx([*base, "-o", tmp / f"{name}-{fps}-{i}"],
                                  tmp / f"cache-{name}-{fps}-{i}")
            walls.append(wall)
            cpus.append(cpu)
        ours = summary(tmp / f"{name}-{fps}-0")
        config = write_finn_folding_config(tmp / f"{name}-{fps}-0", name, fps,
                                           tmp / f"finn-{name}-{fps}.json")
        dfx([*base, "-o", tmp / f"finn-{name}-{fps}", "--folding-config-file", config],
            tmp / "cache-finn")
        theirs = summary(tmp / f"finn-{name}-{fps}")
        budget = 1e8 / fps
        f_fps, f_cycles, f_lanes, f_lut, f_bram, f_wall = FINN_FIGURES[name, fps]
        met = "met" if ours["max_cycles"] <= budget else "MISSED"
        print(f"  {name} @ {fps:,} fps (budget {budget:,.0f} cycles): target {met}, slowest "
              f"{ours['slowest']} {ours['max_cycles']:,} cycles, {ours['fps']:,.0f} fps")
        print(f"    dfx folding:  {ours['lanes']:4d} lanes, LUT {ours['LUT']:6,}, BRAM_18K "
              f"{ours['BRAM']:3}, DSP {ours['DSP']:3}, cost {100 * ours['cost']:.2f}% of the board")
        print(f"    FINN folding: {theirs['lanes']:4d} lanes, LUT {theirs['LUT']:6,}, BRAM_18K "
              f"{theirs['BRAM']:3}, DSP {theirs['DSP']:3}, cost {100 * theirs['cost']:.2f}% "
              f"(priced by dfx; {theirs['max_cycles']:,} cycles)")
        verdict = "OK" if ours["cost"] <= theirs["cost"] else "MORE"
        print(f"    dfx / FINN cost {ours['cost'] / theirs['cost']:.3f} ({verdict}), lanes "
              f"{ours['lanes']} vs {theirs['lanes']}")
        print(f"    FINN's own figures: {f_fps:,} fps, {f_cycles:,} cycles, {f_lanes} lanes, "
              f"LUT {f_lut:,}, BRAM_18K {f_bram}, {f_wall} s")
        wall = statistics.median(walls)
        print(f"    cold estimate flow: {wall:.3f} s wall ({min(walls):.3f} .. {max(walls):.3f}), "
              f"{statistics.median(cpus):.3f} s CPU  target <= 1.0 s "
              f"{'OK' if wall <= 1.0 else 'OVER'}")


def rtl_throughput(tmp: Path) -> None:
    print("measured throughput (FIFOs sized by simulation, 100k fps folding):")
    for name in ("cnv-digits-w2a2", "cnv-pad-w4a4"):
        out = tmp / f"rtl-{name}"
        wall, _, _, _ = dfx(["run", "--plugins", "default", MODELS / name / "model.onnx", "-o",
                             out, "--target-fps", "100000", *COMMON, "-q", "--generate-outputs",
                             "estimate_reports,stitched_ip,rtlsim_performance"], tmp / "cache-rtl")
        perf = read(out, "report/rtlsim_performance.json")
        est = read(out, "report/estimate_network_performance.json")
        ratio = perf["interval_cycles"] / est["max_cycles"]
        print(f"  {name}: measured {perf['interval_cycles']:g} cycles a frame, estimated "
              f"{est['max_cycles']}: {100 * (ratio - 1):+.2f}%  target within 2% "
              f"{'OK' if abs(ratio - 1) <= 0.02 else 'OFF'}  (build {wall:.0f} s)")


def cnv_sized(tmp: Path, fps: int, rtl: bool) -> None:
    if not SCALE.is_file():
        print(f"CNV-w1a1: {SCALE} not found, skipped")
        return
    print(f"CNV-w1a1 topology (models-scale) at {fps:,} fps:")
    base = ["run", "--plugins", "default", SCALE, "--target-fps", fps, *COMMON, "-q"]
    dfx([*base, "-o", tmp / "cnv-warm"], tmp / "cache-cnv-warm")
    wall, cpu, rss, _ = dfx([*base, "-o", tmp / "cnv"], tmp / "cache-cnv")
    s = summary(tmp / "cnv")
    print(f"  estimate flow: {wall:.3f} s wall, {cpu:.3f} s CPU, peak memory {rss} MiB  "
          f"target <= 3 s {'OK' if wall <= 3.0 else 'OVER'}")
    print(f"  folding: {s['lanes']} lanes, slowest {s['slowest']} {s['max_cycles']:,} cycles, "
          f"LUT {s['LUT']:,}, BRAM_18K {s['BRAM']}")
    if not rtl:
        return
    out = tmp / "cnv-rtl"
    wall, _, _, _ = dfx([*base, "-o", out, "--generate-outputs",
                         "estimate_reports,stitched_ip,rtlsim_performance",
                         "--set", "auto_fifo_depths=false", "--set", "rtlsim_batch_size=4"],
                        tmp / "cache-cnv-rtl")
    perf = read(out, "report/rtlsim_performance.json")
    est = read(out, "report/estimate_network_performance.json")
    rate = perf["simulated_cycles_per_second"]
    print(f"  rtlsim: {rate / 1e6:.2f} M simulated cycles/s ({perf['cycles']:,} cycles, "
          f"{perf['N']} frames)  target >= 1 M {'OK' if rate >= 1e6 else 'UNDER'}; interval "
          f"{perf['interval_cycles']:g} cycles (estimate {est['max_cycles']:,}, FIFOs of "
          f"depth 2, not sized); build {wall:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rtl", action="store_true", help="skip everything Verilator")
    parser.add_argument("--cnv-fps", type=int, default=3000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="dfx-bench-conv-") as tmp:
        tmp = Path(tmp)
        shared_convnets(tmp, args.repeat)
        if not args.no_rtl:
            rtl_throughput(tmp)
        cnv_sized(tmp, args.cnv_fps, not args.no_rtl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
