"""The vendor-tool steps: the packaged IP, out-of-context synthesis, the bitfile.

``step_create_stitched_ip``          besides ``stitched_ip/`` (``hw.py``): the script that
                                     packages it as a Vivado IP, ``stitched_ip/package_ip.tcl``;
                                     Vivado runs it into ``stitched_ip/ip/``
``step_out_of_context_synthesis``    ``report/ooc_synth_and_timing.json`` and
                                     ``report/post_synth_resources.json``, by Vivado
                                     (``ooc_synth/ooc_synth.tcl``) or, without it, by Yosys
``step_synthesize_bitfile``          ``bitfile/finn-accel.bit`` and ``.hwh`` (Zynq shell) or
                                     ``bitfile/`` link products (Alveo), by Vivado / v++

Every TCL script is written from the templates in ``dfx.tcl`` and proven by the dry run
(:mod:`dfx.tcl.dryrun`) before anything runs it. When Vivado is not found, a step still
writes and dry-runs its scripts, says plainly that Vivado did not run (in the build log and
in ``report/vivado_<purpose>.json``), and writes no figure that no tool produced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dfx.errors import ConfigError, StepError, ToolNotFoundError

OOC_DIR = "ooc_synth"
BITFILE_DIR = "bitfile"
IP_NAME = "dfx_accel"
IP_VENDOR = "dfx"
IP_LIBRARY = "dfx"
IP_VERSION = "1.0"
IP_VLNV = f"{IP_VENDOR}:{IP_LIBRARY}:{IP_NAME}:{IP_VERSION}"
#: FINN's names, which users' deployment scripts and drivers expect
BITFILE_NAME = "finn-accel.bit"
HWH_NAME = "finn-accel.hwh"


# -- which tools ------------------------------------------------------------------------------


def vivado_or_none(cfg, ctx):
    """The Vivado to run, or None (with the reason logged) when there is none.

    A ``vivado_path`` that is set but wrong is an error: the user asked for that Vivado.
    Without it, a Vivado that is not found, or is too old, means "no Vivado".
    """
    from dfx.tcl.vivado import VivadoVersionError, find_vivado

    if cfg.vivado_path:
        return find_vivado(cfg.vivado_path)
    try:
        return find_vivado()
    except VivadoVersionError:
        raise  # a Vivado is there, but too old: say so rather than quietly do without it
    except ToolNotFoundError as exc:
        ctx.log.info("Vivado not used: %s", exc)
        return None


def vivado_environment(cfg) -> str | None:
    """The Vivado release that would run (part of the cache key of the Vivado steps):
    a build made without Vivado is not reused once Vivado is installed."""
    from dfx.tcl.vivado import find_vivado

    try:
        vivado = find_vivado(cfg.vivado_path or None)
    except ToolNotFoundError:
        return None
    return f"vivado {vivado.version_string}"


def fpga_part(cfg, board) -> str | None:
    """The part the Vivado and Yosys steps target: ``fpga_part``, else the board's."""
    return cfg.fpga_part or (board.part if board else None)


def ooc_preflight(cfg, board) -> None:
    """Out-of-context synthesis needs a part (checked before the build starts)."""
    if not fpga_part(cfg, board):
        raise ConfigError("generate_outputs: out_of_context_synth needs the FPGA part: set "
                          "'board' (see dfx boards) or 'fpga_part'")


def bitfile_preflight(cfg, board) -> None:
    """A bitfile needs a board (checked before the build starts)."""
    if board is None:
        raise ConfigError("generate_outputs: the bitfile output needs 'board' (see dfx "
                          "boards): the shell (processing system and DMA, or the Alveo "
                          "platform) depends on it")


def ooc_environment(cfg) -> str | None:
    """The tool out-of-context synthesis would use, for the step's cache key (the same
    choice as :func:`_synth_tool` makes when the step runs)."""
    if str(cfg.ooc_synth_tool) != "yosys":
        vivado = vivado_environment(cfg)
        if vivado or str(cfg.ooc_synth_tool) == "vivado":
            return vivado
    from dfx.plugins.yosys_synth import find_yosys

    try:
        return f"yosys {find_yosys().version}"
    except ToolNotFoundError:
        return None


def _timeout_s(cfg) -> float:
    return float(cfg.vivado_timeout_minutes) * 60.0


