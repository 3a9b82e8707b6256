"""Tests of the tool-report readers of dfx.reports (Vivado, Vitis HLS, Yosys, detection).

The fixtures are real tool output (tests/fixtures/vivado/SOURCES.md says where each came
from) and a Yosys run on tests/fixtures/yosys/mac_ram.v (make_stat.py); every figure
asserted here was read off the file by hand.
"""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dfx.errors import DfxError
from dfx.reports import (
    HLS_COLUMNS,
    LOG_COLUMNS,
    REPORT_KINDS,
    TIMING_COLUMNS,
    UTILIZATION_COLUMNS,
    UTILIZATION_FLAT_COLUMNS,
    UTILIZATION_HIER_COLUMNS,
    YOSYS_COLUMNS,
    ReportError,
    detect_report_kind,
    first_errors,
    fmax_mhz,
    read_hls_csynth_summary,
    read_hls_csynth_text,
    read_hls_csynth_xml,
    read_report,
    read_vivado_log,
    read_vivado_timing_summary,
    read_vivado_utilization,
    read_vivado_utilization_hierarchical,
    read_yosys_stat,
)
from dfx.reports.vivado import LOG_KINDS
from dfx.reports.yosys import normalise_cells

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VIVADO = FIXTURES / "vivado"
YOSYS = FIXTURES / "yosys"

KINDS = {
    VIVADO / "util_xc7z020_flat.rpt": "vivado_utilization",
    VIVADO / "util_xczu7ev_flat.rpt": "vivado_utilization",
    VIVADO / "util_xcku035_flat.rpt": "vivado_utilization",
    VIVADO / "util_hier_xck24.rpt": "vivado_utilization_hierarchical",
    VIVADO / "util_hier_xczu9eg.rpt": "vivado_utilization_hierarchical",
    VIVADO / "timing_summary_met.rpt": "vivado_timing_summary",
    VIVADO / "timing_summary_failed.rpt": "vivado_timing_summary",
    VIVADO / "hls_csynth.xml": "vitis_hls_csynth_xml",
    VIVADO / "hls_csynth.rpt": "vitis_hls_csynth_text",
    VIVADO / "hls_csynth_summary.rpt": "vitis_hls_csynth_summary",
    VIVADO / "vivado_error.log": "vivado_log",
    YOSYS / "stat.json": "yosys_stat_json",
    YOSYS / "stat_hier.json": "yosys_stat_json",
}
# Reports whose every table is checked for completeness (a log is complete at any length).
REPORTS = [p for p, kind in KINDS.items() if kind != "vivado_log"]


def _one(df: pd.DataFrame, **where) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for column, value in where.items():
        mask &= df[column] == value
    rows = df[mask]
    assert len(rows) == 1, f"{where}: {len(rows)} rows"
    return rows.iloc[0]


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


# -- flat utilization ------------------------------------------------------------------------


def test_flat_utilization_7series():
    df = read_vivado_utilization(VIVADO / "util_xc7z020_flat.rpt")
    assert list(df.columns) == list(UTILIZATION_FLAT_COLUMNS)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["LUT"] == 5417            # Slice LUTs
    assert row["LUT_logic"] == 5229      # LUT as Logic
    assert row["LUTRAM"] == 18           # LUT as Distributed RAM
    assert row["SRL"] == 170             # LUT as Shift Register
    assert row["FF"] == 6173             # Slice Registers
    assert row["BRAM_tiles"] == 10       # Block RAM Tile (36 Kb)
    assert (row["RAMB36"], row["RAMB18"]) == (7, 6)
    assert row["BRAM_18K"] == 2 * 7 + 6 == 20
    assert row["DSP"] == 0
    assert pd.isna(row["URAM"]) and pd.isna(row["URAM_available"])  # no URAM on 7-series
    assert row["CARRY"] == 236           # CARRY4 primitives
    assert (row["LUT_available"], row["FF_available"], row["BRAM_18K_available"],
            row["DSP_available"]) == (53200, 106400, 280, 220)
    assert row["tool"] == "vivado"
    assert row["tool_version"] == "2022.1"
    assert row["part"] == "xc7z020clg400-1"
    assert row["design"] == "design_1_wrapper"
    assert row["design_state"] == "Fully Placed"
    assert row["source"] == "util_xc7z020_flat.rpt"
    for column in UTILIZATION_COLUMNS:
        assert str(df[column].dtype) == "Int64", column


def test_flat_utilization_fractional_block_ram_tiles(tmp_path):
    # a synthesized design can use half a tile (one RAMB18): Vivado prints 0.5
    text = (VIVADO / "util_xc7z020_flat.rpt").read_text()
    row = "| Block RAM Tile    |   10 |     0 |          0 |       140 |  7.14 |"
    assert row in text
    (tmp_path / "half.rpt").write_text(text.replace(row, row.replace("   10 |", "  9.5 |")))
    df = read_vivado_utilization(tmp_path / "half.rpt")
    assert df.iloc[0]["BRAM_tiles"] == 9.5 and df["BRAM_tiles"].dtype == "float64"
    assert df.iloc[0]["BRAM_18K"] == 20 and str(df["BRAM_18K"].dtype) == "Int64"


