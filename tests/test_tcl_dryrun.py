"""The Tcl renderer's quoting and the dry-run runner that proves generated scripts."""

from __future__ import annotations

import re
import tkinter
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfx.errors import DfxError
from dfx.tcl.dryrun import (
    VIVADO_COMMANDS,
    LinkConfigError,
    TclDryRunError,
    check_link_config,
    dry_run,
    split_list,
)
from dfx.tcl.render import TEMPLATES_DIR, render, tcl_list, tcl_path, tcl_paths, tcl_quote

NASTY = ["", " ", "plain", "two words", "a;b", "$x", "${x}", "[exit]", "{", "}", "}{", "{a",
         "\\", "a\\", "\\n", '"', '"quoted"', "#comment", "a#b", "tab\there", "line\nbreak",
         "cr\rlf\n", "\x00nul", "\x01\x7f", "é ü 漢字", "emoji 😀", "{*}x", "\\\n", ";#[]{}$\"\\",
         "-force", "--"]


@pytest.fixture(scope="module")
def tcl():
    return tkinter.Tcl()


def _evaluates_to(tcl, word: str) -> str:
    tcl.eval(f"set dfx_test_value {word}")
    return str(tcl.getvar("dfx_test_value"))


@pytest.mark.parametrize("value", NASTY)
def test_tcl_quote_round_trips(tcl, value):
    assert _evaluates_to(tcl, tcl_quote(value)) == value


# One interpreter for the property tests (a fixture would be shared across
# examples anyway).
_INTERP = tkinter.Tcl()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text())
def test_tcl_quote_round_trips_any_text(value):
    assert _evaluates_to(_INTERP, tcl_quote(value)) == value


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=8), max_size=6))
def test_tcl_list_round_trips(values):
    # as the arguments of [list ...] and as a braced list literal
    assert split_list(_INTERP.eval(f"list {tcl_list(values)}")) == values
    assert split_list(_INTERP.eval(f"set dfx_literal {{{tcl_list(values)}}}")) == values


def test_tcl_quote_values():
    assert tcl_quote("") == "{}"
    assert tcl_quote("abc") == "abc"
    assert tcl_quote("a b") == "a\\ b"
    assert tcl_quote(Path("/x y/z")) == "/x\\ y/z"
    assert tcl_quote(5) == "5"
    assert tcl_quote(2.5) == "2.5"
    assert tcl_quote(True) == "1"
    for bad in (None, b"bytes", object(), float("nan")):
        with pytest.raises((TypeError, ValueError)):
            tcl_quote(bad)
    with pytest.raises(TypeError):
        tcl_list("a string is not a list")


@pytest.mark.parametrize("value", [v for v in NASTY if v and "\x00" not in v])
def test_tcl_path_resolves_against_the_script_folder(tcl, value):
    here = "/base [dir] {x}/$here"
    tcl.setvar("dfx_here", here)
    relative = f"sub/{value}/file.v"
    assert _evaluates_to(tcl, tcl_path(relative)) == f"{here}/{relative}"
    assert _evaluates_to(tcl, tcl_path(Path(relative))) == f"{here}/{relative}"
    # a path out of the folder comes out clean, an absolute one as it is
    assert _evaluates_to(tcl, tcl_path(f"../{value}x/f.v")) == f"/base [dir] {{x}}/{value}x/f.v"
    assert _evaluates_to(tcl, tcl_path(f"/abs/{value}")) == f"/abs/{value}"
    assert split_list(tcl.eval(f"list {tcl_paths([relative, '/a b', '.'])}")) == [
        f"{here}/{relative}", "/a b", here]


def test_tcl_path_edge_cases(tcl):
    tcl.setvar("dfx_here", "/h")
    # a leading ~ would be a home folder to `file join`
    assert _evaluates_to(tcl, tcl_path("~user/x")) == "/h/~user/x"
    assert _evaluates_to(tcl, tcl_path("~")) == "/h/~"
    assert _evaluates_to(tcl, tcl_path(".")) == "/h"
    assert _evaluates_to(tcl, tcl_path("./a//b/")) == "/h/a/b"
    assert tcl_path("a b") == "[file join $dfx_here a\\ b]"
    assert tcl_path("/a b") == tcl_quote("/a b")
    with pytest.raises(ValueError):
        tcl_path("")
    with pytest.raises(TypeError):
        tcl_paths("a/string")


