"""`dfx run` end to end: reports, cache behaviour, verification, bad input, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import MODEL_NAMES, load_example, model_dir, read_json, run_dfx
from dfx.cli import main

CYBSEC = model_dir("cybsec-mlp-w2a2") / "model.onnx"
FAST = ["--target-fps", "1000000", "--mvau-wwidth-max", "36"]


def build(out, *extra, model=CYBSEC):
    code = main(["run", "--plugins", "default", str(model), "-o", str(out), "-q", *map(str, extra)])
    assert code == 0
    return Path(out)


def cached_lines(stdout: str) -> dict[str, bool]:
    result = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "] step_" in line:
            name = line.split("] ", 1)[1].split(" ", 1)[0]
            result[name] = line.endswith("(cached)")
    return result


# -- the estimate flow ----------------------------------------------------------


def test_cybsec_1m_fps_folding_is_cheaper_than_finn(tmp_path):
    out = build(tmp_path / "b", *FAST)
    hw = read_json(out / "final_hw_config.json")
    layers = {k: v for k, v in hw.items() if k != "Defaults"}
    assert list(layers) == ["MVAU_0", "MVAU_1", "MVAU_2", "MVAU_3"]
    lanes = sum(v["PE"] * v["SIMD"] for v in layers.values())
    assert lanes == 513  # FINN's greedy folding uses 609 for the same target
    for v in layers.values():
        assert v["SIMD"] * 2 <= 36  # mvau_wwidth_max with 2-bit weights
    cycles = read_json(out / "report" / "estimate_layer_cycles.json")
    assert max(cycles.values()) <= 100
    assert read_json(out / "auto_folding_config.json") == hw


def test_reports_have_finn_names_and_keys(tmp_path):
    out = build(tmp_path / "b", *FAST)
    perf = read_json(out / "report" / "estimate_network_performance.json")
    # FINN's keys, and the layers on the critical path (dfx's)
    assert set(perf) == {"critical_path_cycles", "max_cycles", "max_cycles_node_name",
                         "estimated_throughput_fps", "estimated_latency_ns",
                         "critical_path_layers"}
    cycles = read_json(out / "report" / "estimate_layer_cycles.json")
    assert perf["max_cycles"] == max(cycles.values())
    # a chain: every layer lies on the critical path
    assert perf["critical_path_cycles"] == sum(cycles.values())
    assert perf["critical_path_layers"] == list(cycles)
    assert perf["estimated_throughput_fps"] == pytest.approx(1e8 / perf["max_cycles"])
    assert perf["estimated_latency_ns"] == pytest.approx(10 * perf["critical_path_cycles"])
    res = read_json(out / "report" / "estimate_layer_resources.json")
    for key in ("LUT", "BRAM_18K", "URAM", "DSP"):
        assert res["total"][key] == pytest.approx(sum(v[key] for k, v in res.items()
                                                      if k != "total"))
    assert {"BRAM_efficiency", "URAM_efficiency"} <= set(res["MVAU_0"])
    counts = read_json(out / "report" / "op_and_param_counts.json")
    assert counts["MVAU_0"]["op_mac_BIPOLAR_INT2"] == 600 * 64
    assert counts["total"]["param_weight_INT2"] == 600 * 64 + 64 * 64 * 2 + 64
    times = read_json(out / "time_per_step.json")
    import dfx

    assert list(times) == dfx.estimate_only_dataflow_steps  # FINN's list, FINN's order
    assert (out / "build_dataflow.log").read_text().count("step ") >= 10
    assert read_json(out / "build_status.json")["status"] == "complete"
    assert len(list((out / "intermediate_models").glob("*.onnx"))) == 10


def test_identical_rerun_is_all_cached_and_target_fps_reruns_only_folding(tmp_path):
    args = ["run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b"]
    first = run_dfx(*args, *FAST)
    assert first.returncode == 0, first.stderr
    assert not any(cached_lines(first.stdout).values())
    again = run_dfx(*args, *FAST)
    assert all(cached_lines(again.stdout).values()), again.stdout
    changed = run_dfx(*args, "--target-fps", "500000", "--mvau-wwidth-max", "36")
    flags = cached_lines(changed.stdout)
    assert flags == {
        "step_qonnx_to_finn": True, "step_tidy_up": True, "step_streamline": True,
        "step_convert_to_hw": True, "step_create_dataflow_partition": True,
        "step_specialize_layers": True, "step_target_fps_parallelization": False,
        "step_apply_folding_config": False, "step_minimize_bit_width": False,
        "step_generate_estimate_reports": False,
    }
    cycles = read_json(tmp_path / "b" / "report" / "estimate_layer_cycles.json")
    assert max(cycles.values()) <= 200


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_verify_steps_pass_on_every_shipped_model(tmp_path, name):
    d = model_dir(name)
    out = build(tmp_path / "b", "--verify-steps",
                "finn_onnx_python,initial_python,streamlined_python,hw_python",
                "--verify-input-npy", d / "input.npy",
                "--verify-expected-output-npy", d / "expected_output.npy",
                model=d / "model.onnx")
    verdicts = read_json(out / "report" / "verify_results.json")
    assert set(verdicts) == {"finn_onnx_python", "initial_python", "streamlined_python",
                             "hw_python"}
    for verdict in verdicts.values():
        assert verdict["verdict"] == "SUCCESS", verdict
        assert verdict["samples"] == len(np.load(d / "input.npy"))
    if name != "digits-w4a4":
        assert all(v["exact"] for v in verdicts.values())


def test_verify_detects_a_wrong_expectation(tmp_path):
    d = model_dir("tfc-w1a1")
    wrong = np.load(d / "expected_output.npy").copy()
    wrong[3, 2] += 2
    np.save(tmp_path / "wrong.npy", wrong)
    out = build(tmp_path / "b", "--verify-steps", "hw_python", "--verify-input-npy",
                d / "input.npy", "--verify-expected-output-npy", tmp_path / "wrong.npy",
                model=d / "model.onnx")
    verdict = read_json(out / "report" / "verify_results.json")["hw_python"]
    assert verdict["verdict"] == "FAIL" and verdict["mismatches"] == 1


def test_sim_python_backend_batch(tmp_path, capsys):
    path, x, expected = load_example("tfc-w1a1")
    out = build(tmp_path / "b", model=path)
    np.save(tmp_path / "x.npy", x)
    assert main(["sim", str(out), "--backend", "python", "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    np.save(tmp_path / "one.npy", x[0])  # a single sample without batch axis works too
    assert main(["sim", str(out), "--input", str(tmp_path / "one.npy"),
                 "--output", str(tmp_path / "y1.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y1.npy"), expected[:1])


def test_sim_rejects_input_that_does_not_fit(tmp_path, capsys):
    path, x, _ = load_example("digits-w4a4")
    out = build(tmp_path / "b", model=path)
    np.save(tmp_path / "bad_shape.npy", x[:, :10])
    assert main(["sim", str(out), "--input", str(tmp_path / "bad_shape.npy"),
                 "--output", str(tmp_path / "y.npy")]) != 0
    assert "does not fit the model input 'global_in'" in capsys.readouterr().err
    bad = x.copy()
    bad[0, 0] = 16  # UINT4 holds 0..15
    np.save(tmp_path / "bad_values.npy", bad)
    assert main(["sim", str(out), "--input", str(tmp_path / "bad_values.npy"),
                 "--output", str(tmp_path / "y.npy")]) != 0
    assert "not a valid UINT4 value" in capsys.readouterr().err


def test_max_fps_fits_board(tmp_path):
    out = build(tmp_path / "b", "--folding-objective", "max_fps_fits_board", "--board",
                "Pynq-Z1", "--mvau-wwidth-max", "36")
    summary = read_json(out / "report" / "folding_summary.json")
    assert summary["fits_board"] is True
    res = read_json(out / "report" / "estimate_layer_resources.json")["total"]
    assert res["LUT"] <= 0.85 * 53200 and res["BRAM_18K"] <= 0.85 * 280
    # the next faster budget would not fit, is not reachable or needs a folding outside the
    # estimates' calibration (which max_fps_fits_board does not take): the result is the maximum
    perf = read_json(out / "report" / "estimate_network_performance.json")
    fixed = build(tmp_path / "c", "--target-fps", str(int(perf["estimated_throughput_fps"] * 1.5)),
                  "--mvau-wwidth-max", "36")
    bigger = read_json(fixed / "report" / "estimate_layer_resources.json")["total"]
    faster = read_json(fixed / "report" / "folding_summary.json")
    assert bigger["LUT"] > 0.85 * 53200 or bigger["BRAM_18K"] > 0.85 * 280 or \
        faster.get("target_met") is False or "outside_calibration" in faster


def test_unreachable_target_names_the_limiting_layer(tmp_path):
    result = run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b",
                     "--target-fps", "10000000", "--mvau-wwidth-max", "36")
    assert result.returncode == 0
    summary = read_json(tmp_path / "b" / "report" / "folding_summary.json")
    assert summary["target_met"] is False
    assert summary["limiting_layer"] == "MVAU_0"
    assert "MVAU_0 needs at least 40 cycles" in result.stdout
    assert summary["reachable_fps"] == pytest.approx(2.5e6)


def test_finn_folding_config_overrides(tmp_path):
    cfg = {"Defaults": {}, "MVAU_hls_0": {"PE": 32, "SIMD": 15, "ram_style": "block"},
           "MVAU_rtl_1": {"PE": 4, "SIMD": 16}, "StreamingFIFO_rtl_0": {"depth": 32}}
    (tmp_path / "fold.json").write_text(json.dumps(cfg))
    out = build(tmp_path / "b", "--folding-config-file", tmp_path / "fold.json")
    hw = read_json(out / "final_hw_config.json")
    assert (hw["MVAU_0"]["PE"], hw["MVAU_0"]["SIMD"], hw["MVAU_0"]["ram_style"]) == \
        (32, 15, "block")
    assert (hw["MVAU_1"]["PE"], hw["MVAU_1"]["SIMD"]) == (4, 16)
    assert read_json(out / "report" / "estimate_layer_cycles.json")["MVAU_0"] == 80
    assert read_json(out / "report" / "estimate_layer_resources.json")["MVAU_0"]["BRAM_18K"] > 0


def test_folding_config_with_invalid_pe_names_the_layer(tmp_path, capsys):
    (tmp_path / "fold.json").write_text(json.dumps({"MVAU_0": {"PE": 7}}))
    code = main(["run", "--plugins", "default", str(CYBSEC), "-o", str(tmp_path / "b"), "-q",
                 "--folding-config-file", str(tmp_path / "fold.json")])
    assert code != 0
    err = capsys.readouterr().err
    assert "MVAU_0.PE must be a positive integer that divides MH=64, got 7" in err


def test_stop_step_and_start_step(tmp_path):
    out = build(tmp_path / "b", "--stop-step", "step_streamline")
    assert list(read_json(out / "time_per_step.json")) == [
        "step_qonnx_to_finn", "step_tidy_up", "step_streamline"]
    out = build(tmp_path / "b", "--start-step", "step_convert_to_hw", *FAST)
    assert list(read_json(out / "time_per_step.json")) == [
        "step_convert_to_hw", "step_create_dataflow_partition", "step_specialize_layers",
        "step_target_fps_parallelization", "step_apply_folding_config",
        "step_minimize_bit_width", "step_generate_estimate_reports"]
    assert (out / "intermediate_models" / "step_streamline.onnx").is_file()  # kept
    assert (out / "report" / "estimate_network_performance.json").is_file()


def test_yaml_config_file_with_finn_spellings(tmp_path):
    (tmp_path / "cfg.yaml").write_text(textwrap.dedent("""
        output_dir: out
        synth_clk_period_ns: 5.0
        target_fps: 1000000
        mvau_wwidth_max: 36
        board: Pynq-Z1
        generate_outputs: [DataflowOutputType.ESTIMATE_REPORTS]
        save_intermediate_models: false
    """))
    assert main(["run", "--plugins", "default", str(CYBSEC), "--config",
                 str(tmp_path / "cfg.yaml"), "-q"]) == 0
    out = tmp_path / "out"  # relative to the config file
    perf = read_json(out / "report" / "estimate_network_performance.json")
    assert perf["max_cycles"] <= 200  # 5 ns clock: 200 cycles per frame at 1M fps
    assert perf["estimated_latency_ns"] == pytest.approx(5.0 * perf["critical_path_cycles"])
    assert not (out / "intermediate_models").exists()
    util = read_json(out / "report" / "estimate_board_utilization.json")
    assert util["part"] == "xc7z020clg400-1"


# -- bad input: a clear message naming the culprit, a non-zero exit, no traceback --------


def _fails(result, *needles, code=None):
    assert result.returncode != 0
    if code is not None:
        assert result.returncode == code
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n")
    _fails(run_dfx("run", "--plugins", "default", bad, "-o", tmp_path / "b"),
           "is not an ONNX model", str(bad))


def test_missing_model_file(tmp_path):
    _fails(run_dfx("run", "--plugins", "default", tmp_path / "nope.onnx", "-o", tmp_path / "b"),
           "nope.onnx", "does not exist")


def _save(model, path):
    model.save(str(path))
    return path


def test_float_model_with_no_quantizers(tmp_path):
    from modelgen import Layer, make_mlp

    model = make_mlp(8, [Layer(4, act=None, batchnorm=False)], input_dt="FLOAT32")
    quant = next(n for n in model.graph.node if n.op_type == "Quant")
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    gemm.input[1] = quant.input[0]
    model.graph.node.remove(quant)
    path = _save(model, tmp_path / "float.onnx")
    _fails(run_dfx("run", "--plugins", "default", path, "-o", tmp_path / "b"),
           "the model has no quantizers", code=3)


def test_op_with_no_hardware_layer(tmp_path):
    from onnx import helper

    from modelgen import Layer, make_mlp

    model = make_mlp(8, [Layer(6, act="relu_uint"), Layer(4, act=None)])
    q = next(n for n in model.graph.node
             if n.op_type == "Quant" and model.get_initializer(n.input[0]) is None)
    old, q.output[0] = q.output[0], "pre"
    model.graph.node.insert(list(model.graph.node).index(q) + 1,
                            helper.make_node("Softmax", ["pre"], [old], name="MySoftmax"))
    path = _save(model, tmp_path / "softmax.onnx")
    _fails(run_dfx("run", "--plugins", "default", path, "-o", tmp_path / "b"),
           "node 'MySoftmax' (op type Softmax)")
    status = read_json(tmp_path / "b" / "build_status.json")
    assert status["status"] == "failed" and status["failed_step"] == "step_streamline"


def test_missing_input_datatype(tmp_path):
    from modelgen import Layer, make_mlp

    path = _save(make_mlp(8, [Layer(4)], input_dt="FLOAT32"), tmp_path / "noinput_dt.onnx")
    _fails(run_dfx("run", "--plugins", "default", path, "-o", tmp_path / "b"),
           "input 'global_in' has no integer datatype annotation")


def test_unknown_config_key_names_the_closest(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"target_fsp": 1000, "output_dir": "o"}))
    _fails(run_dfx("run", "--plugins", "default", CYBSEC, "--config", tmp_path / "cfg.json"),
           "unknown key 'target_fsp'", "did you mean 'target_fps'", code=2)
    assert not (tmp_path / "o").exists()  # rejected before any step ran


@pytest.mark.parametrize("fps", ["0", "-5"])
def test_target_fps_must_be_positive(tmp_path, fps):
    _fails(run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b",
                   f"--target-fps={fps}"), "--target-fps", "must be > 0", code=2)
    assert not (tmp_path / "b").exists()


def test_unknown_board(tmp_path):
    _fails(run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b",
                   "--board", "Pynq-Z3"), "unknown board 'Pynq-Z3'", "Pynq-Z2", code=2)


def test_part_and_board_disagree(tmp_path):
    _fails(run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b", "--board",
                   "ZCU104", "--fpga-part", "xc7z020clg400-1"),
           "fpga_part 'xc7z020clg400-1' does not match board 'ZCU104'", code=2)


ESTIMATES_ONLY_PLUGIN = """
from dfx.hookspec import hookimpl
from dfx.steps import Step


