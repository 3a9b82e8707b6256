"""Tests of dfx.reports and `dfx report`: the tables hold exactly the numbers of a real build."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dfx.cli import main
from dfx.errors import DfxError
from dfx.reports import (
    LAYER_REPORTS,
    RESOURCES,
    LayerReport,
    ReportError,
    build_tables,
    format_tables,
    merge_layer_tables,
    op_type_of,
    read_json_report,
)

REPO = Path(__file__).resolve().parents[1]
CYBSEC = REPO / "examples" / "models" / "cybsec-mlp-w2a2"
LAYERS = ["MVAU_0", "MVAU_1", "MVAU_2", "MVAU_3"]


def _run_build(out: Path, cache: Path, *extra: str) -> Path:
    rc = main(["run", "--plugins", "default", str(CYBSEC / "model.onnx"), "-o", str(out),
               "--target-fps", "1000000", "--mvau-wwidth-max", "36", "--cache-dir", str(cache),
               "--quiet", *extra])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """The cybsec MLP built up to the estimate reports (one build per xdist worker)."""
    root = tmp_path_factory.mktemp("reports_build")
    return _run_build(root / "build", root / "cache")


@pytest.fixture(scope="module")
def verified_build(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reports_verified")
    return _run_build(root / "build", root / "cache",
                      "--verify-steps", '["initial_python", "streamlined_python", "hw_python"]',
                      "--verify-input-npy", str(CYBSEC / "input.npy"),
                      "--verify-expected-output-npy", str(CYBSEC / "expected_output.npy"))


@pytest.fixture
def build_copy(build, tmp_path) -> Path:
    """A private copy of the build that a test may damage."""
    return Path(shutil.copytree(build, tmp_path / "build"))


def _json(build: Path, name: str) -> dict:
    return json.loads((build / name).read_text())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DFX_CACHE_DIR=str(cwd / "cache"))
    return subprocess.run([sys.executable, "-m", "dfx", *args], cwd=cwd, env=env, check=False,
                          capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------
# the tables hold the numbers of the JSON reports
# --------------------------------------------------------------------------


def test_layers_table_matches_the_json_reports(build):
    layers = build_tables(build)["layers"]
    cycles = _json(build, "report/estimate_layer_cycles.json")
    resources = _json(build, "report/estimate_layer_resources.json")
    hw_config = _json(build, "final_hw_config.json")

    assert list(layers.columns) == ["layer", "op_type", "cycles", "PE", "SIMD", "ram_style",
                                    *RESOURCES, "tool", "source"]
    assert list(layers["layer"]) == LAYERS == list(cycles)
    assert set(layers["op_type"]) == {"MVAU"}
    assert set(layers["tool"]) == {"dfx-estimate"}
    assert set(layers["source"]) == {"estimate_layer_resources.json"}
    by_layer = layers.set_index("layer")
    for name in LAYERS:
        row = by_layer.loc[name]
        assert row["cycles"] == cycles[name]
        for attr in ("PE", "SIMD", "ram_style"):
            assert row[attr] == hw_config[name][attr]
        for kind in RESOURCES:
            assert row[kind] == resources[name][kind]
    for kind in RESOURCES:
        assert layers[kind].sum() == resources["total"][kind]
    assert layers["LUT"].sum() == 6126
    assert (layers["PE"] * layers["SIMD"]).sum() == 513


def test_network_table_matches_the_json_reports(build):
    network = build_tables(build)["network"]
    perf = _json(build, "report/estimate_network_performance.json")
    total = _json(build, "report/estimate_layer_resources.json")["total"]
    assert len(network) == 1
    row = network.iloc[0]
    for key, value in perf.items():
        if isinstance(value, list):  # a path of layers is one cell: "MVAU_0 -> MVAU_1"
            value = " -> ".join(value)
        assert row[key] == value, key
    for kind in RESOURCES:
        assert row[kind] == total[kind]
    assert row["max_cycles_node_name"] == "MVAU_0"
    assert row["estimated_throughput_fps"] == 1_000_000


def test_steps_table_matches_time_per_step(build):
    steps = build_tables(build)["steps"]
    times = _json(build, "time_per_step.json")
    assert list(steps.columns) == ["step", "seconds"]
    assert list(steps["step"]) == list(times)
    assert list(steps["seconds"]) == list(times.values())
    assert steps["step"].iloc[-1] == "step_generate_estimate_reports"


def test_verify_table(verified_build, build):
    tables = build_tables(verified_build)
    results = _json(verified_build, "report/verify_results.json")
    verify = tables["verify"]
    assert list(verify.columns)[:5] == ["check", "step", "verdict", "exact", "max_abs_diff"]
    assert list(verify["check"]) == list(results)
    for _, row in verify.iterrows():
        expected = results[row["check"]]
        assert row["step"] == expected["step"]
        assert row["verdict"] == expected["verdict"] == "SUCCESS"
        assert row["exact"] == expected["exact"]
        assert row["max_abs_diff"] == expected["max_abs_diff"]
        assert row["samples"] == expected["samples"]
    assert "verify" not in build_tables(build)
    assert "== verify ==" in format_tables(tables)


def test_format_tables(build):
    text = format_tables(build_tables(build))
    for header in ("== layers ==", "== network ==", "== steps =="):
        assert header in text
    for name in LAYERS:
        assert name in text
    assert "4,419" in text and "6,126" in text and "1,000,000" in text
    assert "step_streamline" in text
    assert "dfx-estimate" in text


# --------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------


def test_cli_report_with_csv(build, tmp_path):
    csv = tmp_path / "out.csv"
    proc = _cli("report", str(build), "--csv", str(csv), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in LAYERS:
        assert name in proc.stdout
    assert str(csv) in proc.stdout
    back = pd.read_csv(csv)
    table = build_tables(build)["layers"]
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    cycles = _json(build, "report/estimate_layer_cycles.json")
    assert dict(zip(back["layer"], back["cycles"], strict=True)) == cycles
    total = _json(build, "report/estimate_layer_resources.json")["total"]
    assert back["LUT"].sum() == total["LUT"]


def test_cli_report_on_a_folder_without_reports(tmp_path):
    empty = tmp_path / "not_a_build"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello\n")
    proc = _cli("report", str(empty), cwd=tmp_path)
    assert proc.returncode != 0
    assert str(empty) in proc.stderr
    assert "not a dfx build folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_report_on_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["report", str(missing)]) != 0
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err


def test_cli_report_on_truncated_json(build_copy, tmp_path):
    path = build_copy / "report" / "estimate_layer_resources.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    proc = _cli("report", str(build_copy), cwd=tmp_path)
    assert proc.returncode != 0
    assert str(path) in proc.stderr
    assert "not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------
# missing and damaged files
# --------------------------------------------------------------------------


def test_no_report_files_raises_dfx_error(tmp_path):
    with pytest.raises(DfxError, match="not a dfx build folder") as info:
        build_tables(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "estimate_layer_cycles.json" in str(info.value)


@pytest.mark.parametrize("name", ["report/estimate_layer_cycles.json", "final_hw_config.json",
                                  "time_per_step.json",
                                  "report/estimate_network_performance.json"])
def test_truncated_file_is_named(build_copy, name):
    path = build_copy / name
    path.write_text(path.read_text()[:10])
    with pytest.raises(ReportError) as info:
        build_tables(build_copy)
    assert str(path) in str(info.value)


def test_empty_file_is_named(build_copy):
    path = build_copy / "time_per_step.json"
    path.write_text("")
    with pytest.raises(DfxError, match="empty file") as info:
        build_tables(build_copy)
    assert str(path) in str(info.value)


def test_malformed_content_is_named(build_copy):
    path = build_copy / "report" / "estimate_layer_cycles.json"
    path.write_text(json.dumps({"MVAU_0": "many"}))
    with pytest.raises(DfxError, match="malformed") as info:
        build_tables(build_copy)
    assert str(path) in str(info.value)


def test_read_json_report(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('{"a": 1}')
    assert read_json_report(good) == {"a": 1}
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(DfxError, match="JSON object"):
        read_json_report(listing)
    with pytest.raises(DfxError, match="does not exist"):
        read_json_report(tmp_path / "absent.json")


def test_partial_build_builds_what_it_can(build_copy, tmp_path):
    shutil.rmtree(build_copy / "report")
    tables = build_tables(build_copy)
    assert set(tables) == {"layers", "steps"}
    layers = tables["layers"]
    assert list(layers["layer"]) == LAYERS
    assert layers["cycles"].isna().all() and layers["LUT"].isna().all()
    assert (layers["PE"] * layers["SIMD"]).sum() == 513
    assert set(layers["source"]) == {"final_hw_config.json"}
    format_tables(tables)

    (build_copy / "final_hw_config.json").unlink()
    tables = build_tables(build_copy)
    assert tables["layers"].empty and "steps" in tables
    assert "no per-layer reports" in format_tables(tables)
    csv = tmp_path / "empty.csv"
    assert main(["report", str(build_copy), "--csv", str(csv)]) == 0
    assert list(pd.read_csv(csv).columns)[:3] == ["layer", "op_type", "cycles"]


def test_layer_without_simd(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "estimate_layer_cycles.json").write_text(
        json.dumps({"MVAU_0": 4096, "Thresholding_0": 64}))
    (tmp_path / "final_hw_config.json").write_text(json.dumps({
        "Defaults": {},
        "MVAU_0": {"PE": 1, "SIMD": 1, "ram_style": "auto"},
        "Thresholding_0": {"PE": 2, "ram_style": "distributed"},
    }))
    layers = build_tables(tmp_path)["layers"]
    assert list(layers["op_type"]) == ["MVAU", "Thresholding"]
    assert list(layers["cycles"]) == [4096, 64]
    assert layers["SIMD"].iloc[0] == 1 and pd.isna(layers["SIMD"].iloc[1])
    assert layers["PE"].iloc[1] == 2
    assert "Thresholding_0" in format_tables({"layers": layers})


def test_op_type_of():
    assert op_type_of("MVAU_3") == "MVAU"
    assert op_type_of("Thresholding_hls_12") == "Thresholding_hls"
    assert op_type_of("StreamingFIFO_rtl_0") == "StreamingFIFO_rtl"
    assert op_type_of("Top") == "Top"


# --------------------------------------------------------------------------
# merging further per-layer report kinds
# --------------------------------------------------------------------------


def test_merge_layer_tables(build):
    base = build_tables(build)["layers"]
    synth = pd.DataFrame({"layer": ["MVAU_1", "MVAU_0", "StreamingFIFO_0"],
                          "LUT": [900, 5000, 12], "tool": "vivado", "source": "synth.xml"})
    merged = merge_layer_tables(base, synth, "_synth")
    assert list(merged["layer"]) == [*LAYERS, "StreamingFIFO_0"]
    assert list(merged.columns) == [*base.columns, "LUT_synth", "tool_synth", "source_synth"]
    by_layer = merged.set_index("layer")
    assert by_layer.loc["MVAU_0", "LUT"] == 4419 and by_layer.loc["MVAU_0", "LUT_synth"] == 5000
    assert pd.isna(by_layer.loc["MVAU_3", "LUT_synth"])
    assert pd.isna(by_layer.loc["StreamingFIFO_0", "LUT"])
    assert by_layer.loc["StreamingFIFO_0", "op_type"] == "StreamingFIFO"
    with pytest.raises(ValueError):
        merge_layer_tables(base, synth, "")
    with pytest.raises(ValueError):
        merge_layer_tables(merged, synth, "_synth")


def test_registered_layer_report_is_merged(build, monkeypatch):
    def load(build_dir):
        return pd.DataFrame({"layer": LAYERS, "cycles": [101, 65, 65, 65], "tool": "verilator"})

    monkeypatch.setattr("dfx.reports.LAYER_REPORTS",
                        [*LAYER_REPORTS, LayerReport("rtlsim", "_rtlsim", load)])
    layers = build_tables(build)["layers"]
    assert list(layers["cycles_rtlsim"]) == [101, 65, 65, 65]
    assert list(layers["cycles"]) == [100, 64, 64, 64]
    assert set(layers["tool_rtlsim"]) == {"verilator"}


def test_plugin_tables_via_hook(build):
    class Hook:
        def dfx_reports(self, build_dir, tables):
            assert "layers" in tables
            return [{"extra": pd.DataFrame({"n": [len(tables["layers"])]})}, None]

    class Plugins:
        hook = Hook()

    tables = build_tables(build, plugins=Plugins())
    assert tables["extra"]["n"].iloc[0] == 4


def test_cli_does_not_import_pandas(tmp_path):
    code = "import sys, dfx.cli; sys.exit('pandas' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=False)
    assert proc.returncode == 0
