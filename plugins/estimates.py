"""Estimate reports, under FINN's file names and keys.

* ``estimate_layer_cycles.json``:       {layer: cycles per frame}
* ``estimate_layer_resources.json``:    {layer: {LUT, FF, BRAM_18K, URAM, DSP, efficiencies}, total}
* ``estimate_network_performance.json``: critical_path_cycles, max_cycles,
  max_cycles_node_name, estimated_throughput_fps, estimated_latency_ns (FINN's
  keys), and critical_path_layers

The layers form a dataflow graph (:mod:`dfx.dataflow`): the throughput is the
slowest layer's, the latency the longest path through the graph (for a chain,
the sum over all layers; with forks and joins, the slowest branch counts).
* ``op_and_param_counts.json``:         {layer: {op_mac_..., param_...}, total}
"""

from __future__ import annotations

from collections import Counter


def generate_estimate_reports(model, cfg, ctx):
    from dfx.dataflow import DataflowGraph

    graph = DataflowGraph(model, ctx.layer_kinds)
    layers = graph.layers
    cycles = {layer.name: int(layer.cycles()) for layer in layers}

    resources: dict = {}
    total: Counter = Counter()
    for layer in layers:
        res = {k: (int(v) if float(v).is_integer() and not k.endswith("efficiency") else v)
               for k, v in layer.resources().items()}
        resources[layer.name] = res
        for key in ("LUT", "FF", "BRAM_18K", "URAM", "DSP"):
            total[key] += res.get(key, 0)
    resources["total"] = {k: total[k] for k in ("BRAM_18K", "FF", "LUT", "URAM", "DSP")}

    counts: dict = {}
    count_total: Counter = Counter()
    for layer in layers:
        c = layer.op_and_param_counts()
        counts[layer.name] = c
        count_total.update(c)
    counts["total"] = dict(count_total)

    max_name = max(cycles, key=cycles.get)
    max_cycles = cycles[max_name]
    critical, path = graph.critical_path(cycles)
    performance = {
        "critical_path_cycles": critical,
        "max_cycles": max_cycles,
        "max_cycles_node_name": max_name,
        "estimated_throughput_fps": 1e9 / (max_cycles * cfg.synth_clk_period_ns),
        "estimated_latency_ns": critical * cfg.synth_clk_period_ns,
        "critical_path_layers": path,
    }
    ctx.write_report("estimate_layer_cycles.json", cycles)
    ctx.write_report("estimate_layer_resources.json", resources)
    ctx.write_report("op_and_param_counts.json", counts)
    ctx.write_report("estimate_network_performance.json", performance)
    ctx.write_report("estimate_layer_config_alternatives.json", config_alternatives(layers))
    if ctx.board is not None:
        util = {k: (total[k] / ctx.board.resources[k] if ctx.board.resources.get(k) else None)
                for k in ("LUT", "FF", "BRAM_18K", "URAM", "DSP")}
        ctx.write_report("estimate_board_utilization.json",
                         {"board": ctx.board.name, "part": ctx.board.part, "utilization": util})
    return model


def config_alternatives(layers) -> dict:
    """FINN's estimate_layer_config_alternatives.json: per layer, the resource estimate of
    each memory style at the layer's folding (its current style first)."""
    out = {}
    for layer in layers:
        styles = list(getattr(layer, "memory_styles", ()))
        current = layer.folding().get("ram_style")
        if not styles or current is None:
            out[layer.name] = [dict(layer.resources(), ram_style=current)]
            continue
        order = [current] + [s for s in styles if s != current]
        out[layer.name] = [dict(layer.with_folding({"ram_style": s}).resources(), ram_style=s)
                           for s in order]
    return out