def _stream_to_log(ctx, prefix: str):
    """An ``on_line`` for run_vivado: every line to the build log, each Vivado phase to the
    progress display."""

    def on_line(line: str) -> None:
        ctx.log.info("%s: %s", prefix, line)
        text = line.strip()
        if text.startswith(("Starting ", "Phase ", "DFX: ", "ERROR:", "CRITICAL WARNING:",
                            "INFO: [Common 17-83]")) or "Finished" in text[:20]:
            ctx.progress(f"{prefix}: {text[:100]}")

    return on_line


def _dry_run(script: Path, ctx, what: str) -> dict:
    """Dry-run ``script``; a summary for the status report. A script that fails the dry
    run is a bug of dfx's templates or of a plugin's: the step fails, naming it."""
    from dfx.tcl.dryrun import TclDryRunError, dry_run

    try:
        transcript = dry_run(script)
    except TclDryRunError as exc:
        raise StepError(f"the generated {what} script {script.name} failed its dry run: "
                        f"{exc}") from None
    names = transcript.names()
    ctx.log.info("dry run of %s: %d Vivado commands, all known, options checked",
                 script.name, len(names))
    return {"script": script.name, "dry_run": "passed", "commands": len(names)}


#: the generate_outputs value each Vivado purpose makes
OUTPUT_OF = {"stitched_ip": "stitched_ip", "ooc_synth": "out_of_context_synth",
             "bitfile": "bitfile"}


def _not_run(ctx, purpose: str, why: str, scripts: list[dict],
             instead: str | None = None, *, missing: list[str] = (),
             make: str | None = None) -> None:
    """Say plainly that Vivado did not run for ``purpose`` (log, progress, report file),
    and that its output is only prepared: ``missing`` is what Vivado would have made,
    ``make`` how to make it (build_status.json and the summary say so)."""
    names = ", ".join(s["script"] for s in scripts)
    produced = instead or f"no {purpose} product was made"
    ctx.log.warning("Vivado did not run (%s): %s; the Vivado scripts are written and passed "
                    "the dry run: %s", why, produced, names)
    ctx.progress(f"{purpose}: Vivado did not run ({why}); scripts written and dry-run")
    status = {"vivado": "not run", "why": why, "scripts": scripts}
    if instead:
        status["instead"] = instead
    if missing:  # what later steps (the deployment package) tell the user in turn
        status["missing"] = list(missing)
    if make:
        status["make"] = make
    ctx.write_report(f"vivado_{purpose}.json", status)
    ctx.report_output(OUTPUT_OF[purpose], "prepared", missing=list(missing), make=make,
                      why=why, scripts=[s["script"] for s in scripts])


def _run_order(folder: str, scripts: list[dict]) -> str:
    """How to run ``scripts`` by hand: in one Vivado session, in order, in ``folder``."""
    names = [s["script"] for s in scripts]
    if len(names) == 1:
        return f"in {folder}/: vivado -mode batch -source {names[0]}"
    return (f"in {folder}/, in one Vivado session (vivado -mode tcl), in this order: "
            + "; ".join(f"source {n}" for n in names))


def _ran(ctx, purpose: str, vivado, run, scripts: list[dict], outputs: list[str]) -> None:
    ctx.write_report(f"vivado_{purpose}.json", {
        "vivado": "ran", "version": vivado.version_string, "seconds": round(run.seconds, 1),
        "log": run.log_path.name, "critical_warnings": run.warnings[:20], "scripts": scripts,
        "outputs": outputs})
    ctx.report_output(OUTPUT_OF[purpose], "produced", files=outputs, tool="vivado")


# -- step_create_stitched_ip: the IP packaging ------------------------------------------------


def _package_script(rtl: Path, base: Path, part: str, board_part: str | None, cfg, *,
                    project: str) -> tuple[Path, Path]:
    """``base/package_ip.tcl``, which packages the stitched RTL in ``rtl`` as the IP
    :data:`IP_VLNV` into ``base/ip`` (project in ``base/<project>``); the script and the
    IP folder."""
    from dfx.tcl.scripts import write_stitched_ip_script

    ip_dir = base / "ip"
    script = write_stitched_ip_script(
        rtl, base / "package_ip.tcl", part=part, board_part=board_part,
        clk_period_ns=cfg.synth_clk_period_ns, project_dir=base / project, ip_dir=ip_dir,
        ip_name=IP_NAME, vendor=IP_VENDOR, library=IP_LIBRARY, version=IP_VERSION,
        gen_dcp=bool(getattr(cfg, "stitched_ip_gen_dcp", False)))
    return script, ip_dir


