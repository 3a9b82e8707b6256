"""Streamlining rules for convolutional networks: Conv, Pad, MaxPool, average pools.

They extend :class:`dfx.plugins.streamline.Streamliner` (same value tracking:
``IntValue`` / ``AccValue``, channels-last tensors inside the new graph) and are
part of the built-in op-handler table (:func:`conv_op_handlers`).

What the new graph holds, all executable by qonnx's ``execute_onnx``:

* **Conv** (any group count): an ``Im2Col`` (qonnx's op, channels-last, the
  padding folded in with the integer that stands for the float value 0) and an
  integer ``MatMul`` whose weight matrix is ``W[(ky, kx, c), oc]``. A 1x1 conv of
  stride 1 without padding needs no Im2Col: the MatMul runs on the NHWC tensor.
  A depthwise conv (groups = channels) keeps the ``depthwise`` flag on its Im2Col
  and gets a block-sparse weight matrix (the vector unit takes it). A grouped conv
  that is neither dense nor depthwise becomes a dense one with zero weights
  between the groups (exact; it costs the multipliers of the zeros).
* **Pad** (zeros, spatial axes only) is folded into the Conv after it.
* **MaxPool**: ``MaxPoolNHWC`` (qonnx's op) on the integer tensor; on an
  accumulator whose float tail still follows (a pool before the quantizer), the
  channels whose tail decreases have their weights negated first, so the max of
  the accumulators is the max of the values.
* **GlobalAveragePool**: a ``ReduceSum`` over H and W (the accumulate pool); the
  division by H*W joins the float tail, so a quantizer after it becomes exact
  thresholds.
* **AveragePool** (no padding): a depthwise conv with weights 1, the division
  again in the float tail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from onnx import helper

from dfx.errors import UnsupportedNodeError
from dfx.plugins.datatypes import smallest_int_datatype
from dfx.plugins.streamline import (
    QONNX_DOMAIN,
    AccValue,
    IntValue,
    Streamliner,
    TailOp,
)

NHWC = (0, 2, 3, 1)


class PaddedValue:
    """The output of a ``Pad`` node: ``value`` padded by ``pads`` (top, left, bottom, right)
    with zeros, waiting for the Conv that absorbs it."""

    def __init__(self, value: IntValue, pads: list[int], node_name: str):
        self.value = value
        self.pads = pads
        self.node_name = node_name


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _spatial_input(sl: Streamliner, node, allow_acc: bool = False):
    """The value of ``node``'s data input: a channels-last 4-D integer tensor (NCHW in the
    model). Raises a message naming the node otherwise."""
    value = sl.values.get(node.input[0])
    if isinstance(value, PaddedValue):
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"its input comes from Pad node {value.node_name!r}; dfx folds a Pad only into "
            f"the Conv after it")
    if isinstance(value, AccValue):
        if value.needs_quantizer and not allow_acc:
            raise UnsupportedNodeError(value.producer, "Conv", value.needs_quantizer)
        if not allow_acc:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"its input comes from {value.producer!r} through float operations with no "
                f"quantizer in between; dfx needs an integer (quantized) input")
    elif not isinstance(value, IntValue):
        sl._float_input_error(node, value)
    shape = sl.src.get_tensor_shape(node.input[0])
    if shape is None or len(shape) != 4:
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"only 2-D images (N, C, H, W) are supported, got {shape}")
    if value.layout != NHWC:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            "its input is not an NCHW tensor of the model (a Transpose before it changed "
            "the layout)")
    return value


def _check_ones(node, name: str, values, what: str = "1") -> None:
    if values is not None and any(int(v) != 1 for v in values):
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"{name}={list(values)} is not supported (only {what})")


def _auto_pads(node, attrs: dict, in_hw, kernel, strides) -> list[int]:
    """ONNX ``pads`` as [top, left, bottom, right], resolving ``auto_pad``."""
    auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto in ("NOTSET",):
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise UnsupportedNodeError(node.name, node.op_type, f"pads={pads}: expected 4 values")
        return [int(p) for p in pads]
    if auto == "VALID":
        return [0, 0, 0, 0]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s in zip(in_hw, kernel, strides):
            out = -(-size // s)
            total = max(0, (out - 1) * s + k - size)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        return [begin[0], begin[1], end[0], end[1]]
    raise UnsupportedNodeError(node.name, node.op_type, f"auto_pad={auto!r} is not supported")


def _pad_code(node, value: IntValue, pads: list[int]) -> int:
    """The integer that stands for the float value 0 of ``value`` (what zero padding pads
    with): ``(0 - offset) / scale``, the same for every channel and a value of the
    datatype."""
    if not any(pads):
        return 0
    dt = value.datatype
    if dt.name == "BIPOLAR":
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"zero padding (pads={pads}) of a bipolar input: 0 is not a bipolar value "
            f"(-1 or +1), so the padded image has no 1-bit form")
    scale = np.asarray(value.scale, np.float64).reshape(-1)
    offset = np.asarray(value.offset, np.float64).reshape(-1)
    codes = np.unique(-offset / scale)
    if codes.size != 1 or codes[0] != np.round(codes[0]):
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"zero padding (pads={pads}): the float value 0 of its input is not one integer "
            f"of the input's {dt.name} for every channel (offset / scale = {codes.tolist()})")
    code = int(codes[0])
    if not dt.allowed(code):
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"zero padding (pads={pads}): the float value 0 of its input is the integer "
            f"{code}, which its datatype {dt.name} does not hold")
    return code


def _conv_output_hw(node, in_hw, kernel, strides, pads) -> list[int]:
    out = []
    for axis, (size, k, s) in enumerate(zip(in_hw, kernel, strides)):
        padded = size + pads[axis] + pads[axis + 2]
        if k > padded:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"the kernel {list(kernel)} is larger than its (padded) input "
                f"{[in_hw[0] + pads[0] + pads[2], in_hw[1] + pads[1] + pads[3]]}")
        out.append((padded - k) // s + 1)
    return out


def _im2col(sl: Streamliner, node, value: IntValue, kernel, strides, pads, pad_code: int,
            depthwise: bool, out_hw) -> IntValue:
    """Emit an ``Im2Col`` of ``value``: each output pixel's window, (ky, kx, c) order."""
    n, h, w, c = sl.shapes[value.name]
    out = sl._fresh("im2col")
    sl.nodes.append(helper.make_node(
        "Im2Col", [value.name], [out], domain=QONNX_DOMAIN, name=sl._fresh("Im2Col"),
        stride=[int(s) for s in strides], kernel_size=[int(k) for k in kernel],
        input_shape=f"({n}, {h}, {w}, {c})", pad_amount=[int(p) for p in pads],
        pad_value=int(pad_code), depthwise=int(depthwise), dilations=[1, 1]))
    taps = int(kernel[0] * kernel[1])
    sl.shapes[out] = [n, int(out_hw[0]), int(out_hw[1]), taps * c]
    sl.datatypes[out] = value.datatype.name

    def per_row(vector):  # rows of the window are (ky, kx, c): channels fastest
        vector = np.asarray(vector, np.float64).reshape(-1)
        return vector if vector.size == 1 else np.tile(vector, taps)

    return IntValue(out, value.datatype, per_row(value.scale), per_row(value.offset),
                    layout=NHWC)


