"""The dfx accelerator driver: FINN's FINNExampleOverlay surface on three platforms.

Generated into a build's ``driver/`` folder by dfx. Needs numpy and, on a board, pynq
(``zynq-iodma``) or pyxrt (``alveo``); ``sim`` runs the build's compiled simulator
(``sim/``) on this computer. Everything about the design (datatypes, shapes, stream
widths, DMA names, clock) comes from ``io.json`` next to this file; the stream packing
is ``packing.py``, a copy of dfx's own, so host and hardware agree on the layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np
import packing

HERE = Path(__file__).resolve().parent
PLATFORMS = ("zynq-iodma", "alveo", "sim")


class DriverError(Exception):
    """Bad input or a device that does not answer; the message names the thing at fault."""


class DriverTimeout(DriverError):
    """A wait on the device (a DMA, a kernel, the simulator) ran over its time limit."""


def load_io(path: Path | str | None = None) -> dict:
    """The I/O description written by dfx (``io.json``)."""
    path = Path(path) if path else HERE / "io.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DriverError(f"cannot read the I/O description {path}: {exc}") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FINNExampleOverlay:
    """The accelerator, with FINN's driver API (``execute``, ``throughput_test``, ...).

    ``io_shape_dict`` is the I/O description (by default ``io.json``); ``timeout_s``
    bounds every wait on the device, per batch.
    """

    def __init__(self, bitfile_name: str | None = None, platform: str = "zynq-iodma",
                 io_shape_dict: dict | None = None, batch_size: int = 1,
                 fclk_mhz: float | None = None, device=None, download: bool = True,
                 timeout_s: float = 10.0):
        if platform not in PLATFORMS:
            raise DriverError(f"--platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
        self.io = io_shape_dict if io_shape_dict is not None else load_io()
        self.platform = platform
        self.fclk_mhz = float(fclk_mhz or self.io["fclk_mhz"])
        self.timeout_s = float(timeout_s)
        self.device = device
        self._idt = [packing.stream_type(t) for t in self.io["idt"]]
        self._odt = [packing.stream_type(t) for t in self.io["odt"]]
        self.last_cycles = None
        self.last_interval_cycles = None  # sim: steady cycles per frame of the last batch
        self._backend = {"sim": _SimBackend, "zynq-iodma": _ZynqBackend,
                         "alveo": _AlveoBackend}[platform](self, bitfile_name, device)
        self._batch_size = 0
        self.batch_size = batch_size

    # -- shapes and datatypes (FINN's names; ind selects the stream) ---------------

    def idt(self, ind: int = 0):
        return self._idt[ind]

    def odt(self, ind: int = 0):
        return self._odt[ind]

    def _shape(self, key: str, ind: int) -> tuple:
        return (self._batch_size, *self.io[key][ind][1:])

    def ishape_normal(self, ind: int = 0) -> tuple:
        return self._shape("ishape_normal", ind)

    def ishape_folded(self, ind: int = 0) -> tuple:
        return self._shape("ishape_folded", ind)

    def ishape_packed(self, ind: int = 0) -> tuple:
        return self._shape("ishape_packed", ind)

    def oshape_normal(self, ind: int = 0) -> tuple:
        return self._shape("oshape_normal", ind)

    def oshape_folded(self, ind: int = 0) -> tuple:
        return self._shape("oshape_folded", ind)

    def oshape_packed(self, ind: int = 0) -> tuple:
        return self._shape("oshape_packed", ind)

    @property
    def num_inputs(self) -> int:
        return len(self._idt)

    @property
    def num_outputs(self) -> int:
        return len(self._odt)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        value = int(value)
        if value < 1:
            raise DriverError(f"batch size {value}: a batch has at least one frame")
        if value == self._batch_size:
            return
        self._batch_size = value
        # host buffers for the whole batch, as the device reads and writes them
        self.ibuf_packed_device = [np.zeros(self.ishape_packed(i), dtype=np.uint8)
                                   for i in range(self.num_inputs)]
        self.obuf_packed_device = [np.zeros(self.oshape_packed(i), dtype=np.uint8)
                                   for i in range(self.num_outputs)]
        self._backend.allocate()

    # -- host-side data movement ---------------------------------------------------

    def fold_input(self, ibuf_normal: np.ndarray, ind: int = 0) -> np.ndarray:
        """Normal shape -> folded shape (batch, words, elements per word). A convnet's
        input comes in the model's layout (NCHW) and is made channels-last (NHWC) here,
        as the accelerator takes it (``input_transpose`` in io.json)."""
        ibuf_normal = np.asarray(ibuf_normal)
        want = self.ishape_normal(ind)
        if tuple(ibuf_normal.shape) != want:
            raise DriverError(f"input {ind} has shape {list(ibuf_normal.shape)}; the "
                              f"accelerator takes {list(want)} (batch size {self.batch_size})")
        perm = self.io.get("input_transpose")
        if perm:
            ibuf_normal = np.transpose(ibuf_normal, perm)
        return ibuf_normal.reshape(self.ishape_folded(ind))

    def pack_input(self, ibuf_folded: np.ndarray, ind: int = 0) -> np.ndarray:
        """Folded values -> the bytes of the stream (checked against the input datatype)."""
        dt = self._idt[ind]
        try:
            data = packing.pack_tensor(ibuf_folded, dt, self.io["ishape_folded"][ind][-1])
        except ValueError as exc:
            raise DriverError(f"input {ind}: {exc}") from None
        return np.frombuffer(data, dtype=np.uint8).reshape(self.ishape_packed(ind))

    def unpack_output(self, obuf_packed: np.ndarray, ind: int = 0) -> np.ndarray:
        """Stream bytes -> folded output values (float32, as FINN's driver gives them)."""
        # read in place (no copy of the buffer), decoded straight to float32
        return packing.unpack_tensor(np.ascontiguousarray(obuf_packed, dtype=np.uint8),
                                     self._odt[ind], self.io["oshape_folded"][ind][-1],
                                     self.oshape_folded(ind), dtype=np.float32)

    def unfold_output(self, obuf_folded: np.ndarray, ind: int = 0) -> np.ndarray:
        return np.asarray(obuf_folded).reshape(self.oshape_normal(ind))

    def copy_input_data_to_device(self, data: np.ndarray, ind: int = 0) -> None:
        np.copyto(self.ibuf_packed_device[ind], data)
        self._backend.to_device(ind)

    def copy_output_data_from_device(self, data: np.ndarray, ind: int = 0) -> None:
        self._backend.from_device(ind)
        np.copyto(data, self.obuf_packed_device[ind])

    def execute_on_buffers(self, asynch: bool = False, batch_size: int | None = None) -> None:
        """Run the accelerator on the device buffers (``asynch`` is accepted for FINN's
        API; every platform here waits, with a time limit)."""
        self._backend.run(batch_size or self.batch_size)

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        """The model's float tail after the hardware (scales and biases, and the way back
        from channels-last to the model's layout), if it has one."""
        out = np.asarray(output, dtype=np.float32)
        for op in self.io.get("postprocess", []):
            if op["op"] == "Transpose":
                out = np.transpose(out, op["perm"])
                continue
            const = np.asarray(op["value"], dtype=np.float32)
            out = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract,
                   "Div": np.divide}[op["op"]](out, const)
        return out

    def execute(self, input_npy: np.ndarray) -> np.ndarray:
        """A batch in the normal input shape -> the hardware outputs (normal shape).

        Every check (shape, datatype, empty batch) happens before any transfer."""
        x = np.asarray(input_npy)
        want = tuple(self.io["ishape_normal"][0][1:])
        if x.shape == want:
            x = x[None]
        if x.ndim == 0 or tuple(x.shape[1:]) != want:
            raise DriverError(f"input has shape {list(x.shape)}; the accelerator takes "
                              f"[N, {', '.join(map(str, want))}]")
        if x.shape[0] == 0:
            raise DriverError("the input batch is empty (0 frames)")
        self.batch_size = x.shape[0]
        packed = self.pack_input(self.fold_input(x))
        self.copy_input_data_to_device(packed)
        self.execute_on_buffers()
        obuf = np.empty(self.oshape_packed(), dtype=np.uint8)
        self.copy_output_data_from_device(obuf)
        return self.unfold_output(self.unpack_output(obuf))

    def throughput_test(self) -> dict:
        """Time a batch of valid random frames; FINN's keys (see ``nw_metrics.json``)."""
        res = {}
        rng = np.random.default_rng(0)
        dt = self._idt[0]
        shape = self.ishape_normal()
        # small integer arrays: a large batch must not take gigabytes of host memory
        small = np.int8 if dt.bits < 8 else (np.int16 if dt.bits < 16 else np.int64)
        if dt.bipolar:
            x = rng.integers(0, 1, size=shape, endpoint=True, dtype=np.int8) * 2 - 1
        else:
            x = rng.integers(dt.lo, dt.hi, size=shape, endpoint=True,
                             dtype=small)
        t = time.perf_counter()
        folded = self.fold_input(x)
        res["fold_input[ms]"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        packed = self.pack_input(folded)
        res["pack_input[ms]"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        self.copy_input_data_to_device(packed)
        res["copy_input_data_to_device[ms]"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        self.execute_on_buffers()
        wall = time.perf_counter() - t
        # on the simulator the runtime is the simulated cycle count at fclk
        runtime = self.last_cycles / (self.fclk_mhz * 1e6) if self.platform == "sim" else wall
        obuf = np.empty(self.oshape_packed(), dtype=np.uint8)
        t = time.perf_counter()
        self.copy_output_data_from_device(obuf)
        res["copy_output_data_from_device[ms]"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        folded_out = self.unpack_output(obuf)
        res["unpack_output[ms]"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        self.unfold_output(folded_out)
        res["unfold_output[ms]"] = (time.perf_counter() - t) * 1e3
        n = self.batch_size
        res["runtime[ms]"] = runtime * 1e3
        res["throughput[images/s]"] = n / runtime
        res["DRAM_in_bandwidth[MB/s]"] = int(np.prod(self.ishape_packed())) / runtime / 1e6
        res["DRAM_out_bandwidth[MB/s]"] = int(np.prod(self.oshape_packed())) / runtime / 1e6
        res["fclk[mhz]"] = self.fclk_mhz
        res["batch_size"] = n
        res["platform"] = self.platform
        if self.last_cycles is not None:
            res["cycles"] = int(self.last_cycles)
            res["wall_runtime[ms]"] = wall * 1e3
        if self.last_interval_cycles:
            # the batch-independent rate, as rtlsim_performance.json's key of that name:
            # throughput[images/s] above includes the batch's fill and drain (as a board's
            # measurement does) and approaches this from below as the batch grows
            res["stable_throughput[images/s]"] = self.fclk_mhz * 1e6 / self.last_interval_cycles
            res["interval_cycles"] = self.last_interval_cycles
        return res


def write_metrics(res: dict, folder: Path | str = ".") -> None:
    """``nw_metrics.json``, and FINN's ``nw_metrics.txt`` (the same dict on one line)."""
    folder = Path(folder)
    (folder / "nw_metrics.json").write_text(json.dumps(res, indent=2) + "\n")
    # FINN's tools eval() this file: a JSON object of numbers and strings is also a
    # Python dict literal, so it reads either way (and never needs eval)
    (folder / "nw_metrics.txt").write_text(json.dumps(res) + "\n")


# -- platforms ---------------------------------------------------------------------


class _SimBackend:
    """The build's compiled simulator (``sim/Vdfx_top`` and its memory files)."""

    def __init__(self, accel: FINNExampleOverlay, bitfile_name, device) -> None:
        self.accel = accel
        sim = accel.io.get("sim")
        if not sim:
            why = accel.io.get("sim_missing", "the build compiled no simulator")
            raise DriverError(f"--platform sim: this driver has no simulator ({why})")
        self.folder = HERE / sim["folder"]
        self.binary = self.folder / sim["binary"]
        if not self.binary.is_file():
            raise DriverError(f"--platform sim: the simulator {self.binary} is missing")
        if not os.access(self.binary, os.X_OK):  # copies and unzips drop the exec bit
            os.chmod(self.binary, 0o755)
        self.sim = sim
        self.tmp = Path(tempfile.mkdtemp(prefix="dfx-driver-sim-"))
        # the batch files go with the backend (or at exit, SIGTERM included: it unwinds)
        weakref.finalize(self, shutil.rmtree, str(self.tmp), True)

    def allocate(self) -> None:
        pass

    def to_device(self, ind: int) -> None:
        self.accel.ibuf_packed_device[ind].tofile(self.tmp / "in.bin")

    def from_device(self, ind: int) -> None:
        raw = np.fromfile(self.tmp / "out.bin", dtype=np.uint8)
        buf = self.accel.obuf_packed_device[ind]
        if raw.size != buf.size:
            raise DriverError(f"the simulator wrote {raw.size} output bytes, expected "
                              f"{buf.size}")
        buf.reshape(-1)[:] = raw

    def run(self, frames: int) -> None:
        watchdog = 4 * int(self.sim["max_layer_cycles"]) + 10_000
        max_cycles = 1000 * frames * max(self.sim["in_words"], self.sim["out_words"]) \
            + 10 * watchdog + 1_000_000
        # each FIFO's depth, which the simulator takes at run time
        capacities = ",".join(str(int(c)) for c in self.sim.get("fifo_capacities", [])) or "0"
        cmd = [str(self.binary), str(self.tmp / "in.bin"), str(self.tmp / "out.bin"),
               str(self.tmp / "stats.json"), str(frames), "0.0", "1", str(watchdog),
               str(max_cycles), capacities]
        proc = subprocess.Popen(cmd, cwd=self.folder, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=self.accel.timeout_s)
        except BaseException as exc:  # the time limit, or this process being stopped
            os.killpg(proc.pid, signal.SIGKILL)  # the simulator never outlives the driver
            proc.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            raise DriverTimeout(f"the simulator did not finish a batch of {frames} frames "
                                f"within {self.accel.timeout_s:g} s (raise --timeout)") from None
        try:
            stats = json.loads((self.tmp / "stats.json").read_text())
        except (OSError, ValueError):
            raise DriverError(f"the simulator failed (exit {proc.returncode}): "
                              f"{err.decode(errors='replace').strip()[:300]}") from None
        if stats["status"] != "ok":
            raise DriverError(f"the simulated accelerator stopped ({stats['status']}) after "
                              f"{stats['output_words']} output words of the batch of "
                              f"{frames} frames")
        self.accel.last_cycles = int(stats["cycles"])
        self.accel.last_interval_cycles = steady_interval(stats["last_out"])


def steady_interval(last_out: list[int]) -> float | None:
    """Steady cycles per frame of a batch: the median spacing of the frames' last output
    words over its second half (the first half fills the pipeline). The rule of dfx's
    rtlsim (``SimResult.interval_cycles``), so the two agree on the same design."""
    if len(last_out) < 2:
        return None
    last = np.asarray(last_out, dtype=np.int64)
    half = len(last) // 2
    return float(np.median(np.diff(last[max(half - 1, 0):])))


def _slot_bytes(tdata_bits: int) -> int:
    """Bytes a stream word takes in device memory: a power of two >= 1 (as the shell's
    DMA and the Alveo data movers lay words out)."""
    return max(8, 1 << (tdata_bits - 1).bit_length()) // 8


def _to_slots(packed: np.ndarray, slot: int) -> np.ndarray:
    words = packed.reshape(-1, packed.shape[-1])
    if words.shape[1] == slot:
        return words
    out = np.zeros((words.shape[0], slot), dtype=np.uint8)
    out[:, :words.shape[1]] = words
    return out


def _wait(done, what: str, timeout_s: float) -> None:
    """Poll ``done()`` until it is true or ``timeout_s`` passed (then DriverTimeout)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise DriverTimeout(f"{what} did not finish within {timeout_s:g} s")
        time.sleep(0.0001)


class _ZynqBackend:
    """PYNQ on a Zynq board: the shell's AXI DMA (MM2S in, S2MM out, one output packet
    per frame as the shell's out_adapter sets TLAST)."""

    def __init__(self, accel: FINNExampleOverlay, bitfile_name, device) -> None:
        self.accel = accel
        io = accel.io
        bitfile = Path(bitfile_name or HERE.parent / "bitfile" / io["bitfile"]["name"])
        check_bitfile(bitfile, io)
        hwh = bitfile.with_suffix(".hwh")
        if not hwh.is_file():
            raise DriverError(f"bitfile {bitfile}: its hardware handoff {hwh.name} is missing "
                              f"(PYNQ needs the .hwh next to the .bit)")
        dma = io["dma"]["zynq"]["name"]
        if dma not in hwh.read_text(errors="replace"):
            raise DriverError(f"{hwh}: no DMA named {dma!r} in this hardware handoff; the "
                              f"driver was generated for a shell with one")
        import pynq  # only on the board

        self.pynq = pynq
        self.overlay = pynq.Overlay(str(bitfile))
        self.dma = getattr(self.overlay, dma)
        self.dma_name = dma
        self.in_slot = _slot_bytes(io["tdata_width"]["input"][0])
        self.out_slot = _slot_bytes(io["tdata_width"]["output"][0])

    def allocate(self) -> None:
        a = self.accel
        in_words = int(np.prod(a.ishape_packed()[:-1]))
        out_words = int(np.prod(a.oshape_packed()[:-1]))
        self.ibuf = self.pynq.allocate(shape=(in_words, self.in_slot), dtype=np.uint8)
        self.obuf = self.pynq.allocate(shape=(out_words, self.out_slot), dtype=np.uint8)

    def to_device(self, ind: int) -> None:
        self.ibuf[:] = _to_slots(self.accel.ibuf_packed_device[ind], self.in_slot)
        self.ibuf.flush()

    def from_device(self, ind: int) -> None:
        self.obuf.invalidate()
        buf = self.accel.obuf_packed_device[ind]
        buf.reshape(-1, buf.shape[-1])[:] = np.asarray(self.obuf)[:, :buf.shape[-1]]

    def run(self, frames: int) -> None:
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        per_frame = self.obuf.shape[0] // frames
        limit = self.accel.timeout_s
        send.transfer(self.ibuf)
        for f in range(frames):  # the S2MM transfer ends at each frame's TLAST
            recv.transfer(self.obuf[f * per_frame:(f + 1) * per_frame])
            _wait(lambda: recv.idle, f"DMA {self.dma_name} S2MM (output), frame {f} of the "
                  f"batch of {frames}", limit)
        _wait(lambda: send.idle, f"DMA {self.dma_name} MM2S (input) of the batch of "
              f"{frames}", limit)


class _AlveoBackend:
    """XRT on an Alveo card: the data mover kernels of the dfx link (mm2s, s2mm)."""

    def __init__(self, accel: FINNExampleOverlay, bitfile_name, device) -> None:
        self.accel = accel
        io = accel.io
        xclbin = Path(bitfile_name or HERE.parent / "bitfile" / io["bitfile"]["name"])
        check_bitfile(xclbin, io)
        import pyxrt  # only with XRT

        self.pyxrt = pyxrt
        self.device = pyxrt.device(int(device or 0))
        uuid = self.device.load_xclbin(str(xclbin))
        names = io["dma"]["alveo"]
        self.names = names
        self.mm2s = pyxrt.kernel(self.device, uuid, names["mm2s"])
        self.s2mm = pyxrt.kernel(self.device, uuid, names["s2mm"])
        self.in_slot = _slot_bytes(io["tdata_width"]["input"][0])
        self.out_slot = _slot_bytes(io["tdata_width"]["output"][0])

    def allocate(self) -> None:
        a, x = self.accel, self.pyxrt
        self.in_words = int(np.prod(a.ishape_packed()[:-1]))
        self.out_words = int(np.prod(a.oshape_packed()[:-1]))
        self.ibo = x.bo(self.device, self.in_words * self.in_slot, x.bo.normal,
                        self.mm2s.group_id(0))
        self.obo = x.bo(self.device, self.out_words * self.out_slot, x.bo.normal,
                        self.s2mm.group_id(1))

    def to_device(self, ind: int) -> None:
        self.ibo.write(_to_slots(self.accel.ibuf_packed_device[ind], self.in_slot).tobytes(), 0)
        self.ibo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE)

    def from_device(self, ind: int) -> None:
        self.obo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE)
        raw = np.frombuffer(bytes(self.obo.read(self.out_words * self.out_slot, 0)),
                            dtype=np.uint8).reshape(self.out_words, self.out_slot)
        buf = self.accel.obuf_packed_device[ind]
        buf.reshape(-1, buf.shape[-1])[:] = raw[:, :buf.shape[-1]]

    def run(self, frames: int) -> None:
        out_run = self.s2mm(self.obo, self.out_words)
        in_run = self.mm2s(self.ibo, self.in_words)
        completed = self.pyxrt.ert_cmd_state.ERT_CMD_STATE_COMPLETED
        limit_ms = int(self.accel.timeout_s * 1000)
        for run, name in ((in_run, self.names["mm2s"]), (out_run, self.names["s2mm"])):
            state = run.wait(limit_ms)
            if state != completed:
                raise DriverTimeout(f"kernel {name} did not complete the batch of {frames} "
                                    f"frames within {self.accel.timeout_s:g} s (state {state})")


def check_bitfile(path: Path, io: dict) -> None:
    """The bitfile exists and is the one this driver was generated with."""
    info = io.get("bitfile") or {}
    if not path.is_file():
        raise DriverError(f"bitfile {path} not found" + (
            "" if info.get("sha256") else " (the build made none: see MISSING.md)"))
    if info.get("sha256") and sha256(path) != info["sha256"]:
        raise DriverError(f"bitfile {path} is not the one this driver was generated for "
                          f"(sha256 differs from {info['name']} of the build)")
