"""dfx: compile quantized neural networks (QONNX) into streaming dataflow accelerators.

The core is deliberately small and light to import: the graph layer (qonnx's
ModelWrapper), the build configuration, the hook specifications, the step
pipeline and the artifact cache. Everything that does real work lives in
plugins (``dfx.plugins`` is the default set).
"""

__version__ = "0.1.0"

from dfx.hookspec import hookimpl  # noqa: E402  (re-exported for plugin authors)
from dfx.steps import Step, StepContext  # noqa: E402

__all__ = ["__version__", "hookimpl", "Step", "StepContext"]
