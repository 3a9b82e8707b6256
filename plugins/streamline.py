"""Streamlining: QONNX as Brevitas exports it -> integer MatMuls with threshold activations.

FINN streamlines with many small graph rewrites (move scalar Mul past MatMul,
absorb Add into MultiThreshold, ...). dfx takes a direct route that is exact by
construction. It walks the graph once and tracks, for every tensor, how its
float value relates to an integer tensor of the new graph:

* ``IntValue``: ``value = scale * q + offset`` with ``q`` an integer tensor of a
  known datatype (a graph input, or the output of a MultiThreshold);
* ``AccValue``: ``value = f(acc)``, where ``acc`` is the integer accumulator of a
  MatMul (or an integer tensor) and ``f`` is a per-channel chain of float
  operations still to be applied (bias, BatchNorm, scalar/per-channel Mul and
  Add, Relu): the "float tail".

When a quantizer meets an ``AccValue``, ``f`` followed by the quantizer maps each
integer accumulator value to one output level, monotonically per channel. The
thresholds are then found exactly: for each channel and each level, a binary
search over the accumulator's whole integer range finds the first value that
reaches the level. A channel whose map decreases (negative BatchNorm gain,
negative scale) is handled by negating its weight column, so every threshold
compares "acc >= t" as qonnx's MultiThreshold does.

A graph that ends in float operations keeps them as a float tail (Mul, Add,
Relu) after the last MatMul, as FINN keeps such a tail in software.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from onnx import helper

from dfx.errors import ModelError, UnsupportedNodeError
from dfx.plugins.datatypes import smallest_int_datatype

QONNX_DOMAIN = "qonnx.custom_op.general"


# --------------------------------------------------------------------------
# Values tracked during the walk
# --------------------------------------------------------------------------


@dataclass
class ConstValue:
    """A tensor computed from initializers only."""

    value: np.ndarray
    # For quantized constants (weights): value == scale * (q - zero_point)
    q: np.ndarray | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    datatype: str | None = None


@dataclass
class IntValue:
    """``value = scale * q + offset``; ``q`` is tensor ``name`` of the new graph."""

    name: str
    datatype: object  # qonnx DataType of q
    scale: np.ndarray  # broadcastable along the last (channel) axis of the new tensor
    offset: np.ndarray
    #: how the new tensor's axes relate to the original's: ``new = transpose(orig,
    #: layout)``; None is the identity. Inside the accelerator tensors are channels-last,
    #: so an NCHW tensor of the model is NHWC here (layout (0, 2, 3, 1)).
    layout: tuple | None = None
    #: a flattened channels-last tensor: feature ``j`` of the new tensor is feature
    #: ``feature_order[j]`` of the original (None: the same order)
    feature_order: np.ndarray | None = None


@dataclass
class TailOp:
    kind: str  # "affine" | "relu" | "clip"
    a: np.ndarray | None = None
    b: np.ndarray | None = None


@dataclass
class AccValue:
    """``value = f(acc)``; ``acc`` is the integer tensor ``name`` of the new graph."""

    name: str
    lo: np.ndarray  # per channel: smallest possible accumulator value
    hi: np.ndarray  # per channel: largest possible accumulator value
    tail: list[TailOp] = field(default_factory=list)
    matmul_weight: str | None = None  # initializer of the producing MatMul, if any
    producer: str = ""  # original node name, for messages
    layout: tuple | None = None  # as IntValue.layout
    #: why this accumulator cannot leave the integer domain unquantized (e.g. a Conv's
    #: bias with no quantizer after it), for messages; None: nothing to say
    needs_quantizer: str | None = None

    def evaluate(self, acc: np.ndarray) -> np.ndarray:
        """Apply the float tail to accumulator values (channels on the last axis)."""
        x = acc.astype(np.float64)
        for op in self.tail:
            if op.kind == "affine":
                x = x * op.a + op.b
            elif op.kind == "relu":
                x = np.maximum(x, 0.0)
            elif op.kind == "clip":
                x = np.clip(x, op.a, op.b)
        return x


# --------------------------------------------------------------------------
# Quantizer level functions (the integer side of qonnx's Quant / BipolarQuant)
# --------------------------------------------------------------------------


def _rounding(mode: str):
    mode = mode.upper()
    table = {
        "ROUND": np.round,
        "HALF_EVEN": np.round,
        "CEIL": np.ceil,
        "FLOOR": np.floor,
        "DOWN": np.fix,
        "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
        "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5),
        "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - 0.5),
    }
    if mode not in table:
        raise ValueError(f"unknown rounding_mode {mode!r}")
    return table[mode]


@dataclass
class Quantizer:
    """An integer quantizer: ``level = clip(round(x / scale + zp))``, value ``scale*(level-zp)``."""

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    signed: bool
    narrow: bool
    rounding: str = "ROUND"
    bipolar: bool = False  # BipolarQuant, or Quant with 1 signed bit

    @property
    def qmin(self) -> int:
        if self.bipolar:
            return -1
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def qmax(self) -> int:
        if self.bipolar:
            return 1
        if not self.signed:
            return 2**self.bits - 1 - (1 if self.narrow else 0)
        return 2 ** (self.bits - 1) - 1

    @property
    def datatype_name(self) -> str:
        if self.bipolar:
            return "BIPOLAR"
        return f"{'INT' if self.signed else 'UINT'}{self.bits}"

    def levels(self, x: np.ndarray) -> np.ndarray:
        """Integer levels of ``x``, computed in ``x``'s precision.

        Constants (weights) arrive as float32 and are rounded exactly as qonnx's
        float32 Quant does; accumulator tails are evaluated in float64.
        """
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        y = x / self.scale.astype(dtype) + self.zero_point.astype(dtype)
        if self.bipolar:
            return np.where(y >= 0.0, 1, -1).astype(np.int64)
        y = _rounding(self.rounding)(y)
        return np.clip(y, self.qmin, self.qmax).astype(np.int64)

    def values(self, levels: np.ndarray) -> np.ndarray:
        return self.scale * (levels - self.zero_point)


# --------------------------------------------------------------------------
# The streamliner
# --------------------------------------------------------------------------


class Streamliner:
    """One pass over a tidied QONNX model; :meth:`run` returns the streamlined model."""

    def __init__(self, model, handlers: dict | None = None):
        from qonnx.core.modelwrapper import ModelWrapper  # noqa: F401  (type only)

        self.src = model
        #: op_type -> handler(streamliner, node); the built-in rules unless given
        self.handlers = builtin_op_handlers() if handlers is None else dict(handlers)
        self.values: dict[str, object] = {}
        self.nodes: list = []
        self.initializers: list = []
        self.datatypes: dict[str, str] = {}
        self.shapes: dict[str, list[int]] = {}
        self._counter: dict[str, int] = {}
        self.layer_index = 0

    # -- helpers ---------------------------------------------------------
    def _fresh(self, stem: str) -> str:
        n = self._counter.get(stem, 0)
        self._counter[stem] = n + 1
        return f"{stem}_{n}"

    def _add_init(self, stem: str, array: np.ndarray, datatype: str | None = None,
                  dtype=np.float32) -> str:
        name = self._fresh(stem)
        self.initializers.append((name, np.asarray(array, dtype=dtype)))
        if datatype:
            self.datatypes[name] = datatype
        return name

    def _const(self, tensor: str) -> ConstValue | None:
        value = self.values.get(tensor)
        return value if isinstance(value, ConstValue) else None

    @staticmethod
    def _channel_vector(node, array: np.ndarray, channels: int, value=None,
                        rank: int | None = None) -> np.ndarray:
        """A constant operand as a per-channel vector (scalar or per channel).

        ``value`` (an IntValue/AccValue) gives the layout of the tensor the constant
        broadcasts against (original rank ``rank``): a constant of shape (1, C, 1, 1) on
        an NCHW tensor is one value per channel of the channels-last tensor."""
        arr = np.asarray(array, dtype=np.float64)
        if arr.size == 1:
            return np.full(channels, float(arr.reshape(-1)[0]))
        layout = getattr(value, "layout", None)
        if layout is not None and rank is not None and arr.ndim <= rank:
            # numpy broadcasting aligns the constant's axes to the right
            arr = np.transpose(arr.reshape((1,) * (rank - arr.ndim) + arr.shape), layout)
        order = getattr(value, "feature_order", None)
        if order is not None and arr.shape[-1] == order.size:
            arr = arr[..., order]
        squeezed = arr.reshape(-1)
        if squeezed.size == channels and (arr.ndim == 1 or arr.shape[-1] == channels):
            return squeezed
        raise UnsupportedNodeError(
            node.name,
            node.op_type,
            f"constant operand of shape {list(np.shape(array))} is neither a scalar nor one "
            f"value per channel ({channels} channels)",
        )

    def _channels(self, tensor: str) -> int:
        """Channels of an original tensor as the new graph holds it (its channel axis is
        last there): axis 1 of a tensor of rank 3 or more, else the last axis."""
        shape = self.src.get_tensor_shape(tensor)
        if not shape:
            return 1
        return int(shape[1] if len(shape) >= 3 else shape[-1])

    def value_channels(self, value) -> int:
        """The channels (last axis) of the new tensor a value refers to."""
        shape = self.shapes.get(value.name)
        if shape is None:
            shape = self.src.get_tensor_shape(value.name)
        return int(shape[-1]) if shape else 1

    def new_shape(self, tensor: str, layout: tuple | None) -> list[int]:
        """The shape of original tensor ``tensor`` in the new graph (``layout`` applied)."""
        shape = list(self.src.get_tensor_shape(tensor))
        return shape if layout is None else [shape[a] for a in layout]

    # -- walk ------------------------------------------------------------
    def run(self):
        from qonnx.core.datatype import DataType

        model = self.src
        graph = model.graph
        for init in graph.initializer:
            self.values[init.name] = ConstValue(model.get_initializer(init.name))
        for inp in graph.input:
            if inp.name in self.values:
                continue
            dt = model.get_tensor_datatype(inp.name)
            shape = model.get_tensor_shape(inp.name)
            self.shapes[inp.name] = list(shape)
            self.datatypes[inp.name] = dt.name
            if dt.is_integer():
                self.values[inp.name] = self._channels_last_input(inp.name, dt, list(shape))
            else:
                self.values[inp.name] = ("float_input", inp.name)

        for node in graph.node:
            handler = self.handlers.get(node.op_type)
            if handler is None:
                if all(isinstance(self.values.get(t), ConstValue) for t in node.input if t):
                    self._fold_constant(node)
                    continue
                raise UnsupportedNodeError(
                    node.name, node.op_type, "dfx has no streamlining rule for this op type"
                )
            handler(self, node)

        outputs = [self._finish_output(out) for out in graph.output]
        return self._build(outputs, DataType)

    def _channels_last_input(self, name: str, dt, shape: list[int]) -> IntValue:
        """The value of an integer graph input. An input of rank 3 or more (NCHW) is
        transposed to channels-last (NHWC) first thing: the accelerator works
        channels-last, and this Transpose stays in software before it (the host applies
        it: ``dfx sim``, the driver, the rtlsim harness)."""
        if len(shape) < 3:
            return IntValue(name, dt, np.ones(1), np.zeros(1))
        layout = (0, *range(2, len(shape)), 1)
        out = self._fresh(f"{name}_channels_last")
        self.nodes.append(helper.make_node("Transpose", [name], [out], perm=list(layout),
                                           name=self._fresh("Transpose")))
        self.shapes[out] = [shape[a] for a in layout]
        self.datatypes[out] = dt.name
        return IntValue(out, dt, np.ones(1), np.zeros(1), layout=layout)

    # -- constants -------------------------------------------------------
    def _fold_constant(self, node):
        """Evaluate a standard op whose inputs are all constants (e.g. a weight Transpose)."""
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "dfx has no rule for this custom op on constants")
        from onnx.reference import ReferenceEvaluator  # numpy-based, no onnxruntime

        feeds = {t: self.values[t].value for t in node.input if t}
        results = ReferenceEvaluator(node).run(None, feeds)
        for out, value in zip(node.output, results):
            self.values[out] = ConstValue(np.asarray(value))

    def _quantizer_from_node(self, node) -> Quantizer:
        get = self.src.get_initializer
        if node.op_type == "BipolarQuant":
            scale = get(node.input[1])
            if scale is None:
                raise UnsupportedNodeError(node.name, node.op_type, "the scale is not a constant")
            return Quantizer(np.asarray(scale, np.float64), np.zeros(1), 1, True, False,
                             bipolar=True)
        params = [get(t) for t in node.input[1:4]]
        if any(p is None for p in params):
            raise UnsupportedNodeError(
                node.name, node.op_type, "scale, zero point and bit width must be constants"
            )
        scale, zp, bits = (np.asarray(p, np.float64) for p in params)
        if bits.size != 1 or float(bits.reshape(-1)[0]) != int(bits.reshape(-1)[0]):
            raise UnsupportedNodeError(node.name, node.op_type, "the bit width must be an integer")
        if np.any(zp != np.round(zp)):
            raise UnsupportedNodeError(node.name, node.op_type, "the zero point must be an integer")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        rounding = attrs.get("rounding_mode", b"ROUND")
        rounding = rounding.decode() if isinstance(rounding, bytes) else rounding
        signed = bool(attrs.get("signed", 1))
        bits_i = int(bits.reshape(-1)[0])
        return Quantizer(scale, zp, bits_i, signed, bool(attrs.get("narrow", 0)), rounding,
                         bipolar=(bits_i == 1 and signed))

    def _op_Quant(self, node):
        quantizer = self._quantizer_from_node(node)
        source = self.values.get(node.input[0])
        if isinstance(source, ConstValue):
            q = quantizer.levels(np.asarray(source.value, np.float32))
            self.values[node.output[0]] = ConstValue(
                quantizer.values(q), q=q, scale=quantizer.scale,
                zero_point=quantizer.zero_point, datatype=quantizer.datatype_name,
            )
            return
        self._quantize_activation(node, quantizer, source)

    _op_BipolarQuant = _op_Quant

    def _op_Transpose(self, node):
        """A transposed weight keeps its integer form (PyTorch exports W.T for MatMul). A
        transposed activation costs nothing: the new tensor stays as it is and only its
        relation to the original (``layout``) changes."""
        source = self._const(node.input[0])
        value = self.values.get(node.input[0])
        if source is None and isinstance(value, (IntValue, AccValue)):
            if getattr(value, "feature_order", None) is not None:
                raise UnsupportedNodeError(node.name, node.op_type,
                                           "transposing a flattened tensor is not supported")
            rank = len(self.src.get_tensor_shape(node.input[0]))
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"),
                        list(reversed(range(rank))))
            inverse = list(np.argsort(perm))
            current = value.layout or tuple(range(rank))
            layout = tuple(int(inverse[a]) for a in current)
            self.values[node.output[0]] = replace(
                value, layout=None if layout == tuple(range(rank)) else layout)
            return
        if source is None:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "only transposes of constant weights and of integer "
                                       "tensors are supported")
        if source.q is None:
            return self._fold_constant(node)
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        q = np.transpose(source.q, perm)
        scale = np.transpose(np.broadcast_to(source.scale, source.q.shape), perm)
        zp = np.transpose(np.broadcast_to(source.zero_point, source.q.shape), perm)
        self.values[node.output[0]] = ConstValue(np.transpose(source.value, perm), q=q,
                                                 scale=scale, zero_point=zp,
                                                 datatype=source.datatype)

    # -- elementwise -----------------------------------------------------
    def _binary_operands(self, node):
        a, b = (self.values.get(t) for t in node.input[:2])
        if isinstance(b, ConstValue) and not isinstance(a, ConstValue):
            return a, b.value, False
        if isinstance(a, ConstValue) and not isinstance(b, ConstValue):
            return b, a.value, True
        raise UnsupportedNodeError(
            node.name, node.op_type, "only operations with one constant operand are supported"
        )

    def _apply_affine(self, node, mul: np.ndarray, add: np.ndarray):
        """Apply ``x -> x*mul + add`` (per channel) to the value of node.input[0]."""
        source = self.values.get(node.input[0])
        if isinstance(source, ConstValue):  # handled by _fold_constant
            raise AssertionError("constant reached _apply_affine")
        self.values[node.output[0]] = self._affine(node, source, mul, add)

    def _affine(self, node, source, mul, add):
        if isinstance(source, IntValue):
            return replace(source, scale=source.scale * mul, offset=source.offset * mul + add)
        if isinstance(source, AccValue):
            tail = list(source.tail)
            if tail and tail[-1].kind == "affine":
                last = tail.pop()
                tail.append(TailOp("affine", last.a * mul, last.b * mul + add))
            else:
                tail.append(TailOp("affine", np.asarray(mul, np.float64),
                                   np.asarray(add, np.float64)))
            return replace(source, tail=tail)
        self._float_input_error(node, source)

    def _float_input_error(self, node, source):
        if isinstance(source, tuple) and source[0] == "float_input":
            raise ModelError(
                f"input {source[1]!r} has no integer datatype annotation (it is FLOAT32), so "
                f"node {node.name!r} ({node.op_type}) cannot be mapped to integer hardware. "
                f"Annotate the input's QONNX datatype, e.g. "
                f"model.set_tensor_datatype({source[1]!r}, DataType['UINT8']), or quantize the "
                f"input in the model (a Quant node after the input)."
            )
        raise UnsupportedNodeError(node.name, node.op_type, "input value cannot be tracked")

    def _elementwise(self, node, kind: str):
        source, const, const_first = self._binary_operands(node)
        channels = (self.value_channels(source) if isinstance(source, (IntValue, AccValue))
                    else self._channels(node.output[0]))
        rank = len(self.src.get_tensor_shape(node.output[0]) or [])
        c = self._channel_vector(node, const, channels, source, rank)
        one, zero = np.ones(channels), np.zeros(channels)
        if kind == "Add":
            mul, add = one, c
        elif kind == "Sub":
            mul, add = (-one, c) if const_first else (one, -c)
        elif kind == "Mul":
            mul, add = c, zero
        else:  # Div
            if const_first:
                raise UnsupportedNodeError(node.name, node.op_type,
                                           "division of a constant by a tensor")
            if np.any(c == 0):
                raise UnsupportedNodeError(node.name, node.op_type, "division by zero")
            mul, add = 1.0 / c, zero
        if source is None:
            raise UnsupportedNodeError(node.name, node.op_type, "operand has no known value")
        self.values[node.output[0]] = self._affine(node, source, mul, add)

    def _op_Add(self, node):
        self._elementwise(node, "Add")

    def _op_Sub(self, node):
        self._elementwise(node, "Sub")

    def _op_Mul(self, node):
        self._elementwise(node, "Mul")

    def _op_Div(self, node):
        self._elementwise(node, "Div")

    def _op_BatchNormalization(self, node):
        consts = [self._const(t) for t in node.input[1:5]]
        if any(c is None for c in consts):
            raise UnsupportedNodeError(node.name, node.op_type, "parameters must be constants")
        gamma, beta, mean, var = (np.asarray(c.value, np.float64).reshape(-1) for c in consts)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        eps = float(attrs.get("epsilon", 1e-5))
        source = self.values.get(node.input[0])
        shape = self.src.get_tensor_shape(node.input[0])
        layout = getattr(source, "layout", None)
        if shape is not None and len(shape) > 2 and (layout is None or layout[-1] != 1):
            # BatchNormalization normalizes axis 1; the new tensor's channels are last
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"its input of shape {shape} is not in the (N, C, ...) layout it normalizes "
                f"(a Transpose before it moved the channels)")
        mul = gamma / np.sqrt(var + eps)
        add = beta - mean * mul
        order = getattr(source, "feature_order", None)
        if order is not None and mul.size == order.size:
            mul, add = mul[order], add[order]
        self.values[node.output[0]] = self._affine(node, source, mul, add)

    def _to_acc(self, node, source) -> AccValue:
        """Make an integer tensor the start of a float tail (for a nonlinearity)."""
        if isinstance(source, AccValue):
            return source
        if isinstance(source, IntValue):
            dt = source.datatype
            channels = self.value_channels(source)
            lo = np.full(channels, int(dt.min()), np.int64)
            hi = np.full(channels, int(dt.max()), np.int64)
            tail = [TailOp("affine", np.broadcast_to(source.scale, (channels,)).astype(float),
                           np.broadcast_to(source.offset, (channels,)).astype(float))]
            return AccValue(source.name, lo, hi, tail, None, node.name, layout=source.layout)
        self._float_input_error(node, source)

    def _op_Relu(self, node):
        acc = self._to_acc(node, self.values.get(node.input[0]))
        self.values[node.output[0]] = replace(acc, tail=acc.tail + [TailOp("relu")])

    def _op_Clip(self, node):
        bounds = []
        for t in node.input[1:3]:
            c = self._const(t) if t else None
            bounds.append(None if c is None else float(np.asarray(c.value).reshape(-1)[0]))
        lo = -np.inf if bounds[0] is None else bounds[0]
        hi = np.inf if len(bounds) < 2 or bounds[1] is None else bounds[1]
        acc = self._to_acc(node, self.values.get(node.input[0]))
        self.values[node.output[0]] = replace(
            acc, tail=acc.tail + [TailOp("clip", np.asarray(lo), np.asarray(hi))])

    def _op_Identity(self, node):
        self.values[node.output[0]] = self.values.get(node.input[0])

    _op_Dropout = _op_Identity

    def _op_Flatten(self, node):
        in_shape = self.src.get_tensor_shape(node.input[0])
        out_shape = self.src.get_tensor_shape(node.output[0])
        source = self.values.get(node.input[0])
        if list(in_shape) == list(out_shape):
            self.values[node.output[0]] = source
            return
        if isinstance(source, AccValue) and source.needs_quantizer:
            raise UnsupportedNodeError(source.producer, "Conv", source.needs_quantizer)
        flat = (len(out_shape) == 2 and out_shape[0] == in_shape[0]
                and int(np.prod(out_shape[1:])) == int(np.prod(in_shape[1:])))
        if isinstance(source, IntValue) and flat and (
                source.layout is not None or source.scale.size > 1 or source.offset.size > 1):
            return self._flatten_channels_last(node, source, list(out_shape))
        if isinstance(source, IntValue) and source.layout is not None:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"reshaping a channels-last tensor {list(in_shape)} to {list(out_shape)}: "
                f"only a flatten to (N, features) is supported")
        if isinstance(source, IntValue) and source.scale.size == 1 and source.offset.size == 1:
            out = self._fresh("reshaped")
            shape_init = self._add_init("shape", out_shape, dtype=np.int64)
            self.nodes.append(helper.make_node("Reshape", [source.name, shape_init], [out],
                                               name=self._fresh("Reshape")))
            self.datatypes[out] = source.datatype.name
            self.shapes[out] = list(out_shape)
            self.values[node.output[0]] = IntValue(out, source.datatype, source.scale,
                                                   source.offset)
            return
        raise UnsupportedNodeError(
            node.name, node.op_type,
            "reshaping is only supported on integer tensors with a per-tensor scale",
        )

    _op_Reshape = _op_Flatten

    def _flatten_channels_last(self, node, source: IntValue, out_shape: list[int]):
        """Flatten (N, ...) to (N, F) where the new tensor is channels-last: the new graph
        flattens in its own order (channels fastest), and the value remembers which
        original feature each new feature is (``feature_order``), so that the MatMul
        after it takes its weight rows in that order."""
        in_shape = list(self.src.get_tensor_shape(node.input[0]))
        features = int(np.prod(in_shape[1:]))
        index = np.arange(features).reshape(in_shape[1:])
        if source.layout is not None:
            index = np.transpose(index, [a - 1 for a in source.layout[1:]])
        order = index.reshape(-1)
        if source.feature_order is not None:
            order = source.feature_order[order]
        channels = self.value_channels(source)

        def per_feature(vector):
            vector = np.asarray(vector, np.float64).reshape(-1)
            return vector if vector.size == 1 else np.tile(vector, features // channels)

        out = self._fresh("flattened")
        shape_init = self._add_init("shape", out_shape, dtype=np.int64)
        self.nodes.append(helper.make_node("Reshape", [source.name, shape_init], [out],
                                           name=self._fresh("Reshape")))
        self.datatypes[out] = source.datatype.name
        self.shapes[out] = list(out_shape)
        identity = bool(np.array_equal(order, np.arange(features)))
        self.values[node.output[0]] = IntValue(
            out, source.datatype, per_feature(source.scale), per_feature(source.offset),
            feature_order=None if identity else order)

    # -- matrix products -------------------------------------------------
    def _weights(self, node, tensor: str, transpose: bool):
        const = self._const(tensor)
        if const is None:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "the weights are not a constant tensor")
        if const.q is None:
            dt = self.src.get_tensor_datatype(tensor)
            values = np.asarray(const.value)
            if dt.is_integer() and np.all(values == np.round(values)):
                q, scale = values.astype(np.int64), np.ones_like(values, np.float64)
            else:
                raise UnsupportedNodeError(
                    node.name, node.op_type,
                    "the weights are float and not quantized (no Quant or BipolarQuant on them)",
                )
        else:
            q = (const.q - const.zero_point).astype(np.int64)
            scale = np.broadcast_to(np.asarray(const.scale, np.float64), q.shape)
        if q.ndim != 2:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"weights of rank {q.ndim} are not supported")
        if transpose:
            q, scale = q.T, scale.T
        # One scale per output channel (column) or per tensor.
        col_scale = scale[0, :]
        if not np.allclose(scale, col_scale[None, :], rtol=0, atol=0):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "weight scales vary along the input dimension; only per-tensor or "
                "per-output-channel scales are supported",
            )
        return q, col_scale

    def _matmul(self, node, x_tensor: str, q_w: np.ndarray, w_scale: np.ndarray,
                alpha: float, bias: np.ndarray | None, source=None,
                out_shape: list[int] | None = None, needs_quantizer: str | None = None):
        """An integer MatMul ``q_x @ q_w`` for ``node``; its output value is ``f(acc)``.

        ``source``: the input value (default: that of ``x_tensor``); ``out_shape``: the
        accumulator's shape in the new graph (default: the node output's);
        ``needs_quantizer``: see :attr:`AccValue.needs_quantizer`."""
        source = self.values.get(x_tensor) if source is None else source
        if isinstance(source, AccValue) and source.needs_quantizer:
            raise UnsupportedNodeError(source.producer, "Conv", source.needs_quantizer)
        if isinstance(source, AccValue):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"its input comes from {source.producer!r} through float operations with no "
                f"quantizer in between; dfx needs an integer (quantized) input",
            )
        if not isinstance(source, IntValue):
            self._float_input_error(node, source)
        scale = np.unique(np.asarray(source.scale).reshape(-1))
        if scale.size != 1:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "the input has a per-channel scale; an integer MatMul needs one scale",
            )
        if source.feature_order is not None:
            # a flattened channels-last input: its features come in another order
            q_w = q_w[source.feature_order, :]
        layout = source.layout
        if node.op_type in ("MatMul", "Gemm") and layout is not None \
                and layout[-1] != len(layout) - 1:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "it multiplies along an axis that is not the channel axis of a "
                "channels-last tensor (a MatMul over the W axis of an NCHW tensor)")
        k, n = q_w.shape
        x_scale = float(scale[0])
        x_offset = np.broadcast_to(np.asarray(source.offset, np.float64).reshape(-1), (k,))
        w_float = q_w * w_scale[None, :]
        mul = alpha * x_scale * w_scale
        add = alpha * (x_offset @ w_float)
        if bias is not None:
            add = add + bias

        dt = source.datatype
        qmin, qmax = int(dt.min()), int(dt.max())
        # per column: positive weights reach their extremes at the input's extremes,
        # negative ones at the opposite ones (no product matrices for big layers)
        pos, neg = np.maximum(q_w, 0).sum(axis=0), np.minimum(q_w, 0).sum(axis=0)
        lo, hi = qmin * pos + qmax * neg, qmax * pos + qmin * neg

        from qonnx.core.datatype import DataType

        wmin, wmax = int(q_w.min()), int(q_w.max())
        if wmin >= -1 and wmax <= 1 and not (q_w == 0).any():  # only -1 and +1
            w_dt = DataType["BIPOLAR"]
        else:
            w_dt = smallest_int_datatype(wmin, wmax)
        w_name = self._add_init(f"W{self.layer_index}", q_w, w_dt.name)
        acc_name = self._fresh(f"acc{self.layer_index}")
        self.layer_index += 1
        self.nodes.append(helper.make_node("MatMul", [source.name, w_name], [acc_name],
                                           name=self._fresh("MatMul")))
        acc_dt = smallest_int_datatype(int(lo.min()), int(hi.max()))
        self.datatypes[acc_name] = acc_dt.name
        if out_shape is None:
            out_shape = self.new_shape(node.output[0], layout)
        self.shapes[acc_name] = list(out_shape)
        self.values[node.output[0]] = AccValue(
            acc_name, lo.astype(np.int64), hi.astype(np.int64),
            [TailOp("affine", mul, add)], w_name, node.name, layout=layout,
            needs_quantizer=needs_quantizer,
        )

    def _op_Gemm(self, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0):
            raise UnsupportedNodeError(node.name, node.op_type, "transA=1 is not supported")
        q_w, w_scale = self._weights(node, node.input[1], transpose=bool(attrs.get("transB", 0)))
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c = self._const(node.input[2])
            if c is None:
                raise UnsupportedNodeError(node.name, node.op_type, "the bias is not a constant")
            bias = float(attrs.get("beta", 1.0)) * self._channel_vector(node, c.value,
                                                                        q_w.shape[1])
        self._matmul(node, node.input[0], q_w, w_scale, float(attrs.get("alpha", 1.0)), bias)

    def _op_MatMul(self, node):
        q_w, w_scale = self._weights(node, node.input[1], transpose=False)
        self._matmul(node, node.input[0], q_w, w_scale, 1.0, None)

    # -- quantizers: where thresholds are made ----------------------------
    def _quantize_activation(self, node, quantizer: Quantizer, source):
        acc = self._to_acc(node, source)
        channels = acc.lo.size
        rank = len(self.src.get_tensor_shape(node.output[0]) or [])
        # per-channel quantizer parameters as vectors over the new tensor's channels
        quantizer = replace(quantizer, **{
            key: self._channel_vector(node, getattr(quantizer, key), channels, acc, rank)
            for key in ("scale", "zero_point") if np.size(getattr(quantizer, key)) > 1})
        sign = self._orient_channels(acc, quantizer)
        thresholds = self._find_thresholds(acc, quantizer, sign)
        if np.any(sign < 0):
            self._negate_weight_columns(node, acc, sign)

        from qonnx.core.datatype import DataType

        out_dt = DataType[quantizer.datatype_name]
        out_name = self._fresh(f"act{self.layer_index - 1}")
        thr_dt = smallest_int_datatype(int(thresholds.min()), int(thresholds.max()))
        thr_name = self._add_init("thresholds", thresholds, thr_dt.name)
        out_scale, out_bias = (2.0, -1.0) if quantizer.bipolar else (1.0, float(quantizer.qmin))
        shape = self.shapes.get(acc.name) or list(self.src.get_tensor_shape(node.output[0]))
        self.nodes.append(helper.make_node(
            "MultiThreshold", [acc.name, thr_name], [out_name], domain=QONNX_DOMAIN,
            name=self._fresh("MultiThreshold"), out_dtype=out_dt.name,
            out_scale=out_scale, out_bias=out_bias, data_layout=channels_last_layout(len(shape)),
        ))
        self.datatypes[out_name] = out_dt.name
        self.shapes[out_name] = list(shape)
        scale = np.broadcast_to(np.asarray(quantizer.scale, np.float64).reshape(-1), (channels,))
        zp = np.broadcast_to(np.asarray(quantizer.zero_point, np.float64).reshape(-1),
                             (channels,))
        if np.all(scale == scale[0]) and np.all(zp == zp[0]):
            scale, zp = scale[:1], zp[:1]
        self.values[node.output[0]] = IntValue(out_name, out_dt, scale.copy(), -scale * zp,
                                               layout=acc.layout)

    @staticmethod
    def _orient_channels(acc: AccValue, quantizer: Quantizer) -> np.ndarray:
        """+1 for channels whose level grows with the accumulator, -1 where it falls."""
        at_lo = quantizer.levels(acc.evaluate(acc.lo))
        at_hi = quantizer.levels(acc.evaluate(acc.hi))
        return np.where(at_lo > at_hi, -1, 1).astype(np.int64)

    @staticmethod
    def _find_thresholds(acc: AccValue, quantizer: Quantizer, sign: np.ndarray) -> np.ndarray:
        """Exact integer thresholds, shape (channels, levels-1), for ``count(sign*acc >= t)``.

        In the oriented domain ``a = sign*acc`` the level map is non-decreasing on
        ``[lo', hi']``. For each target level ``k`` (qmin+1 .. qmax) the threshold is
        the smallest ``a`` whose level is at least ``k``; a binary search over the
        integer range finds it for all channels and levels at once.
        """
        lo = np.where(sign > 0, acc.lo, -acc.hi)
        hi = np.where(sign > 0, acc.hi, -acc.lo)
        targets = np.arange(quantizer.qmin + 1, quantizer.qmax + 1, dtype=np.int64)
        if quantizer.bipolar:
            targets = np.array([1], dtype=np.int64)
        n_levels = targets.size
        # Work on (levels, channels): channels last, as the tail's parameters broadcast.
        left = np.broadcast_to(lo, (n_levels, lo.size)).copy()
        right = np.broadcast_to(hi + 1, (n_levels, lo.size)).copy()
        goal = targets[:, None]
        while np.any(left < right):
            mid = (left + right) // 2
            level = quantizer.levels(acc.evaluate(mid * sign))
            reached = level >= goal
            active = left < right
            right = np.where(active & reached, mid, right)
            left = np.where(active & ~reached, mid + 1, left)
        return left.T.astype(np.int64)

    def _negate_weight_columns(self, node, acc: AccValue, sign: np.ndarray):
        if acc.matmul_weight is None:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "the quantizer decreases with its integer input and there is no MatMul "
                "before it whose weights could absorb the sign",
            )
        for i, (name, array) in enumerate(self.initializers):
            if name == acc.matmul_weight:
                flipped = array * sign[None, :].astype(np.float32)
                self.initializers[i] = (name, flipped)
                lo, hi = int(flipped.min()), int(flipped.max())
                if self.datatypes[name] != "BIPOLAR":
                    self.datatypes[name] = smallest_int_datatype(lo, hi).name
                break

    # -- outputs ---------------------------------------------------------
    def _finish_output(self, out):
        """The new graph's output tensor for model output ``out`` (and its datatype when it
        is an exact integer): the float tail, then the way back from channels-last."""
        value = self.values.get(out.name)
        if isinstance(value, AccValue) and value.needs_quantizer:
            raise UnsupportedNodeError(value.producer, "Conv", value.needs_quantizer)
        if isinstance(value, IntValue) and value.feature_order is not None:
            raise UnsupportedNodeError(
                out.name, "output", "the model output is a flattened NCHW tensor, which "
                "dfx computes in channels-last order; end the model with a layer after the "
                "flatten")
        name, current, dt = self._finish_output_value(out)
        layout = getattr(value, "layout", None)
        if layout is not None:
            # back to the model's layout, in software after the accelerator (the host
            # applies it, as it applies the float tail)
            back = self._fresh("tail")
            self.nodes.append(helper.make_node("Transpose", [current], [back],
                                               perm=[int(a) for a in np.argsort(layout)],
                                               name=self._fresh("Transpose")))
            self.shapes[back] = [self.shapes[current][a] for a in np.argsort(layout)]
            if dt is not None:
                self.datatypes[back] = dt
            current = back
        return name, current, dt

    def _finish_output_value(self, out):
        value = self.values.get(out.name)
        if isinstance(value, IntValue):
            current = value.name
            if not np.all(value.scale == 1.0):
                current = self._emit_float("Mul", current, value.scale)
            if not np.all(value.offset == 0.0):
                current = self._emit_float("Add", current, value.offset)
            return out.name, current, (value.datatype.name if current == value.name else None)
        if isinstance(value, AccValue):
            current = value.name
            for op in value.tail:
                if op.kind == "affine":
                    if not np.all(op.a == 1.0):
                        current = self._emit_float("Mul", current, op.a)
                    if not np.all(op.b == 0.0):
                        current = self._emit_float("Add", current, op.b)
                elif op.kind == "relu":
                    nxt = self._fresh("tail")
                    self.nodes.append(helper.make_node("Relu", [current], [nxt],
                                                       name=self._fresh("Relu")))
                    self.shapes[nxt] = self.shapes[current]
                    current = nxt
                elif op.kind == "clip":
                    lo = self._add_init("clip_lo", np.asarray(op.a, np.float32))
                    hi = self._add_init("clip_hi", np.asarray(op.b, np.float32))
                    nxt = self._fresh("tail")
                    self.nodes.append(helper.make_node("Clip", [current, lo, hi], [nxt],
                                                       name=self._fresh("Clip")))
                    self.shapes[nxt] = self.shapes[current]
                    current = nxt
            exact = current == value.name
            return out.name, current, (self.datatypes[value.name] if exact else None)
        raise ModelError(f"output {out.name!r} is not computed from the input by supported ops")

    def _emit_float(self, op_type: str, x: str, param: np.ndarray) -> str:
        param = np.asarray(param, np.float32).reshape(-1)
        if param.size > 1 and np.all(param == param[0]):
            param = param[:1]
        p = self._add_init(f"{op_type.lower()}_param", param.reshape(1, -1) if param.size > 1
                           else param.reshape(()))
        out = self._fresh("tail")
        self.nodes.append(helper.make_node(op_type, [x, p], [out], name=self._fresh(op_type)))
        self.shapes[out] = self.shapes[x]
        return out

    # -- assemble --------------------------------------------------------
    def _build(self, outputs, DataType):
        from qonnx.core.modelwrapper import ModelWrapper

        src = self.src
        # Rename the final tensor of each output to the original output name.
        for out_name, final, _dt in outputs:
            if final == out_name:
                continue
            producer = next((n for n in self.nodes if final in n.output), None)
            if producer is None:  # the output is the input itself
                self.nodes.append(helper.make_node("Identity", [final], [out_name],
                                                   name=self._fresh("Identity")))
            else:
                producer.output[list(producer.output).index(final)] = out_name
                for n in self.nodes:
                    for i, t in enumerate(n.input):
                        if t == final:
                            n.input[i] = out_name
                if final in self.datatypes:
                    self.datatypes[out_name] = self.datatypes.pop(final)

        graph = helper.make_graph(
            self.nodes,
            src.graph.name or "dfx_streamlined",
            [i for i in src.graph.input if self._const(i.name) is None],
            list(src.graph.output),
            initializer=[],
        )
        model_proto = helper.make_model(graph, opset_imports=list(src.model.opset_import))
        model = ModelWrapper(model_proto)
        for name, array in self.initializers:
            model.set_initializer(name, array)
        for name, shape in self.shapes.items():
            if name not in [i.name for i in graph.input]:
                model.set_tensor_shape(name, shape)
        for name, dt in self.datatypes.items():
            model.set_tensor_datatype(name, DataType[dt])
        for out_name, _final, dt in outputs:
            if dt is not None:
                model.set_tensor_datatype(out_name, DataType[dt])
        return model


def channels_last_layout(rank: int) -> str:
    """qonnx's data_layout string of a channels-last tensor of ``rank`` axes."""
    return {1: "C", 2: "NC", 3: "NWC", 4: "NHWC"}.get(rank, "N" + "X" * (rank - 2) + "C")


