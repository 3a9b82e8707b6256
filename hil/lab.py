"""The lab file and the ``--dfx-target`` value: which boards a test run may use.

A lab file is a YAML list of boards::

    - name: pynq-a              # the board's name in locks, metrics and messages
      host: 192.168.2.99        # reached over ssh
      user: xilinx
      key: ~/.ssh/lab_ed25519   # relative paths are relative to the lab file
      port: 22
      board: Pynq-Z2            # the dfx board name (dfx boards): the build's part and shell
      platform: zynq-iodma      # the driver's --platform; default from `board`
      python: python3           # the Python that runs the driver there
      path: dfx-hil             # the remote folder packages are unpacked in
      ssh_options: [StrictHostKeyChecking=accept-new]

Every problem is reported when pytest starts, naming the file and the line.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfx.hil.errors import LabFileError

PLATFORMS = ("sim", "zynq-iodma", "alveo")
REQUIRED_KEYS = ("name", "host")
OPTIONAL_KEYS = ("user", "key", "port", "board", "platform", "python", "path", "ssh_options")
DEFAULT_PYTHON = "python3"
DEFAULT_REMOTE_PATH = "dfx-hil"  # relative to the login's home folder
TARGET_URL = re.compile(r"^(?P<scheme>pynq|ssh)://(?:(?P<user>[^@/:\s]+)@)?"
                        r"(?P<host>[^@/:\s]+)(?::(?P<port>\d+))?/?$")


@dataclass(frozen=True)
class LabBoard:
    """One board of the lab: how to reach it and what it is."""

    name: str
    host: str
    user: str | None = None
    key: str | None = None
    port: int | None = None
    board: str | None = None  # the dfx board name (Pynq-Z2, U250, ...)
    platform: str = "sim"
    python: str = DEFAULT_PYTHON
    path: str = DEFAULT_REMOTE_PATH
    ssh_options: tuple[str, ...] = field(default_factory=tuple)
    line: int | None = None  # where the lab file defines it

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def describe(self) -> str:
        """``name (user@host port N)``: how messages name the board."""
        port = f" port {self.port}" if self.port else ""
        return f"{self.name} ({self.login}{port})"

    def matches(self, wanted: str) -> bool:
        """Whether a ``dfx_board`` marker's name means this board (its lab name or its
        dfx board name, any case, ``-``/``_`` alike)."""
        norm = _norm(wanted)
        return norm == _norm(self.name) or (self.board is not None and norm == _norm(self.board))


@dataclass(frozen=True)
class Target:
    """What the tests run on: the simulated accelerator, or boards reached over ssh."""

    spec: str  # as given (--dfx-target)
    boards: tuple[LabBoard, ...] = ()

    @property
    def is_sim(self) -> bool:
        return not self.boards

    def describe(self) -> str:
        if self.is_sim:
            return "sim (the simulated accelerator, on this machine)"
        names = ", ".join(b.describe() for b in self.boards)
        return f"{self.spec}: {names}"


def _norm(name: str) -> str:
    return re.sub(r"[-_\s]+", "_", name.strip().lower())


# --------------------------------------------------------------------------- the lab file


def load_lab(path: str | os.PathLike) -> list[LabBoard]:
    """The boards of the lab file ``path``; :class:`LabFileError` names the line at fault."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabFileError(f"lab file {path}: cannot be read ({exc.strerror or exc})") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise LabFileError(f"lab file {path}{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise LabFileError(f"lab file {path}: not valid YAML: {exc}") from None
    if root is None:
        raise LabFileError(f"lab file {path}: empty; it should be a list of boards "
                           f"(- name: ..., host: ...)")
    if not isinstance(root, yaml.SequenceNode):
        raise LabFileError(f"lab file {path}, line {root.start_mark.line + 1}: expected a "
                           f"list of boards (- name: ..., host: ...), got a {_kind(root)}")
    boards: list[LabBoard] = []
    seen: dict[str, int] = {}
    for item in root.value:
        board = _read_board(path, loader, item)
        if board.name in seen:
            raise LabFileError(f"lab file {path}, line {board.line}: board name "
                               f"{board.name!r} is used twice (first at line "
                               f"{seen[board.name]})")
        seen[board.name] = board.line
        boards.append(board)
    if not boards:
        raise LabFileError(f"lab file {path}: the list of boards is empty")
    return boards


def _kind(node) -> str:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"value ({node.value!r})"


def _read_board(path: Path, loader, node) -> LabBoard:
    import yaml

    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise LabFileError(f"lab file {path}, line {line}: each board is a mapping "
                           f"(name: ..., host: ...), got a {_kind(node)}")
    known = REQUIRED_KEYS + OPTIONAL_KEYS
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise LabFileError(f"lab file {path}, line {key_line}: unknown key {key!r}"
                               f"{hint}; a board has {', '.join(known)}")
        if key in values:
            raise LabFileError(f"lab file {path}, line {key_line}: key {key!r} is given "
                               f"twice for this board (first at line {lines[key]})")
        try:
            values[key] = loader.construct_object(value_node, deep=True)
        except yaml.YAMLError as exc:
            raise LabFileError(f"lab file {path}, line {key_line}: {key}: {exc}") from None
        lines[key] = value_node.start_mark.line + 1
    for key in REQUIRED_KEYS:
        if key not in values:
            raise LabFileError(f"lab file {path}, line {line}: this board has no {key!r} "
                               f"(every board needs {' and '.join(REQUIRED_KEYS)})")

    def bad(key: str, what: str) -> LabFileError:
        return LabFileError(f"lab file {path}, line {lines[key]}: {key} must be {what}, "
                            f"got {values[key]!r}")

    for key in ("name", "host", "user", "key", "board", "platform", "python", "path"):
        if key in values and (not isinstance(values[key], str) or not values[key].strip()):
            raise bad(key, "a non-empty string")
    port = values.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 1 <= port <= 65535):
        raise bad("port", "a port number (1-65535)")
    options = values.get("ssh_options", [])
    if not isinstance(options, list) or not all(
            isinstance(o, str) and re.fullmatch(r"\w+[= ]\S.*", o) for o in options):
        raise bad("ssh_options", "a list of ssh options such as StrictHostKeyChecking=no")
    key_file = values.get("key")
    if key_file is not None:
        resolved = Path(os.path.expanduser(key_file))
        if not resolved.is_absolute():
            resolved = (path.parent / resolved).resolve()
        if not resolved.is_file():
            raise LabFileError(f"lab file {path}, line {lines['key']}: key {key_file}: no "
                               f"such file ({resolved})")
        key_file = str(resolved)
    dfx_board = values.get("board")
    if dfx_board is not None:
        dfx_board = _check_dfx_board(path, lines["board"], dfx_board)
    platform = values.get("platform")
    if platform is not None and platform not in PLATFORMS:
        close = difflib.get_close_matches(platform, PLATFORMS, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LabFileError(f"lab file {path}, line {lines['platform']}: platform "
                           f"{platform!r}{hint}: one of {', '.join(PLATFORMS)}")
    if platform is None:
        if dfx_board is None:
            raise LabFileError(f"lab file {path}, line {line}: board {values['name']!r} "
                               f"needs `board:` (a dfx board name, which gives the platform) "
                               f"or `platform:` ({', '.join(PLATFORMS)})")
        platform = _board_platform(dfx_board)
    return LabBoard(name=values["name"].strip(), host=values["host"].strip(),
                    user=values.get("user"), key=key_file, port=port, board=dfx_board,
                    platform=platform, python=values.get("python", DEFAULT_PYTHON),
                    path=values.get("path", DEFAULT_REMOTE_PATH),
                    ssh_options=tuple(options), line=line)


def _check_dfx_board(path: Path, line: int, name: str) -> str:
    """The registry's spelling of a dfx board name, or an error naming the line."""
    from dfx.board_registry import get_board
    from dfx.errors import ConfigError

    try:
        return get_board(name).name
    except ConfigError as exc:
        raise LabFileError(f"lab file {path}, line {line}: {exc}") from None


def _board_platform(dfx_board: str) -> str:
    from dfx.board_registry import get_board

    return "alveo" if get_board(dfx_board).is_alveo else "zynq-iodma"


# --------------------------------------------------------------------------- --dfx-target


def resolve_target(spec: str, lab: list[LabBoard] | None, lab_path: str | None) -> Target:
    """The :class:`Target` that ``--dfx-target`` names.

    ``sim``; ``lab`` (every board of the lab file); ``pynq://[user@]host[:port]`` or
    ``ssh://[user@]host[:port]`` (the lab file's board at that address, or a board of
    that name when the lab file has none); or the name of a board of the lab file.
    Raises :class:`LabFileError` (a usage error) for anything else.
    """
    spec = (spec or "sim").strip()
    if spec == "sim":
        return Target("sim")
    where = f"the lab file {lab_path}" if lab_path else "no lab file (--dfx-lab)"
    if spec == "lab":
        if not lab:
            raise LabFileError("--dfx-target lab: every board of the lab file, but there is "
                               "no lab file: give --dfx-lab FILE (or DFX_LAB)")
        return Target("lab", tuple(lab))
    url = TARGET_URL.match(spec)
    if url:
        port = int(url["port"]) if url["port"] else None
        for board in lab or ():
            if board.host == url["host"] and (port is None or (board.port or 22) == port) \
                    and (url["user"] is None or board.user == url["user"]):
                return Target(spec, (board,))
        scheme = url["scheme"]
        name = url["host"] + (f":{port}" if port else "")
        user = url["user"] or ("xilinx" if scheme == "pynq" else None)
        platform = "zynq-iodma" if scheme == "pynq" else "sim"
        # not in the lab file: no dfx board name, so builds keep their own `board`
        return Target(spec, (LabBoard(name=name, host=url["host"], user=user, port=port,
                                      platform=platform),))
    if "://" in spec:
        raise LabFileError(f"--dfx-target {spec!r}: expected sim, lab, pynq://user@host, "
                           f"ssh://user@host:port or a board name of the lab file")
    for board in lab or ():
        if board.name == spec:
            return Target(spec, (board,))
    names = [b.name for b in lab or ()]
    close = difflib.get_close_matches(spec, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise LabFileError(f"--dfx-target {spec!r}: not sim, lab, a pynq:// or ssh:// address, "
                       f"nor a board of {where}{hint}")
