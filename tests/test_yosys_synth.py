"""Out-of-context Yosys synthesis of stitched designs (dfx.plugins.yosys_synth).

One small design is built and synthesized once per module (pyosys, xc7): a two-layer MLP
with standalone thresholds (MVAU_0 with block-RAM weights, Thresholding_0, MVAU_1 with
distributed weights, Thresholding_1). Every figure checked comes from that Yosys run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from dfx.errors import ConfigError, StepError, ToolNotFoundError
from dfx.plugins import yosys_synth
from dfx.plugins.yosys_synth import (
    DFX_FAMILIES,
    find_yosys,
    synthesize,
    yosys_family_for,
    yosys_ooc_summary,
)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyosys") is None,
                                reason="needs pyosys (pip install pyosys)")

FOLDING = {"Defaults": {},
           "MVAU_0": {"PE": 2, "SIMD": 4, "ram_style": "block"},
           "MVAU_1": {"PE": 2, "SIMD": 2, "ram_style": "distributed"}}
RESOURCE_COLUMNS = ["LUT", "LUT_logic", "LUTRAM", "SRL", "FF", "BRAM_18K", "URAM", "DSP"]


def _stitched(tmp: Path):
    """A folded small MLP (dfx run up to the folding) and its stitched_ip folder."""
    from dfx.cli import main
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import stitch_to
    from modelgen import Layer, make_mlp

    onnx = tmp / "mlp.onnx"
    make_mlp(32, [Layer(16, act="relu_uint", act_bits=2), Layer(8, act="relu_uint", act_bits=2)],
             input_dt="UINT2", seed=3).save(str(onnx))
    (tmp / "fold.json").write_text(json.dumps(FOLDING))
    assert main(["run", "--plugins", "default", str(onnx), "-o", str(tmp / "build"), "-q",
                 "--standalone-thresholds", "true", "--folding-config-file",
                 str(tmp / "fold.json"), "--stop-step", "step_apply_folding_config"]) == 0
    model = load_model(tmp / "build" / "final_model.onnx")
    kinds = load_plugins("default").layer_kinds
    stitch_to(model, kinds, tmp / "stitched_ip")
    return model, kinds, tmp / "stitched_ip"


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    """Built and synthesized once per test run: pytest-xdist workers share the folder
    (under a file lock) and the pickled result."""
    import pickle

    from filelock import FileLock

    tmp = tmp_path_factory.getbasetemp().parent / "dfx-yosys-design"
    with FileLock(str(tmp) + ".lock"):
        done = tmp / "design.pickle"
        if not done.is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            old = os.environ.get("DFX_CACHE_DIR")
            os.environ["DFX_CACHE_DIR"] = str(tmp / "cache")
            try:
                model, kinds, stitched = _stitched(tmp)
            finally:
                if old is None:
                    os.environ.pop("DFX_CACHE_DIR", None)
                else:
                    os.environ["DFX_CACHE_DIR"] = old
            messages = []
            result = synthesize(stitched, tmp / "synth", family="xc7",
                                part="xc7z020clg400-1", jobs=2, timeout_s=600,
                                on_progress=messages.append)
            estimates = {layer.name: layer.resources() for layer in kinds.hw_layers(model)}
            data = {"stitched": stitched, "result": result, "estimates": estimates,
                    "messages": messages,
                    "info": json.loads((stitched / "stitch.json").read_text())}
            done.write_bytes(pickle.dumps(data))
    return pickle.loads(done.read_bytes())


# -- the synthesis results ---------------------------------------------------------------


@pytest.mark.slow
def test_every_layer_has_a_row_and_the_top_a_total(design):
    result, info = design["result"], design["info"]
    table = result.table
    assert info["layers"] == ["MVAU_0", "Thresholding_0", "MVAU_1", "Thresholding_1"]
    layers = table[table["kind"] == "layer"]
    assert list(layers["layer"]) == info["layers"]
    assert list(layers["op_type"]) == ["MVAU", "Thresholding", "MVAU", "Thresholding"]
    total = table[table["layer"] == "total"]
    assert len(total) == 1 and total.iloc[0]["module"] == "dfx_top"
    assert set(table["tool"]) == {"yosys"} and set(table["family"]) == {"xc7"}
    for name in [*info["layers"], "dfx_top"]:
        run = result.run(name)
        assert run.stat == result.out_dir / f"{name}.stat.json" and run.stat.is_file()
        assert run.log == result.out_dir / f"{name}.yosys.log" and run.log.is_file()
        assert "synth_xilinx -family xc7" in run.log.read_text()
    source = dict(zip(table["layer"], table["source"]))
    assert source["MVAU_0"] == "MVAU_0.stat.json" and source["total"] == "dfx_top.stat.json"
    # nothing half-written is left behind
    assert not list(result.out_dir.glob(".*.tmp"))
    assert any("MVAU_0" in m for m in design["messages"])


@pytest.mark.slow
def test_figures_are_consistent(design):
    table = design["result"].table
    layers = table[table["kind"] == "layer"]
    total = table[table["layer"] == "total"].iloc[0]
    for column in RESOURCE_COLUMNS:
        assert (table[column] >= 0).all()
    assert (layers["FF"] > 0).all() and (layers["LUT"] > 0).all()
    # the top holds every layer plus FIFOs: at least the layers' flip-flops and memories
    assert total["FF"] >= layers["FF"].sum()
    assert total["LUT"] >= layers["LUT"].sum()
    assert total["BRAM_18K"] >= layers["BRAM_18K"].sum()
    assert total["DSP"] >= layers["DSP"].sum()


@pytest.mark.slow
def test_block_weights_map_to_block_ram_and_distributed_ones_do_not(design):
    result = design["result"]
    cells = {}
    for name in ("MVAU_0", "MVAU_1"):
        stat = json.loads(result.run(name).stat.read_text())
        (module,) = stat["modules"].values()
        cells[name] = module["num_cells_by_type"]
    assert any(c.startswith(("RAMB18", "RAMB36")) for c in cells["MVAU_0"])
    assert not any(c.startswith(("RAMB18", "RAMB36")) for c in cells["MVAU_1"])
    table = result.table.set_index("layer")
    assert table.loc["MVAU_0", "BRAM_18K"] >= 1 and table.loc["MVAU_1", "BRAM_18K"] == 0


@pytest.mark.slow
def test_ooc_summary_has_finn_resource_keys_and_no_timing(design):
    summary = yosys_ooc_summary(design["result"])
    total = design["result"].table.set_index("layer").loc["total"]
    assert summary["tool"] == "yosys" and summary["family"] == "xc7"
    assert summary["part"] == "xc7z020clg400-1"
    assert summary["LUT"] == total["LUT"] == total["LUT_logic"] + total["LUTRAM"] + total["SRL"]
    assert summary["LUTRAM"] == total["LUTRAM"] and summary["SRL"] == total["SRL"]
    assert summary["FF"] == total["FF"] and summary["DSP"] == total["DSP"]
    assert summary["BRAM_18K_equivalents"] == total["BRAM_18K"] == \
        summary["BRAM_18K"] + 2 * summary["BRAM_36K"]
    assert summary["BRAM"] == summary["BRAM_36K"] + summary["BRAM_18K"] / 2
    for key in ("WNS", "Delay", "fmax_mhz", "estimated_throughput_fps"):
        assert key not in summary
    json.dumps(summary)  # serialisable as it is


@pytest.mark.slow
def test_estimates_stay_within_the_calibrated_tolerance(design):
    """The calibration (benchmarks/bench_calibrate_estimates.py) on this design: BRAM and
    DSP exact, flip-flops within 10 %, LUTs within 35 % per layer and 25 % on average."""
    table = design["result"].table.set_index("layer")
    errors = []
    for name, estimate in design["estimates"].items():
        row = table.loc[name]
        assert estimate["BRAM_18K"] == row["BRAM_18K"], name
        assert estimate["DSP"] == row["DSP"], name
        assert abs(estimate["FF"] - row["FF"]) <= 0.10 * row["FF"], (name, estimate["FF"],
                                                                      row["FF"])
        luts = row["LUT"]  # logic + LUTRAM + SRL
        errors.append(abs(estimate["LUT"] - luts) / luts)
        assert errors[-1] <= 0.35, (name, estimate["LUT"], luts)
    assert sum(errors) / len(errors) <= 0.25, errors


@pytest.mark.slow
def test_fifos_and_width_converters_once_per_distinct_configuration(tmp_path):
    from dfx.plugins.rtlgen import RTL_LIBRARY

    folder = tmp_path / "stitched_ip"
    folder.mkdir()
    for name in ("dfx_fifo.v", "dfx_dwc.v"):
        shutil.copyfile(RTL_LIBRARY / name, folder / name)
    fifo = {"WIDTH": 8, "DEPTH": 4, "RAM_STYLE": "auto"}
    stages = [{"instance": "fifo_0", "module": "dfx_fifo", "kind": "fifo", "params": fifo},
              {"instance": "dwc_1", "module": "dfx_dwc", "kind": "dwc",
               "params": {"IN_ELEMS": 2, "OUT_ELEMS": 1, "EBITS": 4, "TOTAL_ELEMS": 8}},
              {"instance": "fifo_1", "module": "dfx_fifo", "kind": "fifo", "params": fifo}]
    (folder / "stitch.json").write_text(json.dumps(
        {"top": "dfx_top", "layers": [], "stages": stages,
         "files": ["dfx_dwc.v", "dfx_fifo.v"]}))
    result = synthesize(folder, tmp_path / "out", family="xc7", top=False, fifos=True,
                        jobs=2, timeout_s=600)
    assert [run.name for run in result.runs] == ["fifo_0", "dwc_1"]
    table = result.table.set_index("layer")
    assert list(table.index) == ["fifo_0", "dwc_1", "fifo_1"]
    assert (table["FF"] > 0).all() and list(table["kind"]) == ["fifo", "dwc", "fifo"]
    # equal parameters, one netlist: fifo_1 has fifo_0's figures and stat file
    assert table.loc["fifo_1", "source"] == table.loc["fifo_0", "source"] == "fifo_0.stat.json"
    assert table.loc["fifo_1", "LUT"] == table.loc["fifo_0", "LUT"]


# -- failures ----------------------------------------------------------------------------


def _copy(design, tmp_path) -> Path:
    copy = tmp_path / "stitched_ip"
    shutil.copytree(design["stitched"], copy)
    return copy


@pytest.mark.slow
def test_verilog_syntax_error_is_a_step_error_with_the_first_error_line(design, tmp_path):
    copy = _copy(design, tmp_path)
    wrapper = copy / "MVAU_0.v"  # the first run: it fails at once, the rest never start
    wrapper.write_text(wrapper.read_text().replace("endmodule", "assign = ;\nendmodule", 1))
    with pytest.raises(StepError) as info:
        synthesize(copy, tmp_path / "out", family="xc7", top=False, timeout_s=120)
    message = str(info.value)
    assert "MVAU_0" in message and "ERROR:" in message and "syntax error" in message
    log = tmp_path / "out" / "MVAU_0.yosys.log"
    assert str(log) in message and log.is_file()
    first = next(line for line in log.read_text().splitlines() if "ERROR:" in line)
    assert first.strip() in message
    assert not (tmp_path / "out" / "MVAU_0.stat.json").exists()
    assert not list((tmp_path / "out").glob("*.stat.json"))  # the other runs were stopped
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _processes_running(script: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(script).encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_timeout_kills_the_worker(design, tmp_path):
    with pytest.raises(StepError, match=r"did not finish within 0\.3 s") as info:
        synthesize(design["stitched"], tmp_path / "out", family="xc7", per_layer=False,
                   timeout_s=0.3)
    assert "dfx_top.yosys.log" in str(info.value)
    assert not (tmp_path / "out" / "dfx_top.stat.json").exists()
    assert not list((tmp_path / "out").glob(".*.tmp"))
    assert _processes_running((tmp_path / "out" / "dfx_top.ys").resolve()) == []


def _minimal_stitched(tmp_path) -> Path:
    folder = tmp_path / "stitched_ip"
    folder.mkdir()
    (folder / "dfx_top.v").write_text("module dfx_top(input wire a, output wire b);\n"
                                      "  assign b = a;\nendmodule\n")
    (folder / "stitch.json").write_text(json.dumps({"top": "dfx_top", "layers": [],
                                                    "stages": [], "files": ["dfx_top.v"]}))
    return folder


def test_missing_pyosys_says_how_to_install_it(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "pyosys" else real(name, *a, **k))
    monkeypatch.setenv("PATH", str(tmp_path))  # no yosys executable either
    monkeypatch.delenv("DFX_YOSYS", raising=False)
    with pytest.raises(ToolNotFoundError, match="pip install pyosys"):
        find_yosys()
    with pytest.raises(ToolNotFoundError, match="pip install pyosys"):
        synthesize(_minimal_stitched(tmp_path), tmp_path / "out", family="xc7")
    assert not (tmp_path / "out").exists()  # nothing written without a Yosys
    monkeypatch.setenv("DFX_YOSYS", "no-such-yosys")
    with pytest.raises(ToolNotFoundError, match="DFX_YOSYS"):
        find_yosys()


def test_find_yosys_prefers_pyosys_and_honours_dfx_yosys(monkeypatch, tmp_path):
    monkeypatch.delenv("DFX_YOSYS", raising=False)
    tool = find_yosys()
    assert tool.kind == "pyosys" and "pyosys" in tool.version
    fake = tmp_path / "yosys"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DFX_YOSYS", str(fake))
    tool = find_yosys()
    assert tool.kind == "executable" and tool.executable == str(fake)
    assert tool.command(Path("x.ys")) == [str(fake), "-s", "x.ys"]


VERSAL_BOARD = """\
name: VCK190
part: xcvc1902-vsva2197-2MP-e-S
family: versal
yosys_family: {family}
shell_flow_type: vitis_alveo
platform: xilinx_vck190_base_202320_1
default_clk_ns: 5.0
resources: {{LUT: 899840, FF: 1799680, BRAM_18K: 1934, URAM: 463, DSP: 1968}}
"""


@pytest.mark.parametrize("family", ["xcv", "xcup"])
def test_board_yosys_cannot_map_is_a_config_error(monkeypatch, tmp_path, family):
    from dfx.board_registry import clear_cache

    (tmp_path / "vck190.yaml").write_text(VERSAL_BOARD.format(family=family))
    monkeypatch.setenv("DFX_BOARD_PATH", str(tmp_path))
    clear_cache()
    try:
        with pytest.raises(ConfigError) as info:
            yosys_family_for("VCK190")
    finally:
        clear_cache()
    message = str(info.value)
    assert "VCK190" in message and "xcvc1902-vsva2197-2MP-e-S" in message
    assert "Versal" in message
    for supported in DFX_FAMILIES:
        assert supported in message


def test_family_checks(monkeypatch, tmp_path):
    assert yosys_family_for("Pynq-Z1") == "xc7"
    assert yosys_family_for("U250") == "xcup"
    assert yosys_family_for("KV260_SOM") == "xcup"
    with pytest.raises(ConfigError, match="xcup.*xcu.*xc7"):
        yosys_synth.check_family("versal")
    with pytest.raises(ConfigError, match="do not count"):
        yosys_synth.check_family("xc6s")
    with pytest.raises(ConfigError, match="Versal|no such family"):
        synthesize(tmp_path, tmp_path / "out", family="versal")
    # a family that contradicts the part
    from dfx.board_registry import clear_cache

    (tmp_path / "wrong.yaml").write_text(WRONG_FAMILY_BOARD)
    monkeypatch.setenv("DFX_BOARD_PATH", str(tmp_path))
    clear_cache()
    try:
        with pytest.raises(ConfigError, match=r"Pynq-Wrong.*xc7z020clg400-1.*must be 'xc7'"):
            yosys_family_for("Pynq-Wrong")
    finally:
        clear_cache()


WRONG_FAMILY_BOARD = """\
name: Pynq-Wrong
part: xc7z020clg400-1
family: zynq7000
yosys_family: xcup
shell_flow_type: vivado_zynq
default_clk_ns: 10.0
resources: {LUT: 53200, FF: 106400, BRAM_18K: 280, URAM: 0, DSP: 220}
ps: {type: ps7, name: processing_system7}
"""


def test_not_a_stitched_folder(tmp_path):
    with pytest.raises(StepError, match="no stitch.json"):
        synthesize(tmp_path, tmp_path / "out", family="xc7")


@pytest.mark.slow
def test_keep_going_records_a_failed_run_and_synthesizes_the_chosen_layers(design, tmp_path):
    """keep_going: a broken layer is recorded with its error, the other chosen layer is
    synthesized and the layers not chosen are not run at all."""
    copy = _copy(design, tmp_path)
    wrapper = copy / "MVAU_0.v"
    wrapper.write_text(wrapper.read_text().replace("endmodule", "assign = ;\nendmodule", 1))
    result = synthesize(copy, tmp_path / "out", family="xc7", top=False, timeout_s=120,
                        layers=["MVAU_0", "Thresholding_0"], keep_going=True, jobs=2)
    assert [r.name for r in result.runs] == ["MVAU_0", "Thresholding_0"]
    (failed,) = result.failed
    assert failed.name == "MVAU_0" and "syntax error" in failed.error and not failed.timed_out
    assert list(result.table["layer"]) == ["Thresholding_0"]
    want = design["result"].table.set_index("layer").loc["Thresholding_0"]
    assert int(result.table.iloc[0]["LUT"]) == int(want["LUT"])
    assert not (tmp_path / "out" / "MVAU_1.stat.json").exists()


def test_unknown_layer_is_named(design, tmp_path):
    with pytest.raises(StepError, match="no layer MVAU_9"):
        synthesize(design["stitched"], tmp_path / "out", family="xc7", top=False,
                   layers=["MVAU_9"])


def test_keep_going_records_a_timeout(design, tmp_path):
    # far less than Yosys needs for the layer: the run is stopped and recorded, nothing
    # raised (a limit shorter than the worker's start-up once hung the run: see the note)
    result = synthesize(design["stitched"], tmp_path / "out", family="xc7", top=False,
                        layers=["MVAU_0"], keep_going=True, timeout_s=2.0)
    (failed,) = result.failed
    assert failed.timed_out and "did not finish within" in failed.error
    assert result.table.empty
