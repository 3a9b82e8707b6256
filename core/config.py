"""The build configuration: FINN's ``DataflowBuildConfig``, read from JSON or YAML.

dfx reads the configuration files users already have for FINN's
``build_dataflow``: the same keys, the same defaults (except where noted in a
field's documentation) and the same value sets. Enum values may be written as
the value (``"estimate_reports"``) or in FINN's enum spelling
(``"DataflowOutputType.ESTIMATE_REPORTS"`` or ``"ESTIMATE_REPORTS"``), in any
case; they are normalised to the value.

Use :func:`load_config_file` to read a file into a dict and :func:`make_config`
to turn that dict (plus command-line overrides) into a validated
:class:`DataflowBuildConfig`. :func:`make_config` checks everything before it
returns and reports every problem at once, one per line, in a single
:class:`~dfx.errors.ConfigError`.

Plugins declare further keys with :class:`ExtraField` (hook
``dfx_config_fields``); they are validated like dfx's own keys and kept in
``cfg.extra``.

This module uses the standard library only at import time (PyYAML is imported
when a YAML file is read), so ``dfx config --help`` stays fast.
"""

# _f() returns dataclasses.field(...); ruff cannot tell.
# ruff: noqa: RUF009

import math
import os
import types
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum

from dfx.errors import ConfigError, PluginError

__all__ = [
    "AutoFIFOSizingMethod",
    "DataflowBuildConfig",
    "DataflowOutputType",
    "ExtraField",
    "FoldingObjective",
    "KEY_STATUS",
    "LargeFIFOMemStyle",
    "ShellFlowType",
    "VerificationStepType",
    "VitisOptStrategy",
    "apply_board",
    "coerce_cli_value",
    "config_keys",
    "config_warnings",
    "field_docs",
    "key_type",
    "load_config_file",
    "make_config",
    "validate_step_names",
]


# --------------------------------------------------------------------------
# Value sets
# --------------------------------------------------------------------------
# Member names follow FINN's enum member names, so that FINN's spelling
# ("DataflowOutputType.OOC_SYNTH") resolves; values are FINN's values.


class DataflowOutputType(StrEnum):
    """The output products a build can generate."""

    STITCHED_IP = "stitched_ip"
    ESTIMATE_REPORTS = "estimate_reports"
    OOC_SYNTH = "out_of_context_synth"
    RTLSIM_PERFORMANCE = "rtlsim_performance"
    BITFILE = "bitfile"
    PYNQ_DRIVER = "pynq_driver"
    DEPLOYMENT_PACKAGE = "deployment_package"


class ShellFlowType(StrEnum):
    """The shell that integrates the accelerator for a bitfile."""

    VIVADO_ZYNQ = "vivado_zynq"
    VITIS_ALVEO = "vitis_alveo"


class VerificationStepType(StrEnum):
    """The points of the build where the intermediate model is checked against the reference."""

    QONNX_TO_FINN_PYTHON = "finn_onnx_python"
    TIDY_UP_PYTHON = "initial_python"
    STREAMLINED_PYTHON = "streamlined_python"
    FOLDED_HLS_CPPSIM = "folded_hls_cppsim"
    NODE_BY_NODE_RTLSIM = "node_by_node_rtlsim"
    STITCHED_IP_RTLSIM = "stitched_ip_rtlsim"
    # dfx's own
    HW_PYTHON = "hw_python"
    RTLSIM = "rtlsim"


class AutoFIFOSizingMethod(StrEnum):
    """How FIFO depths are sized when ``auto_fifo_depths`` is on."""

    CHARACTERIZE = "characterize"
    LARGEFIFO_RTLSIM = "largefifo_rtlsim"


class LargeFIFOMemStyle(StrEnum):
    """The memory resource used for large FIFOs."""

    AUTO = "auto"
    BRAM = "block"
    LUTRAM = "distributed"
    URAM = "ultra"


class VitisOptStrategy(StrEnum):
    """The Vitis (v++) optimisation strategy for Alveo builds."""

    DEFAULT = "default"
    POWER = "power"
    PERFORMANCE = "performance"
    PERFORMANCE_BEST = "performance_best"
    SIZE = "size"
    BUILD_SPEED = "build_speed"


class SynthTool(StrEnum):
    """Which tool runs out-of-context synthesis."""

    AUTO = "auto"  # Vivado when it is found, otherwise Yosys
    VIVADO = "vivado"
    YOSYS = "yosys"


class FoldingObjective(StrEnum):
    """What dfx's automatic folding aims for."""

    TARGET_FPS = "target_fps"
    MAX_FPS_FITS_BOARD = "max_fps_fits_board"


#: Other class names a value may be prefixed with (FINN's names for the same set).
_ENUM_CLASS_ALIASES: dict[type, tuple[str, ...]] = {
    VitisOptStrategy: ("VitisOptStrategyCfg",),
}
#: Other spellings of values: FINN serialises VitisOptStrategyCfg.BUILD_SPEED as "quick".
_ENUM_VALUE_ALIASES: dict[type, dict[str, str]] = {
    VitisOptStrategy: {"quick": "build_speed"},
}


# --------------------------------------------------------------------------
# Field helpers
# --------------------------------------------------------------------------


