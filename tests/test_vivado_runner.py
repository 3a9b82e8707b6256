"""Finding Vivado and running batch sessions, against a stand-in `vivado` (tests/stand_ins)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from dfx.errors import StepError, ToolNotFoundError
from dfx.tcl import vivado as vmod
from dfx.tcl.vivado import (
    MIN_VIVADO,
    VivadoError,
    VivadoTimeoutError,
    VivadoVersionError,
    find_vivado,
    parse_version,
    run_vivado,
    vivado_available,
)

STAND_IN = Path(__file__).parent / "stand_ins" / "fake_vivado.py"


def write_vivado(path: Path) -> Path:
    """The stand-in as an executable at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
    path.chmod(0o755)
    return path


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No vivado on PATH (only an empty folder and the system tools), no XILINX_VIVADO."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(empty), "/usr/bin", "/bin"]))
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    for name in ("FAKE_VIVADO_MODE", "FAKE_VIVADO_VERSION", "FAKE_VIVADO_CALLS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def vivado(tmp_path, clean_env):
    return find_vivado(str(write_vivado(tmp_path / "xilinx" / "bin" / "vivado")))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- finding Vivado -----------------------------------------------------------------------------


def test_configured_executable(tmp_path, clean_env):
    exe = write_vivado(tmp_path / "tools" / "my-vivado")
    found = find_vivado(str(exe))
    assert found.executable == exe
    assert found.version == (2022, 2)
    assert found.version_string == "2022.2"
    assert vivado_available(str(exe))


def test_configured_install_folder(tmp_path, clean_env):
    install = tmp_path / "Xilinx" / "Vivado" / "2022.2"
    exe = write_vivado(install / "bin" / "vivado")
    assert find_vivado(install).executable == exe
    assert find_vivado(str(install / "bin")).executable == exe  # its bin folder works too


def test_found_on_path(tmp_path, clean_env):
    exe = write_vivado(tmp_path / "bin" / "vivado")
    clean_env.setenv("PATH", os.pathsep.join([str(exe.parent), os.environ["PATH"]]))
    clean_env.setenv("XILINX_VIVADO", str(tmp_path / "elsewhere"))  # PATH comes first
    assert find_vivado().executable == exe
    assert find_vivado("").executable == exe  # an empty config value means unset


def test_found_via_xilinx_vivado(tmp_path, clean_env):
    install = tmp_path / "opt" / "Vivado" / "2023.1"
    exe = write_vivado(install / "bin" / "vivado")
    clean_env.setenv("XILINX_VIVADO", str(install))
    clean_env.setenv("FAKE_VIVADO_VERSION", "2023.1")
    found = find_vivado()
    assert (found.executable, found.version) == (exe, (2023, 1))


def test_not_found_says_where_it_looked_and_how_to_fix(clean_env):
    with pytest.raises(ToolNotFoundError) as info:
        find_vivado()
    message = str(info.value)
    for part in ("PATH", "XILINX_VIVADO", "settings64.sh", "vivado_path"):
        assert part in message
    assert info.value.exit_code == 6
    assert not vivado_available()


def test_configured_path_missing(tmp_path, clean_env):
    missing = tmp_path / "no such" / "vivado"
    with pytest.raises(ToolNotFoundError, match="vivado_path") as info:
        find_vivado(str(missing))
    assert str(missing) in str(info.value)
    folder = tmp_path / "not_an_install"
    folder.mkdir()
    with pytest.raises(ToolNotFoundError, match="holds no bin/vivado"):
        find_vivado(folder)


def test_parse_version():
    text = "vivado v2022.2 (64-bit)\nSW Build 3671981 on Fri Oct 14 04:59:54 MDT 2022\n"
    assert parse_version(text) == ((2022, 2), "2022.2")
    assert parse_version("Vivado v2019.2.1 (64-bit)") == ((2019, 2), "2019.2.1")
    assert parse_version("****** Vivado v2023.1 (64-bit)\n") == ((2023, 1), "2023.1")
    assert parse_version("Vitis HLS - High-Level Synthesis") is None


def test_too_old_rejected(tmp_path, clean_env):
    exe = write_vivado(tmp_path / "old" / "vivado")
    clean_env.setenv("FAKE_VIVADO_VERSION", "2019.1")
    with pytest.raises(VivadoVersionError) as info:
        find_vivado(str(exe))
    assert isinstance(info.value, ToolNotFoundError)
    assert MIN_VIVADO == (2022, 1)
    assert (f"Vivado 2019.1 at {exe} is older than 2022.1, the oldest release dfx's "
            f"scripts support") in str(info.value)
    assert not vivado_available(str(exe))


@pytest.mark.parametrize("mode, expected", [("version-garbage", "hello, I am not Vivado"),
                                            ("version-fail", "exit code 127")])
def test_broken_executable_named(tmp_path, clean_env, mode, expected):
    exe = write_vivado(tmp_path / mode / "vivado")
    clean_env.setenv("FAKE_VIVADO_MODE", mode)
    with pytest.raises(ToolNotFoundError) as info:
        find_vivado(str(exe))
    assert str(exe) in str(info.value) and expected in str(info.value)


def test_not_executable(tmp_path, clean_env):
    exe = write_vivado(tmp_path / "noexec" / "vivado")
    exe.chmod(0o644)
    with pytest.raises(ToolNotFoundError, match="not executable"):
        find_vivado(str(exe))


def test_version_asked_once_per_executable(tmp_path, clean_env):
    calls = tmp_path / "calls.txt"
    clean_env.setenv("FAKE_VIVADO_CALLS", str(calls))
    exe = write_vivado(tmp_path / "cached" / "vivado")
    first = find_vivado(str(exe))
    assert find_vivado(str(exe)) == first
    assert find_vivado(exe.parent) == first
    assert calls.read_text().splitlines() == ["-version"]
    stat = exe.stat()  # a reinstalled Vivado (new mtime) is asked again
    os.utime(exe, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    find_vivado(str(exe))
    assert len(calls.read_text().splitlines()) == 2


# -- sessions -----------------------------------------------------------------------------------


def test_two_scripts_one_session(tmp_path, vivado):
    pytest.importorskip("tkinter")  # the stand-in runs the session with a real Tcl
    odd = tmp_path / "my scripts [v1] $HOME {x}; y"
    first = script(odd / "a $b.tcl", 'puts "hello from a"\nset shared 42\n')
    second = script(odd / "b [c].tcl",
                    'puts "b sees $shared, args $argv"\n'
                    'puts "CRITICAL WARNING: \\[Timing 38-282\\] The design failed to meet '
                    'timing"\n')
    workdir = tmp_path / "build" / "synth"
    seen: list[str] = []
    run = run_vivado(vivado, [first, second], workdir=workdir, name="synth", timeout_s=30,
                     on_line=seen.append, tclargs=["part=xc7z020"])
    # both scripts reached the stand-in's Tcl intact, in order
    assert json.loads((workdir / "fake_vivado_sourced.json").read_text()) == \
        [str(first), str(second)]
    i_a = seen.index(f"DFX: sourcing {first}")
    i_b = seen.index(f"DFX: sourcing {second}")
    assert i_a < seen.index("hello from a") < i_b < seen.index("b sees 42, args part=xc7z020")
    assert seen[0].startswith("****** Vivado v2022.2")
    assert run.warnings == ["CRITICAL WARNING: [Timing 38-282] The design failed to meet timing"]
    assert run.returncode == 0 and run.seconds > 0 and run.tail[-1].startswith("INFO:")
    assert (run.log_path, run.journal_path) == (workdir / "synth.log", workdir / "synth.jou")
    assert run.session_path == workdir / "synth_session.tcl"
    assert "hello from a" in run.log_path.read_text()
    assert run.journal_path.is_file()
    call = json.loads((workdir / "fake_vivado_call.json").read_text())
    assert call["cwd"] == str(workdir)
    argv = call["argv"]
    assert argv[:2] == ["-mode", "batch"] and "-notrace" in argv
    assert argv[argv.index("-source") + 1] == str(run.session_path)
    assert Path(argv[argv.index("-tempDir") + 1]).parent == workdir


def test_tcl_error_stops_the_session(tmp_path, vivado):
    pytest.importorskip("tkinter")
    ok = script(tmp_path / "ok.tcl", 'puts "ok ran"\n')
    bad = script(tmp_path / "bad.tcl", 'error "no cell matches get_cells foo/*"\n')
    never = script(tmp_path / "never.tcl", 'puts "never ran"\n')
    with pytest.raises(VivadoError) as info:
        run_vivado(vivado, [ok, bad, never], workdir=tmp_path / "w", name="impl", timeout_s=30)
    message = str(info.value)
    assert "'impl'" in message and "exit code 1" in message
    assert "ERROR: [dfx] bad.tcl: no cell matches get_cells foo/*" in message
    assert info.value.returncode == 1
    log = (tmp_path / "w" / "impl.log").read_text()
    assert "ok ran" in log and "never ran" not in log


def test_failure_quotes_errors_and_critical_warnings(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "fail")
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    with pytest.raises(VivadoError) as info:
        run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="ooc_synth", timeout_s=30)
    err = info.value
    message = str(err)
    assert isinstance(err, StepError) and err.exit_code == 5
    assert "Vivado session 'ooc_synth' failed (exit code 1)" in message
    assert "ERROR: [Synth 8-439] module 'mvau_0' not found [/build/top.v:12]" in message
    assert "CRITICAL WARNING: [Constraints 18-1055] Clock 'ap_clk' has no period" in message
    assert "... and 2 more" in message  # seven errors, five quoted
    assert f"log: {tmp_path / 'w' / 'ooc_synth.log'}" in message
    assert len(err.errors) == 7 and len(err.critical_warnings) == 1


def test_error_in_log_with_exit_zero(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "error-exit0")
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    with pytest.raises(VivadoError, match=r"reported errors \(exit code 0\)") as info:
        run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=30)
    assert "module 'mvau_0' not found" in str(info.value)


