"""The board registry: what dfx knows about each target board.

Every board is a YAML file (schema in ``boards/README.md``). The built-in files
ship in the ``dfx.boards`` package; users add or replace boards by dropping
files of their own into a folder named in ``$DFX_BOARD_PATH`` or into
``<user config dir>/dfx/boards``, no code needed. Later folders override
earlier ones when two files describe the same (normalised) board name.

Board names are matched case-insensitively, with ``-``, ``_`` and spaces
treated as the same character, and through each board's ``aliases``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfx.errors import ConfigError

__all__ = [
    "RESOURCE_KEYS",
    "SHELL_FLOW_TYPES",
    "Board",
    "board_dirs",
    "board_for_part",
    "boards_for_part",
    "clear_cache",
    "format_boards_table",
    "get_board",
    "load_boards",
    "normalise_board_name",
    "part_matches_board",
]

#: Resource kinds every board declares, in display order.
RESOURCE_KEYS: tuple[str, ...] = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")

#: Shell flows a board can use.
SHELL_FLOW_TYPES: frozenset[str] = frozenset({"vivado_zynq", "vitis_alveo"})

#: Values Yosys' ``synth_xilinx -family`` accepts.
YOSYS_FAMILIES: frozenset[str] = frozenset(
    {"xcup", "xcu", "xc7", "xc6v", "xc5v", "xc4v", "xc6s", "xc3sda", "xc3sa", "xc3se",
     "xc3s", "xc2vp", "xc2v", "xcve", "xcv"}
)

#: Processing-system kinds: ps7 (Zynq-7000), ps8 (Zynq UltraScale+ MPSoC/RFSoC).
PS_TYPES: frozenset[str] = frozenset({"ps7", "ps8"})

BOARD_PATH_ENV = "DFX_BOARD_PATH"

_REQUIRED_KEYS = ("name", "part", "family", "yosys_family", "shell_flow_type",
                  "default_clk_ns", "resources")
_OPTIONAL_KEYS = ("aliases", "board_part", "ps", "platform", "description")
_KNOWN_KEYS = frozenset(_REQUIRED_KEYS + _OPTIONAL_KEYS)

_SEPARATORS = re.compile(r"[-_\s]+")


@dataclass(frozen=True)
class Board:
    """One target board, as read from its YAML file."""

    name: str
    aliases: tuple[str, ...]
    part: str
    board_part: str | None
    family: str
    yosys_family: str | None
    shell_flow_type: str
    default_clk_ns: float
    resources: dict[str, int] = field(hash=False)
    ps: dict[str, str] | None = field(hash=False)
    platform: str | None
    description: str
    source: Path

    @property
    def key(self) -> str:
        """The normalised name used for matching and overriding."""
        return normalise_board_name(self.name)

    @property
    def is_zynq(self) -> bool:
        return self.shell_flow_type == "vivado_zynq"

    @property
    def is_alveo(self) -> bool:
        return self.shell_flow_type == "vitis_alveo"


def normalise_board_name(name: str) -> str:
    """Lower-case ``name`` and make ``-``, ``_`` and whitespace the same character."""
    return _SEPARATORS.sub("_", name.strip().lower())


# --------------------------------------------------------------------------- folders


def _builtin_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("dfx.boards")))


def _user_config_boards_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("dfx")) / "boards"


def board_dirs() -> list[Path]:
    """Folders searched for board files, lowest precedence first.

    The built-in ``dfx.boards`` folder, then each folder of ``$DFX_BOARD_PATH``
    (``os.pathsep``-separated, empty entries ignored), then
    ``platformdirs.user_config_dir("dfx")/boards`` if that folder exists.
    """
    dirs = [_builtin_dir()]
    for entry in os.environ.get(BOARD_PATH_ENV, "").split(os.pathsep):
        entry = entry.strip()
        if entry:
            dirs.append(Path(entry).expanduser())
    user_dir = _user_config_boards_dir()
    if user_dir.is_dir():
        dirs.append(user_dir)
    return dirs


# --------------------------------------------------------------------------- loading

# cache key (dirs + the name/mtime/size of every board file in them) -> boards
_CACHE: dict[tuple, dict[str, Board]] = {}


def clear_cache() -> None:
    """Forget every loaded board set (they are re-read on next use)."""
    _CACHE.clear()


def _board_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file()
    )


def _resolve_dirs(extra_dirs: Iterable[str | os.PathLike]) -> list[Path]:
    dirs = board_dirs()
    if isinstance(extra_dirs, (str, os.PathLike)):
        extra_dirs = (extra_dirs,)
    for d in extra_dirs:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise ConfigError(f"board folder {str(p)!r} does not exist or is not a folder")
        dirs.append(p)
    return dirs


def load_boards(extra_dirs: Iterable[str | os.PathLike] = ()) -> dict[str, Board]:
    """Every known board, by canonical name.

    ``extra_dirs`` come after :func:`board_dirs` (so they override everything).
    Folders that do not exist (e.g. a stale ``$DFX_BOARD_PATH`` entry) are skipped.
    Results are cached per set of folders and invalidated when a file changes.
    """
    listing: list[tuple[Path, list[Path]]] = []
    signature: list[Any] = []
    for d in _resolve_dirs(extra_dirs):
        try:
            files = _board_files(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError(f"cannot read board folder {str(d)!r}: {exc}") from exc
        listing.append((d, files))
        signature.append(str(d))
        for f in files:
            st = f.stat()
            signature.append((f.name, st.st_mtime_ns, st.st_size))
    key = tuple(signature)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _load(listing)
        _CACHE[key] = cached
    return dict(cached)


def _load(listing: list[tuple[Path, list[Path]]]) -> dict[str, Board]:
    by_key: dict[str, Board] = {}
    for _directory, files in listing:
        seen_here: dict[str, Path] = {}
        for path in files:
            board = _read_board_file(path)
            k = board.key
            if k in seen_here:
                raise ConfigError(
                    f"board files {str(seen_here[k])!r} and {str(path)!r} both define "
                    f"board {board.name!r}"
                )
            seen_here[k] = path
            by_key.pop(k, None)  # a later folder replaces the whole board
            by_key[k] = board
    _check_aliases(by_key.values())
    return {b.name: b for b in sorted(by_key.values(), key=lambda b: b.key)}


def _check_aliases(boards: Iterable[Board]) -> None:
    names = {b.key: b for b in boards}
    owner: dict[str, Board] = {}
    for b in names.values():
        for alias in b.aliases:
            a = normalise_board_name(alias)
            if a == b.key or a in names:
                # an alias equal to its own name is harmless; one equal to another
                # board's name is shadowed by that name (names win)
                continue
            other = owner.get(a)
            if other is not None and other is not b:
                raise ConfigError(
                    f"board alias {alias!r} is claimed by both {other.name!r} "
                    f"({other.source}) and {b.name!r} ({b.source})"
                )
            owner[a] = b


def _yaml_loader():
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_board_file(path: Path) -> Board:
    yaml, loader = _yaml_loader()
    where = f"board file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from exc
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {_kind(data)}")
    return _board_from_mapping(data, path, where)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def _bad(where: str, key: str, what: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}: key {key!r}: expected {what}, got {value!r}")


def _str(data: Mapping, key: str, where: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, key, "a non-empty string", value)
    return value.strip()


def _board_from_mapping(data: dict, path: Path, where: str) -> Board:
    unknown = sorted(str(k) for k in data if k not in _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(_KNOWN_KEYS))})"
        )
    for key in _REQUIRED_KEYS:
        if key not in data:
            raise ConfigError(f"{where}: missing required key {key!r}")

    name = _str(data, "name", where)
    part = _str(data, "part", where)
    family = _str(data, "family", where)
    board_part = _str(data, "board_part", where, optional=True)

    aliases_raw = data.get("aliases")
    if aliases_raw is None:
        aliases_raw = []
    if not isinstance(aliases_raw, list) or not all(
        isinstance(a, str) and a.strip() for a in aliases_raw
    ):
        raise _bad(where, "aliases", "a list of non-empty strings", aliases_raw)
    aliases = tuple(a.strip() for a in aliases_raw)

    # null: Yosys has no family for the part (Versal); out-of-context synthesis then
    # needs Vivado, and says so
    yosys_family = _str(data, "yosys_family", where, optional=True)
    if yosys_family is not None and yosys_family not in YOSYS_FAMILIES:
        raise _bad(where, "yosys_family",
                   "a Yosys synth_xilinx -family value (xc7, xcu, xcup, ...)", yosys_family)

    flow = _str(data, "shell_flow_type", where)
    if flow not in SHELL_FLOW_TYPES:
        raise _bad(where, "shell_flow_type", " or ".join(sorted(SHELL_FLOW_TYPES)), flow)

    clk = data.get("default_clk_ns")
    if isinstance(clk, bool) or not isinstance(clk, (int, float)) or not math.isfinite(clk) \
            or clk <= 0:
        raise _bad(where, "default_clk_ns", "a positive number of nanoseconds", clk)

    res_raw = data.get("resources")
    if not isinstance(res_raw, dict):
        raise _bad(where, "resources", f"a mapping with keys {', '.join(RESOURCE_KEYS)}", res_raw)
    extra = sorted(str(k) for k in res_raw if k not in RESOURCE_KEYS)
    if extra:
        raise ConfigError(
            f"{where}: key 'resources.{extra[0]}': unknown resource "
            f"(known: {', '.join(RESOURCE_KEYS)})"
        )
    resources: dict[str, int] = {}
    for rk in RESOURCE_KEYS:
        if rk not in res_raw:
            raise ConfigError(f"{where}: missing required key 'resources.{rk}'")
        v = res_raw[rk]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _bad(where, f"resources.{rk}", "a non-negative integer", v)
        resources[rk] = v

    ps_raw = data.get("ps")
    ps: dict[str, str] | None = None
    if ps_raw is not None:
        if not isinstance(ps_raw, dict) or set(ps_raw) != {"type", "name"}:
            raise _bad(where, "ps", "a mapping with keys type and name", ps_raw)
        ps_type = _str(ps_raw, "type", where + " (in 'ps')")
        if ps_type not in PS_TYPES:
            raise _bad(where, "ps.type", " or ".join(sorted(PS_TYPES)), ps_type)
        ps = {"type": ps_type, "name": _str(ps_raw, "name", where + " (in 'ps')")}
    platform = _str(data, "platform", where, optional=True)

    if flow == "vivado_zynq" and ps is None:
        raise ConfigError(f"{where}: missing required key 'ps' (needed by shell_flow_type "
                          f"vivado_zynq)")
    if flow == "vitis_alveo" and platform is None:
        raise ConfigError(f"{where}: missing required key 'platform' (needed by "
                          f"shell_flow_type vitis_alveo)")

    desc = data.get("description")
    if desc is None:
        desc = ""
    if not isinstance(desc, str):
        raise _bad(where, "description", "a string", desc)

    return Board(
        name=name,
        aliases=aliases,
        part=part,
        board_part=board_part,
        family=family,
        yosys_family=yosys_family,
        shell_flow_type=flow,
        default_clk_ns=float(clk),
        resources=resources,
        ps=ps,
        platform=platform,
        description=desc.strip(),
        source=path,
    )


# --------------------------------------------------------------------------- lookup


def _lookup_table(boards: Mapping[str, Board]) -> dict[str, Board]:
    table: dict[str, Board] = {}
    for b in boards.values():
        for alias in b.aliases:
            table.setdefault(normalise_board_name(alias), b)
    for b in boards.values():  # names win over aliases
        table[b.key] = b
    return table


def get_board(name: str, extra_dirs: Iterable[str | os.PathLike] = ()) -> Board:
    """The board called ``name`` (any case; ``-``/``_``/space alike; or an alias).

    Raises :class:`~dfx.errors.ConfigError` for an unknown name, suggesting the
    closest known board.
    """
    if isinstance(name, Board):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"board name must be a non-empty string, got {name!r}")
    boards = load_boards(extra_dirs)
    table = _lookup_table(boards)
    board = table.get(normalise_board_name(name))
    if board is not None:
        return board
    close = difflib.get_close_matches(normalise_board_name(name), list(table), n=1, cutoff=0.6)
    hint = f"; did you mean {table[close[0]].name!r}?" if close else ""
    raise ConfigError(f"unknown board {name!r}{hint} (dfx boards lists them)")


def _norm_part(part: str) -> str:
    return part.strip().lower()


def part_matches_board(part: str, board: Board | str) -> bool:
    """True if ``part`` is ``board``'s part number (case-insensitive)."""
    if not isinstance(part, str):
        return False
    if not isinstance(board, Board):
        board = get_board(board)
    return _norm_part(part) == _norm_part(board.part)