def test_flat_utilization_ultrascale_plus_with_uram_fixed_and_tiny_util():
    row = read_vivado_utilization(VIVADO / "util_xczu7ev_flat.rpt").iloc[0]
    assert row["LUT"] == 86343           # CLB LUTs (Fixed 256, Util% of a latch row <0.01)
    assert row["LUT_logic"] == 83185
    assert row["LUTRAM"] == 2756
    assert row["SRL"] == 402
    assert row["FF"] == 50450            # CLB Registers
    assert (row["BRAM_tiles"], row["RAMB36"], row["RAMB18"]) == (22, 15, 14)
    assert row["BRAM_18K"] == 44
    assert row["URAM"] == 1 and row["URAM_available"] == 96
    assert row["DSP"] == 303 and row["DSP_available"] == 1728
    assert row["CARRY"] == 2987          # CARRY8
    assert row["BRAM_18K_available"] == 624
    assert row["tool_version"] == "2024.1.2"
    assert row["part"] == "xczu7ev-ffvc1156-2-e"
    assert row["design"] == "MLKEM_SE_QUBIP_wrapper"
    assert row["design_state"] == "Routed"


def test_flat_utilization_without_prohibited_column():
    row = read_vivado_utilization(VIVADO / "util_xcku035_flat.rpt").iloc[0]
    assert row["LUT"] == 83081
    assert row["LUTRAM"] == 11180
    assert row["SRL"] == 1294
    assert row["FF"] == 99827
    assert (row["BRAM_tiles"], row["RAMB36"], row["RAMB18"]) == (428, 410, 36)
    assert row["BRAM_18K"] == 856 == 2 * row["BRAM_tiles"]
    assert row["DSP"] == 0 and row["DSP_available"] == 1700
    assert pd.isna(row["URAM"])          # Kintex UltraScale: no URAM row
    assert row["CARRY"] == 869
    assert row["tool_version"] == "2019.1.1"
    assert row["part"] == "xcku035fbva676-2"
    assert row["design"] == "fpga"


# -- hierarchical utilization ---------------------------------------------------------------


def test_hierarchical_utilization_modern_columns():
    df = read_vivado_utilization_hierarchical(VIVADO / "util_hier_xck24.rpt")
    assert list(df.columns) == list(UTILIZATION_HIER_COLUMNS)
    assert df["instance"].tolist() == ["pll_top", "(pll_top)", "u_lf", "u_nco", "u_pd"]
    assert df["module"].tolist() == ["(top)", "(top)", "lf", "nco", "pd"]
    assert df["depth"].tolist() == [0, 1, 1, 1, 1]
    assert pd.isna(df["parent"].iloc[0])
    assert df["parent"].iloc[1:].tolist() == ["pll_top"] * 4
    assert df["is_self"].tolist() == [False, True, False, False, False]
    top = _one(df, instance="pll_top")
    assert (top["LUT"], top["LUT_logic"], top["FF"]) == (112, 112, 71)
    pd_row = _one(df, instance="u_pd")
    assert (pd_row["LUT"], pd_row["FF"], pd_row["path"]) == (49, 36, "pll_top/u_pd")
    assert (df[["LUTRAM", "SRL", "BRAM_18K", "URAM", "DSP"]] == 0).all().all()
    assert top["tool_version"] == "2024.2"
    assert top["part"] == "xck24-ubva530-2LVI-i"
    assert top["design"] == "pll_top"


def test_hierarchical_utilization_old_dsp48_column_nested():
    df = read_vivado_utilization_hierarchical(VIVADO / "util_hier_xczu9eg.rpt")
    assert len(df) == 361
    assert df["path"].is_unique
    top = df.iloc[0]
    assert (top["instance"], top["module"], top["depth"]) == ("leaf", "(top)", 0)
    assert (top["LUT"], top["LUT_logic"], top["LUTRAM"], top["SRL"], top["FF"]) == \
        (4456, 4344, 112, 0, 4116)
    assert (top["RAMB36"], top["RAMB18"], top["BRAM_18K"]) == (26, 11, 63)
    assert (top["URAM"], top["DSP"]) == (0, 0)   # "DSP48 Blocks"
    wrapper = _one(df, path="leaf/picorv32_wrapper_inst")
    assert (wrapper["module"], wrapper["depth"], wrapper["parent"]) == \
        ("picorv32_wrapper", 1, "leaf")
    assert (wrapper["LUT"], wrapper["LUTRAM"], wrapper["FF"], wrapper["RAMB36"],
            wrapper["BRAM_18K"]) == (2504, 80, 1447, 16, 32)
    cpu = _one(df, path="leaf/picorv32_wrapper_inst/uut")
    assert (cpu["module"], cpu["depth"], cpu["LUT"], cpu["FF"]) == ("picorv32", 2, 2311, 1159)
    # "ConCtrl" is two different instances: rows are told apart by path
    con = df[df["instance"] == "ConCtrl"]
    assert sorted(con["module"]) == ["Config_Controls", "converge_ctrl"]
    assert sorted(con["depth"]) == [2, 3]
    # a self row eight levels down
    deep = _one(df, path="leaf/leaf_interface_inst/sfc/ipc/input_port_inst[0].IPort/"
                          "data_converter_inst/xpm_fifo_async2user/"
                          "gnuram_async_fifo.xpm_fifo_base_inst/"
                          "(gnuram_async_fifo.xpm_fifo_base_inst)")
    assert deep["depth"] == 8 and bool(deep["is_self"])
    assert (deep["LUT"], deep["FF"]) == (2, 22)
    # the deepest rows (19 spaces of indentation): 15 of them, nine levels down
    assert df["depth"].max() == 9
    assert (df["depth"] == 9).sum() == 15
    deepest = df[df["depth"] == 9].iloc[0]   # line 93 of the report
    assert (deepest["instance"], deepest["module"], deepest["LUT"], deepest["FF"]) == \
        ("(xpm_fifo_rst_inst)", "xpm_fifo_rst__xdcDup__2", 15, 13)
    assert deepest["parent"].endswith("/xpm_fifo_rst_inst")
    # the children of the top hold all its registers
    children = df[df["parent"] == "leaf"]
    assert children["instance"].tolist() == ["leaf_interface_inst", "picorv32_wrapper_inst"]
    assert children["FF"].sum() == top["FF"]
    assert (top["tool_version"], top["part"], top["design_state"]) == \
        ("2018.2", "xczu9egffvb1156-2", "Synthesized")


