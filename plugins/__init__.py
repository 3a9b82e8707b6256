"""The default plugin set: ``dfx run --plugins default``.

It registers FINN's estimate-flow steps, the MVAU and Thresholding layer kinds,
and implements the stage hooks those steps call. Heavy modules (numpy, onnx,
qonnx) are imported inside the functions, so loading the plugin stays cheap.
"""

from __future__ import annotations

from dfx import __version__ as __version__
from dfx.hookspec import hookimpl
from dfx.steps import Step

ESTIMATE_REPORTS = "estimate_reports"
STITCHED_IP = "stitched_ip"
RTLSIM_PERFORMANCE = "rtlsim_performance"
OOC_SYNTH = "out_of_context_synth"
BITFILE = "bitfile"
PYNQ_DRIVER = "pynq_driver"
DEPLOYMENT_PACKAGE = "deployment_package"
HW_OUTPUTS = {STITCHED_IP, RTLSIM_PERFORMANCE, OOC_SYNTH, BITFILE, PYNQ_DRIVER,
              DEPLOYMENT_PACKAGE}

# -- steps: each calls its stage hook, so other plugins can override the stage --


def _step_qonnx_to_finn(model, cfg, ctx):
    from dfx.plugins.importer import step_qonnx_to_finn

    return step_qonnx_to_finn(model, cfg, ctx)


def _step_tidy_up(model, cfg, ctx):
    from dfx.plugins.importer import step_tidy_up

    return step_tidy_up(model, cfg, ctx)


def _step_streamline(model, cfg, ctx):
    return ctx.hook.dfx_streamline(model=model, cfg=cfg, ctx=ctx)


def _step_convert_to_hw(model, cfg, ctx):
    return ctx.hook.dfx_convert_to_hw(model=model, cfg=cfg, ctx=ctx)


def _step_target_fps_parallelization(model, cfg, ctx):
    return ctx.hook.dfx_folding(model=model, cfg=cfg, ctx=ctx)


def _step_apply_folding_config(model, cfg, ctx):
    from dfx.plugins.folding import apply_folding_config

    return apply_folding_config(model, cfg, ctx)


def _step_generate_estimate_reports(model, cfg, ctx):
    return ctx.hook.dfx_estimates(model=model, cfg=cfg, ctx=ctx)


def _step_hw_codegen(model, cfg, ctx):
    from dfx.plugins.rtlgen import set_fifo_options

    set_fifo_options(model, cfg)  # every later stitch reads them from the model
    return ctx.hook.dfx_hw_codegen(model=model, cfg=cfg, ctx=ctx)


def _step_set_fifo_depths(model, cfg, ctx):
    from dfx.plugins.hw import set_fifo_depths

    if cfg.auto_fifo_depths:
        ctx.log.info("auto_fifo_strategy %s: dfx sizes the FIFOs by one simulation of the "
                     "stitched design with deep FIFOs, keeping each FIFO's peak occupancy",
                     cfg.auto_fifo_strategy)
    return set_fifo_depths(model, cfg, ctx)


def _finn_step(name: str):
    """The FINN step ``name`` of :mod:`dfx.plugins.finn_steps`, imported when it runs."""

    def run(model, cfg, ctx):
        from dfx.plugins import finn_steps

        return getattr(finn_steps, name)(model, cfg, ctx)

    run.__name__ = name
    return run


def _step_create_stitched_ip(model, cfg, ctx):
    return ctx.hook.dfx_ip_stitch(model=model, cfg=cfg, ctx=ctx)


def _step_measure_rtlsim_performance(model, cfg, ctx):
    from dfx.plugins.hw import measure_rtlsim_performance

    return measure_rtlsim_performance(model, cfg, ctx)


def _step_out_of_context_synthesis(model, cfg, ctx):
    return ctx.hook.dfx_ooc_synth(model=model, cfg=cfg, ctx=ctx)


def _step_synthesize_bitfile(model, cfg, ctx):
    return ctx.hook.dfx_bitfile(model=model, cfg=cfg, ctx=ctx)


def _step_make_pynq_driver(model, cfg, ctx):
    return ctx.hook.dfx_driver(model=model, cfg=cfg, ctx=ctx)


def _driver_environment(cfg):
    """The simulator's Verilator and the packing module the driver copies: dfx.packing
    lives outside this plugin's sources, so a change to it must change the key too."""
    import hashlib

    import dfx.packing

    with open(dfx.packing.__file__, "rb") as f:
        packing = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"{_verilator_version(cfg)} packing {packing}"


def _step_deployment_package(model, cfg, ctx):
    from dfx.plugins.driver import deployment_package

    return deployment_package(model, cfg, ctx)


def _vivado_version(cfg):
    from dfx.plugins.synth import vivado_environment

    return vivado_environment(cfg)


def _synth_tools(cfg):
    from dfx.plugins.synth import ooc_environment

    return ooc_environment(cfg)


