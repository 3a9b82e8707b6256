"""The host driver (``pynq_driver``) and the deployment package (``deployment_package``).

``step_make_pynq_driver`` writes ``driver/`` into the build folder: FINN's ``driver.py``
flags and accelerator class (``template/``), ``validate.py``, the I/O description
``io.json``, a copy of :mod:`dfx.packing` (copied, never rewritten, so host and hardware
cannot drift) and, when Verilator is there, ``sim/``: the build's compiled simulator with
the stitched design's memory files, for ``--platform sim``. The stitched design is read
from ``stitched_ip/`` of the build (``stitch.json``), never generated again here.

``step_deployment_package`` writes ``deploy/`` (``bitfile/``, ``driver/``, a dataset if
configured, ``MISSING.md`` when the bitfile is absent) and ``deploy.zip`` of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

from dfx.dataflow import passthrough_node_names
from dfx.errors import StepError

TEMPLATE = Path(__file__).parent / "template"
DRIVER_DIR = "driver"
DEPLOY_DIR = "deploy"
TEMPLATE_FILES = ("driver.py", "driver_base.py", "validate.py")
ZYNQ_DMA = "axi_dma"  # the AXI DMA cell of tcl/templates/zynq_shell.tcl.j2
TAIL_OPS = ("Mul", "Add", "Sub", "Div")


def _stitched(ctx) -> tuple[Path, dict]:
    build = ctx.build_dir
    stitched = Path(build) / "stitched_ip" if build else None
    if stitched is None or not (stitched / "stitch.json").is_file():
        raise StepError(f"{ctx.step_name}: the build has no stitched design "
                        f"(stitched_ip/stitch.json); it comes from step_create_stitched_ip")
    return stitched, json.loads((stitched / "stitch.json").read_text())


def _perm(node) -> list[int]:
    from onnx import helper

    return next((list(helper.get_attribute_value(a)) for a in node.attribute
                 if a.name == "perm"), [])


def input_transpose(model, info: dict) -> list[int] | None:
    """The channels-last change before the hardware layers (a convnet's NCHW input becomes
    NHWC): the permutation the driver's fold_input applies, or None."""
    first = info["input"]["tensor"]
    graph_in = model.graph.input[0].name
    for node in model.graph.node:
        if node.op_type == "Transpose" and list(node.input[:1]) == [graph_in] \
                and node.output[0] == first:
            return _perm(node)
    return None


def _is_hw(node) -> bool:
    """A hardware layer (or a fork a kind took): dfx's own domains."""
    return node.domain.startswith("dfx")


def _tail(model, info: dict) -> tuple[list[dict], list[str]]:
    """The float ops after the hardware layers that the driver can apply (scales and
    biases with constant operands, the way back from channels-last), and the names of any
    software it cannot."""
    out_tensor = info["output"]["tensor"]
    post, unsupported = [], []
    names = {n.output[0]: n for n in model.graph.node}
    hw_out = out_tensor
    nodes = list(model.graph.node)
    hw_index = [i for i, n in enumerate(nodes) if _is_hw(n)]
    inside = passthrough_node_names(model, _is_hw)
    before_hw = input_transpose(model, info) is not None
    for index, node in enumerate(nodes):
        if _is_hw(node) or not node.input:
            continue
        if node.name in inside:
            continue  # a reshape between layers: the stream passes through it
        if before_hw and index < (hw_index or [0])[0] and node.op_type == "Transpose":
            continue  # the input's channels-last change: fold_input applies it
        if node.input[0] == hw_out and node.op_type == "Transpose":
            post.append({"op": "Transpose", "perm": _perm(node)})
            hw_out = node.output[0]
        elif node.input[0] == hw_out and node.op_type in TAIL_OPS:
            const = model.get_initializer(node.input[1])
            if const is None:
                unsupported.append(node.name or node.op_type)
                continue
            post.append({"op": node.op_type, "value": const.tolist()})
            hw_out = node.output[0]
        elif node.output[0] in names:
            unsupported.append(node.name or node.op_type)
    if hw_out != model.graph.output[0].name and not unsupported:
        unsupported.append("(the tail does not reach the model output)")
    return post, unsupported