def _f(default, doc: str, *, factory=None):
    """A configuration field: its default and its one-line documentation."""
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class DataflowBuildConfig:
    """FINN's build configuration, plus dfx's own keys and plugin-declared ones.

    Build it with :func:`make_config` (from a file's keys and command-line
    overrides) or directly, ``DataflowBuildConfig(output_dir=..., ...)`` as FINN
    users do: either way every value is checked when the object is built, and a
    bad value or an unknown key raises :class:`~dfx.errors.ConfigError` naming
    the key.
    """

    # -- FINN's fields (FINN's order) --------------------------------------
    output_dir: str | None = _f(
        None, "Folder the build writes its outputs into (the CLI supplies it when unset)."
    )
    synth_clk_period_ns: float = _f(
        10.0, "Target clock period for synthesis in ns (dfx default 10.0, i.e. 100 MHz)."
    )
    generate_outputs: list[DataflowOutputType] = _f(
        None,
        "Output products to generate (dfx default: estimate_reports).",
        factory=lambda: [DataflowOutputType.ESTIMATE_REPORTS],
    )
    specialize_layers_config_file: str | None = _f(
        None, "JSON file choosing the HLS or RTL variant of each layer."
    )
    folding_config_file: str | None = _f(
        None, "JSON file with per-layer folding (PE, SIMD, FIFO depths, ...); overrides target_fps."
    )
    target_fps: int | None = _f(
        None, "Target throughput in frames per second for the automatic folding."
    )
    folding_two_pass_relaxation: bool = _f(
        True, "Refold to the achievable throughput when target_fps cannot be met, to balance."
    )
    verify_steps: list[VerificationStepType] | None = _f(
        None, "Points of the build where the model is checked against the expected output."
    )
    verify_input_npy: str = _f("input.npy", ".npy file with the input used for verification.")
    verify_expected_output_npy: str = _f(
        "expected_output.npy", ".npy file with the expected output used for verification."
    )
    verify_save_full_context: bool = _f(
        False, "Save every tensor of the execution context at each verification step."
    )
    verify_save_rtlsim_waveforms: bool = _f(
        False, "Save .vcd waveforms of the rtlsim verification runs under the reports."
    )
    verification_atol: float = _f(
        0.1, "Absolute tolerance when comparing verification outputs (max abs diff <= atol)."
    )
    stitched_ip_gen_dcp: bool = _f(False, "Synthesize the stitched IP into a .dcp checkpoint.")
    signature: list[int] | None = _f(
        None, "Words of a signature node inserted into the stitched IP (customer, app, version)."
    )
    mvau_wwidth_max: int = _f(
        36, "Largest per-PE weight stream width (bits) the automatic folding may choose."
    )
    standalone_thresholds: bool = _f(
        False, "Implement thresholds as separate layers instead of inside the MVAU."
    )
    minimize_bit_width: bool = _f(
        True, "Shrink weight and accumulator bit widths to what the values need."
    )
    board: str | None = _f(None, "Target board (e.g. Pynq-Z1, U250); sets fpga_part and shell.")
    shell_flow_type: ShellFlowType | None = _f(
        None, "Shell that integrates the accelerator for a bitfile (default: the board's)."
    )
    fpga_part: str | None = _f(
        None, "Target FPGA part (e.g. xc7z020clg400-1); follows from board when unset."
    )
    auto_fifo_depths: bool = _f(True, "Size the FIFOs between layers automatically.")
    split_large_fifos: bool = _f(False, "Split FIFOs deeper than 32768 words into a chain.")
    auto_fifo_strategy: AutoFIFOSizingMethod = _f(
        AutoFIFOSizingMethod.LARGEFIFO_RTLSIM,
        "Method that sizes FIFOs when auto_fifo_depths is on.",
    )
    force_python_rtlsim: bool = _f(
        False, "Use the Python rtlsim driver instead of the C++ one for FIFO sizing and timing."
    )
    large_fifo_mem_style: LargeFIFOMemStyle = _f(
        LargeFIFOMemStyle.AUTO, "Memory resource (ram_style) of FIFOs deeper than 64 words."
    )
    fifosim_input_throttle: bool = _f(
        True, "Throttle the input of the FIFO-sizing simulation to the target rate."
    )
    fifosim_save_waveform: bool = _f(False, "Save waveforms of the FIFO-sizing simulation.")
    fifosim_n_inferences: int | None = _f(
        None, "Number of inferences the FIFO-sizing simulation runs (null: 4, the least dfx runs)."
    )
    hls_clk_period_ns: float | None = _f(
        None, "Clock period for HLS synthesis in ns (default: synth_clk_period_ns)."
    )
    default_swg_exception: bool = _f(
        False, "Cap the FIFO depths after convolution input generators where possible."
    )
    vitis_platform: str | None = _f(
        None, "Vitis platform for Alveo builds (default: the board's platform)."
    )
    vitis_floorplan_file: str | None = _f(
        None, "JSON file assigning layers to SLRs for Alveo builds."
    )
    vitis_opt_strategy: VitisOptStrategy = _f(
        VitisOptStrategy.DEFAULT, "Vitis optimisation strategy for Alveo builds."
    )
    save_intermediate_models: bool = _f(True, "Save the model after every step.")
    enable_hw_debug: bool = _f(False, "Insert debug cores (ILA) into the hardware.")
    enable_build_pdb_debug: bool = _f(
        True, "Start a post-mortem debugger when a step fails, if stdin and stdout are a "
        "terminal and $CI is unset."
    )
    verbose: bool = _f(False, "Print warnings and tool output to the terminal, not only the log.")
    steps: list[str] | None = _f(None, "Names of the steps to run, in order (default: all).")
    start_step: str | None = _f(
        None, "Start at this step, from the model saved by the step before it."
    )
    stop_step: str | None = _f(None, "Stop after this step.")
    max_multithreshold_bit_width: int = _f(
        8, "Widest activation Quant (bits) converted to MultiThreshold."
    )
    rtlsim_batch_size: int = _f(1, "Number of inputs for the rtlsim performance measurement.")
    rtlsim_use_vivado_comps: bool = _f(
        True, "Keep Vivado FIFO IP in rtlsim instead of replacing it with RTL FIFOs."
    )
    input_range_info: list | None = _f(
        None, "Input value ranges for scaled-integer range analysis (FINN's RangeInfo entries)."
    )

    # -- dfx's own fields --------------------------------------------------
    folding_objective: FoldingObjective = _f(
        FoldingObjective.TARGET_FPS,
        "target_fps: meet target_fps; max_fps_fits_board: highest throughput that fits the board.",
    )
    resource_budget_fraction: float = _f(
        0.85, "Share of the board's resources the folding may use (max_fps_fits_board), in (0,1]."
    )
    rtlsim_backpressure: float = _f(
        0.0, "Probability in [0,1) that rtlsim holds the output stream's ready low in a cycle."
    )
    vivado_path: str | None = _f(
        None,
        "Vivado executable, or its install folder (default: 'vivado' on PATH, then "
        "$XILINX_VIVADO/bin/vivado).",
    )
    vivado_timeout_minutes: float = _f(
        720.0, "Stop a Vivado or v++ session that runs longer than this (minutes)."
    )
    yosys_timeout_minutes: float = _f(
        720.0, "Stop a Yosys synthesis run (the whole design, or one layer) that runs longer "
        "than this (minutes)."
    )
    ooc_synth_tool: SynthTool = _f(
        SynthTool.AUTO,
        "Out-of-context synthesis with vivado, yosys, or auto (Vivado when found, else Yosys).",
    )
    force_output_dir: bool = _f(
        False, "Write into an output_dir that holds files dfx did not write (none of them is "
        "removed or overwritten); without it such a folder is refused.",
    )
    require_all_outputs: bool = _f(
        False, "Fail (non-zero exit) when a requested output was only prepared, e.g. a "
        "bitfile whose scripts were written but Vivado did not run.",
    )

    # -- not configuration keys --------------------------------------------
    extra: dict = field(
        default_factory=dict,
        metadata={"doc": "Plugin-declared keys (ExtraField) and their values.", "key": False},
    )
    explicit_keys: frozenset | None = field(
        default=None,
        repr=False,
        compare=False,
        metadata={
            "doc": "Keys set explicitly in the file or overrides (None: not built by make_config).",
            "key": False,
        },
    )

    def __post_init__(self) -> None:
        # The same checks as make_config, so a config built in Python fails here,
        # naming the key, and not later inside a step.
        _validate_instance(self)

    # -- access ------------------------------------------------------------
    @property
    def clk_mhz(self) -> float:
        """The synthesis clock frequency in MHz."""
        return 1000.0 / self.synth_clk_period_ns

    def get(self, name: str):
        """The value of configuration key ``name`` (dfx's own or plugin-declared)."""
        if name in _key_fields():
            return getattr(self, name)
        if name in self.extra:
            return self.extra[name]
        known = list(_key_fields()) + list(self.extra)
        raise KeyError(f"no configuration key {name!r}{_suggest(name, known)}")

    def to_dict(self) -> dict:
        """All keys and values, JSON-serialisable (enums as their values).

        Plugin-declared keys appear at the top level, as in a configuration file.
        """
        out = {name: _plain(getattr(self, name)) for name in _key_fields()}
        for name, value in self.extra.items():
            out[name] = _plain(value)
        return out

    def resolve_board(self, boards):
        """Make ``board``, ``fpga_part`` and ``shell_flow_type`` consistent.

        ``boards`` is either ``get_board(name)`` (see :func:`apply_board`) or a
        mapping from board name to board object. Returns the board, or None
        when no board is set.
        """
        if callable(boards):
            return apply_board(self, boards)
        return apply_board(self, _mapping_lookup(boards))


