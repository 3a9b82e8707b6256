"""The plugin author's path: examples/dfx-labelselect, installed through its entry point.

The package adds FINN's LabelSelect (top-k class index) as a layer kind with two
streamlining rules (ArgMax, TopK) and copies no default stage. Here it is installed with
pip (``tests/example_packages.py``) and run through the real CLI in fresh processes:

* tfc-w1a1 with an ONNX ArgMax appended goes through the estimate flow (LabelSelect in
  every estimate report), ``dfx sim --backend python`` and ``--backend rtl`` (Verilator,
  with backpressure), bit-exact against qonnx's executor on the appended model; the
  stitched design's output stream is the 4-bit index;
* a model whose logits are its input (an identity MatMul) takes crafted ties: ArgMax
  picks the first of equal maxima, ``select_last_index`` the last, TopK keeps equal
  values in index order, in Python and in RTL, each against qonnx;
* the refusals: a selection that cannot be taken on the integers names the node and why;
  without the plugin, an ArgMax is a clear error.

The kind's own rules (execution, folding, estimates) have fast in-process tests at the
end, with the package's ``src`` on ``sys.path``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from conftest import load_example, read_json, run_dfx
from example_packages import install_editable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "examples" / "dfx-labelselect"
PLUGINS = "default,labelselect"
LABELS = 10
QONNX_DOMAIN = "qonnx.custom_op.general"


@pytest.fixture(scope="session")
def labelselect_installed(tmp_path_factory) -> None:
    """``pip install -e examples/dfx-labelselect``, once per test run."""
    install_editable(PACKAGE, "labelselect", "dfx_labelselect",
                     tmp_path_factory.getbasetemp().parent)


@pytest.fixture
def labelselect_src(monkeypatch):
    """The package importable in this process (for the unit tests of the kind)."""
    monkeypatch.syspath_prepend(str(PACKAGE / "src"))


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n" \
                                 f"stderr:\n{proc.stderr}"
    return proc


# -- models ---------------------------------------------------------------------------


def _with_selection(model, op_type: str, k: int = 1, **attrs):
    """``model`` with an ArgMax (or a TopK of ``k``) after its output, which becomes the
    indices (int64); the logits keep their producer under the name ``logits``."""
    from qonnx.transformation.infer_shapes import InferShapes

    out = model.graph.output[0]
    model.find_producer(out.name).output[0] = "logits"
    batch = [d.dim_value for d in out.type.tensor_type.shape.dim][0]
    if op_type == "ArgMax":
        node = helper.make_node("ArgMax", ["logits"], [out.name], name="ClassIndex",
                                **{"axis": -1, "keepdims": 1, **attrs})
        shape = [batch, 1] if node_keepdims(node) else [batch]
    else:
        model.set_initializer("topk_k", np.array([k], dtype=np.int64))
        node = helper.make_node("TopK", ["logits", "topk_k"], ["topk_values", out.name],
                                name="ClassIndex", axis=-1, **attrs)
        shape = [batch, k]
    model.graph.node.append(node)
    model.graph.output.remove(out)
    model.graph.output.append(helper.make_tensor_value_info(out.name, TensorProto.INT64,
                                                            shape))
    return model.transform(InferShapes())


def node_keepdims(node) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute
                 if a.name == "keepdims"), 1)


def tfc_argmax(tmp_path: Path):
    """tfc-w1a1 with an ArgMax appended, saved; its inputs and logits."""
    path, x, logits = load_example("tfc-w1a1")
    model = _with_selection(ModelWrapper(str(path)), "ArgMax")
    target = tmp_path / "tfc_argmax.onnx"
    model.save(str(target))
    return target, model, x, logits


def identity_logits_model(op_type: str, k: int = 1, **attrs):
    """``logits = x @ I`` (x: INT8, I: a 2-bit quantized identity), then the selection:
    the logits are the input, so a test chooses them, ties included."""
    from qonnx.core.datatype import DataType

    graph = helper.make_graph(
        [helper.make_node("Quant", ["eye", "one", "zero", "two"], ["eye_q"], name="WeightQuant",
                          domain=QONNX_DOMAIN, signed=1, narrow=0, rounding_mode="ROUND"),
         helper.make_node("MatMul", ["global_in", "eye_q"], ["global_out"], name="Logits")],
        "identity_logits",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, LABELS])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, LABELS])],
        initializer=[helper.make_tensor(n, TensorProto.FLOAT, dims, vals) for n, dims, vals in
                     [("eye", [LABELS, LABELS], np.eye(LABELS).ravel().tolist()),
                      ("one", [], [1.0]), ("zero", [], [0.0]), ("two", [], [2.0])]])
    model = ModelWrapper(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)]))
    model.set_tensor_datatype("global_in", DataType["INT8"])
    return _with_selection(model, op_type, k, **attrs)


#: Logits with ties, chosen to meet the corners of the RTL: every value equal, ties in
#: one input word and across words (PE 2 and 5), at the first and the last label, at the
#: extremes of INT8, and more equal values than K.
CRAFTED = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [-128] * 10,
    [127] * 10,
    [1, 5, 2, 127, 0, -3, 9, 8, 7, 127],
    [-1, -2, -3, -4, 60, 60, -5, -6, -7, -8],
    [33, 33, -1, 0, 1, 2, 3, 4, 5, 6],
    [-128, -128, -128, -128, -128, -128, -128, -128, -128, -127],
    [9, 0, 0, 0, 0, 0, 0, 0, 0, 9],
    [3, 7, 7, 1, 7, 2, 2, 9, 0, 7],
    [-5, 4, 4, 4, -5, 4, -5, -5, 4, -5],
], dtype=np.float32)


def crafted_inputs() -> np.ndarray:
    """CRAFTED and 40 random rows of values in -2 .. 2 (full of ties)."""
    rng = np.random.default_rng(8)
    return np.concatenate([CRAFTED, rng.integers(-2, 3, size=(40, LABELS))]).astype(np.float32)


def qonnx_logits(model, x: np.ndarray) -> np.ndarray:
    """The plain model's float logits by qonnx's executor."""
    return qonnx_reference(model, x)


def qonnx_reference(model, x: np.ndarray) -> np.ndarray:
    """qonnx's executor (onnxruntime for ArgMax/TopK), one sample at a time."""
    from qonnx.core.onnx_exec import execute_onnx

    out = model.graph.output[0].name
    return np.concatenate([execute_onnx(model, {"global_in": x[i:i + 1]})[out]
                           for i in range(len(x))])


