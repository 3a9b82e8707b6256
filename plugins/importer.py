"""Import and tidy-up: the first two steps, FINN's step_qonnx_to_finn and step_tidy_up."""

from __future__ import annotations

from dfx.errors import ModelError
from dfx.plugins.streamline import check_quantized


def step_qonnx_to_finn(model, cfg, ctx):
    """Check that the model is a quantized QONNX graph dfx can read."""
    check_quantized(model)
    for inp in model.graph.input:
        if model.get_initializer(inp.name) is not None:
            continue
        shape = model.get_tensor_shape(inp.name)
        if shape is None or any((not isinstance(d, int)) or d <= 0 for d in shape):
            raise ModelError(
                f"input {inp.name!r} has no fixed shape ({shape}); export the model with a "
                f"fixed input shape (batch size 1)"
            )
    if len([i for i in model.graph.input if model.get_initializer(i.name) is None]) != 1:
        raise ModelError("dfx builds models with exactly one input")
    if len(model.graph.output) != 1:
        raise ModelError("dfx builds models with exactly one output")
    return model


def step_tidy_up(model, cfg, ctx):
    """Shapes, unique node names, datatypes: what every later step relies on."""
    from qonnx.transformation.general import (
        GiveUniqueNodeNames,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    for transformation in (RemoveStaticGraphInputs(), InferShapes(), GiveUniqueNodeNames(),
                           InferDataTypes(), RemoveUnusedTensors()):
        model = model.transform(transformation)
    return model
