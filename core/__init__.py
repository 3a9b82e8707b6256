"""dfx: compile quantized neural networks (QONNX) into streaming dataflow accelerators.

The core is deliberately small and light to import: the graph layer (qonnx's
ModelWrapper), the build configuration, the hook specifications, the step
pipeline and the artifact cache. Everything that does real work lives in
plugins (``dfx.plugins`` is the default set).

Plugin authors use ``from dfx import hookimpl, Step``; those names are loaded on
first use, so ``import dfx`` itself costs next to nothing.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "Step", "StepContext"]


def __getattr__(name):
    if name == "hookimpl":
        from dfx.hookspec import hookimpl

        return hookimpl
    if name in ("Step", "StepContext"):
        from dfx import steps

        return getattr(steps, name)
    raise AttributeError(f"module 'dfx' has no attribute {name!r}")