def test_flat_and_hierarchical_readers_refuse_each_other():
    with pytest.raises(ReportError, match="hierarchical"):
        read_vivado_utilization(VIVADO / "util_hier_xck24.rpt")
    with pytest.raises(ReportError, match="flat"):
        read_vivado_utilization_hierarchical(VIVADO / "util_xc7z020_flat.rpt")


# -- timing summary ---------------------------------------------------------------------------


def test_timing_summary_met():
    df = read_vivado_timing_summary(VIVADO / "timing_summary_met.rpt")
    assert list(df.columns) == list(TIMING_COLUMNS)
    assert df["scope"].tolist() == ["design", "clock"]
    design = df.iloc[0]
    assert (design["WNS"], design["TNS"], design["WHS"], design["THS"]) == \
        (4.010, 0.0, 0.089, 0.0)
    assert (design["WPWS"], design["TPWS"]) == (4.725, 0.0)
    assert (design["TNS_failing_endpoints"], design["TNS_total_endpoints"]) == (0, 117)
    assert (design["THS_failing_endpoints"], design["THS_total_endpoints"]) == (0, 117)
    assert (design["TPWS_failing_endpoints"], design["TPWS_total_endpoints"]) == (0, 72)
    assert bool(design["timing_met"])
    clock = df.iloc[1]
    assert clock["clock"] == "clk_in"
    assert (clock["period_ns"], clock["frequency_mhz"]) == (10.0, 100.0)
    assert clock["WNS"] == 4.010
    assert clock["fmax_mhz"] == pytest.approx(1000 / (10.0 - 4.010))
    assert design["fmax_mhz"] == clock["fmax_mhz"]  # the design's only clock
    assert bool(clock["timing_met"])
    assert (design["tool_version"], design["part"], design["design"],
            design["design_state"]) == ("2024.2", "xck24-ubva530", "pll_top", "Routed")
    assert df["timing_met"].dtype == bool


def test_timing_summary_failed():
    df = read_vivado_timing_summary(VIVADO / "timing_summary_failed.rpt")
    design, clock = df.iloc[0], df.iloc[1]
    assert (design["WNS"], design["TNS"]) == (-0.590, -6.542)
    assert (design["TNS_failing_endpoints"], design["TNS_total_endpoints"]) == (25, 457)
    assert (design["WHS"], design["THS"], design["THS_failing_endpoints"]) == (0.068, 0.0, 0)
    assert (design["WPWS"], design["TPWS_total_endpoints"]) == (4.5, 259)
    assert not design["timing_met"]
    assert clock["clock"] == "extclk" and clock["period_ns"] == 10.0
    # the intra-clock row: 438 of the 457 endpoints (19 are in **async_default**)
    assert (clock["WNS"], clock["TNS_failing_endpoints"], clock["TNS_total_endpoints"]) == \
        (-0.590, 25, 438)
    assert clock["fmax_mhz"] == pytest.approx(1000 / 10.590)
    assert clock["fmax_mhz"] < clock["frequency_mhz"]
    assert not clock["timing_met"]
    assert (design["tool_version"], design["part"], design["design"]) == \
        ("2018.1", "7a100t-csg324", "enhancedCROwrap")
    assert pd.isna(design["design_state"])  # 2018.1 has no "Design State" line


def test_fmax_formula():
    assert fmax_mhz(10.0, 0.0) == 100.0
    assert fmax_mhz(5.0, 1.0) == 250.0
    assert fmax_mhz(4.0, -1.0) == 200.0
    assert fmax_mhz(None, 1.0) is None and fmax_mhz(10.0, None) is None
    assert fmax_mhz(10.0, math.inf) is None and fmax_mhz(1.0, 2.0) is None


# -- Vitis HLS ----------------------------------------------------------------------------------

LOOPS = ["buf_x1", "buf_x2", "win_y_win_x", "for_y_for_x"]


def _check_hls_top(top: pd.Series, source: str) -> None:
    assert (top["name"], top["kind"], top["depth"]) == ("gaussian", "top", 0)
    assert (top["latency_min"], top["latency_max"]) == (262673, 262673)
    assert (top["interval_min"], top["interval_max"]) == (262674, 262674)
    assert (top["BRAM_18K"], top["FF"], top["LUT"]) == (3, 973, 1870)
    assert top["tool"] == "vitis_hls"
    assert top["tool_version"] == "2020.2"
    assert top["part"] == "xczu7ev-ffvc1156-2-e"
    assert top["design"] == "gaussian"
    assert top["source"] == source


