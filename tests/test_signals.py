"""dfx's children die with it: SIGTERM, SIGINT, SIGHUP and SIGKILL to ``dfx run`` during
the Yosys out-of-context synthesis (a stand-in Yosys that runs long and starts a
grandchild), Yosys' time limit and progress, and the sweep of dead builds' folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import model_dir
from dfx.errors import StepError
from dfx.plugins.yosys_synth import YosysTool, synthesize
from dfx.processes import popen_in_group, stop_group, sweep_dead_temp

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="process groups and /proc are Linux's")

# Each worker writes "start <its pid>" and the pid of its grandchild to $DFX_TEST_LOG,
# then waits on a child of its own: the worker's group holds a process dfx never saw.
FAKE_YOSYS = """\
#!/bin/sh
echo "start $$" >> "$DFX_TEST_LOG"
sh -c 'echo "grandchild $$" >> "$DFX_TEST_LOG"; exec sleep 300' &
sleep 301
"""


def _fake_yosys(tmp_path: Path) -> Path:
    fake = tmp_path / "yosys"
    fake.write_text(FAKE_YOSYS)
    fake.chmod(0o755)
    return fake


def _alive(pid: int) -> bool:
    """A process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _logged_pids(log: Path) -> tuple[list[int], list[int]]:
    starts, grandchildren = [], []
    if log.is_file():
        for line in log.read_text().splitlines():
            kind, pid = line.split()
            (starts if kind == "start" else grandchildren).append(int(pid))
    return starts, grandchildren


def _wait_for(predicate, limit_s: float, what: str):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {limit_s:g} s: {what}")


def _start_build(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "workers.log"
    env = dict(os.environ, DFX_YOSYS=str(_fake_yosys(tmp_path)), DFX_TEST_LOG=str(log))
    cmd = [sys.executable, "-m", "dfx", "run", str(model_dir("tfc-w1a1") / "model.onnx"),
           "-o", str(tmp_path / "out"), "--generate-outputs", "out_of_context_synth",
           "--ooc-synth-tool", "yosys", "--board", "Pynq-Z1", "--auto-fifo-depths", "false",
           "--no-cache", "-q"]

    def default_signals() -> None:  # a test runner may ignore SIGINT; dfx must not inherit that
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=default_signals)
    return proc, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: signal.Signals(s).name)
def test_signal_to_dfx_run_stops_every_yosys_worker(tmp_path, sig):
    proc, log = _start_build(tmp_path)
    try:
        # two workers at a time (or more): wait until the synthesis runs, grandchildren too
        _wait_for(lambda: (lambda s, g: len(s) >= 1 and len(g) >= len(s))(*_logged_pids(log)),
                  240, "a Yosys worker and its grandchild started")
        time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    starts, grandchildren = _logged_pids(log)
    assert starts and grandchildren
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, err
        assert f"dfx: terminated by {signal.Signals(sig).name}" in err
        assert "Traceback" not in err
    # every worker and grandchild is gone (SIGKILL: the parent-death signal and the reaper)
    _wait_for(lambda: not [p for p in starts + grandchildren if _alive(p)], 20,
              f"processes of the build gone: {[p for p in starts + grandchildren if _alive(p)]}")
    # the build had 5 runs for 2 or more slots: none started after dfx died
    time.sleep(2.0)
    assert _logged_pids(log)[0] == starts