def build(model_path: Path, out: Path, *extra: str, plugins: str = PLUGINS):
    return run_dfx("run", "--plugins", plugins, model_path, "-o", out, "-q", *extra,
                   cwd=out.parent)


def folding_config(tmp_path: Path, pe: int, **layers: dict) -> Path:
    """A folding config giving LabelSelect_0 ``pe`` (and ``layers`` their folding)."""
    path = tmp_path / f"labelselect_pe{pe}.json"
    path.write_text(json.dumps({"Defaults": {}, "LabelSelect_0": {"PE": pe}, **layers}))
    return path


def sim(build_dir: Path, backend: str, x: np.ndarray, tmp_path: Path, *extra: str):
    x_path = tmp_path / "x.npy"
    np.save(x_path, x)
    y_path = tmp_path / f"y_{build_dir.name}_{backend}.npy"
    ok(run_dfx("sim", build_dir, "--backend", backend, "-i", x_path, "-o", y_path, *extra))
    return np.load(y_path)


# -- installed, through the entry point --------------------------------------------------


def test_the_entry_point_brings_the_kind_and_its_rules(labelselect_installed, tmp_path):
    out = ok(run_dfx("plugins", "--plugins", PLUGINS, cwd=tmp_path)).stdout
    assert "labelselect" in out and "entry point of dfx-labelselect 0.1.0" in out
    assert "dfx_register_layer_kinds" in out and "dfx_streamline_op_handlers" in out
    kinds = next(line for line in out.splitlines() if line.startswith("layer kinds:"))
    assert "LabelSelect" in kinds and "MVAU" in kinds