def test_hls_csynth_xml():
    df = read_hls_csynth_xml(VIVADO / "hls_csynth.xml")
    assert list(df.columns) == list(HLS_COLUMNS)
    top = df.iloc[0]
    _check_hls_top(top, "hls_csynth.xml")
    assert (top["DSP"], top["URAM"]) == (0, 0)
    assert top["estimated_clock_ns"] == 6.427
    assert (top["target_clock_ns"], top["clock_uncertainty_ns"]) == (10.0, 2.7)
    assert top["pipeline_type"] == "none"
    loops = df[df["kind"] == "loop"]
    assert loops["name"].tolist() == LOOPS
    assert (loops["parent"] == "gaussian").all() and (loops["depth"] == 1).all()
    assert loops["trip_count"].tolist() == [2, 512, 4, 262144]
    assert loops["latency_max"].tolist() == [2, 512, 5, 262146]
    assert loops["interval_min"].tolist() == [1, 1, 1, 1]            # PipelineII
    assert loops["iteration_latency"].tolist() == [1, 1, 2, 4]       # PipelineDepth
    assert loops[["BRAM_18K", "DSP", "FF", "LUT", "URAM"]].isna().all().all()
    assert str(df["LUT"].dtype) == "Int64"


def test_hls_csynth_text():
    df = read_hls_csynth_text(VIVADO / "hls_csynth.rpt")
    assert list(df.columns) == list(HLS_COLUMNS)
    top = df.iloc[0]
    _check_hls_top(top, "hls_csynth.rpt")
    assert (top["DSP"], top["URAM"]) == (0, 0)                       # the Total row
    assert (top["target_clock_ns"], top["estimated_clock_ns"], top["clock_uncertainty_ns"]) \
        == (10.0, 6.427, 2.7)
    inst = _one(df, kind="instance")
    assert (inst["name"], inst["module"], inst["parent"]) == \
        ("CONTROL_BUS_s_axi_U", "CONTROL_BUS_s_axi", "gaussian")
    assert (inst["BRAM_18K"], inst["DSP"], inst["FF"], inst["LUT"], inst["URAM"]) == \
        (0, 0, 36, 40, 0)
    loops = df[df["kind"] == "loop"]
    assert loops["name"].tolist() == LOOPS
    assert loops["latency_min"].tolist() == [2, 512, 5, 262146]
    assert loops["iteration_latency"].tolist() == [1, 1, 2, 4]
    assert loops["interval_min"].tolist() == [1, 1, 1, 1]            # II achieved
    assert loops["trip_count"].tolist() == [2, 512, 4, 262144]
    assert loops["pipelined"].tolist() == [True] * 4


def test_hls_csynth_summary():
    df = read_hls_csynth_summary(VIVADO / "hls_csynth_summary.rpt")
    assert list(df.columns) == list(HLS_COLUMNS)
    top = df.iloc[0]
    _check_hls_top(top, "hls_csynth_summary.rpt")
    assert pd.isna(top["DSP"]) and pd.isna(top["URAM"])              # "-" in the table
    assert top["slack_ns"] == -0.87
    assert not top["pipelined"]
    loops = df[df["kind"] == "loop"]
    assert loops["name"].tolist() == LOOPS
    assert (loops["parent"] == "gaussian").all()
    assert loops["slack_ns"].tolist() == [-7.30] * 4
    assert loops["latency_max"].tolist() == [2, 512, 5, 262146]
    assert loops["iteration_latency"].tolist() == [1, 1, 2, 4]
    assert loops["trip_count"].tolist() == [2, 512, 4, 262144]


# The layout of Vitis HLS 2021+ csynth.xml (figures made up; the element names and nesting
# are those of a 2023.1 report): <ModuleInformation> lists every module and
# <RTLDesignHierarchy> the instance tree.
NEW_XML = """<profile>
    <ReportVersion><Version>2023.1</Version></ReportVersion>
    <UserAssignments>
        <unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>xc7z010-clg400-1</Part>
        <TopModelName>top_A</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod>
        <ClockUncertainty>2.70</ClockUncertainty><FlowTarget>vivado</FlowTarget>
    </UserAssignments>
    <PerformanceEstimates>
        <PipelineType>no</PipelineType>
        <SummaryOfTimingAnalysis><unit>ns</unit>
            <EstimatedClockPeriod>7.060</EstimatedClockPeriod></SummaryOfTimingAnalysis>
        <SummaryOfOverallLatency><unit>clock cycles</unit>
            <Best-caseLatency>18852</Best-caseLatency><Worst-caseLatency>18860</Worst-caseLatency>
            <Interval-min>18853</Interval-min><Interval-max>18861</Interval-max>
        </SummaryOfOverallLatency>
        <SummaryOfLoopLatency>
            <LOOP_140><Slack>7.30</Slack><TripCount>588</TripCount><Latency>1178</Latency>
                <PipelineII>2</PipelineII><PipelineDepth>5</PipelineDepth><InstanceList/>
            </LOOP_140>
        </SummaryOfLoopLatency>
    </PerformanceEstimates>
    <AreaEstimates>
        <Resources><BRAM_18K>2</BRAM_18K><DSP>32</DSP><FF>1669</FF><LUT>2564</LUT>
            <URAM>0</URAM></Resources>
        <AvailableResources><BRAM_18K>120</BRAM_18K><DSP>80</DSP><FF>35200</FF>
            <LUT>17600</LUT><URAM>0</URAM></AvailableResources>
    </AreaEstimates>
    <RTLDesignHierarchy><TopModule MAX_DEPTH="3"><ModuleName>top_A</ModuleName>
        <InstancesList><Instance><InstName>grp_conv1_fu_233</InstName>
            <ModuleName>conv1</ModuleName>
            <InstancesList><Instance><InstName>grp_conv1_Pipeline_L118_fu_445</InstName>
                <ModuleName>conv1_Pipeline_L118</ModuleName></Instance></InstancesList>
        </Instance></InstancesList>
    </TopModule></RTLDesignHierarchy>
    <ModuleInformation>
        <Module><Name>conv1_Pipeline_L118</Name>
            <PerformanceEstimates>
                <SummaryOfTimingAnalysis><TargetClockPeriod>10.00</TargetClockPeriod>
                    <ClockUncertainty>2.70</ClockUncertainty>
                    <EstimatedClockPeriod>6.765</EstimatedClockPeriod>
                </SummaryOfTimingAnalysis>
                <SummaryOfOverallLatency><Best-caseLatency>5887</Best-caseLatency>
                    <Worst-caseLatency>5887</Worst-caseLatency>
                    <PipelineInitiationInterval>5887</PipelineInitiationInterval>
                    <PipelineType>no</PipelineType></SummaryOfOverallLatency>
                <SummaryOfLoopLatency><L118><Name>L118</Name><Slack>7.30</Slack>
                    <TripCount>392</TripCount><Latency>5885</Latency>
                    <PipelineII>15</PipelineII><PipelineDepth>21</PipelineDepth>
                    <PipelineType>yes</PipelineType></L118></SummaryOfLoopLatency>
            </PerformanceEstimates>
            <AreaEstimates><Resources><DSP>32</DSP><AVAIL_DSP>80</AVAIL_DSP><FF>1178</FF>
                <LUT>1998</LUT><BRAM_18K>0</BRAM_18K><URAM>0</URAM></Resources></AreaEstimates>
        </Module>
        <Module><Name>conv1</Name>
            <PerformanceEstimates>
                <SummaryOfOverallLatency><Best-caseLatency>5900</Best-caseLatency>
                    <Worst-caseLatency>5900</Worst-caseLatency></SummaryOfOverallLatency>
            </PerformanceEstimates>
            <AreaEstimates><Resources><DSP>32</DSP><FF>1300</FF><LUT>2100</LUT>
                <BRAM_18K>0</BRAM_18K><URAM>0</URAM></Resources></AreaEstimates>
        </Module>
        <Module><Name>top_A</Name>
            <AreaEstimates><Resources><DSP>32</DSP><FF>1669</FF><LUT>2564</LUT>
                <BRAM_18K>2</BRAM_18K><URAM>0</URAM></Resources></AreaEstimates>
        </Module>
    </ModuleInformation>
</profile>
"""