_dataclass_init = DataflowBuildConfig.__init__


def _checked_init(self, *args, **kwargs):
    # An unknown keyword is a ConfigError naming the key, not the dataclass's TypeError.
    names = {f.name for f in fields(DataflowBuildConfig)}
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        known = list(_key_fields())
        raise _config_error([f"unknown key {k!r} for DataflowBuildConfig{_suggest(k, known)}"
                             for k in unknown])
    _dataclass_init(self, *args, **kwargs)


_checked_init.__doc__ = _dataclass_init.__doc__
_checked_init.__signature__ = __import__("inspect").signature(_dataclass_init)
DataflowBuildConfig.__init__ = _checked_init


# --------------------------------------------------------------------------
# What dfx does with each of FINN's keys
# --------------------------------------------------------------------------

IMPLEMENTED, WARNED, REJECTED = "implemented", "warned", "rejected"

#: Every FINN key: (status, what dfx does). A "warned" key, or the values named in
#: _WARN_WHEN of an implemented one, is accepted but has no effect; setting it makes
#: :func:`config_warnings` say so. docs/config.md renders this table.
KEY_STATUS: dict[str, tuple[str, str]] = {
    "output_dir": (IMPLEMENTED, "the build folder, FINN's layout"),
    "synth_clk_period_ns": (IMPLEMENTED, "folding, estimates, rtlsim figures, Vivado clock; "
                            "FINN has no default, dfx 10.0"),
    "generate_outputs": (IMPLEMENTED, "selects the steps; FINN has no default, dfx "
                         "estimate_reports; pynq_driver and deployment_package are rejected "
                         "(no plugin produces them yet)"),
    "specialize_layers_config_file": (WARNED, "dfx's layers are all RTL, so there is no HLS "
                                      "or RTL variant to choose; the file is checked, and a "
                                      "layer it asks to be HLS is built as RTL (logged)"),
    "folding_config_file": (IMPLEMENTED, "FINN's folding JSON, applied per layer"),
    "target_fps": (IMPLEMENTED, "the automatic folding's cycle budget"),
    "folding_two_pass_relaxation": (WARNED, "dfx's folding takes per layer the cheapest "
                                    "folding within the budget; when the target cannot be "
                                    "met it always reports the limiting layer and keeps the "
                                    "other layers at their target, a single pass"),
    "verify_steps": (IMPLEMENTED, "finn_onnx_python, initial_python, streamlined_python, "
                     "hw_python run on the Python model; stitched_ip_rtlsim, "
                     "node_by_node_rtlsim and rtlsim simulate the stitched design; "
                     "folded_hls_cppsim is rejected (C++ simulation comes with HLS layers)"),
    "verify_input_npy": (IMPLEMENTED, "the verification input"),
    "verify_expected_output_npy": (IMPLEMENTED, "the verification reference"),
    "verify_save_full_context": (WARNED, "dfx's checks record the verdict and the largest "
                                 "difference in verification_output/, not every tensor"),
    "verify_save_rtlsim_waveforms": (WARNED, "the rtlsim check is compiled without tracing; "
                                     "no .vcd is written"),
    "verification_atol": (IMPLEMENTED, "a check passes when the max abs diff is <= atol"),
    "stitched_ip_gen_dcp": (IMPLEMENTED, "package_ip.tcl also synthesizes the stitched "
                            "design out of context and writes stitched_ip/dfx_top.dcp"),
    "signature": (WARNED, "dfx's stitched IP has no AXI-lite signature register yet"),
    "mvau_wwidth_max": (IMPLEMENTED, "caps SIMD x weight bits per PE in the folding; "
                        "default 36 as FINN's"),
    "standalone_thresholds": (IMPLEMENTED, "thresholds become separate Thresholding layers"),
    "minimize_bit_width": (IMPLEMENTED, "dfx always sizes weight and accumulator widths from "
                           "the value ranges (step_minimize_bit_width records them); false "
                           "is warned: the widths stay minimal"),
    "board": (IMPLEMENTED, "sets fpga_part, the shell and the default clock"),
    "shell_flow_type": (IMPLEMENTED, "Zynq shell or Alveo kernel for the bitfile"),
    "fpga_part": (IMPLEMENTED, "the part for Vivado and the resource budget"),
    "auto_fifo_depths": (IMPLEMENTED, "FIFO depths by Verilator simulation"),
    "split_large_fifos": (IMPLEMENTED, "FIFOs deeper than 32768 words become a chain of "
                          "FIFOs of at most 32768 words (same total depth)"),
    "auto_fifo_strategy": (IMPLEMENTED, "largefifo_rtlsim: dfx simulates the stitched design "
                           "with deep FIFOs and keeps the peak occupancy; characterize is "
                           "warned: dfx has no per-layer characterization and sizes by the "
                           "same simulation"),
    "force_python_rtlsim": (WARNED, "dfx has one simulator, compiled by Verilator"),
    "large_fifo_mem_style": (IMPLEMENTED, "the ram_style of FIFOs deeper than 64 words in "
                             "the RTL (auto: LUTs up to 64 words, block RAM above)"),
    "fifosim_input_throttle": (WARNED, "the FIFO-sizing simulation always feeds the input "
                               "as fast as the design takes it"),
    "fifosim_save_waveform": (WARNED, "the FIFO-sizing simulation writes no waveform"),
    "fifosim_n_inferences": (IMPLEMENTED, "frames the FIFO-sizing simulation runs (at least "
                             "4); FINN's default null"),
    "hls_clk_period_ns": (WARNED, "validated and recorded in report/hw_ipgen.json; no "
                          "effect until dfx has HLS layers"),
    "default_swg_exception": (WARNED, "dfx sizes the FIFO after a convolution input "
                              "generator by simulation, as every other FIFO"),
    "vitis_platform": (IMPLEMENTED, "the Alveo platform for v++"),
    "vitis_floorplan_file": (WARNED, "dfx's Alveo link places the kernel on one SLR; the "
                             "file is not read"),
    "vitis_opt_strategy": (WARNED, "dfx's v++ link uses Vitis's default strategy"),
    "save_intermediate_models": (IMPLEMENTED, "intermediate_models/<step>.onnx"),
    "enable_hw_debug": (WARNED, "dfx inserts no ILA debug cores"),
    "enable_build_pdb_debug": (IMPLEMENTED, "post-mortem pdb when a step raises an "
                               "unexpected exception, if stdin and stdout are a terminal "
                               "and $CI is unset; never under pipes or CI"),
    "verbose": (IMPLEMENTED, "debug lines in the log"),
    "steps": (IMPLEMENTED, "FINN's step names and lists; FINN steps with no dfx work are "
              "no-ops with a log line"),
    "start_step": (IMPLEMENTED, "from the model saved by the step before"),
    "stop_step": (IMPLEMENTED, "stop after this step"),
    "max_multithreshold_bit_width": (WARNED, "dfx's streamliner turns every activation Quant "
                                     "into thresholds whatever its width"),
    "rtlsim_batch_size": (IMPLEMENTED, "inputs of the rtlsim performance measurement"),
    "rtlsim_use_vivado_comps": (WARNED, "dfx's FIFOs are its own RTL in rtlsim and "
                                "synthesis; there is no Vivado FIFO IP to keep"),
    "input_range_info": (WARNED, "dfx takes the input range from the input quantizer"),
}

