"""A convnet's synthesis (issue 12): the Vivado scripts pass the dry run, and Yosys
synthesizes the whole stitched design (real resource figures, no Vivado)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import model_dir
from dfx.tcl import scripts
from dfx.tcl.dryrun import dry_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    """cnv-pad-w4a4 at 100k fps for the Pynq-Z1, stitched (FIFO sizing off: only files),
    with the estimate reports the Yosys test compares against."""
    from dfx.cli import main

    root = tmp_path_factory.mktemp("conv-stitched")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DFX_CACHE_DIR", str(root / "cache"))
        assert main(["run", "--plugins", "default",
                     str(model_dir("cnv-pad-w4a4") / "model.onnx"), "-o", str(root / "build"),
                     "-q", "--board", "Pynq-Z1", "--target-fps", "100000",
                     "--auto-fifo-depths", "false", "--generate-outputs",
                     "estimate_reports,stitched_ip"]) == 0
    folder = root / "build" / "stitched_ip"
    return folder, json.loads((folder / "stitch.json").read_text())


def test_stitched_ip_packaging_script_of_a_convnet_passes_the_dry_run(stitched, tmp_path):
    folder, info = stitched
    assert {"dfx_swg.v", "dfx_maxpool.v", "dfx_mvau.v"} <= set(info["files"])
    assert (folder / "package_ip.tcl").is_file()  # written (and dry-run) by the build
    script = scripts.write_stitched_ip_script(
        folder, tmp_path / "stitched_ip.tcl", part="xc7z020clg400-1",
        board_part="www.digilentinc.com:pynq-z1:part0:1.0", clk_period_ns=10.0,
        project_dir=tmp_path / "proj", ip_dir=tmp_path / "ip")
    t = dry_run(script)
    verilog = [Path(f).name for f in t.calls("add_files")[0].list_arg(0)]
    assert {"dfx_swg.v", "dfx_maxpool.v", "dfx_top.v"} <= set(verilog)
    assert t.one("set_property", lambda c: c.args[0] == "top").args[1] == "dfx_top"
    assert t.calls("ipx::package_project")


def test_ooc_and_zynq_shell_scripts_of_a_convnet_pass_the_dry_run(stitched, tmp_path):
    from dfx.board_registry import get_board

    folder, info = stitched
    ooc = scripts.write_ooc_synth_script(
        folder, tmp_path / "ooc_synth.tcl", part="xc7z020clg400-1", clk_period_ns=10.0,
        report_dir=tmp_path / "reports", checkpoint=tmp_path / "ooc.dcp")
    t = dry_run(ooc)
    assert t.one("synth_design").opt("-top") == "dfx_top"
    assert "dfx_swg.v" in " ".join(t.one("read_verilog").list_arg(0))
    shell = scripts.write_zynq_shell_script(
        tmp_path / "zynq_shell.tcl", board=get_board("Pynq-Z1"), ip_repo=tmp_path / "ip",
        ip_vlnv="dfx:dfx:dfx_accel:1.0", stitch_info=info, clk_period_ns=10.0,
        project_dir=tmp_path / "proj", bitfile_out=tmp_path / "out" / "dfx.bit",
        hwh_out=tmp_path / "out" / "dfx.hwh", report_dir=tmp_path / "reports")
    t = dry_run(shell)
    assert t.one("create_project").opt("-part") == "xc7z020clg400-1"
    assert t.calls("write_bitstream") or t.calls("launch_runs")


def test_yosys_synthesizes_the_whole_convnet(stitched, tmp_path):
    from dfx.plugins.yosys_synth import synthesize
    from dfx.reports.yosys import read_yosys_stat

    folder, _ = stitched
    result = synthesize(folder, tmp_path / "yosys", family="xc7", per_layer=False, top=True,
                        timeout_s=1200)
    stat = read_yosys_stat(result.run("dfx_top").stat).iloc[0]
    estimate = json.loads((folder.parent / "report" / "estimate_layer_resources.json")
                          .read_text())["total"]
    assert stat["LUT"] > 0 and stat["FF"] > 0
    # every multiplier of the 4-bit layers is a DSP slice, as the estimate says
    assert int(stat["DSP"]) == estimate["DSP"]
    # the whole design is the layers plus FIFOs and width converters
    assert stat["LUT"] >= 0.8 * estimate["LUT"]
    assert Path(result.run("dfx_top").stat).is_file()
