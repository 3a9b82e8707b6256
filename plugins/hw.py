"""The hardware steps: RTL code generation, FIFO sizing, stitching, rtlsim performance.

``step_hw_codegen``             every layer's Verilog and memory files, in ``codegen/<layer>/``,
                                and ``codegen/manifest.json`` (:mod:`dfx.plugins.manifest`)
``step_set_fifo_depths``        FIFO depths by simulation (``auto_fifo_depths``), stitched
                                from the manifest with trial depths
``step_create_stitched_ip``     ``stitched_ip/``: the manifest's modules, FIFOs and width
                                converters as one AXI-Stream top ``dfx_top``
``step_measure_rtlsim_performance``  ``report/rtlsim_performance.json`` (FINN's keys), measured
                                on ``stitched_ip/``

Each stage reads what the one before it wrote, never the layers again: a plugin
that overrides ``dfx_hw_codegen`` or ``dfx_ip_stitch`` changes what every later
stage builds.

FIFO depths live on the layers as FINN's ``inFIFODepths`` (one per input port:
the FIFO on the stream into it) and ``outFIFODepths`` (the FIFO after the
accelerator's output), so a folding config can set them; depths a user set are
kept by the automatic sizing. There is one FIFO per stream of the dataflow graph
(:mod:`dfx.dataflow`), named after the stream's consumer.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np

from dfx.errors import StepError
from dfx.plugins.manifest import STITCHED_DIR

#: "Deep" for the sizing run: never the limit for these frame sizes. It fits the
#: simulation memory of every FIFO (rtlgen.SIM_FIFO_WORDS), so the deep design and the
#: sized ones share one compiled simulator.
DEEP_FIFO = 2048
USER_FIFOS_KEY = "dfx_user_fifo_depths"


# -- FIFO depths on the model ------------------------------------------------------


def fifo_depths(model, layer_kinds) -> dict[str, int]:
    """FIFO name (``fifo_<i>``, ...) -> depth, from the layers' inFIFODepths /
    outFIFODepths (see :mod:`dfx.dataflow`)."""
    from dfx.dataflow import DataflowGraph

    return DataflowGraph(model, layer_kinds).fifo_depths()


def set_fifo_depths_on_model(model, layer_kinds, depths: dict[str, int]) -> None:
    from dfx.dataflow import DataflowGraph

    DataflowGraph(model, layer_kinds).set_fifo_depths(depths)


def user_fifos(model) -> set[str]:
    """FIFOs whose depth the user's folding config set (kept by the automatic sizing)."""
    text = model.get_metadata_prop(USER_FIFOS_KEY)
    return set(json.loads(text)) if text else set()


def random_frames(model, layer_kinds, frames: int, seed: int = 0) -> np.ndarray:
    """Random valid input frames for the accelerator's input stream (for FIFO sizing and
    timing)."""
    from dfx.dataflow import DataflowGraph

    graph = DataflowGraph(model, layer_kinds)
    edge = graph.single_input()
    spec = graph.by_name[edge.consumer].input_streams()[edge.consumer_port]
    dt = spec.datatype
    rng = np.random.default_rng(seed)
    shape = (frames, spec.elems_per_frame)
    if dt.name == "BIPOLAR":
        return rng.choice([-1, 1], size=shape)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape)


# -- steps -------------------------------------------------------------------------


def hw_codegen(model, cfg, ctx):
    """The default ``dfx_hw_codegen``: each layer's module and memory files in
    ``codegen/<layer>/``, the kinds' library files, and ``codegen/manifest.json``."""
    from dfx.plugins.manifest import CODEGEN_MANIFEST, generate_codegen, record_artifact

    manifest = generate_codegen(model, ctx.layer_kinds, ctx.artifact_dir)
    record_artifact(model, "codegen", ctx.artifact_dir, CODEGEN_MANIFEST)
    ctx.log.info("generated %d modules, %d files (%s)", len(manifest["modules"]),
                 len(manifest["files"]), CODEGEN_MANIFEST)
    return model


def stitch_to(model, layer_kinds, out_dir: Path, depths: dict[str, int] | None = None) -> dict:
    """Generate and stitch ``model`` into ``out_dir`` in one go: for tests and scripts; the
    build's stages go through the codegen manifest instead."""
    from dfx.plugins.rtlgen import stitch

    return stitch(model, layer_kinds, out_dir, depths or fifo_depths(model, layer_kinds))


def stitch_from_codegen(model, ctx, out_dir: Path, depths: dict[str, int] | None = None) -> dict:
    """Stitch the modules of ``model``'s codegen manifest into ``out_dir`` (``depths`` None:
    the model's FIFO depths)."""
    from dfx.plugins.manifest import codegen_manifest
    from dfx.plugins.rtlgen import stitch_manifest

    manifest, root = codegen_manifest(model, ctx)
    return stitch_manifest(manifest, root, Path(out_dir),
                           depths or fifo_depths(model, ctx.layer_kinds))


