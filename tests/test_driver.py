"""The host driver: driver/ of a build, --platform sim, bad input, the board paths.

The Zynq (pynq) and Alveo (pyxrt) paths cannot run here: they are exercised against small
fake ``pynq`` / ``pyxrt`` modules (tests/stand_ins/driver_fakes) that record the calls, a
stand-in for a board, not a board.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import MODEL_NAMES, load_example, model_dir, read_json, run_dfx

pytestmark = pytest.mark.slow
FAKES = Path(__file__).parent / "stand_ins" / "driver_fakes"
OUTPUTS = "estimate_reports,stitched_ip,rtlsim_performance,pynq_driver,deployment_package"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """name -> build folder, each built once for this module (with its own cache)."""
    root = tmp_path_factory.mktemp("driver-builds")
    sims = tmp_path_factory.getbasetemp().parent / "dfx-simulators"
    env = {"DFX_CACHE_DIR": str(root / "cache"), "DFX_SIM_CACHE_DIR": str(sims)}
    made = {}

    def get(name: str) -> Path:
        if name not in made:
            out = root / name
            result = run_dfx("run", "--plugins", "default", model_dir(name) / "model.onnx",
                             "--target-fps", "1000000", "--mvau-wwidth-max", "36",
                             "--generate-outputs", OUTPUTS, "-o", out, "-q",
                             env_extra=env, timeout=1200)
            assert result.returncode == 0, result.stderr
            made[name] = out
        return made[name]

    return get


def run_driver(driver: Path, *args, cwd: Path, python=sys.executable, timeout=120):
    return subprocess.run([str(python), str(driver / "driver.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def load_accel_module(driver: Path, monkeypatch):
    """driver_base of a driver folder, imported fresh, with the fake pynq and pyxrt."""
    for name in ("driver_base", "packing", "pynq", "pyxrt"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.syspath_prepend(str(driver))
    import driver_base

    return driver_base


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_sim_outputs_are_bit_exact_on_every_shipped_model(name, builds, tmp_path):
    build = builds(name)
    _, x, expected = load_example(name)
    np.save(tmp_path / "input.npy", x)
    result = run_driver(build / "driver", "--exec_mode", "execute", "--platform", "sim",
                        "--postprocess", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = np.load(tmp_path / "output.npy")
    if name == "digits-w4a4":  # the float tail (scale, bias) in float32, as rtlsim's test
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
        assert (out.argmax(1) == expected.argmax(1)).all()
        # the hardware part itself is an integer stream: exact against dfx's own model
        raw = run_driver(build / "driver", "--exec_mode", "execute", "--platform", "sim",
                         "--outputfile", "raw.npy", cwd=tmp_path)
        assert raw.returncode == 0, raw.stderr
        raw = np.load(tmp_path / "raw.npy")
        assert np.array_equal(raw, np.round(raw)) and raw.min() < 0 < raw.max()
    else:
        np.testing.assert_array_equal(out, expected)


def test_throughput_test_metrics_match_rtlsim_performance(builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    perf = read_json(build / "report" / "rtlsim_performance.json")
    result = run_driver(build / "driver", "--exec_mode", "throughput_test", "--platform",
                        "sim", "--batchsize", perf["N"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = read_json(tmp_path / "nw_metrics.json")
    for key in ("runtime[ms]", "throughput[images/s]", "DRAM_in_bandwidth[MB/s]",
                "DRAM_out_bandwidth[MB/s]", "fclk[mhz]", "batch_size", "fold_input[ms]",
                "pack_input[ms]", "copy_input_data_to_device[ms]",
                "copy_output_data_from_device[ms]", "unpack_output[ms]", "unfold_output[ms]"):
        assert key in metrics, key
    assert metrics["batch_size"] == perf["N"]
    ratio = metrics["throughput[images/s]"] / perf["throughput[images/s]"]
    assert abs(ratio - 1) <= 0.02, (metrics, perf)
    # FINN's text form reads back as the same dict
    assert json.loads((tmp_path / "nw_metrics.txt").read_text()) == metrics
    assert abs(metrics["stable_throughput[images/s]"] / perf["stable_throughput[images/s]"]
               - 1) <= 0.02


@pytest.mark.parametrize("batch", ["smallest", 1000])
def test_throughput_of_user_batches_matches_the_stable_throughput(builds, tmp_path, batch):
    """At the batch sizes users run (from the smallest the report names, to 1000), the
    simulated throughput, fill and drain included, is within 2% of rtlsim's stable one;
    the driver's own stable figure equals it at any batch."""
    build = builds("cybsec-mlp-w2a2")
    perf = read_json(build / "report" / "rtlsim_performance.json")
    n = perf["batch_within_2pct_of_stable"] if batch == "smallest" else batch
    assert 1 <= perf["batch_within_2pct_of_stable"] <= 1000
    result = run_driver(build / "driver", "--exec_mode", "throughput_test", "--platform",
                        "sim", "--batchsize", n, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = read_json(tmp_path / "nw_metrics.json")
    stable = perf["stable_throughput[images/s]"]
    assert 0.98 <= metrics["throughput[images/s]"] / stable <= 1.0 + 1e-9, (n, metrics, perf)
    assert metrics["stable_throughput[images/s]"] == pytest.approx(stable, rel=0.02)
    # the cycles of a batch: one frame alone, then one interval per further frame
    first = perf["cycles"] - (perf["N"] - 1) * perf["interval_cycles"]
    assert metrics["cycles"] == pytest.approx(first + (n - 1) * perf["interval_cycles"],
                                              rel=0.01)


def test_sim_backend_removes_its_batch_folder(builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    code = ("import sys, tempfile, glob; sys.path.insert(0, sys.argv[1]); "
            "from driver_base import FINNExampleOverlay; import numpy as np; "
            "a = FINNExampleOverlay(platform='sim', batch_size=2); "
            "t = a._backend.tmp; a.execute(np.ones((2, 600), np.float32)); "
            "print(t.is_dir()); del a; import gc; gc.collect(); print(t.is_dir(), t)")
    out = subprocess.run([sys.executable, "-c", code, str(build / "driver")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    during, after, folder = out.stdout.split()
    assert (during, after) == ("True", "False") and "dfx-driver-sim-" in folder


def test_driver_runs_in_a_venv_with_only_numpy(builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    python = env_dir / "bin" / "python"
    # numpy alone, linked in from this interpreter (no network needed)
    only = tmp_path / "only-numpy"
    only.mkdir()
    numpy_dir = Path(np.__file__).parent
    for path in [numpy_dir, *numpy_dir.parent.glob("numpy.libs")]:
        os.symlink(path, only / path.name)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "only_numpy.pth").write_text(str(only) + "\n")
    probe = subprocess.run([str(python), "-c", "import qonnx"], capture_output=True)
    assert probe.returncode != 0  # the venv really lacks qonnx
    _, x, expected = load_example("cybsec-mlp-w2a2")
    np.save(tmp_path / "input.npy", x)
    result = run_driver(build / "driver", "--exec_mode", "execute", "--platform", "sim",
                        cwd=tmp_path, python=python)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "output.npy"), expected)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import driver_base; "
              "print(sorted(m for m in ('dfx', 'qonnx', 'bitstring', 'onnx') "
              "if m in sys.modules))")
    probe = subprocess.run([str(python), "-c", script, str(build / "driver")],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe.stderr


def test_packing_is_dfx_packing_byte_for_byte(builds):
    import dfx.packing

    build = builds("cybsec-mlp-w2a2")
    assert (build / "driver" / "packing.py").read_bytes() == \
        Path(dfx.packing.__file__).read_bytes()
    io = read_json(build / "driver" / "io.json")
    assert io["idt"] == ["BIPOLAR"] and io["ishape_folded"] == [[1, 50, 12]]
    assert io["ishape_packed"] == [[1, 50, 2]] and io["fclk_mhz"] == 100.0


@pytest.mark.parametrize("bad,message", [
    (np.zeros((4, 599)), "shape \\[4, 599\\]"),
    (np.full((2, 600), 0.5), "BIPOLAR: element 0 .*0.5"),
    (np.full((2, 600), np.nan), "BIPOLAR: element 0 .*nan"),
    (np.zeros((0, 600)), "empty"),
])
def test_bad_input_is_refused_before_any_transfer(bad, message, builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    np.save(tmp_path / "bad.npy", bad)
    result = run_driver(build / "driver", "--exec_mode", "execute", "--platform", "sim",
                        "--inputfile", "bad.npy", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    import re

    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "output.npy").exists()


def test_uint4_input_out_of_range_names_the_value(builds, tmp_path):
    build = builds("digits-w4a4")
    x = np.zeros((3, 64))
    x[2, 5] = 16
    np.save(tmp_path / "bad.npy", x)
    result = run_driver(build / "driver", "--inputfile", "bad.npy", "--platform", "sim",
                        cwd=tmp_path)
    assert result.returncode == 2 and "UINT4: element 133 (flat index) is 16" in result.stderr


def test_sim_platform_without_a_simulator_says_so(builds, tmp_path):
    driver = tmp_path / "driver"
    shutil.copytree(builds("cybsec-mlp-w2a2") / "driver", driver)
    io = read_json(driver / "io.json")
    io["sim"], io["sim_missing"] = None, "Verilator not found, no simulator compiled"
    (driver / "io.json").write_text(json.dumps(io))
    shutil.rmtree(driver / "sim")
    result = run_driver(driver, "--platform", "sim", cwd=tmp_path)
    assert result.returncode == 2
    assert "--platform sim: this driver has no simulator (Verilator not found" in result.stderr


def test_sim_time_limit_stops_the_simulator(builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    np.save(tmp_path / "in.npy", np.ones((200_000, 600), dtype=np.int8))
    result = run_driver(build / "driver", "--inputfile", "in.npy", "--platform", "sim",
                        "--timeout", "0.2", cwd=tmp_path)
    assert result.returncode == 2
    assert "did not finish a batch of 200000 frames within 0.2 s" in result.stderr
    leftover = subprocess.run(["pgrep", "-f", str(build / "driver" / "sim" / "Vdfx_top")],
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_deployment_package_without_bitfile(builds, tmp_path):
    build = builds("cybsec-mlp-w2a2")
    deploy = build / "deploy"
    assert (deploy / "driver" / "driver.py").is_file()
    assert "no bitstream" in (deploy / "MISSING.md").read_text()
    with zipfile.ZipFile(deploy / "deploy.zip") as zf:
        names = set(zf.namelist())
        assert {"driver/driver.py", "driver/io.json", "driver/packing.py",
                "driver/sim/Vdfx_top", "MISSING.md"} <= names
        zf.extractall(tmp_path / "unzipped")
    _, x, expected = load_example("cybsec-mlp-w2a2")
    np.save(tmp_path / "input.npy", x)
    result = run_driver(tmp_path / "unzipped" / "driver", "--platform", "sim", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "output.npy"), expected)
    # the board path says what is missing before touching any device
    result = run_driver(tmp_path / "unzipped" / "driver", "--platform", "zynq-iodma",
                        cwd=tmp_path)
    assert result.returncode == 2 and "see MISSING.md" in result.stderr


def test_validate_measures_accuracy_on_digits(builds, tmp_path):
    build = builds("digits-w4a4")
    d = model_dir("digits-w4a4")
    result = subprocess.run([sys.executable, str(build / "driver" / "validate.py"),
                             "--dataset", str(d / "input.npy"), "--labels",
                             str(d / "labels.npy"), "--platform", "sim"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = read_json(tmp_path / "validate.json")
    expected = np.load(d / "expected_output.npy").argmax(1)
    qonnx_acc = float((expected == np.load(d / "labels.npy")).mean())
    assert report["samples"] == 450
    assert report["accuracy"] == pytest.approx(qonnx_acc, abs=1e-9)


# -- the board paths against fake pynq / pyxrt (stand-ins for a board, not a board) --------


def board_package(build: Path, tmp_path: Path, suffix: str, hwh_text: str | None):
    """A copy of the driver with a (fake) bitfile the driver records by its sha256."""
    import hashlib

    pkg = tmp_path / "pkg"
    shutil.copytree(build / "driver", pkg / "driver")
    (pkg / "bitfile").mkdir()
    bitfile = pkg / "bitfile" / f"finn-accel{suffix}"
    bitfile.write_bytes(b"not a real bitstream")
    if hwh_text is not None:
        bitfile.with_suffix(".hwh").write_text(hwh_text)
    io = read_json(pkg / "driver" / "io.json")
    io["bitfile"] = {"name": bitfile.name,
                     "sha256": hashlib.sha256(bitfile.read_bytes()).hexdigest()}
    (pkg / "driver" / "io.json").write_text(json.dumps(io))
    return pkg, io


def test_zynq_path_moves_the_batch_through_the_dma(builds, tmp_path, monkeypatch):
    pkg, io = board_package(builds("cybsec-mlp-w2a2"), tmp_path, ".bit",
                            '<MODULE INSTANCE="axi_dma" MODTYPE="axi_dma"/>')
    base = load_accel_module(pkg / "driver", monkeypatch)
    import pynq

    pynq.CALLS.clear()
    frames = 3
    # what the (fake) S2MM writes: one byte slot per output word, bipolar codes 1, 0, 1
    pynq.OUTPUT_BYTES = np.array([[1], [0], [1]], dtype=np.uint8)
    accel = base.FINNExampleOverlay(None, "zynq-iodma", io, batch_size=frames)
    x = load_example("cybsec-mlp-w2a2")[1][:frames]
    out = accel.execute(x)
    np.testing.assert_array_equal(out.reshape(-1), [1, -1, 1])
    calls = [c for c in pynq.CALLS if c[0] != "allocate"]
    assert calls[0][0] == "Overlay" and calls[0][1].endswith("finn-accel.bit")
    # the whole input batch in one MM2S transfer, 16-bit words in 2-byte slots
    assert ("send", "transfer", (frames * 50, 2)) in calls
    # S2MM one frame at a time (the shell's TLAST ends a transfer after each frame)
    assert calls.count(("recv", "transfer", (1, 1))) == frames
    assert ("flush", (frames * 50, 2)) in calls and ("invalidate", (frames, 1)) in calls


def test_zynq_wait_has_a_time_limit_naming_the_dma_and_batch(builds, tmp_path, monkeypatch):
    pkg, io = board_package(builds("cybsec-mlp-w2a2"), tmp_path, ".bit", "axi_dma")
    base = load_accel_module(pkg / "driver", monkeypatch)
    import pynq

    pynq.HANG, pynq.OUTPUT_BYTES = True, None
    try:
        accel = base.FINNExampleOverlay(None, "zynq-iodma", io, batch_size=2, timeout_s=0.05)
        with pytest.raises(base.DriverTimeout,
                           match="DMA axi_dma S2MM \\(output\\), frame 0 of the batch of 2 "
                                 "did not finish within 0.05 s"):
            accel.execute(np.ones((2, 600)))
    finally:
        pynq.HANG = False


@pytest.mark.parametrize("case,message", [
    ("missing", "bitfile .*finn-accel.bit not found"),
    ("mismatched", "is not the one this driver was generated for"),
    ("no_hwh", "its hardware handoff finn-accel.hwh is missing"),
    ("no_dma", "no DMA named 'axi_dma' in this hardware handoff"),
])
def test_bad_bitfiles_are_refused_before_the_overlay_loads(case, message, builds, tmp_path,
                                                         monkeypatch):
    pkg, io = board_package(builds("cybsec-mlp-w2a2"), tmp_path, ".bit",
                            None if case == "no_hwh" else
                            ("<MODULE/>" if case == "no_dma" else "axi_dma"))
    bitfile = pkg / "bitfile" / "finn-accel.bit"
    if case == "missing":
        bitfile.unlink()
    elif case == "mismatched":
        bitfile.write_bytes(b"another design")
    base = load_accel_module(pkg / "driver", monkeypatch)
    import pynq

    pynq.CALLS.clear()
    with pytest.raises(base.DriverError, match=message):
        base.FINNExampleOverlay(None, "zynq-iodma", io)
    assert not [c for c in pynq.CALLS if c[0] == "Overlay"]


def test_alveo_path_runs_the_data_movers_with_time_limits(builds, tmp_path, monkeypatch):
    pkg, io = board_package(builds("tfc-w1a1"), tmp_path, ".xclbin", None)
    base = load_accel_module(pkg / "driver", monkeypatch)
    import pyxrt

    pyxrt.CALLS.clear()
    frames = 2
    out_words = frames * io["oshape_folded"][0][1]
    slot = max(8, 1 << (io["tdata_width"]["output"][0] - 1).bit_length()) // 8
    pyxrt.OUTPUT_BYTES = bytes(range(out_words * slot))
    accel = base.FINNExampleOverlay(None, "alveo", io, batch_size=frames, device="0")
    accel.execute(np.ones((frames, 784)))
    names = [c[1] for c in pyxrt.CALLS if c[0] == "kernel"]
    assert names == ["dfx_mm2s_1", "dfx_s2mm_1"]
    assert ("start", "dfx_mm2s_1", frames * io["ishape_folded"][0][1]) in pyxrt.CALLS
    assert ("wait", 10_000) in pyxrt.CALLS
    pyxrt.HANG = True
    try:
        with pytest.raises(base.DriverTimeout,
                           match="kernel dfx_mm2s_1 did not complete the batch of 2 frames"):
            accel.execute(np.ones((frames, 784)))
    finally:
        pyxrt.HANG = False
