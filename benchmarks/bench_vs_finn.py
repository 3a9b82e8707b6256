"""dfx's cold estimate flow against FINN's, side by side (issue: reliability, cold start).

    python benchmarks/bench_vs_finn.py [--finn-python PATH] [--repeat 5] [--model PATH]

Both tools build the same model (default: examples/models/cybsec-mlp-w2a2) with FINN's
estimate-only steps at target_fps 1,000,000, a 10 ns clock and mvau_wwidth_max 36, each
in a fresh process (interpreter start-up and imports included) with nothing cached: dfx
with an empty artifact cache, FINN with a new output and temporary folder. The runs
alternate (dfx, FINN, dfx, FINN, ...) so that both see the same load on a shared machine;
one untimed run of each comes first (Python's bytecode and the page cache are then as a
user has them). Prints the median (min .. max) of wall and CPU time of each, the ratio of
the medians (goal: dfx at least 10x faster), the load average, and the cycles per layer
each chose (both must meet the cycle budget; dfx picks the cheapest folding that does).

FINN is not a dependency of dfx. Give the Python of an environment where FINN is installed
(``--finn-python`` or ``FINN_PYTHON``; for example a throw-away venv with ``pip install
finn-plus psutil``: finn-plus 1.6.1 imports psutil but does not declare it). Without
one, the benchmark says so and prints dfx's figures only.

FINN is driven through its Python API (``build_dataflow_cfg`` with
``estimate_only_dataflow_steps``), from a small script this benchmark writes. finn-plus
imports its Vivado simulator bindings (XSI) when its builder module loads, and names the
Vivado version in the build's metadata; neither is used by the estimate steps. The script
therefore gives XSI a placeholder and ``XILINX_VIVADO`` a path that does not exist, so
FINN's estimate flow runs here without Vivado, as it would on a machine that has it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "examples" / "models" / "cybsec-mlp-w2a2" / "model.onnx"
TARGET_FPS, CLOCK_NS, WWIDTH_MAX = 1_000_000, 10.0, 36

# Run by the FINN Python: FINN's estimate-only flow on argv[1] into argv[2].
FINN_SCRIPT = f'''
import os, sys
# finn-plus reads the Vivado version from this path for the build's metadata only
os.environ.setdefault("XILINX_VIVADO", "/nonexistent/Vivado/2024.2")
try:  # finn-plus: global settings, and its XSI bindings, which need Vivado
    from finn.util.settings import initialize_dummy_settings
    initialize_dummy_settings()
    import finn.xsi
    finn.xsi.SimEngine = None  # the estimate steps never simulate
except ImportError:  # Xilinx FINN: neither exists
    pass
import finn.builder.build_dataflow_config as bc
from finn.builder.build_dataflow import build_dataflow_cfg

cfg = bc.DataflowBuildConfig(
    output_dir=sys.argv[2], target_fps={TARGET_FPS}, synth_clk_period_ns={CLOCK_NS},
    mvau_wwidth_max={WWIDTH_MAX}, fpga_part="xc7z020clg400-1",
    steps=bc.estimate_only_dataflow_steps,
    generate_outputs=[bc.DataflowOutputType.ESTIMATE_REPORTS])
sys.exit(build_dataflow_cfg(sys.argv[1], cfg))
'''


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], cwd: Path, env: dict
           ) -> tuple[float, float, subprocess.CompletedProcess]:
    cpu = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, _children_cpu() - cpu, result


def _user_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's Python: bytecode cached
    return env


def run_dfx(model: Path, work: Path) -> tuple[float, float, Path]:
    out = work / "out"
    env = {**_user_env(), "DFX_CACHE_DIR": str(work / "cache")}  # empty: every step runs
    cmd = [sys.executable, "-m", "dfx", "run", "--plugins", "default", str(model), "-o",
           str(out), "-q", "--target-fps", str(TARGET_FPS), "--synth-clk-period-ns",
           str(CLOCK_NS), "--mvau-wwidth-max", str(WWIDTH_MAX)]
    wall, cpu, result = _timed(cmd, work, env)
    if result.returncode != 0:
        sys.exit(f"dfx run failed:\n{result.stderr[-2000:]}")
    return wall, cpu, out


def run_finn(python: str, script: Path, model: Path, work: Path) -> tuple[float, float, Path]:
    out = work / "out"
    env = {**_user_env(), "FINN_BUILD_DIR": str(work / "finn_tmp")}
    wall, cpu, result = _timed([python, str(script), str(model), str(out)], work, env)
    perf = out / "report" / "estimate_network_performance.json"
    if result.returncode != 0 or not perf.is_file():
        tail = (result.stdout + result.stderr)[-2000:]
        sys.exit(f"FINN's estimate flow failed (exit {result.returncode}):\n{tail}")
    return wall, cpu, out


def _cycles(out: Path) -> dict:
    path = out / "report" / "estimate_layer_cycles.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):7.3f} s ({min(values):.3f} .. {max(values):.3f})"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finn-python", default=os.environ.get("FINN_PYTHON"),
                        help="the Python of an environment with FINN (or $FINN_PYTHON)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    model = args.model.resolve()
    finn = args.finn_python
    if finn and not shutil.which(finn) and not Path(finn).is_file():
        sys.exit(f"--finn-python {finn}: no such program")

    print(f"model {model.parent.name}: estimate-only flow, {TARGET_FPS:,} fps, {CLOCK_NS:g} ns, "
          f"mvau_wwidth_max {WWIDTH_MAX}; cold: new process, nothing cached")
    print(f"load average at the start: {_load()} ({os.cpu_count()} cores)")
    times: dict[str, tuple[list[float], list[float]]] = {"dfx": ([], []), "FINN": ([], [])}
    with tempfile.TemporaryDirectory(prefix="dfx-vs-finn-") as tmp:
        tmp = Path(tmp)
        script = tmp / "finn_estimate.py"
        script.write_text(FINN_SCRIPT)

        def once(tool: str, i: int) -> tuple[float, float, Path]:
            work = tmp / f"{tool}{i}"
            work.mkdir()
            if tool == "dfx":
                return run_dfx(model, work)
            return run_finn(finn, script, model, work)

        tools = ["dfx", "FINN"] if finn else ["dfx"]
        outs = {tool: once(tool, -1)[2] for tool in tools}  # untimed warm-up
        for i in range(args.repeat):
            for tool in tools:
                wall, cpu, _ = once(tool, i)
                times[tool][0].append(wall)
                times[tool][1].append(cpu)
        finn_cycles = _cycles(outs["FINN"]) if finn else {}
        dfx_cycles = _cycles(outs["dfx"])

    print(f"{args.repeat} cold runs each, alternating; median (min .. max):")
    for tool in tools:
        wall, cpu = times[tool]
        print(f"  {tool:5s} wall {_stats(wall)}   CPU {_stats(cpu)}")
    print(f"load average at the end: {_load()}")
    if not finn:
        print("FINN: not measured (no FINN Python given: --finn-python or FINN_PYTHON); "
              "dfx's figures only")
        return 0
    wall_ratio = statistics.median(times["FINN"][0]) / statistics.median(times["dfx"][0])
    cpu_ratio = statistics.median(times["FINN"][1]) / statistics.median(times["dfx"][1])
    verdict = "OK" if wall_ratio >= 10 else "UNDER"
    print(f"dfx is {wall_ratio:.1f}x faster than FINN in wall time ({cpu_ratio:.1f}x in CPU "
          f"time); goal >= 10x: {verdict}")
    budget = round(1e9 / (TARGET_FPS * CLOCK_NS))
    met = all(max(c.values(), default=budget + 1) <= budget for c in (dfx_cycles, finn_cycles))
    # dfx takes the cheapest folding within the budget, FINN's greedy one may overshoot it
    print(f"cycles per layer: dfx {list(dfx_cycles.values())}, FINN "
          f"{list(finn_cycles.values())}; both within the {budget}-cycle budget: "
          f"{'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
