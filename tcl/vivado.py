"""Finding Vivado and running TCL scripts in Vivado batch sessions.

:func:`find_vivado` locates the executable (the ``vivado_path`` config key, then
``vivado`` on PATH, then ``$XILINX_VIVADO/bin/vivado``), asks it for its version and
refuses releases older than :data:`MIN_VIVADO`.

:func:`run_vivado` runs one or several TCL scripts in *one* batch session (so a
checkpoint opened by the first script is still open for the next), with the log,
journal and Vivado's temporary files in the build folder. The output is streamed
line by line to a callback while it runs. A session that fails (non-zero exit, or an
``ERROR:`` line in its log), runs past its time limit or does not write the files it
should raises :class:`VivadoError` with the first errors and critical warnings of the
log and the log's path.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from dfx.errors import StepError, ToolNotFoundError
from dfx.tools import Tool

__all__ = [
    "MIN_VIVADO",
    "Vivado",
    "VivadoError",
    "VivadoRun",
    "VivadoTimeoutError",
    "VivadoVersionError",
    "find_vivado",
    "parse_version",
    "run_vivado",
    "session_script",
    "vivado_available",
]

#: The oldest Vivado release dfx's TCL scripts are written for.
MIN_VIVADO = (2022, 1)
#: Time limit of ``vivado -version`` (it starts in seconds; a hung license check does not).
VERSION_TIMEOUT_S = 60.0
#: Seconds a stopped session gets to exit on SIGTERM before its process group is killed.
KILL_GRACE_S = 5.0
#: Seconds to wait, after Vivado exits, for its children to close the output pipe.
LINGER_S = 2.0
#: How many error and critical-warning lines a :class:`VivadoError` message quotes.
QUOTED_MESSAGES = 5

INSTALL_HELP = (
    "install Vivado (2022.1 or newer) and source its settings64.sh so that `vivado` is "
    "on PATH, or set the dfx config key `vivado_path` to the executable or its install "
    "folder (the one holding bin/vivado)"
)
_EXE_NAMES = ("vivado.bat", "vivado") if os.name == "nt" else ("vivado",)
_VERSION = re.compile(r"\bvivado\s+v(\d{4})\.(\d+)(?:\.(\d+))?", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_FLAGGED = ("ERROR:", "CRITICAL WARNING:")


class VivadoVersionError(ToolNotFoundError):
    """The Vivado found is older than :data:`MIN_VIVADO`."""


class VivadoError(StepError):
    """A Vivado batch session failed, timed out or did not write its outputs.

    ``log_path``, ``returncode``, ``errors`` and ``critical_warnings`` (the log's lines,
    in order) are kept for callers that want more than the message.
    """

    def __init__(self, message: str, *, log_path: Path | None = None,
                 returncode: int | None = None, errors: Sequence[str] = (),
                 critical_warnings: Sequence[str] = ()):
        super().__init__(message)
        self.log_path = log_path
        self.returncode = returncode
        self.errors = list(errors)
        self.critical_warnings = list(critical_warnings)


class VivadoTimeoutError(VivadoError):
    """A Vivado session ran past its time limit and was stopped."""


@dataclass(frozen=True)
class Vivado(Tool):
    """A Vivado installation: its executable and release (a :class:`dfx.tools.Tool`).

    ``version`` is ``(year, release)``, e.g. ``(2022, 2)``; ``version_string`` is the
    release as Vivado writes it (``"2022.2"``, ``"2019.2.1"``).
    """

    name: ClassVar[str] = "Vivado"

    executable: Path
    version: tuple[int, int]
    version_string: str

    def __str__(self) -> str:
        return f"Vivado {self.version_string} ({self.executable})"

    def is_error(self, line: str) -> bool:
        return line.startswith(_FLAGGED)


@dataclass
class VivadoRun:
    """A finished, successful Vivado session."""

    name: str
    log_path: Path
    journal_path: Path
    session_path: Path
    returncode: int
    seconds: float
    #: the log's ``CRITICAL WARNING`` lines, in order
    warnings: list[str] = field(default_factory=list)
    #: the last lines of the session's output
    tail: list[str] = field(default_factory=list)


# -- finding Vivado ---------------------------------------------------------------------------

# (resolved executable, mtime_ns) -> Vivado: several steps of a build each look Vivado
# up; `vivado -version` takes seconds, so it runs once per installation and process.
_FOUND: dict[tuple[str, int], Vivado] = {}
_FOUND_LOCK = threading.Lock()


def _executable_in(folder: Path) -> Path | None:
    for sub in (folder / "bin", folder):  # the install folder, or its bin folder
        for exe_name in _EXE_NAMES:
            candidate = sub / exe_name
            if candidate.is_file():
                return candidate
    return None


def _configured_executable(configured: str | os.PathLike) -> Path:
    path = Path(configured).expanduser()
    if not path.exists():
        raise ToolNotFoundError(
            f"the Vivado named by the config key `vivado_path` does not exist: {path} "
            f"(set it to the vivado executable or its install folder, or leave it unset "
            f"to use `vivado` on PATH)")
    if path.is_dir():
        exe = _executable_in(path)
        if exe is None:
            raise ToolNotFoundError(
                f"the config key `vivado_path` names the folder {path}, which holds no "
                f"bin/vivado (set it to the vivado executable or the install folder, e.g. "
                f".../Vivado/2022.2)")
        return exe
    return path


def _search() -> tuple[Path | None, list[str]]:
    """The first ``vivado`` on PATH or under ``$XILINX_VIVADO``; and where it looked."""
    looked = ["`vivado` on PATH"]
    on_path = shutil.which("vivado")
    if on_path:
        return Path(on_path), looked
    xilinx_vivado = os.environ.get("XILINX_VIVADO")
    if xilinx_vivado:
        looked.append(f"$XILINX_VIVADO/bin ({xilinx_vivado}/bin)")
        exe = _executable_in(Path(xilinx_vivado))
        if exe is not None:
            return exe, looked
    else:
        looked.append("$XILINX_VIVADO (not set)")
    return None, looked


def parse_version(text: str) -> tuple[tuple[int, int], str] | None:
    """``((year, release), "2022.2")`` from ``vivado -version``'s output, or ``None``."""
    match = _VERSION.search(text)
    if match is None:
        return None
    year, release, patch = match.groups()
    string = f"{year}.{release}" + (f".{patch}" if patch else "")
    return (int(year), int(release)), string