def ip_stitch(model, cfg, ctx):
    """The default ``dfx_ip_stitch``: ``stitched_ip/`` with ``dfx_top.v`` and ``stitch.json``
    from the codegen manifest, packaged as a Vivado IP."""
    from dfx.plugins.manifest import STITCH_INFO, record_artifact

    out = ctx.output_path(STITCH_INFO).parent
    info = stitch_from_codegen(model, ctx, out)
    record_artifact(model, "stitched_ip", ctx.artifact_dir, STITCH_INFO)
    ctx.log.info("stitched %d layers, %d FIFOs into %s", len(info["layers"]),
                 len(info["fifos"]), out)
    from dfx.plugins.synth import package_stitched_ip

    package_stitched_ip(out, cfg, ctx)
    return model


def set_fifo_depths(model, cfg, ctx):
    """Size every FIFO by simulation, keep the user's depths, check throughput holds.

    1. Simulate with deep FIFOs and record the peak occupancy of each FIFO.
    2. Depths: between layers, the peak plus one (a full FIFO cannot take and
       give a word in the same cycle), the peak capped at one frame of the producer
       (a fast producer otherwise fills a deep FIFO with frames it runs ahead);
       at the accelerator's input and output, 2 (there the peak measures how
       eagerly the test bench pushes, not what the design needs); at least 2;
       user-set FIFOs keep their depth. Simulate again.
    3. If the steady interval grew or the design deadlocks, double the automatic
       depths and try again (at most a few times).

    Every trial, and the final design, differs from the deep one in FIFO depths only:
    the simulator takes the depths at run time, so all of them run on the one binary
    compiled for the deep design (``simulators`` in ``report/fifo_sizing.json``).
    """
    from dfx.errors import ToolNotFoundError
    from dfx.plugins.rtlsim import SimulationError, simulate
    from dfx.tools import find_verilator

    if not cfg.auto_fifo_depths:
        ctx.write_json("final_hw_config.json", _hw_config(model, ctx))
        return model
    try:
        find_verilator()
    except ToolNotFoundError as exc:
        # No simulator: keep the depths the model has, say so, build the rest.
        ctx.log.warning("FIFO sizing skipped: %s", exc)
        ctx.progress("FIFO sizing skipped: Verilator not found")
        ctx.write_report("fifo_sizing.json", {"status": "skipped", "why": str(exc),
                                              "depths": fifo_depths(model, ctx.layer_kinds)})
        ctx.write_json("final_hw_config.json", _hw_config(model, ctx))
        return model
    frames = max(4, int(cfg.fifosim_n_inferences or 0))
    x = random_frames(model, ctx.layer_kinds, frames)
    kept = user_fifos(model)
    current = fifo_depths(model, ctx.layer_kinds)
    from dfx.processes import pid_temp_prefix, sweep_dead_temp

    sweep_dead_temp("dfx-fifo-")  # what killed builds left; the pid in the name says whose
    with tempfile.TemporaryDirectory(prefix=pid_temp_prefix("dfx-fifo-")) as tmp:
        deep = {name: (depth if name in kept else DEEP_FIFO) for name, depth in current.items()}
        ctx.progress("FIFO sizing: simulating with deep FIFOs")
        deep_dir = stitch_dir(tmp, "deep", model, ctx, deep)
        reference = simulate(deep_dir, x, progress=ctx.progress)
        simulators = {reference.stats["simulator"]}
        fifos = json.loads((deep_dir / "stitch.json").read_text())["fifos"]
        peaks = {f["name"]: int(p) for f, p in zip(fifos, reference.stats["fifo_peak"])}
        boundary = {fifos[0]["name"], fifos[-1]["name"]}
        sized = {}
        for fifo in fifos:
            name = fifo["name"]
            if name in kept:
                sized[name] = current[name]
            elif name in boundary:
                sized[name] = 2
            else:
                # +1: a full FIFO cannot take and give a word in the same cycle
                sized[name] = max(2, min(peaks[name], fifo["words_per_frame"]) + 1)
        for attempt in range(4):
            ctx.progress(f"FIFO sizing: checking depths {sized}")
            try:
                check = simulate(stitch_dir(tmp, f"try{attempt}", model, ctx, sized), x,
                                 progress=ctx.progress)
                simulators.add(check.stats["simulator"])
                if check.interval_cycles <= reference.interval_cycles + 1e-9:
                    break
                why = (f"interval {check.interval_cycles:g} > {reference.interval_cycles:g} "
                       f"cycles")
            except SimulationError as exc:
                why = str(exc)
            ctx.log.info("FIFO depths %s not enough (%s); doubling", sized, why)
            sized = {n: (d if n in kept else d * 2) for n, d in sized.items()}
        else:
            raise StepError(f"FIFO sizing did not reach the deep-FIFO throughput "
                            f"({reference.interval_cycles:g} cycles per frame)")
    set_fifo_depths_on_model(model, ctx.layer_kinds, sized)
    ctx.write_report("fifo_sizing.json", {
        "status": "sized", "frames": frames, "peaks": peaks, "depths": sized,
        "user_set": sorted(kept),
        "interval_cycles_deep": reference.interval_cycles,
        "interval_cycles_sized": check.interval_cycles,
        "simulators": sorted(simulators),
    })
    ctx.write_json("final_hw_config.json", _hw_config(model, ctx))
    return model