def test_hls_csynth_xml_with_module_information(tmp_path):
    path = tmp_path / "csynth.xml"
    path.write_text(NEW_XML)
    assert detect_report_kind(path) == "vitis_hls_csynth_xml"
    df = read_report(path)
    assert df["name"].tolist() == ["top_A", "conv1_Pipeline_L118", "conv1", "LOOP_140", "L118"]
    assert df["kind"].tolist() == ["top", "module", "module", "loop", "loop"]
    top = df.iloc[0]
    assert (top["latency_min"], top["latency_max"], top["interval_min"],
            top["interval_max"]) == (18852, 18860, 18853, 18861)
    assert (top["DSP"], top["LUT"], top["tool_version"], top["part"]) == \
        (32, 2564, "2023.1", "xc7z010-clg400-1")
    pipe = _one(df, name="conv1_Pipeline_L118")
    assert (pipe["parent"], pipe["depth"]) == ("conv1", 2)
    assert (pipe["latency_max"], pipe["interval_min"], pipe["estimated_clock_ns"]) == \
        (5887, 5887, 6.765)
    assert (pipe["DSP"], pipe["FF"], pipe["LUT"]) == (32, 1178, 1998)   # not AVAIL_DSP
    conv = _one(df, name="conv1")
    assert (conv["parent"], conv["depth"], conv["LUT"]) == ("top_A", 1, 2100)
    loop = _one(df, name="L118")
    assert (loop["parent"], loop["depth"], loop["trip_count"], loop["interval_min"],
            loop["iteration_latency"], loop["slack_ns"]) == \
        ("conv1_Pipeline_L118", 3, 392, 15, 21, 7.3)
    assert bool(loop["pipelined"])
    outer = _one(df, name="LOOP_140")
    assert (outer["parent"], outer["depth"], outer["latency_max"]) == ("top_A", 1, 1178)


def test_hls_formats_agree():
    tables = [read_hls_csynth_xml(VIVADO / "hls_csynth.xml"),
              read_hls_csynth_text(VIVADO / "hls_csynth.rpt"),
              read_hls_csynth_summary(VIVADO / "hls_csynth_summary.rpt")]
    columns = ["latency_min", "latency_max", "interval_min", "interval_max", "BRAM_18K",
               "FF", "LUT"]
    tops = [t.iloc[0][columns].tolist() for t in tables]
    assert tops[0] == tops[1] == tops[2]
    loops = [t[t["kind"] == "loop"][["name", "latency_max", "trip_count"]].reset_index(
        drop=True) for t in tables]
    pd.testing.assert_frame_equal(loops[0], loops[1])
    pd.testing.assert_frame_equal(loops[0], loops[2])


# -- Vivado logs --------------------------------------------------------------------------------


