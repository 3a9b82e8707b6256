"""The graph layer: reading models into qonnx's ModelWrapper, with clear errors."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from dfx.errors import ModelError


class _Deferred(ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is used."""

    def __getattr__(self, attr: str):  # called only for what the stand-in lacks
        real = self.__dict__.get("_dfx_real")
        if real is None:
            import importlib

            del sys.modules[self.__name__]  # so that the import below runs the module
            real = importlib.import_module(self.__name__)
            self.__dict__["_dfx_real"] = real
        return getattr(real, attr)


def defer_import(name: str) -> None:
    """Make ``import name`` cheap: the module runs on the first use of one of its attributes.

    qonnx imports onnxruntime with its custom ops (``qonnx.core.onnx_exec``) although
    only execution needs it: deferred, the estimate flow does not pay for loading it.
    A module that is imported already, or cannot be found, is left alone.
    (importlib's LazyLoader does not help here: ``import`` itself reads ``__spec__``,
    which makes it load.)
    """
    import importlib.util

    if name in sys.modules or "." in name:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in


def load_model(path: str | Path):
    """Read an ONNX file into a ModelWrapper; a file that is not ONNX is a ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} does not exist")
    defer_import("onnxruntime")
    import onnx
    from google.protobuf.message import DecodeError
    from qonnx.core.modelwrapper import ModelWrapper

    try:
        proto = onnx.load_model(str(path))
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not an ONNX model: {exc}") from None
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc}") from None
    if not proto.graph.node:
        raise ModelError(f"{path} is not an ONNX model (it has no graph nodes)")
    if len(proto.graph.input) == 0 or len(proto.graph.output) == 0:
        raise ModelError(f"{path}: the graph has no inputs or no outputs")
    return ModelWrapper(proto)
