"""rtlsim: cycle-accurate simulation of the stitched accelerator with Verilator.

A C++ test bench (``plugins/rtl/harness.cpp``) is compiled with the generated
Verilog into one simulator binary. Binaries are cached under
``<cache root>/simulators/<hash>``, the hash taken over what Verilator compiles
(the Verilog sources as its preprocessor gives them with ``DFX_SIM``), the test
bench, the Verilator version and the flags; the memory files are read at run
time (from the stitched folder), so new weights need no recompilation.

FIFO depths need none either: in simulation every FIFO of ``dfx_top`` has a
memory of at least :data:`dfx.plugins.rtlgen.SIM_FIFO_WORDS` words and takes its
capacity, the depth synthesis gets, at run time (the harness sets it from
``stitch.json``). A FIFO's cycle behaviour depends on its capacity alone (one
control logic for every memory style, see ``dfx_fifo.v``), so the simulation of
a depth is the simulation of the synthesized FIFO of that depth, and designs that
differ only in FIFO depths (FIFO sizing's trials and the final design) share one
compiled simulator. ``exact_fifos=True`` compiles the depths as written
(``DFX_SIM_EXACT_FIFOS``), at the cost of a compile per set of depths; a test
checks that both give the same cycles.
The binary's sha256 is recorded in ``build.json`` and checked (once per process,
then by size and mtime) before use; a damaged binary is recompiled. Compilation
runs in a folder of the system temp dir (GNU make cannot build in a path with
spaces, and a cache dir may have them); the finished binary is then moved in.

:func:`simulate` streams a batch of integer frames through the simulator and
returns the output frames with the cycle statistics (per-frame latency, steady
interval, FIFO peaks). A design that stops moving is stopped by the watchdog
and reported with the streams that hold data nobody takes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfx.errors import DfxError, StepError
from dfx.packing import pack_tensor, padded_bits, unpack_tensor
from dfx.processes import run_in_group
from dfx.tools import find_verilator

HARNESS = Path(__file__).parent / "rtl" / "harness.cpp"
COMPILE_TIMEOUT_S = int(os.environ.get("DFX_SIM_COMPILE_TIMEOUT", "1200"))
VERILATOR_FLAGS = ("--cc", "--exe", "--build", "-j", "2", "-O3", "--x-assign", "fast",
                   "--x-initial", "fast", "--noassert", "-Wno-fatal", "--top-module", "dfx_top",
                   "-DDFX_SIM")


log = logging.getLogger("dfx.rtlsim")

#: Binaries verified by this process: path -> (size, mtime_ns, inode) when hashed.
_VERIFIED: dict[str, tuple[int, int, int]] = {}


class SimulationError(StepError):
    """A simulation that deadlocked, timed out or failed to run."""


class CompileError(StepError):
    """The simulator did not compile; the message starts with the compiler's first error."""


@dataclass
class SimResult:
    outputs: np.ndarray
    stats: dict

    @property
    def latency_cycles(self) -> int:
        first_in, last_out = self.stats["first_in"], self.stats["last_out"]
        return int(last_out[0] - first_in[0] + 1)

    @property
    def interval_cycles(self) -> float:
        """Steady-state cycles per frame: the median spacing of the frames' last outputs
        over the second half of the run.

        The first half is the pipeline filling. The median rather than the mean, because
        a few frames run short or long at the start and the end of the stream (when the
        input stops, the stages behind the slowest one drain what they queued), and a
        mean over a short run lets those few pull the figure below what the slowest
        stage allows."""
        last = np.asarray(self.stats["last_out"], dtype=np.int64)
        if len(last) < 2:
            return float(last[0] + 1)
        half = len(last) // 2  # skip the pipeline fill
        spacing = np.diff(last[max(half - 1, 0):])
        return float(np.median(spacing))


def simulators_root() -> Path:
    from dfx.cache import simulators_dir

    root = simulators_dir()
    root.mkdir(parents=True, exist_ok=True)
    return root


