"""Tests of dfx.config: loading, validation, CLI overrides, board consistency."""

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, fields

import pytest

from dfx.config import (
    AutoFIFOSizingMethod,
    DataflowBuildConfig,
    DataflowOutputType,
    ExtraField,
    FoldingObjective,
    LargeFIFOMemStyle,
    ShellFlowType,
    VerificationStepType,
    VitisOptStrategy,
    apply_board,
    coerce_cli_value,
    config_keys,
    field_docs,
    load_config_file,
    make_config,
    validate_step_names,
)
from dfx.errors import ConfigError, PluginError

# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

FINN_JSON = {
    "output_dir": "output_tfc_w1a1_Pynq-Z1",
    "synth_clk_period_ns": 10.0,
    "target_fps": 100000,
    "mvau_wwidth_max": 80,
    "standalone_thresholds": True,
    "folding_config_file": "folding_config.json",
    "board": "Pynq-Z1",
    "shell_flow_type": "vivado_zynq",
    "auto_fifo_strategy": "AutoFIFOSizingMethod.CHARACTERIZE",
    "large_fifo_mem_style": "LargeFIFOMemStyle.BRAM",
    "vitis_opt_strategy": "quick",
    "verify_steps": ["initial_python", "STREAMLINED_PYTHON", "stitched_ip_rtlsim"],
    "generate_outputs": [
        "DataflowOutputType.ESTIMATE_REPORTS",
        "DataflowOutputType.STITCHED_IP",
        "OOC_SYNTH",
        "bitfile",
        "PYNQ_DRIVER",
        "deployment_package",
    ],
    "steps": [
        "step_qonnx_to_finn",
        "step_tidy_up",
        "step_streamline",
        "step_convert_to_hw",
        "step_create_dataflow_partition",
        "step_target_fps_parallelization",
        "step_apply_folding_config",
        "step_generate_estimate_reports",
    ],
    "start_step": "step_tidy_up",
    "stop_step": "step_generate_estimate_reports",
    "save_intermediate_models": True,
    "verify_input_npy": "input.npy",
    "signature": [1, 2, 3],
    "rtlsim_batch_size": 10,
}


@dataclass
class FakeBoard:
    name: str
    part: str
    shell_flow_type: str | None
    default_clk_ns: float | None


BOARDS = {
    "Pynq-Z1": FakeBoard("Pynq-Z1", "xc7z020clg400-1", "vivado_zynq", 10.0),
    "U250": FakeBoard("U250", "xcu250-figd2104-2L-e", ShellFlowType.VITIS_ALVEO, 4.0),
}


def get_board(name):
    for board_name, board in BOARDS.items():
        if board_name.lower() == name.lower():
            return board
    raise ConfigError(f"unknown board {name!r}")


def problems_of(excinfo) -> list[str]:
    return str(excinfo.value).splitlines()


# --------------------------------------------------------------------------
# loading FINN-style files
# --------------------------------------------------------------------------


def test_finn_json_config_loads(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(FINN_JSON, indent=2))
    data = load_config_file(path)
    assert data["steps"] == FINN_JSON["steps"]  # kept as a list of names
    cfg = make_config(data, source=path.name)

    assert isinstance(cfg, DataflowBuildConfig)
    assert cfg.output_dir == "output_tfc_w1a1_Pynq-Z1"
    assert cfg.target_fps == 100000
    assert cfg.mvau_wwidth_max == 80
    assert cfg.board == "Pynq-Z1"
    assert cfg.shell_flow_type is ShellFlowType.VIVADO_ZYNQ
    assert cfg.auto_fifo_strategy is AutoFIFOSizingMethod.CHARACTERIZE
    assert cfg.large_fifo_mem_style is LargeFIFOMemStyle.BRAM
    assert cfg.large_fifo_mem_style == "block"
    assert cfg.vitis_opt_strategy is VitisOptStrategy.BUILD_SPEED
    assert cfg.generate_outputs == [
        "estimate_reports",
        "stitched_ip",
        "out_of_context_synth",
        "bitfile",
        "pynq_driver",
        "deployment_package",
    ]
    assert all(isinstance(o, DataflowOutputType) for o in cfg.generate_outputs)
    assert cfg.verify_steps == [
        VerificationStepType.TIDY_UP_PYTHON,
        VerificationStepType.STREAMLINED_PYTHON,
        VerificationStepType.STITCHED_IP_RTLSIM,
    ]
    assert cfg.steps == FINN_JSON["steps"]
    assert cfg.start_step == "step_tidy_up"
    assert cfg.signature == [1, 2, 3]
    assert cfg.rtlsim_batch_size == 10
    # untouched keys keep FINN's defaults
    assert cfg.minimize_bit_width is True
    assert cfg.auto_fifo_depths is True
    assert cfg.max_multithreshold_bit_width == 8
    assert cfg.folding_two_pass_relaxation is True
    assert cfg.fpga_part is None
    # and dfx's own keys their defaults
    assert cfg.folding_objective is FoldingObjective.TARGET_FPS
    assert cfg.resource_budget_fraction == 0.85
    assert cfg.rtlsim_backpressure == 0.0
    assert cfg.clk_mhz == pytest.approx(100.0)
    assert cfg.explicit_keys == frozenset(FINN_JSON)