def package_stitched_ip(stitched_dir: Path, cfg, ctx) -> None:
    """Write ``package_ip.tcl`` beside the stitched RTL, dry-run it, and run it in Vivado
    when Vivado is found and ``stitched_ip`` is asked for (the project goes to
    ``stitched_ip/vivado_project/``, the IP to ``stitched_ip/ip/``)."""
    board = ctx.board
    part = fpga_part(cfg, board)
    if not part:
        ctx.log.warning("stitched_ip/package_ip.tcl not written: packaging the IP needs the "
                        "FPGA part; set 'board' (see dfx boards) or 'fpga_part'")
        ctx.report_output("stitched_ip", "prepared", files=["stitched_ip/dfx_top.v"],
                          missing=["stitched_ip/package_ip.tcl", "stitched_ip/ip/"],
                          why="packaging the IP needs the FPGA part",
                          make="set 'board' or 'fpga_part' and build again")
        return
    script, _ = _package_script(stitched_dir, stitched_dir, part,
                                board.board_part if board else None, cfg,
                                project="vivado_project")
    scripts = [_dry_run(script, ctx, "IP packaging")]
    if "stitched_ip" not in {str(o) for o in cfg.generate_outputs}:
        return
    vivado = vivado_or_none(cfg, ctx)
    if vivado is None:
        _not_run(ctx, "stitched_ip", "Vivado not found", scripts,
                 missing=["stitched_ip/ip/component.xml"],
                 make=_run_order("stitched_ip", scripts))
        return
    from dfx.tcl.vivado import run_vivado

    ctx.progress(f"packaging the IP with {vivado}")
    run = run_vivado(vivado, [script], workdir=stitched_dir, name="package_ip",
                     timeout_s=_timeout_s(cfg), on_line=_stream_to_log(ctx, "vivado"),
                     expect=["ip/component.xml"])
    _ran(ctx, "stitched_ip", vivado, run, scripts, ["stitched_ip/ip/component.xml"])


# -- step_out_of_context_synthesis ------------------------------------------------------------


def _synth_tool(cfg, ctx):
    """("vivado", Vivado) or ("yosys", reason) for out-of-context synthesis."""
    choice = str(cfg.ooc_synth_tool)
    if choice == "yosys":
        return "yosys", "ooc_synth_tool is yosys"
    if choice == "vivado":
        from dfx.tcl.vivado import find_vivado

        return "vivado", find_vivado(cfg.vivado_path or None)
    vivado = vivado_or_none(cfg, ctx)
    return ("vivado", vivado) if vivado is not None else ("yosys", "Vivado not found")


def out_of_context_synthesis(model, cfg, ctx):
    """Synthesize the stitched accelerator out of context; write FINN's two JSON reports."""
    from dfx.plugins.manifest import copy_stitched, stitched_design

    ooc_preflight(cfg, ctx.board)
    part = fpga_part(cfg, ctx.board)
    base = ctx.output_path(f"{OOC_DIR}/x").parent
    # The step's own copy of the stitched design of step_create_stitched_ip: it keeps
    # this step's scripts and their sources together in one folder.
    rtl = base / "rtl"
    info = copy_stitched(stitched_design(model, ctx), rtl)
    # The Vivado script is written and dry-run whichever tool runs: a build without
    # Vivado hands its user a proven script for the machine that has it.
    from dfx.tcl.scripts import write_ooc_synth_script

    script = write_ooc_synth_script(rtl, base / "ooc_synth.tcl", part=part,
                                    clk_period_ns=cfg.synth_clk_period_ns,
                                    report_dir=base / "reports",
                                    checkpoint=base / "post_synth.dcp")
    scripts = [_dry_run(script, ctx, "out-of-context synthesis")]
    tool, detail = _synth_tool(cfg, ctx)
    if tool == "vivado":
        _ooc_vivado(cfg, ctx, base, script, scripts, info, part, detail)
    else:
        if detail == "Vivado not found":
            _not_run(ctx, "ooc_synth", "Vivado not found", scripts,
                     instead="Yosys synthesized the design (resources, no timing)")
        _ooc_yosys(cfg, ctx, base, rtl, info, part, detail)
        # Yosys made the resource reports; the timing needs Vivado's script
        ctx.report_output("out_of_context_synth", "produced", tool="yosys",
                          files=["report/ooc_synth_and_timing.json",
                                 "report/post_synth_resources.json"],
                          missing=["timing (WNS, fmax): Yosys does no timing analysis"],
                          make=_run_order(OOC_DIR, scripts))
    return model


