"""The external tools in one shape (dfx.tools): discovery, Tool.run (log file, streamed
lines, first errors, time limit over the whole process group) and v++ through it."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from dfx.errors import StepError, ToolNotFoundError
from dfx.tools import Tool, Verilator, Vpp, discover, find_tool, find_verilator, find_vpp


@dataclass(frozen=True)
class Script(Tool):
    """A stand-in tool: a shell script."""

    executable: str
    version: str = ""
    env: dict | None = None


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_run_streams_logs_and_quotes_the_first_errors(tmp_path):
    exe = _script(tmp_path / "bin" / "tool", 'echo "reading $1"\necho "ERROR: bad thing" >&2\n'
                  'echo "ERROR: second"\necho done\nexit 3\n')
    seen: list[str] = []
    log = tmp_path / "tool.log"
    result = Script(str(exe)).run(["in.v"], cwd=tmp_path, timeout_s=60, log=log,
                                  on_line=seen.append)
    assert result.returncode == 3 and not result.ok and not result.timed_out
    assert seen == ["reading in.v", "ERROR: bad thing", "ERROR: second", "done"]
    assert log.read_text().splitlines() == seen
    assert result.first_errors() == ["ERROR: bad thing", "ERROR: second"]
    assert result.first_errors(1) == ["ERROR: bad thing"]
    assert result.command == [str(exe), "in.v"]


def test_first_errors_without_error_lines_gives_the_last_lines(tmp_path):
    exe = _script(tmp_path / "tool", "for i in 1 2 3 4 5 6 7; do echo line$i; done\nexit 1\n")
    result = Script(str(exe)).run([], cwd=tmp_path, timeout_s=60, tail_lines=3)
    assert result.lines == ["line5", "line6", "line7"]
    assert result.first_errors(2) == ["line6", "line7"]
    assert Script(str(exe)).first_errors("a\nERROR: x\nb\n") == ["ERROR: x"]


def test_time_limit_stops_the_whole_group(tmp_path):
    pids = tmp_path / "pids"
    exe = _script(tmp_path / "slow", f"sleep 300 &\necho $! > {pids}\necho started\nwait\n")
    started = time.monotonic()
    result = Script(str(exe)).run([], cwd=tmp_path, timeout_s=1.0)
    assert result.timed_out and not result.ok and result.lines == ["started"]
    assert time.monotonic() - started < 60  # generous: it did not wait for the sleep
    grandchild = int(pids.read_text())
    deadline = time.monotonic() + 20
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild)


def test_a_tool_that_cannot_start_is_named(tmp_path):
    with pytest.raises(ToolNotFoundError, match="tool .*no-such-tool.* cannot be run"):
        Script(str(tmp_path / "no-such-tool")).run([], cwd=tmp_path, timeout_s=5)


def test_discover_order_and_places_looked(tmp_path, monkeypatch):
    on_path = _script(tmp_path / "path" / "mytool", "exit 0\n")
    folder = _script(tmp_path / "install" / "bin" / "mytool", "exit 0\n")
    explicit = _script(tmp_path / "elsewhere" / "mytool-9", "exit 0\n")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv("DFX_MYTOOL", raising=False)
    assert discover(["mytool"], env_var="DFX_MYTOOL")[0] == str(on_path)
    monkeypatch.setenv("DFX_MYTOOL", str(explicit))
    assert discover(["mytool"], env_var="DFX_MYTOOL")[0] == str(explicit)
    # a configured path wins over the variable
    assert discover(["mytool"], env_var="DFX_MYTOOL", configured=str(on_path))[0] == \
        str(on_path)
    # a wrong explicit value is not replaced by PATH: the user asked for that one
    monkeypatch.setenv("DFX_MYTOOL", str(tmp_path / "missing"))
    exe, looked = discover(["mytool"], env_var="DFX_MYTOOL")
    assert exe is None and looked == [f"$DFX_MYTOOL ({tmp_path / 'missing'})"]
    monkeypatch.delenv("DFX_MYTOOL")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    exe, looked = discover(["mytool"], env_var="DFX_MYTOOL",
                           folders=[tmp_path / "install" / "bin"])
    assert exe == str(folder)
    assert looked == ["$DFX_MYTOOL (not set)", "mytool on PATH", str(folder)]


def test_find_tool_by_name(tmp_path, monkeypatch):
    verilator = find_tool("verilator")
    assert isinstance(verilator, Verilator) and verilator is find_verilator()
    assert "Verilator" in verilator.version
    assert find_tool("yosys").name == "Yosys"
    with pytest.raises(ValueError, match="unknown tool 'gcc'"):
        find_tool("gcc")


def test_verilator_runs_through_the_tool_interface(tmp_path):
    verilator = find_verilator()
    (tmp_path / "bad.v").write_text("module bad(input a); assign = ; endmodule\n")
    result = verilator.run(["--lint-only", "bad.v"], cwd=tmp_path, timeout_s=120,
                           log=tmp_path / "lint.log")
    assert result.returncode != 0
    assert result.first_errors()[0].startswith("%Error")
    assert "bad.v" in (tmp_path / "lint.log").read_text()


def test_vpp_missing_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DFX_VPP", raising=False)
    monkeypatch.delenv("XILINX_VITIS", raising=False)
    with pytest.raises(ToolNotFoundError, match=r"v\+\+ was not found.*v\+\+ on PATH"):
        find_vpp()


def test_vpp_failure_quotes_its_error_lines(tmp_path, monkeypatch):
    from dfx.plugins.synth import _run_vpp

    vitis = tmp_path / "vitis"
    _script(vitis / "bin" / "v++", 'echo "INFO: [v++ 60-1] linking $2"\n'
            'echo "ERROR: [v++ 60-399] platform $4 not found"\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("DFX_VPP", raising=False)
    monkeypatch.setenv("XILINX_VITIS", str(vitis))
    vpp = find_vpp()
    assert isinstance(vpp, Vpp) and vpp.executable == str(vitis / "bin" / "v++")
    messages: list[str] = []
    log = logging.getLogger("dfx.test.vpp")
    ctx = SimpleNamespace(progress=messages.append, log=log)
    cfg = SimpleNamespace(vivado_timeout_minutes=1.0)
    with pytest.raises(StepError) as info:
        _run_vpp(vpp, ["v++", "-l", "k.xo", "--platform", "u250"], tmp_path, cfg, ctx)
    text = str(info.value)
    assert "exit code 1" in text and "ERROR: [v++ 60-399] platform u250 not found" in text
    assert "INFO" not in text.split("\n", 1)[1]
    assert messages == ["v++ -l k.xo"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tool_run_leaves_no_registered_group(tmp_path):
    from dfx.processes import live_groups

    exe = _script(tmp_path / "quick", "echo hi\n")
    before = set(live_groups())
    result = Script(str(exe)).run([], cwd=tmp_path, timeout_s=30)
    assert result.ok and result.lines == ["hi"]
    assert set(live_groups()) == before
    assert os.path.exists(tmp_path / "quick")