def test_tfc_argmax_estimate_flow(labelselect_installed, tmp_path):
    model_path, _model, _x, _logits = tfc_argmax(tmp_path)
    out = tmp_path / "estimates"
    ok(build(model_path, out, "--target-fps", "100000"))
    cycles = read_json(out / "report" / "estimate_layer_cycles.json")
    resources = read_json(out / "report" / "estimate_layer_resources.json")
    folding = read_json(out / "auto_folding_config.json")
    # the layer after the four MVAUs, folded like any kind: 10 labels / PE cycles
    assert list(cycles) == ["MVAU_0", "MVAU_1", "MVAU_2", "MVAU_3", "LabelSelect_0"]
    pe = folding["LabelSelect_0"]["PE"]
    assert cycles["LabelSelect_0"] == LABELS // pe
    # at 100,000 fps and 100 MHz (1,000 cycles a frame) PE 1 meets the budget and is
    # the cheapest folding
    assert pe == 1
    est = resources["LabelSelect_0"]
    assert est["LUT"] > 0 and est["FF"] > 0 and est["BRAM_18K"] == 0 and est["DSP"] == 0
    assert resources["total"]["LUT"] == sum(v["LUT"] for k, v in resources.items()
                                            if k != "total")
    alternatives = read_json(out / "report" / "estimate_layer_config_alternatives.json")
    assert "LabelSelect_0" in alternatives
    # the index is the model's output, annotated as the smallest type for 0 .. 9
    final = ModelWrapper(str(out / "final_model.onnx"))
    last = final.graph.node[-1]
    assert last.op_type == "LabelSelect" and last.output[0] == final.graph.output[0].name
    assert final.get_tensor_datatype(last.output[0]).name == "UINT4"


#: Tie patterns the crafted tfc-w1a1 inputs must show at their maximum, for a
#: LabelSelect of PE 5 (labels 0-4 in the first word, 5-9 in the second).
TIE_PATTERNS = {
    "inside a word": lambda tied: len(tied) == 2 and tied[0] // 5 == tied[1] // 5,
    "across the words": lambda tied: {4, 5} <= set(tied),
    "with the last label": lambda tied: 9 in tied and len(tied) >= 2,
    "three-way": lambda tied: len(tied) >= 3,
}


def crafted_tfc_ties(count: int = 4096, seed: int = 3) -> np.ndarray:
    """Bipolar inputs whose tfc-w1a1 logits tie at the maximum, one per TIE_PATTERNS entry.

    Found among ``count`` random inputs with the logits from dfx's numpy model of the
    plain network (default plugins, fast for a batch); the test then checks them against
    qonnx on the appended model, which knows nothing of this search.
    """
    from types import SimpleNamespace

    from dfx.execute import execute
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.streamline import streamline_model

    path, _x, _logits = load_example("tfc-w1a1")
    plugins = load_plugins("default")
    hw = convert_to_hw(streamline_model(step_tidy_up(ModelWrapper(str(path)), None, None)),
                       SimpleNamespace(standalone_thresholds=False),
                       SimpleNamespace(layer_kinds=plugins.layer_kinds, hook=plugins.hook))
    candidates = np.random.default_rng(seed).choice([-1.0, 1.0], size=(count, 784))
    logits = execute(hw, candidates.astype(np.float32), plugins.layer_kinds)
    chosen = []
    for name, pattern in TIE_PATTERNS.items():
        for row, values in zip(candidates, logits):
            tied = [int(i) for i in np.flatnonzero(values == values.max())]
            if pattern(tied):
                chosen.append(row)
                break
        else:
            raise AssertionError(f"no input of {count} ties {name}")
    return np.array(chosen, dtype=np.float32)