def test_dfx_defaults_without_any_key():
    cfg = make_config({})
    assert cfg.synth_clk_period_ns == 10.0
    assert cfg.generate_outputs == [DataflowOutputType.ESTIMATE_REPORTS]
    assert cfg.output_dir is None
    assert cfg.extra == {}
    assert cfg == DataflowBuildConfig()


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_config_loads(tmp_path, suffix):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(
        textwrap.dedent(
            """\
            # a FINN config written as YAML
            synth_clk_period_ns: 5
            target_fps: 2000
            board: U250
            generate_outputs:
              - estimate_reports
              - DataflowOutputType.RTLSIM_PERFORMANCE
            steps: [step_tidy_up, step_streamline]
            hls_clk_period_ns: null
            verify_steps: null
            """
        )
    )
    cfg = make_config(load_config_file(path), source=path.name)
    assert cfg.synth_clk_period_ns == 5.0
    assert isinstance(cfg.synth_clk_period_ns, float)
    assert cfg.clk_mhz == pytest.approx(200.0)
    assert cfg.target_fps == 2000
    assert cfg.generate_outputs == ["estimate_reports", "rtlsim_performance"]
    assert cfg.steps == ["step_tidy_up", "step_streamline"]
    assert cfg.hls_clk_period_ns is None


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"configuration file .*nope\.json not found"):
        load_config_file(path)


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "target_fps": 100,\n  "board": "Pynq-Z1",,\n}\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config_file(path)
    message = str(excinfo.value)
    assert "bad.json" in message
    assert "line 3" in message
    assert "invalid JSON" in message


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("target_fps: 100\nboard: [Pynq-Z1\nverbose: true\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config_file(path)
    message = str(excinfo.value)
    assert "bad.yaml" in message
    assert "invalid YAML" in message
    assert "line " in message


@pytest.mark.parametrize(
    "name, text, word",
    [
        ("list.json", "[1, 2]", "a list"),
        ("scalar.yaml", "just a string\n", "a string"),
    ],
)
def test_file_that_is_not_a_mapping(tmp_path, name, text, word):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_config_file(path)
    assert name in str(excinfo.value)
    assert f"expected a mapping of configuration keys at the top level, got {word}" in str(
        excinfo.value
    )


def test_empty_yaml_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match=r"empty\.yaml is empty"):
        load_config_file(path)


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("target_fps = 1\n")
    with pytest.raises(ConfigError, match=r"unsupported file type '\.toml'"):
        load_config_file(path)


def test_directory_is_unreadable(tmp_path):
    path = tmp_path / "dir.json"
    path.mkdir()
    with pytest.raises(ConfigError, match=r"dir\.json"):
        load_config_file(path)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def test_unknown_key_names_the_closest_valid_one():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"target_fsp": 100}, source="cfg.json")
    assert str(excinfo.value) == "unknown key 'target_fsp' in cfg.json; did you mean 'target_fps'?"
    assert excinfo.value.problems == [str(excinfo.value)]


def test_unknown_key_without_close_match_hints_at_plugins():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"zzzz_qqq": 1}, source="cfg.json")
    assert str(excinfo.value) == (
        "unknown key 'zzzz_qqq' in cfg.json "
        "(if a plugin declares it, load that plugin with --plugins)"
    )