def test_tcl_templates_print_only_quoted_values():
    env_check = re.compile(r"\{\{(.*?)\}\}")
    for template in sorted(TEMPLATES_DIR.glob("*.j2")):
        if not template.name.endswith((".tcl.j2", ".xdc.j2")):
            continue
        text = template.read_text()
        assert text.startswith("# "), f"{template.name} must start with a comment"
        assert "2022.1" in "\n".join(text.splitlines()[:5]), template.name
        for expression in env_check.findall(text):
            assert re.search(r"\|\s*tcl(_list|_path|_paths)?\s*$", expression), (
                f"{template.name}: {{{{{expression}}}}} is not quoted")
        if template.name.endswith(".tcl.j2"):
            # the scripts find their files relative to themselves
            assert "set dfx_here [file dirname [file normalize [info script]]]" in text, (
                template.name)


def test_unquoted_value_in_a_tcl_template_is_refused():
    from dfx.tcl.render import _environment

    env = _environment(True)
    with pytest.raises(jinja2.TemplateError, match="without the |tcl"):
        env.from_string("puts {{ x }}").render(x="a b")
    assert env.from_string("puts {{ x|tcl }}").render(x="a b") == "puts a\\ b"


def test_render_is_strict_about_undefined_values():
    with pytest.raises(jinja2.UndefinedError):
        render("ooc_clock.xdc.j2", clock="ap_clk")


def test_every_template_starts_with_a_comment_and_says_generated():
    for template in TEMPLATES_DIR.glob("*.j2"):
        head = "\n".join(template.read_text().splitlines()[:4])
        assert head.startswith(("# ", "// ")), template.name
        assert "Generated by dfx" in head or "generated by dfx" in head, template.name


# --------------------------------------------------------------------------- the runner


def test_records_calls_with_options_and_lines():
    transcript = dry_run("set p xc7z020clg400-1\n"
                         "create_project -force proj /prj/p -part $p\n"
                         "foreach r {synth_1 impl_1} {\n"
                         "    launch_runs $r -jobs 2\n"
                         "}\n")
    create = transcript.one("create_project")
    assert create.args == ("proj", "/prj/p")
    assert create.opt("-part") == "xc7z020clg400-1" and create.opt("-force") is True
    assert create.line == 2 and create.file == "<script>"
    assert [(c.args, c.line) for c in transcript.calls("launch_runs")] == [
        (("synth_1",), 4), (("impl_1",), 4)]
    assert transcript.names() == ["create_project", "launch_runs", "launch_runs"]
    assert "<script>:2: create_project -force -part xc7z020clg400-1 proj /prj/p" in str(transcript)


def test_returns_plausible_values():
    transcript = dry_run(
        "if {[version -short] ne {2022.2}} { error wrong-version }\n"
        "if {[get_property PROGRESS [get_runs impl_1]] ne {100%}} { error progress }\n"
        "if {![string match {*Complete*} [get_property STATUS [get_runs impl_1]]]} { error s }\n"
        "if {[llength [get_files [list a.v b.v]]] != 2} { error files }\n"
        "if {[get_ports ap_clk] ne {ap_clk}} { error ports }\n"
        "if {[create_bd_cell -type ip -vlnv x:y:z:1.0 cell] ne {/cell}} { error cell }\n"
        "puts [get_ipdefs xilinx.com:ip:axi_dma:*]\n")
    assert transcript.output == ["xilinx.com:ip:axi_dma:1.0\n"]