def test_popen_in_group_children_die_with_a_killed_parent(tmp_path):
    """SIGKILL of the process that started a group: its direct child (parent-death
    signal) and the child's own children (the reaper) exit."""
    pids = tmp_path / "pids"
    script = (
        "import sys, time\n"
        "from dfx.processes import popen_in_group\n"
        f"popen_in_group(['sh', '-c', 'echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; "
        "wait'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        found = _wait_for(lambda: (lambda t: t if len(t.split()) == 2 else None)(
            pids.read_text() if pids.is_file() else ""), 30, "both pids written")
        children = [int(p) for p in found.split()]
        assert all(_alive(p) for p in children)
        parent.kill()
        parent.wait(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    _wait_for(lambda: not [p for p in children if _alive(p)], 20,
              "the child and grandchild of a killed parent gone")


def _stitched(tmp_path: Path, layers: int) -> Path:
    folder = tmp_path / "stitched_ip"
    folder.mkdir()
    files = ["dfx_top.v"]
    (folder / "dfx_top.v").write_text("module dfx_top(input wire a, output wire b);\n"
                                      "  assign b = a;\nendmodule\n")
    for i in range(layers):
        name = f"MVAU_{i}"
        (folder / f"{name}.v").write_text(f"module {name}(input wire a, output wire b);\n"
                                          "  assign b = a;\nendmodule\n")
        files.append(f"{name}.v")
    (folder / "stitch.json").write_text(json.dumps({
        "top": "dfx_top", "layers": [f"MVAU_{i}" for i in range(layers)], "stages": [],
        "files": files}))
    return folder


def test_yosys_time_limit_stops_the_run_and_names_the_key(tmp_path, monkeypatch):
    log = tmp_path / "workers.log"
    monkeypatch.setenv("DFX_TEST_LOG", str(log))
    tool = YosysTool("executable", str(_fake_yosys(tmp_path)), "stand-in")
    messages: list[str] = []
    with pytest.raises(StepError) as info:
        synthesize(_stitched(tmp_path, 3), tmp_path / "out", family="xc7", jobs=1,
                   timeout_s=1.5, tool=tool, timeout_key="yosys_timeout_minutes",
                   on_progress=messages.append, heartbeat_s=0.5)
    text = str(info.value)
    assert "did not finish within 1.5 s" in text and "yosys_timeout_minutes" in text
    assert "dfx_top" in text and str(tmp_path / "out" / "dfx_top.yosys.log") in text
    # progress while the run was in progress: what runs and for how long
    assert any(m.startswith("yosys 0/4 done") and "running: dfx_top (" in m for m in messages)
    starts, grandchildren = _logged_pids(log)
    assert len(starts) == 1  # jobs=1: the queued runs never started after the failure
    _wait_for(lambda: not [p for p in starts + grandchildren if _alive(p)], 20,
              "the timed-out worker and its grandchild gone")


def test_yosys_timeout_minutes_is_a_checked_config_key():
    from dfx.config import make_config
    from dfx.errors import ConfigError

    assert make_config({"yosys_timeout_minutes": 5}).yosys_timeout_minutes == 5
    with pytest.raises(ConfigError, match="yosys_timeout_minutes"):
        make_config({"yosys_timeout_minutes": 0})


def test_sweep_removes_only_folders_of_dead_processes(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not Path(f"/proc/{dead.pid}").exists()
    gone = tmp_path / f"dfx-fifo-{dead.pid}-abc"
    mine = tmp_path / f"dfx-fifo-{os.getpid()}-def"
    other = tmp_path / "dfx-fifo-xyz"  # no pid in the name: not dfx's to judge
    unrelated = tmp_path / f"dfx-perf-{dead.pid}-ghi"
    for folder in (gone, mine, other, unrelated):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f.v").write_text("x")
    assert sweep_dead_temp("dfx-fifo-", tmp_path) == [str(gone)]
    assert not gone.exists() and mine.is_dir() and other.is_dir() and unrelated.is_dir()


def test_stop_group_reaches_the_grandchildren(tmp_path):
    pids = tmp_path / "pids"
    proc = popen_in_group(["sh", "-c", f"sleep 300 & echo $! > {pids}; wait"])
    grandchild = int(_wait_for(lambda: pids.is_file() and pids.read_text().strip(), 30,
                               "the grandchild's pid"))
    stop_group(proc, grace_s=1.0)
    _wait_for(lambda: not _alive(grandchild), 20, "the grandchild gone")


def test_sigterm_during_a_vivado_session_stops_vivado_and_its_children(tmp_path):
    """The stand-in Vivado ignores SIGTERM and starts a grandchild: dfx still stops both
    (SIGKILL after the grace period) and exits with 143."""
    from test_vivado_runner import write_vivado

    fake = write_vivado(tmp_path / "vivado" / "vivado")
    env = dict(os.environ, FAKE_VIVADO_MODE="hang-stubborn")
    cmd = [sys.executable, "-m", "dfx", "run", str(model_dir("tfc-w1a1") / "model.onnx"),
           "-o", str(tmp_path / "out"), "--generate-outputs", "out_of_context_synth",
           "--ooc-synth-tool", "vivado", "--vivado-path", str(fake), "--board", "Pynq-Z1",
           "--auto-fifo-depths", "false", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        pid_file = _wait_for(lambda: next(iter(tmp_path.rglob("grandchild.pid")), None), 240,
                             "the stand-in Vivado started its grandchild")
        grandchild = int(_wait_for(lambda: pid_file.read_text().strip(), 10, "its pid"))
        vivado = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                  and str(fake).encode() in _cmdline(p)]
        assert vivado and _alive(grandchild)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "dfx: terminated by SIGTERM" in err and "Traceback" not in err
    _wait_for(lambda: not [p for p in [grandchild, *vivado] if _alive(p)], 20,
              "Vivado and its grandchild gone")


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""
