"""dfx's pytest plugin as users run it: pytest in a fresh process (pytester), under xdist.

The example suite (examples/hil-suite) runs on the simulated accelerator, on one board
over ssh and on a lab of two boards; the boards are a real OpenSSH server on 127.0.0.1
(two ports) whose commands run the deployed driver with ``--platform sim``. Then the
faults: a board that does not answer, a worker killed while it holds a board, a wait
that runs over its limit, a build that fails, a lab file with a typo.

Every run shares one artifact cache (``hil_cache``) and the run's simulator cache, so a
design is compiled once for the whole test session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import MODELS_DIR, ROOT
from dfx import __version__
from dfx.hil.locks import acquire_board, read_holder
from loopback_sshd import missing_reason, start_sshd

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow
SUITE = ROOT / "examples" / "hil-suite"
SUITE_TESTS = 11  # examples/hil-suite/test_models.py, parametrized
TFC = MODELS_DIR / "tfc-w1a1" / "model.onnx"
DIGITS = MODELS_DIR / "digits-w4a4" / "model.onnx"
RUN_LIMIT_S = 900  # a stuck inner run fails the test instead of hanging the suite


@pytest.fixture(scope="session")
def hil_cache(tmp_path_factory) -> Path:
    """One artifact cache for every inner run of the session (all xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "dfx-hil-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    try:
        server = start_sshd(tmp_path_factory.mktemp("hil-sshd"), n_ports=2)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def board_yaml(name: str, sshd, port: int, remote: Path, **extra) -> str:
    """A lab file entry for a "board" on the loopback sshd: the driver runs on sim."""
    fields = {"name": name, "host": "127.0.0.1", "port": port, "user": sshd.user,
              "key": str(sshd.key), "platform": "sim", "python": sys.executable,
              "path": str(remote), "ssh_options": sshd.ssh_options, **extra}
    return "- " + "\n  ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()) + "\n"


def run_pytest(pytester, hil_cache, *args):
    """pytest in a new process in ``pytester.path``, with the plugin's shared folders;
    returns the result and the run's metrics (None when no test recorded any)."""
    metrics = pytester.path / "metrics.json"
    result = pytester.runpytest_subprocess(
        "--dfx-cache", str(hil_cache), "--dfx-metrics", str(metrics),
        "--dfx-lock-dir", str(pytester.path / "locks"), "-p", "no:cacheprovider",
        "--rootdir", str(pytester.path), *args,
        timeout=RUN_LIMIT_S)
    doc = json.loads(metrics.read_text()) if metrics.is_file() else None
    return result, doc


def copy_suite(pytester) -> Path:
    """The example suite as a user's own folder: hil-suite/ beside models/."""
    shutil.copytree(SUITE, pytester.path / "hil-suite")
    os.symlink(MODELS_DIR, pytester.path / "models")
    return pytester.path / "hil-suite"


def assert_no_overlap(tests: list[dict]) -> dict[str, int]:
    """Per board, each test's hold ends before the next one's starts; returns the count
    of tests per board."""
    per_board: dict[str, list[dict]] = {}
    for t in tests:
        per_board.setdefault(t["board"], []).append(t)
    for board, held in per_board.items():
        held.sort(key=lambda t: t["board_acquired"])
        for before, after in zip(held, held[1:]):
            assert before["board_released"] <= after["board_acquired"], (board, before, after)
    return {board: len(held) for board, held in per_board.items()}


# --------------------------------------------------------------------------- the suite


def test_the_suite_on_sim_in_parallel(pytester, hil_cache):
    suite = copy_suite(pytester)
    result, doc = run_pytest(pytester, hil_cache, str(suite), "-n", "2", "-v", "-rs",
                             "--dfx-report", "--junitxml", str(pytester.path / "junit.xml"))
    result.assert_outcomes(passed=SUITE_TESTS - 1, skipped=1)
    out = result.stdout.str()
    # the target of each test is on its line, and the skip says why
    assert len(re.findall(r"PASSED \(sim\) hil-suite/test_models.py::", out)) == \
        SUITE_TESTS - 1, out
    assert re.search(r"SKIPPED \[1\] hil-suite/test_models.py:\d+: dfx_board: runs on "
                     r"Pynq-Z2; the target is sim", out), out
    assert "dfx hardware-in-the-loop" in out
    assert "dfx: metrics of 11 tests (sim) and 3 builds (0 failed)" in out
    # the metrics: every test, on sim, each build made once by one worker
    assert len(doc["tests"]) == SUITE_TESTS
    assert {t["target"] for t in doc["tests"]} == {"sim"}
    assert {t["worker"] for t in doc["tests"]} <= {"gw0", "gw1"}
    builds = doc["builds"]
    assert len(builds) == 3 and len({b["key"] for b in builds}) == 3, builds
    assert all(b["status"] == "ok" for b in builds)
    sweep = {t["test"]: t for t in doc["tests"] if "sweep" in t["test"]}
    assert sorted(t["outputs_checked"] for t in sweep.values()) == [1, 10, 100, 1000]
    # junit: the target, the dfx version and the bitfile's hash (none: no Vivado here)
    for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["dfx_target"] == "sim" and props["dfx_version"] == __version__
        assert props["dfx_bitfile_sha256"] == "none"
        assert re.fullmatch(r"[0-9a-f]{64}", props["dfx_simulator_sha256"])


def test_the_suite_on_a_board_over_ssh(pytester, hil_cache, sshd, tmp_path):
    suite = copy_suite(pytester)
    port = sshd.ports[0]
    lab = pytester.path / "lab.yaml"
    lab.write_text(board_yaml("loopback", sshd, port, tmp_path / "board"))
    result, doc = run_pytest(pytester, hil_cache, str(suite), "-n", "2", "-v", "-rs",
                             "--dfx-target", f"ssh://{sshd.user}@127.0.0.1:{port}",
                             "--dfx-lab", str(lab))
    # the Pynq-Z2 test skips: this board has no dfx board name
    result.assert_outcomes(passed=SUITE_TESTS - 1, skipped=1)
    out = result.stdout.str()
    assert len(re.findall(r"PASSED \(loopback\) hil-suite/test_models.py::", out)) == \
        SUITE_TESTS - 1, out
    assert "has none of them (it has loopback (no dfx board))" in out
    ran = [t for t in doc["tests"] if t["outcome"] == "passed"]
    assert {t["board"] for t in ran} == {"loopback"} and {t["platform"] for t in ran} == {"sim"}
    assert {m["platform"] for t in ran for m in t["measurements"]} == {"sim"}
    assert_no_overlap(ran)
    # deployed there: one folder per build, each with the unpacked driver
    folders = sorted((tmp_path / "board").iterdir())
    assert len(folders) == 3 and all((f / "driver" / "driver.py").is_file() for f in folders)
    # the run closed its shared ssh connection to the board: no ssh process outlives it
    check = subprocess.run(["ssh", "-o", f"ControlPath={tempfile.gettempdir()}/dfx-ssh-%C",
                            "-p", str(port), "-O", "check", f"{sshd.user}@127.0.0.1"],
                           capture_output=True, text=True)
    assert check.returncode != 0, check.stderr


def test_a_lab_of_two_boards_with_four_workers(pytester, hil_cache, sshd, tmp_path):
    suite = copy_suite(pytester)
    lab = pytester.path / "lab.yaml"
    lab.write_text(board_yaml("board-a", sshd, sshd.ports[0], tmp_path / "a", board="Pynq-Z2")
                   + board_yaml("board-b", sshd, sshd.ports[1], tmp_path / "b",
                                board="Pynq-Z2"))
    result, doc = run_pytest(pytester, hil_cache, str(suite), "-n", "4", "-v",
                             "--dfx-target", "lab", "--dfx-lab", str(lab))
    result.assert_outcomes(passed=SUITE_TESTS)  # the Pynq-Z2 test too: both boards are one
    tests = doc["tests"]
    assert len({t["test"] for t in tests}) == SUITE_TESTS
    assert all(t["outcome"] == "passed" for t in tests)
    counts = assert_no_overlap(tests)  # never two tests on one board at once
    assert set(counts) == {"board-a", "board-b"} and sum(counts.values()) == SUITE_TESTS
    assert len({t["worker"] for t in tests}) > 1
    # the builds were made for the lab's board
    assert {b["board"] for t in tests for b in t["builds"]} == {"Pynq-Z2"}


# --------------------------------------------------------------------------- faults


MUTE_TESTS = f"""
import pytest

@pytest.fixture(scope="session")
def tfc(dfx_build):
    return dfx_build({str(TFC)!r}, target_fps=1_000_000, mvau_wwidth_max=36)

def test_deploying(tfc, accelerator):
    accelerator(tfc)  # unpacks the package there: the first command to the board

def test_a_command(dfx_target):
    dfx_target.board().run("true", "a first command")
"""


def test_a_board_that_does_not_answer(pytester, hil_cache, tmp_path):
    # a port that accepts connections and never speaks: ssh waits for a banner
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    port = mute.getsockname()[1]
    try:
        lab = pytester.path / "lab.yaml"
        lab.write_text(f"- {{name: mute, host: 127.0.0.1, port: {port}, user: nobody, "
                       f"platform: sim, ssh_options: [StrictHostKeyChecking=no]}}\n")
        pytester.makepyfile(test_mute=MUTE_TESTS)
        result, doc = run_pytest(pytester, hil_cache, "-n", "2", "--dfx-target", "mute",
                                 "--dfx-lab", str(lab), "--dfx-timeout", "2",
                                 "--dfx-lock-timeout", "120")
    finally:
        mute.close()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    # each test fails at the time limit naming the host; the second got the board after
    # the first let it go (it would fail with BoardBusy otherwise). Counted in the
    # failures' sections: the short summary repeats a message when the terminal is wide
    # enough not to cut it.
    failures = out.split("short test summary info")[0]
    for what in ("checking the package", "a first command"):
        assert failures.count(f"BoardUnreachable: board mute (nobody@127.0.0.1 port {port}) "
                              f"cannot be reached by ssh ({what}): Connection to 127.0.0.1 "
                              f"port {port} timed out") == 1, out
    assert "BoardBusy" not in out
    assert read_holder(pytester.path / "locks", "mute") is None
    acquire_board(pytester.path / "locks", ["mute"], 0, "after", "outer").release()
    assert all(t["board_released"] for t in doc["tests"])


def test_a_driver_run_over_the_time_limit_is_stopped_on_the_board(pytester, hil_cache, sshd,
                                                                  tmp_path):
    remote = tmp_path / "slow-board"
    lab = pytester.path / "lab.yaml"
    lab.write_text(board_yaml("slow", sshd, sshd.ports[0], remote))
    pytester.makepyfile(test_slow=f"""
import pytest
from dfx.hil import AcceleratorTimeout

def test_too_many_frames(dfx_build, accelerator):
    accel = accelerator(dfx_build({str(DIGITS)!r}, target_fps=1_000_000, mvau_wwidth_max=36))
    with pytest.raises(AcceleratorTimeout) as info:  # about 80 M simulated cycles
        accel.throughput_test(batch_size=1_000_000)
    print("MESSAGE:", info.value)
""")
    result, _ = run_pytest(pytester, hil_cache, "-s", "--dfx-target", "slow", "--dfx-lab",
                           str(lab), "--dfx-timeout", "3")
    result.assert_outcomes(passed=1)
    # the driver's own limit (the simulator's wait) or the board's `timeout` stopped it
    result.stdout.fnmatch_lines([f"*MESSAGE: throughput_test of 1000000 frames on board slow "
                                 f"({sshd.user}@127.0.0.1 port {sshd.ports[0]}) *"])
    left = subprocess.run(["pgrep", "-f", str(remote)], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a process was left running on the board"


HOLDER_AND_WAITER = """
import os, signal, time
from pathlib import Path

HELD = Path({held!r})

def wait_for(path):
    for _ in range(1200):
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{{path}} never appeared")
"""


def test_a_worker_killed_holding_a_board_frees_it(pytester, hil_cache):
    lab = pytester.path / "lab.yaml"
    lab.write_text("- {name: solo, host: 127.0.0.1, platform: sim}\n")
    pytester.makepyfile(test_kill=HOLDER_AND_WAITER.format(held=str(pytester.path / "held"))
                        + """
def test_holder_is_killed(dfx_target):
    dfx_target.board()
    HELD.write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)

def test_the_next_test_gets_the_board(dfx_target):
    wait_for(HELD)
    dfx_target.board()  # waits until the kernel drops the dead worker's lock
    assert dfx_target.leased.name == "solo"
""")
    result, doc = run_pytest(pytester, hil_cache, "-n", "2", "--dfx-target", "solo",
                             "--dfx-lab", str(lab), "--dfx-lock-timeout", "60")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*test_holder_is_killed*"])
    (record,) = doc["tests"]  # the killed worker wrote nothing
    assert record["test"].endswith("test_the_next_test_gets_the_board")
    assert record["board"] == "solo" and record["outcome"] == "passed"
    assert read_holder(pytester.path / "locks", "solo") is None


def test_a_wait_over_the_limit_names_the_board_and_its_holder(pytester, hil_cache):
    lab = pytester.path / "lab.yaml"
    lab.write_text("- {name: solo, host: 127.0.0.1, platform: sim}\n")
    done = pytester.path / "done"
    pytester.makepyfile(test_busy=HOLDER_AND_WAITER.format(held=str(pytester.path / "held"))
                        + f"""
import pytest
DONE = Path({str(done)!r})

@pytest.fixture
def then_done():
    yield
    DONE.write_text("1")

def test_holds_the_board(dfx_target):
    dfx_target.board()
    HELD.write_text("1")
    wait_for(DONE)

def test_waits_too_long(then_done, dfx_target):
    wait_for(HELD)
    dfx_target.board()
""")
    result, _ = run_pytest(pytester, hil_cache, "-n", "2", "--dfx-target", "solo",
                           "--dfx-lab", str(lab), "--dfx-lock-timeout", "1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*BoardBusy: no board free within 1 s (--dfx-lock-timeout): board solo is held by "
        "pid * on * (worker gw*, test test_busy.py::test_holds_the_board, since *)"])


def test_a_failing_build_fails_its_tests_once(pytester, hil_cache):
    fold = pytester.path / "fold.json"
    fold.write_text('{"MVAU_0": {"PE": 3}}')  # 3 does not divide the layer's 64 outputs
    pytester.makeconftest(f"""
import pytest
from pathlib import Path

@pytest.fixture(scope="session")
def broken(dfx_build):
    return dfx_build({str(TFC)!r}, target_fps=1_000_000, folding_config_file=Path({str(fold)!r}))
""")
    pytester.makepyfile(test_broken="".join(
        f"def test_{n}(broken, accelerator):\n    accelerator(broken)\n" for n in range(4)))
    result, doc = run_pytest(pytester, hil_cache, "-n", "2")
    result.assert_outcomes(errors=4)
    out = result.stdout.str()
    error = (f"dfx: error: folding_config_file {fold}: MVAU_0.PE must be a positive integer "
             f"that divides MH=64, got 3")
    failures = re.findall(r"^BuildFailed: dfx_build\(model.onnx\) failed.*$", out, re.M)
    assert len(failures) == 4 and all(error in line for line in failures), out
    assert "(built once in this run by worker gw" in out  # the other worker did not rebuild
    (attempt,) = doc["builds"]  # one attempt in the whole run
    assert attempt["status"] == "failed" and error in attempt["error"]
    assert sorted(t["outcome"] for t in doc["tests"]) == ["error"] * 4


def test_a_lab_file_typo_stops_pytest_at_start_up(pytester, hil_cache):
    lab = pytester.path / "lab.yaml"
    lab.write_text("- name: pynq-a\n  board: Pynq-Z2\n  hsot: 192.168.2.99\n")
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError\n")
    result, doc = run_pytest(pytester, hil_cache, "-n", "2", "--dfx-target", "lab",
                             "--dfx-lab", str(lab))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: lab file {lab}, line 3: unknown key 'hsot' (did "
                                 f"you mean 'host'?); a board has name, host, *"])
    assert doc is None and "test_never" not in result.stdout.str()


