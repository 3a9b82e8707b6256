"""The plugin packages under ``examples/``, installed through pip as a user installs them.

``install_editable`` runs ``pip install --no-deps -e <package>`` into the interpreter
that runs the tests, once per test run: a file lock in the folder every xdist worker
shares makes one worker install while the others wait, and a package already installed
from this work tree is left as it is. Editable installs are found by new processes (a
``.pth`` file is read at start-up), so tests run the installed plugin through the real
CLI in a fresh process (``python -m dfx``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from filelock import FileLock


def entry_point(name: str):
    """The ``dfx.plugins`` entry point ``name`` this interpreter sees, or None."""
    importlib.invalidate_caches()
    for ep in importlib.metadata.entry_points(group="dfx.plugins"):
        if ep.name == name:
            return ep
    return None


def imported_from(module: str, folder: Path) -> bool:
    """Whether a fresh interpreter imports ``module`` from ``folder``."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__file__)"],
                          check=False, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return False
    return Path(proc.stdout.strip()).resolve().is_relative_to(Path(folder).resolve())


def _pip_install(package_dir: Path) -> None:
    base = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
            "--quiet"]
    proc = subprocess.run([*base, "--no-build-isolation", "-e", str(package_dir)],
                          check=False, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        # setuptools < 70.1 needs the `wheel` package for editable installs; without
        # it in this environment, let pip build in an isolated environment instead.
        proc = subprocess.run([*base, "-e", str(package_dir)],
                              check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"pip install -e {package_dir} failed:\n" \
                                 f"{proc.stdout}\n{proc.stderr}"


def install_editable(package_dir: Path, entry_point_name: str, module: str,
                     lock_dir: Path) -> None:
    """``pip install -e package_dir`` unless its entry point already leads to this tree.

    ``lock_dir``: a folder all xdist workers of this run share (the parent of pytest's
    base temp folder).
    """
    lock = Path(lock_dir) / f"{Path(package_dir).name}-install.lock"
    with FileLock(str(lock), timeout=900):
        if entry_point(entry_point_name) is None or not imported_from(module, package_dir):
            _pip_install(package_dir)
        ep = entry_point(entry_point_name)
        assert ep is not None, f"{package_dir.name} installed, but no entry point " \
                               f"{entry_point_name!r} in the group dfx.plugins"
        assert ep.value == module
        assert imported_from(module, package_dir)