def streamline_model(model, handlers: dict | None = None):
    """Streamline a tidied QONNX ModelWrapper; see the module docstring.

    ``handlers``: op_type -> ``handler(streamliner, node)``, the built-in rules
    (:func:`builtin_op_handlers`) when None.
    """
    check_quantized(model)
    return Streamliner(model, handlers).run()


def builtin_op_handlers() -> dict:
    """The streamliner's own rules, op_type -> handler: its ``_op_<type>`` methods and the
    convolutional rules of :mod:`dfx.plugins.streamline_conv`."""
    from dfx.plugins.streamline_conv import conv_op_handlers

    handlers = {name[len("_op_"):]: function for name, function in vars(Streamliner).items()
                if name.startswith("_op_") and callable(function)}
    handlers.update(conv_op_handlers())
    return handlers


def collect_op_handlers(hook) -> dict:
    """Every plugin's ``dfx_streamline_op_handlers``, merged: built-in plugins first, so a
    later plugin's rule for an op replaces the default one. Each handler is wrapped so an
    exception it raises names the plugin and the node."""
    from dfx.plugin_manager import BUILTIN_PLUGINS

    impls = hook.dfx_streamline_op_handlers.get_hookimpls()
    impls = ([i for i in impls if i.plugin_name in BUILTIN_PLUGINS]
             + [i for i in impls if i.plugin_name not in BUILTIN_PLUGINS])
    merged: dict = {}
    for impl in impls:
        try:
            found = impl.function()
        except Exception as exc:
            from dfx.errors import PluginError

            raise PluginError(f"plugin {impl.plugin_name!r}: dfx_streamline_op_handlers "
                              f"raised {type(exc).__name__}: {exc}") from None
        if found is None:
            continue
        if not isinstance(found, dict) or not all(
                isinstance(k, str) and callable(v) for k, v in found.items()):
            from dfx.errors import PluginError

            raise PluginError(f"plugin {impl.plugin_name!r}: dfx_streamline_op_handlers "
                              f"returned {found!r}, not a dict of op_type -> handler")
        for op_type, handler in found.items():
            merged[op_type] = handler if impl.plugin_name in BUILTIN_PLUGINS else \
                _named_handler(impl.plugin_name, op_type, handler)
    return merged


