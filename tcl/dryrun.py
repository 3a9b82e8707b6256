"""Dry-run Vivado Tcl scripts without Vivado, and check v++ link configurations.

:func:`dry_run` executes a script in a real Tcl 8.6 interpreter (Python's
``tkinter.Tcl()``, no display needed) in which every Vivado command the dfx
templates use is a stub. A stub checks its call against the allow-list
(:data:`VIVADO_COMMANDS`: the options each command accepts, which take a
value, which are required, how many positional arguments it takes), records
it and returns a plausible value (``get_runs`` a run name, ``get_property
PROGRESS`` ``100%``, ``version -short`` ``2022.2``, object queries the names
they were given ...). Control flow, ``proc``, ``expr`` and the other Tcl
builtins scripts need run for real; everything else is an error naming the
command. Nothing touches the system: ``exec``, ``exit``, ``cd`` and the
``file`` subcommands that change files (``copy``, ``delete``, ``mkdir``,
``rename``) are recorded, not run. ``source`` dry-runs the sourced file (a
relative path is relative to the folder of the last ``cd``), and ``read_xdc``
the constraint files that exist. ``info script`` names the script running,
the main one or a sourced one, by its absolute path, as scripts that find
their files relative to themselves need.

The result is a :class:`Transcript` of :class:`Call` s to assert on. Every
problem raises :class:`TclDryRunError` naming the script, the line and what
is wrong.

This is a checker, not a sandbox: a script that goes out of its way (through
the hidden namespace of the real builtins) can still reach them.

:func:`check_link_config` checks a v++ link configuration (an ini file whose
keys repeat, which :mod:`configparser` cannot read).
"""

from __future__ import annotations

import os
import re
import tempfile
import tkinter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfx.errors import DfxError

__all__ = [
    "TCL_BUILTINS",
    "VIVADO_COMMANDS",
    "Call",
    "CommandSpec",
    "LinkConfig",
    "LinkConfigError",
    "TclDryRunError",
    "Transcript",
    "check_link_config",
    "dry_run",
    "split_list",
]


