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
    from qonnx.transformation.general import RemoveStaticGraphInputs, RemoveUnusedTensors
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    for i, transformation in enumerate((RemoveStaticGraphInputs(), InferShapes(),
                                        InferDataTypes(), RemoveUnusedTensors())):
        # one copy of the caller's model, not one per transformation (big weights)
        model = model.transform(transformation, make_deepcopy=i == 0)
    name_nodes(model)
    return model


def name_nodes(model) -> None:
    """Give unnamed and duplicate-named nodes a unique name; keep the user's names.

    Messages about a node name it as the user's exporter did, so the names
    that are already unique stay as they are (qonnx's GiveUniqueNodeNames would
    rename every node).
    """
    seen: set[str] = set()
    counters: dict[str, int] = {}
    for node in model.graph.node:
        if node.name and node.name not in seen:
            seen.add(node.name)
            continue
        while True:
            n = counters.get(node.op_type, 0)
            counters[node.op_type] = n + 1
            candidate = f"{node.op_type}_{n}"
            if candidate not in seen and all(candidate != m.name for m in model.graph.node):
                break
        node.name = candidate
        seen.add(candidate)