def test_vivado_log_errors_and_critical_warnings():
    df = read_vivado_log(VIVADO / "vivado_error.log")
    assert list(df.columns) == list(LOG_COLUMNS)
    assert len(df) == 10
    assert df["kind"].value_counts().to_dict() == {"CRITICAL WARNING": 6, "ERROR": 4}
    errors = df[df["kind"] == "ERROR"]
    assert errors["line"].tolist() == [436, 437, 449, 453]
    assert errors["id"].tolist() == ["DRC NSTD-1", "DRC UCIO-1", "Vivado 12-1345",
                                     "Common 17-39"]
    assert errors.iloc[0]["message"].startswith(
        "Unspecified I/O Standard: 3 out of 3 logical ports use I/O standard")
    assert errors.iloc[3]["message"] == "'write_bitstream' failed due to earlier errors."
    warning = df.iloc[0]
    assert (warning["line"], warning["kind"], warning["id"]) == \
        (21, "CRITICAL WARNING", "Designutils 20-1307")
    assert warning["message"].startswith("Command 'A' is not supported in the xdc")
    assert warning["file"] == "D:/project_1/project_1.srcs/constrs_1/new/AND_GATE.xdc"
    assert df["file_line"].iloc[:6].tolist() == [1, 2, 3, 4, 5, 6]
    assert pd.isna(errors.iloc[0]["file"])
    assert (df["source"] == "vivado_error.log").all()


def test_vivado_log_all_kinds():
    df = read_vivado_log(VIVADO / "vivado_error.log", kinds=LOG_KINDS)
    assert df["kind"].value_counts().to_dict() == {"INFO": 82, "CRITICAL WARNING": 6,
                                                   "WARNING": 4, "ERROR": 4}
    with pytest.raises(ValueError, match="unknown message kinds"):
        read_vivado_log(VIVADO / "vivado_error.log", kinds=("FATAL",))


def test_first_errors():
    errors = first_errors(VIVADO / "vivado_error.log")
    assert len(errors) == 3
    assert errors[0].startswith("ERROR: [DRC NSTD-1] Unspecified I/O Standard")
    assert errors[0].endswith("...") and len(errors[0]) == 300
    assert errors[2] == "ERROR: [Vivado 12-1345] Error(s) found during DRC. Bitgen not run."
    assert first_errors(str(VIVADO / "vivado_error.log"), n=1, max_chars=None)[0] == (
        (VIVADO / "vivado_error.log").read_text().split("\n")[435])
    assert len(first_errors(VIVADO / "vivado_error.log", n=10)) == 4
    assert first_errors(VIVADO / "vivado_error.log", n=0) == []


def test_first_errors_from_text():
    text = ("INFO: [Synth 8-6157] synthesizing module 'top'\n"
            "ERROR: [Synth 8-439] module 'missing' not found [/src/top.v:12]\n"
            "ERROR: [Common 17-69] Command failed: Synthesis failed\n")
    assert first_errors(text) == ["ERROR: [Synth 8-439] module 'missing' not found "
                                  "[/src/top.v:12]",
                                  "ERROR: [Common 17-69] Command failed: Synthesis failed"]
    df = read_vivado_log(text)
    assert (df.iloc[0]["file"], df.iloc[0]["file_line"]) == ("/src/top.v", 12)
    assert pd.isna(df.iloc[0]["source"])
    # no ERROR: the critical warnings; neither: nothing
    only_cw = "CRITICAL WARNING: [Constraints 18-5210] No constraints selected\n"
    assert first_errors(only_cw) == ["CRITICAL WARNING: [Constraints 18-5210] No constraints "
                                     "selected"]
    assert first_errors("INFO: [Common 17-206] Exiting Vivado\n") == []
    assert read_vivado_log("INFO: [Common 17-206] Exiting Vivado\n").empty


def test_missing_log_file():
    with pytest.raises(ReportError, match="does not exist"):
        read_vivado_log("/no/such/vivado.log")
    with pytest.raises(ReportError, match="does not exist"):
        first_errors(Path("/no/such/vivado.log"))


# -- Yosys ---------------------------------------------------------------------------------------


def test_yosys_stat_flat():
    df = read_yosys_stat(YOSYS / "stat.json")
    assert list(df.columns) == list(YOSYS_COLUMNS)
    assert len(df) == 1
    row = df.iloc[0]
    assert (row["module"], row["scope"], row["design"]) == ("top", "design", "top")
    assert row["LUT_logic"] == 42 + 4 + 4 + 8 + 7  # LUT2..LUT6
    assert row["LUT"] == 65 + 8 + 8               # logic + distributed RAM + SRL, as Vivado
    assert row["FF"] == 41                        # FDRE
    assert row["SRL"] == 8                        # SRL16E
    assert row["LUTRAM_cells"] == 2               # RAM32M
    assert row["LUTRAM"] == 8                     # 4 LUTs each
    assert row["BRAM_18K"] == 1                   # RAMB18E1
    assert row["DSP"] == 1                        # DSP48E1
    assert row["URAM"] == 0
    assert row["CARRY"] == 7                      # CARRY4
    assert row["num_cells"] == 128                # Yosys' count, with 2 $scopeinfo
    assert (row["tool"], row["tool_version"], row["source"]) == ("yosys", "0.70", "stat.json")
    assert pd.isna(row["part"])


def test_yosys_stat_hierarchy():
    df = read_yosys_stat(YOSYS / "stat_hier.json")
    assert df["module"].tolist() == ["top", "bram512x32", "mul8", "top"]
    assert df["scope"].tolist() == ["design", "module", "module", "module"]
    ram = _one(df, module="bram512x32")
    assert (ram["BRAM_18K"], ram["LUT"], ram["num_cells"]) == (1, 0, 1)
    mul = _one(df, module="mul8")
    assert (mul["DSP"], mul["FF"]) == (1, 0)      # the input/output registers are in the DSP
    top = _one(df, module="top", scope="module")
    assert (top["LUT"], top["FF"], top["BRAM_18K"], top["DSP"], top["num_submodules"]) == \
        (81, 41, 0, 0, 2)
    design = _one(df, scope="design")
    flat = read_yosys_stat(YOSYS / "stat.json").iloc[0]
    for column in (*UTILIZATION_COLUMNS, "LUT_logic", "CARRY"):
        assert design[column] == flat[column], column
        assert design[column] == df[df["scope"] == "module"][column].sum(), column


