"""Errors of the hardware-in-the-loop plugin; each message names the thing at fault."""

from __future__ import annotations


class HilError(Exception):
    """Base class of the errors the dfx pytest plugin raises into a test."""


class LabFileError(HilError):
    """The lab file cannot be used; the message names the file and the line."""


class BuildFailed(HilError):
    """A ``dfx_build`` failed; every test that needs the build gets this same error."""


class BoardBusy(HilError):
    """No board was free within the lock time limit; names the boards and their holders."""


class BoardUnreachable(HilError):
    """A board did not answer over ssh (refused, no answer within the time limit, ...)."""


class AcceleratorError(HilError):
    """The accelerator refused an input or failed a run (the driver's own message)."""


class AcceleratorTimeout(AcceleratorError):
    """A run on the accelerator took longer than the time limit (``--dfx-timeout``)."""