def test_internal_attributes_are_not_keys():
    assert "extra" not in config_keys()
    assert "explicit_keys" not in config_keys()
    with pytest.raises(ConfigError, match="unknown key 'extra' in cfg.json"):
        make_config({"extra": {}}, source="cfg.json")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("target_fps", "1000", "'target_fps' in cfg.json: must be an integer, got str '1000'"),
        ("target_fps", 1000.5, "'target_fps' in cfg.json: must be an integer, got float 1000.5"),
        ("target_fps", True, "'target_fps' in cfg.json: must be an integer, got bool True"),
        ("verbose", 1, "'verbose' in cfg.json: must be true or false, got int 1"),
        ("verbose", "yes", "'verbose' in cfg.json: must be true or false, got str 'yes'"),
        ("verbose", None, "'verbose' in cfg.json: must be true or false, not null"),
        (
            "synth_clk_period_ns",
            "5",
            "'synth_clk_period_ns' in cfg.json: must be a number, got str '5'",
        ),
        ("board", 7, "'board' in cfg.json: must be a string, got int 7"),
        (
            "generate_outputs",
            "bitfile",
            "'generate_outputs' in cfg.json: must be a list, got str 'bitfile'",
        ),
        ("steps", ["step_tidy_up", 3], "'steps' in cfg.json: item 1 must be a string, got int 3"),
        ("signature", [1, "b"], "'signature' in cfg.json: item 1 must be an integer, got str 'b'"),
        ("mvau_wwidth_max", None, "'mvau_wwidth_max' in cfg.json: must be an integer, not null"),
        (
            "auto_fifo_strategy",
            None,
            (
                "'auto_fifo_strategy' in cfg.json: must be one of "
                "characterize, largefifo_rtlsim, not null"
            ),
        ),
    ],
)
def test_wrong_types(key, value, message):
    with pytest.raises(ConfigError) as excinfo:
        make_config({key: value}, source="cfg.json")
    assert str(excinfo.value) == message


def test_floats_accept_ints_and_optionals_accept_null():
    cfg = make_config(
        {
            "synth_clk_period_ns": 4,
            "hls_clk_period_ns": 5,
            "resource_budget_fraction": 1,
            "target_fps": None,
            "board": None,
            "shell_flow_type": None,
            "steps": None,
        }
    )
    assert cfg.synth_clk_period_ns == 4.0 and isinstance(cfg.synth_clk_period_ns, float)
    assert cfg.hls_clk_period_ns == 5.0 and isinstance(cfg.hls_clk_period_ns, float)
    assert cfg.resource_budget_fraction == 1.0
    assert cfg.target_fps is None and cfg.board is None and cfg.steps is None


@pytest.mark.parametrize("value", [0, -5])
def test_target_fps_must_be_positive(value):
    with pytest.raises(ConfigError) as excinfo:
        make_config({"target_fps": value}, source="cfg.json")
    assert str(excinfo.value) == f"'target_fps' in cfg.json: must be > 0, got {value}"


@pytest.mark.parametrize(
    "key, value, rule",
    [
        ("synth_clk_period_ns", 0, "must be > 0 and <= 1000 (ns), got 0.0"),
        ("synth_clk_period_ns", 1000.5, "must be > 0 and <= 1000 (ns), got 1000.5"),
        ("hls_clk_period_ns", -1.0, "must be > 0, got -1.0"),
        ("mvau_wwidth_max", 0, "must be >= 1, got 0"),
        ("max_multithreshold_bit_width", 0, "must be >= 1, got 0"),
        ("rtlsim_batch_size", 0, "must be >= 1, got 0"),
        ("resource_budget_fraction", 0, "must be in (0, 1], got 0.0"),
        ("resource_budget_fraction", 1.2, "must be in (0, 1], got 1.2"),
        ("rtlsim_backpressure", 1.0, "must be in [0, 1), got 1.0"),
        ("rtlsim_backpressure", -0.1, "must be in [0, 1), got -0.1"),
        ("generate_outputs", [], "must name at least one output, got []"),
    ],
)
def test_impossible_values(key, value, rule):
    with pytest.raises(ConfigError) as excinfo:
        make_config({key: value}, source="cfg.json")
    assert str(excinfo.value) == f"{key!r} in cfg.json: {rule}"


def test_boundary_values_are_accepted():
    cfg = make_config(
        {
            "synth_clk_period_ns": 1000,
            "resource_budget_fraction": 1.0,
            "rtlsim_backpressure": 0.0,
            "rtlsim_batch_size": 1,
        }
    )
    assert cfg.synth_clk_period_ns == 1000.0
    assert cfg.resource_budget_fraction == 1.0