def test_normalise_cells():
    cells = {"LUT1": 1, "LUT6": 2, "INV": 3, "FDRE": 4, "FDCE_1": 1, "LDCE": 1,
             "RAMB36E2": 2, "RAMB18E2": 1, "FIFO36E1": 1, "FIFO18E1": 1, "URAM288": 2,
             "URAM288_BASE": 1, "DSP48E2": 5, "RAM64M": 1, "RAM32X1D": 2, "RAM128X1D": 1,
             "SRLC32E": 3, "SRL16E": 1, "CARRY8": 4, "CARRY4": 1, "MUXF7": 9, "BUFG": 1,
             "$scopeinfo": 2}
    assert normalise_cells(cells) == {
        "LUT": 6 + 12 + 4, "LUT_logic": 6, "LUTRAM": 4 + 2 * 2 + 4, "LUTRAM_cells": 4,
        "SRL": 4, "FF": 6,
        "BRAM_18K": 2 * 2 + 1 + 2 + 1, "URAM": 3, "DSP": 5, "CARRY": 5}


@pytest.mark.slow
def test_yosys_fixture_regenerates(tmp_path):
    """make_stat.py with this machine's pyosys gives a file the reader takes (figures may
    differ between Yosys versions)."""
    pytest.importorskip("pyosys")
    for name in ("mac_ram.v", "make_stat.py"):
        shutil.copy(YOSYS / name, tmp_path / name)
    subprocess.run([sys.executable, str(tmp_path / "make_stat.py")], check=True,
                   capture_output=True, timeout=600)
    df = read_report(tmp_path / "stat.json")
    row = df.iloc[0]
    assert row["scope"] == "design"
    assert row["BRAM_18K"] >= 1 and row["DSP"] >= 1 and row["LUT"] > 0 and row["FF"] > 0
    committed = read_yosys_stat(YOSYS / "stat.json")
    if row["tool_version"] == committed.iloc[0]["tool_version"]:  # the same Yosys: same file
        for name in ("stat.json", "stat_hier.json"):
            assert (tmp_path / name).read_text() == (YOSYS / name).read_text()


# -- detection and read_report ----------------------------------------------------------------


@pytest.mark.parametrize("path", list(KINDS), ids=lambda p: p.name)
def test_detect_every_fixture(path):
    assert detect_report_kind(path) == KINDS[path]
    assert KINDS[path] in REPORT_KINDS


@pytest.mark.parametrize("path", list(KINDS), ids=lambda p: p.name)
def test_detection_ignores_the_file_name(path, tmp_path):
    # a name without a suffix, and the name of another kind of report
    for name in ("report", "timing_summary.rpt" if "util" in path.name else "util.rpt"):
        copy = shutil.copy(path, tmp_path / name)
        assert detect_report_kind(copy) == KINDS[path]
        pd.testing.assert_frame_equal(read_report(copy).drop(columns="source"),
                                      read_report(path).drop(columns="source"))


def test_read_report_dispatches():
    assert read_report(VIVADO / "util_xc7z020_flat.rpt").iloc[0]["LUT"] == 5417
    assert len(read_report(VIVADO / "util_hier_xczu9eg.rpt")) == 361
    assert read_report(VIVADO / "timing_summary_failed.rpt").iloc[0]["WNS"] == -0.590
    assert read_report(VIVADO / "hls_csynth.xml").iloc[0]["LUT"] == 1870
    assert read_report(VIVADO / "hls_csynth.rpt").iloc[0]["FF"] == 973
    assert read_report(VIVADO / "hls_csynth_summary.rpt").iloc[0]["BRAM_18K"] == 3
    assert len(read_report(VIVADO / "vivado_error.log")) == 10
    assert read_report(YOSYS / "stat.json").iloc[0]["DSP"] == 1


def test_dfx_json_reports(tmp_path):
    files = {
        "dfx_estimate_resources": {"MVAU_0": {"BRAM_18K": 2, "BRAM_efficiency": 0.5,
                                              "LUT": 1234, "URAM": 0, "URAM_efficiency": 1,
                                              "DSP": 0, "FF": 99},
                                   "total": {"BRAM_18K": 2, "FF": 99, "LUT": 1234, "URAM": 0,
                                             "DSP": 0}},
        "dfx_estimate_cycles": {"MVAU_0": 3200, "MVAU_1": 64},
        "dfx_estimate_network": {"critical_path_cycles": 3264, "max_cycles": 3200,
                                 "max_cycles_node_name": "MVAU_0",
                                 "estimated_throughput_fps": 31250.0,
                                 "estimated_latency_ns": 32640.0},
        "dfx_rtlsim_performance": {"cycles": 1000, "N": 32, "latency_cycles": 90,
                                   "runtime[ms]": 0.01, "throughput[images/s]": 3.2e6,
                                   "fclk[mhz]": 100.0, "interval_cycles": 29},
        "dfx_time_per_step": {"step_qonnx_to_finn": 0.5, "step_tidy_up": 0.25},
        "dfx_verify_results": {"streamlined_python": {"verdict": "ok", "exact": True,
                                                      "step": "step_streamline"}},
    }
    for kind, data in files.items():
        path = tmp_path / "data"  # one name for all: detection reads the content
        path.write_text(json.dumps(data))
        assert detect_report_kind(path) == kind
        df = read_report(path)
        assert isinstance(df, pd.DataFrame) and not df.empty
    path.write_text(json.dumps(files["dfx_estimate_resources"]))
    df = read_report(path)
    assert df["layer"].tolist() == ["MVAU_0"] and df.iloc[0]["LUT"] == 1234
    path.write_text(json.dumps(files["dfx_estimate_cycles"]))
    assert read_report(path)["cycles"].tolist() == [3200, 64]


