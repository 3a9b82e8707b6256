"""dfx-example-plugin: the template for writing a dfx plugin.

A dfx plugin is a Python module with functions named after dfx's hooks (see
``dfx/hookspec.py``), each decorated with ``@hookimpl``. dfx finds this module
through the entry point declared in ``pyproject.toml``::

    [project.entry-points."dfx.plugins"]
    example = "dfx_example_plugin"

so that ``dfx run --plugins default,example model.onnx`` loads the default
plugin first and this one after it. (A module that is not installed can be
loaded by its dotted path too: ``--plugins default,mypkg.myplugin``.)

This plugin shows the three things plugins do most:

1. **Add a build step** (:func:`dfx_register_steps`): ``step_weight_histogram``
   writes ``report/weight_histogram.json`` after the estimate reports.
2. **Declare configuration keys** (:func:`dfx_config_fields`): the keys are
   validated like dfx's own, accepted in config files and as ``--set key=value``,
   and read back as ``cfg.extra["key"]``.
3. **Override a stage of the default plugin** (:func:`dfx_folding`): stage hooks
   are *first result* hooks, so the first implementation that returns a model
   wins; returning ``None`` hands the stage on to the next one (the default).

Keep imports of heavy libraries (numpy, onnx, qonnx) inside the functions:
``dfx plugins`` and ``dfx steps`` load every plugin, and they should stay fast.

The version below is part of the plugin's fingerprint, which is part of the
cache key of every step the plugin is involved in. dfx hashes the plugin's
source files too, so editing this file invalidates those cache entries even if
you forget to bump the version.
"""

from __future__ import annotations

from dfx import Step, hookimpl
from dfx.config import ExtraField

__version__ = "0.1.0"

#: The name this plugin is loaded under (the entry point's name); used to tag
#: the configuration keys it declares, so error messages can name their owner.
PLUGIN_NAME = "example"


# ---------------------------------------------------------------------------
# 1. Configuration keys
# ---------------------------------------------------------------------------


@hookimpl
def dfx_config_fields():
    """Declare the configuration keys this plugin reads.

    Every key a step or hook reads must be declared by some plugin: dfx rejects
    unknown keys (with a suggestion for a misspelt one), so a typo in a config
    file fails the build instead of being ignored silently. The type and the
    default are checked once, when the plugins load.
    """
    return [
        ExtraField(
            "weight_histogram_bins",
            int,
            16,
            "step_weight_histogram: how many of the most frequent weight values to keep "
            "per layer (the rest are counted under 'other').",
            plugin=PLUGIN_NAME,
        ),
        ExtraField(
            "example_uniform_folding",
            int,
            0,
            "Give every MVAU the same PE and SIMD: the largest divisors of MH and MW not "
            "above this value (0: use dfx's default folding).",
            plugin=PLUGIN_NAME,
        ),
    ]


# ---------------------------------------------------------------------------
# 2. A custom step
# ---------------------------------------------------------------------------


def step_weight_histogram(model, cfg, ctx):
    """Write ``report/weight_histogram.json``: the integer weight values of every MVAU.

    A step function takes ``(model, cfg, ctx)``:

    * ``model``: the :class:`qonnx.core.modelwrapper.ModelWrapper` the previous
      step returned;
    * ``cfg``: the validated build configuration; plugin keys are in ``cfg.extra``;
    * ``ctx``: a :class:`dfx.steps.StepContext` with the registered layer kinds
      (``ctx.layer_kinds``), the board, a logger (``ctx.log``) and helpers that
      write files into the build folder (``ctx.write_report``, ``ctx.write_json``).

    It returns the model (``None`` means "unchanged"). Write files only through
    ``ctx``: they go into the step's cache entry and are copied into the build
    folder, also when a later build takes the step from the cache.

    The report, per MVAU layer::

        {"bins": 16,
         "layers": {"MVAU_0": {"MW": 600, "MH": 64, "weight_datatype": "INT2",
                               "total": 38400, "counts": {"-2": 97, "-1": ..., ...},
                               "other": 0}, ...}}

    ``counts`` maps each integer weight value (as a string, JSON keys are
    strings) to how often it occurs, sorted by value; only the
    ``weight_histogram_bins`` most frequent values are kept, and ``other`` counts
    the weights whose value was left out.
    """
    import numpy as np

    bins = cfg.extra["weight_histogram_bins"]
    layers = {}
    # The hardware layers, in graph order, each wrapped in its layer kind's class.
    for layer in ctx.layer_kinds.hw_layers(model):
        node = layer.node
        if node.op_type != "MVAU":
            continue
        weights = model.get_initializer(node.input[1])  # W[MW, MH], integer values
        values, counts = np.unique(np.asarray(weights).ravel(), return_counts=True)
        # The most frequent first (ties: the smaller value first), cut to `bins`.
        order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
        kept = sorted(order[:bins], key=lambda i: values[i]) if bins > 0 else []
        total = int(counts.sum())
        layers[node.name] = {
            "MW": layer.get("MW"),
            "MH": layer.get("MH"),
            "weight_datatype": model.get_tensor_datatype(node.input[1]).name,
            "total": total,
            "counts": {_value_key(values[i]): int(counts[i]) for i in kept},
            "other": total - int(sum(counts[i] for i in kept)),
        }
    ctx.write_report("weight_histogram.json", {"bins": bins, "layers": layers})
    ctx.log.info("weight histogram of %d MVAU layer(s), %d bins", len(layers), bins)
    return model


