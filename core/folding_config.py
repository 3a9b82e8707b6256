"""``folding_config_file``: FINN's per-layer folding JSON, read and checked.

It is checked twice, so that a mistake costs no build time:

* :func:`preflight_folding_config` before the first step, without the model:
  the file exists and parses, its shape is FINN's (an object of objects), every
  attribute is one that a registered layer kind knows, and every value has the
  right type and range (PE and SIMD positive integers, FIFO depths >= 1, ...);
* :func:`check_layer_value`, where the layers exist (``step_apply_folding_config``):
  the same value checks with the layer's dimensions (PE divides MH, ...), and
  the layer names against the model.

Both raise :class:`dfx.errors.ConfigError` (exit code 2) with messages that
name the file, the layer and the key.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfx.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from dfx.layers import HWLayer, LayerRegistry

#: Attributes that fold a layer: each must divide one of the layer's dimensions.
PARALLEL_ATTRIBUTES = ("PE", "SIMD")
#: FIFO depths, FINN's list of one depth per stream (per input or output port).
FIFO_ATTRIBUTES = ("inFIFODepths", "outFIFODepths")
#: FINN attributes a folding config may carry that dfx accepts and ignores.
IGNORED_ATTRIBUTES = ("depth_trigger_uram", "depth_trigger_bram")

#: The dimension each parallel attribute divides, for dfx's own kinds. A plugin's kind
#: may declare its own as a class attribute ``folding_dimensions = {"PE": "NumChannels"}``.
_DIMENSIONS = {"MVAU": {"PE": "MH", "SIMD": "MW"}, "Thresholding": {"PE": "NumChannels"}}
#: The values of string attributes, for dfx's own kinds (``folding_choices`` on a kind).
_CHOICES = {
    "MVAU": {"ram_style": ("auto", "distributed", "block", "ultra"),
             "resType": ("auto", "lut", "dsp")},
    "Thresholding": {"ram_style": ("auto", "distributed", "block")},
}

# FINN names its layers after specialisation ("MVAU_hls_0", "MVAU_rtl_0") or by their
# long names in older releases; dfx accepts those keys for its own layers.
FINN_ALIASES = [
    (re.compile(r"^(MVAU|Thresholding|VVAU|ConvolutionInputGenerator|StreamingMaxPool"
                r"|GlobalAccPool)_(?:hls|rtl)_(\d+)$"), r"\1_\2"),
    (re.compile(r"^MatrixVectorActivation_(\d+)$"), r"MVAU_\1"),
    (re.compile(r"^VectorVectorActivation_(\d+)$"), r"VVAU_\1"),
    (re.compile(r"^(ConvolutionInputGenerator)(?:1D)?_(\d+)$"), r"\1_\2"),
    (re.compile(r"^StreamingMaxPool_Batch_(\d+)$"), r"StreamingMaxPool_\1"),
    (re.compile(r"^Thresholding_Batch_(\d+)$"), r"Thresholding_\1"),
]
#: Kinds a FINN folding config may name that dfx's estimate flow does not have (yet).
#: (dfx folds FINN's FMPadding into the window generator: an FMPadding entry has no layer.)
FINN_ONLY_PREFIXES = ("StreamingFIFO", "StreamingDataWidthConverter", "FMPadding",
                      "LabelSelect", "StreamingDataflowPartition")


def layer_name(key: str) -> str:
    """The dfx layer name a folding-config key stands for (FINN's aliases undone)."""
    for pattern, repl in FINN_ALIASES:
        key = pattern.sub(repl, key)
    return key


def read_folding_config(path: str | Path) -> dict:
    """The parsed file: a JSON object, or a :class:`ConfigError` naming the file."""
    path = Path(path)
    where = f"folding_config_file {path}"
    if path.is_dir():
        raise ConfigError(f"{where}: is a folder, not a JSON file")
    if not path.exists():
        raise ConfigError(f"{where}: the file does not exist")
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: is not a text file (JSON expected)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: is not valid JSON (line {exc.lineno}, column "
                          f"{exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must hold a JSON object of layers, e.g. "
                          f'{{"MVAU_0": {{"PE": 4, "SIMD": 8}}}}, not a {_json_kind(data)}')
    return data


def _json_kind(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "object", list: "list", str: "string", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def _as_integer(value) -> int | None:
    """``value`` as an int if it is one (JSON 4 or 4.0), else None (``True`` is no integer)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def choices_of(kind: type[HWLayer]) -> dict[str, tuple[str, ...]]:
    """The values each of ``kind``'s string attributes may take (may be empty)."""
    declared = getattr(kind, "folding_choices", None)
    return dict(declared) if declared else dict(_CHOICES.get(kind.op_type, {}))


def dimensions_of(kind: type[HWLayer]) -> dict[str, str]:
    """Which attribute each of ``kind``'s parallel attributes divides (may be empty)."""
    declared = getattr(kind, "folding_dimensions", None)
    return dict(declared) if declared else dict(_DIMENSIONS.get(kind.op_type, {}))


def check_value(attr: str, value: Any, kinds: list[type[HWLayer]],
                layer: HWLayer | None = None) -> str | None:
    """Why ``value`` is not valid for ``attr`` (of any of ``kinds``), or None.

    With ``layer``, parallel attributes must also divide the layer's dimension.
    The reason reads after ``<layer>.<attr>``: ``must be a positive integer ...``.
    """
    if attr in PARALLEL_ATTRIBUTES:
        dims = {dimensions_of(k).get(attr) for k in kinds} - {None}
        number = _as_integer(value)
        if layer is not None and len(dims) == 1:
            dim = dims.pop()
            size = int(layer.get(dim))
            if number is None or number < 1 or size % number:
                return f"must be a positive integer that divides {dim}={size}, got {value!r}"
            return None
        if number is None or number < 1:
            which = f" that divides {' or '.join(sorted(dims))}" if dims else ""
            return f"must be a positive integer{which}, got {value!r}"
        return None
    if attr in FIFO_ATTRIBUTES:
        # one depth per stream: per input port (inFIFODepths) or output port. Without
        # the layer, a kind's default says how many streams it has (at most).
        if layer is not None:
            streams = layer.stream_inputs() if attr == "inFIFODepths" else \
                layer.stream_outputs()
            ports = max(1, len(streams))
        else:
            defaults = [k.attributes[attr][1] for k in kinds if attr in k.attributes]
            ports = 1 if defaults and all(len(d) == 1 for d in defaults) else None
        if not (isinstance(value, list) and value and (ports is None or len(value) <= ports)
                and all((_as_integer(v) or 0) >= 1 for v in value)):
            what = "a list of one depth >= 1, e.g. [32]" if ports == 1 else \
                "a list of depths >= 1, one per stream, e.g. [32, 32]"
            return f"must be {what}, got {json.dumps(value)}"
        return None
    types = {k.attributes[attr][0] for k in kinds if attr in k.attributes}
    if not types:
        return None
    if int in types and _as_integer(value) is not None:
        return None
    if float in types and isinstance(value, int | float) and not isinstance(value, bool):
        return None
    if str in types and isinstance(value, str):
        allowed = [choices_of(k).get(attr) for k in kinds]
        if None in allowed or value in {c for choice in allowed for c in choice}:
            return None
        options = sorted({c for choice in allowed for c in choice})
        return f"must be one of {', '.join(options)}, got {value!r}"
    if list in types and isinstance(value, list):
        return None
    wanted = " or ".join(sorted({int: "an integer", float: "a number", str: "a string",
                                 list: "a list"}.get(t, t.__name__) for t in types))
    return f"must be {wanted}, got {json.dumps(value)}"


def split_default(spec: Any) -> tuple[Any, list[str] | None]:
    """A ``Defaults`` entry as (value, op types or None for all kinds).

    FINN writes ``"attr": [value, ["OpType", ...]]`` or ``[value, "all"]``; dfx also
    takes a bare ``"attr": value``.
    """
    if isinstance(spec, list) and len(spec) == 2:
        if spec[1] == "all":
            return spec[0], None
        if isinstance(spec[1], list) and all(isinstance(k, str) for k in spec[1]):
            return spec[0], list(spec[1])
    return spec, None


def _kind_of_name(name: str, kinds: list[type[HWLayer]]) -> type[HWLayer] | None:
    for kind in kinds:
        if re.fullmatch(re.escape(kind.op_type) + r"_\d+", name):
            return kind
    return None


def _unknown_attr(where: str, attr: str, names: list[str]) -> str:
    # a low cutoff: the names are short ("PF" for "PE")
    close = difflib.get_close_matches(attr, names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{where}.{attr} is not a folding attribute{hint} (known: {', '.join(names)})"


def preflight_folding_config(path: str | Path, layer_kinds: LayerRegistry) -> dict:
    """Check ``folding_config_file`` as far as can be done without the model.

    Returns the parsed file; raises :class:`ConfigError` listing every problem.
    """
    data = read_folding_config(path)
    kinds = list(layer_kinds)
    folding_names = sorted({a for k in kinds for a in k.folding_attributes})
    problems: list[str] = []

    defaults = data.get("Defaults", {})
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, dict):
        problems.append(f"Defaults must be an object of attributes, got {json.dumps(defaults)}")
        defaults = {}
    for attr, spec in defaults.items():
        value, ops = split_default(spec)
        applies = [k for k in kinds if attr in k.folding_attributes and (
            ops is None or {k.op_type, f"{k.op_type}_hls", f"{k.op_type}_rtl"} & set(ops))]
        if not any(attr in k.folding_attributes for k in kinds):
            problems.append(_unknown_attr("Defaults", attr, folding_names))
            continue
        why = check_value(attr, value, applies) if applies else None
        if why:
            problems.append(f"Defaults.{attr} {why}")

    for key, values in data.items():
        if key == "Defaults":
            continue
        name = layer_name(key)
        kind = _kind_of_name(name, kinds)
        if kind is None and key.startswith(FINN_ONLY_PREFIXES):
            continue  # FINN's own kinds: ignored with a warning when the layers are known
        if not isinstance(values, dict):
            problems.append(f"{key} must map to an object of attributes such as "
                            f'{{"PE": 4}}, got {json.dumps(values)}')
            continue
        candidates = [kind] if kind is not None else kinds
        for attr, value in values.items():
            known = [k for k in candidates if attr in k.attributes]
            if not known and attr not in IGNORED_ATTRIBUTES:
                names = sorted({a for k in candidates for a in k.folding_attributes})
                problems.append(_unknown_attr(key, attr, names))
                continue
            folding = [k for k in known if attr in k.folding_attributes]
            why = check_value(attr, value, folding) if folding else None
            if why:
                problems.append(f"{key}.{attr} {why}")
    if problems:
        raise folding_config_error(path, problems)
    return data


def folding_config_error(path: str | Path, problems: list[str]) -> ConfigError:
    """One error for every problem found in the file, each on its own line."""
    if len(problems) == 1:
        return ConfigError(f"folding_config_file {path}: {problems[0]}")
    return ConfigError(f"folding_config_file {path}:\n  " + "\n  ".join(problems))
