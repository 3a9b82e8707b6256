"""dfx.hil's parts on their own: the lab file, --dfx-target, board locks, the metrics file.

The plugin as users run it (pytest, xdist, builds, boards over ssh) is tested in
tests/test_hil_plugin.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys

import pytest

from dfx.hil.errors import BoardBusy, LabFileError
from dfx.hil.lab import load_lab, resolve_target
from dfx.hil.locks import acquire_board, read_holder
from dfx.hil.metrics import MetricsFile, MetricsRecord, format_table

GOOD = """\
- name: pynq-a
  host: 192.168.2.99
  user: xilinx
  board: pynq-z2
- name: sim-box
  host: 127.0.0.1
  port: 2222
  platform: sim
  ssh_options: [StrictHostKeyChecking=no]
"""


def write(tmp_path, text: str):
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def test_a_good_lab_file(tmp_path):
    a, b = load_lab(write(tmp_path, GOOD))
    assert (a.name, a.board, a.platform, a.port, a.line) == ("pynq-a", "Pynq-Z2",
                                                             "zynq-iodma", None, 1)
    assert (b.platform, b.port, b.ssh_options, b.line) == ("sim", 2222,
                                                           ("StrictHostKeyChecking=no",), 5)
    assert a.describe() == "pynq-a (xilinx@192.168.2.99)"
    assert a.matches("Pynq_Z2") and a.matches("PYNQ-A") and not b.matches("Pynq-Z2")


@pytest.mark.parametrize("text, message", [
    ("- name: a\n  hsot: h\n  platform: sim\n",
     "line 2: unknown key 'hsot' (did you mean 'host'?)"),
    ("- name: a\n  platform: sim\n", "line 1: this board has no 'host'"),
    ("- name: a\n  host: h\n  port: ssh\n  platform: sim\n",
     "line 3: port must be a port number (1-65535), got 'ssh'"),
    ("- name: a\n  host: h\n  board: Pynq-Z3\n", "line 3: unknown board 'Pynq-Z3'; did you "
                                                 "mean 'Pynq-Z2'?"),
    ("- name: a\n  host: h\n  platform: zynq-iodm\n",
     "line 3: platform 'zynq-iodm' (did you mean 'zynq-iodma'?)"),
    ("- name: a\n  host: h\n", "line 1: board 'a' needs `board:`"),
    ("- name: a\n  host: h\n  platform: sim\n- name: a\n  host: g\n  platform: sim\n",
     "line 4: board name 'a' is used twice (first at line 1)"),
    ("- name: a\n  host: h\n  host: g\n  platform: sim\n",
     "line 3: key 'host' is given twice for this board (first at line 2)"),
    ("- name: a\n  host: h\n  key: nokey\n  platform: sim\n", "line 3: key nokey: no such file"),
    ("- name: a\n  host: [h\n", "line 3: not valid YAML"),
    ("name: a\nhost: h\n", "line 1: expected a list of boards"),
    ("", "empty; it should be a list of boards"),
    ("- name: a\n  host: h\n  platform: sim\n  ssh_options: -v\n",
     "line 4: ssh_options must be a list of ssh options"),
])
def test_lab_file_mistakes_name_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(LabFileError) as info:
        load_lab(path)
    assert str(info.value).startswith(f"lab file {path}")
    assert message in str(info.value)


def test_key_paths_are_relative_to_the_lab_file(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id").write_text("key")
    (board,) = load_lab(write(tmp_path, "- {name: a, host: h, key: keys/id, platform: sim}\n"))
    assert board.key == str(tmp_path / "keys" / "id")


def test_targets(tmp_path):
    lab = load_lab(write(tmp_path, GOOD))
    assert resolve_target("sim", None, None).is_sim
    assert [b.name for b in resolve_target("lab", lab, "lab.yaml").boards] == ["pynq-a",
                                                                                "sim-box"]
    assert resolve_target("pynq-a", lab, "lab.yaml").boards[0].host == "192.168.2.99"
    # an address finds the lab's board there (its key, platform, ...)
    assert resolve_target("ssh://127.0.0.1:2222", lab, "lab.yaml").boards[0].name == "sim-box"
    alone = resolve_target("pynq://10.0.0.5", None, None).boards[0]
    assert (alone.name, alone.user, alone.platform) == ("10.0.0.5", "xilinx", "zynq-iodma")
    with pytest.raises(LabFileError, match="did you mean 'pynq-a'"):
        resolve_target("pynq-b", lab, "lab.yaml")
    with pytest.raises(LabFileError, match="there is no lab file"):
        resolve_target("lab", None, None)
    with pytest.raises(LabFileError, match="expected sim, lab, pynq://"):
        resolve_target("http://x", lab, "lab.yaml")


def test_a_held_board_names_its_holder(tmp_path):
    lock = acquire_board(tmp_path, ["a"], 1, "t.py::test_one", "gw3")
    assert read_holder(tmp_path, "a")["test"] == "t.py::test_one"
    with pytest.raises(BoardBusy) as info:
        acquire_board(tmp_path, ["a"], 0.2, "t.py::test_two", "gw1")
    message = str(info.value)
    assert message.startswith("no board free within 0.2 s (--dfx-lock-timeout): board a is "
                              f"held by pid {os.getpid()} on ")
    assert "(worker gw3, test t.py::test_one, since " in message
    lock.release()
    assert read_holder(tmp_path, "a") is None
    acquire_board(tmp_path, ["a"], 0, "t.py::test_two", "gw1").release()


def test_a_test_takes_a_free_board(tmp_path):
    first = acquire_board(tmp_path, ["a", "b"], 1, "x", "gw0")
    second = acquire_board(tmp_path, ["a", "b"], 1, "y", "gw1")
    assert {first.board, second.board} == {"a", "b"}
    first.release()
    second.release()
    assert acquire_board(tmp_path, ["a", "b"], 1, "z", "gw1", start_at=1).board == "b"


def _write_records(path: str, worker: int) -> None:
    metrics = MetricsFile(path, {"id": "run-1"})
    for n in range(25):
        metrics.add_test({"test": f"t{worker}-{n}", "worker": f"gw{worker}"})


def test_parallel_writers_lose_no_record(tmp_path):
    path = tmp_path / "metrics.json"
    MetricsFile(path, {"id": "an earlier run"}).add_test({"test": "old"})
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    procs = [ctx.Process(target=_write_records, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    doc = json.loads(path.read_text())
    assert doc["run"] == {"id": "run-1"}  # the earlier run's file was started afresh
    assert sorted(t["test"] for t in doc["tests"]) == sorted(
        f"t{w}-{n}" for w in range(4) for n in range(25))


def test_record_checks_outputs_frame_by_frame():
    import numpy as np

    record = MetricsRecord("t::x", "gw0", "sim")
    expected = np.arange(12).reshape(4, 3)
    record.check_outputs(expected.copy(), expected)
    wrong = expected.copy()
    wrong[2, 1] += 1
    with pytest.raises(AssertionError, match=r"1 of 4 frames differ \(bit-exact\); first "
                                             r"frame 2: got \[6, 8, 8\], expected \[6, 7, 8\]"):
        record.check_outputs(wrong, expected)
    record.check_outputs(expected + 1e-6, expected, atol=1e-4)
    with pytest.raises(AssertionError, match="shape"):
        record.check_outputs(expected[:2], expected)
    assert record.data["outputs_checked"] == 12 and record.data["outputs_mismatched"] == 1
    record.add_measurement({"batch_size": 1, "throughput[images/s]": 400.0, "runtime[ms]": 2.5})
    lines = format_table({"tests": [record.finish()]})
    assert lines[0].split()[:4] == ["test", "target", "worker", "result"]
    assert "t::x" in lines[2] and "2.5000" in lines[2] and "400" in lines[2]


def test_a_board_build_without_bitfile_is_refused_before_anything_is_sent(tmp_path):
    from pathlib import Path

    from dfx.hil.accelerator import RemoteAccelerator
    from dfx.hil.builds import DfxBuild
    from dfx.hil.errors import AcceleratorError
    from dfx.hil.lab import LabBoard
    from dfx.hil.remote import RemoteBoard

    # the two files of a build folder the check reads: the driver's io.json, the package
    (tmp_path / "driver").mkdir()
    (tmp_path / "driver" / "io.json").write_text(json.dumps(
        {"bitfile": {"name": "finn-accel.bit", "sha256": None}}))
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "deploy.zip").write_bytes(b"")
    build = DfxBuild(path=tmp_path, model=Path("model.onnx"), key="0" * 64, config={})
    # port 9 of a documentation address: any attempt to connect would fail differently
    board = RemoteBoard(LabBoard(name="pynq-a", host="192.0.2.1", port=9,
                                 platform="zynq-iodma"), timeout_s=1)
    with pytest.raises(AcceleratorError, match=r"board pynq-a \(192.0.2.1 port 9\) runs "
                                               r"--platform zynq-iodma, which needs a bitfile"):
        RemoteAccelerator(build, None, board)


def test_the_plugin_module_imports_nothing_heavy():
    """pytest loads the plugin in every run of an environment with dfx: it must stay light."""
    import subprocess

    heavy = ("numpy", "yaml", "qonnx", "onnx", "onnxruntime", "pandas", "filelock")
    code = ("import sys, dfx.hil.pytest_plugin; "
            f"print(sorted(set({heavy!r}) & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
