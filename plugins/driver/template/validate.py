"""Accuracy of the dfx accelerator on a labelled set: ``python validate.py --dataset D``.

``D`` is an ``.npz`` with arrays of inputs and labels (FINN's ``unsw_nb15_binarized.npz``
layout: ``train``/``test`` with the label in the last column, or ``x``/``y``), or an
``.npy`` of inputs with ``--labels labels.npy``. Prints the accuracy and writes
``validate.json``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver_base import PLATFORMS, DriverError, FINNExampleOverlay, load_io  # noqa: E402


def load_dataset(path: str, labels: str | None) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise DriverError(f"--dataset {path}: no such file")
    if p.suffix == ".npz":
        data = np.load(p)
        if "x" in data and "y" in data:
            return data["x"], data["y"]
        if "test" in data:  # FINN's cybsec set: the label is the last column
            test = data["test"]
            return test[:, :-1], test[:, -1]
        raise DriverError(f"--dataset {path}: no arrays x and y (or test) in it")
    if labels is None:
        raise DriverError(f"--dataset {path} is an .npy of inputs: give --labels too")
    return np.load(p), np.load(labels)


def main(argv: list[str] | None = None) -> int:
    io = load_io()
    parser = argparse.ArgumentParser(description="Accuracy of the accelerator.")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--labels", default=None)
    parser.add_argument("--batchsize", type=int, default=1000)
    parser.add_argument("--platform", choices=PLATFORMS, default=io.get("platform", "sim"))
    parser.add_argument("--bitfile", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    # stopped by a time limit (timeout, ssh): unwind, so the simulator is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        x, y = load_dataset(args.dataset, args.labels)
        if len(x) != len(y):
            raise DriverError(f"{len(x)} inputs but {len(y)} labels")
        accel = FINNExampleOverlay(args.bitfile, args.platform, io, device=args.device,
                                   timeout_s=args.timeout)
        correct = 0
        for start in range(0, len(x), max(1, args.batchsize)):
            batch = x[start:start + args.batchsize].reshape(-1, *io["ishape_normal"][0][1:])
            out = accel.postprocess(accel.execute(batch)).reshape(len(batch), -1)
            # one output: a sign (bipolar) or 0/1 decision; several: the argmax
            pred = out.argmax(1) if out.shape[1] > 1 else (out[:, 0] > 0).astype(int)
            truth = np.asarray(y[start:start + args.batchsize]).reshape(-1)
            if out.shape[1] == 1 and truth.min(initial=0) < 0:
                truth = (truth > 0).astype(int)
            correct += int((pred == truth).sum())
    except DriverError as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return 2
    accuracy = correct / len(x)
    Path("validate.json").write_text(json.dumps(
        {"samples": len(x), "correct": correct, "accuracy": accuracy}, indent=2) + "\n")
    print(f"accuracy: {accuracy:.4f} ({correct} of {len(x)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
