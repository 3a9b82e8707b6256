"""The plugin contract for conversion and streamlining: layer kinds take nodes through
``dfx_convert_node`` (each kind's ``match``), the streamliner's op registry is extended
with ``dfx_streamline_op_handlers``, and a plugin at fault is named with the node.

Plugins are real modules written into a folder on ``sys.path`` and loaded by
dotted path, as ``--plugins`` loads them.
"""

from __future__ import annotations

import itertools
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from onnx import helper

from dfx.errors import PluginError, UnsupportedNodeError
from dfx.execute import execute
from dfx.plugin_manager import load_plugins
from dfx.plugins.convert import convert_to_hw
from dfx.plugins.importer import step_tidy_up
from dfx.plugins.streamline import collect_op_handlers, streamline_model
from modelgen import Layer, make_mlp, qonnx_outputs, random_inputs

_names = itertools.count()


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """``plugin(source)`` -> the name of a new plugin module holding ``source``."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> str:
        name = f"contract_plugin_{next(_names)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name
    return write


def _streamlined(model, plugins=None):
    tidy = step_tidy_up(model, None, None)
    if plugins is None:
        return streamline_model(tidy)
    return streamline_model(tidy, collect_op_handlers(plugins.hook))


def _convert(model, plugins, standalone=False):
    ctx = SimpleNamespace(layer_kinds=plugins.layer_kinds, hook=plugins.hook)
    return convert_to_hw(model, SimpleNamespace(standalone_thresholds=standalone), ctx)


MLP = [Layer(6, act="relu_uint"), Layer(4, act="int", act_bits=3)]


# -- conversion through the kinds ---------------------------------------------------------


def test_default_kinds_convert_through_the_hook():
    model = make_mlp(8, MLP, seed=3)
    x = random_inputs(model, 5, seed=4)
    plugins = load_plugins("default")
    hw = _convert(_streamlined(model), plugins)
    names = [n.name for n in hw.graph.node if plugins.layer_kinds.is_hw(n)]
    assert names == ["MVAU_0", "MVAU_1"]
    np.testing.assert_array_equal(execute(hw, x, plugins.layer_kinds), qonnx_outputs(model, x))
    hw = _convert(_streamlined(model), plugins, standalone=True)
    ops = [n.op_type for n in hw.graph.node if plugins.layer_kinds.is_hw(n)]
    assert ops == ["MVAU", "Thresholding", "MVAU", "Thresholding"]


def test_a_plugin_kind_replaces_a_builtin_one(plugin):
    # replaces=True: the plugin's variant converts the MultiThresholds (its own
    # match) and is the kind the hardware nodes are wrapped in.
    name = plugin('''
        from dfx import hookimpl
        from dfx.plugins.layers.thresholding import Thresholding

        class MyThresholding(Thresholding):
            replaces = True

            @classmethod
            def match(cls, node, model, cfg):
                found = super().match(node, model, cfg)
                if found is not None:
                    found.nodes[0].doc_string = "my thresholding"
                return found

        @hookimpl
        def dfx_register_layer_kinds():
            return [MyThresholding]
    ''')
    model = make_mlp(8, MLP, seed=3)
    x = random_inputs(model, 5, seed=4)
    plugins = load_plugins(f"default,{name}")
    assert plugins.layer_kinds.kind("Thresholding").__name__ == "MyThresholding"
    assert plugins.layer_kinds.owner("Thresholding") == name
    hw = _convert(_streamlined(model), plugins, standalone=True)
    thresholds = [n for n in hw.graph.node if n.op_type == "Thresholding"]
    assert len(thresholds) == 2 and {n.doc_string for n in thresholds} == {"my thresholding"}
    assert type(plugins.layer_kinds.wrap(thresholds[0], hw)).__name__ == "MyThresholding"
    np.testing.assert_array_equal(execute(hw, x, plugins.layer_kinds), qonnx_outputs(model, x))


def test_same_op_type_from_two_plugins_names_both(plugin):
    name = plugin('''
        from dfx import hookimpl
        from dfx.layers import HWLayer

        class OtherMVAU(HWLayer):
            op_type = "MVAU"

        @hookimpl
        def dfx_register_layer_kinds():
            return [OtherMVAU]
    ''')
    with pytest.raises(PluginError) as info:
        load_plugins(f"default,{name}").layer_kinds  # noqa: B018
    message = str(info.value)
    assert "'MVAU' is registered twice" in message
    assert "'default'" in message and f"{name!r}" in message
    assert "replaces = True" in message


def test_a_match_that_raises_names_the_plugin_and_the_node(plugin):
    name = plugin('''
        from dfx import hookimpl
        from dfx.layers import HWLayer

        class Broken(HWLayer):
            op_type = "Broken"

            @classmethod
            def match(cls, node, model, cfg):
                if node.op_type == "MatMul":
                    raise ValueError("cannot read the weights")

        @hookimpl
        def dfx_register_layer_kinds():
            return [Broken]
    ''')
    model = _streamlined(make_mlp(8, MLP, seed=3))
    node = next(n for n in model.graph.node if n.op_type == "MatMul")
    with pytest.raises(PluginError) as info:
        _convert(model, load_plugins(f"default,{name}"))
    message = str(info.value)
    assert f"plugin {name!r}" in message and "layer kind Broken" in message
    assert f"node {node.name!r}" in message and "cannot read the weights" in message


def test_a_malformed_result_names_the_plugin_and_the_node(plugin):
    name = plugin('''
        from dfx import hookimpl

        @hookimpl
        def dfx_convert_node(node, model, cfg, ctx):
            if node.op_type == "MatMul":
                return "MVAU"
    ''')
    model = _streamlined(make_mlp(8, MLP, seed=3))
    node = next(n for n in model.graph.node if n.op_type == "MatMul")
    with pytest.raises(PluginError) as info:
        _convert(model, load_plugins(f"default,{name}"))
    message = str(info.value)
    assert f"plugin {name!r}" in message and f"node {node.name!r}" in message
    assert "not (op_type, Match)" in message


def test_a_kind_claiming_a_taken_node_names_both_kinds(plugin):
    # With standalone thresholds the MVAU takes the MatMul alone; this kind then
    # claims the MatMul again together with its MultiThreshold.
    name = plugin('''
        from onnx import helper
        from dfx import hookimpl
        from dfx.layers import HW_DOMAIN, HWLayer, Match

        class Greedy(HWLayer):
            op_type = "Greedy"

            @classmethod
            def match(cls, node, model, cfg):
                if node.op_type != "MultiThreshold":
                    return None
                producer = model.find_producer(node.input[0])
                hw = helper.make_node("Greedy", [producer.input[0]], [node.output[0]],
                                      domain=HW_DOMAIN)
                return Match(nodes=[hw], consumes=[node, producer])

        @hookimpl
        def dfx_register_layer_kinds():
            return [Greedy]
    ''')
    model = _streamlined(make_mlp(8, MLP, seed=3))
    matmul = next(n for n in model.graph.node if n.op_type == "MatMul")
    with pytest.raises(PluginError) as info:
        _convert(model, load_plugins(f"default,{name}"), standalone=True)
    message = str(info.value)
    assert f"plugin {name!r}" in message and "layer kind Greedy" in message
    assert f"claims node {matmul.name!r}" in message and "MVAU already took" in message


# -- the streamliner's op registry --------------------------------------------------------


def _with_abs(model):
    """``model`` with an ``Abs`` (no built-in rule) after its first, unsigned, activation."""
    act = next(n for n in model.graph.node
               if n.op_type == "Quant" and model.get_initializer(n.input[0]) is None)
    old = act.output[0]
    act.output[0] = "before_abs"
    model.graph.node.insert(list(model.graph.node).index(act) + 1, helper.make_node(
        "Abs", ["before_abs"], [old], name="MyAbs"))
    return model


def test_a_plugin_adds_a_streamlining_rule(plugin):
    name = plugin('''
        from dfx import hookimpl

        from dfx.errors import UnsupportedNodeError
        from dfx.plugins.streamline import IntValue

        def abs_of_unsigned(streamliner, node):
            value = streamliner.values[node.input[0]]
            if not (isinstance(value, IntValue) and not value.datatype.signed()
                    and (value.scale > 0).all() and (value.offset == 0).all()):
                raise UnsupportedNodeError(node.name, node.op_type, "only of unsigned values")
            streamliner.values[node.output[0]] = value

        @hookimpl
        def dfx_streamline_op_handlers():
            return {"Abs": abs_of_unsigned}
    ''')
    reference = make_mlp(8, MLP, seed=5)
    x = random_inputs(reference, 6, seed=6)
    model = _with_abs(make_mlp(8, MLP, seed=5))
    with pytest.raises(UnsupportedNodeError) as info:
        _streamlined(model)
    assert info.value.node_name == "MyAbs"
    plugins = load_plugins(f"default,{name}")
    streamlined = _streamlined(model, plugins)
    assert "Abs" not in {n.op_type for n in streamlined.graph.node}
    np.testing.assert_array_equal(qonnx_outputs(streamlined, x), qonnx_outputs(reference, x))


def test_a_plugin_rule_replaces_a_builtin_one_and_its_errors_name_it(plugin):
    name = plugin('''
        from dfx import hookimpl

        def relu(streamliner, node):
            raise RuntimeError("no Relu today")

        @hookimpl
        def dfx_streamline_op_handlers():
            return {"Relu": relu}
    ''')
    model = make_mlp(8, MLP, seed=5)
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    with pytest.raises(PluginError) as info:
        _streamlined(model, load_plugins(f"default,{name}"))
    message = str(info.value)
    assert f"plugin {name!r}" in message and f"node {relu.name!r}" in message
    assert "no Relu today" in message


def test_a_malformed_handler_registry_names_the_plugin(plugin):
    name = plugin('''
        from dfx import hookimpl

        @hookimpl
        def dfx_streamline_op_handlers():
            return ["Relu"]
    ''')
    with pytest.raises(PluginError, match=f"plugin {name!r}: dfx_streamline_op_handlers "
                                          "returned"):
        collect_op_handlers(load_plugins(f"default,{name}").hook)


def test_a_handler_that_leaves_no_value_names_the_plugin_and_the_node(plugin):
    name = plugin('''
        from dfx import hookimpl

        def forgetful(streamliner, node):
            pass  # stores nothing for its output

        def wrong(streamliner, node):
            streamliner.values[node.output[0]] = 3.0  # not a tracked value

        @hookimpl
        def dfx_streamline_op_handlers():
            return {"Relu": forgetful, "BatchNormalization": wrong}
    ''')
    model = make_mlp(8, MLP, seed=5)
    first = next(n for n in model.graph.node if n.op_type in ("Relu", "BatchNormalization"))
    with pytest.raises(PluginError) as info:
        _streamlined(model, load_plugins(f"default,{name}"))
    message = str(info.value)
    assert f"plugin {name!r}: the streamlining handler for {first.op_type}" in message
    assert f"of node {first.name!r}" in message and f"output {first.output[0]!r}" in message
    assert ("left no value" if first.op_type == "Relu" else "left float 3.0") in message


# -- a layer kind's other methods ---------------------------------------------------------


BROKEN_MVAU = '''
    from dfx import hookimpl
    from dfx.plugins.layers.mvau import MVAU

    class BrokenMVAU(MVAU):
        replaces = True

        def {method}(self, *args, **kwargs):
            raise ValueError("{method} is broken")

    @hookimpl
    def dfx_register_layer_kinds():
        return [BrokenMVAU]
'''


@pytest.mark.parametrize("method, step", [
    ("cycles", "step_target_fps_parallelization"),
    ("resources", "step_target_fps_parallelization"),
    ("op_and_param_counts", "step_generate_estimate_reports"),
])
def test_a_kind_method_that_raises_in_a_build_names_the_plugin_and_the_node(
        plugin, tmp_path, capsys, method, step):
    from dfx.cli import main

    name = plugin(BROKEN_MVAU.format(method=method))
    model = make_mlp(8, MLP, seed=3)
    model.save(str(tmp_path / "mlp.onnx"))
    code = main(["run", "--plugins", f"default,{name}", str(tmp_path / "mlp.onnx"), "-o",
                 str(tmp_path / "b"), "-q", "--target-fps", "100000"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert (f"step {step!r} failed: plugin {name!r}: layer kind BrokenMVAU (MVAU) raised "
            f"ValueError in {method}() on node 'MVAU_0': {method} is broken") in err


def test_a_kind_whose_execution_raises_in_dfx_sim_names_the_plugin_and_the_node(
        plugin, tmp_path, capsys):
    from dfx.cli import main

    name = plugin(BROKEN_MVAU.format(method="execute"))
    model = make_mlp(8, MLP, seed=3)
    model.save(str(tmp_path / "mlp.onnx"))
    np.save(tmp_path / "x.npy", random_inputs(model, 3, seed=4))
    assert main(["run", "--plugins", f"default,{name}", str(tmp_path / "mlp.onnx"), "-o",
                 str(tmp_path / "b"), "-q"]) == 0
    code = main(["sim", str(tmp_path / "b"), "--backend", "python", "-i",
                 str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    err = capsys.readouterr().err
    assert code == PluginError.exit_code and "Traceback" not in err
    assert (f"plugin {name!r}: layer kind BrokenMVAU (MVAU) raised ValueError in execute() "
            f"on node 'MVAU_0': execute is broken") in err
    assert not (tmp_path / "y.npy").exists()


def test_two_plugins_registering_one_op_type_are_both_named(plugin):
    source = '''
        from dfx import hookimpl
        from dfx.layers import HWLayer

        class {cls}(HWLayer):
            op_type = "Popcount"

        @hookimpl
        def dfx_register_layer_kinds():
            return [{cls}]
    '''
    first, second = plugin(source.format(cls="FirstPopcount")), \
        plugin(source.format(cls="SecondPopcount"))
    with pytest.raises(PluginError) as info:
        load_plugins(f"default,{first},{second}").layer_kinds  # noqa: B018
    message = str(info.value)
    assert "layer kind 'Popcount' is registered twice" in message
    assert f"by plugin {first!r} ({first}.FirstPopcount)" in message
    assert f"by plugin {second!r} ({second}.SecondPopcount)" in message


# -- the codegen manifest -----------------------------------------------------------------


def _codegen(tmp_path):
    from dfx.plugins.manifest import CODEGEN_MANIFEST, generate_codegen, record_artifact

    plugins = load_plugins("default")
    hw = _convert(_streamlined(make_mlp(8, MLP, seed=3)), plugins)
    manifest = generate_codegen(hw, plugins.layer_kinds, tmp_path)
    record_artifact(hw, "codegen", tmp_path, CODEGEN_MANIFEST)
    return hw, manifest, SimpleNamespace(artifact_dir=None, build_dir=tmp_path,
                                         step_name="step_create_stitched_ip")


def test_the_manifest_lists_modules_library_files_and_streams(tmp_path):
    from dfx.plugins.manifest import codegen_manifest

    hw, manifest, ctx = _codegen(tmp_path)
    assert [m["layer"] for m in manifest["modules"]] == ["MVAU_0", "MVAU_1"]
    assert manifest["modules"][0]["library"] == ["codegen/lib/dfx_mvau.v"]
    assert (tmp_path / "codegen" / "lib" / "dfx_mvau.v").is_file()
    edges = [(s["producer"], s["consumer"]) for s in manifest["streams"]]
    assert edges == [(None, "MVAU_0"), ("MVAU_0", "MVAU_1"), ("MVAU_1", None)]
    for relative in manifest["files"]:
        assert (tmp_path / relative).is_file()
    read, root = codegen_manifest(hw, ctx)
    assert read == manifest and root == tmp_path


def test_a_changed_manifest_file_is_refused_by_name(tmp_path):
    from dfx.errors import StepError
    from dfx.plugins.manifest import codegen_manifest

    hw, manifest, ctx = _codegen(tmp_path)
    path = tmp_path / "codegen" / "manifest.json"
    path.write_text(path.read_text().replace("MVAU_1", "MVAU_9"))
    with pytest.raises(StepError, match="codegen/manifest.json was changed after "
                                        "step_hw_codegen wrote it"):
        codegen_manifest(hw, ctx)
    path.unlink()
    with pytest.raises(StepError, match="is not in this build folder: run the build again "
                                        "from step_hw_codegen"):
        codegen_manifest(hw, ctx)


def test_a_manifest_naming_a_missing_file_names_the_layer(tmp_path):
    from dfx.errors import StepError
    from dfx.plugins.manifest import write_manifest

    hw, manifest, ctx = _codegen(tmp_path)
    manifest["modules"][1]["files"].append("codegen/MVAU_1/extra.v")
    with pytest.raises(StepError, match=r"module MVAU_1 \(layer MVAU_1\) lists "
                                        r"codegen/MVAU_1/extra.v, which does not exist"):
        write_manifest(tmp_path, manifest)
