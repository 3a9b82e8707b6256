"""The vendor-tool steps in whole builds: packaged IP, out-of-context synthesis, bitfile.

There is no Vivado here. Without one, the steps must write and dry-run their scripts, say
plainly that Vivado did not run, and (for out-of-context synthesis) fall back to Yosys,
whose figures are real. With a stand-in `vivado` on PATH (tests/stand_ins/vivado_player.py,
which runs the session through dfx's dry run and writes fixture reports where Vivado would
write its own), the tests check the plumbing: the reports reach FINN's JSON files, and a
failing, hanging, too old or careless Vivado gives a clear error.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from dfx.cli import main
from dfx.tcl.dryrun import dry_run

REPO = Path(__file__).resolve().parents[1]
TFC = REPO / "examples" / "models" / "tfc-w1a1" / "model.onnx"
FIXTURES = Path(__file__).parent / "fixtures" / "vivado"
PLAYER = Path(__file__).parent / "stand_ins" / "vivado_player.py"
# a folding small enough to synthesize in seconds
FAST = ["--target-fps", "20000", "--mvau-wwidth-max", "36", "--auto-fifo-depths", "false"]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def build(out: Path, *extra: str, outputs: str = "stitched_ip,out_of_context_synth",
          board: str = "Pynq-Z1") -> int:
    return main(["run", "--plugins", "default", str(TFC), "-o", str(out),
                 "--board", board, *FAST, "--generate-outputs", outputs, *extra])


@pytest.fixture
def no_vivado(monkeypatch, tmp_path):
    """PATH without any vivado, and no XILINX_VIVADO."""
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    clean = [p for p in os.environ.get("PATH", "").split(os.pathsep)
             if p and not (Path(p) / "vivado").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(clean))


@pytest.fixture
def stand_in(tmp_path, monkeypatch, no_vivado):
    """A `vivado` on PATH that plays back dfx's scripts (see the module docstring)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "vivado"
    exe.write_text(f"#!{sys.executable}\n" + PLAYER.read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VIVADO_FIXTURES", str(FIXTURES))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    return exe


# -- without Vivado ---------------------------------------------------------------------------


@pytest.mark.slow
def test_without_vivado_yosys_fills_the_tables_and_nothing_is_invented(tmp_path, no_vivado,
                                                                      capsys):
    out = tmp_path / "b"
    assert build(out) == 0
    printed = capsys.readouterr().out
    ooc = read_json(out / "report" / "ooc_synth_and_timing.json")
    assert ooc["tool"] == "yosys" and ooc["why_yosys"] == "Vivado not found"
    for key in ("WNS", "Delay", "fmax_mhz", "estimated_throughput_fps"):
        assert key not in ooc  # Yosys gives no timing: no such figure at all
    # the figures are the Yosys stat file's
    from dfx.reports import read_yosys_stat

    top = read_yosys_stat(out / "ooc_synth" / "yosys" / "dfx_top.stat.json").iloc[0]
    assert (ooc["LUT"], ooc["FF"], ooc["DSP"]) == (top["LUT"], top["FF"], top["DSP"])
    post = read_json(out / "report" / "post_synth_resources.json")
    info = read_json(out / "stitched_ip" / "stitch.json")
    assert set(post) == {*info["layers"], "(top)"}
    for layer in info["layers"]:
        stat_row = read_yosys_stat(out / "ooc_synth" / "yosys" / f"{layer}.stat.json").iloc[0]
        assert post[layer]["LUT"] == stat_row["LUT"] and post[layer]["tool"] == "yosys"
    # Vivado's scripts were written, proven by the dry run, and not run; said plainly
    for purpose, script in (("stitched_ip", out / "stitched_ip" / "package_ip.tcl"),
                            ("ooc_synth", out / "ooc_synth" / "ooc_synth.tcl")):
        status = read_json(out / "report" / f"vivado_{purpose}.json")
        assert status["vivado"] == "not run" and status["why"] == "Vivado not found"
        assert status["scripts"][0]["dry_run"] == "passed"
        assert script.is_file()
    assert not (out / "stitched_ip" / "ip").exists()
    assert "Vivado did not run" in printed and "Yosys synthesized" in printed
    ooc_calls = dry_run(out / "ooc_synth" / "ooc_synth.tcl")
    assert ooc_calls.one("synth_design").opt("-part") == "xc7z020clg400-1"
    # `dfx report` puts the Yosys figures beside the estimates
    assert main(["report", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "synth (yosys)" in shown and "LUT_synth" in shown


def test_bitfile_without_vivado_writes_and_dry_runs_the_shell(tmp_path, no_vivado, capsys):
    out = tmp_path / "b"
    assert build(out, outputs="bitfile", board="ZCU104") == 0
    status = read_json(out / "report" / "vivado_bitfile.json")
    assert status["vivado"] == "not run"
    assert [s["script"] for s in status["scripts"]] == ["package_ip.tcl", "zynq_shell.tcl"]
    assert not list((out / "bitfile").glob("*.bit"))
    shell = dry_run(out / "bitfile" / "zynq_shell.tcl")
    assert shell.one("create_project").opt("-part") == "xczu7ev-ffvc1156-2-e"
    assert any("zynq_ultra_ps_e" in " ".join(c.args) + str(c.options)
               for c in shell.calls("create_bd_cell"))
    assert "bitfile: Vivado did not run" in capsys.readouterr().out


def test_alveo_bitfile_without_vivado_writes_kernel_link_config_and_commands(tmp_path,
                                                                               no_vivado):
    out = tmp_path / "b"
    assert build(out, outputs="bitfile", board="U250") == 0
    base = out / "bitfile"
    for name in ("package_ip.tcl", "alveo_kernel.tcl", "alveo_link.cfg", "alveo_mm2s.cpp",
                 "alveo_s2mm.cpp", "vitis_commands.json"):
        assert (base / name).is_file(), name
    commands = read_json(base / "vitis_commands.json")["commands"]
    assert commands[-1][:2] == ["v++", "-l"] or "-l" in commands[-1]
    assert any("xilinx_u250" in word for word in commands[-1])
    assert read_json(out / "report" / "vivado_bitfile.json")["vivado"] == "not run"


def test_out_of_context_synthesis_needs_a_part(tmp_path, capsys):
    code = main(["run", "--plugins", "default", str(TFC), "-o", str(tmp_path / "b"), "-q",
                 *FAST, "--generate-outputs", "out_of_context_synth"])
    assert code == 2
    assert "out_of_context_synth needs the FPGA part" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_a_board_yosys_cannot_map(tmp_path, no_vivado, monkeypatch, capsys):
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "vck.yaml").write_text(
        "name: VCK-Test\npart: xcvc1902-vsva2197-2MP-e-S\nboard_part: null\n"
        "family: versal\nyosys_family: null\nshell_flow_type: vivado_zynq\n"
        "default_clk_ns: 5.0\n"
        "resources: {LUT: 899840, FF: 1799680, BRAM_18K: 1934, URAM: 463, DSP: 1968}\n"
        "ps: {type: ps8, name: versal_cips}\n")
    monkeypatch.setenv("DFX_BOARD_PATH", str(boards))
    code = build(tmp_path / "b", outputs="out_of_context_synth", board="VCK-Test")
    err = capsys.readouterr().err
    assert code == 2, err
    assert "VCK-Test" in err and "xcvc1902" in err and "xc7" in err


# -- with a stand-in Vivado -------------------------------------------------------------------


def test_with_vivado_the_reports_reach_finns_json_files(tmp_path, stand_in, capsys):
    out = tmp_path / "b"
    assert build(out) == 0
    ooc = read_json(out / "report" / "ooc_synth_and_timing.json")
    # the stand-in wrote the fixtures where the script asked for the reports
    assert ooc["tool"] == "vivado"
    assert (ooc["LUT"], ooc["WNS"]) == (pytest.approx(ooc["LUT"]), pytest.approx(4.01))
    from dfx.reports import read_vivado_utilization

    flat = read_vivado_utilization(FIXTURES / "util_xc7z020_flat.rpt").iloc[0]
    assert ooc["LUT"] == flat["LUT"] and ooc["FF"] == flat["FF"]
    assert ooc["fmax_mhz"] == pytest.approx(1000 / (ooc["clk_period_ns"] - 4.01))
    assert "(top)" in read_json(out / "report" / "post_synth_resources.json")
    for purpose in ("stitched_ip", "ooc_synth"):
        status = read_json(out / "report" / f"vivado_{purpose}.json")
        assert status["vivado"] == "ran" and status["version"] == "2022.2"
    assert (out / "stitched_ip" / "ip" / "component.xml").is_file()
    assert (out / "ooc_synth" / "ooc_synth.log").is_file()
    printed = capsys.readouterr().out
    assert "synthesis (vivado)" in printed
    # with Vivado both outputs are produced, and the build status says so
    build_status = read_json(out / "build_status.json")
    assert build_status["status"] == "complete"
    outputs = build_status["outputs"]
    assert outputs["stitched_ip"]["status"] == "produced"
    assert outputs["stitched_ip"]["files"] == ["stitched_ip/ip/component.xml"]
    assert outputs["out_of_context_synth"]["status"] == "produced"
    assert outputs["out_of_context_synth"]["tool"] == "vivado"
    assert printed.strip().splitlines()[-1] == "outputs: 2 of 2 produced: stitched_ip " \
        "produced; out_of_context_synth produced"


def test_vivado_that_fails_names_its_first_error(tmp_path, stand_in, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "error")
    code = build(tmp_path / "b")
    err = capsys.readouterr().err
    assert code == 5, err
    assert "ERROR: [Synth 8-439] module 'no_such_module' not found" in err
    assert "CRITICAL WARNING: [Constraints 18-5210]" in err
    assert "Traceback" not in err
    status = read_json(tmp_path / "b" / "build_status.json")
    assert status["status"] == "failed"


def test_vivado_that_hangs_is_stopped(tmp_path, stand_in, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "hang")
    start = time.monotonic()
    code = main(["run", "--plugins", "default", str(TFC), "-o", str(tmp_path / "b"), "-q",
                 "--board", "Pynq-Z1", *FAST, "--generate-outputs", "stitched_ip",
                 "--vivado-timeout-minutes", "0.03"])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "timed out" in err or "ran longer" in err or "time limit" in err
    assert time.monotonic() - start < 60
    pid_files = list((tmp_path / "b").rglob("grandchild.pid"))
    if pid_files:  # the session's own child is gone too
        pid = int(pid_files[0].read_text())
        time.sleep(0.5)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_vivado_too_old_is_named(tmp_path, stand_in, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_VIVADO_VERSION", "2019.1")
    code = build(tmp_path / "b", outputs="stitched_ip")
    err = capsys.readouterr().err
    assert code == 6, err
    assert "2019.1" in err and "2022.1" in err


@pytest.mark.parametrize("mode, needle", [
    ("missing", "ooc_timing_summary.rpt"),
    ("truncate", "ooc_utilization.rpt"),
])
def test_report_missing_or_truncated_is_named(tmp_path, stand_in, monkeypatch, capsys, mode,
                                              needle):
    monkeypatch.setenv("FAKE_VIVADO_MODE", mode)
    code = build(tmp_path / "b")
    err = capsys.readouterr().err
    assert code != 0, err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "b" / "report" / "ooc_synth_and_timing.json").exists()


def test_explicit_vivado_path_that_is_wrong_is_an_error(tmp_path, no_vivado, capsys):
    code = build(tmp_path / "b", "--vivado-path", str(tmp_path / "nowhere" / "vivado"),
                 outputs="stitched_ip")
    err = capsys.readouterr().err
    assert code == 6 and "vivado_path" in err


