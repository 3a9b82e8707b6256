"""Folding: how much parallel hardware each layer gets.

FINN walks each layer greedily, raising SIMD then PE until the layer meets its
cycle budget. dfx instead looks at every valid folding of a layer (the
divisors of its dimensions, the memory styles) and takes the one with the
smallest estimated resources among those that meet the budget; the layers are
independent, so the sum of the per-layer minima is the network minimum.

Two objectives (``folding_objective``):

* ``target_fps``: the cycle budget is ``clock / target_fps`` for every layer;
* ``max_fps_fits_board``: the smallest budget (highest throughput) whose
  cheapest foldings together fit ``resource_budget_fraction`` of the board.

Resources are compared as shares of the board when a board is set, as LUT
equivalents otherwise (see :mod:`dfx.plugins.layers.memory`).
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dfx.errors import ConfigError
from dfx.plugins.layers.memory import board_weights, cost

RESOURCES = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")


@dataclass
class Option:
    folding: dict
    cycles: int
    resources: dict | None
    cost: float
    lanes: int
    #: why the folding is outside the estimates' calibration region (None: inside);
    #: such an option's resources are only estimated once it is chosen
    uncalibrated: str | None = None
    view: object = field(default=None, repr=False, compare=False)
    #: among uncalibrated options of equal parallelism: fewer reasons, then smaller PE
    #: (SIMD before PE, as FINN folds)
    rank: tuple = ()

    def estimate(self, weights) -> None:
        """Fill in the resources of an option evaluated without them."""
        if self.resources is None:
            self.resources = self.view.resources()
            self.cost = cost(self.resources, weights)


def evaluate_options(layer, cfg, weights) -> list[Option]:
    """Every folding of ``layer`` with its cycles, resources and cost, cheapest first.

    Foldings outside the calibration region (a layer's ``calibration_issues``) come last,
    without resources (their estimate would not be supported by any measurement), by
    increasing parallelism."""
    options = []
    for folding in layer.folding_options(cfg):
        view = layer.with_folding(folding)
        lanes = 1
        for key in ("PE", "SIMD"):
            lanes *= int(folding.get(key, 1))
        issues = _calibration_issues(view)
        if issues:
            # ranked by how far outside the region they are, not by an estimate
            options.append(Option(folding, view.cycles(), None, math.inf, lanes,
                                  "; ".join(issues), view,
                                  (len(issues), int(folding.get("PE", 1)))))
            continue
        res = view.resources()
        options.append(Option(folding, view.cycles(), res, cost(res, weights), lanes))
    options.sort(key=lambda o: (o.uncalibrated is not None, o.cost, o.lanes, o.cycles,
                                o.rank))
    return options


def calibrated(options: list[Option]) -> list[Option]:
    return [o for o in options if o.uncalibrated is None]


def cheapest_within(options: list[Option], budget: float) -> Option | None:
    """The cheapest calibrated option within ``budget`` cycles; failing that, the least
    parallel uncalibrated one (options are sorted that way)."""
    for option in options:
        if option.cycles <= budget:
            return option
    return None


def fastest(options: list[Option]) -> Option:
    return min(options, key=lambda o: (o.cycles, o.uncalibrated is not None, o.cost, o.lanes,
                                       o.rank))


def fold_for_budget(all_options: dict[str, list[Option]], budget: float, weights=None):
    """Per layer, the cheapest option within ``budget`` cycles; the misses on their own."""
    chosen, misses = {}, []
    for name, options in all_options.items():
        option = cheapest_within(options, budget)
        if option is None:
            option = fastest(options)
            misses.append((name, option))
        option.estimate(weights)
        chosen[name] = option
    return chosen, misses


def totals(chosen: dict[str, Option]) -> dict[str, float]:
    return {k: sum(o.resources.get(k, 0.0) for o in chosen.values()) for k in RESOURCES}


def fits(total: dict[str, float], board, fraction: float) -> bool:
    return all(total[k] <= fraction * board.resources.get(k, 0) for k in RESOURCES
               if k != "FF" or board.resources.get("FF"))


def set_folding(model, cfg, ctx):
    """The default ``dfx_folding``: choose and apply a folding; write auto_folding_config.json."""
    layers = ctx.layer_kinds.hw_layers(model)
    clk_hz = 1e9 / cfg.synth_clk_period_ns
    weights = board_weights(ctx.board)
    summary: dict = {"objective": cfg.folding_objective}

    if cfg.folding_objective == "max_fps_fits_board":
        if ctx.board is None:
            raise ConfigError("folding_objective 'max_fps_fits_board' needs a board "
                              "(set 'board' in the config or --board)")
        # every option's estimate is compared here: only the calibrated ones have one
        all_options = {layer.name: calibrated(evaluate_options(layer, cfg, weights))
                       for layer in layers}
        budgets = sorted({o.cycles for opts in all_options.values() for o in opts})
        chosen = None
        for budget in budgets:  # smallest budget = highest throughput first
            candidate, misses = fold_for_budget(all_options, budget, weights)
            if not misses and fits(totals(candidate), ctx.board, cfg.resource_budget_fraction):
                chosen = candidate
                summary["cycle_budget"] = budget
                break
        if chosen is None:  # nothing fits: the cheapest folding of every layer
            chosen = {name: min(opts, key=lambda o: o.cost) for name, opts in
                      all_options.items()}
            ctx.log.warning("even the smallest folding does not fit %.0f%% of %s",
                            100 * cfg.resource_budget_fraction, ctx.board.name)
            summary["fits_board"] = False
        else:
            summary["fits_board"] = True
    elif cfg.target_fps is None:
        ctx.log.info("no target_fps: layers keep their folding (PE=SIMD=1 unless a folding "
                     "config sets it)")
        summary["cycle_budget"] = None
        chosen = {layer.name: Option(layer.folding(), layer.cycles(), layer.resources(), 0.0, 1,
                                     _calibration_issue(layer))
                  for layer in layers}
    else:
        budget = clk_hz / cfg.target_fps
        all_options = {layer.name: evaluate_options(layer, cfg, weights) for layer in layers}
        chosen, misses = fold_for_budget(all_options, budget, weights)
        summary["cycle_budget"] = budget
        if misses:
            worst_name, worst = max(misses, key=lambda m: m[1].cycles)
            reach = clk_hz / worst.cycles
            message = (
                f"target_fps {cfg.target_fps:g} ({budget:g} cycles per frame at "
                f"{clk_hz / 1e6:g} MHz) cannot be met: layer {worst_name} needs at least "
                f"{worst.cycles} cycles with mvau_wwidth_max {cfg.mvau_wwidth_max}, so the "
                f"network reaches {reach:,.0f} fps"
            )
            ctx.log.warning(message)
            ctx.progress(message)
            summary["target_met"] = False
            summary["limiting_layer"] = worst_name
            summary["reachable_fps"] = reach
            summary["message"] = message
        else:
            summary["target_met"] = True

    outside = {name: o.uncalibrated for name, o in chosen.items() if o.uncalibrated}
    if outside:
        summary["outside_calibration"] = outside
        for name, why in outside.items():
            if cfg.target_fps is None and cfg.folding_objective != "max_fps_fits_board":
                ctx.log.warning("layer %s: folding %s is outside the estimates' calibration "
                                "(%s); its estimate is not supported by a measurement", name,
                                _describe(chosen[name].folding), why)
            else:
                ctx.log.warning("layer %s: no folding inside the estimates' calibration meets "
                                "the cycle budget; chose %s, the least parallel that does, "
                                "whose estimate is outside the calibration (%s)", name,
                                _describe(chosen[name].folding), why)
    by_name = {layer.name: layer for layer in layers}
    for name, option in chosen.items():
        by_name[name].set_folding(option.folding)
    max_cycles = max(layer.cycles() for layer in layers)
    summary["estimated_fps"] = clk_hz / max_cycles
    summary["total_resources"] = totals(chosen)
    summary["layers"] = {name: {"cycles": o.cycles, **o.folding} for name, o in chosen.items()}
    ctx.write_json("auto_folding_config.json", hw_config(model, ctx))
    ctx.write_report("folding_summary.json", summary)
    return model


def _calibration_issues(layer) -> list[str]:
    # layer kinds without a calibration region count as calibrated
    check = getattr(layer, "calibration_issues", None)
    return check() if check is not None else []


def _calibration_issue(layer) -> str | None:
    return "; ".join(_calibration_issues(layer)) or None


def _describe(folding: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in folding.items())


def hw_config(model, ctx) -> dict:
    """The folding of every hardware layer, in FINN's folding config format."""
    config: dict = {"Defaults": {}}
    for layer in ctx.layer_kinds.hw_layers(model):
        config[layer.name] = layer.folding()
    return config


def apply_folding_config(model, cfg, ctx):
    """Apply ``folding_config_file`` (FINN's JSON format); write final_hw_config.json."""
    if cfg.folding_config_file:
        from dfx.folding_config import read_folding_config

        path = Path(cfg.folding_config_file)
        _apply(model, read_folding_config(path), path, ctx)
    ctx.write_json("final_hw_config.json", hw_config(model, ctx))
    return model


def _apply(model, data: dict, path: Path, ctx) -> None:
    """Check every entry against the model's layers, then apply them all (or none)."""
    from dfx.folding_config import (
        FINN_ONLY_PREFIXES,
        IGNORED_ATTRIBUTES,
        check_value,
        folding_config_error,
        layer_name,
        split_default,
    )

    layers = {layer.name: layer for layer in ctx.layer_kinds.hw_layers(model)}
    problems: list[str] = []
    foldings: dict[str, dict] = {name: {} for name in layers}
    where: dict[tuple[str, str], str] = {}  # (layer, attr) -> the key that set it
    defaults = data.get("Defaults", {}) or {}
    if not isinstance(defaults, dict):
        problems.append(f"Defaults must be an object of attributes, got {defaults!r}")
        defaults = {}
    for attr, spec in defaults.items():
        # FINN: "attr": [value, ["OpType", ...]], [value, "all"], or "attr": value
        value, kinds = split_default(spec)
        for layer in layers.values():
            kind_names = {layer.op_type, f"{layer.op_type}_hls", f"{layer.op_type}_rtl"}
            if (kinds is None or kind_names & set(kinds)) and attr in layer.folding_attributes:
                foldings[layer.name][attr] = value
                where[layer.name, attr] = f"Defaults.{attr} (for {layer.name})"
    for key, values in data.items():
        if key == "Defaults":
            continue
        name = layer_name(key)
        if name not in layers:
            if key.startswith(FINN_ONLY_PREFIXES):
                ctx.log.warning("folding config %s: %r has no counterpart in this build; "
                                "ignored", path, key)
                continue
            close = difflib.get_close_matches(name, list(layers), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"layer {key!r} is not in the model{hint} "
                            f"(layers: {', '.join(layers)})")
            continue
        layer = layers[name]
        if not isinstance(values, dict):
            problems.append(f"{key!r} must map to an object of attributes")
            continue
        for attr, value in values.items():
            if attr in layer.folding_attributes:
                foldings[name][attr] = value
                where[name, attr] = f"{key}.{attr}"
            elif attr in layer.attributes or attr in IGNORED_ATTRIBUTES:
                ctx.log.info("folding config %s: %s.%s is not a folding attribute; ignored",
                             path, key, attr)
            else:
                problems.append(f"{key}.{attr} is not an attribute of "
                                f"{layer.op_type} (folding attributes: "
                                f"{', '.join(layer.folding_attributes)})")
    for name, folding in foldings.items():
        layer = layers[name]
        bad = False
        for attr, value in folding.items():
            why = check_value(attr, value, [type(layer)], layer)
            if why:
                problems.append(f"{where[name, attr]} {why}")
                bad = True
        if bad or not folding:
            continue
        # the kind's own rules (memory styles, ...), now that the numbers are sound
        why = layer.check_folding(folding) or _check_fifo_depths(folding)
        if why:
            problems.append(f"{name}: {why}")
    if problems:
        raise folding_config_error(path, problems)
    from dfx.dataflow import DataflowGraph

    graph = DataflowGraph(model, ctx.layer_kinds)
    user_set: set[str] = set()
    for name, folding in foldings.items():
        if not folding:
            continue
        layers[name].set_folding(folding)
        for key in ("inFIFODepths", "outFIFODepths"):
            if key in folding:
                user_set.update(graph.fifos_set_by(name, key)[:len(folding[key])])
    if user_set:
        # FIFO sizing keeps the depths the user chose (see plugins/hw.py).
        model.set_metadata_prop("dfx_user_fifo_depths", json.dumps(sorted(user_set)))


def _check_fifo_depths(folding: dict) -> str | None:
    for key in ("inFIFODepths", "outFIFODepths"):
        if key in folding:
            value = folding[key]
            if not (isinstance(value, list) and value and all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
                return f"{key} must be a list of depths >= 1 (one per stream), got {value!r}"
    return None