def conv_weight_matrix(q: np.ndarray, groups: int, channels: int) -> tuple[np.ndarray, bool]:
    """The MatMul weights ``[(ky, kx, c), oc]`` of conv weights ``q[oc, c/groups, ky, kx]``,
    and whether the conv is depthwise (groups = channels = output channels)."""
    oc, icg, kh, kw = q.shape
    depthwise = groups > 1 and groups == channels and oc == channels
    matrix = np.zeros((kh, kw, channels, oc), dtype=np.int64)
    per_group = oc // groups
    for g in range(groups):
        cols = slice(g * per_group, (g + 1) * per_group)
        rows = slice(g * icg, (g + 1) * icg)
        # q[oc, ic, ky, kx] -> [ky, kx, ic, oc]
        matrix[:, :, rows, cols] = np.transpose(q[cols], (2, 3, 1, 0))
    return matrix.reshape(kh * kw * channels, oc), depthwise


def op_Conv(sl: Streamliner, node) -> None:
    attrs = _attrs(node)
    raw = sl.values.get(node.input[0])
    extra_pads = [0, 0, 0, 0]
    if isinstance(raw, PaddedValue):  # a Pad before the conv: fold it in
        extra_pads = raw.pads
        sl.values[node.input[0]] = raw.value
        try:
            value = _spatial_input(sl, node)
        finally:
            sl.values[node.input[0]] = raw
    else:
        value = _spatial_input(sl, node)
    _check_ones(node, "dilations", attrs.get("dilations"))
    weights = sl._const(node.input[1])
    if weights is None:
        raise UnsupportedNodeError(node.name, node.op_type, "the weights are not a constant")
    if weights.q is None:
        dt = sl.src.get_tensor_datatype(node.input[1])
        raw_w = np.asarray(weights.value)
        if not (dt.is_integer() and np.all(raw_w == np.round(raw_w))):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "the weights are float and not quantized (no Quant or BipolarQuant on them)")
        q, w_scale = raw_w.astype(np.int64), np.ones(raw_w.shape[0])
    else:
        q = (weights.q - weights.zero_point).astype(np.int64)
        scale = np.broadcast_to(np.asarray(weights.scale, np.float64), q.shape)
        w_scale = scale.reshape(q.shape[0], -1)[:, 0]
        if not np.all(scale == w_scale[:, None, None, None]):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "weight scales vary within an output channel; only per-tensor or "
                "per-output-channel scales are supported")
    if q.ndim != 4:
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"weights of rank {q.ndim}: only 2-D convolutions")
    oc, icg, kh, kw = q.shape
    n, h, w, channels = sl.shapes[value.name]
    groups = int(attrs.get("group", 1))
    if groups < 1 or channels % groups or oc % groups or icg * groups != channels:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"group={groups} does not fit {channels} input channels and weights of shape "
            f"{list(q.shape)}")
    kernel = list(attrs.get("kernel_shape", [kh, kw]))
    if kernel != [kh, kw]:
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"kernel_shape={kernel} differs from the weights' {[kh, kw]}")
    strides = [int(s) for s in attrs.get("strides", [1, 1])]
    pads = _auto_pads(node, attrs, (h, w), kernel, strides)
    pads = [a + b for a, b in zip(pads, extra_pads)]
    out_hw = _conv_output_hw(node, (h, w), kernel, strides, pads)
    bias = None
    needs = None
    if len(node.input) > 2 and node.input[2]:
        c = sl._const(node.input[2])
        if c is None:
            raise UnsupportedNodeError(node.name, node.op_type, "the bias B is not a constant")
        bias = sl._channel_vector(node, c.value, oc)
        needs = ("input B (a float bias) with no quantizer after the convolution is not "
                 "supported: dfx needs a quantizer (Quant, or Relu and Quant) between a "
                 "biased Conv and the next layer or the output")
    else:
        needs = ("its accumulator reaches a layer or the output with no quantizer after the "
                 "convolution, which dfx does not support")
    matrix, depthwise = conv_weight_matrix(q, groups, channels)
    if groups > 1 and not depthwise:
        sl_log = getattr(sl, "log", None)
        if sl_log is not None:
            sl_log.info("%s: group=%d convolution as a dense one with zero weights between "
                        "the groups", node.name, groups)
    if kh == kw == 1 and strides == [1, 1] and not any(pads):
        cols = value  # a 1x1 conv is a MatMul on every pixel
    else:
        code = _pad_code(node, value, pads)
        cols = _im2col(sl, node, value, kernel, strides, pads, code, depthwise, out_hw)
    sl._matmul(node, cols.name, matrix, np.asarray(w_scale, np.float64), 1.0, bias,
               source=cols, out_shape=[n, out_hw[0], out_hw[1], oc], needs_quantizer=needs)