@pytest.mark.slow
def test_tfc_argmax_python_and_rtl_bit_exact(labelselect_installed, tmp_path):
    model_path, model, shipped, logits = tfc_argmax(tmp_path)
    np.testing.assert_array_equal(qonnx_reference(model, shipped)[:, 0],
                                  np.argmax(logits, axis=-1))
    crafted = crafted_tfc_ties()
    x = np.concatenate([shipped, crafted])
    reference = qonnx_reference(model, x)
    # the crafted inputs tie as intended in qonnx's float logits too, and ONNX's ArgMax
    # takes the first of the tied labels
    plain = ModelWrapper(str(load_example("tfc-w1a1")[0]))
    for row, index in zip(qonnx_logits(plain, crafted), reference[len(shipped):, 0]):
        tied = np.flatnonzero(row == row.max())
        assert len(tied) >= 2 and index == tied[0]

    out = tmp_path / "rtl"
    ok(build(model_path, out, "--target-fps", "100000", "--generate-outputs",
             "estimate_reports,stitched_ip", "--auto-fifo-depths", "false",
             "--folding-config-file", folding_config(tmp_path, 5)))
    assert read_json(out / "report" / "estimate_layer_cycles.json")["LabelSelect_0"] == 2

    # the stitched design ends in the index stream: 4 bits (in one byte) per frame
    # instead of the last MVAU's ten logits
    stitch = read_json(out / "stitched_ip" / "stitch.json")
    assert stitch["layers"][-1] == "LabelSelect_0"
    assert stitch["output"]["datatype"] == "UINT4"
    assert (stitch["output"]["width"], stitch["output"]["tdata_width"],
            stitch["output"]["words_per_frame"]) == (4, 8, 1)
    assert "labelselect_topk.v" in stitch["library"]
    assert "m_axis_0_tdata = {4'b0, s" in (out / "stitched_ip" / "dfx_top.v").read_text()
    manifest = read_json(out / "codegen" / "manifest.json")
    module = next(m for m in manifest["modules"] if m["op_type"] == "LabelSelect")
    assert module["library"] == ["codegen/lib/labelselect_topk.v"]

    np.testing.assert_array_equal(sim(out, "python", x, tmp_path), reference)
    np.testing.assert_array_equal(sim(out, "rtl", x, tmp_path, "--backpressure", "0.3"),
                                  reference)


