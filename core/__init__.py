"""dfx: compile quantized neural networks (QONNX) into streaming dataflow accelerators.

The core is deliberately small and light to import: the graph layer (qonnx's
ModelWrapper), the build configuration, the hook specifications, the step
pipeline and the artifact cache. Everything that does real work lives in
plugins (``dfx.plugins`` is the default set).

Plugin authors use ``from dfx import hookimpl, Step``. FINN users replace
FINN's two builder imports with ``import dfx as build`` and ``import dfx as
build_cfg``: ``build_dataflow_cfg``, ``DataflowBuildConfig``,
``DataflowOutputType``, ``ShellFlowType``, ``estimate_only_dataflow_steps`` and
``default_build_dataflow_steps`` are here. All these names are loaded on first
use, so ``import dfx`` itself costs next to nothing.
"""

__version__ = "0.1.0"

#: FINN's builder names, and the dfx module that defines each.
_FINN_API = {
    "build_dataflow_cfg": "dfx.build_api",
    "estimate_only_dataflow_steps": "dfx.build_api",
    "hw_only_dataflow_steps": "dfx.build_api",
    "default_build_dataflow_steps": "dfx.build_api",
    "DataflowBuildConfig": "dfx.config",
    "DataflowOutputType": "dfx.config",
    "ShellFlowType": "dfx.config",
    "VerificationStepType": "dfx.config",
    "AutoFIFOSizingMethod": "dfx.config",
    "LargeFIFOMemStyle": "dfx.config",
    "VitisOptStrategy": "dfx.config",
}

__all__ = ["__version__", "hookimpl", "Step", "StepContext", *_FINN_API]


def __getattr__(name):
    if name in _FINN_API:
        import importlib

        value = getattr(importlib.import_module(_FINN_API[name]), name)
        if isinstance(value, list):
            value = list(value)  # a fresh list each time: a user may edit theirs
        return value
    if name == "hookimpl":
        from dfx.hookspec import hookimpl

        return hookimpl
    if name in ("Step", "StepContext"):
        from dfx import steps

        return getattr(steps, name)
    raise AttributeError(f"module 'dfx' has no attribute {name!r}")
