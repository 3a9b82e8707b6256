"""A Python API shaped like FINN's builder.

FINN users write::

    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as build_cfg

    cfg = build.DataflowBuildConfig(
        output_dir=..., steps=build_cfg.estimate_only_dataflow_steps,
        generate_outputs=[build_cfg.DataflowOutputType.ESTIMATE_REPORTS], ...)
    build.build_dataflow_cfg(model_file, cfg)

With dfx only the import lines change (``import dfx as build``, ``import dfx as
build_cfg``); every name is importable from the top-level ``dfx`` package.
The config is validated when it is built; :func:`build_dataflow_cfg` returns 0
on success and -1 on failure, as FINN's does.
"""

from __future__ import annotations

import sys

#: FINN's estimate_only_dataflow_steps, in FINN's order.
estimate_only_dataflow_steps = [
    "step_qonnx_to_finn",
    "step_tidy_up",
    "step_streamline",
    "step_convert_to_hw",
    "step_create_dataflow_partition",
    "step_specialize_layers",
    "step_target_fps_parallelization",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
]

#: FINN's hw_only_dataflow_steps: from hardware code generation on.
hw_only_dataflow_steps = [
    "step_hw_codegen",
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis",
    "step_synthesize_bitfile",
    "step_make_pynq_driver",
    "step_deployment_package",
]

#: FINN's default_build_dataflow_steps, in FINN's order.
default_build_dataflow_steps = estimate_only_dataflow_steps + hw_only_dataflow_steps


def build_dataflow_cfg(model_filename, cfg, plugins: str = "default") -> int:
    """Build ``model_filename`` with the :class:`~dfx.config.DataflowBuildConfig` ``cfg``.

    model_filename: the QONNX model file.
    cfg:            a DataflowBuildConfig (built directly or by make_config);
                    ``output_dir`` must be set, as in FINN.
    plugins:        the plugins to load, as ``dfx run --plugins`` takes them.

    Returns 0 when the build succeeded and -1 when it failed (FINN's values);
    the reason is printed to stderr and written to ``build_dataflow.log``.
    """
    from dfx.errors import ConfigError, DfxError

    try:
        if not cfg.output_dir:
            raise ConfigError("output_dir: DataflowBuildConfig needs an output folder "
                              "(FINN requires it too)")
        _build(model_filename, cfg, plugins)
    except DfxError as exc:
        print(f"dfx: error: {exc}", file=sys.stderr)
        return -1
    print(f"Completed successfully; outputs in {cfg.output_dir}", file=sys.stderr)
    return 0


def _build(model_filename, cfg, plugins: str):
    from dfx.board_registry import get_board
    from dfx.cache import ArtifactCache
    from dfx.config import apply_board
    from dfx.pipeline import Build
    from dfx.plugin_manager import load_plugins

    loaded = load_plugins(plugins)
    for extra in loaded.config_fields():  # a config built directly lacks plugin defaults
        cfg.extra.setdefault(extra.name, extra.default)
    board = apply_board(cfg, get_board)
    build = Build(model_filename, cfg, loaded, ArtifactCache(), board=board)
    return build.run()
