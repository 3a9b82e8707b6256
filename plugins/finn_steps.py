"""FINN's steps that have little or no work to do in dfx.

FINN's step lists (``estimate_only_dataflow_steps``, ``default_build_dataflow_steps``)
name steps that exist because of how FINN builds: a dataflow partition around the
hardware nodes, a choice between HLS and RTL variants, HLS synthesis of every
layer. dfx's hardware is one RTL chain, so these steps run as no-ops that say so
in the build log, and write the files FINN's users look for.
"""

from __future__ import annotations

import json

from dfx.errors import ConfigError

#: FINN's folding-config key for the layer variant.
IMPL_STYLE = "preferred_impl_style"


def step_create_dataflow_partition(model, cfg, ctx):
    """FINN moves the hardware nodes into a child model; dfx keeps one model."""
    n = len(ctx.layer_kinds.hw_layers(model))
    ctx.log.info("step_create_dataflow_partition: no-op in dfx: the %d hardware layers "
                 "already form the one dataflow partition", n)
    return model


def step_specialize_layers(model, cfg, ctx):
    """Write FINN's template_specialize_layers_config.json; every dfx layer is RTL.

    A ``specialize_layers_config_file`` is read and checked (it must be FINN's JSON
    mapping); a layer it asks to be HLS is built as RTL, and the log says so.
    """
    layers = ctx.layer_kinds.hw_layers(model)
    template = {"Defaults": {}}
    for layer in layers:
        template[layer.name] = {IMPL_STYLE: "rtl"}
    ctx.write_json("template_specialize_layers_config.json", template)
    path = cfg.specialize_layers_config_file
    if path:
        try:
            data = json.loads(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"specialize_layers_config_file {path!r}: cannot be read as "
                              f"JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"specialize_layers_config_file {path!r}: expected a JSON "
                              f"mapping of layer names")
        for name, entry in data.items():
            style = entry.get(IMPL_STYLE) if isinstance(entry, dict) else None
            if style and style != "rtl":
                ctx.log.warning("specialize_layers_config_file: %s asks for %s=%r; dfx "
                                "builds it as rtl (dfx has RTL layers only)", name,
                                IMPL_STYLE, style)
    ctx.log.info("step_specialize_layers: every layer is RTL (%d layers); "
                 "template_specialize_layers_config.json written", len(layers))
    return model


def step_minimize_bit_width(model, cfg, ctx):
    """dfx sizes the widths from the value ranges at conversion; record them here."""
    widths = {}
    for layer in ctx.layer_kinds.hw_layers(model):
        entry = {"input": layer.input_datatype().name, "output": layer.output_datatype().name}
        if hasattr(layer, "weight_datatype"):
            entry["weights"] = layer.weight_datatype().name
        if hasattr(layer, "acc_dt_from_range"):
            entry["accumulator"] = layer.acc_dt_from_range().name
        widths[layer.name] = entry
    ctx.write_report("minimize_bit_width.json", widths)
    ctx.log.info("step_minimize_bit_width: widths are already minimal (taken from the value "
                 "ranges at conversion): %s", widths)
    return model


def step_hw_ipgen(model, cfg, ctx):
    """FINN synthesizes each HLS layer here; dfx's layers are RTL, so there is nothing to do.

    ``hls_clk_period_ns`` is recorded in report/hw_ipgen.json for the HLS layers to come.
    """
    hls_clk = cfg.hls_clk_period_ns
    ctx.write_report("hw_ipgen.json", {
        "hls_layers": 0,
        "hls_clk_period_ns": hls_clk,
        "hls_clk_period_ns_effective": hls_clk if hls_clk is not None
        else cfg.synth_clk_period_ns,
        "note": "dfx's layers are RTL: no HLS synthesis runs",
    })
    ctx.log.info("step_hw_ipgen: no-op in dfx: every layer is RTL, no HLS synthesis")
    return model

