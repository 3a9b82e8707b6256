"""Write the Vivado and Vitis scripts that turn a stitched dfx design into hardware.

One function per script: each checks its inputs (a bad value raises
:class:`~dfx.errors.ConfigError` here rather than breaking the script in
Vivado), renders the template and writes the file.

- :func:`write_stitched_ip_script`: package ``stitched_ip/`` as a Vivado IP.
- :func:`write_ooc_synth_script`: out-of-context synthesis and its reports.
- :func:`write_zynq_shell_script`: a Zynq block design around the IP, up to
  the bitstream and the ``.hwh``.
- :func:`write_alveo_scripts`: the RTL kernel ``.xo``, two DMA kernels, the v++
  link configuration and the v++ command lines.

The scripts are relocatable: every path to a file dfx wrote (sources,
memory files, constraints, projects, IP folders, reports, checkpoints,
outputs) is written relative to the script's own folder and resolved when the
script runs (``$dfx_here``, from ``info script``), so a folder holding the
scripts and the files they use can be moved or copied elsewhere, also to
another machine. Only paths that are not dfx's (board file folders) stay
absolute. The v++ command lines are relative to the folder they run in.

The stitched design's streams are ``s_axis_0`` (in) and ``m_axis_0`` (out),
clocked by ``ap_clk`` with the active-low reset ``ap_rst_n``; ``stitch.json``
gives their widths.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfx.errors import ConfigError
from dfx.tcl.render import render

__all__ = [
    "CLOCK",
    "INPUT_STREAM",
    "OUTPUT_STREAM",
    "RESET",
    "AlveoScripts",
    "read_stitch_info",
    "vpp_commands",
    "write_alveo_scripts",
    "write_ooc_synth_script",
    "write_stitched_ip_script",
    "write_zynq_shell_script",
]

#: Port names of the stitched design (dfx_top).
CLOCK = "ap_clk"
RESET = "ap_rst_n"
INPUT_STREAM = "s_axis_0"
OUTPUT_STREAM = "m_axis_0"

#: The widest stream the DMA engines carry (AXI DMA and the HLS kernels).
MAX_DMA_STREAM_BITS = 1024

# Report file names each script writes.
OOC_REPORTS = ("ooc_utilization.rpt", "ooc_utilization_hierarchical.rpt",
               "ooc_timing_summary.rpt")
ZYNQ_REPORTS = ("post_synth_utilization_hierarchical.rpt", "post_route_utilization.rpt",
                "post_route_timing_summary.rpt")

_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_BOARD_PART = re.compile(r"[\w.\-]+:[\w.\-]+:[\w.\-]+:[\w.\-]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VERSION = re.compile(r"[0-9]+\.[0-9]+")
_BANK = re.compile(r"(DDR|HBM|PLRAM|HOST)\[[0-9]+(:[0-9]+)?\]")

# The processing systems: the ports dfx uses and how to turn them on.
_PS_PINS = {
    "ps7": {"clock": "ps/FCLK_CLK0", "reset": "ps/FCLK_RESET0_N",
            "master": "ps/M_AXI_GP0", "master_clock": "ps/M_AXI_GP0_ACLK",
            "slave": "ps/S_AXI_HP0", "slave_clock": "ps/S_AXI_HP0_ACLK"},
    "ps8": {"clock": "ps/pl_clk0", "reset": "ps/pl_resetn0",
            "master": "ps/M_AXI_HPM0_FPD", "master_clock": "ps/maxihpm0_fpd_aclk",
            "slave": "ps/S_AXI_HP0_FPD", "slave_clock": "ps/saxihp0_fpd_aclk"},
}


# --------------------------------------------------------------------------- checks


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low \
            or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be an integer {bounds}, got {value!r}")
    return value


def _matching(name: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def _text(name: str, value: Any, *, forbid: str = "") -> str:
    """A non-empty single-line name; ``forbid`` lists characters it cannot hold."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    bad = [c for c in value if ord(c) < 0x20 or c in forbid]
    if bad:
        raise ConfigError(f"{name} {value!r} holds a character it cannot: {bad[0]!r}")
    return value