def test_non_finite_float_is_rejected():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {"rtlsim_backpressure": float("nan"), "hls_clk_period_ns": 10**400},
            source="cfg.json",
        )
    lines = problems_of(excinfo)
    assert lines[1] == "  - 'rtlsim_backpressure' in cfg.json: must be a finite number, got nan"
    assert lines[2].startswith("  - 'hls_clk_period_ns' in cfg.json: must be a finite number")


def test_bad_enum_value_names_valid_values_and_closest():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"shell_flow_type": "vivado_zinq"}, source="cfg.json")
    assert str(excinfo.value) == (
        "'shell_flow_type' in cfg.json: has unknown value 'vivado_zinq'; "
        "did you mean 'vivado_zynq'? (valid: vivado_zynq, vitis_alveo)"
    )


def test_enum_value_of_wrong_type():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"auto_fifo_strategy": 1}, source="cfg.json")
    assert str(excinfo.value) == (
        "'auto_fifo_strategy' in cfg.json: must be one of characterize, largefifo_rtlsim, got int 1"
    )


def test_bad_enum_value_inside_a_list():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {"generate_outputs": ["estimate_reports", "DataflowOutputType.BITFLE"]},
            source="cfg.json",
        )
    message = str(excinfo.value)
    assert message.startswith(
        "'generate_outputs' in cfg.json: item 1 has unknown value 'DataflowOutputType.BITFLE'; "
        "did you mean 'bitfile'?"
    )
    assert "valid: stitched_ip, estimate_reports, out_of_context_synth" in message


def test_enum_prefix_of_another_class_is_rejected():
    with pytest.raises(ConfigError, match="has unknown value 'ShellFlowType.BITFILE'"):
        make_config({"generate_outputs": ["ShellFlowType.BITFILE"]})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("estimate_reports", "estimate_reports"),
        ("ESTIMATE_REPORTS", "estimate_reports"),
        ("DataflowOutputType.ESTIMATE_REPORTS", "estimate_reports"),
        ("dataflowoutputtype.estimate_reports", "estimate_reports"),
        ("Out_Of_Context_Synth", "out_of_context_synth"),
        ("DataflowOutputType.OOC_SYNTH", "out_of_context_synth"),
    ],
)
def test_enum_spellings(text, expected):
    cfg = make_config({"generate_outputs": [text]})
    assert cfg.generate_outputs == [expected]


def test_dfx_verification_steps_and_objective():
    cfg = make_config(
        {
            "verify_steps": ["hw_python", "VerificationStepType.RTLSIM"],
            "folding_objective": "MAX_FPS_FITS_BOARD",
            "board": "Pynq-Z1",
        }
    )
    assert cfg.verify_steps == [VerificationStepType.HW_PYTHON, VerificationStepType.RTLSIM]
    assert cfg.folding_objective is FoldingObjective.MAX_FPS_FITS_BOARD


def test_max_fps_fits_board_needs_a_board():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"folding_objective": "max_fps_fits_board"}, source="cfg.json")
    assert str(excinfo.value) == (
        "'folding_objective' in cfg.json: max_fps_fits_board needs 'board' (or 'fpga_part') "
        "to know the available resources"
    )


def test_duplicate_outputs_are_dropped_in_order():
    cfg = make_config({"generate_outputs": ["bitfile", "stitched_ip", "BITFILE"]})
    assert cfg.generate_outputs == ["bitfile", "stitched_ip"]


def test_start_and_stop_step_must_be_in_steps():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {
                "steps": ["step_tidy_up", "step_streamline", "step_convert_to_hw"],
                "start_step": "step_streamlin",
                "stop_step": "step_hw_codegen",
            },
            source="cfg.json",
        )
    assert problems_of(excinfo)[1:] == [
        (
            "  - 'start_step' in cfg.json: step 'step_streamlin' is not in 'steps'; "
            "did you mean 'step_streamline'?"
        ),
        "  - 'stop_step' in cfg.json: step 'step_hw_codegen' is not in 'steps'",
    ]


def test_start_step_after_stop_step_in_steps():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {
                "steps": ["step_tidy_up", "step_streamline"],
                "start_step": "step_streamline",
                "stop_step": "step_tidy_up",
            }
        )
    assert str(excinfo.value) == (
        "start_step 'step_streamline' comes after stop_step 'step_tidy_up' in 'steps'"
    )