def _ooc_vivado(cfg, ctx, base: Path, script: Path, scripts: list[dict], info: dict,
                part: str, vivado):
    from dfx.reports import (
        read_vivado_timing_summary,
        read_vivado_utilization,
        read_vivado_utilization_hierarchical,
    )
    from dfx.reports.synth import (
        layer_resources_from_hierarchy,
        ooc_from_vivado,
        post_synth_resources,
    )
    from dfx.tcl.vivado import run_vivado

    reports = base / "reports"
    ctx.progress(f"out-of-context synthesis with {vivado} on {part}")
    flat_rpt = reports / "ooc_utilization.rpt"
    hier_rpt = reports / "ooc_utilization_hierarchical.rpt"
    timing_rpt = reports / "ooc_timing_summary.rpt"
    run = run_vivado(vivado, [script], workdir=base, name="ooc_synth",
                     timeout_s=_timeout_s(cfg), on_line=_stream_to_log(ctx, "vivado"),
                     expect=[flat_rpt, hier_rpt, timing_rpt])
    flat = read_vivado_utilization(flat_rpt)
    timing = read_vivado_timing_summary(timing_rpt)
    ooc = ooc_from_vivado(flat, timing, clk_period_ns=cfg.synth_clk_period_ns,
                          max_cycles=info.get("max_layer_cycles"), folder=OOC_DIR)
    ctx.write_report("ooc_synth_and_timing.json", ooc)
    hier = read_vivado_utilization_hierarchical(hier_rpt)
    per_layer = layer_resources_from_hierarchy(hier, info["layers"], top_module=info["top"])
    missing = [name for name in info["layers"] if name not in per_layer]
    if missing:
        ctx.log.warning("no instance of %s in %s (optimised away?)", ", ".join(missing),
                        hier_rpt.name)
    ctx.write_report("post_synth_resources.json",
                     post_synth_resources(per_layer, "vivado", hier_rpt.name))
    _ran(ctx, "ooc_synth", vivado, run, scripts,
         [f"{OOC_DIR}/reports/{p.name}" for p in (flat_rpt, hier_rpt, timing_rpt)])
    ctx.log.info("out-of-context synthesis: %s LUT, %s FF, WNS %s ns, fmax %.1f MHz",
                 ooc["LUT"], ooc["FF"], ooc["WNS"], ooc.get("fmax_mhz") or float("nan"))


def _ooc_yosys(cfg, ctx, base: Path, rtl: Path, info: dict, part: str, why: str):
    from dfx.plugins.yosys_synth import synthesize, yosys_family_for, yosys_ooc_summary
    from dfx.reports.synth import TOP_KEY, post_synth_resources

    board = ctx.board
    family = yosys_family_for(board) if board is not None else _family_for_part(part)
    ctx.progress(f"out-of-context synthesis with Yosys ({family}); {why}")
    ctx.log.info("out-of-context synthesis with Yosys, synth_xilinx -family %s: %s",
                 family, why)
    result = synthesize(rtl, base / "yosys", family=family, per_layer=True, part=part,
                        timeout_s=float(cfg.yosys_timeout_minutes) * 60.0, jobs=_jobs(),
                        on_progress=ctx.progress, timeout_key="yosys_timeout_minutes")
    ooc = yosys_ooc_summary(result)
    ooc["why_yosys"] = why
    ooc["timing"] = "not analysed: Yosys gives no timing; WNS and fmax need Vivado"
    ctx.write_report("ooc_synth_and_timing.json", ooc)
    per_layer, sources = {}, {}
    for _, row in result.table.iterrows():
        if row["kind"] == "top":
            name = TOP_KEY
        elif row["kind"] == "layer":
            name = row["layer"]
        else:  # FIFOs and width converters: in the top's figures, not layers
            continue
        per_layer[name] = row.to_dict()
        sources[name] = str(row.get("source"))
    ctx.write_report("post_synth_resources.json",
                     post_synth_resources(per_layer, "yosys", sources))
    ctx.log.info("Yosys: %s LUT, %s FF, %s BRAM_18K, %s DSP (no timing: Yosys does not "
                 "analyse it)", ooc["LUT"], ooc["FF"], ooc.get("BRAM_18K_equivalents"),
                 ooc["DSP"])


