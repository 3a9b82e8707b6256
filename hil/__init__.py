"""Hardware-in-the-loop tests under pytest (``dfx.hil``).

The pytest plugin (:mod:`dfx.hil.pytest_plugin`, entry point ``pytest11``) builds models
through dfx's cache (:mod:`dfx.hil.builds`), runs them through the build's driver on the
simulated accelerator or on boards over ssh (:mod:`dfx.hil.accelerator`,
:mod:`dfx.hil.remote`), keeps one test per board at a time (:mod:`dfx.hil.locks`), reads
the lab file (:mod:`dfx.hil.lab`) and writes the run's metrics (:mod:`dfx.hil.metrics`).
The errors a test may catch are in :mod:`dfx.hil.errors`.
"""

from dfx.hil.errors import (
    AcceleratorError,
    AcceleratorTimeout,
    BoardBusy,
    BoardUnreachable,
    BuildFailed,
    HilError,
    LabFileError,
)

__all__ = ["AcceleratorError", "AcceleratorTimeout", "BoardBusy", "BoardUnreachable",
           "BuildFailed", "HilError", "LabFileError"]
