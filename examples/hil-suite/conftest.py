"""The builds the suite tests: the shipped example models at one folding.

``dfx_build`` (dfx's pytest plugin) makes each build once per run, through dfx's cache,
however many xdist workers ask for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parent.parent / "models"
#: FINN's cybersecurity folding: 1,000,000 frames/s at the default 10 ns clock
FOLDING = {"target_fps": 1_000_000, "mvau_wwidth_max": 36}


class Example:
    """A shipped model's build, with its inputs and expected outputs (qonnx's)."""

    def __init__(self, build, folder: Path):
        self.build = build
        self.inputs = np.load(folder / "input.npy")
        self.expected = np.load(folder / "expected_output.npy")
        labels = folder / "labels.npy"
        self.labels = np.load(labels) if labels.is_file() else None


@pytest.fixture(scope="session")
def example(dfx_build):
    """``example(name)``: the :class:`Example` of ``examples/models/<name>``."""
    made = {}

    def get(name: str) -> Example:
        if name not in made:
            folder = MODELS / name
            made[name] = Example(dfx_build(folder / "model.onnx", **FOLDING), folder)
        return made[name]

    return get