#: Values of implemented keys that dfx accepts but cannot honour.
_WARN_WHEN = {
    "minimize_bit_width": lambda v: v is False,
    "auto_fifo_strategy": lambda v: v == AutoFIFOSizingMethod.CHARACTERIZE,
    "hls_clk_period_ns": lambda v: v is not None,
}

#: Values rejected outright: key -> (bad(value), why).
_REJECT = {
    "verify_steps": (
        lambda v: VerificationStepType.FOLDED_HLS_CPPSIM in (v or []),
        "folded_hls_cppsim is C++ simulation of HLS layers, which dfx does not have yet "
        "(its layers are RTL: use hw_python for the folded model or stitched_ip_rtlsim)",
    ),
}


def config_warnings(cfg: DataflowBuildConfig) -> list[str]:
    """One message per key set to a value dfx accepts but does not honour.

    A key counts as set when it differs from its default (the default is what
    dfx does). Each message reads "KEY: accepted for FINN compatibility, no
    effect in dfx: WHY".
    """
    out = []
    for name, (_spec, f) in _key_fields().items():
        status, why = KEY_STATUS.get(name, (IMPLEMENTED, ""))
        value = getattr(cfg, name)
        if name in _WARN_WHEN:
            hit = _WARN_WHEN[name](value)
        else:
            hit = status == WARNED and value != _default_of(f)
        if hit:
            out.append(f"{name}={_short(_plain(value))}: accepted for FINN compatibility, "
                       f"no effect in dfx: {why}")
    return out


