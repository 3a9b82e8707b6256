"""Errors that dfx reports to users.

Every error a user can cause derives from :class:`DfxError`. The CLI prints its
message (never a traceback) and exits with :attr:`DfxError.exit_code`.
"""

from __future__ import annotations


class DfxError(Exception):
    """Base class of every error dfx reports to its users."""

    exit_code = 1


class ConfigError(DfxError):
    """The build configuration is invalid (unknown key, wrong type, impossible value)."""

    exit_code = 2


class ModelError(DfxError):
    """The input model cannot be read or is not something dfx can build."""

    exit_code = 3


class UnsupportedNodeError(ModelError):
    """A node of the model has no path to hardware."""

    def __init__(self, node_name: str, op_type: str, why: str):
        self.node_name = node_name
        self.op_type = op_type
        self.why = why
        super().__init__(f"node {node_name!r} (op type {op_type}): {why}")


class PluginError(DfxError):
    """A plugin cannot be found, loaded or registered."""

    exit_code = 4


class StepError(DfxError):
    """A build step failed."""

    exit_code = 5


class ToolNotFoundError(DfxError):
    """An external tool (Verilator, Yosys, Vivado, ...) is not available."""

    exit_code = 6


class CacheError(DfxError):
    """The artifact cache cannot be used."""

    exit_code = 7


class StorageError(DfxError):
    """A build file cannot be written: no space left on the device, or no permission."""

    exit_code = 8


class IncompleteBuildError(DfxError):
    """A requested output was not produced and ``require_all_outputs`` is set."""

    exit_code = 9
