"""FINN users' configs and scripts in dfx: the Python API, FINN's step lists, and what
every DataflowBuildConfig key does (implemented, warned, or rejected)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from conftest import model_dir, read_json, run_dfx
from dfx.config import (
    IMPLEMENTED,
    KEY_STATUS,
    REJECTED,
    WARNED,
    DataflowBuildConfig,
    config_keys,
    config_warnings,
    make_config,
)
from dfx.errors import ConfigError

CYBSEC_DIR = model_dir("cybsec-mlp-w2a2")
CYBSEC = CYBSEC_DIR / "model.onnx"
ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, cwd: Path, timeout: float = 300, env_extra: dict | None = None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- the tutorial's estimate-only cell, with only the import lines changed --------------------


TUTORIAL_CELL = """
import dfx as build
import dfx as build_cfg
import os
import shutil

model_file = {model!r}

estimates_output_dir = "output_estimates_only"

#Delete previous run results if exist
if os.path.exists(estimates_output_dir):
    shutil.rmtree(estimates_output_dir)
    print("Previous run results deleted!")


cfg_estimates = build.DataflowBuildConfig(
    output_dir          = estimates_output_dir,
    mvau_wwidth_max     = 50,
    target_fps          = 5000,
    synth_clk_period_ns = 5.0,
    fpga_part           = "xc7z020clg400-1",
    steps               = build_cfg.estimate_only_dataflow_steps,
    generate_outputs=[
        build_cfg.DataflowOutputType.ESTIMATE_REPORTS,
    ]
)