def _validate_instance(cfg: DataflowBuildConfig) -> None:
    """Check and normalise every key of ``cfg`` in place; raises ConfigError."""
    problems = []
    for name, (spec, _field) in _key_fields().items():
        value = getattr(cfg, name)
        try:
            value = _check_value(spec, value)
        except _Problem as exc:
            problems.append(f"{name!r}: {exc}")
            continue
        rule = _RANGES.get(name)
        if rule is not None and value is not None and not rule[0](value):
            problems.append(f"{name!r}: {rule[1]}, got {_short(_plain(value))}")
            continue
        reject = _REJECT.get(name)
        if reject is not None and reject[0](value):
            problems.append(f"{name!r}: {reject[1]}")
            continue
        setattr(cfg, name, value)
    if not isinstance(cfg.extra, dict):
        problems.append(f"'extra' must be a mapping, got {_describe(cfg.extra)}")
    if problems:
        raise _config_error(problems)


# --------------------------------------------------------------------------
# Plugin-declared keys
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtraField:
    """A configuration key a plugin declares (hook ``dfx_config_fields``).

    type: bool, int, float, str, list, dict, ``list[str]`` (any item type of
    those), or a StrEnum subclass. A default of None makes the key accept null.
    """

    name: str
    type: type
    default: object
    doc: str = ""
    plugin: str = ""


# --------------------------------------------------------------------------
# Type descriptions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    base: object  # bool, int, float, str, list, dict, object (anything) or a StrEnum subclass
    nullable: bool = False
    item: object = None  # the item type of a list


def _spec_of(tp, nullable: bool = False) -> _Spec:
    args = getattr(tp, "__args__", None)
    origin = getattr(tp, "__origin__", None)
    is_union = isinstance(tp, types.UnionType) or repr(origin) == "typing.Union"
    if is_union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported configuration type {tp!r}")
        return _spec_of(rest[0], nullable or len(rest) != len(args))
    if origin in (list, tuple) or tp in (list, tuple):
        item = _spec_of(args[0] if args else object)
        if item.base in (list, dict) or item.nullable:
            raise TypeError(f"unsupported configuration type {tp!r} (items must be scalars)")
        return _Spec(list, nullable, item.base)
    if tp is dict or origin is dict:
        return _Spec(dict, nullable)
    if tp in (bool, int, float, str, object) or (isinstance(tp, type) and issubclass(tp, StrEnum)):
        return _Spec(tp, nullable)
    raise TypeError(f"unsupported configuration type {tp!r}")


_KEY_FIELDS: dict | None = None


def _key_fields() -> dict[str, tuple[_Spec, object]]:
    """Configuration keys of DataflowBuildConfig: name -> (spec, dataclass field)."""
    global _KEY_FIELDS
    if _KEY_FIELDS is None:
        table = {}
        for f in fields(DataflowBuildConfig):
            if f.metadata.get("key", True):
                table[f.name] = (_spec_of(f.type), f)
        _KEY_FIELDS = table
    return _KEY_FIELDS


def config_keys() -> list[str]:
    """The names of dfx's own configuration keys (FINN's and dfx's), in order."""
    return list(_key_fields())


def _default_of(f) -> object:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


def _type_str(spec: _Spec) -> str:
    def name(base) -> str:
        if isinstance(base, type) and issubclass(base, StrEnum):
            return "|".join(m.value for m in base)
        return {object: "any"}.get(base, getattr(base, "__name__", str(base)))

    text = f"list[{name(spec.item)}]" if spec.base is list else name(spec.base)
    return text + " | None" if spec.nullable else text


# --------------------------------------------------------------------------
# Value checking
# --------------------------------------------------------------------------


class _Problem(Exception):
    """One problem with one value; the caller adds where it was found."""


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {_short(value)}"


_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def _parse_enum(enum_cls: type, value) -> StrEnum:
    if isinstance(value, enum_cls):
        return value
    valid = [m.value for m in enum_cls]
    if not isinstance(value, str):
        raise _Problem(f"must be one of {', '.join(valid)}, got {_describe(value)}")
    text = value.strip()
    if "." in text:
        prefix, _, rest = text.rpartition(".")
        class_names = {enum_cls.__name__.lower()}
        class_names.update(n.lower() for n in _ENUM_CLASS_ALIASES.get(enum_cls, ()))
        if prefix.lower() in class_names:
            text = rest
    key = text.lower()
    for member in enum_cls:
        if key == member.value.lower() or key == member.name.lower():
            return member
    alias = _ENUM_VALUE_ALIASES.get(enum_cls, {}).get(key)
    if alias is not None:
        return enum_cls(alias)
    spellings = {m.value.lower(): m.value for m in enum_cls}
    spellings.update({m.name.lower(): m.value for m in enum_cls})
    match = _closest(key, spellings)
    hint = f"; did you mean {spellings[match]!r}?" if match else ""
    raise _Problem(f"has unknown value {value!r}{hint} (valid: {', '.join(valid)})")


def _check_scalar(base, value):
    """``value`` as ``base`` (already typed input: file values, typed overrides)."""
    if base is object:
        return value
    if isinstance(base, type) and issubclass(base, StrEnum):
        return _parse_enum(base, value)
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        # JSON and YAML write 1e12 as a float; the command line takes it as an integer too
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise _Problem(f"must be a finite number, got {_short(value)}")
            return number
    elif base is str:
        if isinstance(value, str):
            return value
    elif base is dict and isinstance(value, dict):
        return dict(value)
    raise _Problem(f"must be {_TYPE_WORDS.get(base, base)}, got {_describe(value)}")