def _probe(exe: Path) -> Vivado:
    """Run ``exe -version`` and build the :class:`Vivado` (no minimum-version check)."""
    if not os.access(exe, os.X_OK):
        raise ToolNotFoundError(f"Vivado at {exe} is not executable ({INSTALL_HELP})")
    # In a scratch folder: whatever the tool leaves behind must not land in the user's cwd.
    result = Vivado(exe, (0, 0), "?").probe(["-version"], timeout_s=VERSION_TIMEOUT_S)
    output = result.output
    first = next((line.strip() for line in output.splitlines() if line.strip()), "no output")
    if result.returncode != 0:
        raise ToolNotFoundError(
            f"`{exe} -version` failed (exit code {result.returncode}): {first[:300]}")
    parsed = parse_version(output)
    if parsed is None:
        raise ToolNotFoundError(
            f"`{exe} -version` did not answer with a Vivado version ('Vivado v2022.2'); "
            f"it said: {first[:300]}. Is {exe} Vivado?")
    version, string = parsed
    return Vivado(exe, version, string)


def find_vivado(configured: str | os.PathLike | None = None) -> Vivado:
    """The Vivado to use.

    ``configured`` (the ``vivado_path`` config key) is the executable or a folder holding
    ``bin/vivado``; without it, ``vivado`` on PATH, then ``$XILINX_VIVADO/bin/vivado``.
    The version comes from ``vivado -version``, asked once per executable (and
    modification time) per process.

    Raises :class:`~dfx.errors.ToolNotFoundError` saying where it looked and how to get
    Vivado, or naming a configured path that is wrong or an executable that does not
    answer like Vivado; :class:`VivadoVersionError` (a ``ToolNotFoundError``) for a
    release older than :data:`MIN_VIVADO`.
    """
    if configured is not None and str(configured).strip():
        exe = _configured_executable(configured)
    else:
        exe, looked = _search()
        if exe is None:
            raise ToolNotFoundError(f"Vivado was not found (looked for {', '.join(looked)}): "
                                    f"{INSTALL_HELP}")
    exe = exe.absolute()
    try:
        key = (str(exe.resolve()), exe.stat().st_mtime_ns)
    except OSError as exc:
        raise ToolNotFoundError(f"Vivado at {exe} cannot be read: {exc}") from None
    with _FOUND_LOCK:
        vivado = _FOUND.get(key)
    if vivado is None:
        vivado = _probe(exe)
        with _FOUND_LOCK:
            _FOUND[key] = vivado
    if vivado.version < MIN_VIVADO:
        oldest = ".".join(map(str, MIN_VIVADO))
        raise VivadoVersionError(
            f"Vivado {vivado.version_string} at {exe} is older than {oldest}, the oldest "
            f"release dfx's scripts support: {INSTALL_HELP}")
    return vivado


