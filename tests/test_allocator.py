"""dfx.allocator: the malloc tuning a big model's build asks for."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_reuse_freed_memory_is_accepted_and_idempotent():
    # in a fresh process: the setting is process-wide and must not leak into the test run
    code = ("from dfx.allocator import reuse_freed_memory as r; import numpy as np; "
            "ok = r(); a = [np.ones(1 << 23) for _ in range(3)]; del a; print(ok, r())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True"]


def test_small_model_does_not_import_ctypes(tmp_path):
    """The cold estimate flow of a small model stays as light as before: no ctypes."""
    from conftest import MODELS_DIR

    model = MODELS_DIR / "cybsec-mlp-w2a2" / "model.onnx"
    code = ("import sys; from dfx.cli import _reuse_memory_for_large_model as f; "
            f"f({str(model)!r}); print('ctypes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