def test_error_lists_several_problems_at_once():
    data = {
        "target_fsp": 100,
        "target_fps": 0,
        "synth_clk_period_ns": "5",
        "shell_flow_type": "zynq",
        "generate_outputs": [],
        "verbose": 1,
    }
    with pytest.raises(ConfigError) as excinfo:
        make_config(data, overrides={"rtlsim_batch_size": "lots"}, source="cfg.json")
    lines = problems_of(excinfo)
    assert lines[0] == "7 problems in the configuration:"
    assert lines[1:] == [
        "  - unknown key 'target_fsp' in cfg.json; did you mean 'target_fps'?",
        "  - 'target_fps' in cfg.json: must be > 0, got 0",
        "  - 'synth_clk_period_ns' in cfg.json: must be a number, got str '5'",
        (
            "  - 'shell_flow_type' in cfg.json: has unknown value 'zynq'; did you mean "
            "'vivado_zynq'? (valid: vivado_zynq, vitis_alveo)"
        ),
        "  - 'generate_outputs' in cfg.json: must name at least one output, got []",
        "  - 'verbose' in cfg.json: must be true or false, got int 1",
        "  - --rtlsim-batch-size: expects an integer, got 'lots'",
    ]
    assert len(excinfo.value.problems) == 7
    assert excinfo.value.exit_code == 2


def test_non_mapping_data_and_non_string_keys():
    with pytest.raises(ConfigError, match="cfg.json: expected a mapping"):
        make_config(["target_fps"], source="cfg.json")
    with pytest.raises(ConfigError, match="key 3 in cfg.json is not a string"):
        make_config({3: "x"}, source="cfg.json")


# --------------------------------------------------------------------------
# command-line overrides
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, text, expected",
    [
        ("target_fps", "1000", 1000),
        ("--target-fps", "1e6", 1000000),
        ("synth_clk_period_ns", "3.33", 3.33),
        ("verbose", "true", True),
        ("verbose", "FALSE", False),
        ("verbose", "1", True),
        ("verbose", "0", False),
        ("verbose", "yes", True),
        ("verbose", "No", False),
        ("generate_outputs", "estimate_reports, BITFILE", ["estimate_reports", "bitfile"]),
        ("generate_outputs", "[stitched_ip]", ["stitched_ip"]),
        ("steps", "step_tidy_up,step_streamline", ["step_tidy_up", "step_streamline"]),
        ("signature", "1,2,3", [1, 2, 3]),
        ("shell_flow_type", "ShellFlowType.VITIS_ALVEO", "vitis_alveo"),
        ("target_fps", "none", None),
        ("board", "null", None),
        ("board", "Pynq-Z1", "Pynq-Z1"),
    ],
)
def test_coerce_cli_value(key, text, expected):
    value = coerce_cli_value(key, text)
    assert value == expected
    assert type(value) is type(expected) or isinstance(value, type(expected))


@pytest.mark.parametrize(
    "key, text, message",
    [
        ("target_fps", "fast", "--target-fps: expects an integer, got 'fast'"),
        ("target_fps", "10.5", "--target-fps: expects an integer, got '10.5'"),
        ("verbose", "maybe", "--verbose: expects true/false/1/0/yes/no, got 'maybe'"),
        ("synth_clk_period_ns", "5ns", "--synth-clk-period-ns: expects a number, got '5ns'"),
        ("signature", "1,x", "--signature: item 1 expects an integer, got 'x'"),
        ("mvau_wwidth_max", "none", "--mvau-wwidth-max: expects an integer, got 'none'"),
        ("target_fsp", "1", "unknown option --target-fsp; did you mean --target-fps?"),
    ],
)
def test_coerce_cli_value_errors_name_the_flag(key, text, message):
    with pytest.raises(ConfigError) as excinfo:
        coerce_cli_value(key, text)
    assert str(excinfo.value) == message


def test_coerce_cli_enum_accepts_finn_member_names():
    assert coerce_cli_value("large_fifo_mem_style", "BRAM") == "block"
    assert coerce_cli_value("large_fifo_mem_style", "bram") == "block"
    assert coerce_cli_value("large_fifo_mem_style", "LargeFIFOMemStyle.URAM") == "ultra"
    assert coerce_cli_value("vitis_opt_strategy", "VitisOptStrategyCfg.BUILD_SPEED") == (
        "build_speed"
    )


def test_coerce_cli_enum_unknown_value():
    with pytest.raises(ConfigError) as excinfo:
        coerce_cli_value("auto_fifo_strategy", "largefifo")
    assert str(excinfo.value) == (
        "--auto-fifo-strategy: has unknown value 'largefifo'; did you mean 'largefifo_rtlsim'? "
        "(valid: characterize, largefifo_rtlsim)"
    )