def _named_handler(plugin: str, op_type: str, handler):
    """``handler`` of ``plugin``, checked: what it raises, and every output of the node
    that is used later left without a value (or with something that is not one), is a
    PluginError naming the plugin and the node."""
    def run(streamliner, node):
        from dfx.errors import DfxError, PluginError

        try:
            result = handler(streamliner, node)
        except DfxError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin!r}: the streamlining handler for {op_type} "
                              f"raised {type(exc).__name__} on node {node.name!r}: "
                              f"{exc}") from exc
        graph_outputs = {o.name for o in streamliner.src.graph.output}
        for out in node.output:
            if not out or (out not in graph_outputs and not streamliner.src.find_consumers(out)):
                continue  # an output nothing reads needs no value
            value = streamliner.values.get(out)
            if not isinstance(value, ConstValue | IntValue | AccValue):
                found = "no value" if value is None else f"{type(value).__name__} {value!r}"
                raise PluginError(
                    f"plugin {plugin!r}: the streamlining handler for {op_type} left {found} "
                    f"for output {out!r} of node {node.name!r} (it must store a ConstValue, "
                    f"IntValue or AccValue in streamliner.values)")
        return result
    return run


def check_quantized(model):
    """Reject float models: dfx builds quantized (QONNX) networks only."""
    quant_ops = {"Quant", "BipolarQuant", "MultiThreshold", "IntQuant", "Trunc"}
    if not any(n.op_type in quant_ops for n in model.graph.node):
        annotated = [
            t.tensor_name for t in model.graph.quantization_annotation
            if model.get_initializer(t.tensor_name) is not None
            and model.get_tensor_datatype(t.tensor_name).is_integer()
        ]
        if not annotated:
            raise ModelError(
                "the model has no quantizers (no Quant, BipolarQuant or MultiThreshold nodes and "
                "no datatype annotations): dfx builds quantized networks. Export the network "
                "with Brevitas quantized layers (QuantLinear, QuantReLU, ...) as QONNX."
            )


__all__ = ["streamline_model", "Streamliner", "Quantizer", "check_quantized"]