class TclDryRunError(DfxError):
    """A script failed its dry run: a bad call, an unknown command, a Tcl error."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message)


class LinkConfigError(DfxError):
    """A v++ configuration file is malformed or inconsistent."""


class _Rejected(Exception):
    """A stub refused a call; carries the finished error message."""


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class Call:
    """One recorded command: its positional arguments, options and where it was."""

    name: str
    args: tuple[str, ...]
    options: Mapping[str, str | bool] = field(default_factory=dict)
    file: str = ""
    line: int = 0

    def opt(self, name: str, default: Any = None) -> Any:
        """The value of option ``name`` (``True`` for a flag), or ``default``."""
        return self.options.get(name, default)

    def has(self, name: str) -> bool:
        """Whether option ``name`` was given."""
        return name in self.options

    def list_arg(self, index: int) -> list[str]:
        """Positional argument ``index`` read as a Tcl list."""
        return split_list(self.args[index])

    def __str__(self) -> str:
        words = [self.name]
        for key, value in self.options.items():
            words.append(key)
            if value is not True:
                words.append(_show(str(value)))
        words.extend(_show(a) for a in self.args)
        return f"{self.file}:{self.line}: {' '.join(words)}"


def _show(word: str) -> str:
    """A word as it reads in a transcript (quoted when it has to be)."""
    return word if word and re.fullmatch(r"[\w./:*@%+=,-]+", word) else repr(word)


class Transcript:
    """Everything a dry run recorded, in order.

    ``calls()`` gives all calls, ``calls(name)`` those of one command,
    ``one(name)`` the single call of a command (an :class:`AssertionError`
    otherwise), ``names()`` the command names in order. ``output`` holds what
    the script printed with ``puts``; ``scripts`` the files that ran.
    """

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self.output: list[str] = []
        self.scripts: list[str] = []

    def _add(self, call: Call) -> None:
        self._calls.append(call)

    def calls(self, name: str | None = None) -> list[Call]:
        """All calls, or the calls of command ``name``."""
        return [c for c in self._calls if name is None or c.name == name]

    def one(self, name: str, where: Callable[[Call], bool] | None = None) -> Call:
        """The only call of ``name`` (that satisfies ``where``); else AssertionError."""
        found = [c for c in self.calls(name) if where is None or where(c)]
        if len(found) != 1:
            listing = "\n".join(f"  {c}" for c in self.calls(name)) or "  (none)"
            raise AssertionError(
                f"expected exactly one matching {name} call, found {len(found)}; "
                f"all {name} calls:\n{listing}")
        return found[0]

    def names(self) -> list[str]:
        """The command names, in call order."""
        return [c.name for c in self._calls]

    def __iter__(self) -> Iterator[Call]:
        return iter(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self._calls)


_LIST_INTERP: list[tkinter.Tcl] = []


def split_list(value: str) -> list[str]:
    """Split a Tcl list into its elements (with Tcl's own parser)."""
    if not _LIST_INTERP:
        _LIST_INTERP.append(tkinter.Tcl())
    interp = _LIST_INTERP[0]
    # Element by element through `call`: tkinter's splitlist refuses NUL
    # characters and the string result of `eval` can lose them.
    count = int(interp.call("llength", value))
    return [str(interp.call("lindex", value, i)) for i in range(count)]


# --------------------------------------------------------------------------- allow-list


@dataclass(frozen=True)
class Option:
    """One option of a command: flag or valued, required or not, value kind."""

    name: str
    takes_value: bool = False
    required: bool = False
    kind: str = ""  # "" any, "int" a positive integer, "number", or "a|b|c" choices

    def check_value(self, value: str) -> str | None:
        """Why ``value`` is not acceptable for this option, or None."""
        if self.kind == "int":
            if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
                return f"wants a positive integer, got {value!r}"
        elif self.kind == "number":
            try:
                number = float(value)
            except ValueError:
                return f"wants a number, got {value!r}"
            if not number > 0:
                return f"wants a positive number, got {value!r}"
        elif self.kind:
            choices = self.kind.split("|")
            if value not in choices:
                return f"wants one of {', '.join(choices)}, got {value!r}"
        return None


Returns = Callable[["Call", "_DryRun"], Any]
Check = Callable[["Call"], "str | None"]


@dataclass(frozen=True)
class CommandSpec:
    """What a stubbed command accepts and what it returns."""

    name: str
    options: Mapping[str, Option]
    min_args: int = 0
    max_args: int | None = None
    returns: str | Returns = ""
    check: Check | None = None

    def describe_args(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


def _parse_options(text: str) -> dict[str, Option]:
    """``"-a -b= -c=! -d=# -e=% -f=x|y"``: flag, valued, required, int, number, choices."""
    options = {}
    for token in text.split():
        name, eq, rest = token.partition("=")
        required = rest.startswith("!")
        rest = rest.lstrip("!")
        kind = {"#": "int", "%": "number"}.get(rest, rest)
        options[name] = Option(name, takes_value=bool(eq), required=required, kind=kind)
    return options


def _parse_arity(text: str) -> tuple[int, int | None]:
    """``"0"``, ``"1-3"``, ``"1+"``: how many positional arguments."""
    if text.endswith("+"):
        return int(text[:-1]), None
    low, _, high = text.partition("-")
    return int(low), int(high or low)


VIVADO_COMMANDS: dict[str, CommandSpec] = {}


def _vivado(name: str, options: str = "", args: str = "0", returns: str | Returns = "",
            check: Check | None = None) -> None:
    # Every Vivado command takes -quiet and -verbose.
    opts = _parse_options(options + " -quiet -verbose")
    low, high = _parse_arity(args)
    VIVADO_COMMANDS[name] = CommandSpec(name, opts, low, high, returns, check)


# -- return values -------------------------------------------------------------


def _given(call: Call, state: _DryRun) -> Any:
    """Object queries return the names they were asked for (as a Tcl list).

    Vivado reads these arguments as lists, so one that is not a valid list
    (a bare path with a quote or brace, say) is an error here as it is there.
    """
    names: list[str] = []
    for arg in call.args:
        try:
            names.extend(split_list(arg))
        except tkinter.TclError as exc:
            raise state._fail(call.name, f"argument {arg!r} is not a Tcl list ({exc}); Vivado "
                              "reads it as a list of names: wrap one name in [list ...]"
                              ) from None
    return tuple(names)


def _given_bd(call: Call, state: _DryRun) -> Any:
    """Block design objects are reported with their absolute path."""
    return tuple(n if n.startswith("/") else "/" + n for n in _given(call, state))


def _runs(call: Call, state: _DryRun) -> Any:
    return _given(call, state) or ("synth_1", "impl_1")


def _ipdefs(call: Call, state: _DryRun) -> Any:
    # A version for a wildcard; the current one for a concrete VLNV.
    return tuple(n.replace("*", "1.0") for n in _given(call, state))


def _create_project(call: Call, state: _DryRun) -> str:
    state.project = call.args[0] if call.args else "project_1"
    state.project_dir = call.args[1] if len(call.args) > 1 else state.cwd
    return state.project


def _current_project(call: Call, state: _DryRun) -> str:
    return state.project or "project_1"


def _version(call: Call, state: _DryRun) -> str:
    return state.vivado_version if call.has("-short") else (
        f"Vivado v{state.vivado_version} (64-bit) (dfx dry run)")


def _get_property(call: Call, state: _DryRun) -> str:
    prop, obj = call.args[0], call.args[1]
    key = prop.upper()
    for candidate in (f"{key}@{obj}", key):
        if candidate in state.properties:
            return state.properties[candidate]
    if key == "PROGRESS":
        return "100%"
    if key == "STATUS":
        return "write_bitstream Complete!" if "impl" in obj else "synth_design Complete!"
    if key == "DIRECTORY":
        return f"{state.project_dir}/{state.project}.runs/{obj}"
    if key == "VLNV":
        return obj
    if key == "NAME":
        return obj
    return f"<{prop} of {obj}>"


def _make_wrapper(call: Call, state: _DryRun) -> str:
    source = call.args[0]
    stem = Path(source).stem
    return f"{state.project_dir}/{state.project}.gen/sources_1/bd/{stem}/hdl/{stem}_wrapper.v"


def _package_project(call: Call, state: _DryRun) -> str:
    state.core = "core_1"
    return state.core


def _open_core(call: Call, state: _DryRun) -> str:
    state.core = "core_1"
    return state.core


def _current_core(call: Call, state: _DryRun) -> str:
    if not state.core:
        return ""
    return state.core


# -- checks beyond the option table ---------------------------------------------


def _check_set_property(call: Call) -> str | None:
    if call.has("-dict"):
        if len(call.args) != 1:
            return "with -dict takes exactly one positional argument (the objects)"
        pairs = split_list(str(call.opt("-dict")))
        if len(pairs) % 2:
            return f"-dict needs name/value pairs, got {len(pairs)} words"
        return None
    if len(call.args) < 3:
        return "takes a property name, a value and objects"
    return None


def _check_even_config(call: Call) -> str | None:
    if call.has("-config") and len(split_list(str(call.opt("-config")))) % 2:
        return "-config needs name/value pairs"
    return None


def _check_create_bd_cell(call: Call) -> str | None:
    kind = call.opt("-type")
    if kind == "ip" and not call.has("-vlnv"):
        return "-type ip needs -vlnv"
    if kind == "module" and not call.has("-reference"):
        return "-type module needs -reference"
    return None


def _check_connect_bd_net(call: Call) -> str | None:
    objects = [n for arg in call.args for n in split_list(arg)]
    if len(objects) < 2:
        return f"connects at least two pins, got {len(objects)}"
    return None


# -- the table ------------------------------------------------------------------
# Options and arity follow the Vivado Tcl Command Reference (UG835, 2022.1) for
# the commands the dfx templates use; ipx:: and package_xo follow UG1118 and
# UG1393. An option missing here is an error even if Vivado knows it: add it
# when a template needs it.

_vivado("version", "-short", "0", _version)
_vivado("set_param", "", "2")
_vivado("get_param", "", "1", "")
_vivado("set_msg_config", "-id= -string= -severity= -new_severity= -limit=# -suppress",
        "0")
_vivado("create_project", "-part= -force -in_memory -ip -rtl_kernel", "0-2", _create_project)
_vivado("current_project", "", "0-1", _current_project)
_vivado("close_project", "-delete", "0")
_vivado("current_fileset", "-constrset -simset", "0-1", "sources_1")
_vivado("get_board_parts", "-regexp -nocase -filter= -of_objects= -latest_file_version "
        "-latest_hw_revision", "0+", _given)
_vivado("set_property", "-dict=", "1+", "", _check_set_property)
_vivado("get_property", "-min -max", "2", _get_property)
_vivado("add_files", "-fileset= -of_objects= -norecurse -copy_to= -force -scan_for_includes",
        "1+", _given)
_vivado("get_files", "-regexp -nocase -filter= -of_objects= -compile_order= -used_in= "
        "-references -all", "0+", _given)
_vivado("update_compile_order", "-force_gui -fileset=", "0")
_vivado("update_ip_catalog", "-rebuild -scan_changes -add_ip= -delete_ip= -repo_path= "
        "-update_module_ref", "0")
_vivado("get_ipdefs", "-name -regexp -nocase -filter= -all -of_objects=", "0+", _ipdefs)
_vivado("read_verilog", "-library= -sv", "1", _given)
_vivado("read_xdc", "-cells= -ref= -quiet_diff -mode=default|out_of_context -unmanaged", "1",
        _given)
_vivado("synth_design", "-name= -part= -constrset= -top= -include_dirs= -generic= "
        "-verilog_define= -flatten_hierarchy=rebuilt|full|none -directive= -rtl "
        "-mode=default|out_of_context -retiming -no_timing_driven -max_bram=# -max_uram=# "
        "-max_dsp=# -incremental_mode=", "0", "synth_1")
_vivado("create_clock", "-period=!% -name= -waveform= -add", "0-1", lambda c, s: c.opt("-name"))
_vivado("get_ports", "-regexp -nocase -filter= -of_objects= -scoped_to_current_instance",
        "0+", _given)
_vivado("report_utilization", "-file= -append -pblocks= -cells= -return_string -slr "
        "-name= -no_primitives -omit_locs -hierarchical -hierarchical_depth=# "
        "-hierarchical_percentages -format=text|xml", "0")
_vivado("report_timing_summary", "-check_timing_verbose -delay_type= -no_detailed_paths "
        "-no_check_timing -no_header -max_paths=# -nworst=# -file= -append -name= "
        "-return_string -warn_on_violation -datasheet -report_unconstrained -setup -hold",
        "0")
_vivado("write_checkpoint", "-force -cell= -incremental_synth", "1")
_vivado("close_design", "", "0")
_vivado("create_bd_design", "-dir= -cell= -mode= -bdsource=", "1", lambda c, s: c.args[0])
_vivado("current_bd_design", "", "0-1", "")
_vivado("create_bd_cell", "-vlnv= -type=!ip|module|hier|container -reference=", "1",
        lambda c, s: "/" + c.args[0].lstrip("/"), _check_create_bd_cell)
_vivado("get_bd_cells", "-regexp -hierarchical -filter= -of_objects=", "0+", _given_bd)
_vivado("get_bd_pins", "-regexp -hierarchical -filter= -of_objects=", "0+", _given_bd)
_vivado("get_bd_intf_pins", "-regexp -hierarchical -filter= -of_objects=", "0+", _given_bd)
_vivado("apply_bd_automation", "-rule=! -dict= -config= -opts=", "0+", "",
        _check_even_config)
_vivado("connect_bd_net", "-design= -net=", "1+", "", _check_connect_bd_net)
_vivado("connect_bd_intf_net", "-design= -intf_net= -boundary_type=upper|lower|both", "2")
_vivado("assign_bd_address", "-target_address_space= -offset= -range= -boundary -force "
        "-external -dict=", "0+")
_vivado("validate_bd_design", "-force -design=", "0")
_vivado("save_bd_design", "", "0-1")
_vivado("make_wrapper", "-top -testbench -inst_template -fileset= -import -force", "1",
        _make_wrapper)
_vivado("get_runs", "-regexp -nocase -filter= -of_objects=", "0+", _runs)
_vivado("launch_runs", "-jobs=# -scripts_only -dir= -to_step= -next_step -force "
        "-pre_launch_script= -post_launch_script=", "1+")
_vivado("wait_on_run", "-timeout=%", "1")
_vivado("wait_on_runs", "-timeout=% -exit_condition=ALL|ANY_ONE|ANY_ONE_MET_TIMING", "1+")
_vivado("open_run", "-name= -part= -pr_config= -auto_open_ooc", "1",
        lambda c, s: c.opt("-name", c.args[0]))
# IP packaging (UG1118).
_vivado("ipx::package_project", "-root_dir= -vendor= -library= -taxonomy= -import_files "
        "-set_current=true|false -force -force_update_compile_order "
        "-archive_source_project=true|false -generated_files -module=", "0-1",
        _package_project)
_vivado("ipx::open_core", "-set_current=true|false", "1", _open_core)
_vivado("ipx::current_core", "", "0-1", _current_core)
_vivado("ipx::remove_all_bus_interface", "", "1")
_vivado("ipx::infer_bus_interface", "", "3", lambda c, s: c.args[0])
_vivado("ipx::get_bus_interfaces", "-of_objects= -regexp -nocase -filter=", "0-1", _given)
_vivado("ipx::get_bus_parameters", "-of_objects= -regexp -nocase -filter=", "0-1", _given)
_vivado("ipx::add_bus_parameter", "", "2", lambda c, s: c.args[0])
_vivado("ipx::associate_bus_interfaces", "-busif= -clock=! -reset= -clear", "0-1")
_vivado("ipx::create_xgui_files", "", "1")
_vivado("ipx::update_checksums", "", "1")
_vivado("ipx::check_integrity", "-kernel -xrt -quiet_pass", "1")
_vivado("ipx::save_core", "", "0-1")
# Vitis RTL kernels (UG1393).
_vivado("package_xo", "-kernel_name=! -xo_path=! -force -kernel_xml= -output_kernel_xml= "
        "-design_xml= -ip_directory= -parent_ip_directory= -kernel_files= "
        "-kernel_xml_args= -kernel_xml_pipes= -kernel_xml_connections= "
        "-ctrl_protocol=ap_ctrl_none|ap_ctrl_hs|ap_ctrl_chain|user_managed", "0",
        lambda c, s: c.opt("-xo_path"))

#: The Tcl builtins scripts may use. Everything else not on the allow-list is
#: an error; exec, exit, cd, pwd, file, source, puts and error are stubs.
TCL_BUILTINS: frozenset[str] = frozenset("""
    append apply array break catch concat continue dict eval expr for foreach format
    global if incr info join lappend lassign lindex linsert list llength lmap lrange
    lrepeat lreplace lreverse lsearch lset lsort namespace proc regexp regsub return
    scan set split string subst switch tailcall throw try unset uplevel upvar variable
    while glob
""".split())

# Stubs for builtins that would touch the system, and the `file` subcommands.
_STUBBED_BUILTINS = ("exec", "exit", "cd", "pwd", "file", "source", "puts", "error")
_FILE_PURE = frozenset("join dirname tail extension rootname normalize split nativename "
                       "pathtype separator".split())
_FILE_QUERIES = frozenset("exists isfile isdirectory readable".split())
_FILE_CHANGES = {"copy": "-force", "delete": "-force", "mkdir": "", "rename": "-force"}

_TOOLS = {"vivado": VIVADO_COMMANDS}

# The namespace the dry run keeps its machinery and the real builtins in.
_NS = "::dfx_dryrun"


# --------------------------------------------------------------------------- the runner


class _DryRun:
    """One dry run: the interpreter, the allow-list and what was recorded."""

    def __init__(self, commands: Mapping[str, CommandSpec], variables: Mapping[str, Any],
                 file_exists: bool | Callable[[str], bool], properties: Mapping[str, str],
                 vivado_version: str):
        self.commands = commands
        self.transcript = Transcript()
        self.error: TclDryRunError | None = None
        self.file_exists = file_exists
        # Property names are case-insensitive in Vivado; object names are not.
        self.properties = {_property_key(k): v for k, v in properties.items()}
        self.vivado_version = vivado_version
        self.cwd = os.getcwd()
        self.project = ""
        self.project_dir = self.cwd
        self.core = ""
        self.display_names: dict[str, str] = {}
        self.last_error: tuple[str, str, int] | None = None
        self.tcl = tkinter.Tcl()
        self._setup(variables)

    # -- interpreter setup -------------------------------------------------------

    def _setup(self, variables: Mapping[str, Any]) -> None:
        tcl = self.tcl
        tcl.createcommand(f"{_NS}::dispatch", self._dispatch)
        tcl.createcommand(f"{_NS}::note_error", self._note_error)
        tcl.eval(_SETUP_TCL)
        for name in self.commands:
            if name in _WRAPPED:
                continue
            namespace, _, _ = name.rpartition("::")
            if namespace:
                tcl.eval(f"namespace eval ::{namespace} {{}}")
            tcl.call("interp", "alias", "", "::" + name, "", f"{_NS}::invoke", name)
        # Hide every builtin that is neither allowed nor stubbed (the stubs
        # replaced theirs already), so that a script calling one reaches
        # `unknown` and fails with its name.
        keep = TCL_BUILTINS | set(_STUBBED_BUILTINS) | {"unknown"} | set(self.commands)
        for name in tcl.splitlist(tcl.eval("info commands ::*")):
            bare = str(name).removeprefix("::")
            if bare not in keep and "::" not in bare:
                tcl.call(f"{_NS}::hidden::rename", "::" + bare, f"{_NS}::hidden::{bare}")
        tcl.setvar("argv", "")
        tcl.setvar("argc", "0")
        for key, value in variables.items():
            # a list or tuple becomes a Tcl list, anything else its string
            if isinstance(value, list | tuple):
                tcl.setvar(key, tuple(os.fspath(v) if isinstance(v, os.PathLike) else str(v)
                                      for v in value))
            else:
                tcl.setvar(key, os.fspath(value) if isinstance(value, os.PathLike) else str(value))

    # -- where a call comes from ---------------------------------------------------

    def _where(self) -> tuple[str, int]:
        """The script file and line of the command being run."""
        tcl = self.tcl
        depth = int(tcl.eval("info frame"))
        for level in range(depth - 1, 0, -1):
            frame = tcl.splitlist(tcl.eval(f"info frame {level}"))
            info = dict(zip(frame[::2], frame[1::2]))
            if str(info.get("type")) == "source" and "file" in info:
                return self.display_names.get(str(info["file"]), str(info["file"])), int(
                    info["line"])
        return "<script>", 0

    def _fail(self, command: str, message: str) -> _Rejected:
        """Note a dry-run error at the current line; raise what this returns."""
        file, line = self._where()
        error = TclDryRunError(f"{command}: {message}", file=file, line=line)
        if self.error is None:  # the first problem is the one to report
            self.error = error
        return _Rejected(str(error))

    # -- dispatch ----------------------------------------------------------------------

    def _dispatch(self, name: str, *argv: str) -> Any:
        """Called by every stub: check, record, answer. Returns (status, value)."""
        try:
            if name == "unknown":
                raise self._fail(argv[0] if argv else "", "unknown command (neither a Tcl "
                                 "builtin scripts may use nor on the allow-list)")
            if name in _BUILTIN_STUBS:
                value = _BUILTIN_STUBS[name](self, list(argv))
            else:
                value = self._vivado_call(self.commands[name], list(argv))
        except _Rejected as exc:
            return ("error", str(exc))
        except Exception as exc:  # a bug in a stub must not pass silently
            return ("error", str(self._fail(name, f"dry-run stub failed: {exc!r}")))
        return ("ok", "" if value is None else value)

    def _parse(self, spec_name: str, options: Mapping[str, Option], argv: list[str]
               ) -> tuple[list[str], dict[str, str | bool]]:
        """Split ``argv`` into positional arguments and checked options."""
        args: list[str] = []
        given: dict[str, str | bool] = {}
        i = 0
        while i < len(argv):
            word = argv[i]
            if re.fullmatch(r"-[A-Za-z_][\w]*", word):
                option = options.get(word)
                if option is None:
                    raise self._fail(spec_name, f"unknown option {word}")
                if word in given:
                    raise self._fail(spec_name, f"option {word} given twice")
                if option.takes_value:
                    if i + 1 >= len(argv):
                        raise self._fail(spec_name, f"option {word} needs a value")
                    value = argv[i + 1]
                    why = option.check_value(value)
                    if why:
                        raise self._fail(spec_name, f"option {word} {why}")
                    given[word] = value
                    i += 2
                    continue
                given[word] = True
            else:
                args.append(word)
            i += 1
        for option in options.values():
            if option.required and option.name not in given:
                raise self._fail(spec_name, f"missing required option {option.name}")
        return args, given

    def _vivado_call(self, spec: CommandSpec, argv: list[str]) -> Any:
        args, given = self._parse(spec.name, spec.options, argv)
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            raise self._fail(spec.name, f"takes {spec.describe_args()} positional "
                              f"argument(s), got {len(args)}: {args!r}")
        file, line = self._where()
        call = Call(spec.name, tuple(args), given, file, line)
        if spec.check is not None:
            why = spec.check(call)
            if why:
                raise self._fail(spec.name, why)
        self.transcript._add(call)
        return spec.returns(call, self) if callable(spec.returns) else spec.returns

    def _record(self, name: str, args: Sequence[str], options: Mapping[str, str | bool]
                ) -> Call:
        file, line = self._where()
        call = Call(name, tuple(args), dict(options), file, line)
        self.transcript._add(call)
        return call

    def _note_error(self, message: str) -> str:
        """`error` in a script: remember where, for the report."""
        file, line = self._where()
        self.last_error = (message, file, line)
        return ""

    def exists(self, path: str) -> bool:
        if callable(self.file_exists):
            return bool(self.file_exists(path))
        return bool(self.file_exists)

    # -- running ---------------------------------------------------------------------

    def check_complete(self, text: str, display: str) -> None:
        """Raise if ``text`` is not a complete script, naming the unbalanced line."""
        complete = lambda s: self.tcl.call("info", "complete", s) in (1, "1", True)  # noqa: E731
        if complete(text):
            return
        lines = text.splitlines(keepends=True)
        start, buffer = 0, ""
        for number, line in enumerate(lines):
            if not buffer:
                start = number
            buffer += line
            if complete(buffer):
                buffer = ""
        raise TclDryRunError(
            "the script is incomplete: the command starting here never ends "
            "(an unbalanced brace, bracket or quote)", file=display, line=start + 1)

    def run_file(self, path: str, display: str) -> None:
        text = Path(path).read_text(encoding="utf-8")
        self.display_names[path] = display
        self.check_complete(text, display)
        self.transcript.scripts.append(display)
        tcl = self.tcl
        tcl.setvar("argv0", path)
        code = tcl.call(f"{_NS}::run", path)
        if int(code) == 0 or self._exited():
            if self.error is not None:  # a failure the script caught with `catch`
                raise self.error
            return
        if self.error is not None:
            raise self.error
        raise self._tcl_error()

    def _exited(self) -> bool:
        """Whether the script ended with `exit` (not an error)."""
        return str(self.tcl.eval(
            f"expr {{[dict exists ${_NS}::options -errorcode] && "
            f"[dict get ${_NS}::options -errorcode] eq {{DFX_DRYRUN_EXIT}}}}")) == "1"

    def _tcl_error(self) -> TclDryRunError:
        message = str(self.tcl.getvar(f"{_NS}::message"))
        info = str(self.tcl.eval(
            f"expr {{[dict exists ${_NS}::options -errorinfo] ? "
            f"[dict get ${_NS}::options -errorinfo] : {{}}}}"))
        if self.last_error and self.last_error[0] == message:
            _, file, line = self.last_error
            return TclDryRunError(f"error: {message}", file=file, line=line)
        # A Tcl error of a builtin: report the outermost line of the script
        # (the command that failed, or the block around it).
        matches = re.findall(r'\(file "(.*?)" line (\d+)\)', info)
        if matches:
            file, line = matches[-1]
            return TclDryRunError(f"Tcl error: {message}",
                                  file=self.display_names.get(file, file), line=int(line))
        return TclDryRunError(f"Tcl error: {message}")


# -- stubs of the builtins that would touch the system ---------------------------------


def _stub_exec(run: _DryRun, argv: list[str]) -> Any:
    run._record("exec", argv, {})
    return ""


def _stub_exit(run: _DryRun, argv: list[str]) -> Any:
    if len(argv) > 1:
        raise run._fail("exit", f"takes at most one argument, got {len(argv)}")
    run._record("exit", argv, {})
    return ""


def _stub_cd(run: _DryRun, argv: list[str]) -> Any:
    if len(argv) > 1:
        raise run._fail("cd", f"takes at most one argument, got {len(argv)}")
    run._record("cd", argv, {})
    if argv:
        run.cwd = os.path.normpath(os.path.join(run.cwd, argv[0]))
    return ""


def _stub_pwd(run: _DryRun, argv: list[str]) -> Any:
    if argv:
        raise run._fail("pwd", "takes no arguments")
    return run.cwd


def _stub_puts(run: _DryRun, argv: list[str]) -> Any:
    words = list(argv)
    newline = True
    if words and words[0] == "-nonewline":
        newline = False
        words.pop(0)
    if len(words) == 2:
        if words[0] not in ("stdout", "stderr"):
            raise run._fail("puts", f"writes only to stdout or stderr in a dry run, not "
                             f"{words[0]!r}")
        words.pop(0)
    if len(words) != 1:
        raise run._fail("puts", "wrong arguments: puts ?-nonewline? ?channel? string")
    run.transcript.output.append(words[0] + ("\n" if newline else ""))
    return ""


def _stub_source(run: _DryRun, argv: list[str]) -> Any:
    args, options = run._parse("source", _SOURCE_OPTIONS, argv)
    if len(args) != 1:
        raise run._fail("source", f"takes one file, got {len(args)}")
    run._record("source", args, options)
    # A relative path is relative to the working folder, which `cd` changed
    # only in the dry run's books. The sourced file runs under its absolute
    # path, so `info script` names it however it was given.
    given = Path(args[0])
    if not given.is_absolute():
        given = Path(run.cwd) / given
    if not given.is_file():
        raise run._fail("source", f"no such file {args[0]!r} to dry-run")
    path = str(given.resolve())
    display = run.display_names.setdefault(path, Path(path).name)
    try:
        run.check_complete(Path(path).read_text(encoding="utf-8"), display)
    except TclDryRunError as exc:
        if run.error is None:
            run.error = exc
        raise _Rejected(str(exc)) from None
    run.transcript.scripts.append(display)
    return path


def _stub_file(run: _DryRun, argv: list[str]) -> Any:
    if not argv:
        raise run._fail("file", "needs a subcommand")
    sub, rest = argv[0], argv[1:]
    if sub in _FILE_PURE:
        try:
            return run.tcl.call(f"{_NS}::hidden::file", sub, *rest)
        except tkinter.TclError as exc:
            raise run._fail(f"file {sub}", str(exc)) from None
    if sub in _FILE_QUERIES:
        if len(rest) != 1:
            raise run._fail(f"file {sub}", "takes one path")
        run._record(f"file {sub}", rest, {})
        return "1" if run.exists(rest[0]) else "0"
    if sub in _FILE_CHANGES:
        flags = _FILE_CHANGES[sub].split()
        options: dict[str, str | bool] = {}
        args = list(rest)
        while args and args[0].startswith("-"):
            word = args.pop(0)
            if word == "--":
                break
            if word not in flags:
                raise run._fail(f"file {sub}", f"unknown option {word}")
            options[word] = True
        need = 1 if sub in ("delete", "mkdir") else 2
        if len(args) < need:
            raise run._fail(f"file {sub}", f"needs at least {need} path(s), got {len(args)}")
        run._record(f"file {sub}", args, options)
        return ""
    raise run._fail(f"file {sub}", "is not supported in a dry run")


_BUILTIN_STUBS: dict[str, Callable[[_DryRun, list[str]], Any]] = {
    "exec": _stub_exec, "exit": _stub_exit, "cd": _stub_cd, "pwd": _stub_pwd,
    "puts": _stub_puts, "source": _stub_source, "file": _stub_file,
}


_SOURCE_OPTIONS = _parse_options("-encoding= -notrace -quiet -verbose")

# Commands whose Tcl wrapper is written out in _SETUP_TCL rather than aliased.
_WRAPPED = frozenset({"read_xdc"})


def _property_key(key: str) -> str:
    prop, at, obj = key.partition("@")
    return prop.upper() + at + obj


# The Tcl side of the machinery. `invoke` turns the (status, value) answers of
# the Python dispatcher into Tcl results and errors (a Python exception would
# reach Tcl without its message).
_SETUP_TCL = r"""
namespace eval ::dfx_dryrun {
    namespace eval hidden {}
    variable message ""
    variable options {}
}
proc ::dfx_dryrun::invoke {name args} {
    lassign [::dfx_dryrun::dispatch $name {*}$args] status value
    if {$status ne "ok"} {
        return -code error -errorcode DFX_DRYRUN $value
    }
    return $value
}
proc ::dfx_dryrun::run {path} {
    set code [catch {uplevel #0 [list ::dfx_dryrun::hidden::source $path]} \
        ::dfx_dryrun::message ::dfx_dryrun::options]
    return $code
}
# (tkinter's interpreter has no `exit` to begin with.)
foreach ::dfx_dryrun::name {exec cd pwd file puts source error exit unknown rename} {
    if {[llength [info commands ::$::dfx_dryrun::name]]} {
        rename ::$::dfx_dryrun::name ::dfx_dryrun::hidden::$::dfx_dryrun::name
    }
}
unset ::dfx_dryrun::name
interp alias {} ::exec {} ::dfx_dryrun::invoke exec
interp alias {} ::cd {} ::dfx_dryrun::invoke cd
interp alias {} ::pwd {} ::dfx_dryrun::invoke pwd
interp alias {} ::file {} ::dfx_dryrun::invoke file
interp alias {} ::puts {} ::dfx_dryrun::invoke puts
proc ::unknown {args} {
    tailcall ::dfx_dryrun::invoke unknown {*}$args
}
proc ::source {args} {
    set path [::dfx_dryrun::invoke source {*}$args]
    uplevel 1 [list ::dfx_dryrun::hidden::source $path]
}
proc ::exit {args} {
    ::dfx_dryrun::invoke exit {*}$args
    return -code error -errorcode DFX_DRYRUN_EXIT "exit"
}
proc ::error {message args} {
    ::dfx_dryrun::note_error $message
    tailcall ::dfx_dryrun::hidden::error $message {*}$args
}
# XDC files are Tcl: dry-run the ones that exist (they may be written by an
# earlier step of the flow).
proc ::read_xdc {args} {
    foreach path [::dfx_dryrun::invoke read_xdc {*}$args] {
        if {[::dfx_dryrun::hidden::file isfile $path]} {
            uplevel #0 [list ::source $path]
        }
    }
}
"""


def dry_run(script: Path | str, *, tool: str = "vivado", variables: Mapping[str, Any] | None = None,
            file_exists: bool | Callable[[str], bool] = True,
            properties: Mapping[str, str] | None = None,
            vivado_version: str = "2022.2") -> Transcript:
    """Dry-run a Tcl script for ``tool`` and return what it did.

    ``script`` is a path (a :class:`~pathlib.Path`, or a ``str`` naming an
    existing ``.tcl``/``.xdc`` file) or the text of a script. ``variables``
    are set as global Tcl variables first (lists become Tcl lists; ``argv``
    and ``argc`` are empty unless given). ``file exists`` (and ``isfile``, ``isdirectory``,
    ``readable``) answers ``file_exists``: a bool, or a function of the path
    (``os.path.exists`` to ask the disk). The default, every file exists,
    lets a script past its checks for what Vivado writes, which no dry run
    has; ``source`` and ``read_xdc`` always read the real files.
    ``properties`` override what ``get_property`` returns: keys are property
    names (``"PROGRESS"``) or ``"PROPERTY@object"`` (``"STATUS@impl_1"``).

    Raises :class:`TclDryRunError` (with the script's name and the line) for
    an incomplete script, an unknown command, an unknown or repeated option,
    an option without its value, a wrong number of positional arguments, a
    Tcl error, or an ``error`` the script raises.
    """
    if tool not in _TOOLS:
        raise ValueError(f"no dry run for tool {tool!r}; known: {', '.join(_TOOLS)}")
    run = _DryRun(_TOOLS[tool], variables or {}, file_exists, properties or {}, vivado_version)
    is_path = isinstance(script, Path) or (
        isinstance(script, str) and "\n" not in script and script.endswith((".tcl", ".xdc"))
        and Path(script).is_file())
    if is_path:
        path = Path(script).resolve()
        run.run_file(str(path), path.name)
        return run.transcript
    with tempfile.TemporaryDirectory(prefix="dfx-dryrun-") as tmp:
        path = Path(tmp) / "script.tcl"
        path.write_text(str(script), encoding="utf-8")
        run.run_file(str(path), "<script>")
    return run.transcript


# --------------------------------------------------------------------------- v++ configs


@dataclass
class LinkConfig:
    """A checked v++ configuration: general options and the entries of each section.

    ``kernels`` maps each compute unit (from ``nk``) to its kernel;
    ``streams`` lists the ``stream_connect`` pairs as ``("cu.port", "cu.port")``;
    ``memory`` maps ``cu.argument`` to its bank (``sp``).
    """

    general: list[tuple[str, str]] = field(default_factory=list)
    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    kernels: dict[str, str] = field(default_factory=dict)
    streams: list[tuple[str, str]] = field(default_factory=list)
    memory: dict[str, str] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[str]:
        """Every value of ``key`` in ``section``, in order."""
        return [v for k, v in self.sections.get(section, []) if k == key]


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LINK_KEYS: dict[str, dict[str, str]] = {
    # key -> regular expression its value must match
    "connectivity": {
        "nk": rf"{_IDENT}:[1-9][0-9]*(:{_IDENT}(\.{_IDENT})*)?",
        "stream_connect": rf"{_IDENT}\.{_IDENT}:{_IDENT}\.{_IDENT}(:[0-9]+)?",
        "sp": rf"{_IDENT}\.{_IDENT}:(DDR|HBM|PLRAM|HOST|MIG)\[[0-9]+(:[0-9]+)?\]",
        "slr": rf"{_IDENT}:SLR[0-9]",
    },
    "clock": {
        "freqHz": rf"[0-9]+:{_IDENT}(\.{_IDENT})?",
        "id": rf"[0-9]+:{_IDENT}(\.{_IDENT})?",
        "defaultFreqHz": r"[0-9]+",
        "defaultId": r"[0-9]+",
    },
    "vivado": {
        "prop": r"(run|fileset)\.[\w.\-]+=\S.*",
        "param": r"[\w.\-]+=\S.*",
        "impl.jobs": r"[0-9]+",
        "synth.jobs": r"[0-9]+",
        "impl.strategies": r"\S+",
    },
    "advanced": {"param": r"[\w.\-]+=\S.*", "prop": r"\S+=\S.*", "misc": r"\S.*"},
}
_GENERAL_KEYS = {"platform": r"\S+", "kernel_frequency": r"[0-9.]+(\|[0-9]+:[0-9.]+)*",
                 "target": r"hw|hw_emu|sw_emu", "save-temps": r"0|1|true|false",
                 "optimize": r"0|1|2|3|s|quick", "report_level": r"0|1|2|estimate"}


def check_link_config(config: Path | str, *, kernels: Sequence[str] | None = None
                      ) -> LinkConfig:
    """Check a v++ link configuration and return what it declares.

    ``config`` is a path or the text. Checked: every line is a comment, a
    ``[section]`` or ``key=value``; sections and keys are ones v++ knows for
    linking; values are well-formed; every ``stream_connect`` and ``sp``
    endpoint names a compute unit declared by an ``nk``; each compute unit is
    declared once, and (with ``kernels``) each ``nk`` names a known kernel.
    Raises :class:`LinkConfigError` with the line number otherwise.
    """
    if isinstance(config, Path) or (isinstance(config, str) and "\n" not in config
                                    and Path(config).is_file()):
        name, text = Path(config).name, Path(config).read_text(encoding="utf-8")
    else:
        name, text = "<config>", str(config)
    result = LinkConfig()
    section: str | None = None
    pending: list[tuple[int, str, str]] = []  # endpoint checks need every nk first

    def fail(number: int, why: str) -> LinkConfigError:
        return LinkConfigError(f"{name}:{number}: {why}")

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[([A-Za-z_.]+)\]", line)
        if header:
            section = header.group(1)
            if section not in _LINK_KEYS:
                raise fail(number, f"unknown section [{section}]")
            result.sections.setdefault(section, [])
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise fail(number, f"expected key=value, got {line!r}")
        allowed = _GENERAL_KEYS if section is None else _LINK_KEYS[section]
        if key not in allowed:
            where = "general options" if section is None else f"[{section}]"
            raise fail(number, f"unknown key {key!r} in {where}")
        if not re.fullmatch(allowed[key], value):
            raise fail(number, f"malformed {key} value {value!r}")
        if section is None:
            result.general.append((key, value))
            continue
        result.sections[section].append((key, value))
        if section == "connectivity" and key == "nk":
            kernel, count, *rest = value.split(":")
            names = rest[0].split(".") if rest else [f"{kernel}_{i + 1}"
                                                     for i in range(int(count))]
            if len(names) != int(count):
                raise fail(number, f"nk declares {count} compute unit(s) but names "
                           f"{len(names)}")
            if kernels is not None and kernel not in kernels:
                raise fail(number, f"nk names kernel {kernel!r}, not one of "
                           f"{', '.join(kernels)}")
            for cu in names:
                if cu in result.kernels:
                    raise fail(number, f"compute unit {cu!r} declared twice")
                result.kernels[cu] = kernel
        elif section == "connectivity" and key in ("stream_connect", "sp", "slr"):
            pending.append((number, key, value))
    for number, key, value in pending:
        if key == "stream_connect":
            source, sink = value.split(":")[:2]
            endpoints = [source, sink]
            result.streams.append((source, sink))
        elif key == "sp":
            endpoint, bank = value.split(":", 1)
            endpoints = [endpoint]
            result.memory[endpoint] = bank
        else:  # slr=<cu>:SLR<n>
            endpoints = [value.split(":")[0]]
        for endpoint in endpoints:
            cu = endpoint.split(".")[0]
            if cu not in result.kernels:
                raise fail(number, f"{key} uses compute unit {cu!r}, which no nk declares")
    return result