def op_Pad(sl: Streamliner, node) -> None:
    attrs = _attrs(node)
    value = sl.values.get(node.input[0])
    mode = attrs.get("mode", "constant") or "constant"
    if mode != "constant":
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"mode={mode!r} is not supported (only constant zeros)")
    pads = attrs.get("pads")
    if pads is None and len(node.input) > 1 and node.input[1]:
        const = sl._const(node.input[1])
        pads = None if const is None else np.asarray(const.value).astype(int).tolist()
    if pads is None:
        raise UnsupportedNodeError(node.name, node.op_type, "the pads are not constants")
    fill = 0.0
    if len(node.input) > 2 and node.input[2]:
        const = sl._const(node.input[2])
        if const is None:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "the padding value is not a constant")
        fill = float(np.asarray(const.value).reshape(-1)[0])
    if "value" in attrs:
        fill = float(attrs["value"])
    if fill != 0.0:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"padding value {fill:g} is not supported: only zero padding (the value a "
            f"convolution's own padding uses)")
    if len(node.input) > 3 and node.input[3]:
        raise UnsupportedNodeError(node.name, node.op_type, "the axes input is not supported")
    if not isinstance(value, IntValue):
        _spatial_input(sl, node)  # the message for what it is
    shape = sl.src.get_tensor_shape(node.input[0])
    if len(shape) != 4 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"pads={pads}: only padding of the spatial axes of an (N, C, H, W) tensor")
    if any(p < 0 for p in pads):
        raise UnsupportedNodeError(node.name, node.op_type, f"negative pads {pads} (cropping)")
    # ONNX order: [n0, c0, h0, w0, n1, c1, h1, w1] -> [top, left, bottom, right]
    sl.values[node.output[0]] = PaddedValue(value, [pads[2], pads[3], pads[6], pads[7]],
                                            node.name)