@hookimpl
def dfx_register_steps():
    return [Step("step_estimates_only", lambda model, cfg, ctx: model,
                 outputs={"estimate_reports"})]
"""


def test_output_type_no_plugin_produces(tmp_path):
    # the default plugin produces every output type now: a plugin set without it
    (tmp_path / "estimatesonly.py").write_text(ESTIMATES_ONLY_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    _fails(run_dfx("run", "--plugins", "estimatesonly", CYBSEC, "-o", tmp_path / "b",
                   "--generate-outputs", "estimate_reports,pynq_driver", env_extra=env),
           "no loaded plugin produces pynq_driver", code=2)


def test_bitfile_without_a_board_is_refused_before_any_step(tmp_path):
    _fails(run_dfx("run", "--plugins", "default", CYBSEC, "-o", tmp_path / "b",
                   "--generate-outputs", "estimate_reports,bitfile"),
           "the bitfile output needs 'board'", code=2)
    assert not (tmp_path / "b").exists()


# -- faults: killed builds, concurrent builds ------------------------------------

SLOW_PLUGIN = '''
import os, time
from pathlib import Path
from dfx import hookimpl, Step

def slow(model, cfg, ctx):
    marker = os.environ.get("SLOW_MARKER")
    if marker:
        Path(marker).write_text("started")
        time.sleep(60)
    return model

@hookimpl
def dfx_register_steps():
    return [Step("step_slow", slow, after="step_target_fps_parallelization")]
'''


def test_killed_build_leaves_cache_and_output_sound(tmp_path):
    (tmp_path / "slowplugin.py").write_text(SLOW_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "DFX_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "b"
    args = ["run", "--plugins", "default,slowplugin", CYBSEC, "-o", out]
    ok = run_dfx(*args, env_extra=env)  # an earlier good build in the same folder
    assert ok.returncode == 0, ok.stderr
    before = (out / "report" / "estimate_layer_resources.json").read_text()

    marker = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-m", "dfx", *map(str, args), "--target-fps",
                             "1000"], env={**os.environ, **env, "SLOW_MARKER": str(marker)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # the earlier output is untouched, no entry is half written
    assert (out / "report" / "estimate_layer_resources.json").read_text() == before
    from dfx.cache import ArtifactCache

    info = ArtifactCache(tmp_path / "cache").info()
    assert info["corrupt"] == 0
    assert info["staging"] == 1  # the dead build's staging folder, ignored by readers

    again = run_dfx(*args, "--target-fps", "1000", env_extra=env)
    assert again.returncode == 0, again.stderr
    flags = cached_lines(again.stdout)
    assert flags["step_convert_to_hw"] and not flags["step_slow"]
    assert read_json(out / "build_status.json")["status"] == "complete"
    assert not list(out.glob(".dfx-staging-*"))  # the dead build's folder is gone
    for entry in (tmp_path / "cache" / "entries").glob("*/*"):
        assert (entry / "manifest.json").is_file()


def test_two_builds_of_one_model_at_once_share_the_cache(tmp_path):
    env = {"DFX_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-m", "dfx", "run", "--plugins", "default",
                               str(CYBSEC), "-o", str(tmp_path / f"b{i}"), *FAST],
                              env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    reports = [(tmp_path / f"b{i}" / "report" / "estimate_layer_resources.json").read_text()
               for i in range(2)]
    assert reports[0] == reports[1]
    from dfx.cache import ArtifactCache

    info = ArtifactCache(tmp_path / "cache").info()
    assert info["entries"] == 10  # each step built once, the other build took it
    ran = [sum(not c for c in cached_lines(out).values()) for out, _ in results]
    assert sum(ran) == 10


def test_cache_info_and_clear(tmp_path, capsys, monkeypatch):
    # a private simulator folder: `cache clear` must not empty the one the suite shares
    monkeypatch.setenv("DFX_SIM_CACHE_DIR", str(tmp_path / "sims"))
    build(tmp_path / "b")
    assert main(["cache", "info"]) == 0
    assert "entries: 10" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert "removed 10 entries from " in out and " and 0 compiled simulators " in out
