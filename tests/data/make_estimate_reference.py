"""Write tests/data/estimate_reference.json: the estimates and foldings of the shipped
models over a grid of folding settings, as the estimate flow computes them.

    python tests/data/make_estimate_reference.py

tests/test_estimate_reference.py recomputes every case and compares. Regenerate only
on purpose, and say in the commit message which figures change and why.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REFERENCE = HERE / "estimate_reference.json"
MODELS = ("cybsec-mlp-w2a2", "digits-w4a4", "tfc-w1a1")
REPORTS = ("estimate_layer_resources.json", "estimate_layer_cycles.json",
           "estimate_network_performance.json", "folding_summary.json")


def cases() -> list[dict]:
    """Every case: model, target_fps, mvau_wwidth_max, standalone_thresholds, objective."""
    grid = []
    for model, fps, wmax, standalone in itertools.product(
            MODELS, (None, 100000, 1000000), (36, 1024), (False, True)):
        grid.append({"model": model, "target_fps": fps, "mvau_wwidth_max": wmax,
                     "standalone_thresholds": standalone})
    for model, wmax in itertools.product(MODELS, (36, 1024)):  # every option is compared
        grid.append({"model": model, "objective": "max_fps_fits_board", "board": "Pynq-Z1",
                     "mvau_wwidth_max": wmax, "standalone_thresholds": False})
    return grid


def case_name(case: dict) -> str:
    return ",".join(f"{k}={case[k]}" for k in sorted(case))


def run_case(case: dict, out: Path) -> dict:
    """Run the estimate flow in this process (no cache) and read what it wrote."""
    from dfx.cli import main

    args = ["run", "--plugins", "default", str(ROOT / "examples" / "models" / case["model"] /
                                               "model.onnx"),
            "-o", str(out), "--no-cache", "-q", "--synth-clk-period-ns", "10",
            "--mvau-wwidth-max", str(case["mvau_wwidth_max"]),
            "--standalone-thresholds", str(case["standalone_thresholds"]).lower()]
    if case.get("target_fps") is not None:
        args += ["--target-fps", str(case["target_fps"])]
    if case.get("objective"):
        args += ["--folding-objective", case["objective"], "--board", case["board"]]
    code = main(args)
    if code != 0:
        raise RuntimeError(f"dfx run failed for {case_name(case)} (exit {code})")
    result = {"final_hw_config": json.loads((out / "final_hw_config.json").read_text())}
    for name in REPORTS:
        result[name] = json.loads((out / "report" / name).read_text())
    return result


def compute_all() -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases()):
            results[case_name(case)] = run_case(case, Path(tmp) / f"out{i}")
    return results


def main() -> int:
    REFERENCE.write_text(json.dumps(compute_all(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE.relative_to(ROOT)} ({len(cases())} cases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