def test_property_overrides_and_variables():
    script = ("if {[get_property PROGRESS [get_runs $run]] ne {100%}} {\n"
              "    error \"dfx: $run failed\"\n"
              "}\n")
    dry_run(script, variables={"run": "synth_1"}, properties={"PROGRESS@impl_1": "50%"})
    listed = dry_run("puts [llength $argv]:[lindex $argv 1]\n",
                     variables={"argv": ["a b", Path("/c d")], "argc": 2})
    assert listed.output == ["2:/c d\n"]
    with pytest.raises(TclDryRunError, match=r"<script>:2: error: dfx: impl_1 failed"):
        dry_run(script, variables={"run": "impl_1"}, properties={"progress@impl_1": "50%"})


def test_unknown_command_is_named_with_its_line():
    with pytest.raises(TclDryRunError) as err:
        dry_run("set a 1\nproc p {} {\n    launch_rnus synth_1\n}\np\n")
    assert err.value.line == 3
    assert "launch_rnus" in str(err.value) and "<script>:3" in str(err.value)
    assert isinstance(err.value, DfxError)


@pytest.mark.parametrize("command", ["open x w", "socket localhost 1", "interp create i",
                                     "package require Tk", "after 10", "load x.so",
                                     "rename set foo"])
def test_builtins_scripts_must_not_use_are_unknown(command):
    with pytest.raises(TclDryRunError, match=rf"<script>:1: {command.split()[0]}: unknown "):
        dry_run(command + "\n")


@pytest.mark.parametrize("script, message", [
    ("create_project -part", "create_project: option -part needs a value"),
    ("synth_design -top t -retime", "synth_design: unknown option -retime"),
    ("launch_runs -jobs 2 -jobs 4 impl_1", "option -jobs given twice"),
    ("launch_runs -jobs two impl_1", "-jobs wants a positive integer"),
    ("synth_design -mode ooc", "-mode wants one of default, out_of_context"),
    ("create_clock -period 0 [get_ports ap_clk]", "-period wants a positive number"),
    ("get_property PROGRESS", "takes 2 positional argument(s), got 1"),
    ("connect_bd_intf_net a b c", "takes 2 positional argument(s), got 3"),
    ("package_xo -kernel_name k -ip_directory ip", "missing required option -xo_path"),
    ("create_bd_cell -type ip ps", "-type ip needs -vlnv"),
    ("set_property -dict [list a] [current_project]", "-dict needs name/value pairs"),
    ("connect_bd_net [get_bd_pins a/b]", "connects at least two pins"),
    ("file size x", "file size: is not supported in a dry run"),
    ('read_xdc {"q"x.xdc}', "is not a Tcl list"),
    ("puts $fh hello", "can't read \"fh\""),
])
def test_bad_calls_are_refused_at_their_line(script, message):
    with pytest.raises(TclDryRunError) as err:
        dry_run(f"set dfx 1\n\n{script}\n")
    assert message in str(err.value)
    assert err.value.line == 3


def test_incomplete_script_names_the_unbalanced_line():
    with pytest.raises(TclDryRunError, match=r"<script>:3: the script is incomplete") as err:
        dry_run("set a 1\nputs ok\nif {$a} {\n    puts [version -short]\n\nputs done\n")
    assert err.value.line == 3
    # inside a braced body only Tcl itself sees the missing bracket, when it runs
    with pytest.raises(TclDryRunError, match=r"<script>:3: Tcl error: missing close-bracket"):
        dry_run("set a 1\nputs ok\nif {$a} {\n    puts [version -short\n}\n")
    with pytest.raises(TclDryRunError, match=r":2: the script is incomplete"):
        dry_run('puts a\nputs "unterminated\nputs b\n')


def test_tcl_errors_and_script_errors_carry_lines():
    with pytest.raises(TclDryRunError, match=r"<script>:3: error: dfx: stop here"):
        dry_run('set a 1\nif {$a} {\n    error "dfx: stop here"\n}\n')
    with pytest.raises(TclDryRunError, match=r"<script>:2: Tcl error: can't read \"nope\""):
        dry_run("set a 1\nputs $nope\n")


def test_a_refused_call_fails_even_when_the_script_catches_it():
    with pytest.raises(TclDryRunError, match="unknown option -bogus"):
        dry_run("catch {create_project -bogus p}\nputs survived\n")


