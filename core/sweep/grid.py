"""The grid of a sweep: which configuration keys take which values.

A grid is written as ``key=values`` items (``dfx sweep --grid``) or as a YAML/JSON file
mapping keys to values. The values of one key are

* a list: ``board=Pynq-Z2,ZCU104,U250`` (a list-typed key takes bracketed items:
  ``generate_outputs=[estimate_reports],[estimate_reports,stitched_ip]``);
* a range ``START..STOP:log:N`` (N values spaced evenly on a log scale, both ends
  included), ``START..STOP:lin:N`` (evenly spaced) or ``START..STOP:step:S`` (START,
  START+S, ... up to STOP); for integer keys ``START..STOP`` alone steps by 1. Values of
  an integer key are rounded, and repeats dropped;
* one value.

Each text value is converted to its key's type by the configuration's own parser
(:func:`dfx.config.coerce_cli_value`), so an unknown key gets the configuration's "did you
mean" message and a bad value the message of its key, before anything runs. This module
imports only the standard library and :mod:`dfx.config`.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path

from dfx.errors import ConfigError

#: more points than this is almost certainly a typo in a range (``:log:1000``)
MAX_POINTS = 100_000

RANGE_KINDS = ("log", "lin", "step")


@dataclass(frozen=True)
class GridAxis:
    """One swept key and its values, in order (typed as the configuration key)."""

    key: str
    values: tuple
    source: str  # how to name the axis in messages: "--grid target_fps=..." or the file


def _split_items(text: str) -> list[str]:
    """Split at commas that are not inside brackets: ``[a,b],[c]`` -> ``[a,b]``, ``[c]``."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {text!r} is not a finite number")
    return value


def _range_values(key: str, text: str, base_type, where: str) -> list:
    """The values of ``START..STOP[:KIND:ARG]`` for a key of type ``base_type``."""
    bounds, _, spec = text.partition(":")
    start_text, _, stop_text = bounds.partition("..")
    start, stop = _number(start_text, where), _number(stop_text, where)
    kind, _, arg = spec.partition(":")
    if not spec:
        if base_type is not int:
            raise ConfigError(f"{where}: say how to step from {start_text} to {stop_text}: "
                              f"{key}={bounds}:log:N, :lin:N or :step:S")
        kind, arg = "step", "1"
    if kind not in RANGE_KINDS:
        raise ConfigError(f"{where}: unknown range kind {kind!r}; use log, lin or step "
                          f"(for example {key}=1e3..1e6:log:10)")
    if kind in ("log", "lin"):
        try:
            count = int(arg)
        except ValueError:
            raise ConfigError(f"{where}: the number of values {arg!r} is not an integer"
                              ) from None
        if count < 1:
            raise ConfigError(f"{where}: the number of values must be at least 1, got {count}")
        if count > MAX_POINTS:
            raise ConfigError(f"{where}: {count} values is more than a sweep takes "
                              f"({MAX_POINTS})")
        if kind == "log":
            if start <= 0 or stop <= 0:
                raise ConfigError(f"{where}: a log range needs positive ends, got "
                                  f"{start_text}..{stop_text}")
            lo, hi = math.log(start), math.log(stop)
            values = [math.exp(lo + (hi - lo) * i / (count - 1)) if count > 1 else start
                      for i in range(count)]
            values[-1] = stop if count > 1 else start  # exact ends, not exp(log(x))
            values[0] = start
        else:
            values = [start + (stop - start) * i / (count - 1) if count > 1 else start
                      for i in range(count)]
    else:
        step = _number(arg, where)
        if step <= 0:
            raise ConfigError(f"{where}: the step must be > 0, got {arg}")
        if stop < start:
            raise ConfigError(f"{where}: {stop_text} is below {start_text}")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_POINTS:
            raise ConfigError(f"{where}: {count} values is more than a sweep takes "
                              f"({MAX_POINTS})")
        values = [start + i * step for i in range(count)]
    if base_type is int:
        values = [int(round(v)) for v in values]
    return list(dict.fromkeys(values))  # order kept, repeats (rounded integers) dropped


