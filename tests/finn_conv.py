"""FINN's estimate-only flow on the shared convnets (issue 12), as the reference.

finn-plus 1.6.1, clock 10 ns, mvau_wwidth_max 36, xc7z020: per model and target_fps,
FINN's PE/SIMD of the matrix units in graph order and FINN's own figures.
:func:`finn_folding_config` writes those PE/SIMD as a ``folding_config_file`` for a
dfx build of the same model, so dfx's estimates price FINN's folding.
"""

from __future__ import annotations

import json
from pathlib import Path

#: (model, target_fps) -> PE/SIMD of FINN's matrix units, in graph order
FINN_FOLDINGS = {
    ("cnv-digits-w2a2", 10_000): [(1, 1), (1, 4), (1, 1), (1, 1)],
    ("cnv-digits-w2a2", 100_000): [(1, 9), (4, 18), (1, 4), (1, 1)],
    ("cnv-pad-w4a4", 10_000): [(1, 9), (1, 6), (1, 1), (1, 1)],
    ("cnv-pad-w4a4", 100_000): [(4, 9), (8, 9), (1, 4), (1, 2)],
}
#: FINN's figures: estimated fps, max cycles, sum of PE*SIMD, LUT, BRAM_18K, wall seconds
FINN_FIGURES = {
    ("cnv-digits-w2a2", 10_000): (10_851, 9_216, 7, 2_235, 4, 13.9),
    ("cnv-digits-w2a2", 100_000): (157_233, 636, 86, 3_350, 7, 13.0),
    ("cnv-pad-w4a4", 10_000): (14_468, 6_912, 17, 2_789, 4, 12.5),
    ("cnv-pad-w4a4", 100_000): (106_952, 935, 114, 7_656, 14, 8.7),
}
MATRIX_KINDS = ("MVAU", "VVAU")


def finn_folding_config(hw_config: dict, foldings: list[tuple[int, int]]) -> dict:
    """A folding config giving the matrix units of ``hw_config`` (a dfx build's
    final_hw_config.json) FINN's PE/SIMD, with FINN's default memory style ("auto");
    the other layers keep dfx's folding."""
    units = [name for name in hw_config if name.split("_")[0] in MATRIX_KINDS]
    if len(units) != len(foldings):
        raise ValueError(f"{len(units)} matrix units, {len(foldings)} FINN foldings")
    return {name: {"PE": pe, "SIMD": simd, "ram_style": "auto"}
            for name, (pe, simd) in zip(units, foldings)}


def write_finn_folding_config(build_dir: Path, model: str, fps: int, path: Path) -> Path:
    hw = json.loads((Path(build_dir) / "final_hw_config.json").read_text())
    path.write_text(json.dumps(finn_folding_config(hw, FINN_FOLDINGS[model, fps]), indent=2))
    return path


def lanes(hw_config: dict) -> int:
    """The sum of PE x SIMD of the matrix units (FINN's figure)."""
    return sum(int(v.get("PE", 1)) * int(v.get("SIMD", 1)) for name, v in hw_config.items()
               if name.split("_")[0] in MATRIX_KINDS)