print("returned", build.build_dataflow_cfg(model_file, cfg_estimates))
"""


def test_finn_tutorial_estimate_cell(tmp_path):
    proc = run_python(TUTORIAL_CELL.format(model=str(CYBSEC)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "returned 0" in proc.stdout
    out = tmp_path / "output_estimates_only"
    for name in ("auto_folding_config.json", "build_dataflow.log", "time_per_step.json",
                 "template_specialize_layers_config.json"):
        assert (out / name).is_file(), name
    assert (out / "intermediate_models").is_dir()
    for name in ("estimate_layer_config_alternatives.json", "estimate_network_performance.json",
                 "estimate_layer_cycles.json", "estimate_layer_resources.json",
                 "op_and_param_counts.json"):
        assert (out / "report" / name).is_file(), name
    # every FINN step of the list ran, in FINN's order
    import dfx

    assert list(read_json(out / "time_per_step.json")) == dfx.estimate_only_dataflow_steps
    saved = sorted(p.stem for p in (out / "intermediate_models").glob("*.onnx"))
    assert saved == sorted(dfx.estimate_only_dataflow_steps)
    # the steps FINN has and dfx need not run say so in the log
    log = (out / "build_dataflow.log").read_text()
    assert "step_create_dataflow_partition: no-op in dfx" in log
    assert "step_specialize_layers: every layer is RTL" in log
    # the config's values were used: 5 ns clock, 5000 fps, weight width at most 50 bits
    perf = read_json(out / "report" / "estimate_network_performance.json")
    assert perf["estimated_throughput_fps"] >= 5000
    assert perf["estimated_latency_ns"] == pytest.approx(perf["critical_path_cycles"] * 5.0)
    folding = read_json(out / "auto_folding_config.json")
    layers = [k for k in folding if k != "Defaults"]
    template = read_json(out / "template_specialize_layers_config.json")
    assert template == {"Defaults": {}, **{k: {"preferred_impl_style": "rtl"} for k in layers}}
    # the alternatives: per layer, its current memory style first, as estimated
    alternatives = read_json(out / "report" / "estimate_layer_config_alternatives.json")
    resources = read_json(out / "report" / "estimate_layer_resources.json")
    assert set(alternatives) == set(layers)
    for name in layers:
        first = alternatives[name][0]
        assert first["ram_style"] == folding[name]["ram_style"]
        assert first["LUT"] == resources[name]["LUT"]
        assert sorted(a["ram_style"] for a in alternatives[name]) == \
            ["block", "distributed", "ultra"]


def test_build_dataflow_cfg_returns_nonzero_on_failure(tmp_path, capsys):
    import dfx

    cfg = dfx.DataflowBuildConfig(output_dir=str(tmp_path / "out"), synth_clk_period_ns=10.0,
                                  generate_outputs=[dfx.DataflowOutputType.ESTIMATE_REPORTS])
    assert dfx.build_dataflow_cfg(str(tmp_path / "missing.onnx"), cfg) == -1
    # the missing model is found before anything is written: no output folder is made
    assert "missing.onnx" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # FINN requires output_dir; a config without one fails with a message, not a traceback
    assert dfx.build_dataflow_cfg(str(CYBSEC), dfx.DataflowBuildConfig()) == -1


def test_import_dfx_stays_light():
    code = ("import sys, dfx; assert dfx.ShellFlowType.VIVADO_ZYNQ == 'vivado_zynq'; "
            "heavy = [m for m in ('numpy', 'onnx', 'qonnx', 'pluggy') if m in sys.modules]; "
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- the config is validated when built -------------------------------------------------------


def test_config_built_in_python_is_validated():
    with pytest.raises(ConfigError, match=r"'target_fps': must be an integer, got str 'fast'"):
        DataflowBuildConfig(target_fps="fast")
    with pytest.raises(ConfigError, match=r"'synth_clk_period_ns': must be > 0"):
        DataflowBuildConfig(synth_clk_period_ns=-1.0)
    with pytest.raises(ConfigError, match=r"unknown key 'target_fpz'.*did you mean 'target_fps'"):
        DataflowBuildConfig(target_fpz=100)
    with pytest.raises(ConfigError, match=r"'generate_outputs': item 0 has unknown value 'bitfil'"):
        DataflowBuildConfig(generate_outputs=["bitfil"])
    cfg = DataflowBuildConfig(generate_outputs=["DataflowOutputType.STITCHED_IP"],
                              auto_fifo_strategy="characterize", target_fps=10)
    assert cfg.generate_outputs == ["stitched_ip"]
    assert type(cfg.auto_fifo_strategy).__name__ == "AutoFIFOSizingMethod"


# -- defaults are FINN's -----------------------------------------------------------------------

#: FINN's defaults (src/finn/builder/build_dataflow_config.py) for keys with one.
FINN_DEFAULTS = {
    "specialize_layers_config_file": None, "folding_config_file": None, "target_fps": None,
    "folding_two_pass_relaxation": True, "verify_steps": None,
    "verify_input_npy": "input.npy", "verify_expected_output_npy": "expected_output.npy",
    "verify_save_full_context": False, "verify_save_rtlsim_waveforms": False,
    "verification_atol": 0.1, "stitched_ip_gen_dcp": False, "signature": None,
    "mvau_wwidth_max": 36, "standalone_thresholds": False, "minimize_bit_width": True,
    "board": None, "shell_flow_type": None, "fpga_part": None, "auto_fifo_depths": True,
    "split_large_fifos": False, "auto_fifo_strategy": "largefifo_rtlsim",
    "force_python_rtlsim": False, "large_fifo_mem_style": "auto",
    "fifosim_input_throttle": True, "fifosim_save_waveform": False,
    "fifosim_n_inferences": None, "hls_clk_period_ns": None, "default_swg_exception": False,
    "vitis_platform": None, "vitis_floorplan_file": None, "vitis_opt_strategy": "default",
    "save_intermediate_models": True, "enable_hw_debug": False,
    "enable_build_pdb_debug": True, "verbose": False, "steps": None, "start_step": None,
    "stop_step": None, "max_multithreshold_bit_width": 8, "rtlsim_batch_size": 1,
    "rtlsim_use_vivado_comps": True,
}


def test_defaults_equal_finns():
    cfg = DataflowBuildConfig()
    for key, value in FINN_DEFAULTS.items():
        assert getattr(cfg, key) == value, key
    assert make_config({}).mvau_wwidth_max == 36


# -- every key has a status, and the warned ones say so ---------------------------------------


def test_every_finn_key_has_a_status():
    finn_keys = [f.name for f in fields(DataflowBuildConfig)][: config_keys().index(
        "input_range_info") + 1]
    assert set(finn_keys) == set(KEY_STATUS)
    for key, (status, why) in KEY_STATUS.items():
        assert status in (IMPLEMENTED, WARNED, REJECTED) and why, key
    docs = (ROOT / "docs" / "config.md").read_text()
    for key, (status, _) in KEY_STATUS.items():
        assert f"| `{key}` | {status} |" in docs, key


#: A value other than the default for every warned key.
WARNED_VALUES = {
    "specialize_layers_config_file": "spec.json", "folding_two_pass_relaxation": False,
    "verify_save_full_context": True, "verify_save_rtlsim_waveforms": True,
    "signature": [1, 2, 3], "force_python_rtlsim": True, "fifosim_input_throttle": False,
    "fifosim_save_waveform": True, "hls_clk_period_ns": 4.0, "default_swg_exception": True,
    "vitis_floorplan_file": "floorplan.json", "vitis_opt_strategy": "power",
    "enable_hw_debug": True, "max_multithreshold_bit_width": 4,
    "rtlsim_use_vivado_comps": False, "input_range_info": [[0, 1]],
    # implemented keys, at the values dfx cannot honour
    "minimize_bit_width": False, "auto_fifo_strategy": "characterize",
}


def test_every_warned_key_warns_when_set_and_only_then():
    assert config_warnings(DataflowBuildConfig()) == []
    warned = {k for k, (status, _) in KEY_STATUS.items() if status == WARNED}
    assert warned <= set(WARNED_VALUES)
    for key, value in WARNED_VALUES.items():
        messages = config_warnings(make_config({key: value}))
        assert len(messages) == 1, key
        why = KEY_STATUS[key][1]
        assert messages[0].startswith(f"{key}=")
        assert f"accepted for FINN compatibility, no effect in dfx: {why}" in messages[0]
    # implemented keys at other values do not warn
    assert config_warnings(make_config({"target_fps": 10, "split_large_fifos": True,
                                        "verification_atol": 3.0})) == []


def test_warnings_reach_the_terminal_and_the_log(tmp_path):
    out = tmp_path / "out"
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", out, "-q",
                   "--enable-hw-debug", "true", "--fifosim-input-throttle", "false")
    assert proc.returncode == 0, proc.stderr
    for key in ("enable_hw_debug=True", "fifosim_input_throttle=False"):
        line = next(line for line in proc.stderr.splitlines() if key in line)
        assert line.startswith("dfx: warning: ")
        assert "accepted for FINN compatibility, no effect in dfx" in line
        assert key in (out / "build_dataflow.log").read_text()


def test_cppsim_is_rejected_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="folded_hls_cppsim is C\\+\\+ simulation of HLS "
                                          "layers, which dfx does not have yet"):
        make_config({"verify_steps": ["folded_hls_cppsim"]}, source="cfg.json")
    with pytest.raises(ConfigError, match="'verify_steps'.*folded_hls_cppsim"):
        DataflowBuildConfig(verify_steps=["FOLDED_HLS_CPPSIM"])
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "o",
                   "--verify-steps", "streamlined_python,folded_hls_cppsim")
    assert proc.returncode == 2
    assert "folded_hls_cppsim" in proc.stderr and "Traceback" not in proc.stderr


def test_a_verify_step_the_build_does_not_reach_is_rejected(tmp_path):
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "o",
                   "--verify-steps", "stitched_ip_rtlsim",
                   "--verify-input-npy", CYBSEC_DIR / "input.npy",
                   "--verify-expected-output-npy", CYBSEC_DIR / "expected_output.npy")
    assert proc.returncode == 2
    assert "verify_steps: stitched_ip_rtlsim would not run" in proc.stderr
    assert "need stitched_ip or rtlsim_performance in generate_outputs" in proc.stderr


# -- verification_atol --------------------------------------------------------------------------


def test_verification_atol(tmp_path):
    expected = np.load(CYBSEC_DIR / "expected_output.npy").astype(np.float32)
    off = expected.copy()
    off.flat[0] += 2.0
    np.save(tmp_path / "off.npy", off)
    common = ["run", "--plugins", "default", CYBSEC, "-q", "--verify-steps",
              "streamlined_python", "--verify-input-npy", CYBSEC_DIR / "input.npy",
              "--verify-expected-output-npy", tmp_path / "off.npy"]
    verdicts = {}
    for atol in ("5", "1.5"):
        out = tmp_path / f"atol{atol}"
        proc = run_dfx(*common, "-o", out, "--verification-atol", atol)
        assert proc.returncode == 0, proc.stderr
        verdicts[atol] = read_json(out / "report" / "verify_results.json")["streamlined_python"]
    assert verdicts["5"]["verdict"] == "SUCCESS"
    assert verdicts["5"]["max_abs_diff"] == pytest.approx(2.0)
    assert verdicts["5"]["atol"] == 5.0
    assert verdicts["1.5"]["verdict"] == "FAIL" and verdicts["1.5"]["mismatches"] == 1


# -- enable_build_pdb_debug ---------------------------------------------------------------------

FAILING_STEP = """
def fail(model, cfg):
    raise ValueError("the failing step failed")
