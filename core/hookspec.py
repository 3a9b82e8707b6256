"""Hook specifications: the points where plugins plug into dfx.

A plugin is a module (or any object) with functions named after these hooks and
decorated with :data:`hookimpl`::

    from dfx import hookimpl

    @hookimpl
    def dfx_register_steps():
        return [Step("step_my_report", my_report, after="step_generate_estimate_reports")]

Calling rules, as pluggy defines them:

* *all results*: every implementation is called and the results are collected
  in a list (``None`` results are dropped). Registration hooks work this way.
* *first result* (``firstresult=True``): implementations are called from the
  most recently registered plugin (or ``tryfirst=True``) to the first; the first
  one that returns something other than ``None`` wins and the rest are skipped.
  A plugin overrides a stage of the default plugin by implementing the stage
  hook; it defers to the next implementation by returning ``None``.
* a *wrapper* (``@hookimpl(wrapper=True)``) may surround any hook: it runs code
  before and after the other implementations and may change their result.

Stage hooks receive ``model`` (a :class:`qonnx.core.modelwrapper.ModelWrapper`),
``cfg`` (the validated :class:`dfx.config.DataflowBuildConfig`) and ``ctx`` (the
:class:`dfx.steps.StepContext` of the step that calls them: report folder,
board, layer kinds, logger). They return the transformed ModelWrapper. They may
modify ``model`` in place and return it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - type hints only
    from onnx import NodeProto
    from qonnx.core.modelwrapper import ModelWrapper

    from dfx.config import DataflowBuildConfig
    from dfx.layers import HWLayer, Match
    from dfx.steps import StepContext

PROJECT_NAME = "dfx"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


@hookspec
def dfx_register_steps():
    """Register build steps and their place in the order.

    Return a list of :class:`dfx.steps.Step`. Each step names where it goes with
    ``after=`` or ``before=`` (another step's name); a step with neither is
    appended after the steps registered before it. A step whose name is already
    registered replaces the earlier one only if it says ``replaces=True``;
    otherwise the name clash is an error.

    When it runs: a step that names ``outputs`` runs when the build asks for one of
    them (``generate_outputs``); one that names none runs whenever the step it is
    placed after (or before) runs, so ``Step("step_my_report", f,
    after="step_generate_estimate_reports")`` runs in an estimate-only build. ``dfx
    steps`` ends each line with ``runs: ...`` or ``skipped: ...`` and the reason, for
    the default configuration or the one given (``--config``, ``--generate-outputs``).

    Calling rule: all results. Built-in plugins are asked first, then the others
    in the order ``--plugins`` names them, so third-party steps can refer to
    default steps.
    """


@hookspec
def dfx_register_layer_kinds() -> list[type[HWLayer]]:
    """Register hardware layer kinds.

    Return a list of subclasses of :class:`dfx.layers.HWLayer`. A layer kind is
    identified by its ``op_type``; it brings its own conversion rule
    (``match``), shape rule, exact execution, folding options, cycle and
    resource estimates, RTL generator and the library files it owns
    (``rtl_sources``). Two plugins registering the same ``op_type`` is an error
    naming both, unless the later kind says ``replaces = True``: that is how a
    plugin swaps the implementation of a built-in layer.

    Calling rule: all results; built-in plugins first, then the others in the
    order ``--plugins`` names them.

    Example::

        @hookimpl
        def dfx_register_layer_kinds():
            return [MyActivation]
    """


@hookspec
def dfx_streamline_op_handlers() -> dict[str, Callable]:
    """Add (or replace) the streamliner's rules for ONNX op types.

    Return ``{op_type: handler}``. The streamliner walks the graph once, in
    order, and calls ``handler(streamliner, node)`` for each node of that
    op_type; the handler reads the values of the node's inputs from
    ``streamliner.values`` (tensor name -> ``ConstValue``, ``IntValue``,
    ``AccValue``, see :mod:`dfx.plugins.streamline`) and stores the values of
    its outputs there, adding nodes to the new graph with
    ``streamliner.nodes.append(...)``. A node whose op has no handler and whose
    inputs are not all constants is an
    :class:`dfx.errors.UnsupportedNodeError`.

    Calling rule: all results, merged in registration order (built-in plugins
    first), so a plugin's handler for an op replaces the default one. A handler
    that raises anything but a :class:`dfx.errors.DfxError` is reported with the
    plugin and the node.

    Example::

        @hookimpl
        def dfx_streamline_op_handlers():
            return {"MyOp": lambda streamliner, node: ...}
    """


@hookspec
def dfx_config_fields():
    """Declare extra configuration keys that a plugin's steps read.

    Return a list of :class:`dfx.config.ExtraField`. The keys are accepted in
    configuration files and as ``--set key=value`` on the command line and are
    validated like dfx's own keys; a key no plugin declares is rejected.

    Calling rule: all results.
    """


# --------------------------------------------------------------------------
# One hook per stage. The default steps call these; each is firstresult.
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def dfx_streamline(model, cfg, ctx):
    """Turn the tidied QONNX graph into integer MatMuls with threshold activations.

    The result must execute (with qonnx's executor) to the same outputs as the
    original model: bit for bit where the output is quantized, within float32
    rounding where the graph ends in float operations. A node that cannot be
    streamlined raises :class:`dfx.errors.UnsupportedNodeError`.

    Calling rule: first result. Return the streamlined ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_convert_to_hw(model, cfg, ctx):
    """Replace streamlined nodes by hardware layer nodes (MVAU, Thresholding, ...).

    The default walks the graph and asks ``dfx_convert_node`` for each node (so a
    plugin adds a conversion rule without overriding this stage). Nodes of the
    float tail that stay in software are left as they are; every hardware node's
    ``op_type`` must be a registered layer kind (``ctx.layer_kinds``).

    Calling rule: first result. Return the converted ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_convert_node(node: NodeProto, model: ModelWrapper, cfg: DataflowBuildConfig,
                     ctx: StepContext) -> tuple[str, Match] | None:
    """Convert one streamlined node to hardware layer node(s), or leave it (None).

    The default ``dfx_convert_to_hw`` walks the graph in order and asks this hook
    for every node that no earlier match consumed. The default implementation
    asks every registered layer kind's :meth:`dfx.layers.HWLayer.match`
    classmethod, the kinds of later plugins first, and returns
    ``(op_type, match)`` for the first kind that takes the node. The walk then
    replaces ``match.consumes`` (the node, and nodes fused with it) by
    ``match.nodes``. A result that is malformed, or that consumes a node another
    kind already took, is an error naming the plugin and the node.

    Calling rule: first result (like pytest's ``pytest_pycollect_makeitem``): a
    plugin takes the nodes it knows and returns ``None`` for the others.

    Example::

        @hookimpl
        def dfx_convert_node(node, model, cfg, ctx):
            if node.op_type != "MyOp":
                return None
            hw = helper.make_node("MyActivation", [node.input[0]], [node.output[0]],
                                  name=node.name, domain=HW_DOMAIN)
            return "MyActivation", Match(nodes=[hw], consumes=[node])
    """


@hookspec(firstresult=True)
def dfx_folding(model, cfg, ctx):
    """Choose the parallelism (PE, SIMD, ...) of every hardware layer.

    Read ``cfg.target_fps``, ``cfg.synth_clk_period_ns``, ``cfg.mvau_wwidth_max``
    and the board's resources, write the chosen folding into the node
    attributes, and write ``auto_folding_config.json`` into the build folder with
    ``ctx.write_json("auto_folding_config.json", ...)``.

    Configuration keys the implementing plugin declares (``dfx_config_fields``)
    are part of the step's cache key, so the stage may read them.

    Calling rule: first result. Return the folded ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_estimates(model, cfg, ctx):
    """Write the estimate reports (cycles, resources, network performance, op counts).

    Write FINN's report files into ``ctx.report_dir``.

    Calling rule: first result. Return the ModelWrapper (usually unchanged).
    """


@hookspec(firstresult=True)
def dfx_hw_codegen(model, cfg, ctx):
    """Generate RTL or HLS sources for every hardware layer, and the codegen manifest.

    Write each layer's module into ``codegen/<layer>/``, the library files the
    layer kinds own into ``codegen/lib/``, and ``codegen/manifest.json`` (modules,
    files, streams: see :mod:`dfx.plugins.manifest`), and record the manifest on
    the model. Every later stage (FIFO sizing, stitching, rtlsim, synthesis, the
    bitfile, ``dfx sim --backend rtl``) builds what the manifest says.

    Calling rule: first result. Return the ModelWrapper with the manifest recorded.

    Example: run the default, then change a module (``tests/plugins/regstage_plugin.py``)::

        @hookimpl
        def dfx_hw_codegen(model, cfg, ctx):
            model = dfx.plugins.hw.hw_codegen(model, cfg, ctx)
            manifest, root = codegen_manifest(model, ctx)
            ...  # write a wrapper, point manifest["modules"][i] at it
            update_codegen_manifest(model, ctx, manifest)
            return model
    """


@hookspec(firstresult=True)
def dfx_ip_stitch(model, cfg, ctx):
    """Connect the generated layers into one AXI-Stream top with FIFOs and width converters.

    Read the codegen manifest (never the layers again), write ``stitched_ip/`` with
    ``stitch.json`` and record it on the model: rtlsim, synthesis, the bitfile and
    ``dfx sim --backend rtl`` take the stitched design from there.

    Calling rule: first result. Return the ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_ooc_synth(model, cfg, ctx):
    """Synthesize the stitched design out of context and report resources and timing.

    Calling rule: first result. Return the ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_bitfile(model, cfg, ctx):
    """Build a bitfile for the board's shell (Zynq or Alveo).

    Calling rule: first result. Return the ModelWrapper.
    """


@hookspec(firstresult=True)
def dfx_driver(model, cfg, ctx):
    """Generate the host driver and the deployment package.

    Calling rule: first result. Return the ModelWrapper.
    """


@hookspec
def dfx_reports(build_dir, tables):
    """Contribute extra report tables for ``dfx report``.

    ``build_dir`` is a :class:`pathlib.Path` to a finished build; ``tables`` is
    the dict of pandas DataFrames dfx has read so far (name -> DataFrame).
    Return a dict of further named DataFrames, or ``None``.

    Calling rule: all results; the dicts are merged in order.
    """


# --------------------------------------------------------------------------
# Observation
# --------------------------------------------------------------------------


@hookspec
def dfx_step_finished(step_name, seconds, cached, ctx):
    """Called after every step, whether it ran or came from the cache.

    Calling rule: all results (return values are ignored).
    """