def io_description(model, info: dict, cfg, bitfile: Path | None) -> dict:
    """``io.json``: everything the driver knows about the design, FINN's names."""
    ins, outs = info["input"], info["output"]

    def shapes(side: dict, tensor: str) -> tuple[list, list, list]:
        normal = [1, *[int(d) for d in model.get_tensor_shape(tensor)[1:]]]
        folded = [1, side["words_per_frame"], side["elems"]]
        packed = [1, side["words_per_frame"], side["tdata_width"] // 8]
        return normal, folded, packed

    ishapes = shapes(ins, ins["tensor"])
    oshapes = shapes(outs, outs["tensor"])
    perm = input_transpose(model, info)
    if perm is not None:
        # the user gives the model's own layout (NCHW); fold_input transposes it
        graph_in = model.graph.input[0].name
        ishapes = ([1, *[int(d) for d in model.get_tensor_shape(graph_in)[1:]]], *ishapes[1:])
    post, unsupported = _tail(model, info)
    flow = str(getattr(cfg, "shell_flow_type", "") or "vivado_zynq")
    io = {
        "generated_by": "dfx",
        "idt": [ins["datatype"]], "odt": [outs["datatype"]],
        "ishape_normal": [ishapes[0]], "ishape_folded": [ishapes[1]],
        "ishape_packed": [ishapes[2]],
        "oshape_normal": [oshapes[0]], "oshape_folded": [oshapes[1]],
        "oshape_packed": [oshapes[2]],
        "stream_width_bits": {"input": [ins["width"]], "output": [outs["width"]]},
        "tdata_width": {"input": [ins["tdata_width"]], "output": [outs["tdata_width"]]},
        "input_dma_name": [ZYNQ_DMA], "output_dma_name": [ZYNQ_DMA],
        "dma": {"zynq": {"name": ZYNQ_DMA, "frames_per_transfer": 1},
                "alveo": {"mm2s": "dfx_mm2s_1", "s2mm": "dfx_s2mm_1"}},
        "number_of_external_weights": 0,
        "fclk_mhz": 1000.0 / float(cfg.synth_clk_period_ns),
        "platform": "alveo" if flow == "vitis_alveo" else "zynq-iodma",
        "postprocess": post,
        "bitfile": None,
    }
    if perm is not None:
        io["input_transpose"] = perm
    if unsupported:
        io["software_not_in_driver"] = unsupported
    if bitfile is not None:
        io["bitfile"] = {"name": bitfile.name, "sha256": _sha256(bitfile)}
    else:
        io["bitfile"] = {"name": "finn-accel.xclbin" if flow == "vitis_alveo"
                         else "finn-accel.bit", "sha256": None}
    return io


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _missing_bitfile(build: Path) -> tuple[list[str], str, str]:
    """What a build without a bitfile lacks, why, and what makes it: from the bitfile
    step's ``report/vivado_bitfile.json`` when it ran (the scripts it wrote, in order)."""
    try:
        status = json.loads((build / "report" / "vivado_bitfile.json").read_text())
    except (OSError, ValueError):
        status = {}
    if status.get("vivado") == "not run" and status.get("make"):
        return (status.get("missing") or ["bitfile/finn-accel.bit"],
                f"Vivado did not run: {status.get('why', 'not found')}", status["make"])
    return (["bitfile/finn-accel.bit", "bitfile/finn-accel.hwh"],
            "the build did not ask for a bitfile",
            "build with --generate-outputs bitfile where Vivado is installed")


def _bitfile(build: Path) -> Path | None:
    for name in ("finn-accel.bit", "dfx_accel.xclbin", "finn-accel.xclbin"):
        if (build / "bitfile" / name).is_file():
            return build / "bitfile" / name
    return None


def make_pynq_driver(model, cfg, ctx):
    """The default ``dfx_driver`` (``driver/``), see the module docstring."""
    import dfx.packing

    stitched, info = _stitched(ctx)
    out = ctx.output_path(f"{DRIVER_DIR}/io.json").parent
    for name in TEMPLATE_FILES:
        shutil.copyfile(TEMPLATE / name, out / name)
    shutil.copyfile(dfx.packing.__file__, out / "packing.py")
    io = io_description(model, info, cfg, _bitfile(Path(ctx.build_dir)))
    try:
        binary = _compile(stitched, ctx)
    except StepError as exc:  # no Verilator: a driver for the board only, said so
        io["sim"] = None
        io["sim_missing"] = str(exc)
        ctx.log.warning("driver without --platform sim: %s", exc)
    else:
        sim = out / "sim"
        sim.mkdir(exist_ok=True)
        shutil.copyfile(binary, sim / "Vdfx_top")
        os.chmod(sim / "Vdfx_top", 0o755)
        for dat in sorted(stitched.glob("*.dat")):
            shutil.copyfile(dat, sim / dat.name)
        from dfx.plugins.rtlsim import fifo_stages

        io["sim"] = {"folder": "sim", "binary": "Vdfx_top",
                     "max_layer_cycles": int(info.get("max_layer_cycles", 0)),
                     "in_words": info["input"]["words_per_frame"],
                     "out_words": info["output"]["words_per_frame"],
                     # the simulator takes the FIFO depths at run time (see dfx_fifo.v)
                     "fifo_capacities": [int(s["params"]["DEPTH"]) for s in fifo_stages(info)]}
    (out / "io.json").write_text(json.dumps(io, indent=2) + "\n")
    ctx.progress(f"driver: {out.name}/ ({'with' if io['sim'] else 'without'} --platform sim)")
    return model


def _compile(stitched: Path, ctx) -> Path:
    from dfx.errors import ToolNotFoundError
    from dfx.plugins.rtlsim import compile_simulator

    try:
        return compile_simulator(stitched, ctx.progress)
    except ToolNotFoundError as exc:
        raise StepError(f"Verilator not found, no simulator compiled ({exc})") from None


def deployment_package(model, cfg, ctx):
    """``deploy/`` and ``deploy/deploy.zip``: bitfile, driver, dataset (see module doc)."""
    build = Path(ctx.build_dir)
    driver = build / DRIVER_DIR
    if not (driver / "io.json").is_file():
        raise StepError("step_deployment_package: the build has no driver/ (it comes from "
                        "step_make_pynq_driver, output pynq_driver)")
    deploy = ctx.output_path(f"{DEPLOY_DIR}/x").parent
    shutil.copytree(driver, deploy / DRIVER_DIR, dirs_exist_ok=True)
    for name in ("driver.py", "validate.py", "sim/Vdfx_top"):  # the build's copy lost it
        if (deploy / DRIVER_DIR / name).is_file():
            os.chmod(deploy / DRIVER_DIR / name, 0o755)
    bitdir = deploy / "bitfile"
    bitdir.mkdir(exist_ok=True)
    bitfile = _bitfile(build)
    if bitfile is not None:
        shutil.copyfile(bitfile, bitdir / bitfile.name)
        hwh = bitfile.with_suffix(".hwh")
        if hwh.is_file():
            shutil.copyfile(hwh, bitdir / hwh.name)
    else:
        missing, why, make = _missing_bitfile(build)
        (bitdir / "README.md").write_text("No bitfile in this package: see ../MISSING.md.\n")
        (deploy / "MISSING.md").write_text(
            "# Missing from this package\n\n"
            f"- `bitfile/`: no bitstream: the build has no {', '.join(missing)} ({why}).\n"
            f"  To make it: {make}.\n"
            "  Then build again (or copy the files into `bitfile/` here).\n"
            "- Until then the driver runs the simulated accelerator:\n"
            "  `python driver/driver.py --exec_mode execute --platform sim`.\n")
        ctx.log.warning("deployment package without a bitfile (%s): deploy/MISSING.md says "
                        "what makes it", why)
        # the summary and build_status.json say it too: the package is for the
        # simulated accelerator only, until the bitfile exists
        ctx.report_output("deployment_package", "prepared", files=[f"{DEPLOY_DIR}/deploy.zip"],
                          missing=[f"{DEPLOY_DIR}/bitfile/{Path(m).name}" for m in missing],
                          why=why, make=f"{make}; then build again (see {DEPLOY_DIR}/MISSING.md)")
    dataset = cfg.get("deployment_dataset")
    if dataset:
        src = Path(dataset)
        if not src.is_file():
            raise StepError(f"deployment_dataset {dataset}: no such file")
        shutil.copyfile(src, deploy / src.name)
    zip_path = deploy / "deploy.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(deploy.rglob("*")):
            if path.is_file() and path != zip_path:
                info = zipfile.ZipInfo.from_file(path, path.relative_to(deploy).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    ctx.progress(f"deployment package: {DEPLOY_DIR}/ and {zip_path.name}"
                 + ("" if bitfile else " (no bitfile: see MISSING.md)"))
    return model
