"""The generated Vivado/Vitis scripts, proven by dry runs (no Vivado needed)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import model_dir
from dfx.board_registry import get_board, load_boards
from dfx.errors import ConfigError
from dfx.tcl import scripts
from dfx.tcl.dryrun import TclDryRunError, check_link_config, dry_run, split_list
from dfx.tcl.render import render

HERE = Path(__file__).resolve().parent
VLNV = "dfx:dfx:dfx_accel:1.0"
ZYNQ_BOARDS = sorted(b.name for b in load_boards().values() if b.is_zynq)
ALVEO_BOARDS = sorted(b.name for b in load_boards().values() if b.is_alveo)
# Every character Tcl could misread, plus non-ASCII.
NASTY = 'we ird [x] {y} $z "q";#\\é'


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    """The stitched design of the cybsec MLP, built once by the real flow.

    FIFO sizing is off: it simulates, and these tests only need the files.
    """
    from dfx.cli import main

    root = tmp_path_factory.mktemp("stitched")
    # SIMD 24 on the first layer: a 24-bit input stream, not a power of two (the DMA adapter)
    folding = root / "folding.json"
    folding.write_text(json.dumps({"MVAU_0": {"SIMD": 24}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DFX_CACHE_DIR", str(root / "cache"))
        assert main(["run", "--plugins", "default",
                     str(model_dir("cybsec-mlp-w2a2") / "model.onnx"), "-o", str(root / "build"),
                     "-q", "--no-cache", "--target-fps", "1000000", "--auto-fifo-depths", "false",
                     "--folding-config-file", str(folding),
                     "--generate-outputs", "stitched_ip"]) == 0
    folder = root / "build" / "stitched_ip"
    return folder, json.loads((folder / "stitch.json").read_text())


def _files(folder: Path, suffix: str) -> list[str]:
    return sorted(str(p) for p in folder.glob(f"*{suffix}"))


def _index(transcript, name, where=None) -> int:
    call = transcript.one(name, where)
    return list(transcript).index(call)


# --------------------------------------------------------------------------- stitched IP


def test_stitched_ip_script(stitched, tmp_path):
    folder, info = stitched
    script = scripts.write_stitched_ip_script(
        folder, tmp_path / "stitched_ip.tcl", part="xc7z020clg400-1",
        board_part="tul.com.tw:pynq-z2:part0:1.0", clk_period_ns=8.0,
        project_dir=tmp_path / "proj", ip_dir=tmp_path / "ip")
    t = dry_run(script)

    project = t.one("create_project")
    assert project.opt("-part") == "xc7z020clg400-1"
    assert project.args[1] == str(tmp_path / "proj")
    assert t.one("set_property", lambda c: c.args[0] == "board_part").args[1] == \
        "tul.com.tw:pynq-z2:part0:1.0"
    added = [c.list_arg(0) for c in t.calls("add_files")]
    assert added == [_files(folder, ".v"), _files(folder, ".dat")]
    assert len(added[0]) > 5 and len(added[1]) > 0  # layers, FIFOs, top; weights
    assert t.one("set_property", lambda c: c.args[0] == "file_type").args[1] == \
        "Memory Initialization Files"
    assert t.one("set_property", lambda c: c.args[0] == "top").args[1] == info["top"] == "dfx_top"
    assert _index(t, "update_compile_order") < _index(t, "ipx::package_project")

    package = t.one("ipx::package_project")
    assert package.opt("-root_dir") == str(tmp_path / "ip")
    assert (package.opt("-vendor"), package.opt("-library")) == ("dfx", "dfx")
    assert package.has("-import_files")
    props = {c.args[0]: c.args[1] for c in t.calls("set_property") if len(c.args) == 3}
    assert ":".join([package.opt("-vendor"), package.opt("-library"), props["name"],
                     props["version"]]) == VLNV

    inferred = {tuple(c.list_arg(0)): c.args[1] for c in t.calls("ipx::infer_bus_interface")}
    axis = "xilinx.com:interface:axis_rtl:1.0"
    assert inferred == {
        ("ap_clk",): "xilinx.com:signal:clock_rtl:1.0",
        ("ap_rst_n",): "xilinx.com:signal:reset_rtl:1.0",
        ("s_axis_0_tdata", "s_axis_0_tvalid", "s_axis_0_tready"): axis,
        ("m_axis_0_tdata", "m_axis_0_tvalid", "m_axis_0_tready"): axis,
    }
    associations = {(c.opt("-busif"), c.opt("-clock"), c.opt("-reset"))
                    for c in t.calls("ipx::associate_bus_interfaces")}
    assert associations == {("s_axis_0", "ap_clk", None), ("m_axis_0", "ap_clk", None),
                            (None, "ap_clk", "ap_rst_n")}
    values = {c.args[2]: c.args[1] for c in t.calls("set_property") if c.args[0] == "value"}
    assert values == {"POLARITY": "ACTIVE_LOW", "FREQ_HZ": "125000000"}
    order = ["ipx::create_xgui_files", "ipx::update_checksums", "ipx::check_integrity",
             "ipx::save_core", "close_project"]
    assert [n for n in t.names() if n in order] == order


def test_stitched_ip_script_without_a_board_part(stitched, tmp_path):
    folder, _ = stitched
    script = scripts.write_stitched_ip_script(
        folder, tmp_path / "s.tcl", part="xcu250-figd2104-2L-e", board_part=None,
        clk_period_ns=5.0, project_dir=tmp_path / "p", ip_dir=tmp_path / "ip")
    t = dry_run(script)
    assert not t.calls("get_board_parts")
    assert not [c for c in t.calls("set_property") if c.args[0] == "board_part"]
    assert t.one("create_project").opt("-part") == "xcu250-figd2104-2L-e"


def test_scripts_need_vivado_2022_1(stitched, tmp_path):
    folder, _ = stitched
    script = scripts.write_stitched_ip_script(
        folder, tmp_path / "s.tcl", part="xc7z020clg400-1", board_part=None, clk_period_ns=5,
        project_dir=tmp_path / "p", ip_dir=tmp_path / "ip")
    dry_run(script, vivado_version="2022.1")
    with pytest.raises(TclDryRunError, match="needs Vivado 2022.1 or later, this is 2021.2"):
        dry_run(script, vivado_version="2021.2")


# --------------------------------------------------------------------------- OOC synthesis


def test_ooc_synth_script(stitched, tmp_path):
    folder, _ = stitched
    script = scripts.write_ooc_synth_script(
        folder, tmp_path / "ooc_synth.tcl", part="xczu7ev-ffvc1156-2-e", clk_period_ns=3.3,
        report_dir=tmp_path / "reports", checkpoint=tmp_path / "ooc.dcp", hierarchical_depth=3)
    assert script.with_suffix(".xdc").is_file()
    t = dry_run(script)

    # synthesis runs where $readmemh finds the .dat files, then the script goes back
    assert [c.args for c in t.calls("cd")] == [(str(folder),), (str(Path.cwd()),)]
    assert _index(t, "cd", lambda c: c.args == (str(folder),)) < _index(t, "synth_design") < \
        _index(t, "cd", lambda c: c.args != (str(folder),))
    assert t.one("read_verilog").list_arg(0) == _files(folder, ".v")
    xdc = t.one("read_xdc")
    assert xdc.opt("-mode") == "out_of_context"
    clock = t.one("create_clock")
    assert float(clock.opt("-period")) == 3.3
    assert clock.opt("-name") == "ap_clk" and clock.args == ("ap_clk",)
    assert t.one("get_ports").args == ("ap_clk",)
    synth = t.one("synth_design")
    assert (synth.opt("-top"), synth.opt("-part"), synth.opt("-mode")) == (
        "dfx_top", "xczu7ev-ffvc1156-2-e", "out_of_context")
    # the clock constraint is in place before synthesis and before the reports
    assert _index(t, "create_clock") < _index(t, "synth_design") < _index(
        t, "report_timing_summary")

    reports = {Path(c.opt("-file")).name: c for c in t.calls("report_utilization")}
    assert set(reports) == {"ooc_utilization.rpt", "ooc_utilization_hierarchical.rpt"}
    hier = reports["ooc_utilization_hierarchical.rpt"]
    assert hier.has("-hierarchical") and hier.opt("-hierarchical_depth") == "3"
    assert Path(hier.opt("-file")).parent == tmp_path / "reports"
    assert Path(t.one("report_timing_summary").opt("-file")) == \
        tmp_path / "reports" / "ooc_timing_summary.rpt"
    checkpoint = t.one("write_checkpoint")
    assert checkpoint.args == (str(tmp_path / "ooc.dcp"),) and checkpoint.has("-force")
    assert {Path(c.opt("-file")).name for c in t.calls("report_utilization")} | {
        "ooc_timing_summary.rpt"} == set(scripts.OOC_REPORTS)


# --------------------------------------------------------------------------- Zynq shell


def _zynq(stitched, tmp_path, board, **overrides):
    _, info = stitched
    kwargs = dict(board=board, ip_repo=tmp_path / "ip", ip_vlnv=VLNV, stitch_info=info,
                  clk_period_ns=10.0, project_dir=tmp_path / "proj",
                  bitfile_out=tmp_path / "out" / "dfx.bit", hwh_out=tmp_path / "out" / "dfx.hwh",
                  report_dir=tmp_path / "reports", jobs=3)
    kwargs.update(overrides)
    return scripts.write_zynq_shell_script(tmp_path / "zynq_shell.tcl", **kwargs)


def _intf_nets(t) -> dict[str, str]:
    return {c.args[0]: c.args[1] for c in t.calls("connect_bd_intf_net")}


@pytest.mark.parametrize("board_name", ZYNQ_BOARDS)
def test_zynq_shell_script(stitched, tmp_path, board_name):
    board = get_board(board_name)
    _, info = stitched
    t = dry_run(_zynq(stitched, tmp_path, board_name, clk_period_ns=8.0))
    ps7 = board.ps["type"] == "ps7"

    project = t.one("create_project")
    assert project.opt("-part") == board.part
    assert t.one("set_property", lambda c: c.args[0] == "board_part").args[1] == board.board_part
    assert t.one("set_property", lambda c: c.args[0] == "ip_repo_paths").list_arg(1) == [
        str(tmp_path / "ip")]
    assert _index(t, "set_property", lambda c: c.args[0] == "ip_repo_paths") < _index(
        t, "update_ip_catalog")

    cells = {c.args[0]: c for c in t.calls("create_bd_cell")}
    assert cells["ps"].opt("-vlnv").startswith(f"xilinx.com:ip:{board.ps['name']}:")
    assert cells["accel"].opt("-vlnv") == VLNV
    assert cells["axi_dma"].opt("-vlnv").startswith("xilinx.com:ip:axi_dma:")
    assert cells["rst_ps"].opt("-vlnv").startswith("xilinx.com:ip:proc_sys_reset:")
    assert cells["in_adapter"].opt("-reference") == "dfx_axis_adapter"
    rule = t.one("apply_bd_automation", lambda c: c.args == ("/ps",)).opt("-rule")
    assert rule == f"xilinx.com:bd_rule:{board.ps['name']}"

    config = {}
    for call in t.calls("set_property"):
        if call.has("-dict"):
            pairs = split_list(call.opt("-dict"))
            config[call.args[0]] = dict(zip(pairs[::2], pairs[1::2]))
    clock_key = ("CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ" if ps7
                 else "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ")
    assert float(config["/ps"][clock_key]) == 125.0  # 8 ns
    dma = config["/axi_dma"]
    # (the widths follow the folding, which follows the estimates: read them from the design)
    in_bits, out_bits = info["input"]["tdata_width"], info["output"]["tdata_width"]
    assert in_bits % 8 == 0 and in_bits & (in_bits - 1), "the test wants a non-power-of-two"
    in_dma = 1 << (in_bits - 1).bit_length()  # the DMA streams powers of two
    assert dma["CONFIG.c_m_axis_mm2s_tdata_width"] == str(in_dma)
    assert dma["CONFIG.c_s_axis_s2mm_tdata_width"] == str(out_bits) == "8"
    assert dma["CONFIG.c_sg_length_width"] == "26" and dma["CONFIG.c_include_sg"] == "0"
    assert config["/in_adapter"] == {"CONFIG.IN_WIDTH": str(in_dma),
                                     "CONFIG.OUT_WIDTH": str(in_bits),
                                     "CONFIG.PACKET_WORDS": "0"}
    assert config["/out_adapter"]["CONFIG.PACKET_WORDS"] == str(
        info["output"]["words_per_frame"])

    # the data path: DMA MM2S -> adapter -> s_axis_0, m_axis_0 -> adapter -> DMA S2MM
    nets = _intf_nets(t)
    assert nets["/axi_dma/M_AXIS_MM2S"] == "/in_adapter/s_axis"
    assert nets["/in_adapter/m_axis"] == "/accel/s_axis_0"
    assert nets["/accel/m_axis_0"] == "/out_adapter/s_axis"
    assert nets["/out_adapter/m_axis"] == "/axi_dma/S_AXIS_S2MM"
    # the DMA's memory masters reach the PS's high-performance port
    hp = "/ps/S_AXI_HP0" if ps7 else "/ps/S_AXI_HP0_FPD"
    assert nets["/axi_dma/M_AXI_MM2S"] == "/axi_mem/S00_AXI"
    assert nets["/axi_dma/M_AXI_S2MM"] == "/axi_mem/S01_AXI"
    assert nets["/axi_mem/M00_AXI"] == hp
    # and its control port the general-purpose master, by connection automation
    lite = t.one("apply_bd_automation", lambda c: c.opt("-rule") == "xilinx.com:bd_rule:axi4")
    lite_config = dict(zip(*[iter(split_list(lite.opt("-config")))] * 2))
    assert lite_config["Master"] == ("/ps/M_AXI_GP0" if ps7 else "/ps/M_AXI_HPM0_FPD")
    assert lite_config["Slave"] == "/axi_dma/S_AXI_LITE"

    nets = [c.args for c in t.calls("connect_bd_net")]
    clock_net = next(n for n in nets if "/accel/ap_clk" in n)
    assert clock_net[0] == ("/ps/FCLK_CLK0" if ps7 else "/ps/pl_clk0")
    assert {"/axi_dma/s_axi_lite_aclk", "/axi_dma/m_axi_mm2s_aclk", "/axi_dma/m_axi_s2mm_aclk",
            "/rst_ps/slowest_sync_clk"} <= set(clock_net)
    reset_net = next(n for n in nets if "/accel/ap_rst_n" in n)
    assert reset_net[0] == "/rst_ps/peripheral_aresetn" and "/axi_dma/axi_resetn" in reset_net

    steps = ["assign_bd_address", "validate_bd_design", "save_bd_design", "make_wrapper"]
    assert [n for n in t.names() if n in steps] == steps
    assert t.one("set_property", lambda c: c.args[0] == "top").args[1] == "dfx_shell_wrapper"

    synth = t.one("launch_runs", lambda c: c.args == ("synth_1",))
    impl = t.one("launch_runs", lambda c: c.args == ("impl_1",))
    assert synth.opt("-jobs") == impl.opt("-jobs") == "3"
    assert impl.opt("-to_step") == "write_bitstream"
    post_synth = t.one("report_utilization", lambda c: c.has("-hierarchical"))
    assert Path(post_synth.opt("-file")).name == "post_synth_utilization_hierarchical.rpt"
    assert _index(t, "open_run", lambda c: c.args == ("synth_1",)) < _index(
        t, "report_utilization", lambda c: c.has("-hierarchical")) < list(t).index(impl)
    written = {Path(c.opt("-file")).name for c in t.calls("report_utilization")
               + t.calls("report_timing_summary")}
    assert written == set(scripts.ZYNQ_REPORTS)

    copies = {Path(c.args[1]): c.args[0] for c in t.calls("file copy")}
    assert copies[tmp_path / "out" / "dfx.bit"].endswith("/impl_1/dfx_shell_wrapper.bit")
    assert copies[tmp_path / "out" / "dfx.hwh"].endswith(
        "dfx_zynq.gen/sources_1/bd/dfx_shell/hw_handoff/dfx_shell.hwh")
    assert list(t).index(impl) < min(list(t).index(c) for c in t.calls("file copy"))


def test_zynq_shell_adapter_is_written_and_lints(stitched, tmp_path):
    script = _zynq(stitched, tmp_path, "Pynq-Z2")
    adapter = script.parent / "dfx_axis_adapter.v"
    t = dry_run(script)
    assert t.one("add_files").list_arg(0) == [str(adapter)]
    from dfx.errors import ToolNotFoundError
    from dfx.tools import find_verilator

    try:
        verilator = find_verilator()
    except ToolNotFoundError as exc:
        pytest.skip(str(exc))
    for in_w, out_w, words in [(256, 200, 0), (8, 32, 3), (16, 8, 64), (8, 8, 1)]:
        result = subprocess.run(
            [verilator.executable, "--lint-only", "-Wall", str(adapter), f"-GIN_WIDTH={in_w}",
             f"-GOUT_WIDTH={out_w}", f"-GPACKET_WORDS={words}"],
            env=verilator.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr


def test_zynq_shell_frames_per_transfer(stitched, tmp_path):
    _, info = stitched
    t = dry_run(_zynq(stitched, tmp_path, "ZCU104", frames_per_transfer=16, dma_length_width=20))
    dicts = {c.args[0]: split_list(c.opt("-dict")) for c in t.calls("set_property")
             if c.has("-dict")}
    out = dict(zip(dicts["/out_adapter"][::2], dicts["/out_adapter"][1::2]))
    assert out["CONFIG.PACKET_WORDS"] == str(16 * info["output"]["words_per_frame"])
    dma = dict(zip(dicts["/axi_dma"][::2], dicts["/axi_dma"][1::2]))
    assert dma["CONFIG.c_sg_length_width"] == "20" and dma["CONFIG.c_addr_width"] == "64"


def test_zynq_shell_stops_when_a_run_fails(stitched, tmp_path):
    script = _zynq(stitched, tmp_path, "Pynq-Z1")
    with pytest.raises(TclDryRunError, match=r"zynq_shell.tcl:\d+: error: dfx: impl_1 failed "
                                             r"\(route_design ERROR, 40%\)") as err:
        dry_run(script, properties={"PROGRESS@impl_1": "40%", "STATUS@impl_1":
                                    "route_design ERROR"})
    # the line is the `error` in the run check
    assert script.read_text().splitlines()[err.value.line - 1].strip().startswith('error "dfx:')
    with pytest.raises(TclDryRunError, match="dfx: synth_1 failed"):
        dry_run(script, properties={"STATUS@synth_1": "synth_design ERROR"})
    with pytest.raises(TclDryRunError, match=r"Vivado did not write .*dfx_shell\.hwh"):
        dry_run(script, file_exists=lambda path: not path.endswith(".hwh"))


def test_zynq_shell_options(stitched, tmp_path):
    repo = tmp_path / "board files"
    t = dry_run(_zynq(stitched, tmp_path, "pynq-z1", board_repo_paths=[repo]))
    param = t.one("set_param")
    assert param.args[0] == "board.repoPaths" and split_list(param.args[1]) == [str(repo)]
    assert _index(t, "set_param") < _index(t, "get_board_parts")


# --------------------------------------------------------------------------- Alveo


@pytest.mark.parametrize("board_name", ["U250", "U280", "U55C"])
def test_alveo_scripts(stitched, tmp_path, board_name):
    board = get_board(board_name)
    _, info = stitched
    result = scripts.write_alveo_scripts(
        tmp_path / "alveo", board=board_name, ip_dir=tmp_path / "ip", ip_vlnv=VLNV,
        stitch_info=info, clk_period_ns=4.0, kernel_name="dfx_accel")

    t = dry_run(result.kernel_script)
    xo = t.one("package_xo")
    assert xo.opt("-kernel_name") == "dfx_accel"
    assert xo.opt("-ip_directory") == str(tmp_path / "ip")
    assert xo.opt("-xo_path") == str(result.kernel_xo) == str(tmp_path / "alveo" / "dfx_accel.xo")
    assert xo.opt("-ctrl_protocol") == "ap_ctrl_none"
    assert t.one("ipx::open_core").args == (str(tmp_path / "ip" / "component.xml"),)
    props = {c.args[0]: c.args[1] for c in t.calls("set_property")}
    assert props["sdx_kernel"] == "true" and props["sdx_kernel_type"] == "rtl"
    assert props["vitis_drc"] == "ctrl_protocol ap_ctrl_none"
    assert _index(t, "ipx::save_core") < _index(t, "package_xo")
    with pytest.raises(TclDryRunError, match="no packaged IP in"):
        dry_run(result.kernel_script, file_exists=False)

    config = check_link_config(result.link_config, kernels=["dfx_mm2s", "dfx_s2mm",
                                                             "dfx_accel"])
    assert config.kernels == {"dfx_mm2s_1": "dfx_mm2s", "dfx_accel_1": "dfx_accel",
                              "dfx_s2mm_1": "dfx_s2mm"}
    assert config.streams == [("dfx_mm2s_1.out", "dfx_accel_1.s_axis_0"),
                              ("dfx_accel_1.m_axis_0", "dfx_s2mm_1.in")]
    bank = "HBM[0]" if board.family == "virtexuplusHBM" else "DDR[0]"
    assert config.memory == {"dfx_mm2s_1.src": bank, "dfx_s2mm_1.dst": bank}

    mm2s, s2mm = result.compile_commands
    for command, kernel, source, out in ((mm2s, "dfx_mm2s", result.mm2s_source, result.mm2s_xo),
                                         (s2mm, "dfx_s2mm", result.s2mm_source, result.s2mm_xo)):
        assert command[:3] == ("v++", "-c", "-t")
        assert command[command.index("-k") + 1] == kernel
        assert command[command.index("--platform") + 1] == board.platform
        assert command[command.index("--hls.clock") + 1] == f"250000000:{kernel}"
        # the commands run in the scripts' folder: their paths are relative to it
        assert command[command.index("-o") + 1] == out.name
        assert command[-1] == source.name and source.is_file()
        assert source.parent == out.parent == result.kernel_script.parent
    link = result.link_command
    assert link[:2] == ("v++", "-l")
    assert link[link.index("--platform") + 1] == board.platform
    assert link[link.index("--config") + 1] == result.link_config.name
    assert link[link.index("--kernel_frequency") + 1] == "250"
    assert link[link.index("-o") + 1] == result.xclbin.name
    assert set(link[-3:]) == {result.mm2s_xo.name, result.kernel_xo.name, result.s2mm_xo.name}
    assert not [word for command in (*result.compile_commands, link) for word in command
                if str(tmp_path) in word]


def test_alveo_dma_kernels_compile(stitched, tmp_path):
    """The HLS kernels parse as C++ against small stand-ins of the HLS headers."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++")
    _, info = stitched
    result = scripts.write_alveo_scripts(tmp_path, board="U50", ip_dir=tmp_path / "ip",
                                         ip_vlnv=VLNV, stitch_info=info, clk_period_ns=5.0)
    mm2s = result.mm2s_source.read_text()
    in_bits = info["input"]["tdata_width"]
    assert "ap_axiu<kStreamBits, 0, 0, 0>" in mm2s and f"kStreamBits = {in_bits};" in mm2s
    assert f"kMemoryBits = {1 << (in_bits - 1).bit_length()};" in mm2s
    assert "kStreamBits = 8;" in result.s2mm_source.read_text()
    proc = subprocess.run([compiler, "-std=c++14", "-fsyntax-only", "-Wall", "-Wextra",
                           "-Wno-unknown-pragmas", "-Werror", "-I", str(HERE / "hls_stubs"),
                           str(result.mm2s_source), str(result.s2mm_source)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- board checks


def test_zynq_script_refuses_boards_it_cannot_build(stitched, tmp_path):
    with pytest.raises(ConfigError, match="U250 is not a Zynq board"):
        _zynq(stitched, tmp_path, "U250")
    pynq = get_board("Pynq-Z2")
    with pytest.raises(ConfigError, match="has no board_part"):
        _zynq(stitched, tmp_path, dataclasses.replace(pynq, board_part=None))
    with pytest.raises(ConfigError, match="does not describe its processing system"):
        _zynq(stitched, tmp_path, dataclasses.replace(pynq, ps=None))
    with pytest.raises(ConfigError, match="unknown board"):
        _zynq(stitched, tmp_path, "no-such-board")


def test_alveo_scripts_refuse_boards_they_cannot_build(stitched, tmp_path):
    _, info = stitched
    kwargs = dict(ip_dir=tmp_path / "ip", ip_vlnv=VLNV, stitch_info=info, clk_period_ns=5.0)
    with pytest.raises(ConfigError, match="ZCU104 is not an Alveo board"):
        scripts.write_alveo_scripts(tmp_path, board="ZCU104", **kwargs)
    with pytest.raises(ConfigError, match="has no Vitis platform"):
        scripts.write_alveo_scripts(
            tmp_path, board=dataclasses.replace(get_board("U250"), platform=None), **kwargs)
    with pytest.raises(ConfigError, match="kernel_name"):
        scripts.write_alveo_scripts(tmp_path, board="U250", kernel_name="my kernel", **kwargs)
    with pytest.raises(ConfigError, match="taken by a DMA kernel"):
        scripts.write_alveo_scripts(tmp_path, board="U250", kernel_name="dfx_mm2s", **kwargs)
    with pytest.raises(ConfigError, match="memory_bank"):
        scripts.write_alveo_scripts(tmp_path, board="U250", memory_bank="DDR0", **kwargs)


@pytest.mark.parametrize("change, message", [
    ({"clk_period_ns": 0}, "clk_period_ns must be a positive number"),
    ({"clk_period_ns": -5.0}, "clk_period_ns must be a positive number"),
    ({"clk_period_ns": float("nan")}, "clk_period_ns must be a positive number"),
    ({"clk_period_ns": True}, "clk_period_ns must be a positive number"),
    ({"part": ""}, "part must be a Vivado part name"),
    ({"part": "xc7z020 clg400"}, "part must be a Vivado part name"),
    ({"board_part": "pynq-z2"}, "board_part must be vendor:board:part0:version"),
    ({"version": "one"}, "version must be major.minor"),
    ({"ip_name": "a:b"}, "ip_name 'a:b' holds a character it cannot"),
    ({"vendor": ""}, "vendor must be a non-empty string"),
    ({"project_dir": "line\nbreak"}, "project_dir holds a control character"),
])
def test_stitched_ip_script_checks_its_values(stitched, tmp_path, change, message):
    folder, _ = stitched
    kwargs = dict(part="xc7z020clg400-1", board_part=None, clk_period_ns=5.0,
                  project_dir=tmp_path / "p", ip_dir=tmp_path / "ip")
    kwargs.update(change)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        scripts.write_stitched_ip_script(folder, tmp_path / "s.tcl", **kwargs)


@pytest.mark.parametrize("change, message", [
    ({"jobs": 0}, "jobs must be an integer at least 1"),
    ({"ip_vlnv": "dfx:dfx_accel:1.0"}, "ip_vlnv must be vendor:library:name:version"),
    ({"frames_per_transfer": 0}, "frames_per_transfer"),
    ({"dma_length_width": 27}, "dma_length_width must be an integer between 8 and 26"),
    ({"stitch_info": {"input": {"tdata_width": 2048},
                      "output": {"tdata_width": 8, "words_per_frame": 1}}},
     "input stream is 2048 bits wide"),
    ({"stitch_info": {"input": {"tdata_width": 12},
                      "output": {"tdata_width": 8, "words_per_frame": 1}}},
     "multiple of 8"),
    ({"stitch_info": {"input": {"tdata_width": 8}, "output": {"tdata_width": 8}}},
     "no output.words_per_frame"),
    ({"stitch_info": {}}, "no input.tdata_width"),
])
def test_zynq_script_checks_its_values(stitched, tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        _zynq(stitched, tmp_path, "Pynq-Z2", **change)


def test_a_folder_without_a_stitched_design_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="stitch.json does not exist"):
        scripts.write_ooc_synth_script(tmp_path, tmp_path / "o.tcl", part="xc7z020clg400-1",
                                       clk_period_ns=5.0, report_dir=tmp_path,
                                       checkpoint=tmp_path / "c.dcp")


# --------------------------------------------------------------------------- quoting


def test_nasty_paths_and_names_reach_vivado_intact(stitched, tmp_path):
    folder, info = stitched
    nasty_dir = tmp_path / NASTY / "stitched [ip]"
    shutil.copytree(folder, nasty_dir)
    project_dir = tmp_path / f"proj {NASTY}"
    ip_dir = tmp_path / f"ip {{{NASTY}}}"
    ip_name = f"accel {NASTY}"

    t = dry_run(scripts.write_stitched_ip_script(
        nasty_dir, tmp_path / NASTY / "stitched_ip.tcl", part="xc7z020clg400-1",
        board_part=None, clk_period_ns=5.0, project_dir=project_dir, ip_dir=ip_dir,
        ip_name=ip_name))
    assert t.one("create_project").args == ("dfx_stitched", str(project_dir))
    assert t.calls("add_files")[0].list_arg(0) == _files(nasty_dir, ".v")
    assert t.calls("add_files")[1].list_arg(0) == _files(nasty_dir, ".dat")
    assert t.one("ipx::package_project").opt("-root_dir") == str(ip_dir)
    assert t.one("set_property", lambda c: c.args[0] == "name").args[1] == ip_name
    assert t.output == [f"dfx: packaged dfx:dfx:{ip_name}:1.0 in {ip_dir}\n"]

    t = dry_run(scripts.write_ooc_synth_script(
        nasty_dir, tmp_path / NASTY / "ooc.tcl", part="xc7z020clg400-1", clk_period_ns=5.0,
        report_dir=tmp_path / NASTY / "reports", checkpoint=project_dir / "ooc.dcp"))
    assert t.calls("cd")[0].args == (str(nasty_dir),)
    assert t.one("read_verilog").list_arg(0) == _files(nasty_dir, ".v")
    assert t.one("write_checkpoint").args == (str(project_dir / "ooc.dcp"),)
    assert Path(t.one("report_timing_summary").opt("-file")) == \
        tmp_path / NASTY / "reports" / "ooc_timing_summary.rpt"

    vlnv = f"dfx:dfx:{ip_name}:1.0"
    bit = tmp_path / NASTY / "out" / "x.bit"
    t = dry_run(_zynq(stitched, tmp_path / NASTY, "Ultra96-V2", ip_repo=ip_dir, ip_vlnv=vlnv,
                      project_dir=project_dir, bitfile_out=bit))
    assert t.one("set_property", lambda c: c.args[0] == "ip_repo_paths").list_arg(1) == [
        str(ip_dir)]
    assert t.one("create_bd_cell", lambda c: c.args == ("accel",)).opt("-vlnv") == vlnv
    assert t.one("create_project").args[1] == str(project_dir)
    assert {c.args[1] for c in t.calls("file copy")} >= {str(bit)}

    result = scripts.write_alveo_scripts(tmp_path / NASTY / "alveo", board="U250", ip_dir=ip_dir,
                                         ip_vlnv=vlnv, stitch_info=info, clk_period_ns=5.0)
    t = dry_run(result.kernel_script)
    assert t.one("package_xo").opt("-ip_directory") == str(ip_dir)
    assert t.one("package_xo").opt("-xo_path") == str(result.kernel_xo)


# --------------------------------------------------------------------------- relocation


def _write_all(stitched_dir: Path, info: dict, root: Path) -> list[Path]:
    """Every script, as a build writes them: in ``root/build``, the design beside."""
    build = root / "build"
    package = scripts.write_stitched_ip_script(
        stitched_dir, build / "package_ip.tcl", part="xc7z020clg400-1",
        board_part="tul.com.tw:pynq-z2:part0:1.0", clk_period_ns=5.0,
        project_dir=build / "ip_project", ip_dir=build / "ip")
    ooc = scripts.write_ooc_synth_script(
        stitched_dir, build / "ooc_synth.tcl", part="xc7z020clg400-1", clk_period_ns=5.0,
        report_dir=build / "reports", checkpoint=build / "checkpoints" / "post_synth.dcp")
    shell = scripts.write_zynq_shell_script(
        build / "zynq_shell.tcl", board="Pynq-Z2", ip_repo=build / "ip", ip_vlnv=VLNV,
        stitch_info=info, clk_period_ns=5.0, project_dir=build / "shell_project",
        bitfile_out=root / "bitfile" / "dfx.bit", hwh_out=root / "bitfile" / "dfx.hwh",
        report_dir=build / "reports")
    alveo = scripts.write_alveo_scripts(build / "alveo", board="U250", ip_dir=build / "ip",
                                        ip_vlnv=VLNV, stitch_info=info, clk_period_ns=5.0)
    return [package, ooc, shell, alveo.kernel_script]


def _file_paths(t) -> list[str]:
    """Every file or folder path the calls of a transcript name."""
    paths = []
    for call in t:
        if call.name in ("add_files", "read_verilog", "read_xdc"):
            paths += call.list_arg(0)
        elif call.name == "create_project":
            paths.append(call.args[1])
        elif call.name in ("write_checkpoint", "ipx::open_core", "cd", "file mkdir",
                           "file copy", "file exists"):
            paths += call.args
        elif call.name == "set_property" and call.args[0] == "ip_repo_paths":
            paths += call.list_arg(1)
        paths += [str(call.opt(o)) for o in ("-file", "-root_dir", "-ip_directory", "-xo_path")
                  if call.has(o)]
    return paths


def test_scripts_name_no_absolute_path(stitched, tmp_path):
    folder, info = stitched
    root = tmp_path / "first place"
    shutil.copytree(folder, root / "stitched")
    written = _write_all(root / "stitched", info, root)
    generated = [p for p in (root / "build").rglob("*") if p.is_file()]
    assert {p.suffix for p in generated} >= {".tcl", ".xdc", ".v", ".cfg", ".cpp"}
    assert set(written) <= set(generated)
    for text in (str(tmp_path), str(root), str(tmp_path).replace("/", "\\")):
        assert not [p for p in generated if text.encode() in p.read_bytes()], text
    grep = shutil.which("grep")
    if grep:
        found = subprocess.run([grep, "-rlF", str(tmp_path), str(root / "build")],
                               capture_output=True, text=True)
        assert found.returncode == 1 and found.stdout == ""


@pytest.mark.parametrize("moved", ["second place", "second [place] {$x}"])
def test_scripts_run_where_their_folder_moved(stitched, tmp_path, monkeypatch, moved):
    """Write the scripts in A, move the folder to B: every path they name is in B."""
    from dfx.tcl.vivado import session_script

    folder, info = stitched
    first = tmp_path / "first"
    shutil.copytree(folder, first / "stitched")
    names = [p.relative_to(first) for p in _write_all(first / "stitched", info, first)]
    second = tmp_path / "elsewhere" / moved
    shutil.copytree(first, second)
    shutil.rmtree(first)

    def check(t, script):
        paths = _file_paths(t)
        assert len(paths) >= 3, (script, paths)
        outside = [p for p in paths if not Path(p).is_relative_to(second)]
        assert not outside, (script, outside)
        assert str(first) not in str(t) and str(first) not in "".join(t.output)

    monkeypatch.chdir(second)  # Vivado's working folder; the OOC script comes back to it
    transcripts = {}
    for name in names:
        t = dry_run(second / name)
        check(t, name)
        transcripts[name.name] = t
    # what each script names, in its new place
    build = second / "build"
    stitched_v = _files(second / "stitched", ".v")
    package = transcripts["package_ip.tcl"]
    assert package.calls("add_files")[0].list_arg(0) == stitched_v
    assert package.one("ipx::package_project").opt("-root_dir") == str(build / "ip")
    ooc = transcripts["ooc_synth.tcl"]
    assert ooc.calls("cd")[0].args == (str(second / "stitched"),)
    assert ooc.one("read_verilog").list_arg(0) == stitched_v
    assert ooc.one("read_xdc").list_arg(0) == [str(build / "ooc_synth.xdc")]
    assert ooc.one("create_clock").file == "ooc_synth.xdc"  # the moved XDC ran
    assert ooc.one("write_checkpoint").args == (str(build / "checkpoints" / "post_synth.dcp"),)
    shell = transcripts["zynq_shell.tcl"]
    assert {c.args[1] for c in shell.calls("file copy")} == {
        str(second / "bitfile" / "dfx.bit"), str(second / "bitfile" / "dfx.hwh")}
    assert shell.one("add_files").list_arg(0) == [str(build / "dfx_axis_adapter.v")]
    kernel = transcripts["alveo_kernel.tcl"]
    assert kernel.one("package_xo").opt("-xo_path") == str(build / "alveo" / "dfx_accel.xo")
    assert kernel.one("package_xo").opt("-ip_directory") == str(build / "ip")

    # sourced in one session, as dfx runs them, by paths relative to the folder the
    # session starts in (the OOC script goes back there after synthesis)
    order = [names[1], names[0], names[2], names[3]]
    session = dry_run(session_script(order))
    check(session, "session")
    assert session.scripts == ["<script>", "ooc_synth.tcl", "ooc_synth.xdc", "package_ip.tcl",
                               "zynq_shell.tcl", "alveo_kernel.tcl"]
    assert [c.args[0] for c in session.calls("source") if c.file == "<script>"] == [
        str(n) for n in order]
    assert session.one("ipx::package_project").opt("-root_dir") == str(build / "ip")
    assert session.one("package_xo").opt("-xo_path") == str(build / "alveo" / "dfx_accel.xo")
    assert session.output[-1] == "DFX: session session done\n"


def test_templates_render_without_a_stitched_design():
    # the plain templates need only their values
    xdc = render("ooc_clock.xdc.j2", clock="ap_clk", period="2.5", clk_period_ns="2.5")
    assert "create_clock -name ap_clk -period 2.5 [get_ports ap_clk]" in xdc
