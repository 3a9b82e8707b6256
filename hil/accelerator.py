"""The ``accelerator`` of a test: the build's driver on the simulated accelerator or a board.

Both kinds offer the same calls, with the driver's (FINN's) meaning:

* ``execute(batch, postprocess=False)``: a batch in the model's input shape -> outputs;
* ``throughput_test(batch_size=None)``: FINN's ``nw_metrics`` keys (``throughput[images/s]``,
  ``runtime[ms]``, ..., and ``cycles`` on the simulator);
* ``batch_size`` (used by ``throughput_test`` when no size is given), ``latency_ms()``.

On ``sim`` the build's own ``driver_base.FINNExampleOverlay`` runs in the test's process
(``overlay`` gives its whole API). On a board, the deployment package is unpacked there
and ``driver.py`` runs there, over ssh (:mod:`dfx.hil.remote`). Every run is added to the
test's metrics.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from dfx.hil.builds import DfxBuild
from dfx.hil.errors import AcceleratorError, AcceleratorTimeout

_DRIVERS: dict[Path, ModuleType] = {}  # driver folder -> its driver_base, per process


def load_driver(driver_dir: Path) -> ModuleType:
    """The ``driver_base`` module of a build's ``driver/`` folder.

    Each folder's modules get names of their own (several builds' drivers live side by
    side in one process); ``driver_base`` imports ``packing``, so the folder's
    ``packing.py`` stands in for that name while ``driver_base`` is executed."""
    driver_dir = Path(driver_dir).resolve()
    if driver_dir in _DRIVERS:
        return _DRIVERS[driver_dir]
    tag = f"_dfx_hil_driver_{len(_DRIVERS)}"

    def load(name: str, path: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"{tag}.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    for name in ("driver_base.py", "packing.py", "io.json"):
        if not (driver_dir / name).is_file():
            raise AcceleratorError(f"the build has no driver: {driver_dir / name} is missing "
                                   f"(generate_outputs needs pynq_driver)")
    saved = sys.modules.get("packing")
    sys.modules["packing"] = load("packing", driver_dir / "packing.py")
    try:
        module = load("driver_base", driver_dir / "driver_base.py")
    finally:
        if saved is None:
            del sys.modules["packing"]
        else:
            sys.modules["packing"] = saved
    _DRIVERS[driver_dir] = module
    return module


class Accelerator:
    """What both kinds share: the batch size, the metrics, the latency."""

    platform: str
    where: str  # "sim" or the board's name

    def __init__(self, build: DfxBuild, metrics, batch_size: int = 1):
        self.build = build
        self.metrics = metrics
        self._batch_size = int(batch_size)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if int(value) < 1:
            raise AcceleratorError(f"batch size {value}: a batch has at least one frame")
        self._batch_size = int(value)

    def latency_ms(self) -> float:
        """The time of one frame through the accelerator (a throughput test of batch 1)."""
        return self.throughput_test(batch_size=1)["runtime[ms]"]

    def _measured(self, res: dict) -> dict:
        if self.metrics is not None:
            self.metrics.add_measurement(res, build=self.build)
        return res

    def _executed(self, frames: int) -> None:
        if self.metrics is not None:
            self.metrics.add(frames_executed=frames)


class SimAccelerator(Accelerator):
    """The build's driver on ``--platform sim``, in this process."""

    platform = "sim"
    where = "sim"

    def __init__(self, build: DfxBuild, metrics, timeout_s: float, batch_size: int = 1):
        super().__init__(build, metrics, batch_size)
        self.driver = load_driver(build.driver_dir)
        try:
            self.overlay = self.driver.FINNExampleOverlay(
                None, "sim", self.driver.load_io(build.driver_dir / "io.json"),
                batch_size=1, timeout_s=timeout_s)
        except self.driver.DriverError as exc:
            raise AcceleratorError(f"{build.path.name}: {exc}") from None

    def _call(self, fn, *args):
        __tracebackhide__ = True
        try:
            return fn(*args)
        except self.driver.DriverTimeout as exc:
            raise AcceleratorTimeout(str(exc)) from None
        except self.driver.DriverError as exc:
            raise AcceleratorError(str(exc)) from None

    def execute(self, batch, postprocess: bool = False):
        """``batch`` (N frames in the input shape) -> the outputs, in the output shape."""
        __tracebackhide__ = True
        out = self._call(self.overlay.execute, batch)
        self._executed(len(out))
        return self.overlay.postprocess(out) if postprocess else out

    def throughput_test(self, batch_size: int | None = None) -> dict:
        """FINN's throughput test on ``batch_size`` random frames; on the simulator the
        runtime is the simulated cycle count at fclk."""
        __tracebackhide__ = True
        if batch_size is not None:
            self.batch_size = batch_size
        self._call(setattr, self.overlay, "batch_size", self.batch_size)
        return self._measured(self._call(self.overlay.throughput_test))

    def close(self) -> None:
        """Remove the simulator's work folder (the driver makes one per accelerator)."""
        backend = getattr(self.overlay, "_backend", None)
        tmp = getattr(backend, "tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class RemoteAccelerator(Accelerator):
    """The build's deployment package on a board, its driver run there over ssh."""

    def __init__(self, build: DfxBuild, metrics, board, batch_size: int = 1):
        super().__init__(build, metrics, batch_size)
        if not build.package.is_file():
            raise AcceleratorError(f"the build {build.path} has no deployment package "
                                   f"(generate_outputs needs deployment_package)")
        self.remote = board  # a RemoteBoard
        self.platform = board.board.platform
        self.where = board.board.name
        if self.platform != "sim" and build.bitfile_sha256 is None:
            # known here: never send a package that can only fail on the board
            raise AcceleratorError(
                f"board {board.board.describe()} runs --platform {self.platform}, which needs "
                f"a bitfile, and the build {build.path} has none (see deploy/MISSING.md: "
                f"Vivado makes it); mark such tests @pytest.mark.dfx_needs('vivado')")
        self.folder = board.deploy(build.package, build.key)

    def execute(self, batch, postprocess: bool = False):
        __tracebackhide__ = True
        import numpy as np

        batch = np.asarray(batch)
        out = self.remote.execute(self.folder, batch, postprocess=postprocess)
        self._executed(len(out))
        return out

    def throughput_test(self, batch_size: int | None = None) -> dict:
        __tracebackhide__ = True
        if batch_size is not None:
            self.batch_size = batch_size
        return self._measured(self.remote.throughput_test(self.folder, self.batch_size))

    def close(self) -> None:
        pass
