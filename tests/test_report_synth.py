"""FINN's synthesis JSON files from real Vivado reports, and `dfx report` on files and on two
builds. Every figure checked here is one the fixture files hold."""

import json
from pathlib import Path

import pandas as pd
import pytest

from dfx.cli import main
from dfx.reports import (
    compare_builds,
    detect_report_kind,
    read_report,
    read_vivado_timing_summary,
    read_vivado_utilization,
    read_vivado_utilization_hierarchical,
)
from dfx.reports.synth import (
    TOP_KEY,
    layer_resources_from_hierarchy,
    ooc_from_vivado,
    post_synth_resources,
    synth_layer_table,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vivado"
REPO = Path(__file__).resolve().parents[1]
CYBSEC = REPO / "examples" / "models" / "cybsec-mlp-w2a2" / "model.onnx"


def test_ooc_json_from_vivado_reports_has_finns_keys_and_the_files_figures():
    flat = read_vivado_utilization(FIXTURES / "util_xczu7ev_flat.rpt")
    timing = read_vivado_timing_summary(FIXTURES / "timing_summary_met.rpt")
    ooc = ooc_from_vivado(flat, timing, clk_period_ns=10.0, max_cycles=100, folder="ooc")
    # util_xczu7ev_flat.rpt: CLB LUTs 86343, LUT as Distributed RAM 2756, as Shift Register
    # 402, Registers
    # 50450, RAMB36 15, RAMB18 14 (22 tiles), URAM 1, DSPs 303, CARRY8 2987
    assert (ooc["LUT"], ooc["LUTRAM"], ooc["SRL"], ooc["FF"]) == (86343, 2756, 402, 50450)
    assert (ooc["BRAM_36K"], ooc["BRAM_18K"], ooc["BRAM"]) == (15, 14, 22.0)
    assert (ooc["URAM"], ooc["DSP"], ooc["Carry"]) == (1, 303, 2987)
    # timing_summary_met.rpt: WNS 4.010 ns
    assert ooc["WNS"] == pytest.approx(4.01)
    assert (ooc["TNS"], ooc["WHS"], ooc["THS"], ooc["timing_met"]) == (0.0, 0.089, 0.0, True)
    assert ooc["Delay"] == pytest.approx(5.99)
    assert ooc["fmax_mhz"] == pytest.approx(1000 / 5.99)
    assert ooc["estimated_throughput_fps"] == pytest.approx(1000 / 5.99 * 1e6 / 100)
    assert ooc["tool"] == "vivado" and ooc["part"] == "xczu7ev-ffvc1156-2-e"
    json.dumps(ooc)  # plain JSON types only


def test_failed_timing_gives_fmax_below_the_target():
    flat = read_vivado_utilization(FIXTURES / "util_xc7z020_flat.rpt")
    timing = read_vivado_timing_summary(FIXTURES / "timing_summary_failed.rpt")
    ooc = ooc_from_vivado(flat, timing, clk_period_ns=10.0, max_cycles=None, folder="x")
    assert ooc["WNS"] == pytest.approx(-0.59)
    assert (ooc["TNS"], ooc["timing_met"]) == (-6.542, False)
    assert ooc["fmax_mhz"] == pytest.approx(1000 / 10.59)
    assert "estimated_throughput_fps" not in ooc


def test_layers_found_in_a_hierarchy_and_the_accelerator_row():
    table = read_vivado_utilization_hierarchical(FIXTURES / "util_hier_xczu9eg.rpt")
    per = layer_resources_from_hierarchy(table, ["ConCtrl", "ExCtrl", "not_there"])
    assert per["ConCtrl"] == {"LUT": 34, "LUTRAM": 0, "SRL": 0, "FF": 170, "BRAM_18K": 0,
                              "URAM": 0, "DSP": 0}
    assert per["ExCtrl"]["LUT"] == 181 and per["ExCtrl"]["FF"] == 110
    assert "not_there" not in per
    assert per[TOP_KEY]["LUT"] == 4456 and per[TOP_KEY]["BRAM_18K"] == 63


def test_post_synth_json_round_trips_through_detection_and_the_layer_table(tmp_path):
    table = read_vivado_utilization_hierarchical(FIXTURES / "util_hier_xczu9eg.rpt")
    data = post_synth_resources(layer_resources_from_hierarchy(table, ["ConCtrl", "ExCtrl"]),
                                "vivado", "util_hier_xczu9eg.rpt")
    (tmp_path / "report").mkdir()
    path = tmp_path / "report" / "post_synth_resources.json"
    path.write_text(json.dumps(data))
    assert detect_report_kind(path) == "dfx_post_synth_resources"
    df = read_report(path)
    assert list(df["layer"]) == ["ConCtrl", "ExCtrl", TOP_KEY]
    layers = synth_layer_table(tmp_path)
    assert list(layers["layer"]) == ["ConCtrl", "ExCtrl"]
    assert layers.loc[1, "LUT"] == 181 and layers.loc[1, "tool"] == "vivado"


def test_ooc_json_is_detected(tmp_path):
    flat = read_vivado_utilization(FIXTURES / "util_xczu7ev_flat.rpt")
    timing = read_vivado_timing_summary(FIXTURES / "timing_summary_met.rpt")
    path = tmp_path / "ooc_synth_and_timing.json"
    path.write_text(json.dumps(ooc_from_vivado(flat, timing, clk_period_ns=10.0,
                                               max_cycles=100, folder="ooc")))
    assert detect_report_kind(path) == "dfx_ooc_synth"
    row = read_report(path).iloc[0]
    assert row["LUT"] == 86343 and row["WNS"] == pytest.approx(4.01)


@pytest.mark.parametrize("name, kind, first_column", [
    ("util_hier_xczu9eg.rpt", "vivado_utilization_hierarchical", "instance"),
    ("util_xc7z020_flat.rpt", "vivado_utilization", "LUT"),
    ("timing_summary_failed.rpt", "vivado_timing_summary", "scope"),
    ("hls_csynth.xml", "vitis_hls_csynth_xml", None),
])
def test_cli_report_on_one_file_prints_and_writes_its_table(name, kind, first_column, tmp_path,
                                                            capsys):
    csv = tmp_path / "t.csv"
    assert main(["report", str(FIXTURES / name), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert f"{name} ({kind})" in out
    written = pd.read_csv(csv)
    expected = read_report(FIXTURES / name)
    assert list(written.columns) == list(expected.columns)
    assert len(written) == len(expected)
    if first_column:
        assert first_column in written.columns


def test_cli_report_on_a_log_lists_its_errors(capsys):
    assert main(["report", str(FIXTURES / "vivado_error.log")]) == 0
    out = capsys.readouterr().out
    assert "line 449: ERROR [Vivado 12-1345] Error(s) found during DRC. Bitgen not run." in out


def test_cli_report_rejects_an_unknown_file_and_three_paths(tmp_path, capsys):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    assert main(["report", str(odd)]) != 0
    assert "notes.txt" in capsys.readouterr().err
    assert main(["report", "a", "b", "c"]) == 2
    assert main(["report", str(odd), str(tmp_path)]) == 2
    assert "compares two build folders" in capsys.readouterr().err


def _build(out: Path, fps: str) -> Path:
    assert main(["run", "--plugins", "default", str(CYBSEC), "-o", str(out), "-q",
                 "--target-fps", fps, "--mvau-wwidth-max", "36"]) == 0
    return out


def test_compare_two_builds(tmp_path, capsys):
    a = _build(tmp_path / "a", "100000")
    b = _build(tmp_path / "b", "1000000")
    tables = compare_builds(a, b)
    perf_a = json.loads((a / "report" / "estimate_network_performance.json").read_text())
    perf_b = json.loads((b / "report" / "estimate_network_performance.json").read_text())
    summary = tables["summary"].set_index("metric")
    row = summary.loc["throughput_fps"]
    assert row["A"] == perf_a["estimated_throughput_fps"]
    assert row["B"] == perf_b["estimated_throughput_fps"]
    assert row["change_%"] == pytest.approx(
        100 * (perf_b["estimated_throughput_fps"] / perf_a["estimated_throughput_fps"] - 1))
    layers = tables["layers"].set_index("layer")
    hw_a = json.loads((a / "final_hw_config.json").read_text())
    hw_b = json.loads((b / "final_hw_config.json").read_text())
    for layer in ("MVAU_0", "MVAU_3"):
        assert layers.loc[layer, "PE_A"] == hw_a[layer]["PE"]
        assert layers.loc[layer, "PE_B"] == hw_b[layer]["PE"]
    assert main(["report", str(a), str(b), "--csv", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "== summary ==" in out and "change_%" in out
    assert "PE_A" in pd.read_csv(tmp_path / "c.csv").columns