def _family_for_part(part: str) -> str:
    from dfx.plugins.yosys_synth import check_family, part_architecture

    family = part_architecture(part)
    if family is None:
        raise ConfigError(f"fpga_part {part!r}: Yosys cannot map this part (no synth_xilinx "
                          f"family for it); choose a board, or run with Vivado")
    return check_family(family)


def _jobs() -> int:
    import os

    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1)))


# -- step_synthesize_bitfile ------------------------------------------------------------------


def synthesize_bitfile(model, cfg, ctx):
    """The bitfile: Zynq shell (``vivado_zynq``) or Alveo link (``vitis_alveo``)."""
    from dfx.plugins.manifest import copy_stitched, stitched_design

    bitfile_preflight(cfg, ctx.board)
    board = ctx.board
    flow = str(cfg.shell_flow_type or board.shell_flow_type)
    base = ctx.output_path(f"{BITFILE_DIR}/x").parent
    rtl = base / "rtl"
    info = copy_stitched(stitched_design(model, ctx), rtl)
    if flow == "vivado_zynq":
        _zynq(cfg, ctx, base, rtl, info, board)
    elif flow == "vitis_alveo":
        _alveo(cfg, ctx, base, rtl, info, board)
    else:
        raise ConfigError(f"shell_flow_type {flow!r} is not one of vivado_zynq, vitis_alveo")
    return model


def _zynq(cfg, ctx, base: Path, rtl: Path, info: dict, board) -> None:
    from dfx.tcl.scripts import write_zynq_shell_script

    package, ip_dir = _package_script(rtl, base, board.part, board.board_part, cfg,
                                      project="ip_project")
    reports = base / "reports"
    shell = write_zynq_shell_script(
        base / "zynq_shell.tcl", board=board, ip_repo=ip_dir, ip_vlnv=IP_VLNV,
        stitch_info=info, clk_period_ns=cfg.synth_clk_period_ns,
        project_dir=base / "shell_project", bitfile_out=base / BITFILE_NAME,
        hwh_out=base / HWH_NAME, report_dir=reports, jobs=_jobs(), run_after=[package.name])
    scripts = [_dry_run(package, ctx, "IP packaging"), _dry_run(shell, ctx, "Zynq shell")]
    vivado = vivado_or_none(cfg, ctx)
    if vivado is None:
        _not_run(ctx, "bitfile", "Vivado not found", scripts,
                 missing=[f"{BITFILE_DIR}/{BITFILE_NAME}", f"{BITFILE_DIR}/{HWH_NAME}"],
                 make=_run_order(BITFILE_DIR, scripts))
        return
    from dfx.tcl.vivado import run_vivado

    ctx.progress(f"Zynq shell and bitstream with {vivado} (this takes a while)")
    run = run_vivado(vivado, [package, shell], workdir=base, name="bitfile",
                     timeout_s=_timeout_s(cfg), on_line=_stream_to_log(ctx, "vivado"),
                     expect=[BITFILE_NAME, HWH_NAME])
    _post_synth_from_shell(ctx, reports, info)
    _ran(ctx, "bitfile", vivado, run, scripts,
         [f"{BITFILE_DIR}/{BITFILE_NAME}", f"{BITFILE_DIR}/{HWH_NAME}"])


def _post_synth_from_shell(ctx, reports: Path, info: dict) -> None:
    """FINN's post-synthesis report files from the shell's runs, when Vivado wrote them."""
    from dfx.reports import read_vivado_utilization_hierarchical
    from dfx.reports.synth import layer_resources_from_hierarchy, post_synth_resources

    hier = reports / "post_synth_utilization_hierarchical.rpt"
    if hier.is_file():
        table = read_vivado_utilization_hierarchical(hier)
        per_layer = layer_resources_from_hierarchy(table, info["layers"], top_module=info["top"])
        ctx.write_report("post_synth_resources.json",
                         post_synth_resources(per_layer, "vivado", hier.name))
    timing = reports / "post_route_timing_summary.rpt"
    if timing.is_file():
        shutil.copyfile(timing, ctx.report_dir / "post_route_timing.rpt")