def _path(name: str, value: Any) -> Path:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ConfigError(f"{name} must be a path, got {value!r}")
    text = os.fspath(value)
    if any(ord(c) < 0x20 for c in text):
        raise ConfigError(f"{name} holds a control character: {text!r}")
    return Path(os.path.abspath(text))


def _relative(path: Path, folder: Path) -> Path:
    """``path`` relative to ``folder`` (``..`` where needed), for a script in ``folder``.

    Both are resolved first (symbolic links followed), as the script resolves
    its own folder when it runs (``file normalize``). A path that has no
    relative form (another drive on Windows) stays absolute.
    """
    try:
        relative = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
    except ValueError:
        return path
    return Path(relative)


def _vlnv(value: Any) -> str:
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 4 or not all(p.strip() for p in parts) \
            or not _VERSION.fullmatch(parts[3]):
        raise ConfigError(f"ip_vlnv must be vendor:library:name:version, got {value!r}")
    return value


def _freq_mhz(period_ns: float) -> str:
    """The clock frequency in MHz for a period, as Vivado's PS settings take it."""
    text = f"{1000.0 / period_ns:.3f}".rstrip("0").rstrip(".")
    return text


def _period(period_ns: float) -> str:
    return f"{period_ns:.6g}"


def _board(board: Any) -> Any:
    from dfx.board_registry import Board, get_board

    if isinstance(board, Board):
        return board
    if isinstance(board, str):
        return get_board(board)
    raise ConfigError(f"board must be a board name or a Board, got {board!r}")


def _stream_bits(info: Mapping[str, Any], side: str) -> int:
    try:
        width = info[side]["tdata_width"]
    except (KeyError, TypeError):
        raise ConfigError(f"the stitch info has no {side}.tdata_width") from None
    width = _positive_int(f"{side}.tdata_width", width)
    if width % 8:
        raise ConfigError(f"{side}.tdata_width must be a multiple of 8 (AXI4-Stream), "
                          f"got {width}")
    return width


def _dma_width(bits: int, side: str) -> int:
    """The AXI DMA stream width for an accelerator stream: a power of two >= 8."""
    if bits > MAX_DMA_STREAM_BITS:
        raise ConfigError(
            f"the accelerator's {side} stream is {bits} bits wide; the DMA carries at most "
            f"{MAX_DMA_STREAM_BITS}: fold the first/last layer more (lower its SIMD/PE)")
    return max(8, 1 << (bits - 1).bit_length())


# --------------------------------------------------------------------------- stitched design


def read_stitch_info(stitched_dir: Path | str) -> dict:
    """Read and check ``stitch.json`` of a stitched design folder."""
    path = Path(stitched_dir) / "stitch.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: build the stitched_ip output first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    _matching("stitch.json top", info.get("top"), _IDENTIFIER, "a Verilog module name")
    _stream_bits(info, "input")
    _stream_bits(info, "output")
    return info


def _stitched_files(stitched_dir: Path) -> tuple[list[Path], list[Path]]:
    sources = sorted(stitched_dir.glob("*.v"))
    data = sorted(stitched_dir.glob("*.dat"))
    if not sources:
        raise ConfigError(f"{stitched_dir} holds no Verilog (.v) files")
    return sources, data