def _unknown_key(key: str, source: str, extra_fields) -> None:
    """Raise the configuration's own error for a key it does not know ("did you mean")."""
    from dfx.config import make_config

    make_config({key: None}, extra_fields=extra_fields, source=source)
    raise ConfigError(f"{source}: unknown key {key!r}")  # not reached: make_config raised


def _parse_values(key: str, text: str, where: str, extra_fields) -> list:
    """The typed values of one key from its text (a list, a range or one value)."""
    from dfx.config import coerce_cli_value, key_type

    base_type = key_type(key, extra_fields)
    if base_type is None:
        _unknown_key(key, "--grid", extra_fields)
    text = text.strip()
    if not text:
        raise ConfigError(f"{where}: no values given (for example {key}=A,B or a range)")
    if base_type in (int, float) and ".." in text:
        return _range_values(key, text, base_type, where)
    values = []
    for item in _split_items(text):
        try:
            values.append(coerce_cli_value(key, item, extra_fields))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return values


def parse_grid_item(item: str, extra_fields=()) -> GridAxis:
    """``key=values`` (from ``--grid``) as a :class:`GridAxis`; ConfigError naming the item."""
    where = f"--grid {item!r}"
    key, sep, text = item.partition("=")
    key = key.strip().lstrip("-").replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"{where}: expected KEY=VALUES (for example target_fps=1e3..1e6:log:10 "
                          f"or board=Pynq-Z2,ZCU104), or a YAML file of them")
    try:
        values = _parse_values(key, text, where, extra_fields)
    except ConfigError as exc:
        if str(exc).startswith(where):
            raise
        raise ConfigError(f"{where}: {exc}") from None
    return GridAxis(key, tuple(values), where)


def load_grid_file(path: str | os.PathLike, extra_fields=()) -> list[GridAxis]:
    """The axes of a grid file: a YAML or JSON mapping of key to a list of values, a range
    string, or one value. Typed list items are checked later, with the whole point."""
    from dfx.config import coerce_cli_value, key_type, load_config_file

    name = os.fspath(path)
    data = load_config_file(name)  # the same reading and messages as --config
    axes = []
    for key, value in data.items():
        where = f"grid file {name}, key {key!r}"
        key = str(key).replace("-", "_")
        base_type = key_type(key, extra_fields)
        if base_type is None:
            _unknown_key(key, f"grid file {name}", extra_fields)
        if isinstance(value, str):
            values = _parse_values(key, value, where, extra_fields)
        else:
            # a list is the key's values, except a flat list for a list-typed key: one value
            one_list = base_type is list and not any(isinstance(v, list) for v in value or [])
            items = value if isinstance(value, list) and not one_list else [value]
            values = [coerce_cli_value(key, v, extra_fields) if isinstance(v, str) else v
                      for v in items]
        if not values:
            raise ConfigError(f"{where}: no values")
        axes.append(GridAxis(key, tuple(values), where))
    return axes


def parse_grid(items: list[str], extra_fields=()) -> list[GridAxis]:
    """The axes of ``--grid`` items; an item naming a file (no ``=``) is read as a grid file.
    A key given twice is an error naming both places."""
    axes: list[GridAxis] = []
    for item in items:
        if "=" not in item and (Path(item).suffix.lower() in (".yaml", ".yml", ".json")
                                or Path(item).is_file()):
            axes.extend(load_grid_file(item, extra_fields))
        else:
            axes.append(parse_grid_item(item, extra_fields))
    seen: dict[str, GridAxis] = {}
    for axis in axes:
        if axis.key in seen:
            raise ConfigError(f"{axis.source}: key {axis.key!r} is swept twice (also by "
                              f"{seen[axis.key].source})")
        seen[axis.key] = axis
    return axes


def expand_grid(axes: list[GridAxis]) -> list[dict]:
    """Every combination of the axes' values, the first axis varying slowest; one empty
    point for an empty grid."""
    total = math.prod(len(axis.values) for axis in axes)
    if total > MAX_POINTS:
        raise ConfigError(f"the grid has {total:,} points, more than a sweep takes "
                          f"({MAX_POINTS:,}); " + " x ".join(
                              f"{len(a.values)} {a.key}" for a in axes))
    keys = [axis.key for axis in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(a.values for a in axes))]
