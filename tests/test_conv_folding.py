"""Folding of the convnets against FINN's (issue 12): the targets, the cost of FINN's
folding priced by dfx's own estimates, the folding JSON of every new kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import model_dir, read_json
from dfx.cli import main
from finn_conv import FINN_FIGURES, FINN_FOLDINGS, lanes, write_finn_folding_config

BOARD = "Pynq-Z1"  # FINN's figures are for xc7z020


def build(tmp_path: Path, name: str, *args) -> Path:
    out = tmp_path / name
    assert main(["run", "--plugins", "default", str(model_dir(args[0]) / "model.onnx"), "-o",
                 str(out), "-q", "--board", BOARD, "--mvau-wwidth-max", "36",
                 "--synth-clk-period-ns", "10", *args[1:]]) == 0
    return out


def board_cost(out: Path) -> float:
    from dfx.board_registry import get_board
    from dfx.plugins.layers.memory import board_weights, cost

    total = read_json(out / "report" / "estimate_layer_resources.json")["total"]
    return cost(total, board_weights(get_board(BOARD)))


@pytest.mark.parametrize("model, fps", sorted(FINN_FOLDINGS))
def test_dfx_folding_meets_target_and_costs_no_more_than_finns(tmp_path, model, fps):
    dfx_out = build(tmp_path, "dfx", model, "--target-fps", str(fps))
    perf = read_json(dfx_out / "report" / "estimate_network_performance.json")
    summary = read_json(dfx_out / "report" / "folding_summary.json")
    assert summary["target_met"] and perf["max_cycles"] <= 1e8 / fps
    cycles = read_json(dfx_out / "report" / "estimate_layer_cycles.json")
    assert max(cycles.values()) == perf["max_cycles"] <= summary["cycle_budget"]

    config = write_finn_folding_config(dfx_out, model, fps, tmp_path / "finn.json")
    finn_out = build(tmp_path, "finn", model, "--target-fps", str(fps),
                     "--folding-config-file", str(config))
    finn_hw = read_json(finn_out / "final_hw_config.json")
    assert [(v["PE"], v["SIMD"]) for k, v in finn_hw.items() if k.startswith("MVAU")] == \
        FINN_FOLDINGS[model, fps]
    assert lanes(finn_hw) == FINN_FIGURES[model, fps][2]  # the same folding as FINN's
    assert board_cost(dfx_out) <= board_cost(finn_out)
    dfx_lanes = lanes(read_json(dfx_out / "final_hw_config.json"))
    if (model, fps) == ("cnv-digits-w2a2", 10_000):
        # FINN's 7 lanes are the fewest that meet 10,000 cycles: the 16 x 144 layer of
        # 16 pixels needs 4 (3 lanes give 16*144*16/3 = 12,288 cycles)
        assert dfx_lanes == 7
    else:
        assert dfx_lanes < lanes(finn_hw)


def test_window_generators_are_balanced_to_the_budget(tmp_path):
    """The window generator gets the cheapest folding that meets the budget, not the most
    parallel one (at 100k fps on cnv-pad)."""
    out = build(tmp_path, "b", "cnv-pad-w4a4", "--target-fps", "100000")
    hw = read_json(out / "final_hw_config.json")
    cycles = read_json(out / "report" / "estimate_layer_cycles.json")
    first = hw["ConvolutionInputGenerator_0"]
    # 3 channels: one word of 3 channels a cycle is 1296 cycles (> 1000), so it reads a
    # window row (3 words) at once: 432 cycles
    assert (first["SIMD"], first["M"]) == (3, 3) and cycles["ConvolutionInputGenerator_0"] == 432
    assert all(c <= 1000 for c in cycles.values())


def test_folding_json_round_trips_for_every_kind(tmp_path):
    """auto_folding_config.json names every layer with its kind's folding attributes; fed
    back as folding_config_file (with FINN's _rtl/_hls names) it gives the same folding."""
    out = build(tmp_path, "a", "cnv-digits-w2a2", "--target-fps", "100000")
    auto = read_json(out / "auto_folding_config.json")
    kinds = {name.rsplit("_", 1)[0] for name in auto if name != "Defaults"}
    assert kinds == {"ConvolutionInputGenerator", "MVAU", "StreamingMaxPool"}
    assert set(auto["ConvolutionInputGenerator_1"]) >= {"SIMD", "M", "ram_style",
                                                        "inFIFODepths", "outFIFODepths"}
    finn_names = {}
    for name, values in auto.items():
        kind, index = name.rsplit("_", 1) if name != "Defaults" else (name, "")
        suffix = {"ConvolutionInputGenerator": "rtl", "MVAU": "hls",
                  "StreamingMaxPool": "hls"}.get(kind)
        finn_names[f"{kind}_{suffix}_{index}" if suffix else name] = values
    finn_names["FMPadding_rtl_0"] = {"SIMD": 1}  # dfx folds padding into the generator
    (tmp_path / "fold.json").write_text(json.dumps(finn_names))
    again = build(tmp_path, "b", "cnv-digits-w2a2", "--folding-config-file",
                  str(tmp_path / "fold.json"))
    assert read_json(again / "final_hw_config.json") == read_json(out / "final_hw_config.json")


def test_folding_config_errors_name_the_new_kinds(tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps({"ConvolutionInputGenerator_0": {"SIMD": 2},
                                                   "StreamingMaxPool_0": {"PE": 3}}))
    code = main(["run", "--plugins", "default", str(model_dir("cnv-pad-w4a4") / "model.onnx"),
                 "-o", str(tmp_path / "o"), "-q", "--folding-config-file",
                 str(tmp_path / "bad.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "ConvolutionInputGenerator_0.SIMD must be a positive integer that divides " \
           "IFMChannels=3, got 2" in err
    assert "StreamingMaxPool_0.PE must be a positive integer that divides NumChannels=16" in err


def test_max_fps_fits_board_on_a_convnet(tmp_path):
    out = build(tmp_path, "b", "cnv-pad-w4a4", "--set", "folding_objective=max_fps_fits_board")
    summary = read_json(out / "report" / "folding_summary.json")
    assert summary["fits_board"] is True
    perf = read_json(out / "report" / "estimate_network_performance.json")
    assert perf["max_cycles"] == summary["cycle_budget"]
    util = read_json(out / "report" / "estimate_board_utilization.json")["utilization"]
    assert all(v is None or v <= 0.85 for v in util.values())
    assert perf["estimated_throughput_fps"] > 100_000  # far beyond the 100k folding