def test_overrides_replace_file_values_and_are_converted():
    data = {"target_fps": 100, "verbose": False, "board": "Pynq-Z1"}
    overrides = {
        "--target-fps": "2000",
        "verbose": "yes",
        "generate_outputs": "estimate_reports,stitched_ip",
        "synth_clk_period_ns": 5,  # already typed
        "board": "none",
    }
    cfg = make_config(data, overrides=overrides, source="cfg.json")
    assert cfg.target_fps == 2000
    assert cfg.verbose is True
    assert cfg.generate_outputs == ["estimate_reports", "stitched_ip"]
    assert cfg.synth_clk_period_ns == 5.0
    assert cfg.board is None
    assert {"target_fps", "verbose", "synth_clk_period_ns"} <= cfg.explicit_keys


def test_override_problems_name_the_flag():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {},
            overrides={"target_fps": "0", "rtlsim_backpressure": 1, "target-fsp": "3"},
            source="cfg.json",
        )
    assert problems_of(excinfo)[1:] == [
        "  - --target-fps: must be > 0, got 0",
        "  - --rtlsim-backpressure: must be in [0, 1), got 1.0",
        "  - unknown option --target-fsp; did you mean --target-fps?",
    ]


# --------------------------------------------------------------------------
# board consistency
# --------------------------------------------------------------------------


def test_board_sets_part_shell_and_clock():
    cfg = make_config({"board": "u250"})
    board = apply_board(cfg, get_board)
    assert board is BOARDS["U250"]
    assert cfg.board == "U250"  # the board's spelling
    assert cfg.fpga_part == "xcu250-figd2104-2L-e"
    assert cfg.shell_flow_type is ShellFlowType.VITIS_ALVEO
    assert cfg.synth_clk_period_ns == 4.0  # not set in the config: the board's default


def test_board_keeps_explicit_clock_and_matching_part():
    cfg = make_config(
        {"board": "U250", "fpga_part": "XCU250-FIGD2104-2L-E", "synth_clk_period_ns": 5.0}
    )
    apply_board(cfg, get_board)
    assert cfg.fpga_part == "XCU250-FIGD2104-2L-E"  # same part, other case: kept
    assert cfg.synth_clk_period_ns == 5.0


def test_board_part_disagreement_names_both():
    cfg = make_config({"board": "Pynq-Z1", "fpga_part": "xcu250-figd2104-2L-e"})
    with pytest.raises(ConfigError) as excinfo:
        apply_board(cfg, get_board)
    assert str(excinfo.value) == (
        "fpga_part 'xcu250-figd2104-2L-e' does not match board 'Pynq-Z1', whose part is "
        "'xc7z020clg400-1'; remove fpga_part or the board"
    )
    assert cfg.fpga_part == "xcu250-figd2104-2L-e"  # nothing changed


def test_board_shell_flow_disagreement():
    cfg = make_config({"board": "Pynq-Z1", "shell_flow_type": "vitis_alveo"})
    with pytest.raises(ConfigError) as excinfo:
        apply_board(cfg, get_board)
    assert str(excinfo.value) == (
        "shell_flow_type 'vitis_alveo' does not match board 'Pynq-Z1', whose shell flow is "
        "'vivado_zynq'"
    )


def test_no_board_changes_nothing():
    cfg = make_config({"fpga_part": "xc7z020clg400-1"})
    assert apply_board(cfg, get_board) is None
    assert cfg.fpga_part == "xc7z020clg400-1"
    assert cfg.shell_flow_type is None


def test_unknown_board_error_passes_through():
    cfg = make_config({"board": "Pynq-Z9"})
    with pytest.raises(ConfigError, match="unknown board 'Pynq-Z9'"):
        apply_board(cfg, get_board)


def test_resolve_board_with_a_mapping():
    cfg = make_config({"board": "pynq-z1"})
    board = cfg.resolve_board(BOARDS)
    assert board.name == "Pynq-Z1"
    assert cfg.fpga_part == "xc7z020clg400-1"
    assert cfg.shell_flow_type is ShellFlowType.VIVADO_ZYNQ
    other = make_config({"board": "Pynq-Z2"})
    with pytest.raises(ConfigError) as excinfo:
        other.resolve_board(BOARDS)
    assert str(excinfo.value) == (
        "unknown board 'Pynq-Z2'; did you mean 'Pynq-Z1'? (known: Pynq-Z1, U250)"
    )