def vivado_available(configured: str | os.PathLike | None = None) -> bool:
    """Whether :func:`find_vivado` finds a usable Vivado (never raises for a missing one)."""
    try:
        find_vivado(configured)
    except ToolNotFoundError:
        return False
    return True


# -- the session script -----------------------------------------------------------------------

_SESSION_PROLOGUE = """\
# Written by dfx: Vivado batch session {name}, running the scripts below in order.
# Each script is sourced inside `catch`: after a Tcl error Vivado's exit code is not
# reliable in every release, so an error is printed as an ERROR line (which marks the
# failed script in the log) and the session exits with code 1.
proc dfx_source {{script}} {{
    puts "DFX: sourcing $script"
    if {{[catch {{uplevel #0 [list source $script]}} message] == 1}} {{
        puts "ERROR: \\[dfx\\] [file tail $script]: [join [split $message \\n] {{ }}]"
        foreach line [split $::errorInfo \\n] {{
            puts "DFX:   $line"
        }}
        exit 1
    }}
}}
"""


def session_script(scripts: Sequence[Path], name: str = "session") -> str:
    """The TCL text that sources ``scripts`` in order in one session, announcing each
    (``DFX: sourcing <path>``) and turning a Tcl error into ``ERROR: [dfx] <script>: <message>``
    and exit code 1."""
    from dfx.tcl.render import tcl_quote

    lines = [_SESSION_PROLOGUE.format(name=name)]
    lines += [f"dfx_source {tcl_quote(str(script))}" for script in scripts]
    lines.append(f"puts {tcl_quote(f'DFX: session {name} done')}")
    return "\n".join(lines) + "\n"


# -- running a session ------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} s"


def _log_messages(log_path: Path, captured: list[str]) -> tuple[list[str], list[str]]:
    """The ``ERROR`` and ``CRITICAL WARNING`` lines of the session: from its log file, or
    from the captured output when Vivado wrote no (readable) log."""
    from dfx.reports import ReportError, read_vivado_log

    table = None
    if log_path.is_file() and log_path.stat().st_size:
        try:
            table = read_vivado_log(log_path)
        except ReportError:
            table = None
    if table is None:
        if not captured:
            return [], []
        # The trailing newline makes the reader take the string as text, not a file name.
        table = read_vivado_log("\n".join(captured) + "\n")
    errors, warnings = [], []
    for row in table.itertuples(index=False):
        text = f"{row.kind}: [{row.id}] {row.message}" if isinstance(row.id, str) else \
            f"{row.kind}: {row.message}"
        (errors if row.kind == "ERROR" else warnings).append(text)
    return errors, warnings


def _failure_message(name: str, returncode: int, errors: list[str], warnings: list[str],
                     tail: Sequence[str], log_path: Path) -> str:
    if returncode < 0:
        what = f"was killed by signal {-returncode}"
    elif returncode:
        what = f"failed (exit code {returncode})"
    else:
        what = "reported errors (exit code 0)"
    parts = [f"Vivado session '{name}' {what}"]
    if errors:
        parts.append("errors:")
        parts += [f"  {_clip(e)}" for e in errors[:QUOTED_MESSAGES]]
        if len(errors) > QUOTED_MESSAGES:
            parts.append(f"  ... and {len(errors) - QUOTED_MESSAGES} more")
    if warnings:
        parts.append("critical warnings:")
        parts += [f"  {_clip(w)}" for w in warnings[:QUOTED_MESSAGES]]
        if len(warnings) > QUOTED_MESSAGES:
            parts.append(f"  ... and {len(warnings) - QUOTED_MESSAGES} more")
    if not errors:
        last = [line for line in tail if line.strip()][-5:]
        if last:
            parts.append("last output:")
            parts += [f"  {_clip(line)}" for line in last]
    parts.append(f"log: {log_path}")
    return "\n".join(parts)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _check_outputs(expect: Sequence[Path | str], workdir: Path, name: str,
                   log_path: Path) -> None:
    for item in expect:
        path = Path(item)
        path = path if path.is_absolute() else workdir / path
        if path.is_dir():
            empty = not any(path.iterdir())
        elif path.is_file():
            empty = path.stat().st_size == 0
        else:
            raise VivadoError(f"Vivado finished but did not write {path} (session '{name}', "
                              f"log: {log_path})", log_path=log_path, returncode=0)
        if empty:
            raise VivadoError(f"Vivado finished but {path} is empty (session '{name}', "
                              f"log: {log_path})", log_path=log_path, returncode=0)