def boards_for_part(part: str, extra_dirs: Iterable[str | os.PathLike] = ()) -> list[Board]:
    """Every board built on ``part`` (case-insensitive), in name order."""
    return [b for b in load_boards(extra_dirs).values() if part_matches_board(part, b)]


def board_for_part(part: str, extra_dirs: Iterable[str | os.PathLike] = ()) -> Board | None:
    """A board built on ``part``, or None.

    Several boards may share a part (Pynq-Z1/Pynq-Z2, ZCU111/RFSoC2x2); then the
    first in name order is returned. Their device resources are the same; use
    :func:`boards_for_part` to see them all.
    """
    matches = boards_for_part(part, extra_dirs)
    return matches[0] if matches else None


# --------------------------------------------------------------------------- display


def format_boards_table(boards: Mapping[str, Board] | Iterable[Board]) -> str:
    """A plain-text table of ``boards`` for ``dfx boards``."""
    items = list(boards.values()) if isinstance(boards, Mapping) else list(boards)
    header = ["name", "part", "flow", "clock ns", *RESOURCE_KEYS]
    rows = [
        [b.name, b.part, b.shell_flow_type, str(b.default_clk_ns),
         *(str(b.resources[k]) for k in RESOURCE_KEYS)]
        for b in items
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = 3  # name, part, flow are text; the rest are numbers

    def line(cells: list[str]) -> str:
        out = [c.ljust(w) if i < left else c.rjust(w)
               for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in rows]
    return "\n".join(lines) + "\n"