"""


def _failing_build_args(tmp_path):
    (tmp_path / "failmod.py").write_text(FAILING_STEP)
    return [sys.executable, "-m", "dfx", "run", "--plugins", "default", str(CYBSEC), "-o",
            str(tmp_path / "out"), "-q", "--steps", "step_qonnx_to_finn,failmod.fail"]


def test_pdb_debug_stays_out_of_pipes_and_ci(tmp_path):
    args = _failing_build_args(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("CI", None)
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 5
    assert "the failing step failed" in proc.stderr
    assert "(Pdb)" not in proc.stdout + proc.stderr


def _run_in_terminal(args, env, cwd, answer: bytes, deadline: float = 120) -> tuple[int, str]:
    """Run ``args`` with a pseudo-terminal as stdin/stdout/stderr; type ``answer`` at pdb."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.chdir(cwd)
        os.execve(args[0], args, env)
    seen, sent = b"", False
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not sent and b"(Pdb)" in seen:
                os.write(fd, answer)
                sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


@pytest.mark.parametrize("enabled", [True, False])
def test_pdb_debug_at_a_terminal(tmp_path, enabled):
    args = _failing_build_args(tmp_path)
    args += ["--enable-build-pdb-debug", "true" if enabled else "false"]
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("CI", None)
    code, seen = _run_in_terminal(args, env, tmp_path, b"p 6 * 7\nq\n")
    assert code == 5
    assert "the failing step failed" in seen
    if enabled:
        assert "(Pdb)" in seen and "starting the post-mortem debugger" in seen
        assert "\n42" in seen.replace("\r", "")  # pdb evaluated what we typed
        assert "raise ValueError" in seen  # pdb stopped in the failing frame
    else:
        assert "(Pdb)" not in seen
    # with $CI set, no debugger even at a terminal
    if enabled:
        code, seen = _run_in_terminal(args, dict(env, CI="1"), tmp_path, b"q\n")
        assert code == 5 and "(Pdb)" not in seen


