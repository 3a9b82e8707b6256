"""Shared fixtures: the shipped example models, a private cache, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "examples" / "models"
MODEL_NAMES = ["cybsec-mlp-w2a2", "digits-w4a4", "tfc-w1a1"]
#: the shipped convolutional networks (issue 12)
CONV_MODEL_NAMES = ["cnv-digits-w2a2", "cnv-pad-w4a4"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own artifact cache, so tests never share entries."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DFX_CACHE_DIR", str(cache))
    return cache


def model_dir(name: str) -> Path:
    return MODELS_DIR / name


def load_example(name: str):
    d = model_dir(name)
    return d / "model.onnx", np.load(d / "input.npy"), np.load(d / "expected_output.npy")


def run_dfx(*args, env_extra: dict | None = None, cwd=None, timeout=300):
    """Run the real ``dfx`` CLI in a fresh process; returns the CompletedProcess."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "dfx", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="session")
def shared_simulator_cache(tmp_path_factory):
    """One simulator cache for the whole run (all xdist workers): a design compiles once.

    Simulators are content-addressed by their sources, so sharing them between
    tests is safe; the artifact cache stays private per test.
    """
    root = tmp_path_factory.getbasetemp().parent / "dfx-simulators"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def _simulator_cache_env(shared_simulator_cache, monkeypatch):
    monkeypatch.setenv("DFX_SIM_CACHE_DIR", str(shared_simulator_cache))
