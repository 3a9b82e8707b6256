"""LabelSelect's resource estimates against Yosys, configuration by configuration.

    python examples/dfx-labelselect/calibrate.py [--jobs 2] [--family xc7] [--work DIR]

For each configuration (labels, PE, K, value type) it makes a one-layer model, stitches
it with dfx's own stages (code generation, then the stitched top), synthesizes the layer's
wrapper with Yosys (``synth_xilinx``, out of context, as ``dfx run --ooc-synth-tool
yosys`` does) and prints the estimate (``LabelSelect.resources()``) beside the Yosys LUT
and FF counts, and the mean and largest error. This is how the coefficients in
``dfx_labelselect.layer.LUT_COST`` were chosen; rerun it after changing the Verilog.

Works with the plugin installed or not (its ``src`` folder is put on ``sys.path``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (labels, PE, K, value datatype, select_last_index)
CONFIGS = [
    (10, 1, 1, "INT8", 0), (10, 2, 1, "INT8", 0), (10, 5, 1, "INT8", 0),
    (10, 10, 1, "INT8", 0), (10, 1, 1, "INT8", 1), (10, 5, 1, "INT8", 1),
    (10, 1, 3, "INT8", 0), (10, 2, 3, "INT8", 0), (10, 5, 2, "INT8", 0),
    (10, 1, 1, "UINT4", 0), (10, 2, 1, "INT16", 0), (10, 1, 4, "INT12", 0),
    (100, 1, 1, "INT8", 0), (100, 4, 1, "INT8", 0), (100, 10, 1, "INT10", 0),
    (100, 2, 5, "INT8", 0), (1000, 1, 1, "INT16", 0), (1000, 8, 1, "INT16", 0),
    (1000, 4, 3, "INT8", 0), (2, 1, 1, "INT8", 0), (2, 2, 1, "INT8", 0),
    (16, 4, 2, "UINT2", 0), (64, 8, 1, "INT6", 0), (10, 1, 1, "BIPOLAR", 0),
]


def one_layer_model(labels: int, pe: int, k: int, datatype: str, last: int):
    """A model holding one LabelSelect node, its input of ``datatype``."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    from dfx.layers import HW_DOMAIN

    node = helper.make_node("LabelSelect", ["x"], ["y"], name="LabelSelect_0",
                            domain=HW_DOMAIN, Labels=labels, PE=pe, K=k, keepdims=1,
                            select_last_index=last, numInputVectors=[1])
    graph = helper.make_graph(
        [node], "labelselect",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, labels])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1, k])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[datatype])
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--family", default="xc7")
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE / "src"))
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import stitch_to
    from dfx.plugins.yosys_synth import synthesize
    from dfx.reports.yosys import read_yosys_stat

    plugins = load_plugins("default,dfx_labelselect")
    kinds = plugins.layer_kinds
    work = args.work or Path(tempfile.mkdtemp(prefix="labelselect-calibrate-"))
    rows = []
    for labels, pe, k, datatype, last in CONFIGS:
        model = one_layer_model(labels, pe, k, datatype, last)
        layer = kinds.hw_layers(model)[0]
        layer.converted()
        name = f"L{labels}_PE{pe}_K{k}_{datatype}" + ("_last" if last else "")
        stitched = work / name / "stitched"
        stitch_to(model, kinds, stitched)
        result = synthesize(stitched, work / name / "yosys", family=args.family,
                            per_layer=True, top=False, jobs=args.jobs)
        stat = read_yosys_stat(result.run("LabelSelect_0").stat).iloc[0]
        estimate = layer.resources()
        rows.append((name, estimate["LUT"], int(stat["LUT"]), estimate["FF"], int(stat["FF"])))
        print(f"{name:28s} LUT {estimate['LUT']:6.0f} est {int(stat['LUT']):6d} yosys   "
              f"FF {estimate['FF']:5.0f} est {int(stat['FF']):5d} yosys", flush=True)

    def error(est: float, real: int) -> float:
        return abs(est - real) / max(real, 1) * 100

    for label, e, r in (("LUT", 1, 2), ("FF", 3, 4)):
        errors = [error(row[e], row[r]) for row in rows]
        print(f"{label}: mean error {sum(errors) / len(errors):.1f} %, largest "
              f"{max(errors):.1f} % ({rows[errors.index(max(errors))][0]}), exact "
              f"{sum(1 for row in rows if row[e] == row[r])} of {len(rows)}")
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