def _bitfile_preflight(cfg, board):
    from dfx.plugins.synth import bitfile_preflight

    bitfile_preflight(cfg, board)


def _ooc_preflight(cfg, board):
    from dfx.plugins.synth import ooc_preflight

    ooc_preflight(cfg, board)


def _verilator_version(cfg):
    from dfx.errors import ToolNotFoundError
    from dfx.tools import find_verilator

    try:
        return find_verilator().version
    except ToolNotFoundError:
        return None


def _verify_rtlsim(model, x, files_dir, layer_kinds):
    from dfx.plugins.hw import verify_rtlsim

    return verify_rtlsim(model, x, files_dir, layer_kinds)


VIVADO_FIELDS = ("synth_clk_period_ns", "board", "fpga_part",
                 "vivado_path", "vivado_timeout_minutes")
FOLDING_FIELDS = ("target_fps", "synth_clk_period_ns", "mvau_wwidth_max", "board",
                  "folding_objective", "resource_budget_fraction")


@hookimpl
def dfx_register_steps():
    return [
        Step("step_qonnx_to_finn", _step_qonnx_to_finn, verify_as="finn_onnx_python",
             description="check the QONNX model (quantizers, one input, fixed shapes)"),
        Step("step_tidy_up", _step_tidy_up, verify_as="initial_python",
             description="shapes, unique names, datatypes"),
        Step("step_streamline", _step_streamline,
             hooks=("dfx_streamline", "dfx_streamline_op_handlers"),
             verify_as="streamlined_python",
             description="integer MatMuls with threshold activations"),
        Step("step_convert_to_hw", _step_convert_to_hw,
             hooks=("dfx_convert_to_hw", "dfx_convert_node"),
             config_fields=("standalone_thresholds",), uses_layer_kinds=True,
             verify_as="hw_python", description="MVAU / Thresholding hardware layers"),
        Step("step_create_dataflow_partition", _finn_step("step_create_dataflow_partition"),
             uses_layer_kinds=True,
             description="FINN's step; no-op in dfx (the hardware layers are the partition)"),
        Step("step_specialize_layers", _finn_step("step_specialize_layers"),
             uses_layer_kinds=True, config_fields=("specialize_layers_config_file",),
             description="every layer is RTL; writes template_specialize_layers_config.json"),
        Step("step_target_fps_parallelization", _step_target_fps_parallelization,
             hooks=("dfx_folding",), config_fields=FOLDING_FIELDS, uses_layer_kinds=True,
             description="PE/SIMD per layer from target_fps and the clock"),
        Step("step_apply_folding_config", _step_apply_folding_config,
             config_fields=("folding_config_file",), uses_layer_kinds=True,
             description="apply folding_config_file; write final_hw_config.json"),
        Step("step_minimize_bit_width", _finn_step("step_minimize_bit_width"),
             uses_layer_kinds=True, config_fields=("minimize_bit_width",),
             description="widths are minimal from conversion; records them "
                         "(report/minimize_bit_width.json)"),
        Step("step_generate_estimate_reports", _step_generate_estimate_reports,
             hooks=("dfx_estimates",), config_fields=("synth_clk_period_ns", "board"),
             uses_layer_kinds=True, outputs={ESTIMATE_REPORTS},
             description="cycles, resources, network performance, op counts"),
        Step("step_hw_codegen", _step_hw_codegen, hooks=("dfx_hw_codegen",),
             uses_layer_kinds=True, outputs=HW_OUTPUTS,
             config_fields=("split_large_fifos", "large_fifo_mem_style"),
             description="Verilog and memory files for every layer (codegen/)"),
        Step("step_hw_ipgen", _finn_step("step_hw_ipgen"), outputs=HW_OUTPUTS,
             config_fields=("hls_clk_period_ns", "synth_clk_period_ns"),
             description="FINN's HLS synthesis; no-op in dfx (RTL layers), records "
                         "hls_clk_period_ns"),
        Step("step_set_fifo_depths", _step_set_fifo_depths, uses_layer_kinds=True,
             config_fields=("auto_fifo_depths", "fifosim_n_inferences", "auto_fifo_strategy"),
             outputs=HW_OUTPUTS,
             hooks=("dfx_ip_stitch",), environment=_verilator_version,
             description="FIFO depths by Verilator simulation (auto_fifo_depths)"),
        Step("step_create_stitched_ip", _step_create_stitched_ip, hooks=("dfx_ip_stitch",),
             uses_layer_kinds=True, outputs=HW_OUTPUTS, verify_as="rtlsim",
             verifier=_verify_rtlsim,
             # generate_outputs: Vivado packages the IP only when stitched_ip is asked for
             config_fields=(*VIVADO_FIELDS, "generate_outputs", "stitched_ip_gen_dcp"),
             environment=_vivado_version,
             description="one AXI-Stream top with FIFOs and width converters (stitched_ip/), "
                         "packaged as a Vivado IP"),
        Step("step_measure_rtlsim_performance", _step_measure_rtlsim_performance,
             uses_layer_kinds=True, hooks=("dfx_ip_stitch",),
             config_fields=("synth_clk_period_ns", "rtlsim_batch_size", "rtlsim_backpressure"),
             outputs={RTLSIM_PERFORMANCE}, environment=_verilator_version,
             description="cycles, latency and throughput measured by Verilator"),
        Step("step_out_of_context_synthesis", _step_out_of_context_synthesis,
             uses_layer_kinds=True, hooks=("dfx_ooc_synth",),
             config_fields=(*VIVADO_FIELDS, "ooc_synth_tool"), outputs={OOC_SYNTH},
             environment=_synth_tools, preflight=_ooc_preflight,
             description="resources and timing out of context: Vivado, or Yosys without it"),
        Step("step_synthesize_bitfile", _step_synthesize_bitfile, uses_layer_kinds=True,
             hooks=("dfx_bitfile",),
             config_fields=(*VIVADO_FIELDS, "shell_flow_type", "vitis_platform"),
             outputs={BITFILE}, environment=_vivado_version, preflight=_bitfile_preflight,
             description="Zynq shell with DMA and bitstream, or Alveo kernel and link"),
        Step("step_make_pynq_driver", _step_make_pynq_driver, hooks=("dfx_driver",),
             config_fields=("synth_clk_period_ns", "shell_flow_type", "generate_outputs"),
             outputs={PYNQ_DRIVER, DEPLOYMENT_PACKAGE}, environment=_driver_environment,
             description="driver/: driver.py (FINN's flags), io.json, validate.py, sim/"),
        Step("step_deployment_package", _step_deployment_package,
             config_fields=("generate_outputs", "deployment_dataset"),
             outputs={DEPLOYMENT_PACKAGE},
             description="deploy/ and deploy.zip: bitfile, driver, dataset"),
    ]