def test_nothing_touches_the_system(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "made"
    script = (f"exec rm -f {tcl_quote(victim)}\n"
              f"file delete -force {tcl_quote(victim)}\n"
              f"file mkdir {tcl_quote(target)}\n"
              f"file copy -force {tcl_quote(victim)} {tcl_quote(target / 'copy')}\n"
              f"file rename {tcl_quote(victim)} {tcl_quote(tmp_path / 'renamed')}\n"
              f"cd {tcl_quote(tmp_path)}\n"
              "puts [pwd]\n"
              "exit 3\n"
              "this_is_never_reached\n")
    transcript = dry_run(script)
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]
    assert transcript.names() == ["exec", "file delete", "file mkdir", "file copy",
                                  "file rename", "cd", "exit"]
    assert transcript.one("exec").args == ("rm", "-f", str(victim))
    assert transcript.one("file copy").opt("-force") is True
    assert transcript.output == [f"{tmp_path}\n"]


def test_file_exists_is_configurable():
    script = "if {[file exists /no/such/file]} { puts yes } else { puts no }\n"
    assert dry_run(script).output == ["yes\n"]
    assert dry_run(script, file_exists=False).output == ["no\n"]
    assert dry_run(script, file_exists=lambda p: p.startswith("/no")).output == ["yes\n"]
    assert dry_run("puts [file join a {b c} d.v]\nputs [file tail /x/y.bit]\n").output == [
        "a/b c/d.v\n", "y.bit\n"]


def test_source_dry_runs_the_sourced_file(tmp_path):
    sub = tmp_path / "sub dir" / "helpers.tcl"
    sub.parent.mkdir()
    sub.write_text("proc helper {} {\n    return [version -short]\n}\ncreate_bd_design bd\n")
    main = tmp_path / "main.tcl"
    main.write_text(f"source {tcl_quote(sub)}\nputs [helper]\n")
    transcript = dry_run(main)
    assert transcript.scripts == ["main.tcl", "helpers.tcl"]
    design = transcript.one("create_bd_design")
    assert (design.file, design.line) == ("helpers.tcl", 4)
    assert transcript.output == ["2022.2\n"]
    sub.write_text("set x 1\nfoo_unknown\n")
    with pytest.raises(TclDryRunError, match=r"helpers.tcl:2: foo_unknown: unknown command"):
        dry_run(main)
    sub.write_text("set x {\n")
    with pytest.raises(TclDryRunError, match=r"helpers.tcl:1: the script is incomplete"):
        dry_run(main)
    _write(main, f"source {tcl_quote(tmp_path / 'missing.tcl')}\n")
    with pytest.raises(TclDryRunError, match=r"main.tcl:1: source: no such file"):
        dry_run(main)


def test_info_script_names_the_running_script(tmp_path, monkeypatch):
    """Scripts find their files from `info script`, run directly or sourced."""
    (tmp_path / "a [dir]").mkdir()
    helper = _write(tmp_path / "a [dir]" / "helper.tcl",
                    "set sourced [file dirname [file normalize [info script]]]\n"
                    "puts \"helper: $sourced\"\n")
    main = _write(tmp_path / "main.tcl",
                  "set here [file dirname [file normalize [info script]]]\n"
                  "puts \"main: $here\"\n"
                  f"source {tcl_quote(helper)}\n"
                  "puts \"main again: [file normalize [info script]]\"\n"
                  "cd [file join $here {a [dir]}]\n"
                  "source helper.tcl\n")
    assert dry_run(main).output == [
        f"main: {tmp_path}\n", f"helper: {helper.parent}\n", f"main again: {main}\n",
        f"helper: {helper.parent}\n"]
    # run by a relative path from elsewhere, and sourced by a relative path
    monkeypatch.chdir(helper.parent)
    assert dry_run("../main.tcl").output[0] == f"main: {tmp_path}\n"
    session = _write(helper.parent / "session.tcl", "source ../main.tcl\n")
    transcript = dry_run(session)
    assert transcript.scripts == ["session.tcl", "main.tcl", "helper.tcl", "helper.tcl"]
    assert transcript.output[0] == f"main: {tmp_path}\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_xdc_dry_runs_the_constraints(tmp_path):
    xdc = _write(tmp_path / "clock.xdc", "create_clock -name ap_clk -period 4.0 "
                 "[get_ports ap_clk]\n")
    transcript = dry_run(f"read_xdc -mode out_of_context {tcl_quote(xdc)}\n")
    clock = transcript.one("create_clock")
    assert clock.opt("-period") == "4.0" and clock.args == ("ap_clk",)
    assert (clock.file, clock.line) == ("clock.xdc", 1)
    _write(xdc, "create_clock -period [get_ports ap_clk]\n")
    with pytest.raises(TclDryRunError, match="clock.xdc:1: create_clock"):
        dry_run(f"read_xdc {tcl_quote(xdc)}\n")