def _check_value(spec: _Spec, value):
    """Check and normalise a typed value; raises _Problem."""
    if value is None:
        if spec.nullable:
            return None
        word = _TYPE_WORDS.get(spec.base)
        if word is None:  # an enum
            word = "one of " + ", ".join(m.value for m in spec.base)
        raise _Problem(f"must be {word}, not null")
    if spec.base is list:
        if not isinstance(value, (list, tuple)):
            raise _Problem(f"must be a list, got {_describe(value)}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(_check_scalar(spec.item, item))
            except _Problem as exc:
                raise _Problem(f"item {index} {exc}") from None
        return out
    return _check_scalar(spec.base, value)


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _coerce_scalar(base, text: str):
    """Command-line text -> value of type ``base``; raises _Problem."""
    stripped = text.strip()
    if base is bool:
        low = stripped.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _Problem(f"expects true/false/1/0/yes/no, got {text!r}")
    if base is int:
        try:
            return int(stripped)
        except ValueError:
            pass
        try:
            number = float(stripped)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number.is_integer():
            return int(number)
        raise _Problem(f"expects an integer, got {text!r}")
    if base is float:
        try:
            return float(stripped)
        except ValueError:
            raise _Problem(f"expects a number, got {text!r}") from None
    if base is dict or base is object:
        import json

        try:
            return json.loads(stripped)
        except ValueError:
            if base is object:
                return text
            raise _Problem(f"expects a JSON mapping, got {text!r}") from None
    if isinstance(base, type) and issubclass(base, StrEnum):
        return _parse_enum(base, stripped)
    return text


def _coerce_text(spec: _Spec, text: str):
    if spec.nullable and text.strip().lower() in ("none", "null"):
        return None
    if spec.base is list:
        body = text.strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
        items = [item.strip().strip("'\"") for item in body.split(",")]
        out = []
        for index, item in enumerate(i for i in items if i):
            try:
                out.append(_coerce_scalar(spec.item, item))
            except _Problem as exc:
                raise _Problem(f"item {index} {exc}") from None
        return out
    return _coerce_scalar(spec.base, text)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _normalise_key(key: str) -> str:
    return key.lstrip("-").replace("-", "_")


# --------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------


def _closest(word: str, candidates) -> str | None:
    candidates = list(candidates)
    folded = {c.lower().replace("-", "_"): c for c in candidates}
    key = word.lower().replace("-", "_")
    if key in folded:
        return folded[key]
    import difflib

    match = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    if match:
        return folded[match[0]]
    # a unique candidate containing the word ("zynq" -> "vivado_zynq")
    containing = {folded[c] for c in folded if len(key) >= 3 and key in c}
    return containing.pop() if len(containing) == 1 else None


def _suggest(word: str, candidates) -> str:
    match = _closest(word, candidates)
    return f"; did you mean {match!r}?" if match else ""


# --------------------------------------------------------------------------
# Range checks: key -> (ok(value), what is required)
# --------------------------------------------------------------------------

_RANGES = {
    "target_fps": (lambda v: v > 0, "must be > 0"),
    "synth_clk_period_ns": (lambda v: 0 < v <= 1000, "must be > 0 and <= 1000 (ns)"),
    "hls_clk_period_ns": (lambda v: v > 0, "must be > 0"),
    "mvau_wwidth_max": (lambda v: v >= 1, "must be >= 1"),
    "max_multithreshold_bit_width": (lambda v: v >= 1, "must be >= 1"),
    "rtlsim_batch_size": (lambda v: v >= 1, "must be >= 1"),
    "fifosim_n_inferences": (lambda v: v >= 1, "must be >= 1"),
    "verification_atol": (lambda v: v >= 0, "must be >= 0"),
    "resource_budget_fraction": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "rtlsim_backpressure": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "vivado_timeout_minutes": (lambda v: v > 0, "must be > 0"),
    "yosys_timeout_minutes": (lambda v: v > 0, "must be > 0"),
    "generate_outputs": (lambda v: len(v) > 0, "must name at least one output"),
}


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_config_file(path) -> dict:
    """Read a JSON (``.json``) or YAML (``.yaml``/``.yml``) configuration file into a dict.

    Raises ConfigError naming the file when it is missing, unreadable, not
    valid JSON/YAML (with the line where the parser reports it) or not a
    mapping at the top level.
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(
            f"configuration file {name}: unsupported file type {suffix or '(none)'!r}; "
            "use .json, .yaml or .yml"
        )
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {name} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"configuration file {name} is a directory") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {name} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ConfigError(
            f"configuration file {name} cannot be read: {exc.strerror or exc}"
        ) from None

    if suffix == ".json":
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"configuration file {name}, line {exc.lineno} column {exc.colno}: "
                f"invalid JSON: {exc.msg}"
            ) from None
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(
                f"configuration file {name}{where}: invalid YAML: {problem}"
            ) from None
        if data is None:
            raise ConfigError(
                f"configuration file {name} is empty; expected a mapping of configuration keys"
            )
    if not isinstance(data, dict):
        raise ConfigError(
            f"configuration file {name}: expected a mapping of configuration keys at the top "
            f"level, got {_kind_word(data)}"
        )
    return data


def _yaml_loader():
    """PyYAML's safe loader, reading ``1e12`` as a number as YAML 1.2 and JSON do
    (PyYAML alone, YAML 1.1, reads it as the string '1e12')."""
    import re

    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # a subclass: the resolver is not added to PyYAML's own loader
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."))
    return Loader


def _kind_word(value) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


# --------------------------------------------------------------------------
# Building and validating
# --------------------------------------------------------------------------


def _extra_specs(extra_fields) -> dict[str, tuple[_Spec, ExtraField]]:
    builtin = _key_fields()
    table: dict[str, tuple[_Spec, ExtraField]] = {}
    for ef in extra_fields:
        owner = f" (plugin {ef.plugin})" if ef.plugin else ""
        if ef.name in builtin:
            raise PluginError(
                f"configuration key {ef.name!r}{owner} is already a dfx configuration key"
            )
        if ef.name in table:
            other = table[ef.name][1].plugin or "another plugin"
            raise PluginError(
                f"configuration key {ef.name!r}{owner} is declared twice (also by {other})"
            )
        try:
            spec = _spec_of(ef.type, nullable=ef.default is None)
        except TypeError as exc:
            raise PluginError(f"configuration key {ef.name!r}{owner}: {exc}") from None
        try:
            _check_value(spec, ef.default)
        except _Problem as exc:
            raise PluginError(f"configuration key {ef.name!r}{owner}: its default {exc}") from None
        table[ef.name] = (spec, ef)
    return table


def _spec_for(name: str, extra_fields) -> _Spec | None:
    name = _normalise_key(name)
    if name in _key_fields():
        return _key_fields()[name][0]
    extras = _extra_specs(extra_fields)
    if name in extras:
        return extras[name][0]
    return None


def key_type(field_name: str, extra_fields=()) -> object | None:
    """The value type of configuration key ``field_name``: ``bool``, ``int``, ``float``,
    ``str``, ``list``, ``dict``, ``object`` or a StrEnum class; ``None`` for an unknown key.
    (``dfx sweep`` asks it whether a range of values makes sense for a key.)"""
    spec = _spec_for(field_name, extra_fields)
    return None if spec is None else spec.base


def coerce_cli_value(field_name: str, text: str, extra_fields=()):
    """Convert command-line text to the type of configuration key ``field_name``.

    ``field_name`` may be spelled as the key (``target_fps``) or as the flag
    (``--target-fps``). Booleans accept true/false/1/0/yes/no; lists a
    comma-separated string; keys that may be null accept ``none``/``null``;
    enums the value or FINN's spelling. Range checks are left to
    :func:`make_config`. Raises ConfigError naming the flag.
    """
    key = _normalise_key(field_name)
    spec = _spec_for(key, extra_fields)
    if spec is None:
        names = list(_key_fields()) + [ef.name for ef in extra_fields]
        match = _closest(key, names)
        hint = f"; did you mean {_flag(match)}?" if match else ""
        raise ConfigError(f"unknown option {_flag(key)}{hint}")
    try:
        return _coerce_text(spec, text)
    except _Problem as exc:
        raise ConfigError(f"{_flag(key)}: {exc}") from None


def make_config(
    data: dict,
    overrides: dict | None = None,
    extra_fields=(),
    source: str = "config",
) -> DataflowBuildConfig:
    """Merge ``overrides`` over ``data`` and validate everything.

    data:         keys and typed values, as :func:`load_config_file` returns them.
    overrides:    keys (``target_fps`` or ``--target-fps``) and values from the
                  command line: strings are converted to the key's type (see
                  :func:`coerce_cli_value`), other values are checked as typed.
    extra_fields: the :class:`ExtraField` declarations of the loaded plugins.
    source:       how to name ``data`` in messages (usually the file name).

    Every problem found is reported in one ConfigError, one problem per line.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of configuration keys, got {_kind_word(data)}"
        )
    builtin = _key_fields()
    extras = _extra_specs(extra_fields)
    all_names = list(builtin) + list(extras)
    problems: list[str] = []

    # (key, value, where, from_cli); overrides replace data entries of the same key
    entries: dict[str, tuple[object, str, bool]] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(f"key {key!r} in {source} is not a string")
            continue
        entries[key] = (value, f"{key!r} in {source}", False)
    for raw_key, value in (overrides or {}).items():
        key = _normalise_key(str(raw_key))
        entries[key] = (value, _flag(key), True)

    values: dict[str, object] = {}
    for key, (value, where, from_cli) in entries.items():
        if key in builtin:
            spec = builtin[key][0]
        elif key in extras:
            spec = extras[key][0]
        else:
            match = _closest(key, all_names)
            if from_cli:
                hint = f"; did you mean {_flag(match)}?" if match else ""
                problems.append(f"unknown option {_flag(key)}{hint}")
            else:
                hint = (
                    f"; did you mean {match!r}?"
                    if match
                    else " (if a plugin declares it, load that plugin with --plugins)"
                )
                problems.append(f"unknown key {key!r} in {source}{hint}")
            continue
        try:
            if from_cli and isinstance(value, str):
                value = _coerce_text(spec, value)
            value = _check_value(spec, value)
        except _Problem as exc:
            problems.append(f"{where}: {exc}")
            continue
        rule = _RANGES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            problems.append(f"{where}: {rule[1]}, got {_short(value)}")
            continue
        reject = _REJECT.get(key)
        if reject is not None and reject[0](value):
            problems.append(f"{where}: {reject[1]}")
            continue
        if key == "generate_outputs":
            value = list(dict.fromkeys(value))  # order kept, duplicates dropped
        values[key] = value

    # cross-key checks, on the values that passed their own checks
    def where(key: str) -> str:
        return entries[key][1] if key in entries else repr(key)

    steps = values.get("steps")
    if steps is not None:
        for key in ("start_step", "stop_step"):
            name = values.get(key)
            if name is not None and name not in steps:
                problems.append(
                    f"{where(key)}: step {name!r} is not in 'steps'{_suggest(name, steps)}"
                )
        start, stop = values.get("start_step"), values.get("stop_step")
        if start in steps and stop in steps and steps.index(start) > steps.index(stop):
            problems.append(f"start_step {start!r} comes after stop_step {stop!r} in 'steps'")
    objective = values.get("folding_objective", FoldingObjective.TARGET_FPS)
    if objective == FoldingObjective.MAX_FPS_FITS_BOARD:
        board = values.get("board")
        part = values.get("fpga_part")
        if board is None and part is None:
            problems.append(
                f"{where('folding_objective')}: max_fps_fits_board needs 'board' (or "
                "'fpga_part') to know the available resources"
            )

    if problems:
        raise _config_error(problems)

    builtin_values = {k: v for k, v in values.items() if k in builtin}
    extra_values = {name: _copy_default(ef.default) for name, (_, ef) in extras.items()}
    extra_values.update({k: v for k, v in values.items() if k in extras})
    cfg = DataflowBuildConfig(**builtin_values)
    cfg.extra = extra_values
    cfg.explicit_keys = frozenset(values)
    return cfg


