"""What the hardware stages hand each other: the codegen manifest and the stitch artifact.

``step_hw_codegen`` writes every layer's module into ``codegen/<layer>/``, the
library files the layer kinds own (:meth:`dfx.layers.HWLayer.rtl_sources`) into
``codegen/lib/``, and ``codegen/manifest.json``::

    {"format": 1,
     "modules": [{"layer": "MVAU_0", "op_type": "MVAU", "module": "MVAU_0",
                  "files": ["codegen/MVAU_0/MVAU_0.v", ...],
                  "library": ["codegen/lib/dfx_mvau.v"], "cycles": 640,
                  "inputs": [{"port": "in0_V", "stream": "s_in"}],
                  "outputs": [{"port": "out_V", "stream": "s_1"}],
                  "input": "s_in", "output": "s_1"}, ...],
     "streams": [{"name": "s_in", "tensor": "global_in", "fifo": "fifo_0",
                  "producer": null, "producer_port": null,
                  "consumer": "MVAU_0", "consumer_port": "in0_V",
                  "producer_side": {"elems": 4, "datatype": "UINT2", "width": 8,
                                    "words_per_frame": 150},
                  "consumer_side": {...}}, ...],
     "files": {"codegen/MVAU_0/MVAU_0.v": "<sha256>", ...}}

Paths are relative to the build folder. Modules are in topological order.
Streams are the edges of the dataflow graph (:mod:`dfx.dataflow`): each goes
from a ``producer``'s output port to a ``consumer``'s input port (``null``: the
accelerator's input or output), and each side says how its layer packs the
stream (a width converter goes between sides that differ); ``fifo`` names the
FIFO stitching puts on it. A module lists its ports and their streams in
``inputs`` and ``outputs`` (``input`` and ``output`` name the first of each, for
single-stream layers). Stitching reads only this manifest (and the FIFO depths
on the model); a plugin that overrides ``dfx_hw_codegen`` changes the modules
here and every later stage (FIFO sizing, the stitched IP, rtlsim, synthesis,
the bitfile) builds what it says.

``step_create_stitched_ip`` writes ``stitched_ip/`` with ``stitch.json``; the
stages after it take the stitched design from there.

Each artifact is recorded on the model (metadata ``dfx.artifact.<name>``: path
and SHA-256), so the cache key of every later step changes with its content,
and a stage finds it in the build folder of the running build.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from dfx.errors import StepError

CODEGEN_DIR = "codegen"
CODEGEN_MANIFEST = f"{CODEGEN_DIR}/manifest.json"
LIBRARY_DIR = f"{CODEGEN_DIR}/lib"
STITCHED_DIR = "stitched_ip"
STITCH_INFO = f"{STITCHED_DIR}/stitch.json"
ARTIFACT_KEY = "dfx.artifact."
MANIFEST_FORMAT = 1


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stream_side(spec) -> dict[str, Any]:
    """One side of a manifest stream, from a :class:`dfx.layers.StreamSpec`."""
    return {"elems": int(spec.elems), "datatype": spec.datatype.name, "width": int(spec.width),
            "words_per_frame": int(spec.words_per_frame)}


# -- artifacts on the model ------------------------------------------------------------


def record_artifact(model, name: str, root: Path, relative: str) -> None:
    """Note on ``model`` that artifact ``name`` is ``root/relative`` (with its hash)."""
    digest = sha256_of(Path(root) / relative)
    model.set_metadata_prop(ARTIFACT_KEY + name,
                            json.dumps({"path": relative, "sha256": digest}))


def find_artifact(model, ctx, name: str, made_by: str) -> Path:
    """The file of artifact ``name`` for ``model``: written by this step or an earlier one
    of this build (``ctx.build_dir``), its content the one recorded on the model."""
    text = model.get_metadata_prop(ARTIFACT_KEY + name)
    if not text:
        raise StepError(f"the model carries no {name} artifact: run {made_by} before "
                        f"{getattr(ctx, 'step_name', 'this step')}")
    record = json.loads(text)
    roots = [getattr(ctx, "artifact_dir", None), getattr(ctx, "build_dir", None)]
    for root in roots:
        if root is None:
            continue
        path = Path(root) / record["path"]
        if path.is_file():
            if sha256_of(path) != record["sha256"]:
                raise StepError(f"{record['path']} was changed after {made_by} wrote it "
                                f"(its SHA-256 differs from the one on the model): run the "
                                f"build again from {made_by}")
            return path
    raise StepError(f"{record['path']} (written by {made_by}) is not in this build folder: "
                    f"run the build again from {made_by}")


# -- the codegen manifest --------------------------------------------------------------


def generate_codegen(model, layer_kinds, root: Path) -> dict:
    """Every hardware layer's module into ``root/codegen/<layer>/``, the kinds' library
    files into ``root/codegen/lib/``, and ``root/codegen/manifest.json``; returns it."""
    from dfx.dataflow import DataflowGraph

    root = Path(root)
    graph = DataflowGraph(model, layer_kinds)
    if not graph.layers:
        raise StepError("no hardware layers to generate code for")
    library: dict[str, tuple[str, Path]] = {}  # file name -> (owning kind, source)
    modules = []
    # how each layer packs each of its ports' streams
    in_sides = {}
    out_sides = {}
    ports_in, ports_out = {}, {}
    for layer in graph.layers:
        ins, outs = layer.input_streams(), layer.output_streams()
        ports_in[layer.name], ports_out[layer.name] = layer.input_ports(), layer.output_ports()
        for what, specs, tensors, ports in (
                ("input", ins, layer.stream_inputs(), ports_in[layer.name]),
                ("output", outs, layer.stream_outputs(), ports_out[layer.name])):
            if not (len(specs) == len(tensors) == len(ports)):
                raise StepError(
                    f"layer {layer.name} ({layer.op_type}, plugin "
                    f"{layer_kinds.owner(layer.op_type)!r}) streams {len(tensors)} {what} "
                    f"tensor(s) but describes {len(specs)} {what} stream(s) and "
                    f"{len(ports)} {what} port(s)")
        in_sides[layer.name] = [stream_side(spec) for spec in ins]
        out_sides[layer.name] = [stream_side(spec) for spec in outs]
    streams = []
    for edge in graph.edges:
        consumer_side = in_sides[edge.consumer][edge.consumer_port] \
            if edge.consumer is not None else None
        producer_side = out_sides[edge.producer][edge.producer_port] \
            if edge.producer is not None else consumer_side
        streams.append({
            "name": edge.name, "tensor": edge.tensor, "fifo": edge.fifo,
            "producer": edge.producer,
            "producer_port": None if edge.producer is None else
            ports_out[edge.producer][edge.producer_port],
            "consumer": edge.consumer,
            "consumer_port": None if edge.consumer is None else
            ports_in[edge.consumer][edge.consumer_port],
            "producer_side": producer_side,
            "consumer_side": consumer_side if consumer_side is not None else producer_side})
    for layer in graph.layers:
        out = root / CODEGEN_DIR / layer.name
        out.mkdir(parents=True, exist_ok=True)
        generated = layer.generate_rtl(out)
        own = []
        for source in type(layer).rtl_sources():
            source = Path(source)
            owner = library.get(source.name)
            if owner is not None and owner[1].read_bytes() != source.read_bytes():
                raise StepError(f"library file {source.name} is owned by layer kinds "
                                f"{owner[0]} and {layer.op_type} with different contents")
            library.setdefault(source.name, (layer.op_type, source))
            own.append(f"{LIBRARY_DIR}/{source.name}")
        inputs = [{"port": ports_in[layer.name][e.consumer_port], "stream": e.name}
                  for e in graph.inputs_of(layer.name)]
        outputs = [{"port": ports_out[layer.name][e.producer_port], "stream": e.name}
                   for e in graph.outputs_of(layer.name)]
        modules.append({
            "layer": layer.name, "op_type": layer.op_type, "module": generated.module,
            "files": [Path(f).resolve().relative_to(root.resolve()).as_posix()
                      for f in generated.files],
            "library": own, "cycles": int(layer.cycles()),
            "inputs": inputs, "outputs": outputs,
            "input": inputs[0]["stream"] if inputs else None,
            "output": outputs[0]["stream"] if outputs else None})
    (root / LIBRARY_DIR).mkdir(parents=True, exist_ok=True)
    for name, (_, source) in sorted(library.items()):
        shutil.copyfile(source, root / LIBRARY_DIR / name)
    from dfx.plugins.rtlgen import fifo_options

    manifest = {"format": MANIFEST_FORMAT, "modules": modules, "streams": streams,
                "fifo_options": fifo_options(model)}
    return write_manifest(root, manifest)


def write_manifest(root: Path, manifest: dict) -> dict:
    """Write ``manifest`` as ``root/codegen/manifest.json`` with the hashes of its files
    (every module's files and library files must exist under ``root``)."""
    root = Path(root)
    files = {}
    for module in manifest["modules"]:
        for relative in (*module["files"], *module["library"]):
            path = root / relative
            if not path.is_file():
                raise StepError(f"codegen manifest: module {module['module']} (layer "
                                f"{module['layer']}) lists {relative}, which does not exist")
            files[relative] = sha256_of(path)
    manifest = {**manifest, "files": dict(sorted(files.items()))}
    path = root / CODEGEN_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise StepError(f"{path} cannot be read: {exc}") from None
    if manifest.get("format") != MANIFEST_FORMAT or "modules" not in manifest:
        raise StepError(f"{path} is not a dfx codegen manifest (format {MANIFEST_FORMAT})")
    return manifest


def codegen_manifest(model, ctx) -> tuple[dict, Path]:
    """The codegen manifest of ``model`` and the folder its paths are relative to."""
    path = find_artifact(model, ctx, "codegen", "step_hw_codegen")
    return read_manifest(path), path.parent.parent


def update_codegen_manifest(model, ctx, manifest: dict) -> dict:
    """Write a changed manifest into this step's output (for ``dfx_hw_codegen`` overrides)
    and record it on ``model``; returns it with fresh file hashes."""
    manifest = write_manifest(ctx.artifact_dir, manifest)
    record_artifact(model, "codegen", ctx.artifact_dir, CODEGEN_MANIFEST)
    return manifest


def stitched_design(model, ctx) -> Path:
    """The ``stitched_ip/`` folder ``step_create_stitched_ip`` wrote for ``model``."""
    return find_artifact(model, ctx, "stitched_ip", "step_create_stitched_ip").parent


def copy_stitched(stitched_dir: Path, out_dir: Path) -> dict:
    """Copy the stitched design's sources (as its ``stitch.json`` lists them) into
    ``out_dir``; returns the stitch description."""
    stitched_dir, out_dir = Path(stitched_dir), Path(out_dir)
    info = json.loads((stitched_dir / "stitch.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (*info["files"], "stitch.json"):
        shutil.copyfile(stitched_dir / name, out_dir / name)
    return info
