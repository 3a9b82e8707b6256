"""Render the Tcl scripts, v++ configs and HLS sources dfx hands to Vivado and Vitis.

Values reach a Tcl script only as quoted words: :func:`tcl_quote` turns any
string into one Tcl word that evaluates to exactly that string, and the Tcl
templates refuse to print a value that did not go through the ``tcl``,
``tcl_list``, ``tcl_path`` or ``tcl_paths`` filter (see :func:`render`).
Paths to the files dfx writes are relative to the script (:func:`tcl_path`),
so a folder of scripts and their files can move as a whole.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any

import jinja2

__all__ = ["HERE_VARIABLE", "TEMPLATES_DIR", "TclWord", "render", "tcl_list", "tcl_path",
           "tcl_paths", "tcl_quote"]

#: The Tcl variable in which every Tcl template keeps the folder of its own
#: script (``set dfx_here [file dirname [file normalize [info script]]]``);
#: :func:`tcl_path` writes relative paths against it.
HERE_VARIABLE = "dfx_here"

#: The folder the templates ship in (package data of ``dfx.tcl``).
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Characters that end or transform a Tcl word, escaped with a backslash.
_SPECIAL = frozenset(' ;$[]{}"\\#')
# Control characters with a short Tcl backslash sequence. A backslash before a
# literal newline would be a line continuation (it becomes a space), so line
# breaks must be written as escapes, never as ``\`` + newline.
_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\v": "\\v", "\f": "\\f",
                  "\b": "\\b", "\a": "\\a"}


class TclWord(str):
    """A string that is already one quoted Tcl word (or a list of them)."""

    __slots__ = ()


def _as_text(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        return str(value)  # StrictUndefined raises the "undefined" error here
    if isinstance(value, bool):  # before int: bool is an int
        return "1" if value else "0"
    if isinstance(value, PurePath):
        # Forward slashes are valid Tcl paths on every platform Vivado runs on.
        return value.as_posix()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} into a Tcl script")
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write a {type(value).__name__} into a Tcl script: {value!r}")


def _escape_char(ch: str) -> str:
    if ch in _SPECIAL:
        return "\\" + ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    # Other control characters and everything outside ASCII become \u
    # escapes, so the script reads the same whatever encoding Vivado assumes.
    if code < 0x20 or 0x7F <= code <= 0xFFFF:
        return f"\\u{code:04x}"
    if code > 0xFFFF:
        # Tcl 8.6 keeps text as UTF-16: a surrogate pair is how it holds (and
        # hands back) a character beyond the BMP; its \U escape is lossy.
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return ch


def tcl_quote(value: Any) -> TclWord:
    """Return one Tcl word that evaluates to exactly ``value`` as a string.

    Accepts ``str``, paths (written with forward slashes), ``int``, finite
    ``float`` and ``bool`` (``1``/``0``). Every character that Tcl would
    interpret (white space, ``;`` ``$`` ``[`` ``]`` ``{`` ``}`` ``"`` ``\\``
    ``#``) is backslash-escaped, control and non-ASCII characters become
    escape sequences, and the empty string is ``{}``. The word is also a valid
    one-element list, so the result works both as a command argument and
    inside a list literal.
    """
    text = _as_text(value)
    if text == "":
        return TclWord("{}")
    return TclWord("".join(_escape_char(ch) for ch in text))


def tcl_list(values: Iterable[Any]) -> TclWord:
    """Return the Tcl list whose elements are exactly ``values``.

    The result is the quoted words separated by spaces: use it as the
    arguments of ``[list ...]`` or as a list literal in braces. A string is
    refused (it is almost always a single value passed by mistake).
    """
    if isinstance(values, str | bytes | PurePath):
        raise TypeError(f"tcl_list wants an iterable of values, not {values!r}")
    return TclWord(" ".join(tcl_quote(v) for v in values))


def tcl_path(value: Any) -> TclWord:
    """Return one Tcl word that evaluates to the path ``value`` when the script runs.

    An absolute path is quoted as it is (:func:`tcl_quote`). A relative path
    is relative to the folder of the script: it becomes
    ``[file join $dfx_here <quoted path>]`` (see :data:`HERE_VARIABLE`),
    under ``file normalize`` when it climbs out of that folder (``..``) so
    that Vivado sees and reports a clean absolute path; ``.`` is
    ``$dfx_here`` itself. The word works as a command argument and inside
    ``[list ...]``, not inside a braced list literal.
    """
    text = _as_text(value)
    if text == "":
        raise ValueError("an empty path cannot be written into a Tcl script")
    if os.path.isabs(text):
        return tcl_quote(text)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        return TclWord("$" + HERE_VARIABLE)
    if parts[0].startswith("~"):
        # `file join` would take a leading ~name for a home folder
        parts.insert(0, ".")
    word = f"[file join ${HERE_VARIABLE} {tcl_quote('/'.join(parts))}]"
    if ".." in parts:
        word = f"[file normalize {word}]"
    return TclWord(word)


def tcl_paths(values: Iterable[Any]) -> TclWord:
    """Return :func:`tcl_path` of each of ``values``, separated by spaces.

    Use it as the arguments of ``[list ...]`` (the relative paths are command
    substitutions, so never inside a braced list literal).
    """
    if isinstance(values, str | bytes | PurePath):
        raise TypeError(f"tcl_paths wants an iterable of paths, not {values!r}")
    return TclWord(" ".join(tcl_path(v) for v in values))


def _check_quoted(value: Any) -> Any:
    """``finalize`` of the Tcl environment: only quoted words may be printed."""
    if isinstance(value, TclWord):
        return value
    raise jinja2.TemplateError(
        f"a Tcl template printed {value!r} without the |tcl, |tcl_list, |tcl_path or "
        "|tcl_paths filter")


def _is_tcl_template(name: str) -> bool:
    return name.endswith((".tcl.j2", ".xdc.j2"))


@functools.cache
def _environment(tcl: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_check_quoted if tcl else None,
    )
    env.filters["tcl"] = tcl_quote
    env.filters["tcl_list"] = tcl_list
    env.filters["tcl_path"] = tcl_path
    env.filters["tcl_paths"] = tcl_paths
    return env


def render(template_name: str, **context: Any) -> str:
    """Render ``templates/<template_name>`` with ``context``.

    Undefined names are errors. In Tcl templates (``*.tcl.j2``, ``*.xdc.j2``)
    every ``{{ ... }}`` must end in ``|tcl``, ``|tcl_list``, ``|tcl_path`` or
    ``|tcl_paths``; printing any
    other value raises :class:`jinja2.TemplateError`, so a value can never
    reach a script unquoted. Other templates (v++ configs, C++) are plain.
    """
    env = _environment(_is_tcl_template(template_name))
    return env.get_template(template_name).render(**context)