# -- FINN's full step list, the FIFO keys, stitched_ip_gen_dcp and hls_clk_period_ns -------------


def test_finn_default_steps_estimate_only(tmp_path):
    """default_build_dataflow_steps with estimate_reports: the hardware steps are skipped by
    their outputs, FINN's steps without dfx work run as logged no-ops."""
    import dfx

    out = tmp_path / "out"
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", out, "-q", "--steps",
                   ",".join(dfx.default_build_dataflow_steps))
    assert proc.returncode == 0, proc.stderr
    ran = list(read_json(out / "time_per_step.json"))
    # the driver steps make outputs (pynq_driver, deployment_package) not asked for here
    assert ran == dfx.estimate_only_dataflow_steps
    widths = read_json(out / "report" / "minimize_bit_width.json")
    assert all(entry["accumulator"].startswith("INT") for entry in widths.values())


def test_fifo_keys_dcp_and_hls_clock_in_a_stitched_build(tmp_path):
    """split_large_fifos, large_fifo_mem_style, stitched_ip_gen_dcp and hls_clk_period_ns
    through a real stitched build, simulated bit-exact by Verilator."""
    from dfx.tcl.dryrun import dry_run

    est = tmp_path / "est"
    assert run_dfx("run", "--plugins", "default", CYBSEC, "-o", est, "-q").returncode == 0
    folding = read_json(est / "final_hw_config.json")
    second = [k for k in folding if k != "Defaults"][1]
    folding[second]["inFIFODepths"] = [40000]
    (tmp_path / "folding.json").write_text(json.dumps(folding))
    out = tmp_path / "out"
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", out, "-q",
                   "--folding-config-file", tmp_path / "folding.json",
                   "--generate-outputs", "stitched_ip", "--fpga-part", "xc7z020clg400-1",
                   "--auto-fifo-depths", "false", "--split-large-fifos", "true",
                   "--large-fifo-mem-style", "distributed", "--stitched-ip-gen-dcp", "true",
                   "--hls-clk-period-ns", "4", "--verify-steps", "stitched_ip_rtlsim",
                   "--verify-input-npy", CYBSEC_DIR / "input.npy",
                   "--verify-expected-output-npy", CYBSEC_DIR / "expected_output.npy",
                   timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "hls_clk_period_ns=4.0: accepted for FINN compatibility" in proc.stderr
    stitch = read_json(out / "stitched_ip" / "stitch.json")
    fifo = next(f for f in stitch["fifos"] if f["name"] == "fifo_1")
    assert fifo["depth"] == 40000 and fifo["pieces"] == [32768, 7232]
    assert fifo["ram_style"] == "distributed"
    params = {s["instance"]: s["params"] for s in stitch["stages"] if s["kind"] == "fifo"}
    assert params["fifo_1_part0"] == {"WIDTH": fifo["width"], "DEPTH": 32768,
                                      "RAM_STYLE": "distributed"}
    assert params["fifo_1_part1"]["DEPTH"] == 7232
    assert "fifo_1" not in params and params["fifo_0"]["RAM_STYLE"] == "auto"  # 2 words
    top = (out / "stitched_ip" / "dfx_top.v").read_text()
    assert ("fifo_occupancy_1_unused = fifo_1_part0_occupancy_unused + "
            "fifo_1_part1_occupancy_unused") in top
    # the split chain simulates bit-exact
    verdict = read_json(out / "report" / "verify_results.json")["rtlsim"]
    assert verdict["verdict"] == "SUCCESS" and verdict["exact"]
    # the packaging script synthesizes a checkpoint; it passes the dry run
    t = dry_run(out / "stitched_ip" / "package_ip.tcl")
    assert t.one("synth_design").opt("-mode") == "out_of_context"
    assert t.one("write_checkpoint").args[0].endswith("dfx_top.dcp")
    hw_ipgen = read_json(out / "report" / "hw_ipgen.json")
    assert hw_ipgen["hls_clk_period_ns"] == 4.0 and hw_ipgen["hls_layers"] == 0