def test_errors_from_output_when_no_log(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "nolog")
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    with pytest.raises(VivadoError, match="A valid license was not found"):
        run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=30)


@pytest.mark.parametrize("mode", ["hang", "hang-stubborn"])
def test_timeout_kills_the_process_group(tmp_path, vivado, monkeypatch, mode):
    monkeypatch.setenv("FAKE_VIVADO_MODE", mode)
    monkeypatch.setattr(vmod, "KILL_GRACE_S", 0.5)  # the stubborn one ignores SIGTERM
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    workdir = tmp_path / "w"
    started = time.monotonic()
    with pytest.raises(VivadoTimeoutError) as info:
        run_vivado(vivado, [tcl], workdir=workdir, name="synth", timeout_s=1.0)
    assert time.monotonic() - started < 4.0
    message = str(info.value)
    assert "timed out after 1 s" in message and "vivado_timeout_minutes" in message
    assert str(workdir / "synth.log") in message
    assert "Starting synthesis" in message  # the last output says where it hung
    assert isinstance(info.value, VivadoError)
    assert wait_dead(int((workdir / "grandchild.pid").read_text()))


def test_timeout_after_output_closed(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "silent-hang")
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    started = time.monotonic()
    with pytest.raises(VivadoTimeoutError):
        run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=1.0)
    assert time.monotonic() - started < 4.0