def stitch_dir(tmp, name, model, ctx, depths: dict | None) -> Path:
    """Stitch the codegen manifest into ``tmp/name`` (``depths`` None: the model's)."""
    out = Path(tmp) / name
    stitch_from_codegen(model, ctx, out, depths)
    return out


def _hw_config(model, ctx) -> dict:
    from dfx.plugins.folding import hw_config

    return hw_config(model, ctx)


def measure_rtlsim_performance(model, cfg, ctx):
    """``report/rtlsim_performance.json``: FINN's keys, measured on the stitched design."""
    from dfx.plugins.manifest import stitched_design
    from dfx.plugins.rtlsim import simulate

    frames = max(int(cfg.rtlsim_batch_size or 1), 32)
    x = random_frames(model, ctx.layer_kinds, frames, seed=7)
    stitched = stitched_design(model, ctx)
    result = simulate(stitched, x, backpressure=cfg.rtlsim_backpressure, progress=ctx.progress)
    info = json.loads((stitched / "stitch.json").read_text())
    fclk_mhz = 1000.0 / cfg.synth_clk_period_ns
    cycles = int(result.stats["cycles"])
    runtime_ms = cycles / (fclk_mhz * 1e3)
    in_bytes = info["input"]["tdata_width"] // 8 * info["input"]["words_per_frame"]
    out_bytes = info["output"]["tdata_width"] // 8 * info["output"]["words_per_frame"]
    interval = result.interval_cycles
    report = {
        "cycles": cycles,
        "N": frames,
        "latency_cycles": result.latency_cycles,
        "runtime[ms]": runtime_ms,
        "throughput[images/s]": frames / (runtime_ms / 1e3),
        "DRAM_in_bandwidth[MB/s]": in_bytes * frames / (runtime_ms * 1e3),
        "DRAM_out_bandwidth[MB/s]": out_bytes * frames / (runtime_ms * 1e3),
        "fclk[mhz]": fclk_mhz,
        "stable_throughput[images/s]": fclk_mhz * 1e6 / interval,
        "interval_cycles": interval,
        "batch_within_2pct_of_stable": batch_within_2pct_of_stable(cycles, frames, interval),
        "backpressure": cfg.rtlsim_backpressure,
        "simulated_cycles_per_second": cycles / result.stats["wall_seconds"],
        "simulator": result.stats["simulator"],  # the compiled binary (FIFO sizing's)
    }
    ctx.write_report("rtlsim_performance.json", report)
    return model


def batch_within_2pct_of_stable(cycles: int, frames: int, interval: float) -> int:
    """The smallest batch whose throughput (frames over the batch's cycles, fill and drain
    included, as ``throughput[images/s]`` and the driver's throughput_test measure it) is
    within 2% of the stable throughput.

    A batch of N takes ``first + (N - 1) * interval`` cycles, ``first`` being what one frame
    takes alone (from this run: ``cycles - (frames - 1) * interval``); its rate is at least
    98% of the stable one from ``N >= 49 * (first - interval) / interval`` on."""
    first = cycles - (frames - 1) * interval
    return max(1, math.ceil(49 * (first - interval) / interval - 1e-9))


def rtlsim_execute(model, x, stitched_dir: Path, layer_kinds, backpressure: float = 0.0,
                   exact_fifos: bool = False):
    """Run ``model`` with its hardware layers simulated by Verilator (software around
    them)."""
    from dfx.dataflow import DataflowGraph
    from dfx.execute import execute
    from dfx.plugins.rtlsim import simulate

    out_shape = model.get_tensor_shape(DataflowGraph(model, layer_kinds).single_output().tensor)

    def hardware(h):
        result = simulate(stitched_dir, np.asarray(h).reshape(len(h), -1),
                          backpressure=backpressure, exact_fifos=exact_fifos)
        return result.outputs.reshape((len(h), *out_shape[1:])).astype(np.float32)

    return execute(model, x, layer_kinds, hardware=hardware)


def verify_rtlsim(model, x, files_dir: Path, layer_kinds):
    """The ``rtlsim`` verification: the stitched design of this step on the verify inputs."""
    return rtlsim_execute(model, x, Path(files_dir) / STITCHED_DIR, layer_kinds)
