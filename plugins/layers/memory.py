"""Shared cost rules for the default layer kinds: on-chip memories and divisors.

The resource model is dfx's own, written from the devices' documented
primitives:

* a LUT6 holds a 64 x 1 read-only or distributed memory, so a distributed
  memory of ``depth x width`` bits costs ``width * ceil(depth / 64)`` LUTs;
* an 18 Kb block RAM can be shaped 16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18 or
  512 x 36; a memory takes the shape that needs the fewest blocks;
* an UltraRAM block is 4K x 72 (UltraScale+ only).

The issue that calibrates these figures against synthesis is tracked with the
Yosys flow; until then they are first-order estimates.
"""

from __future__ import annotations

import math
from functools import cache

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
BRAM18_BITS = 18 * 1024
URAM_SHAPE = (4096, 72)
URAM_BITS = 4096 * 72

#: How many LUTs one unit of each resource is worth when no board says
#: otherwise; used to compare foldings that trade LUTs for memories.
LUT_EQUIVALENT = {"LUT": 1.0, "FF": 0.25, "BRAM_18K": 256.0, "URAM": 2048.0, "DSP": 96.0}


@cache
def divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)


def lutram_luts(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    return width * math.ceil(depth / 64)


def bram18_count(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def uram_count(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    return math.ceil(depth / URAM_SHAPE[0]) * math.ceil(width / URAM_SHAPE[1])


def memory_resources(depth: int, width: int, style: str) -> dict[str, float]:
    """Resources of a ``depth x width`` memory in ``style`` (distributed, block, ultra)."""
    res = {"LUT": 0.0, "BRAM_18K": 0.0, "URAM": 0.0}
    if style == "distributed":
        res["LUT"] = float(lutram_luts(depth, width))
    elif style == "block":
        res["BRAM_18K"] = float(bram18_count(depth, width))
    elif style == "ultra":
        res["URAM"] = float(uram_count(depth, width))
    else:
        raise ValueError(f"unknown memory style {style!r}")
    return res


def cost(resources: dict[str, float], weights: dict[str, float] | None = None) -> float:
    """One number to compare resource vectors: LUT equivalents, or board fractions."""
    weights = weights or LUT_EQUIVALENT
    return sum(resources.get(k, 0.0) * w for k, w in weights.items())


def board_weights(board) -> dict[str, float]:
    """Weights that make each resource count as its share of the board."""
    if board is None:
        return LUT_EQUIVALENT
    weights = {}
    for key in LUT_EQUIVALENT:
        capacity = board.resources.get(key, 0)
        # A resource the board lacks is made prohibitively expensive.
        weights[key] = 1.0 / capacity if capacity else 1e6
    return weights