@hookimpl
def dfx_register_layer_kinds():
    from dfx.plugins.layers.accpool import GlobalAccPool
    from dfx.plugins.layers.maxpool import StreamingMaxPool
    from dfx.plugins.layers.mvau import MVAU
    from dfx.plugins.layers.swg import ConvolutionInputGenerator
    from dfx.plugins.layers.thresholding import Thresholding
    from dfx.plugins.layers.vvau import VVAU

    # later kinds are asked first: the VVAU takes a depthwise MatMul before the MVAU would
    return [MVAU, Thresholding, ConvolutionInputGenerator, StreamingMaxPool, GlobalAccPool,
            VVAU]


# -- stage hooks -------------------------------------------------------------


@hookimpl
def dfx_streamline(model, cfg, ctx):
    from dfx.plugins.streamline import collect_op_handlers, streamline_model

    return streamline_model(model, collect_op_handlers(ctx.hook))


@hookimpl
def dfx_convert_to_hw(model, cfg, ctx):
    from dfx.plugins.convert import convert_to_hw

    return convert_to_hw(model, cfg, ctx)


@hookimpl
def dfx_convert_node(node, model, cfg, ctx):
    from dfx.plugins.convert import match_with_kinds

    return match_with_kinds(node, model, cfg, ctx.layer_kinds)


@hookimpl
def dfx_streamline_op_handlers():
    from dfx.plugins.streamline import builtin_op_handlers

    return builtin_op_handlers()


@hookimpl
def dfx_folding(model, cfg, ctx):
    from dfx.plugins.folding import set_folding

    return set_folding(model, cfg, ctx)


@hookimpl
def dfx_estimates(model, cfg, ctx):
    from dfx.plugins.estimates import generate_estimate_reports

    return generate_estimate_reports(model, cfg, ctx)


@hookimpl
def dfx_hw_codegen(model, cfg, ctx):
    from dfx.plugins.hw import hw_codegen

    return hw_codegen(model, cfg, ctx)


@hookimpl
def dfx_ip_stitch(model, cfg, ctx):
    from dfx.plugins.hw import ip_stitch

    return ip_stitch(model, cfg, ctx)


@hookimpl
def dfx_ooc_synth(model, cfg, ctx):
    from dfx.plugins.synth import out_of_context_synthesis

    return out_of_context_synthesis(model, cfg, ctx)


@hookimpl
def dfx_bitfile(model, cfg, ctx):
    from dfx.plugins.synth import synthesize_bitfile

    return synthesize_bitfile(model, cfg, ctx)


@hookimpl
def dfx_config_fields():
    from dfx.config import ExtraField

    return [ExtraField("deployment_dataset", str, None,
                       "a dataset file (.npz/.npy) copied into deploy/ for validate.py")]


@hookimpl
def dfx_driver(model, cfg, ctx):
    from dfx.plugins.driver import make_pynq_driver

    return make_pynq_driver(model, cfg, ctx)
