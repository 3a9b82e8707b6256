"""How much a build of a large layer adds to the cache and the build folder.

    python benchmarks/bench_cache_growth.py [--size 2048] [--stop-step STEP]

Makes a one-layer model (a SIZE x SIZE MatMul with 4-bit weights and activations,
tests/modelgen.py), runs `dfx run` on it with an empty cache, with
save_intermediate_models false and true, and prints for each: the model file's
size, the cache growth (entries and shared blobs), the build folder's size, the
cold build time and the time of an identical rerun from the cache.
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

ROOT = Path(__file__).resolve().parent.parent


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def run(model: Path, out: Path, cache: Path, extra: list[str]) -> float:
    env = {**os.environ, "DFX_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dfx", "run", "--plugins", "default",
                             str(model), "-o", str(out), "-q", *extra], env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"dfx run failed:\n{result.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--stop-step", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from modelgen import Layer, make_mlp

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model.onnx"
        make_mlp(args.size, [Layer(args.size, weight_bits=4, act_bits=4)],
                 input_dt="UINT4").save(str(model))
        size = model.stat().st_size
        print(f"model: {args.size}x{args.size} MatMul, 4-bit weights, {size / 1e6:.1f} MB")
        for intermediate in ("false", "true"):
            cfg = tmp / f"cfg-{intermediate}.json"
            cfg.write_text(json.dumps({"save_intermediate_models": intermediate == "true"}))
            extra = ["--config", str(cfg)]
            if args.stop_step:
                extra += ["--stop-step", args.stop_step]
            cache, out = tmp / f"cache-{intermediate}", tmp / f"out-{intermediate}"
            cold = run(model, out, cache, extra)
            growth = tree_bytes(cache)
            blobs = tree_bytes(cache / "blobs") if (cache / "blobs").is_dir() else 0
            warm = run(model, out, cache, extra)
            print(f"  save_intermediate_models {intermediate:5s}: cache +{growth / 1e6:7.1f} MB "
                  f"({blobs / 1e6:.1f} MB in shared blobs, {growth / size:.1f}x the model), "
                  f"build folder {tree_bytes(out) / 1e6:7.1f} MB; cold {cold:6.1f} s, "
                  f"rerun from the cache {warm:5.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