def _pool_params(sl: Streamliner, node, value) -> tuple[list[int], list[int], list[int]]:
    attrs = _attrs(node)
    n, h, w, c = sl.shapes[value.name]
    kernel = [int(k) for k in attrs.get("kernel_shape", [])]
    if len(kernel) != 2:
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"kernel_shape={kernel}: only 2-D pooling")
    strides = [int(s) for s in attrs.get("strides", [1, 1])]
    _check_ones(node, "dilations", attrs.get("dilations"))
    pads = _auto_pads(node, attrs, (h, w), kernel, strides)
    if kernel[0] > h + pads[0] + pads[2] or kernel[1] > w + pads[1] + pads[3]:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"the pooling kernel {kernel} is larger than its input {[h, w]}")
    if any(pads):
        raise UnsupportedNodeError(node.name, node.op_type,
                                   f"pads={pads} is not supported (only unpadded pooling)")
    floor_hw = [(size - k) // s + 1 for size, k, s in zip((h, w), kernel, strides)]
    if int(attrs.get("ceil_mode", 0)):
        ceil_hw = [-(-(size - k) // s) + 1 for size, k, s in zip((h, w), kernel, strides)]
        if ceil_hw != floor_hw:
            raise UnsupportedNodeError(
                node.name, node.op_type,
                f"ceil_mode=1 with a partial last window ({[h, w]} by kernel {kernel}, "
                f"stride {strides}) is not supported")
    return kernel, strides, floor_hw


def op_MaxPool(sl: Streamliner, node) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedNodeError(node.name, node.op_type, "the Indices output is not supported")
    value = _spatial_input(sl, node, allow_acc=True)
    kernel, strides, out_hw = _pool_params(sl, node, value)
    if strides != kernel:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            f"strides={strides} with kernel_shape={kernel}: dfx's max-pool takes "
            f"non-overlapping windows only (stride = kernel)")
    if isinstance(value, IntValue):
        if np.any(np.asarray(value.scale) <= 0):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "its input's scale is not positive, so the max of the integers is not the "
                "max of the values")
    else:
        value = _increasing_accumulator(sl, node, value)
    n, h, w, c = sl.shapes[value.name]
    out = sl._fresh("pooled")
    sl.nodes.append(helper.make_node(
        "MaxPoolNHWC", [value.name], [out], domain=QONNX_DOMAIN, name=sl._fresh("MaxPoolNHWC"),
        kernel_shape=kernel, strides=strides, pads=[0, 0, 0, 0], ceil_mode=0))
    sl.shapes[out] = [n, out_hw[0], out_hw[1], c]
    sl.datatypes[out] = sl.datatypes.get(value.name) or value.datatype.name
    sl.values[node.output[0]] = replace(value, name=out)


def _increasing_accumulator(sl: Streamliner, node, acc: AccValue) -> AccValue:
    """``acc`` with every channel's float tail non-decreasing in the accumulator, so that a
    max-pool of the accumulators is the max-pool of the values: a channel whose tail
    decreases has its weight column negated (and its tail starts with a negation)."""
    sign = np.ones(acc.lo.size)
    for op in acc.tail:
        if op.kind == "affine":
            a = np.broadcast_to(np.asarray(op.a, np.float64).reshape(-1), sign.shape)
            sign = sign * np.sign(a)
    down = sign < 0
    if not down.any():
        return replace(acc, matmul_weight=None)
    if acc.matmul_weight is None:
        raise UnsupportedNodeError(
            node.name, node.op_type,
            "the float tail before it decreases for some channels and there is no MatMul "
            "whose weights could absorb the sign")
    flip = np.where(down, -1, 1).astype(np.int64)
    sl._negate_weight_columns(node, acc, flip)
    lo = np.where(down, -acc.hi, acc.lo)
    hi = np.where(down, -acc.lo, acc.hi)
    tail = [TailOp("affine", flip.astype(np.float64), np.zeros(acc.lo.size))] + list(acc.tail)
    # the weights are now those of the flipped accumulator: nothing may flip them again
    return replace(acc, lo=lo, hi=hi, tail=tail, matmul_weight=None)


def _reduce_sum(sl: Streamliner, value) -> str:
    n, h, w, c = sl.shapes[value.name]
    out = sl._fresh("pool_sum")
    opset = next((o.version for o in sl.src.model.opset_import if o.domain in ("", "ai.onnx")),
                 13)
    if opset >= 13:  # the axes are an input from opset 13 on, an attribute before
        axes = sl._add_init("axes", np.array([1, 2]), dtype=np.int64)
        sl.nodes.append(helper.make_node("ReduceSum", [value.name, axes], [out], keepdims=1,
                                         name=sl._fresh("ReduceSum")))
    else:
        sl.nodes.append(helper.make_node("ReduceSum", [value.name], [out], keepdims=1,
                                         axes=[1, 2], name=sl._fresh("ReduceSum")))
    sl.shapes[out] = [n, 1, 1, c]
    return out


def op_GlobalAveragePool(sl: Streamliner, node) -> None:
    value = _spatial_input(sl, node, allow_acc=True)
    n, h, w, c = sl.shapes[value.name]
    pixels = h * w
    if isinstance(value, IntValue):
        dt = value.datatype
        lo = np.full(c, int(dt.min()) * pixels, np.int64)
        hi = np.full(c, int(dt.max()) * pixels, np.int64)
        tail = [TailOp("affine", np.broadcast_to(value.scale, (c,)) / pixels,
                       np.broadcast_to(value.offset, (c,)).astype(np.float64))]
        producer = node.name
    else:
        if any(op.kind != "affine" for op in value.tail):
            raise UnsupportedNodeError(
                node.name, node.op_type,
                "it averages a float tail with a Relu or Clip in it (no quantizer before "
                "the pool), which has no exact integer form")
        a = np.ones(c)
        b = np.zeros(c)
        for op in value.tail:
            a, b = a * op.a, b * op.a + op.b
        lo, hi = value.lo * pixels, value.hi * pixels
        tail = [TailOp("affine", a / pixels, b)]
        producer = value.producer
    out = _reduce_sum(sl, value)
    sl.datatypes[out] = smallest_int_datatype(int(lo.min()), int(hi.max())).name
    sl.values[node.output[0]] = AccValue(out, lo, hi, tail, None, producer, layout=NHWC)


def op_AveragePool(sl: Streamliner, node) -> None:
    value = _spatial_input(sl, node)
    kernel, strides, out_hw = _pool_params(sl, node, value)
    n, h, w, c = sl.shapes[value.name]
    if kernel == [h, w]:
        return op_GlobalAveragePool(sl, node)
    # a depthwise conv with weights 1; the division by the window joins the float tail
    ones = np.ones((c, 1, kernel[0], kernel[1]), dtype=np.int64)
    matrix, _ = conv_weight_matrix(ones, c, c)
    cols = _im2col(sl, node, value, kernel, strides, [0, 0, 0, 0], 0, c > 1, out_hw)
    sl._matmul(node, cols.name, matrix, np.full(c, 1.0 / (kernel[0] * kernel[1])), 1.0,
               None, source=cols, out_shape=[n, out_hw[0], out_hw[1], c])


def conv_op_handlers() -> dict:
    """op_type -> handler for the convolutional ops (merged into the built-in table)."""
    return {"Conv": op_Conv, "Pad": op_Pad, "MaxPool": op_MaxPool,
            "GlobalAveragePool": op_GlobalAveragePool, "AveragePool": op_AveragePool}