def test_directly_built_config_keeps_its_clock():
    cfg = DataflowBuildConfig(board="U250", synth_clk_period_ns=3.0)
    cfg.resolve_board(get_board)
    assert cfg.synth_clk_period_ns == 3.0
    assert cfg.fpga_part == "xcu250-figd2104-2L-e"


# --------------------------------------------------------------------------
# plugin-declared keys
# --------------------------------------------------------------------------

EXTRA = [
    ExtraField("power_report", bool, False, "Write a power estimate.", plugin="power"),
    ExtraField("power_vccint", float, 0.85, "Core voltage in V.", plugin="power"),
    ExtraField("power_corners", list[str], None, "Process corners.", plugin="power"),
    ExtraField("power_mode", ShellFlowType, ShellFlowType.VIVADO_ZYNQ, plugin="power"),
]


def test_extra_fields_defaults_and_values():
    cfg = make_config(
        {"power_report": True, "power_corners": ["slow", "fast"], "power_mode": "VITIS_ALVEO"},
        overrides={"power_vccint": "0.9"},
        extra_fields=EXTRA,
    )
    assert cfg.extra == {
        "power_report": True,
        "power_vccint": 0.9,
        "power_corners": ["slow", "fast"],
        "power_mode": ShellFlowType.VITIS_ALVEO,
    }
    assert cfg.extra["power_report"] is True
    assert cfg.get("power_vccint") == 0.9
    assert cfg.to_dict()["power_mode"] == "vitis_alveo"
    defaults = make_config({}, extra_fields=EXTRA)
    assert defaults.extra == {
        "power_report": False,
        "power_vccint": 0.85,
        "power_corners": None,
        "power_mode": ShellFlowType.VIVADO_ZYNQ,
    }


def test_extra_fields_are_type_checked():
    with pytest.raises(ConfigError) as excinfo:
        make_config(
            {"power_report": "yes", "power_corners": "slow", "power_vccint": None},
            extra_fields=EXTRA,
            source="cfg.json",
        )
    assert problems_of(excinfo)[1:] == [
        "  - 'power_report' in cfg.json: must be true or false, got str 'yes'",
        "  - 'power_corners' in cfg.json: must be a list, got str 'slow'",
        "  - 'power_vccint' in cfg.json: must be a number, not null",
    ]


def test_extra_field_typo_suggests_it_and_is_unknown_without_plugin():
    with pytest.raises(ConfigError) as excinfo:
        make_config({"power_reprot": True}, extra_fields=EXTRA, source="cfg.json")
    assert str(excinfo.value) == (
        "unknown key 'power_reprot' in cfg.json; did you mean 'power_report'?"
    )
    with pytest.raises(ConfigError, match="unknown key 'power_report' in cfg.json"):
        make_config({"power_report": True}, source="cfg.json")


def test_extra_field_cli_coercion():
    assert coerce_cli_value("--power-corners", "slow,typ", EXTRA) == ["slow", "typ"]
    with pytest.raises(ConfigError) as excinfo:
        coerce_cli_value("power_report", "perhaps", EXTRA)
    assert str(excinfo.value) == "--power-report: expects true/false/1/0/yes/no, got 'perhaps'"


def test_bad_extra_field_declarations():
    with pytest.raises(PluginError, match="'target_fps' .*is already a dfx configuration key"):
        make_config({}, extra_fields=[ExtraField("target_fps", int, 1, plugin="p")])
    with pytest.raises(PluginError, match="'k' is declared twice"):
        make_config({}, extra_fields=[ExtraField("k", int, 1), ExtraField("k", int, 2)])
    with pytest.raises(PluginError, match="'k': its default must be an integer"):
        make_config({}, extra_fields=[ExtraField("k", int, "one")])


# --------------------------------------------------------------------------
# step names (registry check)
# --------------------------------------------------------------------------

KNOWN_STEPS = ["step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw"]


def test_validate_step_names_accepts_known():
    cfg = make_config({"steps": KNOWN_STEPS[1:], "start_step": "step_tidy_up"})
    validate_step_names(cfg, KNOWN_STEPS)
    validate_step_names(make_config({"stop_step": "step_streamline"}), KNOWN_STEPS)


