"""The graph layer: reading models into qonnx's ModelWrapper, with clear errors."""

from __future__ import annotations

from pathlib import Path

from dfx.errors import ModelError


def load_model(path: str | Path):
    """Read an ONNX file into a ModelWrapper; a file that is not ONNX is a ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} does not exist")
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
