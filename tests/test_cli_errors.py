"""Bad input to the CLI: a clear message naming the thing at fault and a non-zero exit,
never a traceback. Every test runs the real ``dfx`` command in a fresh process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import model_dir, run_dfx

DIGITS = model_dir("digits-w4a4")
CYBSEC = model_dir("cybsec-mlp-w2a2")


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    """One estimate-flow build of digits-w4a4 for the ``dfx sim`` tests."""
    tmp = tmp_path_factory.mktemp("digits")
    out = tmp / "b"
    result = run_dfx("run", "--plugins", "default", DIGITS / "model.onnx", "-o", out, "-q",
                     "--no-cache")
    assert result.returncode == 0, result.stderr
    return out


# -- dfx sim -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["python", "rtl"])
def test_sim_empty_batch_gives_an_empty_output_on_both_backends(digits_build, tmp_path,
                                                                  backend):
    x = np.load(DIGITS / "input.npy")[:0]
    np.save(tmp_path / "empty.npy", x)
    y = tmp_path / "y.npy"
    result = run_dfx("sim", digits_build, "--backend", backend, "--input",
                     tmp_path / "empty.npy", "--output", y)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    assert "the input batch is empty" in result.stdout
    assert np.load(y).shape == (0, 10)


def test_sim_output_in_a_missing_folder_is_refused_before_simulating(digits_build, tmp_path):
    target = tmp_path / "missing" / "dir" / "o.npy"
    result = run_dfx("sim", digits_build, "--backend", "rtl", "--input",
                     DIGITS / "input.npy", "--output", target)
    assert result.returncode == 1
    _no_traceback(result)
    assert f"--output {target}" in result.stderr
    assert f"the folder {target.parent} does not exist" in result.stderr
    # refused before the simulation: no simulator was compiled for it
    assert "rtlsim" not in result.stderr and not target.parent.exists()


def test_sim_output_that_is_a_folder_or_under_a_file_is_refused(digits_build, tmp_path):
    result = run_dfx("sim", digits_build, "--input", DIGITS / "input.npy", "--output",
                     tmp_path)
    assert result.returncode == 1 and "is a folder" in result.stderr
    _no_traceback(result)
    (tmp_path / "plain").write_text("not a folder")
    result = run_dfx("sim", digits_build, "--input", DIGITS / "input.npy", "--output",
                     tmp_path / "plain" / "o.npy")
    assert result.returncode == 1
    assert f"{tmp_path / 'plain'} is not a folder" in result.stderr
    assert (tmp_path / "plain").read_text() == "not a folder"


def test_sim_writes_exactly_the_output_path_given(digits_build, tmp_path):
    result = run_dfx("sim", digits_build, "--input", DIGITS / "input.npy", "--output",
                     tmp_path / "outputs")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "outputs").is_file() and not (tmp_path / "outputs.npy").exists()
    # digits-w4a4 ends in a float tail: equal to float32 rounding
    np.testing.assert_allclose(np.load(tmp_path / "outputs"),
                               np.load(DIGITS / "expected_output.npy"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value, shown", [(0.5, "0.5"), (16, "16"), (-1, "-1")])
def test_sim_input_value_error_shows_the_plain_number(digits_build, tmp_path, value, shown):
    x = np.load(DIGITS / "input.npy")[:3].astype(np.float32)
    x[2, 7] = value
    np.save(tmp_path / "bad.npy", x)
    result = run_dfx("sim", digits_build, "--input", tmp_path / "bad.npy", "--output",
                     tmp_path / "y.npy")
    assert result.returncode == 3
    _no_traceback(result)
    assert f"input value {shown} at index [2, 7] is not a valid UINT4 value" in result.stderr
    assert "np.float32" not in result.stderr


# -- folding_config_file -------------------------------------------------------


def _run_with_folding(tmp_path, content, *extra):
    path = tmp_path / "fold.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return run_dfx("run", "--plugins", "default", CYBSEC / "model.onnx", "-o", tmp_path / "b",
                   "-q", "--folding-config-file", path, *extra), path


@pytest.mark.parametrize("entry, message", [
    ({"MVAU_0": {"PE": 0}}, "MVAU_0.PE must be a positive integer that divides MH, got 0"),
    ({"MVAU_0": {"SIMD": -2}}, "MVAU_0.SIMD must be a positive integer that divides MW, "
                               "got -2"),
    ({"MVAU_0": {"PE": "two"}}, "MVAU_0.PE must be a positive integer that divides MH, "
                                "got 'two'"),
    ({"MVAU_hls_1": {"SIMD": True}}, "MVAU_hls_1.SIMD must be a positive integer"),
    ({"MVAU_0": {"PF": 2}}, "MVAU_0.PF is not a folding attribute; did you mean 'PE'?"),
    ({"MVAU_0": {"ram_style": "fast"}}, "MVAU_0.ram_style must be one of auto, block, "
                                        "distributed, ultra, got 'fast'"),
    ({"MVAU_0": {"inFIFODepths": [0]}}, "MVAU_0.inFIFODepths must be a list of one depth >= 1"),
    ({"MVAU_0": 4}, "MVAU_0 must map to an object of attributes"),
    ({"Defaults": {"PE": ["x", "all"]}}, "Defaults.PE must be a positive integer"),
    ([{"MVAU_0": {"PE": 2}}], "must hold a JSON object of layers"),
    ('{"MVAU_0": {"PE": 2}', "is not valid JSON (line 1"),
])
def test_folding_config_values_are_checked_before_step_1(tmp_path, entry, message):
    result, path = _run_with_folding(tmp_path, entry)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    assert f"folding_config_file {path}: {message}" in result.stderr
    # refused before the first step: no build folder, no step ran
    assert not (tmp_path / "b").exists()


def test_folding_config_missing_file_or_folder_is_refused_before_step_1(tmp_path):
    result = run_dfx("run", "--plugins", "default", CYBSEC / "model.onnx", "-o",
                     tmp_path / "b", "-q", "--folding-config-file", tmp_path / "nothere.json")
    assert result.returncode == 2
    assert f"folding_config_file {tmp_path / 'nothere.json'}: the file does not exist" in \
        result.stderr
    result = run_dfx("run", "--plugins", "default", CYBSEC / "model.onnx", "-o",
                     tmp_path / "b", "-q", "--folding-config-file", tmp_path)
    assert result.returncode == 2 and "is a folder, not a JSON file" in result.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("entry, message", [
    ({"MVAU_0": {"PE": 3}}, "MVAU_0.PE must be a positive integer that divides MH=64, got 3"),
    ({"MVAU_hls_0": {"SIMD": 7}}, "MVAU_hls_0.SIMD must be a positive integer that divides "
                                  "MW=600, got 7"),
    ({"MVAU_9": {"PE": 2}}, "layer 'MVAU_9' is not in the model; did you mean 'MVAU_3'?"),
    ({"Defaults": {"PE": [32, ["MVAU_hls"]]}},
     "Defaults.PE (for MVAU_3) must be a positive integer that divides MH=1, got 32"),
])
def test_folding_config_is_checked_against_the_layers(tmp_path, entry, message):
    result, path = _run_with_folding(tmp_path, entry)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    assert f"folding_config_file {path}" in result.stderr and message in result.stderr
    # nothing of a rejected file is applied
    assert not (tmp_path / "b" / "final_hw_config.json").exists()


def test_folding_config_accepts_finn_defaults_and_integral_floats(tmp_path):
    result, _ = _run_with_folding(tmp_path, {"Defaults": {"PE": [2, "all"]},
                                             "MVAU_0": {"PE": 4.0, "SIMD": 12},
                                             "MVAU_3": {"PE": 1}})
    assert result.returncode == 0, result.stderr
    hw = json.loads((tmp_path / "b" / "final_hw_config.json").read_text())
    assert [hw[f"MVAU_{i}"]["PE"] for i in range(4)] == [4, 2, 2, 1]
    assert hw["MVAU_0"]["SIMD"] == 12


# -- target_fps, dfx report, input values ----------------------------------------


@pytest.mark.parametrize("where", ["flag", "json", "yaml", "set"])
def test_target_fps_takes_an_integral_float_everywhere(tmp_path, where):
    args = []
    if where == "flag":
        args = ["--target-fps", "1e5"]
    elif where == "set":
        args = ["--set", "target_fps=1e5"]
    elif where == "json":
        (tmp_path / "cfg.json").write_text('{"target_fps": 1e5}')
        args = ["--config", tmp_path / "cfg.json"]
    else:
        (tmp_path / "cfg.yaml").write_text("target_fps: 1e5\n")
        args = ["--config", tmp_path / "cfg.yaml"]
    out = tmp_path / "b"
    result = run_dfx("run", "--plugins", "default", CYBSEC / "model.onnx", "-o", out, "-q",
                     "--stop-step", "step_target_fps_parallelization", *args)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "report" / "folding_summary.json").read_text())
    assert summary["cycle_budget"] == 1000  # 100 MHz / 1e5 fps


@pytest.mark.parametrize("where, message", [
    ("flag", "--target-fps: expects an integer, got '1.5'"),
    ("set", "expects an integer, got '1.5'"),
    ("json", "cfg.json: must be an integer, got float 1.5"),
    ("yaml", "cfg.yaml: must be an integer, got float 1.5"),
])
def test_target_fps_rejects_a_fraction_everywhere(tmp_path, where, message):
    if where == "flag":
        args = ["--target-fps", "1.5"]
    elif where == "set":
        args = ["--set", "target_fps=1.5"]
    else:
        name = f"cfg.{where}"
        (tmp_path / name).write_text('{"target_fps": 1.5}' if where == "json" else
                                     "target_fps: 1.5\n")
        args = ["--config", tmp_path / name]
    result = run_dfx("run", "--plugins", "default", CYBSEC / "model.onnx", "-o",
                     tmp_path / "b", "-q", *args)
    assert result.returncode == 2
    _no_traceback(result)
    assert message in result.stderr
    if where in ("json", "yaml"):
        assert "'target_fps' in " in result.stderr


@pytest.mark.parametrize("content, message", [
    ({"a": 1}, "holds a JSON object of integers, but not a layer-cycles table "
               "(estimate_layer_cycles.json): 'a' is not a layer name"),
    ({"MVAU_0": 12, "x": 3, "y": 4}, "'x', 'y' are not layer names"),
    ({"MVAU_0": -3}, "layer 'MVAU_0' has -3 cycles"),
])
def test_report_rejects_an_object_of_integers_that_is_no_cycles_table(tmp_path, content,
                                                                      message):
    path = tmp_path / "table.json"
    path.write_text(json.dumps(content))
    result = run_dfx("report", path)
    assert result.returncode != 0
    _no_traceback(result)
    assert f"report file {path}" in result.stderr and message in result.stderr


def test_report_still_reads_a_layer_cycles_table(tmp_path):
    path = tmp_path / "cycles.json"
    path.write_text(json.dumps({"MVAU_0": 100, "MVAU_hls_1": 64, "Thresholding_2": 0}))
    result = run_dfx("report", path)
    assert result.returncode == 0, result.stderr
    assert "dfx_estimate_cycles" in result.stdout and "MVAU_hls_1" in result.stdout