def test_no_dcp_unless_asked(tmp_path):
    from dfx.tcl.dryrun import dry_run

    out = tmp_path / "out"
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", out, "-q",
                   "--generate-outputs", "stitched_ip", "--fpga-part", "xc7z020clg400-1",
                   "--auto-fifo-depths", "false")
    assert proc.returncode == 0, proc.stderr
    t = dry_run(out / "stitched_ip" / "package_ip.tcl")
    assert not t.calls("synth_design") and not t.calls("write_checkpoint")


# -- habits: the linter runs in CI, as the README says ------------------------------------------


def test_ci_runs_the_readme_commands_and_the_linter():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Run the linter and the tests", 1)[1].split("```bash\n", 1)[1]
    commands = [c.strip() for c in block.split("```", 1)[0].strip().split("&&")]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, *rest = commands
    assert install.startswith("pip install -e ") and install.split()[-1] == '".[test,lint]"'
    assert any(line.startswith("python -m pip install") and line.endswith('".[test,lint]"')
               for line in ci_lines)
    assert "ruff check core plugins reports tcl hil tests benchmarks examples" in rest
    for command in rest:
        assert command in ci_lines, command


def test_dfx_config_says_which_keys_have_no_effect():
    proc = run_dfx("config")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    docs = {lines[i].split()[0]: lines[i + 1] for i in range(0, len(lines), 2)}
    for key, (status, why) in KEY_STATUS.items():
        said = f"[accepted for FINN compatibility, no effect in dfx: {why}]" in docs[key]
        assert said == (status == WARNED), key


def test_specialize_layers_config_file_is_checked_and_its_hls_choice_logged(tmp_path):
    spec = tmp_path / "specialize.json"
    spec.write_text(json.dumps({"Defaults": {}, "MVAU_0": {"preferred_impl_style": "hls"}}))
    out = tmp_path / "out"
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", out, "-q",
                   "--specialize-layers-config-file", spec)
    assert proc.returncode == 0, proc.stderr
    assert "specialize_layers_config_file=" in proc.stderr  # the warning
    log = (out / "build_dataflow.log").read_text()
    assert "MVAU_0 asks for preferred_impl_style='hls'; dfx builds it as rtl" in log
    spec.write_text("[1, 2]")
    proc = run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "bad", "-q",
                   "--specialize-layers-config-file", spec)
    assert proc.returncode == 2
    assert f"specialize_layers_config_file {str(spec)!r}: expected a JSON mapping" in proc.stderr