def test_validate_step_names_reports_unknown_with_suggestions():
    cfg = make_config({"steps": ["step_tidy_up", "step_streamlin", "step_convert_to_hw"]})
    cfg.start_step = "step_convert_to_hw"
    cfg.stop_step = "step_tidy_up"
    with pytest.raises(ConfigError) as excinfo:
        validate_step_names(cfg, KNOWN_STEPS)
    assert problems_of(excinfo)[1:] == [
        "  - unknown step 'step_streamlin' in 'steps'; did you mean 'step_streamline'?",
        "  - start_step 'step_convert_to_hw' comes after stop_step 'step_tidy_up'",
    ]


def test_validate_step_names_start_stop_without_steps():
    cfg = make_config({"start_step": "step_tidy_upp", "stop_step": "step_qonnx_to_finn"})
    with pytest.raises(ConfigError) as excinfo:
        validate_step_names(cfg, KNOWN_STEPS)
    assert str(excinfo.value) == (
        "unknown step 'step_tidy_upp' in 'start_step'; did you mean 'step_tidy_up'?"
    )
    cfg.start_step = "step_streamline"
    with pytest.raises(ConfigError) as excinfo:
        validate_step_names(cfg, KNOWN_STEPS)
    assert str(excinfo.value) == (
        "start_step 'step_streamline' comes after stop_step 'step_qonnx_to_finn'"
    )


# --------------------------------------------------------------------------
# the object: serialisation, access, docs
# --------------------------------------------------------------------------


def test_to_dict_is_json_and_round_trips():
    cfg = make_config(dict(FINN_JSON, board=None), extra_fields=EXTRA)
    data = cfg.to_dict()
    text = json.dumps(data)
    assert json.loads(text)["generate_outputs"][2] == "out_of_context_synth"
    assert data["vitis_opt_strategy"] == "build_speed"
    assert type(data["shell_flow_type"]) is str
    assert "extra" not in data and "explicit_keys" not in data
    again = make_config(json.loads(text), extra_fields=EXTRA)
    assert again == cfg
    assert again.extra == cfg.extra


def test_get_and_unknown_name():
    cfg = make_config({"target_fps": 50})
    assert cfg.get("target_fps") == 50
    with pytest.raises(KeyError, match="did you mean 'target_fps'"):
        cfg.get("target_fsp")


def test_field_docs_cover_every_key():
    rows = field_docs()
    names = [row[0] for row in rows]
    assert names == config_keys()
    finn_keys = {
        "output_dir", "synth_clk_period_ns", "generate_outputs",
        "specialize_layers_config_file", "folding_config_file", "target_fps",
        "folding_two_pass_relaxation", "verify_steps", "verify_input_npy",
        "verify_expected_output_npy", "verify_save_full_context",
        "verify_save_rtlsim_waveforms", "stitched_ip_gen_dcp", "signature", "mvau_wwidth_max",
        "standalone_thresholds", "minimize_bit_width", "board", "shell_flow_type", "fpga_part",
        "auto_fifo_depths", "split_large_fifos", "auto_fifo_strategy", "large_fifo_mem_style",
        "hls_clk_period_ns", "default_swg_exception", "vitis_platform", "vitis_floorplan_file",
        "vitis_opt_strategy", "save_intermediate_models", "enable_hw_debug",
        "enable_build_pdb_debug", "verbose", "steps", "start_step", "stop_step",
        "max_multithreshold_bit_width", "rtlsim_batch_size", "rtlsim_use_vivado_comps",
        "fifosim_n_inferences", "folding_objective", "resource_budget_fraction",
        "rtlsim_backpressure",
    }  # fmt: skip
    assert finn_keys <= set(names)
    for name, type_str, default, doc in rows:
        assert doc and "\n" not in doc, name
        assert type_str, name
        json.dumps(default)
    by_name = {row[0]: row for row in rows}
    assert by_name["target_fps"][1:3] == ("int | None", None)
    assert by_name["shell_flow_type"][1] == "vivado_zynq|vitis_alveo | None"
    assert by_name["generate_outputs"][2] == ["estimate_reports"]
    assert by_name["auto_fifo_strategy"][2] == "largefifo_rtlsim"
    # every dataclass field has one line of documentation
    for f in fields(DataflowBuildConfig):
        assert f.metadata["doc"], f.name


def test_field_docs_with_extra_fields():
    rows = field_docs(EXTRA)
    assert rows[-4][:3] == ("power_report", "bool", False)
    assert rows[-4][3] == "Write a power estimate. (plugin power)"
    assert rows[-2][1] == "list[str] | None"


def test_import_is_light():
    code = (
        "import sys, time; t = time.perf_counter(); import dfx.config; "
        "print('yaml' in sys.modules, 'difflib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]