def _copy_default(value):
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _config_error(problems: list[str]) -> ConfigError:
    if len(problems) == 1:
        error = ConfigError(problems[0])
    else:
        lines = "\n".join(f"  - {p}" for p in problems)
        error = ConfigError(f"{len(problems)} problems in the configuration:\n{lines}")
    error.problems = list(problems)
    return error


def validate_step_names(cfg: DataflowBuildConfig, known_step_names) -> None:
    """Check ``steps``, ``start_step`` and ``stop_step`` against the registered steps.

    ``known_step_names`` are the registered step names in build order. Unknown
    names are reported with the closest known name; ``start_step`` must not
    come after ``stop_step`` (in ``steps`` when given, else in the build order).
    """
    known = list(known_step_names)
    problems: list[str] = []
    order = known
    if cfg.steps is not None:
        order = list(cfg.steps)
        for name in cfg.steps:
            if name not in known:
                problems.append(f"unknown step {name!r} in 'steps'{_suggest(name, known)}")
    for key in ("start_step", "stop_step"):
        name = getattr(cfg, key)
        if name is None:
            continue
        if name not in known:
            problems.append(f"unknown step {name!r} in {key!r}{_suggest(name, known)}")
        elif name not in order:
            problems.append(f"{key!r}: step {name!r} is not in 'steps'{_suggest(name, order)}")
    start, stop = cfg.start_step, cfg.stop_step
    if start in order and stop in order and order.index(start) > order.index(stop):
        problems.append(f"start_step {start!r} comes after stop_step {stop!r}")
    if problems:
        raise _config_error(problems)


