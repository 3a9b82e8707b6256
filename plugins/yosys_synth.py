"""Out-of-context synthesis of a stitched design with Yosys (``synth_xilinx``).

:func:`synthesize` maps ``stitched_ip/`` (see :mod:`dfx.plugins.rtlgen`) to Xilinx
primitives without Vivado: the whole ``dfx_top`` and, per layer, each layer wrapper
(``MVAU_0``, ``Thresholding_0``, ...) on its own, out of context (no IO buffers, no clock
buffers, ``-flatten``). Every run writes ``<module>.stat.json`` (``stat -json``) and
``<module>.yosys.log`` into the output folder; :func:`dfx.reports.yosys.read_yosys_stat`
reads them into the resource table (``LUT``, ``LUTRAM``, ``SRL``, ``FF``, ``BRAM_18K``,
``URAM``, ``DSP``).

Yosys gives resources only: no timing, so no WNS and no fmax (:func:`yosys_ooc_summary`
has FINN's ``ooc_synth_and_timing.json`` resource keys and none of its timing keys).

Yosys comes from PyPI (``pip install pyosys``: Yosys inside Python). Each run is a
subprocess, ``python -m dfx.plugins.yosys_synth --worker SCRIPT``: a Yosys ERROR ends the
process it runs in. A ``yosys`` executable on PATH, or ``DFX_YOSYS`` naming one, works too.

Command line (prints the per-layer table)::

    python -m dfx.plugins.yosys_synth BUILD/stitched_ip OUT_DIR --family xc7 [--jobs 2]
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dfx.errors import ConfigError, StepError, ToolNotFoundError
from dfx.processes import stop_group
from dfx.tools import Tool, discover

__all__ = [
    "DFX_FAMILIES",
    "SYNTH_XILINX_FAMILIES",
    "YOSYS_HELP",
    "YosysResult",
    "YosysRun",
    "YosysTool",
    "check_family",
    "find_yosys",
    "part_architecture",
    "synthesize",
    "yosys_family_for",
    "yosys_ooc_summary",
]

YOSYS_ENV = "DFX_YOSYS"
YOSYS_HELP = (
    "Yosys was not found. Install it from PyPI into this Python environment with "
    "`pip install pyosys` (Yosys as a Python module, no system install needed); a `yosys` "
    "executable on PATH, or the environment variable DFX_YOSYS naming one, works too."
)

#: ``synth_xilinx -family`` values (Yosys 0.70 ``help synth_xilinx``).
SYNTH_XILINX_FAMILIES: dict[str, str] = {
    "xcup": "UltraScale+", "xcu": "UltraScale", "xc7": "7-series", "xc6s": "Spartan-6",
    "xc6v": "Virtex-6", "xc5v": "Virtex-5 (experimental)", "xc4v": "Virtex-4 (experimental)",
    "xc3sda": "Spartan-3A DSP (experimental)", "xc3sa": "Spartan-3A (experimental)",
    "xc3se": "Spartan-3E (experimental)", "xc3s": "Spartan-3 (experimental)",
    "xc2vp": "Virtex-II Pro (experimental)", "xc2v": "Virtex-II (experimental)",
    "xcve": "Virtex-E, Spartan-2E (experimental)", "xcv": "Virtex, Spartan-2 (experimental)",
}

#: The families dfx synthesizes for: those whose primitives (LUT6, RAMB18/RAMB36,
#: DSP48E1/E2, URAM288) the resource tables count in full. Spartan-6 maps block RAM to
#: RAMB8BWER/RAMB16BWER and the older families to 4-input LUTs and RAMB4/RAMB16 blocks,
#: which have no BRAM_18K/LUT6 equivalent in these tables.
DFX_FAMILIES: tuple[str, ...] = ("xcup", "xcu", "xc7", "xc6v")

# Part number -> device architecture (first match wins). Versal devices have no
# synth_xilinx family at all; "xcv" is the 1998 Virtex, not Versal.
_PART_ARCHITECTURES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), arch) for pattern, arch in (
        (r"x(?:c|a|q|qr)v[cmpeh]\d", "versal"),           # xcvc1902, xcvm1802, xcve2302, ...
        (r"x(?:c|a|q|qr)(?:zu|au|k2\d|u\d|ku\d+p|vu\d+p)", "xcup"),  # Zynq US+, Alveo, Kria
        (r"x(?:c|q|qr)(?:ku|vu)\d+(?![\dp])", "xcu"),     # xcku040, xcvu095
        (r"x(?:c|a|q)7[azksv]", "xc7"),                   # xc7z020, xc7a35t, xa7a..., xq7z...
        (r"x(?:c|a|q)6v", "xc6v"),
        (r"x(?:c|a|q)6s", "xc6s"),
    )
)

_ERROR = re.compile(r"ERROR:")
#: Seconds between progress messages while no Yosys run finishes.
HEARTBEAT_S = 30.0


# -- finding Yosys -------------------------------------------------------------------


@dataclass(frozen=True)
class YosysTool(Tool):
    """How to run Yosys: ``kind`` is ``"pyosys"`` (a Python with the ``pyosys`` package,
    run as a worker subprocess) or ``"executable"`` (a ``yosys`` binary)."""

    name: ClassVar[str] = "Yosys"
    error_markers: ClassVar[tuple[str, ...]] = ("ERROR:",)

    kind: str
    executable: str
    version: str = ""

    def command(self, script: Path) -> list[str]:
        """The argument list that runs the Yosys script ``script``."""
        if self.kind == "pyosys":
            return [self.executable, "-m", "dfx.plugins.yosys_synth", "--worker", str(script)]
        return [self.executable, "-s", str(script)]


def find_yosys() -> YosysTool:
    """The Yosys to use, or :class:`ToolNotFoundError` saying how to get one.

    Order: ``$DFX_YOSYS`` (an executable, by path or name), the ``pyosys`` package in this
    Python, a ``yosys`` on PATH. Nothing is run here; the first synthesis run shows
    whether the tool works.
    """
    explicit = os.environ.get(YOSYS_ENV, "").strip()
    if explicit:
        exe, _ = discover([], env_var=YOSYS_ENV)
        if exe is None:
            raise ToolNotFoundError(f"{YOSYS_ENV}={explicit!r} is not an executable. "
                                    f"{YOSYS_HELP}")
        return YosysTool("executable", exe, f"yosys ({exe})")
    if importlib.util.find_spec("pyosys") is not None:
        try:
            from importlib.metadata import version

            release = version("pyosys")
        except Exception:  # the version is informative only
            release = "?"
        return YosysTool("pyosys", sys.executable, f"pyosys {release}")
    exe, _ = discover(["yosys"])
    if exe is not None:
        return YosysTool("executable", exe, f"yosys ({exe})")
    raise ToolNotFoundError(YOSYS_HELP)


# -- families -----------------------------------------------------------------------


def _families_text() -> str:
    return ", ".join(f"{f} ({SYNTH_XILINX_FAMILIES[f]})" for f in DFX_FAMILIES)


def part_architecture(part: str) -> str | None:
    """The architecture of a part number: a ``synth_xilinx`` family (``xc7``, ``xcup``,
    ...), ``"versal"``, or ``None`` when dfx does not recognise the part."""
    text = (part or "").strip().lower()
    for pattern, arch in _PART_ARCHITECTURES:
        if pattern.match(text):
            return arch
    return None


def check_family(family: str) -> str:
    """``family`` if dfx synthesizes for it with Yosys, else :class:`ConfigError`."""
    if family in DFX_FAMILIES:
        return family
    if family in SYNTH_XILINX_FAMILIES:
        why = (f"Yosys maps {SYNTH_XILINX_FAMILIES[family]} designs to primitives that dfx's "
               f"resource tables do not count")
    else:
        why = "Yosys' synth_xilinx has no such family"
    raise ConfigError(f"Yosys family {family!r} cannot be used: {why}. Supported families: "
                      f"{_families_text()}")


def yosys_family_for(board) -> str:
    """The ``synth_xilinx -family`` of ``board`` (a :class:`dfx.board_registry.Board` or a
    board name), checked against the board's part.

    :class:`ConfigError` naming the board, its part and the supported families when Yosys
    cannot map the board's device: a Versal part (synth_xilinx has no Versal family; its
    ``xcv`` is the 1998 Virtex), a ``yosys_family`` dfx does not count resources for, or
    a ``yosys_family`` that contradicts the part (``xc7`` for an UltraScale+ part).
    """
    from dfx.board_registry import get_board

    board = get_board(board)
    family, part = board.yosys_family, board.part
    where = f"board {board.name!r} (part {part}, yosys_family {family!r})"
    arch = part_architecture(part)
    if arch == "versal":
        raise ConfigError(f"{where}: Versal devices cannot be synthesized with Yosys "
                          f"(synth_xilinx has no Versal family). Supported families: "
                          f"{_families_text()}")
    if family not in DFX_FAMILIES:
        try:
            check_family(family)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if arch is not None and arch != family:
        raise ConfigError(f"{where}: the part is a {SYNTH_XILINX_FAMILIES.get(arch, arch)} "
                          f"device, so yosys_family must be {arch!r}. Supported families: "
                          f"{_families_text()}")
    return family


# -- runs ---------------------------------------------------------------------------------


@dataclass
class YosysRun:
    """One Yosys run: ``module`` synthesized on its own, for the stitched ``instances``.

    ``kind``: ``"top"``, ``"layer"``, ``"fifo"`` or ``"dwc"``. ``stat``/``log``: the
    files written (``<name>.stat.json``, ``<name>.yosys.log``).
    """

    name: str
    kind: str
    module: str
    instances: list[str]
    sources: list[str]
    params: dict = field(default_factory=dict)
    stat: Path | None = None
    log: Path | None = None
    seconds: float = 0.0
    #: with ``synthesize(..., keep_going=True)``: why the run gave no figures (None: it did)
    error: str | None = None
    timed_out: bool = False

    def script(self, family: str, stat_path: Path) -> str:
        files = " ".join(_quote(f) for f in self.sources)
        lines = [f"# dfx: out-of-context synthesis of {self.name} ({self.kind})",
                 f"read_verilog -sv {files}"]
        if self.params:
            sets = " ".join(f"-set {k} {_param(v)}" for k, v in self.params.items())
            lines.append(f"chparam {sets} {self.module}")
        lines += [f"synth_xilinx -family {family} -top {self.module} -noiopad -noclkbuf "
                  f"-flatten",
                  f"tee -q -o {_quote(str(stat_path))} stat -json"]
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    if '"' in text or "\n" in text:
        raise StepError(f"path {text!r} cannot be passed to Yosys (quote or newline in it)")
    return f'"{text}"' if re.search(r"\s", text) else text


def _param(value) -> str:
    if isinstance(value, str):
        if re.fullmatch(r"[\w.-]*", value) is None:
            raise StepError(f"parameter value {value!r} cannot be passed to Yosys")
        return f'"{value}"'
    return str(int(value))


@dataclass
class YosysResult:
    """What :func:`synthesize` produced.

    ``table``: one row per stitched layer (``layer`` as in ``stitch.json``), per FIFO and
    width converter when they were synthesized, and a ``layer == "total"`` row for
    ``dfx_top`` when it was; columns ``layer``, ``op_type``, ``kind``, ``module``, then
    :func:`dfx.reports.yosys.read_yosys_stat`'s resources: ``LUT`` (every LUT, as Vivado
    counts them: ``LUT_logic`` + ``LUTRAM`` + ``SRL``), ``LUT_logic``, ``LUTRAM`` (LUTs
    used as distributed RAM, RAM64M = 4), ``SRL``, ``FF``, ``BRAM_18K`` (RAMB36 = 2),
    ``URAM``, ``DSP``, ``CARRY``; and ``tool`` (``"yosys"``), ``tool_version``,
    ``family``, ``part``, ``source`` (the stat file).
    """

    family: str
    part: str | None
    tool: str
    out_dir: Path
    runs: list[YosysRun]
    table: Any  # pandas.DataFrame
    seconds: float = 0.0

    def run(self, name: str) -> YosysRun:
        for run in self.runs:
            if run.name == name or name in run.instances:
                return run
        raise KeyError(name)

    @property
    def failed(self) -> list[YosysRun]:
        """The runs that failed or timed out (only with ``keep_going``; else it raised)."""
        return [r for r in self.runs if r.error is not None]

    @property
    def top(self) -> YosysRun | None:
        return next((r for r in self.runs if r.kind == "top"), None)


TABLE_COLUMNS = ("layer", "op_type", "kind", "module", "LUT", "LUT_logic", "LUTRAM", "SRL",
                 "FF", "BRAM_18K", "URAM", "DSP", "CARRY", "tool", "tool_version", "family",
                 "part", "source")
_COUNTS = ("LUT", "LUT_logic", "LUTRAM", "SRL", "FF", "BRAM_18K", "URAM", "DSP", "CARRY")


def _plan(info: dict, stitched_dir: Path, *, top: bool, per_layer: bool,
          fifos: bool, layers=None) -> list[YosysRun]:
    files = [f for f in info.get("files", []) if f.endswith(".v")]
    missing = [f for f in files if not (stitched_dir / f).is_file()]
    if not files or missing:
        raise StepError(f"{stitched_dir} is not a complete stitched_ip folder: "
                        f"{'missing ' + ', '.join(missing) if missing else 'no Verilog files'}")
    # the library files the stitch lists (older stitch.json files: by name)
    library = info.get("library") or [f for f in files
                                      if f.startswith("dfx_") and f != "dfx_top.v"]
    modules = info.get("modules") or {}
    runs = []
    if top:
        runs.append(YosysRun(info.get("top", "dfx_top"), "top", info.get("top", "dfx_top"),
                             ["total"], files))
    if per_layer:
        if layers is not None:
            unknown = sorted(set(layers) - set(info["layers"]))
            if unknown:
                raise StepError(f"{stitched_dir}: no layer {', '.join(unknown)} in stitch.json "
                                f"(its layers: {', '.join(info['layers'])})")
        for layer in info["layers"]:
            if layers is not None and layer not in layers:
                continue
            entry = modules.get(layer, {"module": layer, "files": [f"{layer}.v"]})
            own = [f for f in entry["files"] if f.endswith(".v")]
            absent = [f for f in own if f not in files]
            if not own or absent:
                raise StepError(f"{stitched_dir}: layer {layer} has no "
                                f"{', '.join(absent) or 'Verilog file'}")
            runs.append(YosysRun(layer, "layer", entry["module"], [layer],
                                 [*own, *library]))
    if fifos:
        seen: dict[tuple, YosysRun] = {}
        for stage in info.get("stages", []):
            if stage["kind"] not in ("fifo", "dwc"):
                continue
            key = (stage["module"], json.dumps(stage["params"], sort_keys=True))
            if key in seen:  # the same module and parameters: the same netlist
                seen[key].instances.append(stage["instance"])
                continue
            run = YosysRun(stage["instance"], stage["kind"], stage["module"],
                           [stage["instance"]], stage.get("sources", [f"{stage['module']}.v"]),
                           dict(stage["params"]))
            seen[key] = run
            runs.append(run)
    return runs


# -- running ------------------------------------------------------------------------------


def _first_error(log: Path) -> str | None:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if _ERROR.search(line):
            return line.strip()
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        stop_group(proc)


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


class _Runner:
    """Runs Yosys subprocesses, at most ``jobs`` at a time; the first failure stops the
    rest (running processes are killed, queued ones never start)."""

    def __init__(self, tool: YosysTool, family: str, stitched_dir: Path, out_dir: Path,
                 timeout_s: float | None, timeout_key: str | None = None,
                 keep_going: bool = False):
        self.tool, self.family = tool, family
        self.stitched_dir, self.out_dir, self.timeout_s = stitched_dir, out_dir, timeout_s
        self.timeout_key = timeout_key
        self.keep_going = keep_going
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()
        self.started: dict[str, float] = {}  # run name -> time.monotonic() at its start
        self.stopped = threading.Event()

    def running_now(self) -> list[tuple[str, float]]:
        """(name, seconds so far) of the runs in progress, longest first."""
        now = time.monotonic()
        with self.lock:
            items = [(name, now - t) for name, t in self.started.items()]
        return sorted(items, key=lambda item: -item[1])

    def stop(self) -> None:
        # under the lock: a worker between its check and its start sees the flag, or its
        # process is in ``running`` and stopped here
        with self.lock:
            self.stopped.set()
            procs = list(self.running)
        for proc in procs:
            _kill(proc)

    def run(self, run: YosysRun) -> YosysRun:
        try:
            return self._run(run)
        except _Cancelled:
            raise
        except StepError as exc:
            if not self.keep_going:
                self.stopped.set()
                raise
            run.error = str(exc)  # recorded; the other runs go on
            return run
        except BaseException:
            # at once, in this thread: it would take the next queued run before the main
            # thread sees this failure and stops the pool
            self.stopped.set()
            raise

    def _run(self, run: YosysRun) -> YosysRun:
        if self.stopped.is_set():
            raise _Cancelled()
        out = self.out_dir
        stat = out / f"{run.name}.stat.json"
        log = out / f"{run.name}.yosys.log"
        script = out / f"{run.name}.ys"
        for old in (stat, log):  # never leave a previous run's figures beside a new log
            old.unlink(missing_ok=True)
        token = uuid.uuid4().hex[:8]
        tmp_stat = out / f".{run.name}.stat.json.{token}.tmp"
        tmp_log = out / f".{run.name}.yosys.log.{token}.tmp"
        _atomic_write(script, run.script(self.family, tmp_stat.resolve()))
        start = time.monotonic()

        def started(proc: subprocess.Popen) -> None:
            # a stop() before this saw no process: stop it here
            with self.lock:
                self.running.add(proc)
                self.started[run.name] = start
                stop = self.stopped.is_set()
            if stop:
                _kill(proc)

        try:
            if self.stopped.is_set():
                raise _Cancelled()
            # in a registered process group: dfx's death (any signal, SIGKILL too) stops
            # it, and nothing starts once dfx is stopping (Terminated instead)
            try:
                result = self.tool.run([script.resolve()], cwd=self.stitched_dir,
                                       timeout_s=self.timeout_s, log=tmp_log, tail_lines=20,
                                       on_start=started)
            finally:
                with self.lock:
                    self.running = {p for p in self.running if p.returncode is None}
                    self.started.pop(run.name, None)
            code = result.returncode
            if result.timed_out:
                os.replace(tmp_log, log)
                run.timed_out, run.log = True, log
                run.seconds = time.monotonic() - start
                hint = f"; raise the config key {self.timeout_key}" if self.timeout_key else ""
                raise StepError(
                    f"Yosys synthesis of {run.name} did not finish within "
                    f"{_duration(self.timeout_s)} and was stopped{hint}; log: {log}")
            run.seconds = time.monotonic() - start
            if self.stopped.is_set():
                raise _Cancelled()
            if code != 0 or not tmp_stat.is_file():
                os.replace(tmp_log, log)
                first = _first_error(log) or f"exit status {code}"
                raise StepError(f"Yosys synthesis of {run.name} failed: {first} (log: {log})")
            os.replace(tmp_stat, stat)
            os.replace(tmp_log, log)
        finally:
            tmp_stat.unlink(missing_ok=True)
            tmp_log.unlink(missing_ok=True)
        run.stat, run.log = stat, log
        return run


class _Cancelled(Exception):
    pass


def synthesize(stitched_dir: Path, out_dir: Path, *, family: str, per_layer: bool = True,
               top: bool = True, fifos: bool = False, part: str | None = None,
               timeout_s: float | None = None, jobs: int = 1,
               on_progress: Callable[[str], None] | None = None,
               tool: YosysTool | None = None, timeout_key: str | None = None,
               heartbeat_s: float = HEARTBEAT_S, layers=None,
               keep_going: bool = False) -> YosysResult:
    """Synthesize a stitched design out of context with Yosys.

    Runs ``synth_xilinx -family FAMILY -top M -noiopad -noclkbuf -flatten`` for ``dfx_top``
    (``top``), each layer wrapper of ``stitch.json`` (``per_layer``) and, with ``fifos``,
    each distinct FIFO / width converter (``chparam`` of the library module; instances with
    the same parameters share one run). Each run is a subprocess with ``stitched_dir`` as
    its working folder (``$readmemh`` finds the memory files there), at most ``jobs`` at a
    time; ``timeout_s`` limits each run (the process is killed). Writes, atomically, per run
    ``out_dir/<name>.stat.json``, ``<name>.yosys.log`` and the script ``<name>.ys``.

    :class:`StepError` (with Yosys' first ERROR line and the log's path) when a run fails
    or times out (the message names the config key ``timeout_key`` when given); the other
    runs are stopped, and queued ones never start. ``on_progress(message)`` is called from
    this thread as runs finish (``yosys 3/12: MVAU_0 (4.2 s), 20 s elapsed``) and every
    ``heartbeat_s`` while none does (which runs are in progress, for how long). Returns
    a :class:`YosysResult` (its ``table``: see there).

    ``layers``: with ``per_layer``, synthesize only these layers of ``stitch.json`` (a
    StepError names one it does not have). ``keep_going``: a run that fails or times out
    does not stop the others; it is kept in ``result.runs`` with its ``error`` (and
    ``timed_out``) set and no row in the table (``result.failed`` lists them). For
    measurements, where a few slow points must not cost the rest.
    """
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    check_family(family)
    stitched_dir, out_dir = Path(stitched_dir).resolve(), Path(out_dir)
    stitch_file = stitched_dir / "stitch.json"
    if not stitch_file.is_file():
        raise StepError(f"{stitched_dir} is not a stitched_ip folder (no stitch.json); build "
                        f"it with --generate-outputs stitched_ip")
    try:
        info = json.loads(stitch_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StepError(f"{stitch_file} cannot be read: {exc}") from None
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"timeout_s must be positive, got {timeout_s!r}")
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs!r}")
    runs = _plan(info, stitched_dir, top=top, per_layer=per_layer, fifos=fifos,
                 layers=None if layers is None else set(layers))
    if not runs:
        raise ConfigError("nothing to synthesize: top, per_layer and fifos are all off")
    tool = tool or find_yosys()
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = on_progress or (lambda message: None)
    progress(f"yosys ({tool.version}): {len(runs)} run(s) for {family}, {jobs} at a time")
    runner = _Runner(tool, family, stitched_dir, out_dir, timeout_s, timeout_key, keep_going)
    start = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dfx-yosys")
    try:
        futures = {pool.submit(runner.run, run): run for run in runs}
        pending, done_count = set(futures), 0
        while pending:
            done, pending = wait(pending, timeout=heartbeat_s, return_when=FIRST_EXCEPTION)
            if not done:  # a long run: say what is running, so a slow build is not a hang
                now = ", ".join(f"{name} ({_duration(t)})" for name, t in runner.running_now())
                progress(f"yosys {done_count}/{len(runs)} done, "
                         f"{_duration(time.monotonic() - start)} elapsed; running: "
                         f"{now or 'none'}")
                continue
            for future in done:
                exc = future.exception()
                if exc is not None and not isinstance(exc, _Cancelled):
                    runner.stop()
                    for other in pending:
                        other.cancel()
                    raise exc
                if exc is None:
                    done_count += 1
                    run = futures[future]
                    what = ("timed out" if run.timed_out else "failed") if run.error else ""
                    progress(f"yosys {done_count}/{len(runs)}: {run.name} "
                             f"({run.seconds:.1f} s{', ' + what if what else ''}), "
                             f"{_duration(time.monotonic() - start)} elapsed")
    except BaseException:
        runner.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result = YosysResult(family, part, tool.version, out_dir, runs, None,
                         time.monotonic() - start)
    result.table = _table(result, info)
    return result


def _table(result: YosysResult, info: dict):
    import pandas as pd

    from dfx.reports import op_type_of
    from dfx.reports.yosys import read_yosys_stat

    order = {name: i for i, name in enumerate(
        [*info.get("layers", []), *(s["instance"] for s in info.get("stages", []))])}
    rows = []
    for run in result.runs:
        if run.error is not None:  # keep_going: no figures
            continue
        stat = read_yosys_stat(run.stat).iloc[0]
        for instance in run.instances:
            row = {"layer": instance,
                   "op_type": op_type_of(instance) if run.kind == "layer" else None,
                   "kind": run.kind, "module": run.module}
            row.update({k: int(stat[k]) for k in _COUNTS})
            row.update(tool="yosys", tool_version=stat["tool_version"], family=result.family,
                       part=result.part, source=run.stat.name)
            rows.append(row)
    rows.sort(key=lambda r: (r["kind"] == "top", order.get(r["layer"], len(order))))
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for column in _COUNTS:
        df[column] = df[column].astype("Int64")
    return df


# -- FINN's ooc_synth_and_timing.json ----------------------------------------------------


def _design_cells(stat_path: Path) -> dict[str, int]:
    data = json.loads(Path(stat_path).read_text())
    if isinstance(data.get("design"), dict):
        return dict(data["design"].get("num_cells_by_type", {}))
    (entry,) = data["modules"].values()
    return dict(entry.get("num_cells_by_type", {}))


def yosys_ooc_summary(result: YosysResult) -> dict:
    """FINN's ``ooc_synth_and_timing.json`` resource keys for the whole design (the
    ``dfx_top`` run), as Vivado's out-of-context script counts them:

    ``LUT``       all LUTs: logic (``LUT1``..``LUT6``, ``INV``) + distributed RAM + SRLs
                  (Vivado's "Slice LUTs"; Yosys never packs two LUT5 into one LUT6);
    ``LUTRAM``    LUTs used as distributed RAM (e.g. a RAM64M is 4; Vivado's "LUT as
                  Distributed RAM", as the Vivado flow of dfx reports it);
    ``SRL``, ``FF``, ``DSP``, ``URAM``, ``Carry`` (CARRY4/CARRY8 cells);
    ``BRAM_18K``  the number of RAMB18 cells and ``BRAM_36K`` of RAMB36 cells (FINN's
                  meaning); ``BRAM`` block-RAM tiles, ``BRAM_36K + BRAM_18K / 2``;
                  ``BRAM_18K_equivalents`` = ``2 * BRAM_36K + BRAM_18K`` (the unit of
                  dfx's estimates).

    Plus ``tool`` (``"yosys"``), ``tool_version``, ``family``, ``part`` and ``yosys_stat``.
    No timing keys: Yosys has no timing, so there is no WNS, Delay or fmax_mhz.
    """
    from dfx.reports.yosys import normalise_cells, read_yosys_stat

    top = result.top
    if top is None or top.stat is None:
        raise StepError("no dfx_top synthesis in this result (synthesize(..., top=True))")
    row = read_yosys_stat(top.stat).iloc[0]
    cells = _design_cells(top.stat)
    ramb18 = normalise_cells({k: v for k, v in cells.items()
                              if re.fullmatch(r"(?:RAMB|FIFO)18\w*", k)})["BRAM_18K"]
    ramb36 = normalise_cells({k: v for k, v in cells.items()
                              if re.fullmatch(r"(?:RAMB|FIFO)36\w*", k)})["BRAM_18K"] // 2
    # read_yosys_stat's LUT already counts every LUT as Vivado does (logic, distributed
    # RAM, shift registers)
    lut, lutram, srl = int(row["LUT"]), int(row["LUTRAM"]), int(row["SRL"])
    return {
        "LUT": lut,
        "LUTRAM": lutram,
        "SRL": srl,
        "FF": int(row["FF"]),
        "DSP": int(row["DSP"]),
        "BRAM": ramb36 + ramb18 / 2,
        "BRAM_18K": ramb18,
        "BRAM_36K": ramb36,
        "BRAM_18K_equivalents": int(row["BRAM_18K"]),
        "URAM": int(row["URAM"]),
        "Carry": int(row["CARRY"]),
        "tool": "yosys",
        "tool_version": row["tool_version"],
        "family": result.family,
        "part": result.part,
        "yosys_stat": top.stat.name,
    }


# -- worker and command line ------------------------------------------------------------


def _worker(script: str) -> int:
    """Run a Yosys script line by line in this process with pyosys (a Yosys ERROR exits)."""
    from pyosys import libyosys as ys

    design = ys.Design()
    for line in Path(script).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ys.run_pass(line, design)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--worker":
        return _worker(argv[1])
    parser = argparse.ArgumentParser(
        prog="python -m dfx.plugins.yosys_synth",
        description="Out-of-context Yosys synthesis of a dfx stitched_ip folder.")
    parser.add_argument("stitched_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--family", help=f"synth_xilinx family: {', '.join(DFX_FAMILIES)}")
    group.add_argument("--board", help="take the family (and part) from a dfx board")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run")
    parser.add_argument("--no-per-layer", action="store_true")
    parser.add_argument("--fifos", action="store_true", help="also FIFOs and width converters")
    args = parser.parse_args(argv)
    from dfx.errors import DfxError

    try:
        part = None
        family = args.family
        if args.board:
            from dfx.board_registry import get_board

            board = get_board(args.board)
            family, part = yosys_family_for(board), board.part
        result = synthesize(args.stitched_dir, args.out_dir, family=family, part=part,
                            per_layer=not args.no_per_layer, fifos=args.fifos,
                            timeout_s=args.timeout, jobs=args.jobs,
                            on_progress=lambda m: print(m, file=sys.stderr))
    except DfxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.table.drop(columns=["tool", "family", "part"]).to_string(index=False))
    print(json.dumps(yosys_ooc_summary(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