def test_transcript_one_is_assertion_friendly():
    transcript = dry_run("launch_runs synth_1\nlaunch_runs impl_1\n")
    with pytest.raises(AssertionError, match="found 2"):
        transcript.one("launch_runs")
    with pytest.raises(AssertionError, match="found 0"):
        transcript.one("open_run")
    assert transcript.one("launch_runs", lambda c: c.args == ("impl_1",)).line == 2


def test_unknown_tool_is_refused():
    with pytest.raises(ValueError, match="no dry run for tool"):
        dry_run("puts x\n", tool="quartus")


def test_every_allow_listed_command_takes_quiet_and_verbose():
    for spec in VIVADO_COMMANDS.values():
        assert {"-quiet", "-verbose"} <= set(spec.options), spec.name


# --------------------------------------------------------------------------- v++ configs

GOOD_CONFIG = """\
# comment
[connectivity]
nk=mm2s:1:mm2s_1
nk=accel:1:accel_1
nk=s2mm:2:s2mm_1.s2mm_2
stream_connect=mm2s_1.out:accel_1.s_axis_0
stream_connect=accel_1.m_axis_0:s2mm_1.in:16
sp=mm2s_1.src:DDR[0]
sp=s2mm_1.dst:HBM[0:1]
slr=accel_1:SLR0

[vivado]
prop=run.impl_1.STEPS.ROUTE_DESIGN.ARGS.DIRECTIVE=Explore
"""


def test_link_config_is_read():
    config = check_link_config(GOOD_CONFIG, kernels=["mm2s", "accel", "s2mm"])
    assert config.kernels == {"mm2s_1": "mm2s", "accel_1": "accel", "s2mm_1": "s2mm",
                              "s2mm_2": "s2mm"}
    assert config.streams == [("mm2s_1.out", "accel_1.s_axis_0"),
                              ("accel_1.m_axis_0", "s2mm_1.in")]
    assert config.memory == {"mm2s_1.src": "DDR[0]", "s2mm_1.dst": "HBM[0:1]"}
    assert len(config.values("connectivity", "nk")) == 3


@pytest.mark.parametrize("change, message", [
    (("[vivado]", "[vivadoo]"), "unknown section [vivadoo]"),
    (("slr=accel_1:SLR0", "slr_x=accel_1:SLR0"), "unknown key 'slr_x'"),
    (("sp=mm2s_1.src:DDR[0]", "sp=mm2s_1.src:DDR0"), "malformed sp value"),
    (("accel_1.s_axis_0", "accel_9.s_axis_0"), "compute unit 'accel_9', which no nk"),
    (("nk=accel:1:accel_1", "nk=accel:2:accel_1"), "declares 2 compute unit(s) but names 1"),
    (("nk=accel:1:accel_1", "nk=accel:1:mm2s_1"), "'mm2s_1' declared twice"),
    (("nk=accel:1:accel_1", "nk=acel:1:accel_1"), "names kernel 'acel'"),
    (("# comment", "just words"), "expected key=value"),
])
def test_bad_link_configs_are_refused_with_the_line(change, message):
    text = GOOD_CONFIG.replace(*change)
    with pytest.raises(LinkConfigError, match=re.escape(message)) as err:
        check_link_config(text, kernels=["mm2s", "accel", "s2mm"])
    assert re.match(r"<config>:\d+: ", str(err.value))