def run_vivado(vivado: Vivado, scripts: Sequence[Path | str] | Path | str, *,
               workdir: Path | str, name: str, timeout_s: float | None,
               on_line: Callable[[str], None] | None = None,
               expect: Sequence[Path | str] = (), tclargs: Sequence[str] = (),
               tail_lines: int = 200) -> VivadoRun:
    """Run ``scripts`` in order in one Vivado batch session and wait for it.

    Writes ``<workdir>/<name>_session.tcl`` (see :func:`session_script`) and runs
    ``vivado -mode batch -notrace -log <name>.log -journal <name>.jou -tempDir .Xil
    -source <name>_session.tcl [-tclargs ...]`` in ``workdir``, in a process group of its
    own. Every output line goes to ``on_line`` (called in the caller's thread) as it
    comes; the last ``tail_lines`` are kept.

    ``timeout_s`` (``None``: no limit) stops the whole process group (SIGTERM, then
    SIGKILL after :data:`KILL_GRACE_S`) and raises :class:`VivadoTimeoutError`; a
    ``KeyboardInterrupt`` (or an exception from ``on_line``) stops it too and is
    re-raised. A non-zero exit or an ``ERROR:`` line in the log raises
    :class:`VivadoError` with the first errors and critical warnings and the log's path;
    so does a file of ``expect`` (relative to ``workdir``) that is missing or empty after
    the session.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"session name {name!r}: use letters, digits, '_', '.', '-'")
    if isinstance(scripts, (str, os.PathLike)):
        scripts = [scripts]
    scripts = [Path(s).absolute() for s in scripts]
    if not scripts:
        raise ValueError("run_vivado needs at least one script")
    missing = [str(s) for s in scripts if not s.is_file()]
    if missing:
        raise VivadoError(f"Vivado session '{name}': no such script {', '.join(missing)}")
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    session_path = workdir / f"{name}_session.tcl"
    log_path = workdir / f"{name}.log"
    journal_path = workdir / f"{name}.jou"
    session_path.write_text(session_script(scripts, name), encoding="ascii")
    for stale in (log_path, journal_path):  # never read an earlier run's log as this one's
        stale.unlink(missing_ok=True)
    command = [str(vivado.executable), "-mode", "batch", "-notrace",
               "-log", str(log_path), "-journal", str(journal_path),
               "-tempDir", str(workdir / ".Xil"), "-source", str(session_path)]
    if tclargs:
        command += ["-tclargs", *map(str, tclargs)]

    # Vivado's own process group, registered: a timeout, an interrupt or dfx's death
    # stops it with its children (SIGTERM, KILL_GRACE_S, SIGKILL: read at call time, so
    # tests can shorten it); children that outlive it are stopped after LINGER_S.
    try:
        result = vivado.run([], command=command, cwd=workdir, timeout_s=timeout_s,
                            on_line=on_line, tail_lines=tail_lines, grace_s=KILL_GRACE_S,
                            linger_s=LINGER_S)
    except ToolNotFoundError as exc:
        raise VivadoError(f"Vivado session '{name}': {exc}") from None
    tail, flagged, timed_out = result.lines, result.flagged, result.timed_out
    seconds = result.seconds

    if timed_out:
        last = [line for line in tail if line.strip()][-3:]
        message = (f"Vivado session '{name}' timed out after {_duration(timeout_s)} and was "
                   f"stopped; raise the config key vivado_timeout_minutes if the design needs "
                   f"longer")
        if last:
            message += "\nlast output:\n" + "\n".join(f"  {_clip(line)}" for line in last)
        message += f"\nlog: {log_path}"
        raise VivadoTimeoutError(message, log_path=log_path, returncode=result.returncode)

    errors, warnings = _log_messages(log_path, flagged)
    if result.returncode != 0 or errors:
        raise VivadoError(_failure_message(name, result.returncode, errors, warnings, tail,
                                           log_path),
                          log_path=log_path, returncode=result.returncode, errors=errors,
                          critical_warnings=warnings)
    _check_outputs(expect, workdir, name, log_path)
    return VivadoRun(name=name, log_path=log_path, journal_path=journal_path,
                     session_path=session_path, returncode=result.returncode, seconds=seconds,
                     warnings=warnings, tail=list(tail))