def _write(out_path: Path | str, text: str) -> Path:
    path = _path("out_path", out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_stitched_ip_script(stitched_dir: Path | str, out_path: Path | str, *, part: str,
                             board_part: str | None, clk_period_ns: float,
                             project_dir: Path | str, ip_dir: Path | str,
                             ip_name: str = "dfx_accel", vendor: str = "dfx",
                             library: str = "dfx", version: str = "1.0",
                             gen_dcp: bool = False) -> Path:
    """Write the Tcl script that packages a stitched design as a Vivado IP.

    With ``gen_dcp`` (FINN's ``stitched_ip_gen_dcp``) the script first synthesizes
    the design out of context and writes ``<top>.dcp`` beside itself.

    The script creates a project in ``project_dir`` on ``part`` (and
    ``board_part`` unless None), adds every ``.v`` and ``.dat`` file of
    ``stitched_dir``, sets the top from ``stitch.json`` and
    packages the IP ``vendor:library:ip_name:version`` into ``ip_dir`` with
    AXI4-Stream interfaces ``s_axis_0``/``m_axis_0`` on clock ``ap_clk``
    (FREQ_HZ from ``clk_period_ns``) and active-low reset ``ap_rst_n``.
    The script names all these paths relative to its own folder.
    Returns the script's path.
    """
    stitched = _path("stitched_dir", stitched_dir)
    here = _path("out_path", out_path).parent
    info = read_stitch_info(stitched)
    sources, data = _stitched_files(stitched)
    period = _positive_number("clk_period_ns", clk_period_ns)
    if board_part is not None:
        _matching("board_part", board_part, _BOARD_PART, "vendor:board:part0:version")
    vlnv = ":".join((_text("vendor", vendor, forbid=":"), _text("library", library, forbid=":"),
                     _text("ip_name", ip_name, forbid=":"),
                     _matching("version", version, _VERSION, "major.minor")))
    streams = [{"name": name, "ports": [f"{name}_{s}" for s in ("tdata", "tvalid", "tready")],
                "width": _stream_bits(info, side)}
               for name, side in ((INPUT_STREAM, "input"), (OUTPUT_STREAM, "output"))]
    text = render(
        "stitched_ip.tcl.j2", script_name=_path("out_path", out_path).name,
        part=_matching("part", part, _PART, "a Vivado part name"),
        board_part=board_part, project_name="dfx_stitched",
        project_dir=_relative(_path("project_dir", project_dir), here),
        ip_dir=_relative(_path("ip_dir", ip_dir), here), top=info["top"],
        sources=[_relative(p, here) for p in sources],
        mem_files=[_relative(p, here) for p in data], vendor=vendor, library=library,
        ip_name=ip_name, version=version, vlnv=vlnv,
        display_name=f"dfx accelerator {ip_name}",
        description="Streaming dataflow accelerator built by dfx",
        clock=CLOCK, reset=RESET, streams=streams, clk_period_ns=_period(period),
        freq_hz=round(1e9 / period), dcp_name=f"{info['top']}.dcp" if gen_dcp else None)
    return _write(out_path, text)


def write_ooc_synth_script(stitched_dir: Path | str, out_path: Path | str, *, part: str,
                           clk_period_ns: float, report_dir: Path | str,
                           checkpoint: Path | str, hierarchical_depth: int = 4) -> Path:
    """Write the Tcl script for out-of-context synthesis of a stitched design.

    Non-project mode: reads the ``.v`` files of ``stitched_dir``, synthesises
    its top on ``part`` out of context against a clock of ``clk_period_ns``
    on ``ap_clk`` (an XDC written next to the script, ``<script>.xdc``) and
    writes ``ooc_utilization.rpt``, ``ooc_utilization_hierarchical.rpt``
    (``hierarchical_depth`` levels) and ``ooc_timing_summary.rpt`` into
    ``report_dir`` and the checkpoint ``checkpoint``. The script names all
    these paths relative to its own folder. Returns the script's path.
    """
    stitched = _path("stitched_dir", stitched_dir)
    info = read_stitch_info(stitched)
    sources, _ = _stitched_files(stitched)
    period = _positive_number("clk_period_ns", clk_period_ns)
    script = _path("out_path", out_path)
    here = script.parent
    xdc = _write(script.with_suffix(".xdc"), render(
        "ooc_clock.xdc.j2", clock=CLOCK, period=_period(period), clk_period_ns=_period(period)))
    text = render(
        "ooc_synth.tcl.j2",
        part=_matching("part", part, _PART, "a Vivado part name"), top=info["top"],
        stitched_dir=_relative(stitched, here), sources=[_relative(p, here) for p in sources],
        xdc=_relative(xdc, here),
        report_dir=_relative(_path("report_dir", report_dir), here),
        checkpoint=_relative(_path("checkpoint", checkpoint), here),
        hierarchical_depth=_positive_int("hierarchical_depth", hierarchical_depth))
    return _write(script, text)


# --------------------------------------------------------------------------- Zynq


def write_zynq_shell_script(out_path: Path | str, *, board: Any, ip_repo: Path | str,
                            ip_vlnv: str, stitch_info: Mapping[str, Any],
                            clk_period_ns: float, project_dir: Path | str,
                            bitfile_out: Path | str, hwh_out: Path | str,
                            report_dir: Path | str, jobs: int = 4,
                            hierarchical_depth: int = 4, frames_per_transfer: int = 1,
                            dma_length_width: int = 26,
                            board_repo_paths: Sequence[Path | str] = (),
                            run_after: Sequence[str] = ()) -> Path:
    """Write the Tcl script that builds a Zynq bitstream around the packaged IP.

    ``board`` (a name or a :class:`~dfx.board_registry.Board`) must be a Zynq
    board with a board part and a processing system. The block design holds
    the PS (fabric clock from ``clk_period_ns``), an AXI DMA (control on the
    PS's general-purpose master, memory through a SmartConnect to its
    high-performance port), the accelerator ``ip_vlnv`` from ``ip_repo``, and
    two ``dfx_axis_adapter`` modules (written next to the script as
    ``dfx_axis_adapter.v``) that match the DMA's power-of-two stream widths
    and end each S2MM transfer (TLAST) after ``frames_per_transfer`` output
    frames. ``stitch_info`` is the stitched design's ``stitch.json``.
    ``dma_length_width`` is the DMA's buffer length register width (8..26
    bits). The script runs synthesis and implementation with ``jobs`` jobs,
    writes ``post_synth_utilization_hierarchical.rpt``,
    ``post_route_utilization.rpt`` and ``post_route_timing_summary.rpt``
    into ``report_dir`` and copies the bitstream to ``bitfile_out`` and the
    hardware handoff to ``hwh_out``. The script names these paths relative
    to its own folder. ``board_repo_paths`` are extra board file folders for
    Vivado (written as absolute paths: they are not dfx's). ``run_after``
    names the scripts beside it that must run first (the IP packaging); the
    header gives that order. Returns the script's path.
    """
    board = _board(board)
    if not board.is_zynq:
        raise ConfigError(f"board {board.name} is not a Zynq board (its flow is "
                          f"{board.shell_flow_type}); use write_alveo_scripts for it")
    if not board.board_part:
        raise ConfigError(f"board {board.name} has no board_part: the Zynq shell needs the "
                          "board's presets")
    ps = board.ps or {}
    if ps.get("type") not in _PS_PINS or not ps.get("name"):
        raise ConfigError(f"board {board.name} does not describe its processing system (ps)")
    period = _positive_number("clk_period_ns", clk_period_ns)
    in_bits, out_bits = _stream_bits(stitch_info, "input"), _stream_bits(stitch_info, "output")
    try:
        frame_words = _positive_int("output.words_per_frame",
                                    stitch_info["output"]["words_per_frame"])
    except (KeyError, TypeError):
        raise ConfigError("the stitch info has no output.words_per_frame") from None
    packet_words = frame_words * _positive_int("frames_per_transfer", frames_per_transfer)
    dma_in, dma_out = _dma_width(in_bits, "input"), _dma_width(out_bits, "output")
    pins = _PS_PINS[ps["type"]]
    freq_mhz = _freq_mhz(period)

    if ps["type"] == "ps7":
        ps_config = ["CONFIG.PCW_USE_M_AXI_GP0", 1, "CONFIG.PCW_USE_S_AXI_HP0", 1,
                     "CONFIG.PCW_EN_CLK0_PORT", 1, "CONFIG.PCW_EN_RST0_PORT", 1,
                     "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ", freq_mhz]
    else:  # ps8: GP0 is M_AXI_HPM0_FPD, S_AXI_GP2 is S_AXI_HP0_FPD
        ps_config = ["CONFIG.PSU__USE__M_AXI_GP0", 1, "CONFIG.PSU__USE__M_AXI_GP1", 0,
                     "CONFIG.PSU__USE__M_AXI_GP2", 0, "CONFIG.PSU__USE__S_AXI_GP2", 1,
                     "CONFIG.PSU__FPGA_PL0_ENABLE", 1,
                     "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", freq_mhz]
    dma_config = [
        "CONFIG.c_include_sg", 0,
        "CONFIG.c_sg_length_width", _positive_int("dma_length_width", dma_length_width, 8, 26),
        # the UltraScale+ PS has memory above 4 GiB
        "CONFIG.c_addr_width", 32 if ps["type"] == "ps7" else 64,
        "CONFIG.c_include_mm2s", 1, "CONFIG.c_include_s2mm", 1,
        "CONFIG.c_m_axis_mm2s_tdata_width", dma_in,
        "CONFIG.c_m_axi_mm2s_data_width", max(32, dma_in),
        "CONFIG.c_s_axis_s2mm_tdata_width", dma_out,
        "CONFIG.c_m_axi_s2mm_data_width", max(32, dma_out),
        "CONFIG.c_mm2s_burst_size", 16, "CONFIG.c_s2mm_burst_size", 16,
    ]
    adapters = [
        {"name": "in_adapter", "config": ["CONFIG.IN_WIDTH", dma_in, "CONFIG.OUT_WIDTH",
                                          in_bits, "CONFIG.PACKET_WORDS", 0]},
        {"name": "out_adapter", "config": ["CONFIG.IN_WIDTH", out_bits, "CONFIG.OUT_WIDTH",
                                           dma_out, "CONFIG.PACKET_WORDS", packet_words]},
    ]
    clock_pins = [pins["clock"], pins["master_clock"], pins["slave_clock"],
                  "rst_ps/slowest_sync_clk", "axi_dma/s_axi_lite_aclk",
                  "axi_dma/m_axi_mm2s_aclk", "axi_dma/m_axi_s2mm_aclk", "axi_mem/aclk",
                  f"accel/{CLOCK}", f"in_adapter/{CLOCK}", f"out_adapter/{CLOCK}"]
    reset_pins = ["rst_ps/peripheral_aresetn", "axi_dma/axi_resetn", "axi_mem/aresetn",
                  f"accel/{RESET}", f"in_adapter/{RESET}", f"out_adapter/{RESET}"]
    interface_nets = [
        ("axi_dma/M_AXIS_MM2S", "in_adapter/s_axis"),
        ("in_adapter/m_axis", f"accel/{INPUT_STREAM}"),
        (f"accel/{OUTPUT_STREAM}", "out_adapter/s_axis"),
        ("out_adapter/m_axis", "axi_dma/S_AXIS_S2MM"),
        ("axi_dma/M_AXI_MM2S", "axi_mem/S00_AXI"),
        ("axi_dma/M_AXI_S2MM", "axi_mem/S01_AXI"),
        ("axi_mem/M00_AXI", pins["slave"]),
    ]
    axi_connections = [{"master": "/" + pins["master"], "slave": "/axi_dma/S_AXI_LITE",
                        "target": "axi_dma/S_AXI_LITE", "interconnect": "New AXI Interconnect"}]

    script = _path("out_path", out_path)
    here = script.parent
    adapter = _write(here / "dfx_axis_adapter.v", render("dfx_axis_adapter.v.j2"))
    text = render(
        "zynq_shell.tcl.j2", run_after=[_text("run_after", n) for n in run_after],
        board_name=board.name, part=_matching("part", board.part, _PART, "a Vivado part name"),
        board_part=_matching("board_part", board.board_part, _BOARD_PART,
                             "vendor:board:part0:version"),
        board_repo_paths=[_path("board_repo_paths", p) for p in board_repo_paths],
        project_name="dfx_zynq",
        project_dir=_relative(_path("project_dir", project_dir), here), bd_name="dfx_shell",
        ip_repo=_relative(_path("ip_repo", ip_repo), here), ip_vlnv=_vlnv(ip_vlnv),
        adapter_source=_relative(adapter, here), ps_type=ps["type"],
        ps_name=_matching("ps name", ps["name"], _IDENTIFIER, "an IP name"),
        ps_config=ps_config, dma_config=dma_config, adapters=adapters,
        packet_words=packet_words, freq_mhz=freq_mhz, clk_period_ns=_period(period),
        clock_pins=clock_pins, reset_source_pins=[pins["reset"], "rst_ps/ext_reset_in"],
        reset_pins=reset_pins, interface_nets=interface_nets,
        axi_connections=axi_connections, jobs=_positive_int("jobs", jobs),
        hierarchical_depth=_positive_int("hierarchical_depth", hierarchical_depth),
        report_dir=_relative(_path("report_dir", report_dir), here),
        bitfile_out=_relative(_path("bitfile_out", bitfile_out), here),
        hwh_out=_relative(_path("hwh_out", hwh_out), here))
    return _write(script, text)


# --------------------------------------------------------------------------- Alveo


@dataclass(frozen=True)
class AlveoScripts:
    """What :func:`write_alveo_scripts` wrote and the v++ commands that use it.

    Run ``kernel_script`` with Vivado (it writes ``kernel_xo``), then each of
    ``compile_commands`` (they write ``mm2s_xo`` and ``s2mm_xo``), then
    ``link_command`` (it writes ``xclbin``). The commands are argument lists
    (no shell) to run in the folder the scripts were written to (``out_dir``
    of :func:`write_alveo_scripts`, the folder of ``kernel_script``): their
    paths are relative to it, so the folder can move. The fields here are
    absolute paths, for the caller.
    """

    kernel_script: Path
    link_config: Path
    mm2s_source: Path
    s2mm_source: Path
    kernel_xo: Path
    mm2s_xo: Path
    s2mm_xo: Path
    xclbin: Path
    compile_commands: tuple[tuple[str, ...], ...]
    link_command: tuple[str, ...]


#: The DMA kernels: kernel (function) name, compute unit, stream port, memory port.
MM2S = {"kernel": "dfx_mm2s", "instance": "dfx_mm2s_1", "stream": "out", "memory": "src"}
S2MM = {"kernel": "dfx_s2mm", "instance": "dfx_s2mm_1", "stream": "in", "memory": "dst"}


def vpp_commands(*, platform: str, clk_period_ns: float, mm2s_source: Path, s2mm_source: Path,
                 mm2s_xo: Path, s2mm_xo: Path, kernel_xo: Path, link_config: Path,
                 xclbin: Path) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """The v++ command lines of the Alveo flow, as argument lists.

    Returns ``(compile_commands, link_command)``: ``v++ -c -k`` for each DMA
    kernel (HLS clock from ``clk_period_ns``) and ``v++ -l`` that links the
    three kernels on ``platform`` with ``link_config``. The kernel clock goes
    in ``--kernel_frequency`` (MHz): Alveo XDMA platforms scale their kernel
    clock, which the ``[clock]`` options of v++ do not address. The paths
    are written as given: pass them relative to the folder the commands are
    to run in, so that the commands still work when that folder moves.
    """
    period = _positive_number("clk_period_ns", clk_period_ns)
    hz = round(1e9 / period)
    compile_commands = tuple(
        ("v++", "-c", "-t", "hw", "--platform", platform, "-k", kernel["kernel"],
         "--hls.clock", f"{hz}:{kernel['kernel']}", "-o", str(xo), str(source))
        for kernel, source, xo in ((MM2S, mm2s_source, mm2s_xo), (S2MM, s2mm_source, s2mm_xo)))
    link_command = ("v++", "-l", "-t", "hw", "--platform", platform,
                    "--kernel_frequency", str(max(1, round(1000.0 / period))),
                    "--config", str(link_config), "-o", str(xclbin),
                    str(mm2s_xo), str(kernel_xo), str(s2mm_xo))
    return compile_commands, link_command


def write_alveo_scripts(out_dir: Path | str, *, board: Any, ip_dir: Path | str, ip_vlnv: str,
                        stitch_info: Mapping[str, Any], clk_period_ns: float,
                        kernel_name: str = "dfx_accel",
                        memory_bank: str | None = None,
                        run_after: Sequence[str] = ()) -> AlveoScripts:
    """Write the Alveo (Vitis) flow for a packaged dfx IP into ``out_dir``.

    ``board`` must be an Alveo board with a platform. Writes
    ``alveo_kernel.tcl`` (Vivado: the IP in ``ip_dir`` becomes the
    free-running RTL kernel ``kernel_name``, ``<kernel_name>.xo``),
    ``alveo_mm2s.cpp`` and ``alveo_s2mm.cpp`` (Vitis HLS DMA kernels
    ``dfx_mm2s``/``dfx_s2mm`` whose streams match the accelerator's widths
    from ``stitch_info``) and ``alveo_link.cfg`` (v++ connectivity: memory ->
    dfx_mm2s -> ``s_axis_0``, ``m_axis_0`` -> dfx_s2mm -> memory, on
    ``memory_bank``: ``HBM[0]`` on HBM boards, else ``DDR[0]``). ``ip_vlnv``
    names the IP the kernel is made from (checked, and noted in the kernel
    script). The kernel script names ``ip_dir`` and the ``.xo`` relative to
    its own folder; the v++ commands are to run in ``out_dir`` (their paths
    are relative to it). ``run_after`` names the scripts that must run
    before the kernel script (the IP packaging), for its header. Returns the
    paths and the v++ commands.
    """
    board = _board(board)
    if not board.is_alveo:
        raise ConfigError(f"board {board.name} is not an Alveo board (its flow is "
                          f"{board.shell_flow_type}); use write_zynq_shell_script for it")
    if not board.platform:
        raise ConfigError(f"board {board.name} has no Vitis platform")
    _vlnv(ip_vlnv)
    kernel = _matching("kernel_name", kernel_name, _IDENTIFIER, "a C identifier")
    if kernel in (MM2S["kernel"], S2MM["kernel"]):
        raise ConfigError(f"kernel_name {kernel!r} is taken by a DMA kernel")
    period = _positive_number("clk_period_ns", clk_period_ns)
    in_bits, out_bits = _stream_bits(stitch_info, "input"), _stream_bits(stitch_info, "output")
    bank = memory_bank or ("HBM[0]" if board.family.endswith("HBM") else "DDR[0]")
    _matching("memory_bank", bank, _BANK, "a v++ memory bank such as DDR[0] or HBM[0]")
    platform = _matching("platform", board.platform, _PART, "a platform name")

    out = _path("out_dir", out_dir)
    kernel_xo = out / f"{kernel}.xo"
    kernel_script = _write(out / "alveo_kernel.tcl", render(
        "alveo_kernel.tcl.j2", ip_dir=_relative(_path("ip_dir", ip_dir), out), ip_vlnv=ip_vlnv,
        kernel_name=kernel, xo_path=_relative(kernel_xo, out), xo_name=kernel_xo.name,
        run_after=[_text("run_after", n) for n in run_after]))
    sources = {}
    for name, spec, bits in (("mm2s", MM2S, in_bits), ("s2mm", S2MM, out_bits)):
        _dma_width(bits, "input" if name == "mm2s" else "output")
        # each word sits in a power-of-two slot in memory, as HLS lays out ap_uint
        slot = max(8, 1 << (bits - 1).bit_length())
        sources[name] = _write(out / f"alveo_{name}.cpp", render(
            f"alveo_{name}.cpp.j2", kernel=spec["kernel"], stream_width=bits,
            mem_width=slot))
    link_config = _write(out / "alveo_link.cfg", render(
        "alveo_link.cfg.j2", board_name=board.name, platform=platform, memory_bank=bank,
        freq_mhz=_freq_mhz(period), mm2s=MM2S, s2mm=S2MM,
        accel={"kernel": kernel, "instance": f"{kernel}_1", "input": INPUT_STREAM,
               "output": OUTPUT_STREAM}))
    mm2s_xo, s2mm_xo = out / f"{MM2S['kernel']}.xo", out / f"{S2MM['kernel']}.xo"
    xclbin = out / f"{kernel}.xclbin"
    compile_commands, link_command = vpp_commands(
        platform=platform, clk_period_ns=period,
        mm2s_source=_relative(sources["mm2s"], out), s2mm_source=_relative(sources["s2mm"], out),
        mm2s_xo=_relative(mm2s_xo, out), s2mm_xo=_relative(s2mm_xo, out),
        kernel_xo=_relative(kernel_xo, out), link_config=_relative(link_config, out),
        xclbin=_relative(xclbin, out))
    return AlveoScripts(kernel_script=kernel_script, link_config=link_config,
                        mm2s_source=sources["mm2s"], s2mm_source=sources["s2mm"],
                        kernel_xo=kernel_xo, mm2s_xo=mm2s_xo, s2mm_xo=s2mm_xo, xclbin=xclbin,
                        compile_commands=compile_commands, link_command=link_command)
