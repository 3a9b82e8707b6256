"""``dfx_build``: a build through dfx's cache, made once per run however many workers ask.

A build is named by a key: the hash of the model's bytes, the configuration, the plugins
and the dfx version. The first worker that needs it takes a lock for that key (a file in
the run's shared folder, beside the builds), runs ``dfx run`` with the shared artifact
cache and writes the outcome next to the build: ``<key>.json`` with ``status`` ``ok`` or
``failed`` and the build's own error. A worker that finds the outcome uses it: the build
folder when it succeeded, the same error when it failed, so a broken build is attempted
once per run, not once per worker or per test. Each attempt is also listed under
``builds`` in the run's metrics file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from dfx.hil.errors import BuildFailed

#: What ``dfx_build`` makes unless ``generate_outputs`` is given: everything the driver
#: needs on the simulated accelerator, and the estimates to compare against.
DEFAULT_OUTPUTS = ("estimate_reports", "stitched_ip", "rtlsim_performance", "pynq_driver",
                   "deployment_package")
KEY_CHARS = 24  # of the sha256 key, in file names


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DfxBuild:
    """A finished build: its folder and what the tests read from it."""

    path: Path  # the build folder (FINN's layout)
    model: Path
    key: str
    config: dict[str, Any]
    plugins: str = "default"
    built_here: bool = False  # this process ran `dfx run` for it
    seconds: float | None = None
    _io: dict | None = field(default=None, repr=False)

    def report(self, name: str) -> dict:
        """``report/<name>`` (``.json`` may be left out) of the build, parsed."""
        name = name if name.endswith(".json") else f"{name}.json"
        return json.loads((self.path / "report" / name).read_text())

    @property
    def estimate(self) -> dict:
        """``report/estimate_network_performance.json`` (FINN's keys)."""
        return self.report("estimate_network_performance")

    @property
    def driver_dir(self) -> Path:
        return self.path / "driver"

    @property
    def package(self) -> Path:
        """``deploy/deploy.zip``, what goes to a board."""
        return self.path / "deploy" / "deploy.zip"

    @property
    def io(self) -> dict:
        """The driver's I/O description (``driver/io.json``)."""
        if self._io is None:
            self._io = json.loads((self.driver_dir / "io.json").read_text())
        return self._io

    @property
    def bitfile_sha256(self) -> str | None:
        """The sha256 of the build's bitfile, or None when it made none (no Vivado)."""
        return (self.io.get("bitfile") or {}).get("sha256")

    @property
    def simulator_sha256(self) -> str | None:
        binary = self.driver_dir / "sim" / "Vdfx_top"
        return _sha256_file(binary) if binary.is_file() else None

    @property
    def board(self) -> str | None:
        return self.config.get("board")


class Builder:
    """Makes and shares the builds of one test run (see the module docstring).

    run_dir:   a folder every worker of the run sees (builds and their locks go there);
    cache_dir: dfx's artifact cache, shared by the builds (and by later runs);
    metrics:   the run's :class:`~dfx.hil.metrics.MetricsFile` (build attempts are
               listed in it), or None;
    root:      the folder relative model paths (and relative path values) start from.
    """

    def __init__(self, run_dir: Path, cache_dir: Path, metrics=None, worker: str = "main",
                 root: Path | None = None, timeout_s: float = 3600.0):
        self.dir = Path(run_dir) / "dfx-builds"
        self.cache_dir = Path(cache_dir)
        self.metrics = metrics
        self.worker = worker
        self.root = Path(root or os.getcwd())
        self.timeout_s = timeout_s
        self._known: dict[str, dict] = {}  # key -> outcome, in this process

    def _absolute(self, value: Any) -> Any:
        if isinstance(value, os.PathLike):
            path = Path(value)
            return str(path if path.is_absolute() else (self.root / path).resolve())
        if isinstance(value, (list, tuple)):
            return [self._absolute(v) for v in value]
        return value

    def key_of(self, model: Path, config: Mapping[str, Any], plugins: str) -> str:
        from dfx import __version__
        from dfx.cache import make_key

        return make_key("dfx-hil-build", __version__, _sha256_file(model), dict(config),
                        plugins)

    def build(self, model: str | os.PathLike, plugins: str = "default",
              **config: Any) -> DfxBuild:
        """The build of ``model`` with the configuration ``config`` (DataflowBuildConfig
        keys; ``generate_outputs`` defaults to :data:`DEFAULT_OUTPUTS`). Raises
        :class:`BuildFailed` with the build's own error when it fails."""
        __tracebackhide__ = True
        model = Path(model)
        model = model if model.is_absolute() else (self.root / model).resolve()
        if not model.is_file():
            raise BuildFailed(f"dfx_build: the model {model} does not exist")
        config = {k: self._absolute(v) for k, v in config.items()}
        config.setdefault("generate_outputs", list(DEFAULT_OUTPUTS))
        key = self.key_of(model, config, plugins)
        outcome, built_here = self._known.get(key), False
        if outcome is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            name = key[:KEY_CHARS]
            lock = filelock.FileLock(str(self.dir / f"{name}.lock"))
            try:
                lock.acquire(timeout=self.timeout_s + 60)
            except filelock.Timeout:
                raise BuildFailed(f"dfx_build({model.name}): another worker has been "
                                  f"building it for over {self.timeout_s + 60:g} s") from None
            try:
                outcome = _read_json(self.dir / f"{name}.json")
                if outcome is None:  # nobody built it in this run (or its builder died)
                    outcome = self._run(model, config, plugins, key)
                    built_here = True
            finally:
                lock.release()
            self._known[key] = outcome
        if outcome["status"] != "ok":
            by = ("" if built_here else f" (built once in this run by worker "
                  f"{outcome['worker']}; not rebuilt)")
            raise BuildFailed(f"dfx_build({model.name}) failed{by}: {outcome['error']}")
        return DfxBuild(path=Path(outcome["path"]), model=model, key=key, config=config,
                        plugins=plugins, built_here=built_here, seconds=outcome["seconds"])

    def _run(self, model: Path, config: dict, plugins: str, key: str) -> dict:
        name = key[:KEY_CHARS]
        out = self.dir / name
        cfg_file = self.dir / f"{name}.config.json"
        cfg_file.write_text(json.dumps(config, indent=2) + "\n")
        cmd = [sys.executable, "-m", "dfx", "run", "--plugins", plugins, str(model),
               "--config", str(cfg_file), "-o", str(out), "--cache-dir", str(self.cache_dir),
               "-q"]
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout_s)
            code = proc.returncode
        except BaseException as exc:  # the time limit, or this worker being stopped
            os.killpg(proc.pid, signal.SIGTERM)  # dfx stops its tools with it
            stdout, stderr = proc.communicate()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            code = None
        end = time.time()
        log = self.dir / f"{name}.log"
        log.write_text(f"$ {' '.join(cmd)}\n{stdout}{stderr}")
        outcome = {"key": key, "model": str(model), "config": config, "path": str(out),
                   "worker": self.worker, "pid": os.getpid(), "start": start, "end": end,
                   "seconds": end - start, "exit_code": code, "log": str(log)}
        if code == 0:
            outcome.update(status="ok", error=None)
        elif code is None:
            outcome.update(status="failed",
                           error=f"dfx run did not finish within {self.timeout_s:g} s "
                                 f"(log: {log})")
        else:
            outcome.update(status="failed", error=_build_error(stderr, code, log))
        tmp = self.dir / f".{name}.json.{os.getpid()}"
        tmp.write_text(json.dumps(outcome, indent=1) + "\n")
        os.replace(tmp, self.dir / f"{name}.json")
        if self.metrics is not None:
            self.metrics.add_build({k: v for k, v in outcome.items() if k != "config"})
        return outcome


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _build_error(stderr: str, code: int, log: Path) -> str:
    """dfx's own error lines (``dfx: error: ...``), else the end of its output."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("dfx: ")]
    text = "\n".join(ours or lines[-15:]) or "no message"
    return f"{text} (exit {code}; log: {log})"