# -- errors: unknown, missing, empty, cut short ----------------------------------------------------


@pytest.mark.parametrize("name", ["SOURCES.md"])
def test_unknown_content_names_the_file(name):
    with pytest.raises(ReportError, match=name) as info:
        detect_report_kind(VIVADO / name)
    assert "not a report dfx knows" in str(info.value)
    assert isinstance(info.value, DfxError)
    with pytest.raises(ReportError, match="mac_ram.v"):
        read_report(YOSYS / "mac_ram.v")


def test_unknown_json_xml_and_vivado_report(tmp_path):
    cases = {
        "a.json": ('{"hello": "world"}', "not a report dfx knows"),
        "b.xml": ("<svg><g/></svg>", "not a Vitis HLS csynth.xml"),
        "c.rpt": ("Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.\n-----\n"
                  "| Tool Version : Vivado v.2022.1 (lin64)\n"
                  "| Command      : report_power -file power.rpt\n-----\n\nPower Report\n",
                  "kind dfx does not read .*report_power"),
        "d.json": ('{"creator": "Yosys 0.70", "modules": {"\\\\top": {"ports": {}, '
                   '"cells": {}}}}', "netlist"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ReportError, match=message) as info:
            read_report(path)
        assert name in str(info.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ReportError, match=r"no_such\.rpt does not exist"):
        detect_report_kind(tmp_path / "no_such.rpt")
    with pytest.raises(ReportError, match="does not exist"):
        read_report(tmp_path / "no_such.rpt")
    for reader in (read_vivado_utilization, read_vivado_utilization_hierarchical,
                   read_vivado_timing_summary, read_hls_csynth_xml, read_hls_csynth_text,
                   read_hls_csynth_summary, read_yosys_stat):
        with pytest.raises(ReportError, match="does not exist"):
            reader(tmp_path / "no_such.rpt")
    (tmp_path / "empty.rpt").write_text("\n\n")
    with pytest.raises(ReportError, match=r"empty\.rpt is empty"):
        read_report(tmp_path / "empty.rpt")
    with pytest.raises(ReportError, match="folder"):
        read_report(tmp_path)
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ReportError, match="binary"):
        read_report(tmp_path / "blob.bin")


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.name)
def test_first_40_percent_is_an_error(path, tmp_path):
    cut = _cut(path, tmp_path / f"cut_{path.name}", 0.4)
    if KINDS[path] == "vivado_timing_summary":
        # 40% of a timing summary ends in the path details, after every table read: the
        # figures are whole (see the reader's docstring); a cut before the tables fails
        full = read_report(path).drop(columns="source")
        pd.testing.assert_frame_equal(read_report(cut).drop(columns="source"), full)
        cut = _cut(path, tmp_path / f"cut_{path.name}", 0.2)
    with pytest.raises(ReportError) as info:
        read_report(cut)
    message = str(info.value)
    assert cut.name in message
    assert any(word in message for word in ("incomplete", "cut short")), message


def test_truncated_utilization_says_what_is_missing(tmp_path):
    cut = _cut(VIVADO / "util_xc7z020_flat.rpt", tmp_path / "u.rpt", 0.4)
    with pytest.raises(ReportError, match=r"u\.rpt is incomplete .*table at line 70 "
                                          r"\(Site Type \| Used \| Fixed \.\.\.\) ends after "
                                          r"15 rows"):
        read_vivado_utilization(cut)
    # cut between two sections: the table of contents tells what is missing
    text = (VIVADO / "util_xc7z020_flat.rpt").read_text()
    (tmp_path / "v.rpt").write_text(text[:text.index("3. Memory\n---")])
    with pytest.raises(ReportError, match=r"sections '3\. Memory', '4\. DSP', .*"
                                          r"'10\. Instantiated Netlists' .* missing"):
        read_report(tmp_path / "v.rpt")
    cut = _cut(VIVADO / "util_hier_xczu9eg.rpt", tmp_path / "h.rpt", 0.5)
    with pytest.raises(ReportError, match=r"h\.rpt is incomplete .*Instance \| Module"):
        read_report(cut)


def test_truncation_anywhere_is_never_a_half_table(tmp_path):
    """Cut every report at many points: each cut either fails with ReportError or gives
    exactly the full file's table (a cut after the last table the reader uses)."""
    for path in REPORTS:
        full = read_report(path).drop(columns="source")
        data = path.read_bytes()
        step = max(1, len(data) // 60)
        for end in range(1, len(data), step):
            cut = tmp_path / f"{end}_{path.name}"
            cut.write_bytes(data[:end])
            try:
                df = read_report(cut)
            except ReportError:
                continue
            pd.testing.assert_frame_equal(df.drop(columns="source"), full,
                                          obj=f"{path.name} cut at byte {end}")


def test_damaged_hierarchy_indentation(tmp_path):
    text = (VIVADO / "util_hier_xck24.rpt").read_text()
    bad = text.replace("|   u_lf      |", "|       u_lf  |")  # two levels deeper than its parent
    (tmp_path / "bad.rpt").write_text(bad)
    with pytest.raises(ReportError, match=r"bad\.rpt, line \d+: instance 'u_lf' is nested"):
        read_report(tmp_path / "bad.rpt")
