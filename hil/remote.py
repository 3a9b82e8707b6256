"""A board over ssh: the deployment package unpacked there, the driver run there.

Every exchange is one ``ssh`` command: data goes in on its stdin and comes back on its
stdout (the package, an input batch, the outputs, the metrics), so a board needs only an
ssh server, a POSIX shell with coreutils' ``timeout`` and a Python with numpy (plus pynq
or pyxrt on real hardware). Every command has the time limit ``timeout_s``: ssh's
connect timeout, ``timeout`` on the board (so nothing is left running there) and a local
limit a little later.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

from dfx.hil.errors import AcceleratorError, AcceleratorTimeout, BoardUnreachable
from dfx.hil.lab import LabBoard

GRACE_S = 3.0  # the local limit waits this much longer than the board's own
DRIVER_GRACE_S = 2.0  # a driver run may last this much more than its own waits' limit,
# so that the driver's message (naming the DMA or the simulator, and the batch) comes back
PACKAGE_MARK = ".dfx-package-sha256"
#: One ssh connection per board, kept open a little while and shared by the commands of
#: every test (a new connection costs a key exchange: about 0.1 s, seconds on a busy host)
MULTIPLEX = ("ControlMaster=auto", f"ControlPath={tempfile.gettempdir()}/dfx-ssh-%C",
             "ControlPersist=30")
TIMED_OUT = re.compile(r"\bwithin [0-9.]+ s\b")
_DEPLOYED: set[tuple[str, str, str]] = set()  # (board, folder, sha) unpacked by this process


def _last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "no message"


class RemoteBoard:
    """One board (a :class:`~dfx.hil.lab.LabBoard`) with a time limit per command."""

    def __init__(self, board: LabBoard, timeout_s: float):
        self.board = board
        self.timeout_s = float(timeout_s)

    def ssh_args(self) -> list[str]:
        """``ssh`` and its options for this board (without the login and command)."""
        b = self.board
        args = ["ssh"]
        # ssh takes the first value it is given: the lab file's options come first
        for option in (*b.ssh_options, "BatchMode=yes",
                       f"ConnectTimeout={max(1, math.ceil(self.timeout_s))}", *MULTIPLEX):
            args += ["-o", option]
        if b.port:
            args += ["-p", str(b.port)]
        if b.key:
            args += ["-i", b.key, "-o", "IdentitiesOnly=yes"]
        return args

    def close_connection(self) -> None:
        """Stop the shared ssh connection to the board, if one is open (at the end of a
        run, so no ssh process outlives pytest)."""
        try:
            subprocess.run([*self.ssh_args(), "-O", "exit", self.board.login],
                           capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def run(self, command: str, what: str, stdin: bytes | None = None,
            limit_s: float | None = None) -> bytes:
        """``command`` on the board (under ``timeout``); returns its stdout.

        Raises :class:`BoardUnreachable` when ssh cannot reach the board or it does not
        answer in time, :class:`AcceleratorTimeout` when the command ran over the limit
        there, :class:`AcceleratorError` when it failed (with the driver's message)."""
        limit = float(limit_s or self.timeout_s)
        remote = f"timeout -k 2 {limit:g} sh -c {shlex.quote(command)}"
        try:
            result = subprocess.run([*self.ssh_args(), self.board.login, remote],
                                    input=stdin or b"",
                                    capture_output=True, timeout=limit + GRACE_S,
                                    start_new_session=True)
        except subprocess.TimeoutExpired:
            raise BoardUnreachable(f"board {self.board.describe()} did not answer within "
                                   f"{limit:g} s ({what}; --dfx-timeout); stopped") from None
        err = result.stderr.decode(errors="replace")
        if result.returncode == 255:
            raise BoardUnreachable(f"board {self.board.describe()} cannot be reached by ssh "
                                   f"({what}): {_last_lines(err, 1)}")
        if result.returncode in (124, 137):
            extra = limit - self.timeout_s
            why = f"--dfx-timeout {self.timeout_s:g} s" + (
                f" and {extra:g} s for the driver to report" if extra > 0 else "")
            raise AcceleratorTimeout(f"{what} on board {self.board.describe()} ran over its "
                                     f"time limit of {limit:g} s ({why}) and was stopped "
                                     f"there")
        if result.returncode != 0:
            driver = [line[len("driver: error: "):] for line in err.splitlines()
                      if line.startswith("driver: error: ")]
            message = "; ".join(driver) if driver else _last_lines(err)
            # the driver's own time limit on a device wait ("... within 10 s")
            kind = AcceleratorTimeout if driver and TIMED_OUT.search(message) \
                else AcceleratorError
            raise kind(f"{what} on board {self.board.describe()} failed (exit "
                       f"{result.returncode}): {message}")
        return result.stdout

    # -- the package ----------------------------------------------------------------

    def remote_dir(self, build_key: str) -> str:
        base = self.board.path
        base = base[2:] if base.startswith("~/") else base  # ssh starts in the home folder
        return f"{base.rstrip('/')}/{build_key[:16]}"

    def deploy(self, package: Path, build_key: str) -> str:
        """Unpack ``package`` (a ``deploy.zip``) on the board, unless the same package is
        there already; returns the remote folder."""
        folder = self.remote_dir(build_key)
        data = package.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if (self.board.name, folder, sha) in _DEPLOYED:
            return folder
        q = shlex.quote(folder)
        there = self.run(f"mkdir -p {q} && cat {q}/{PACKAGE_MARK} 2>/dev/null || true",
                         "checking the package")
        if there.decode(errors="replace").strip() == sha:
            _DEPLOYED.add((self.board.name, folder, sha))
            return folder
        py = shlex.quote(self.board.python)
        unpack = (f"cd {q} && cat > deploy.zip && {py} -c \"import zipfile; "
                  f"zipfile.ZipFile('deploy.zip').extractall('.')\" && "
                  f"echo {sha} > {PACKAGE_MARK}")
        self.run(unpack, "copying and unpacking the deployment package", stdin=data,
                 limit_s=max(self.timeout_s, 60.0))
        _DEPLOYED.add((self.board.name, folder, sha))
        return folder

    # -- the driver -----------------------------------------------------------------

    def _driver(self, args: str) -> str:
        """The driver's command line (run in the package's folder)."""
        py = shlex.quote(self.board.python)
        return (f"{py} driver/driver.py {args} --platform {shlex.quote(self.board.platform)} "
                f"--timeout {self.timeout_s:g}")

    def execute(self, folder: str, batch, postprocess: bool = False):
        """The driver's ``--exec_mode execute`` on ``batch``; returns the outputs."""
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, batch)
        driver = self._driver("--exec_mode execute --inputfile hil-input.npy --outputfile "
                              "hil-output.npy" + (" --postprocess" if postprocess else ""))
        # the batch in on stdin, the driver's messages to stderr, the outputs out on stdout
        out = self.run(f"cd {shlex.quote(folder)} && cat > hil-input.npy && {driver} 1>&2 "
                       f"&& cat hil-output.npy", f"execute of {len(batch)} frames",
                       stdin=buf.getvalue(), limit_s=self.timeout_s + DRIVER_GRACE_S)
        try:
            return np.load(io.BytesIO(out))
        except (ValueError, OSError) as exc:
            raise AcceleratorError(f"execute on board {self.board.describe()}: the outputs "
                                   f"that came back are not an .npy array ({exc})") from None

    def throughput_test(self, folder: str, batch_size: int) -> dict:
        """The driver's ``--exec_mode throughput_test``; returns ``nw_metrics.json``."""
        driver = self._driver(f"--exec_mode throughput_test --batchsize {int(batch_size)}")
        out = self.run(f"cd {shlex.quote(folder)} && {driver} 1>&2 && cat nw_metrics.json",
                       f"throughput_test of {batch_size} frames",
                       limit_s=self.timeout_s + DRIVER_GRACE_S)
        try:
            return json.loads(out)
        except ValueError:
            raise AcceleratorError(f"throughput_test on board {self.board.describe()}: "
                                   f"nw_metrics.json did not come back") from None
