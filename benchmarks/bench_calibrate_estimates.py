"""Resource estimates against Yosys synthesis, per layer kind (issue: Yosys OOC synthesis).

    python benchmarks/bench_calibrate_estimates.py [--quick] [--jobs 2] [--family xc7]
        [--work DIR [--reuse]] [--timeout SECONDS] [--json FILE]

Builds the three shipped models (examples/models: cybsec-mlp-w2a2, tfc-w1a1, digits-w4a4)
with dfx's own flow at a sweep of foldings:

* ``min``: no target (PE = SIMD = 1), ``mid``: 100,000 fps, ``1M``: 1,000,000 fps
  (``--mvau-wwidth-max 36``);
* ``mid-dist`` / ``mid-block``: the ``mid`` folding with every MVAU's weights forced to
  ``ram_style`` distributed / block;
* ``mid-thr`` / ``1M-thr``: ``--standalone-thresholds true`` (Thresholding layers);

stitches each design (``stitched_ip``), synthesizes every layer wrapper on its own with
Yosys (``synth_xilinx -family xc7``, out of context) and compares the layer's estimate
(``layer.resources()``, what ``report/estimate_layer_resources.json`` holds) with the
Yosys figures. Prints a per-layer table and, per layer kind (MVAU, Thresholding), for LUT,
FF, BRAM_18K and DSP: the mean and the largest absolute error in percent, and how many
layers are exact; then the LUT and FF errors per region: MVAU datapath kind, SIMD range,
PE range, where the memory went (block RAM or logic) and inside / outside the
calibration region (``dfx.plugins.layers.memory.CALIBRATION``). The error of a layer is
``|estimate - yosys| / max(yosys, 1)``.

Yosys LUT figure: every LUT the layer occupies, as :func:`dfx.reports.yosys.read_yosys_stat`
counts it (logic + LUTs used as distributed RAM, in Vivado's units, + SRLs), which is what
the estimate's ``LUT`` counts.

A design whose stitched sources equal an earlier one's (``mid-dist`` is ``mid`` when the
folding already chose distributed weights) is said so and counted once.

``--quick``: a bounded run that completes in minutes: a few layers per calibration region
(:data:`QUICK_POINTS`: MVAU inside, MVAU with PE > 32, with a weight stream wider than 36
bits, with a deep ROM forced to logic; Thresholding inside and with PE > 8), each layer
synthesized on its own, at most ``--jobs`` Yosys runs at a time, each stopped after
``--timeout`` seconds (120 in quick mode). A point that times out or fails is listed with
its folding and left out of the errors; the others are still measured.

Every mode prints the table per calibration region: layers measured, layers timed out,
and the mean and largest LUT (and FF) error.

``--work DIR`` keeps the builds, the stitched folders and the Yosys outputs in DIR; with
``--reuse``, a design whose stitched sources are byte-identical to those of a previous run
in DIR takes that run's Yosys figures (the output says which); nothing is reused without
``--reuse``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("cybsec-mlp-w2a2", "tfc-w1a1", "digits-w4a4")
MID = ["--target-fps", "100000", "--mvau-wwidth-max", "36"]
FAST = ["--target-fps", "1000000", "--mvau-wwidth-max", "36"]
THR = ["--standalone-thresholds", "true"]
#: label -> (dfx run flags, MVAU ram_style override)
FOLDINGS: dict[str, tuple[list[str], str | None]] = {
    "min": ([], None),
    "mid": (MID, None),
    "1M": (FAST, None),
    "mid-dist": (MID, "distributed"),
    "mid-block": (MID, "block"),
    "mid-thr": (MID + THR, None),
    "1M-thr": (FAST + THR, None),
}
KINDS = ("MVAU", "Thresholding")


@dataclass(frozen=True)
class Point:
    """Layers of one design to synthesize: ``model`` at folding ``base`` with ``overrides``
    (layer -> attributes set after the folding), ``layers`` the ones measured."""

    model: str
    base: str
    overrides: dict
    layers: tuple[str, ...]

    @property
    def label(self) -> str:
        changed = ",".join(f"{layer}:" + "/".join(f"{k}{v}" for k, v in attrs.items())
                           for layer, attrs in self.overrides.items())
        return f"{self.base}" + (f"+{changed}" if changed else "")


#: --quick: a few layers per calibration region (the region each lands in is computed, not
#: assumed: the table groups by the layer's own calibration_issues()).
QUICK_POINTS = (
    # inside: the foldings the search picks
    Point("cybsec-mlp-w2a2", "mid", {}, ("MVAU_1", "MVAU_3")),
    Point("digits-w4a4", "mid", {}, ("MVAU_1", "MVAU_2")),
    Point("tfc-w1a1", "mid", {}, ("MVAU_2",)),
    # MVAU, PE > 32
    Point("cybsec-mlp-w2a2", "mid", {"MVAU_1": {"PE": 64, "SIMD": 1}}, ("MVAU_1",)),
    Point("tfc-w1a1", "mid", {"MVAU_2": {"PE": 64, "SIMD": 1}}, ("MVAU_2",)),
    # MVAU, weight stream SIMD x bits > 36
    Point("cybsec-mlp-w2a2", "mid", {"MVAU_2": {"PE": 2, "SIMD": 32}}, ("MVAU_2",)),
    Point("tfc-w1a1", "mid", {"MVAU_1": {"PE": 1, "SIMD": 64}}, ("MVAU_1",)),
    # MVAU, a deep weight ROM forced to logic where block RAM is cheaper for Yosys
    # (4096 x 4 bits), and one where logic is cheaper anyway (inside: 1024 x 8 bits)
    Point("digits-w4a4", "mid", {"MVAU_0": {"PE": 1, "SIMD": 1, "ram_style": "distributed"}},
          ("MVAU_0",)),
    Point("digits-w4a4", "mid", {"MVAU_1": {"PE": 1, "SIMD": 2, "ram_style": "distributed"}},
          ("MVAU_1",)),
    # Thresholding inside, and PE > 8
    Point("cybsec-mlp-w2a2", "mid-thr", {}, ("Thresholding_0", "Thresholding_2")),
    Point("cybsec-mlp-w2a2", "mid-thr", {"Thresholding_1": {"PE": 16},
                                        "Thresholding_2": {"PE": 64}},
          ("Thresholding_1", "Thresholding_2")),
)
COMPARED = ("LUT", "FF", "BRAM_18K", "DSP")


@dataclass
class Design:
    name: str
    model: str
    folding: str
    stitched: Path
    layers: list[dict]  # name, kind, folding and estimate per layer


def source_hash(stitched: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(stitched.iterdir()):
        if path.suffix in (".v", ".dat"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(model: str, folding: str, work: Path, overrides: dict | None = None,
          tag: str | None = None) -> Design:
    """``model`` at ``folding`` (then ``overrides``: layer -> attributes), stitched."""
    from dfx.cli import main
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.hw import stitch_to

    flags, ram_style = FOLDINGS[folding]
    name = f"{model}/{tag or folding}"
    base = work / model / folding
    out = work / model / (tag or folding)
    if not (base / "build" / "final_model.onnx").is_file():
        code = main(["run", "--plugins", "default", str(ROOT / "examples" / "models" / model /
                                                        "model.onnx"),
                     "-o", str(base / "build"), "-q", "--stop-step",
                     "step_apply_folding_config", *flags])
        if code != 0:
            sys.exit(f"dfx run failed for {name}")
    wrapper = load_model(base / "build" / "final_model.onnx")
    kinds = load_plugins("default").layer_kinds
    layers = []
    for layer in kinds.hw_layers(wrapper):
        if ram_style and layer.op_type == "MVAU":
            layer.set("ram_style", ram_style)
        for key, value in (overrides or {}).get(layer.name, {}).items():
            problem = layer.check_folding({**layer.folding(), key: value})
            if problem:
                sys.exit(f"{name}: {layer.name} {key}={value}: {problem}")
            layer.set(key, value)
    stitched = out / "stitched_ip"
    stitch_to(wrapper, kinds, stitched)
    for layer in kinds.hw_layers(wrapper):
        attrs = layer.folding()
        estimate = layer.resources()
        check = getattr(layer, "calibration_issues", None)
        issues = check() if check else []
        layers.append({"layer": layer.name, "kind": layer.op_type, "PE": attrs.get("PE"),
                       "SIMD": attrs.get("SIMD", "-"), "ram_style": attrs.get("ram_style"),
                       "datapath": datapath_kind(layer),
                       "memory": "block" if estimate.get("BRAM_18K") else "logic",
                       "inside": not issues, "region": region_of(layer.op_type, issues),
                       "estimate": {k: float(estimate.get(k, 0.0)) for k in COMPARED}})
    return Design(name, model, tag or folding, stitched, layers)


def region_of(kind: str, issues: list[str]) -> str:
    """The calibration region of a layer (memory.CALIBRATION), from why it is outside."""
    from dfx.plugins.layers.memory import CALIBRATION

    if not issues:
        bounds = CALIBRATION.get(kind, {})
        inside = f"PE <= {bounds['max_pe']}" if "max_pe" in bounds else ""
        if "max_weight_stream_bits" in bounds:
            inside += f", SIMD x wbits <= {bounds['max_weight_stream_bits']}"
        return f"{kind} inside ({inside})"
    reasons = []
    for issue in issues:
        if issue.startswith("PE"):
            reasons.append(f"PE > {CALIBRATION[kind]['max_pe']}")
        elif issue.startswith("weight stream"):
            reasons.append(f"SIMD x wbits > {CALIBRATION[kind]['max_weight_stream_bits']}")
        else:
            reasons.append("deep ROM in logic")
    return f"{kind} outside: " + ", ".join(reasons)


def synthesize_design(design: Design, work: Path, args, names: list[str] | None = None,
                      jobs: int | None = None) -> tuple[dict[str, dict], dict[str, str]]:
    """Yosys figures per layer (``{layer: {LUT, FF, BRAM_18K, DSP, ...}}``) of ``names``
    (default: every layer), and ``{layer: why}`` for the runs that timed out or failed."""
    from dfx.plugins.yosys_synth import synthesize
    from dfx.reports.yosys import read_yosys_stat

    out = work / design.model / design.folding / "yosys"
    digest = source_hash(design.stitched)
    marker = out / "sources.sha256"
    names = names or [layer["layer"] for layer in design.layers]
    failed: dict[str, str] = {}
    if args.reuse and marker.is_file() and marker.read_text().strip() == digest and all(
            (out / f"{n}.stat.json").is_file() for n in names):
        print(f"  {design.name}: sources unchanged, reusing the Yosys figures in {out}",
              flush=True)
        stats = {n: out / f"{n}.stat.json" for n in names}
    else:
        marker.unlink(missing_ok=True)
        started = time.perf_counter()
        result = synthesize(design.stitched, out, family=args.family, per_layer=True,
                            top=False, timeout_s=args.timeout, jobs=jobs or args.jobs,
                            layers=names, keep_going=True)
        for run in result.failed:
            failed[run.name] = (f"timed out after {args.timeout:g} s" if run.timed_out
                                else run.error.splitlines()[0][:160])
        if not failed:
            marker.write_text(digest + "\n")
        print(f"  {design.name}: {len(names) - len(failed)} of {len(names)} layers "
              f"synthesized in {time.perf_counter() - started:.0f} s"
              + (f" ({', '.join(failed)} did not finish)" if failed else ""), flush=True)
        stats = {n: result.run(n).stat for n in names if n not in failed}
    figures = {}
    for n, path in stats.items():
        row = read_yosys_stat(path).iloc[0]
        # LUT: every LUT of the layer (logic + distributed RAM + SRL), as Vivado counts
        figures[n] = {"LUT": int(row["LUT"]), "LUT_logic": int(row["LUT_logic"]),
                      "LUTRAM": int(row["LUTRAM"]),
                      "SRL": int(row["SRL"]), "FF": int(row["FF"]),
                      "BRAM_18K": int(row["BRAM_18K"]), "DSP": int(row["DSP"]),
                      "CARRY": int(row["CARRY"])}
    return figures, failed


def datapath_kind(layer) -> str:
    """The MVAU datapath the estimate models (xnor, bipolar, dsp, lut-mult), or the kind."""
    if layer.op_type != "MVAU":
        return layer.op_type.lower()
    prm = layer.rtl_parameters()
    if prm["W_BIPOLAR"] and prm["A_BIPOLAR"]:
        return "xnor"
    if prm["W_BIPOLAR"] or prm["A_BIPOLAR"]:
        return "bipolar"
    return "dsp" if layer._use_dsp() else "lut-mult"


def _range(value, bounds: tuple[int, ...]) -> str:
    if not isinstance(value, int):
        return "-"
    low = 1
    for high in bounds:
        if value <= high:
            return f"{low}" if low == high else f"{low}-{high}"
        low = high + 1
    return f">{bounds[-1]}"


#: How the per-region table groups layers: name -> row -> group label.
REGIONS = {
    "datapath": lambda r: r["datapath"],
    "SIMD": lambda r: _range(r["SIMD"], (1, 8, 36)),
    "PE": lambda r: _range(r["PE"], (1, 8, 32)),
    "memory": lambda r: f"{r['kind']} {r['memory']}",
    "calibration region": lambda r: "inside" if r["inside"] else "outside",
}


def print_regions(rows: list[dict]) -> dict:
    """Mean and largest error of LUT and FF per group of each region key."""
    out = {}
    print(f"{'region':<20} {'group':<22} {'layers':>6}  {'LUT mean%/max%':>15}  "
          f"{'FF mean%/max%':>15}")
    for region, key in REGIONS.items():
        groups: dict[str, list[dict]] = {}
        for r in rows:
            groups.setdefault(key(r), []).append(r)
        for label in sorted(groups):
            chosen = groups[label]
            cells, out[f"{region}={label}"] = [], {"layers": len(chosen)}
            for res in ("LUT", "FF"):
                errors = [error_pct(r["estimate"][res], r["yosys"][res]) for r in chosen]
                mean, worst = sum(errors) / len(errors), max(errors)
                out[f"{region}={label}"][res] = {"mean_pct": round(mean, 1),
                                                 "max_pct": round(worst, 1)}
                cells.append(f"{mean:>7.1f}/{worst:<7.1f}")
            print(f"{region:<20} {label:<22} {len(chosen):>6}  {cells[0]:>15}  {cells[1]:>15}")
    return out


def print_calibration_regions(rows: list[dict], unfinished: list[dict]) -> dict:
    """Per calibration region: layers measured and timed out, mean and largest LUT and FF
    error (the table the issue asks for), then the points that did not finish."""
    regions = sorted({r["region"] for r in rows} | {u["region"] for u in unfinished},
                     key=lambda name: (name.split()[0], "outside" in name, name))
    out = {}
    print(f"{'region':<52} {'layers':>6} {'timed out':>9}  {'LUT mean%':>9} {'LUT max%':>8}  "
          f"{'FF mean%':>8}")
    for region in regions:
        chosen = [r for r in rows if r["region"] == region]
        lost = [u for u in unfinished if u["region"] == region]
        entry = {"layers": len(chosen), "timed_out": len(lost)}
        if chosen:
            lut = [error_pct(r["estimate"]["LUT"], r["yosys"]["LUT"]) for r in chosen]
            ff = [error_pct(r["estimate"]["FF"], r["yosys"]["FF"]) for r in chosen]
            entry.update(lut_mean_pct=round(sum(lut) / len(lut), 1),
                         lut_max_pct=round(max(lut), 1), ff_mean_pct=round(sum(ff) / len(ff), 1))
            cells = (f"{entry['lut_mean_pct']:>9.1f} {entry['lut_max_pct']:>8.1f}  "
                     f"{entry['ff_mean_pct']:>8.1f}")
        else:
            cells = f"{'-':>9} {'-':>8}  {'-':>8}"
        out[region] = entry
        print(f"{region:<52} {len(chosen):>6} {len(lost):>9}  {cells}")
    if unfinished:
        print("points that did not finish (left out of the errors above):")
        for u in unfinished:
            print(f"  {u['design']} {u['layer']} PE {u['PE']} SIMD {u['SIMD']} "
                  f"{u['ram_style'] or ''}: {u['why']}")
    return out


def error_pct(estimate: float, actual: float) -> float:
    return abs(estimate - actual) / max(actual, 1.0) * 100.0


def print_layer_table(rows: list[dict]) -> None:
    header = (f"{'design':<26} {'layer':<15} {'PE':>4} {'SIMD':>4} {'ram':<5} "
              + " ".join(f"{k + ' est/yosys':>17}" for k in COMPARED))
    print(header)
    print("-" * len(header))
    for r in rows:
        cells = " ".join(f"{r['estimate'][k]:>8g}/{r['yosys'][k]:<8g}" for k in COMPARED)
        style = (r["ram_style"] or "-")[:5]
        print(f"{r['design']:<26} {r['layer']:<15} {r['PE']!s:>4} {r['SIMD']!s:>4} "
              f"{style:<5} {cells}")


def print_summary(rows: list[dict]) -> dict:
    summary = {}
    print(f"{'kind':<13} {'layers':>6}  " + "  ".join(
        f"{k + ' mean%/max%/exact':>24}" for k in COMPARED))
    for kind in KINDS:
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            print(f"{kind:<13} {0:>6}  (no layers of this kind in the sweep)")
            continue
        cells, summary[kind] = [], {"layers": len(chosen)}
        for key in COMPARED:
            errors = [error_pct(r["estimate"][key], r["yosys"][key]) for r in chosen]
            exact = sum(r["estimate"][key] == r["yosys"][key] for r in chosen)
            mean, worst = sum(errors) / len(errors), max(errors)
            summary[kind][key] = {"mean_pct": round(mean, 1), "max_pct": round(worst, 1),
                                  "exact": exact}
            cells.append(f"{mean:>9.1f}/{worst:>6.1f}/{exact:>3}/{len(chosen):<3}")
        print(f"{kind:<13} {len(chosen):>6}  " + "  ".join(f"{c:>24}" for c in cells))
    return summary


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _rows(design: Design, figures: dict, failed: dict, names) -> tuple[list, list]:
    rows, unfinished = [], []
    for layer in design.layers:
        if layer["layer"] not in names:
            continue
        if layer["layer"] in failed:
            unfinished.append({**layer, "design": design.name, "why": failed[layer["layer"]]})
        else:
            rows.append({**layer, "design": design.name, "yosys": figures[layer["layer"]]})
    return rows, unfinished


def measure_sweep(models, foldings, work: Path, args) -> tuple[list, list]:
    """Every layer of every model at every folding label (one design at a time, its
    layers ``--jobs`` at a time)."""
    rows, unfinished, seen = [], [], {}
    for model in models:
        for folding in foldings:
            design = build(model, folding, work)
            digest = source_hash(design.stitched)
            if digest in seen:
                print(f"  {design.name}: the same stitched sources as {seen[digest]}; "
                      f"its layers are counted once", flush=True)
                continue
            seen[digest] = design.name
            figures, failed = synthesize_design(design, work, args)
            names = {layer["layer"] for layer in design.layers}
            more_rows, more_lost = _rows(design, figures, failed, names)
            rows += more_rows
            unfinished += more_lost
    return rows, unfinished


def measure_points(points, work: Path, args) -> tuple[list, list]:
    """The chosen layers of each point; the designs are built first (quick, cached), then
    synthesized ``--jobs`` designs at a time, one Yosys run each."""
    from concurrent.futures import ThreadPoolExecutor

    designs = []
    for index, point in enumerate(points):
        tag = f"q{index:02d}-{point.base}"
        designs.append((point, build(point.model, point.base, work, point.overrides, tag)))
    for point, design in designs:
        print(f"  {design.name}: {point.label}: {', '.join(point.layers)}", flush=True)

    def run(item):
        point, design = item
        return point, design, *synthesize_design(design, work, args, list(point.layers), 1)

    rows, unfinished = [], []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for point, design, figures, failed in pool.map(run, designs):
            more_rows, more_lost = _rows(design, figures, failed, set(point.layers))
            rows += more_rows
            unfinished += more_lost
    return rows, unfinished


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few layers per calibration region, in minutes")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--family", default="xc7")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per Yosys run (default 120 with --quick, else 900)")
    parser.add_argument("--work", type=Path, help="keep builds and Yosys outputs here")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: reuse Yosys figures of identical sources")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--foldings", nargs="*", default=None,
                        help=f"labels from {', '.join(FOLDINGS)}")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.reuse and not args.work:
        parser.error("--reuse needs --work")
    foldings = args.foldings or list(FOLDINGS)
    unknown = [f for f in foldings if f not in FOLDINGS]
    if unknown:
        parser.error(f"unknown foldings {unknown}; choose from {list(FOLDINGS)}")
    if args.timeout is None:
        args.timeout = 120.0 if args.quick else 900.0

    from dfx.plugins.yosys_synth import check_family, find_yosys

    check_family(args.family)
    tool = find_yosys()
    print(f"Yosys: {tool.version}, family {args.family}, {args.jobs} job(s), at most "
          f"{args.timeout:g} s per run; load average {_load()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dfx-calib-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        os.environ["DFX_CACHE_DIR"] = str(work / "cache")
        if args.quick:
            rows, unfinished = measure_points(QUICK_POINTS, work, args)
        else:
            rows, unfinished = measure_sweep(args.models, foldings, work, args)
    print()
    print("Per layer (estimate / Yosys; Yosys LUT = logic + LUTRAM + SRL):")
    print_layer_table(rows)
    print()
    print("Per layer kind: |estimate - yosys| / max(yosys, 1) in %, and exact layers:")
    summary = print_summary(rows)
    print()
    print("Per group: |estimate - yosys| in %:")
    summary["groups"] = print_regions(rows)
    print()
    print("Per calibration region (dfx.plugins.layers.memory.CALIBRATION): "
          "|estimate - yosys| / max(yosys, 1) in %:")
    summary["regions"] = print_calibration_regions(rows, unfinished)
    print(f"\n{len(rows)} layers measured, {len(unfinished)} did not finish, "
          f"{time.perf_counter() - started:.0f} s; load average {_load()}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "layers": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