# --------------------------------------------------------------------------- markers


def test_markers_skip_with_the_reason_and_options_fall_back_to_the_environment(
        pytester, hil_cache, monkeypatch):
    from dfx.tcl.vivado import vivado_available

    pytester.makepyfile(test_marks="""
import pytest

@pytest.mark.dfx_needs("vivado")
def test_needs_vivado():
    pass

@pytest.mark.dfx_needs("verilator")
def test_needs_verilator():
    pass

@pytest.mark.dfx_board("U250")
def test_on_a_u250():
    pass
""")
    result, _ = run_pytest(pytester, hil_cache, "-rs")
    out = result.stdout.str()
    if vivado_available():
        result.assert_outcomes(passed=2, skipped=1)
    else:
        result.assert_outcomes(passed=1, skipped=2)
        assert re.search(r"SKIPPED \[1\] test_marks.py:\d+: dfx_needs\('vivado'\): Vivado was "
                         r"not found", out), out
    assert re.search(r"SKIPPED \[1\] test_marks.py:\d+: dfx_board: runs on U250; the target "
                     r"is sim", out), out
    # the same, with the target and the lab from the environment
    lab = pytester.path / "lab.yaml"
    lab.write_text("- {name: a, host: 127.0.0.1, board: Pynq-Z2}\n")
    monkeypatch.setenv("DFX_TARGET", "lab")
    monkeypatch.setenv("DFX_LAB", str(lab))
    result, _ = run_pytest(pytester, hil_cache, "-rs", "-k", "u250")
    result.stdout.fnmatch_lines(["dfx: target lab: a (127.0.0.1)",
                                 "*dfx_board: runs on U250; the target lab has none of them "
                                 "(it has a (Pynq-Z2))"])
    monkeypatch.setenv("DFX_TIMEOUT", "soon")
    result, _ = run_pytest(pytester, hil_cache)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --dfx-timeout (or DFX_TIMEOUT) 'soon': a positive "
                                 "number of seconds"])