def test_interrupt_stops_the_session(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "hang")
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")

    def on_line(line: str) -> None:
        if "Starting synthesis" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=30,
                   on_line=on_line)
    assert wait_dead(int((tmp_path / "w" / "grandchild.pid").read_text()))


def test_children_left_behind_are_stopped(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "linger")
    monkeypatch.setattr(vmod, "LINGER_S", 0.3)
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    started = time.monotonic()
    run = run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=30)
    assert run.returncode == 0 and time.monotonic() - started < 5
    assert wait_dead(int((tmp_path / "w" / "grandchild.pid").read_text()))


def test_child_outside_the_group_does_not_block(tmp_path, vivado, monkeypatch):
    monkeypatch.setenv("FAKE_VIVADO_MODE", "escape")
    monkeypatch.setattr(vmod, "LINGER_S", 0.3)
    monkeypatch.setattr(vmod, "KILL_GRACE_S", 0.5)
    tcl = script(tmp_path / "synth.tcl", "synth_design\n")
    started = time.monotonic()
    try:
        run = run_vivado(vivado, [tcl], workdir=tmp_path / "w", name="s", timeout_s=30)
        assert run.returncode == 0 and time.monotonic() - started < 5
    finally:  # out of the group's reach by design: the test stops it
        pid = int((tmp_path / "w" / "grandchild.pid").read_text())
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_expected_outputs(tmp_path, vivado):
    pytest.importorskip("tkinter")
    writes = script(tmp_path / "write.tcl",
                    "set f [open out.dcp w]\nputs $f checkpoint\nclose $f\n"
                    "close [open empty.rpt w]\n")
    workdir = tmp_path / "w"
    run = run_vivado(vivado, [writes], workdir=workdir, name="s", timeout_s=30,
                     expect=["out.dcp", workdir / "out.dcp"])
    assert (workdir / "out.dcp").read_text() == "checkpoint\n" and run.returncode == 0
    with pytest.raises(VivadoError, match="Vivado finished but did not write") as info:
        run_vivado(vivado, [writes], workdir=workdir, name="s", timeout_s=30,
                   expect=["out.dcp", "timing.rpt"])
    assert str(workdir / "timing.rpt") in str(info.value)
    with pytest.raises(VivadoError, match="empty.rpt is empty"):
        run_vivado(vivado, [writes], workdir=workdir, name="s", timeout_s=30,
                   expect=["empty.rpt"])


def test_bad_arguments(tmp_path, vivado):
    tcl = script(tmp_path / "a.tcl", "\n")
    with pytest.raises(ValueError, match="session name"):
        run_vivado(vivado, [tcl], workdir=tmp_path, name="a b", timeout_s=1)
    with pytest.raises(VivadoError, match="no such script"):
        run_vivado(vivado, [tmp_path / "missing.tcl"], workdir=tmp_path, name="a",
                   timeout_s=1)


@pytest.mark.parametrize("text", ["plain", "a b", "[x] $y {z} \"q\" ; # \\ end", "é\ttab\nnl",
                                  "\x01\x7f \U0001f600 ü",
                                  "{", "}", ""])
def test_session_paths_round_trip(text):
    """The session script quotes script paths with render.tcl_quote."""
    from dfx.tcl.render import tcl_quote

    tkinter = pytest.importorskip("tkinter")
    interp = tkinter.Tcl()
    assert interp.eval(f"set v {tcl_quote(text)}") == text
