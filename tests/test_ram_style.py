"""``ram_style`` as Vivado users read it: distributed = LUTs, block = block RAM, in the RTL
attributes, in the estimates and in a real Yosys run (pyosys, synth_xilinx xc7).

The weight ROMs are 2048 words deep: deep enough that Yosys' own cost model would put
them in block RAM, so "distributed" is only honoured if the RTL says so.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyosys") is None,
                                reason="needs pyosys (pip install pyosys)")

FOLDING = {"Defaults": {},
           "MVAU_0": {"PE": 1, "SIMD": 4, "ram_style": "distributed"},
           "Thresholding_0": {"PE": 1, "ram_style": "block"},
           "MVAU_1": {"PE": 1, "SIMD": 2, "ram_style": "block"},
           "Thresholding_1": {"PE": 1, "ram_style": "distributed"}}
BLOCK = ("RAMB18", "RAMB36")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    from dfx.cli import main
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import stitch_to
    from dfx.plugins.yosys_synth import synthesize
    from modelgen import Layer, make_mlp

    tmp = tmp_path_factory.mktemp("ram_style")
    onnx = tmp / "mlp.onnx"
    make_mlp(128, [Layer(64, weight_bits=2, act_bits=2), Layer(64, weight_bits=2, act_bits=2)],
             input_dt="UINT2", seed=4).save(str(onnx))
    (tmp / "fold.json").write_text(json.dumps(FOLDING))
    assert main(["run", "--plugins", "default", str(onnx), "-o", str(tmp / "build"), "-q",
                 "--no-cache", "--standalone-thresholds", "true", "--folding-config-file",
                 str(tmp / "fold.json"), "--stop-step", "step_apply_folding_config"]) == 0
    model = load_model(tmp / "build" / "final_model.onnx")
    kinds = load_plugins("default").layer_kinds
    stitch_to(model, kinds, tmp / "stitched_ip")
    result = synthesize(tmp / "stitched_ip", tmp / "synth", family="xc7",
                        part="xc7z020clg400-1", jobs=2, timeout_s=900, top=False)
    cells = {}
    for name in FOLDING:
        if name != "Defaults":
            stat = json.loads(result.run(name).stat.read_text())
            (module,) = stat["modules"].values()
            cells[name] = module["num_cells_by_type"]
    estimates = {layer.name: layer.resources() for layer in kinds.hw_layers(model)}
    return {"cells": cells, "estimates": estimates, "stitched": tmp / "stitched_ip"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MVAU_0", "Thresholding_0", "MVAU_1", "Thresholding_1"])
def test_yosys_and_estimate_follow_ram_style(synthesized, name):
    blocks = sum(n for cell, n in synthesized["cells"][name].items() if cell.startswith(BLOCK))
    estimate = synthesized["estimates"][name]["BRAM_18K"]
    if FOLDING[name]["ram_style"] == "block":
        assert blocks >= 1 and estimate >= 1, (name, synthesized["cells"][name])
    else:
        assert blocks == 0 and estimate == 0, (name, synthesized["cells"][name])
    assert estimate == blocks  # every block here is a RAMB18


@pytest.mark.slow
def test_rtl_carries_the_style(synthesized):
    wrappers = {p.stem: p.read_text() for p in Path(synthesized["stitched"]).rglob("*.v")}
    for name, fold in FOLDING.items():
        if name == "Defaults":
            continue
        (text,) = [t for stem, t in wrappers.items() if stem == name]
        assert f'"{fold["ram_style"]}"' in text, name


def test_distributed_rom_is_logic_in_the_estimate_even_where_block_ram_is_cheaper():
    from dfx.plugins.layers.memory import bram_mapping, rom_in_block_ram

    depth, width = 2048, 8
    assert bram_mapping(depth, width)[0] < depth * width / 64  # Yosys alone: block RAM
    assert rom_in_block_ram(depth, width, "auto")
    assert not rom_in_block_ram(depth, width, "distributed")
    assert rom_in_block_ram(depth, width, "block") and rom_in_block_ram(depth, width, "ultra")