@pytest.mark.slow
@pytest.mark.parametrize("op_type, k, attrs, pe", [
    ("ArgMax", 1, {"select_last_index": 1}, 10),   # the last of equal maxima; one word
    ("TopK", 3, {}, 2),                            # equal values in index order
], ids=["argmax-last-pe10", "topk3-pe2"])
def test_crafted_ties_python_and_rtl(labelselect_installed, tmp_path, op_type, k, attrs, pe):
    model = identity_logits_model(op_type, k, **attrs)
    model_path = tmp_path / "identity.onnx"
    model.save(str(model_path))
    x = crafted_inputs()
    reference = qonnx_reference(model, x)
    assert reference.shape == (len(x), k)
    # the rule by hand, on the first crafted rows: 3 and 9 tie at 127
    expected_row3 = [9] if attrs.get("select_last_index") else [3, 9, 6][:k]
    assert reference[3].tolist() == expected_row3

    # The MVAU fully unrolled (one cycle a frame), so the LabelSelect sets the pace:
    # rtlsim must measure the interval its estimate gives, Labels / PE cycles.
    out = tmp_path / "build"
    ok(build(model_path, out, "--generate-outputs",
             "estimate_reports,stitched_ip,rtlsim_performance", "--auto-fifo-depths", "false",
             "--folding-config-file",
             folding_config(tmp_path, pe, MVAU_0={"PE": LABELS, "SIMD": LABELS})))
    cycles = read_json(out / "report" / "estimate_layer_cycles.json")
    assert cycles == {"MVAU_0": 1, "LabelSelect_0": LABELS // pe}
    measured = read_json(out / "report" / "rtlsim_performance.json")
    assert measured["interval_cycles"] == LABELS // pe
    stitch = read_json(out / "stitched_ip" / "stitch.json")
    assert (stitch["output"]["elems"], stitch["output"]["width"]) == (k, 4 * k)
    np.testing.assert_array_equal(sim(out, "python", x, tmp_path), reference)
    np.testing.assert_array_equal(sim(out, "rtl", x, tmp_path, "--backpressure", "0.5"),
                                  reference)


def test_without_the_plugin_an_argmax_is_a_clear_error(tmp_path):
    model_path, *_ = tfc_argmax(tmp_path)
    proc = build(model_path, tmp_path / "plain", plugins="default")
    assert proc.returncode != 0
    assert "node 'ClassIndex' (op type ArgMax): dfx has no streamlining rule" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_selection_not_on_the_integers_names_the_node(labelselect_installed, tmp_path):
    # a per-class bias after the logits: their order is no longer the accumulators'
    path, _x, _logits = load_example("tfc-w1a1")
    model = ModelWrapper(str(path))
    out = model.graph.output[0].name
    model.find_producer(out).output[0] = "unbiased"
    model.set_initializer("class_bias", np.arange(LABELS, dtype=np.float32))
    model.graph.node.append(helper.make_node("Add", ["unbiased", "class_bias"], [out],
                                             name="ClassBias"))
    model = _with_selection(model, "ArgMax")
    model.save(str(tmp_path / "biased.onnx"))
    proc = build(tmp_path / "biased.onnx", tmp_path / "biased")
    assert proc.returncode != 0
    assert "node 'ClassIndex' (op type ArgMax)" in proc.stderr
    assert "bias that differs between classes" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- the kind's rules, in process ----------------------------------------------------------


def _streamline_and_convert(model):
    import copy
    from types import SimpleNamespace

    from dfx.plugin_manager import load_plugins
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.streamline import collect_op_handlers, streamline_model

    plugins = load_plugins("default,dfx_labelselect")
    streamlined = streamline_model(step_tidy_up(model, None, None),
                                   collect_op_handlers(plugins.hook))
    ctx = SimpleNamespace(layer_kinds=plugins.layer_kinds, hook=plugins.hook)
    # conversion changes the model it is given: convert a copy
    hw = convert_to_hw(ModelWrapper(copy.deepcopy(streamlined.model)),
                       SimpleNamespace(standalone_thresholds=False), ctx)
    return streamlined, hw, plugins.layer_kinds


def _layer(model, kinds):
    return next(layer for layer in kinds.hw_layers(model) if layer.op_type == "LabelSelect")


def test_execution_resolves_ties_as_onnx(labelselect_src):
    from dfx.execute import execute

    x = crafted_inputs()
    for op_type, k, attrs in [("ArgMax", 1, {}), ("ArgMax", 1, {"select_last_index": 1}),
                              ("ArgMax", 1, {"keepdims": 0}), ("TopK", 4, {})]:
        model = identity_logits_model(op_type, k, **attrs)
        streamlined, hw, kinds = _streamline_and_convert(model)
        reference = qonnx_reference(model, x)
        # the streamlined graph (the selection on the integers) and the hardware
        # layers' numpy execution both agree with qonnx on the float logits
        np.testing.assert_array_equal(qonnx_reference(streamlined, x), reference)
        np.testing.assert_array_equal(execute(hw, x, kinds), reference)
        layer = _layer(hw, kinds)
        assert layer.output_shape() == ((1,) if attrs.get("keepdims") == 0 else (1, k))


def test_folding_options_and_cycles(labelselect_src):
    _s, hw, kinds = _streamline_and_convert(identity_logits_model("ArgMax"))
    layer = _layer(hw, kinds)
    options = layer.folding_options(None)
    assert [o["PE"] for o in options] == [1, 2, 5, 10]  # the divisors of 10 labels
    # one word of PE values a cycle: Labels / PE cycles per vector
    assert [layer.with_folding(o).cycles() for o in options] == [10, 5, 2, 1]
    assert layer.check_folding({"PE": 4}) == "PE=4 does not divide Labels=10"
    assert layer.check_folding({"PE": 5}) is None
    # streams: PE INT8 values in, one UINT4 index out per vector
    five = layer.with_folding({"PE": 5})
    assert (five.input_stream().width, five.input_stream().words_per_frame) == (40, 2)
    assert (five.output_stream().width, five.output_stream().words_per_frame) == (4, 1)


def test_resource_estimate_by_its_parts(labelselect_src):
    from dfx_labelselect.layer import LUT_COST

    _s, hw, kinds = _streamline_and_convert(identity_logits_model("TopK", 3))
    layer = _layer(hw, kinds)
    assert layer.input_datatype().name == "INT8" and layer.output_datatype().name == "UINT4"
    two = layer.with_folding({"PE": 2}).resources()
    # flip-flops, register by register (5 words a vector): the output word (3 x 4-bit
    # indices) and its flag; the kept list, 3 x (8-bit value + index + valid); the word
    # counter (3 bits for 0 .. 4) and the index base (4 bits)
    assert two["FF"] == 3 * 4 + 1 + 3 * (8 + 4 + 1) + 3 + 4
    compares, kept = 2 * 3, 8 + 4
    lut = (compares * (LUT_COST["compare_bit"] * 8 + LUT_COST["move_bit"] * kept
                       + LUT_COST["shift_bit"] * kept)
           + LUT_COST["counter_bit"] * (3 + 4) + LUT_COST["index_bit"] * 4 * 1)
    assert two["LUT"] == round(lut)
    assert two["BRAM_18K"] == two["DSP"] == two["URAM"] == 0
    # one word a vector: no kept list, no counters, lane p compares with p slots
    whole = layer.with_folding({"PE": 10})
    assert whole.resources()["FF"] == 3 * 4 + 1
    assert whole._compares() == 0 + 1 + 2 + 3 * 7


def test_the_index_type_holds_every_label(labelselect_src):
    from dfx_labelselect.layer import index_datatype

    assert [index_datatype(n).name for n in (2, 3, 10, 16, 17, 1000)] == \
        ["BINARY", "UINT2", "UINT4", "UINT4", "UINT5", "UINT10"]


@pytest.mark.parametrize("case, why", [
    ("negative_scale", "only a positive scale keeps their order"),
    ("too_fine", "below float32's resolution"),
    ("relu", "a relu before it merges logits into ties"),
    ("values_used", "the TopK's values output is used"),
    ("smallest", "largest=0"),
])
def test_refusals_name_the_node_and_why(labelselect_src, case, why):
    from dfx.errors import UnsupportedNodeError

    if case in ("values_used", "smallest"):
        model = identity_logits_model("TopK", 2, **({"largest": 0} if case == "smallest"
                                                    else {}))
        if case == "values_used":  # the values become a second model output
            info = next(v for v in model.graph.value_info if v.name == "topk_values")
            model.graph.value_info.remove(info)
            model.graph.output.append(info)
    else:
        model = identity_logits_model("ArgMax")
        producer = model.find_producer("logits")
        producer.output[0] = "raw"
        ops = {
            "negative_scale": [helper.make_node("Mul", ["raw", "minus"], ["logits"])],
            "relu": [helper.make_node("Relu", ["raw"], ["logits"])],
            # logits 1e-6 apart around 1000, where float32 steps by 6e-5
            "too_fine": [helper.make_node("Mul", ["raw", "tiny"], ["small"]),
                         helper.make_node("Add", ["small", "thousand"], ["logits"])],
        }[case]
        model.set_initializer("minus", np.array(-0.5, dtype=np.float32))
        model.set_initializer("tiny", np.array(1e-6, dtype=np.float32))
        model.set_initializer("thousand", np.array(1000.0, dtype=np.float32))
        model.set_tensor_shape("small", [1, LABELS])
        at = list(model.graph.node).index(producer) + 1
        for offset, op in enumerate(ops):
            model.graph.node.insert(at + offset, op)
    with pytest.raises(UnsupportedNodeError) as info:
        _streamline_and_convert(model)
    assert info.value.node_name == "ClassIndex"
    assert why in str(info.value)