# --------------------------------------------------------------------------
# Board consistency
# --------------------------------------------------------------------------


def apply_board(cfg: DataflowBuildConfig, get_board):
    """Make the board, FPGA part and shell flow of ``cfg`` agree; returns the board or None.

    ``get_board(name)`` returns an object with ``name``, ``part``,
    ``shell_flow_type`` and ``default_clk_ns``, or raises ConfigError for an
    unknown board. When ``board`` is set: ``board`` takes the board's spelling
    of its name; ``fpga_part`` follows from the board when unset and must name
    the board's part when set (compared case-insensitively); ``shell_flow_type``
    defaults to the board's and must agree with it when set; and
    ``synth_clk_period_ns`` takes the board's default clock when a configuration
    built by :func:`make_config` did not set it. ``cfg`` is changed in place,
    and only when everything agrees.
    """
    if cfg.board is None:
        return None
    board = get_board(cfg.board)
    problems = []
    fpga_part, shell_flow_type = cfg.fpga_part, cfg.shell_flow_type
    part = getattr(board, "part", None)
    if part:
        if fpga_part is None:
            fpga_part = part
        elif fpga_part.strip().lower() != str(part).strip().lower():
            problems.append(
                f"fpga_part {fpga_part!r} does not match board {board.name!r}, whose part "
                f"is {part!r}; remove fpga_part or the board"
            )
    board_flow = getattr(board, "shell_flow_type", None)
    if board_flow is not None:
        try:
            board_flow = _parse_enum(ShellFlowType, board_flow)
        except _Problem as exc:
            raise ConfigError(f"board {board.name!r}: shell_flow_type {exc}") from None
        if shell_flow_type is None:
            shell_flow_type = board_flow
        elif shell_flow_type != board_flow:
            problems.append(
                f"shell_flow_type {str(shell_flow_type)!r} does not match board "
                f"{board.name!r}, whose shell flow is {str(board_flow)!r}"
            )
    if problems:
        raise _config_error(problems)
    cfg.board = board.name
    cfg.fpga_part = fpga_part
    cfg.shell_flow_type = shell_flow_type
    clk = getattr(board, "default_clk_ns", None)
    explicit = cfg.explicit_keys
    if clk and explicit is not None and "synth_clk_period_ns" not in explicit:
        cfg.synth_clk_period_ns = float(clk)
    return board


def _mapping_lookup(boards):
    def get_board(name: str):
        if name in boards:
            return boards[name]
        folded = {str(key).lower(): key for key in boards}
        if name.lower() in folded:
            return boards[folded[name.lower()]]
        known = ", ".join(sorted(map(str, boards))) or "none"
        raise ConfigError(f"unknown board {name!r}{_suggest(name, boards)} (known: {known})")

    return get_board


# --------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------


def field_docs(extra_fields=()) -> list[tuple[str, str, object, str]]:
    """(name, type, default, doc) of every configuration key, for ``dfx config --help``.

    Defaults are given as they would be written in a JSON file. Plugin-declared
    keys (``extra_fields``) follow dfx's own, their doc naming the plugin.
    """
    rows = []
    for name, (spec, f) in _key_fields().items():
        doc = f.metadata["doc"]
        status, why = KEY_STATUS.get(name, (IMPLEMENTED, ""))
        if status == WARNED:  # say it where users look it up: dfx config, dfx run --help
            doc += f" [accepted for FINN compatibility, no effect in dfx: {why}]"
        rows.append((name, _type_str(spec), _plain(_default_of(f)), doc))
    for name, (spec, ef) in _extra_specs(extra_fields).items():
        doc = ef.doc + (f" (plugin {ef.plugin})" if ef.plugin else "")
        rows.append((name, _type_str(spec), _plain(ef.default), doc))
    return rows


def _plain(value):
    """``value`` as plain JSON data (enums as their values)."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
