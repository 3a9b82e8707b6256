"""The conv layer kinds' resource estimates against Yosys (issue 12).

    python benchmarks/bench_calibrate_conv.py [--quick] [--jobs 2] [--work DIR [--reuse]]

The companion of ``bench_calibrate_estimates.py`` (same Yosys runs, same error measure,
``|estimate - yosys| / max(yosys, 1)``) for ConvolutionInputGenerator, VVAU,
StreamingMaxPool and GlobalAccPool. Designs:

* the shared convnets (examples/models: cnv-digits-w2a2, cnv-pad-w4a4) at no target,
  10,000 and 100,000 fps, and at 100,000 fps with the window generators' line buffers
  forced to block RAM (``swg-block``);
* a generated model with every conv form (tests/test_conv_rtlsim.py's ``MIXED``: a
  depthwise conv, an average pool, a 5x5 stride-2 conv, a max-pool before its
  quantizer, a global average pool), unfolded and with every kind folded;
* a sweep model of depthwise convs, pools and a global average pool (``SWEEP_MODEL``)
  at three foldings (``SWEEP_FOLDINGS``).

Each design is stitched and every layer synthesized on its own (``synth_xilinx -family
xc7``). Prints a table of the conv layers and, per kind, the mean and largest LUT and FF
error and how many layers are within 20% LUT. ``--quick``: the shared convnets at
100,000 fps only.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("ConvolutionInputGenerator", "VVAU", "StreamingMaxPool", "GlobalAccPool")
COMPARED = ("LUT", "FF", "BRAM_18K", "DSP")
FOLDINGS = {"min": [], "10k": ["--target-fps", "10000"], "100k": ["--target-fps", "100000"],
            "swg-block": ["--target-fps", "100000"]}


def _calibration_module():
    spec = importlib.util.spec_from_file_location(
        "bench_calibrate_estimates", ROOT / "benchmarks" / "bench_calibrate_estimates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _layers(model, kinds) -> list[dict]:
    rows = []
    for layer in kinds.hw_layers(model):
        estimate = layer.resources()
        rows.append({"layer": layer.name, "kind": layer.op_type,
                     "folding": {k: v for k, v in layer.folding().items()
                                 if k in ("PE", "SIMD", "M", "ram_style")},
                     "estimate": {k: float(estimate.get(k, 0.0)) for k in COMPARED}})
    return rows


def shared_design(calib, model: str, folding: str, work: Path):
    from dfx.cli import main
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import stitch_to

    out = work / model / folding
    code = main(["run", "--plugins", "default",
                 str(ROOT / "examples" / "models" / model / "model.onnx"), "-o",
                 str(out / "build"), "-q", "--stop-step", "step_apply_folding_config",
                 "--mvau-wwidth-max", "36", *FOLDINGS[folding]])
    if code != 0:
        sys.exit(f"dfx run failed for {model}/{folding}")
    kinds = load_plugins("default").layer_kinds
    wrapper = load_model(out / "build" / "final_model.onnx")
    if folding == "swg-block":
        for layer in kinds.hw_layers(wrapper):
            if layer.op_type == "ConvolutionInputGenerator":
                layer.set("ram_style", "block")
    stitch_to(wrapper, kinds, out / "stitched_ip")
    return calib.Design(f"{model}/{folding}", model, folding, out / "stitched_ip",
                        _layers(wrapper, kinds))


def mixed_design(calib, folded: bool, work: Path):
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "tests"))
    from test_conv_rtlsim import MIXED, MIXED_FOLDING

    from dfx.plugin_manager import load_plugins
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.hw import stitch_to
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.streamline import streamline_model
    from modelgen_conv import make_convnet

    kinds = load_plugins("default").layer_kinds
    shape, steps, dt = MIXED
    model = convert_to_hw(streamline_model(step_tidy_up(make_convnet(shape, steps, dt, seed=3),
                                                        None, None)),
                          SimpleNamespace(standalone_thresholds=False),
                          SimpleNamespace(layer_kinds=kinds))
    if folded:
        for layer in kinds.hw_layers(model):
            layer.set_folding(MIXED_FOLDING[layer.name])
    label = "folded" if folded else "unfolded"
    out = work / "mixed" / label
    stitch_to(model, kinds, out / "stitched_ip")
    return calib.Design(f"mixed/{label}", "mixed", label, out / "stitched_ip",
                        _layers(model, kinds))


#: a model of depthwise convs (unsigned and signed inputs, 2- and 4-bit weights, 3x3 and
#: 5x5), an average pool, a max-pool and a global average pool, and its foldings
SWEEP_MODEL = ([1, 8, 12, 12], "UINT4")
SWEEP_FOLDINGS = {
    "unfolded": {},
    "pe": {"VVAU_0": {"PE": 2}, "VVAU_1": {"PE": 4}, "VVAU_2": {"PE": 8, "SIMD": 2},
           "StreamingMaxPool_0": {"PE": 2}, "GlobalAccPool_0": {"PE": 4}},
    "wide": {"VVAU_0": {"PE": 8, "SIMD": 3}, "VVAU_1": {"PE": 8, "SIMD": 5},
             "VVAU_2": {"PE": 8, "SIMD": 4}, "StreamingMaxPool_0": {"PE": 8},
             "GlobalAccPool_0": {"PE": 16}},
}


def sweep_design(calib, folding: str, work: Path):
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "tests"))
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.convert import convert_to_hw
    from dfx.plugins.hw import stitch_to
    from dfx.plugins.importer import step_tidy_up
    from dfx.plugins.streamline import streamline_model
    from modelgen_conv import Act, Conv, Fc, Flatten, Pool, make_convnet

    steps = [Conv(8, 3, pads=[1, 1, 1, 1], group=8, weight_bits=2), Act("int", 3),
             Conv(8, 5, pads=[2, 2, 2, 2], group=8, weight_bits=4), Act("relu_uint", 4),
             Pool("avg", 2), Act("relu_uint", 3), Pool("max", 2), Conv(16, 1), Act(),
             Pool("gap"), Act("relu_uint", 4), Flatten(), Fc(4), Act("int", 4)]
    kinds = load_plugins("default").layer_kinds
    shape, dt = SWEEP_MODEL
    model = convert_to_hw(streamline_model(step_tidy_up(make_convnet(shape, steps, dt, seed=5),
                                                        None, None)),
                          SimpleNamespace(standalone_thresholds=False),
                          SimpleNamespace(layer_kinds=kinds))
    for layer in kinds.hw_layers(model):
        layer.set_folding(SWEEP_FOLDINGS[folding].get(layer.name, {}))
    out = work / "sweep" / folding
    stitch_to(model, kinds, out / "stitched_ip")
    return calib.Design(f"sweep/{folding}", "sweep", folding, out / "stitched_ip",
                        _layers(model, kinds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--family", default="xc7")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    calib = _calibration_module()
    with tempfile.TemporaryDirectory(prefix="dfx-calib-conv-") as tmp:
        work = args.work or Path(tmp)
        designs = []
        for model in ("cnv-digits-w2a2", "cnv-pad-w4a4"):
            for folding in (["100k"] if args.quick else FOLDINGS):
                designs.append(shared_design(calib, model, folding, work))
        if not args.quick:
            designs += [mixed_design(calib, False, work), mixed_design(calib, True, work)]
            designs += [sweep_design(calib, folding, work) for folding in SWEEP_FOLDINGS]
        rows = []
        for design in designs:
            figures = calib.synthesize_design(design, work, args)
            for layer in design.layers:
                if layer["kind"] in KINDS:
                    rows.append({**layer, "design": design.name,
                                 "yosys": figures[layer["layer"]]})
    print(f"\n{'design':26s} {'layer':30s} {'folding':34s} " +
          " ".join(f"{k:>13s}" for k in COMPARED))
    for row in rows:
        fold = " ".join(f"{k}={v}" for k, v in row["folding"].items())
        cells = " ".join(f"{row['estimate'][k]:6.0f}/{row['yosys'][k]:<6d}" for k in COMPARED)
        print(f"{row['design']:26s} {row['layer']:30s} {fold:34s} {cells}")
    print("\nper kind (estimate against Yosys):")
    for kind in KINDS:
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            continue
        parts = []
        for key in ("LUT", "FF"):
            errors = [calib.error_pct(r["estimate"][key], r["yosys"][key]) for r in chosen]
            parts.append(f"{key} mean {sum(errors) / len(errors):5.1f}% max {max(errors):5.1f}%")
        lut_ok = sum(calib.error_pct(r["estimate"]["LUT"], r["yosys"]["LUT"]) <= 20
                     for r in chosen)
        bram_ok = sum(r["estimate"]["BRAM_18K"] == r["yosys"]["BRAM_18K"] for r in chosen)
        print(f"  {kind:26s} {len(chosen):3d} layers: {'; '.join(parts)}; "
              f"{lut_ok}/{len(chosen)} within 20% LUT; BRAM exact {bram_ok}/{len(chosen)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