def _harness_source(info: dict) -> str:
    n_fifos = len(info["fifos"])
    values = {
        "@IN_BYTES@": str(info["input"]["tdata_width"] // 8),
        "@OUT_BYTES@": str(info["output"]["tdata_width"] // 8),
        "@IN_WORDS@": str(info["input"]["words_per_frame"]),
        "@OUT_WORDS@": str(info["output"]["words_per_frame"]),
        "@N_FIFOS@": str(n_fifos),
        # a top without the capacity port (a stitch of an older dfx, or a plugin's own)
        # is simulated with its depths compiled in
        "@N_FIFO_STAGES@": str(len(fifo_stages(info)) if info.get("runtime_fifos") else 0),
        "@N_STREAMS@": str(len(_links(info))),
    }
    text = HARNESS.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def fifo_stages(info: dict) -> list[dict]:
    """The FIFO instances of a stitched design, in the order of ``dbg_fifo_capacity``."""
    return [s for s in info["stages"] if s["kind"] == "fifo"]


def _flags(exact_fifos: bool) -> tuple[str, ...]:
    return (*VERILATOR_FLAGS, "-DDFX_SIM_EXACT_FIFOS") if exact_fifos else VERILATOR_FLAGS


def _compiled_text(verilator, sources: list[Path], cwd: Path, flags: tuple[str, ...]) -> bytes:
    """What Verilator compiles: the sources through its preprocessor with the compile's
    defines (comments and inactive ``ifdef`` branches gone); the raw sources where the
    preprocessor fails (the compile will then report the error)."""
    defines = [f for f in flags if f.startswith("-D")]
    result = verilator.run([], command=verilator.command("-E", "-P", *defines,
                                                         *[p.name for p in sources]),
                           cwd=cwd, timeout_s=120, tail_lines=None)
    if result.returncode == 0 and not result.timed_out:
        return result.output.encode()
    return b"".join(p.name.encode() + p.read_bytes() for p in sources)


def compile_simulator(stitched_dir: Path, progress=lambda message: None,
                      exact_fifos: bool = False) -> Path:
    """The simulator binary for ``stitched_dir``, compiled once per distinct compiled text
    (designs that differ only in FIFO depths share it, unless ``exact_fifos``)."""
    from filelock import FileLock

    stitched_dir = Path(stitched_dir)
    info = json.loads((stitched_dir / "stitch.json").read_text())
    verilator = find_verilator()
    harness = _harness_source(info)
    sources = sorted(stitched_dir.glob("*.v"))
    flags = _flags(exact_fifos)
    digest = hashlib.sha256()
    for part in (verilator.version, " ".join(flags), harness):
        digest.update(part.encode())
    digest.update(_compiled_text(verilator, sources, stitched_dir, flags))
    key = digest.hexdigest()[:24]
    root = simulators_root()
    final = root / key
    binary = final / "Vdfx_top"
    if binary.is_file() and simulator_problem(final) is None:
        return binary
    with FileLock(str(root / f"{key}.lock")):
        if os.path.lexists(final):
            problem = simulator_problem(final)
            if problem is None:  # another build compiled it while we waited
                return binary
            log.warning("the compiled simulator %s is damaged (%s); recompiling it", final,
                        problem)
            progress(f"the cached simulator {key} is damaged ({problem}): recompiling it")
            _discard(final)
        work = _build_dir()
        try:
            for path in sources:
                shutil.copyfile(path, work / path.name)
            (work / "harness.cpp").write_text(harness)
            progress(f"compiling the simulator ({len(sources)} Verilog files)")
            started = time.perf_counter()
            cmd = verilator.command(*flags, "--Mdir", "obj", "-o", "Vdfx_top",
                                    *[p.name for p in sources], "harness.cpp")
            # in a process group: a timeout also stops make and the C++ compilers
            result = verilator.run([], command=cmd, cwd=work, timeout_s=COMPILE_TIMEOUT_S,
                                   log=work / "compile.log", tail_lines=None)
            if result.timed_out:
                raise CompileError(
                    f"the simulator did not compile within {COMPILE_TIMEOUT_S} s (a very wide "
                    f"folding makes a large C++ model; fold with fewer PE x SIMD lanes, or set "
                    f"DFX_SIM_COMPILE_TIMEOUT)")
            if result.returncode != 0 or not (work / "obj" / "Vdfx_top").is_file():
                keep = root / "failed" / key
                _discard(keep)
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(work, keep, symlinks=True)
                raise CompileError(
                    f"the simulator did not compile: {first_error(result.output)} (sources and "
                    f"compile.log kept in {keep})")
            _install(work, root, key, {"seconds": time.perf_counter() - started,
                                       "verilator": verilator.version,
                                       "sources": [p.name for p in sources]})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return binary


def simulator_problem(final: Path) -> str | None:
    """What is wrong with the compiled simulator in ``final`` (None: it is sound).

    The first check in a process hashes ``Vdfx_top`` against the sha256 in
    ``build.json``; later ones compare its size, mtime and inode with that check.
    """
    binary = final / "Vdfx_top"
    try:
        st = binary.stat()
    except OSError:
        return "Vdfx_top is missing"
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    if _VERIFIED.get(str(binary)) == stamp:
        return None
    try:
        record = json.loads((final / "build.json").read_text())
    except (OSError, ValueError):
        return "build.json is missing or unreadable"
    sha = record.get("sha256") if isinstance(record, dict) else None
    if not sha:
        return "build.json records no sha256 (compiled by an older dfx)"
    if record.get("size") != st.st_size:
        return f"Vdfx_top has {st.st_size} bytes, build.json says {record.get('size')}"
    if _file_sha256(binary) != sha:
        return "Vdfx_top does not match the sha256 in build.json (bytes changed)"
    _VERIFIED[str(binary)] = stamp
    return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _build_dir() -> Path:
    """A fresh compile folder whose path has no spaces (GNU make cannot build in one)."""
    from dfx.cache import SIM_BUILD_PREFIX

    tried = []
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if base in tried:
            continue
        tried.append(base)
        if " " in base or not os.path.isdir(base) or not os.access(base, os.W_OK):
            continue
        return Path(tempfile.mkdtemp(prefix=f"{SIM_BUILD_PREFIX}{os.getpid()}-", dir=base))
    raise CompileError(
        f"cannot compile the simulator: GNU make cannot build in a path with spaces and no "
        f"writable temp dir without one was found (tried {', '.join(tried)}); set TMPDIR to "
        f"a folder whose path has no spaces")


def _install(work: Path, root: Path, key: str, record: dict) -> None:
    """Move the compiled binary (and compile.log) from ``work`` into ``root/key``.

    Assembled in ``root/<key>.<pid>-<random>`` and renamed into place, so
    ``root/key`` is complete or absent; ``build.json`` records the binary's sha256.
    """
    staging = root / f"{key}.{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        digest = hashlib.sha256()
        size = 0
        with open(work / "obj" / "Vdfx_top", "rb") as src, \
                open(staging / "Vdfx_top", "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
        os.chmod(staging / "Vdfx_top", 0o755)
        shutil.copyfile(work / "compile.log", staging / "compile.log")
        record = {**record, "sha256": digest.hexdigest(), "size": size}
        (staging / "build.json").write_text(json.dumps(record, indent=2))
        os.replace(staging, root / key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _discard(path: Path) -> None:
    """Take ``path`` out of its place atomically (a rename), then delete it."""
    if not os.path.lexists(path):
        return
    aside = path.parent / f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def first_error(log: str) -> str:
    """The first error line of a compiler log (Verilator's, the C++ compiler's or make's)."""
    for line in log.splitlines():
        if "%Error" in line or "error:" in line.lower():
            return line.strip()
    for line in log.splitlines():
        if re.search(r"\*\*\* |No rule to make target", line):
            return line.strip()
    lines = [line for line in log.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def simulate(stitched_dir: Path, x: np.ndarray, backpressure: float = 0.0, seed: int = 1,
             watchdog: int | None = None, max_cycles: int | None = None,
             progress=lambda message: None, exact_fifos: bool = False) -> SimResult:
    """Run integer frames ``x`` (batch, elements) through the stitched design.

    ``watchdog``: cycles with no transfer on any stream after which the design
    counts as deadlocked; by default a few times the slowest layer's cycles per
    frame (a layer may compute that long between transfers). Every FIFO gets the
    depth ``stitch.json`` gives it as its capacity (``exact_fifos``: compiled in,
    see the module docstring). ``stats["simulator"]`` names the binary used.
    """
    from qonnx.core.datatype import DataType

    stitched_dir = Path(stitched_dir)
    info = json.loads((stitched_dir / "stitch.json").read_text())
    binary = compile_simulator(stitched_dir, progress, exact_fifos=exact_fifos)
    capacities = ",".join(str(int(s["params"]["DEPTH"])) for s in fifo_stages(info))
    ins, outs = info["input"], info["output"]
    in_dt, out_dt = DataType[ins["datatype"]], DataType[outs["datatype"]]
    frames = int(x.shape[0])
    per_frame = ins["elems"] * ins["words_per_frame"]
    x = np.asarray(x).reshape(frames, -1)
    if x.shape[1] != per_frame:
        raise DfxError(f"rtlsim: a frame has {x.shape[1]} elements; the design takes "
                       f"{per_frame}")
    try:
        data = pack_tensor(x, in_dt, ins["elems"])
    except ValueError as exc:
        raise DfxError(f"rtlsim: the input does not fit {in_dt.name}: {exc}") from None
    if watchdog is None:
        watchdog = 4 * int(info.get("max_layer_cycles", 0)) + 10_000
    if max_cycles is None:
        max_cycles = 1000 * frames * max(ins["words_per_frame"], outs["words_per_frame"]) \
            + 10 * watchdog + 1_000_000
    with tempfile.TemporaryDirectory(prefix="dfx-rtlsim-") as tmp:
        tmp = Path(tmp)
        (tmp / "in.bin").write_bytes(data)
        started = time.perf_counter()
        result = run_in_group(  # registered: a killed dfx stops the simulator too
            [str(binary), str(tmp / "in.bin"), str(tmp / "out.bin"), str(tmp / "stats.json"),
             str(frames), repr(float(backpressure)), str(seed), str(watchdog), str(max_cycles),
             capacities or "0"],
            cwd=stitched_dir, timeout_s=None)
        wall = time.perf_counter() - started
        if not (tmp / "stats.json").is_file():
            raise SimulationError(f"the simulator failed (exit {result.returncode}): "
                                  f"{(result.stderr or result.stdout).strip()[:500]}")
        stats = json.loads((tmp / "stats.json").read_text())
        raw = (tmp / "out.bin").read_bytes()
    stats["wall_seconds"] = wall
    stats["simulator"] = binary.parent.name
    if stats["status"] != "ok":
        raise SimulationError(_stall_message(stats, info))
    out_words = outs["words_per_frame"]
    outputs = unpack_tensor(raw, out_dt, outs["elems"], (frames, outs["elems"] * out_words))
    assert padded_bits(outs["width"]) == outs["tdata_width"]
    return SimResult(outputs, stats)


def _links(info: dict) -> list[dict]:
    """The top's stream links (``stitch.json`` of a chain written before links existed:
    stage k-1 -> stage k)."""
    if "links" in info:
        return info["links"]
    names = ["input"] + [s["instance"] for s in info["stages"]] + ["output"]
    return [{"name": f"s{k}", "from": names[k], "to": names[k + 1]}
            for k in range(len(names) - 1)]


def _stall_message(stats: dict, info: dict) -> str:
    links = _links(info)
    done = stats["output_words"]
    total = stats["frames"] * info["output"]["words_per_frame"]
    what = "stopped making progress (deadlock)" if stats["status"] == "deadlock" else \
        "ran out of cycles"
    lines = [f"rtlsim {what} after {stats['cycles']} cycles: {done} of {total} output words, "
             f"{stats['input_words']} input words taken"]
    for k in stats.get("stalled", []):
        lines.append(f"stream {links[k]['from']} -> {links[k]['to']} holds data its consumer "
                     f"does not accept")
    if not stats.get("stalled"):
        lines.append("no stream holds data: a stage stopped producing")
    return "; ".join(lines)