def _value_key(value) -> str:
    """A weight value as a JSON key: ``"-1"`` for an integer value, else its float text."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@hookimpl
def dfx_register_steps():
    """Register ``step_weight_histogram``.

    A :class:`dfx.Step` says where it goes (``after=`` or ``before=`` another
    step's name) and what its cache key must cover:

    * ``config_fields``: every configuration key the step reads. A key missing
      here would let a build with another value take a stale result from the
      cache.
    * ``uses_layer_kinds=True``: the step reads layers through ``ctx.layer_kinds``,
      so the plugins that registered those kinds are part of the key.
    * ``version``: bump it when the step's output changes for the same input.

    ``outputs`` ties the step to ``generate_outputs``: this step runs when the
    build asks for ``estimate_reports`` (the default), and is skipped otherwise.
    To swap out a step of another plugin, register a step of the same name with
    ``replaces=True``.
    """
    return [
        Step(
            "step_weight_histogram",
            step_weight_histogram,
            version="1",
            after="step_generate_estimate_reports",
            outputs={"estimate_reports"},
            config_fields=("weight_histogram_bins",),
            uses_layer_kinds=True,
            description="report/weight_histogram.json: integer weight values per MVAU",
        )
    ]


# ---------------------------------------------------------------------------
# 3. Overriding a stage
# ---------------------------------------------------------------------------


def _largest_divisor_up_to(n: int, limit: int) -> int:
    """The largest divisor of ``n`` that is not above ``limit`` (at least 1)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


@hookimpl(tryfirst=True)
def dfx_folding(model, cfg, ctx):
    """Fold every MVAU with the same PE and SIMD, or defer to the default folding.

    ``dfx_folding`` is a *first result* hook: dfx calls the implementations one
    after the other and stops at the first that returns something other than
    ``None``. ``tryfirst=True`` puts this one ahead of the default plugin's
    whatever the order of ``--plugins``, so:

    * ``example_uniform_folding`` = 0 (the default): return ``None``; the default
      plugin's folding (from ``target_fps``) runs as if this plugin were absent.
    * ``example_uniform_folding`` = N > 0: set PE to the largest divisor of MH
      not above N and SIMD to the largest divisor of MW not above N, on every
      MVAU, and return the model; the default folding does not run.

    Like the default implementation, it writes ``auto_folding_config.json`` (the
    chosen folding in FINN's folding-config format) into the build folder.

    (To run code *around* the default implementation instead of replacing it,
    write a wrapper: ``@hookimpl(wrapper=True)``, ``model = yield``, change the
    model, ``return model``.)
    """
    from dfx.errors import ConfigError
    from dfx.plugins.folding import hw_config

    n = cfg.extra["example_uniform_folding"]
    if n < 0:
        raise ConfigError(f"example_uniform_folding must be >= 0, got {n}")
    if n == 0:
        return None  # defer: the next implementation (the default plugin's) runs

    chosen = {}
    for layer in ctx.layer_kinds.hw_layers(model):
        if layer.op_type != "MVAU":
            continue
        folding = {
            "PE": _largest_divisor_up_to(layer.get("MH"), n),
            "SIMD": _largest_divisor_up_to(layer.get("MW"), n),
        }
        problem = layer.check_folding(folding)
        if problem:  # cannot happen for divisors; a guard for copies of this code
            raise ConfigError(f"example_uniform_folding={n}: layer {layer.name}: {problem}")
        layer.set_folding(folding)
        chosen[layer.name] = folding
    ctx.write_json("auto_folding_config.json", hw_config(model, ctx))
    ctx.log.info("example_uniform_folding=%d: uniform folding of %d MVAU layer(s): %s",
                 n, len(chosen), ", ".join(f"{name} PE={f['PE']} SIMD={f['SIMD']}"
                                           for name, f in chosen.items()))
    ctx.progress(f"example plugin: uniform folding PE=SIMD<={n} on {len(chosen)} MVAU layer(s)")
    return model