def _alveo(cfg, ctx, base: Path, rtl: Path, info: dict, board) -> None:
    from dfx.tcl.scripts import write_alveo_scripts

    if cfg.vitis_platform and board.platform and cfg.vitis_platform != board.platform:
        import dataclasses

        ctx.log.info("vitis_platform %s replaces the board's %s", cfg.vitis_platform,
                     board.platform)
        board = dataclasses.replace(board, platform=cfg.vitis_platform)
    package, ip_dir = _package_script(rtl, base, board.part, board.board_part, cfg,
                                      project="ip_project")
    alveo = write_alveo_scripts(base, board=board, ip_dir=ip_dir, ip_vlnv=IP_VLNV,
                                stitch_info=info, clk_period_ns=cfg.synth_clk_period_ns,
                                kernel_name=IP_NAME, run_after=[package.name])
    scripts = [_dry_run(package, ctx, "IP packaging"),
               _dry_run(alveo.kernel_script, ctx, "Alveo kernel packaging")]
    commands = [list(map(str, c)) for c in (*alveo.compile_commands, alveo.link_command)]
    (base / "vitis_commands.json").write_text(json.dumps(
        {"run_in": ".", "after": [package.name, alveo.kernel_script.name],
         "commands": commands}, indent=2) + "\n")
    xclbin = f"{BITFILE_DIR}/{alveo.xclbin.name}"
    vpp_order = f"the v++ commands of {BITFILE_DIR}/vitis_commands.json in order, in " \
                f"{BITFILE_DIR}/"
    vivado = vivado_or_none(cfg, ctx)
    if vivado is None:
        _not_run(ctx, "bitfile", "Vivado not found", scripts, missing=[xclbin],
                 make=f"{_run_order(BITFILE_DIR, scripts)}; then {vpp_order}")
        return
    from dfx.tcl.vivado import run_vivado

    ctx.progress(f"Alveo kernel with {vivado}")
    run = run_vivado(vivado, [package, alveo.kernel_script], workdir=base, name="kernel",
                     timeout_s=_timeout_s(cfg), on_line=_stream_to_log(ctx, "vivado"),
                     expect=[alveo.kernel_xo])
    from dfx.errors import ToolNotFoundError
    from dfx.tools import find_vpp

    try:
        vpp = find_vpp()
    except ToolNotFoundError:
        vpp = None
    if vpp is None:
        ctx.log.warning("v++ not found: the kernel %s is packaged, the xclbin is not linked; "
                        "run the commands of bitfile/vitis_commands.json where Vitis is "
                        "installed", alveo.kernel_xo.name)
        _ran(ctx, "bitfile", vivado, run, scripts, [f"{BITFILE_DIR}/{alveo.kernel_xo.name}"])
        ctx.report_output("bitfile", "prepared", files=[f"{BITFILE_DIR}/{alveo.kernel_xo.name}"],
                          missing=[xclbin], why="v++ not found", make=vpp_order)
        return
    for command in commands:
        _run_vpp(vpp, command, base, cfg, ctx)
    _ran(ctx, "bitfile", vivado, run, scripts, [f"{BITFILE_DIR}/{alveo.xclbin.name}"])


def _run_vpp(vpp, command: list[str], workdir: Path, cfg, ctx) -> None:
    """One v++ command (``command[0]`` is ``v++``; ``vpp``, a :class:`dfx.tools.Vpp`, runs
    it), its output streamed to the build log; stopped at the time limit."""
    ctx.progress(f"v++ {' '.join(command[1:3])}")
    result = vpp.run(command[1:], cwd=workdir, timeout_s=_timeout_s(cfg),
                     on_line=lambda line: ctx.log.info("v++: %s", line))
    if result.timed_out:
        raise StepError(f"v++ ran longer than vivado_timeout_minutes "
                        f"({cfg.vivado_timeout_minutes:g}) and was stopped: "
                        f"{' '.join(command)}")
    if result.returncode != 0:
        raise StepError(f"v++ failed (exit code {result.returncode}): {' '.join(command)}\n"
                        + "\n".join(result.first_errors()))
