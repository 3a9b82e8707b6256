"""Shared cost rules for the default layer kinds: on-chip memories and divisors.

The memory rules are calibrated against Yosys ``synth_xilinx -family xc7 -flatten``
(``benchmarks/bench_calibrate_estimates.py``), which the layer estimates use. Yosys'
``memory_libmap`` maps each memory by a documented cost model, reproduced here:

* a ROM's constant data columns are removed first; the rest is mapped to block RAM
  when ``ram_style = "block"`` is set, or when block RAM is cheaper than logic, the
  cost of logic being one unit per 64 ROM bits (``-logic-cost-rom 1/64``);
* block RAM geometry: every RAMB18 (cost 129), RAMB36 (257) and cascaded RAMB36 pair
  (513) shape, in true- or simple-dual-port mode, is tried; several address ranges of
  the memory may share one block's width (their outputs multiplexed, 1/2 per mux
  input bit); the cheapest wins (:func:`bram_mapping`);
* small read/write memories go to distributed RAM (RAM32M: 32 x 8 in 4 LUTs,
  RAM64X1S: 64 x 1 in one LUT, RAM128X1S: 2 LUTs, RAM256X1S: 4 LUTs) when cheaper
  than flip-flops (one unit per bit) or block RAM (:func:`ram_resources`).

A ROM that stays in logic costs what its contents need: :class:`RomProfile` counts
the non-constant and distinct data columns and the distinct pieces of 16 or 64
consecutive words that LUTs must hold.
"""

from __future__ import annotations

import functools
from functools import cache

import numpy as np

BRAM18_BITS = 18 * 1024

#: How many LUTs one unit of each resource is worth when no board says
#: otherwise; used to compare foldings that trade LUTs for memories.
LUT_EQUIVALENT = {"LUT": 1.0, "FF": 0.25, "BRAM_18K": 256.0, "URAM": 2048.0, "DSP": 96.0}


@cache
def divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)


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


# -- Where the estimates were measured ---------------------------------------------------

#: The calibration region: the foldings whose estimates measurements support. The LUT
#: costs (MVAU_LUT, THRESHOLDING_LUT) were fitted on Yosys runs of layers inside it
#: (benchmarks/bench_calibrate_estimates.py), and nowhere else:
#:
#: * MVAU: PE up to 32 and a weight stream (SIMD x weight bits) of at most 36 bits
#:   (any SIMD of 1); a weight ROM left in logic only where Yosys' own cost model keeps
#:   it in logic (a deeper ROM forced to logic was never synthesized);
#: * Thresholding: PE up to 8, the threshold ROM in logic on the same condition.
#:
#: The folding search offers foldings outside the region only when no folding inside it
#: meets the cycle budget, picks among them by their parallelism, not by an estimate, and
#: says so (warning and ``folding_summary.json``).
CALIBRATION = {
    "MVAU": {"max_pe": 32, "max_weight_stream_bits": 36},
    "Thresholding": {"max_pe": 8},
}


def logic_rom_outside_calibration(depth: int, width: int, style: str) -> str | None:
    """Why a ``depth x width`` ROM (``width`` non-constant bits) of ``ram_style`` ``style``
    is outside the calibration region, or None: a ROM forced to logic is calibrated only
    where Yosys' cost model would keep it in logic anyway."""
    if style != "distributed" or depth <= 1 or width <= 0:
        return None
    if bram_mapping(depth, width)[0] < depth * width * LOGIC_COST_ROM:
        return (f"a {depth} x {width} ROM in logic (ram_style distributed): calibrated "
                "only where block RAM would cost Yosys more")
    return None


# -- Yosys' memory mapping (synth_xilinx, 7-series) -----------------------------------------

#: Block RAM shapes Yosys' ``memory_libmap`` tries on 7-series: (address bits at width 1,
#: data widths, cost, 18 Kb blocks per unit). RAMB18 and RAMB36 in true-dual-port mode,
#: two cascaded RAMB36, RAMB18 and RAMB36 in simple-dual-port mode (36 and 72 bits wide).
BRAM_MAPPINGS = (
    (14, (1, 2, 4, 9, 18), 129, 1),
    (15, (1, 2, 4, 9, 18, 36), 257, 2),
    (16, (1, 2, 4, 9), 513, 4),
    (14, (1, 2, 4, 9, 18, 36), 129, 1),
    (15, (1, 2, 4, 9, 18, 36, 72), 257, 2),
)
#: Cost of one ROM bit left in logic, relative to the block RAM costs above.
LOGIC_COST_ROM = 1 / 64
#: Distributed RAM with one read/write port: (address bits, bits per unit, LUTs per
#: unit, whether units are per bit): RAM32M, RAM64X1S, RAM128X1S, RAM256X1S; cost 8 per
#: unit of full width, scaled by the bits used.
LUTRAM_SP_MAPPINGS = ((5, 8, 4, False), (6, 4, 1, True), (7, 2, 2, True), (8, 1, 4, True))


@cache
def bram_mapping(depth: int, width: int) -> tuple[float, int, int]:
    """Yosys' cheapest block RAM mapping of a ``depth x width`` memory with one read
    port: ``(cost, 18 Kb blocks, address ranges sharing a block's width)``."""
    best = None
    for abits, widths, unit_cost, blocks in BRAM_MAPPINGS:
        for index, unit in enumerate(widths):
            words = 1 << (abits - index)
            ranges = (depth - 1) // words + 1
            units = -(-ranges * width // unit)
            # + 2: Yosys' emulation score of a read port of its own
            cost = unit_cost * units + 0.5 * (ranges - 1) * width + 2
            if best is None or cost < best[0]:
                best = (cost, units * blocks, ranges)
    return best


def rom_in_block_ram(depth: int, width: int, style: str) -> bool:
    """Whether Yosys puts a ROM (``width`` non-constant data bits) in block RAM, as the
    RTL's attributes tell it: always for ``ram_style`` block (and ultra, which the RTL
    maps to block RAM), never for distributed (the RTL says ``rom_style = "logic"`` to
    Yosys, ``"distributed"`` to Vivado), and with no attribute (``auto``) when block RAM
    is cheaper than logic."""
    if depth <= 1 or width <= 0:
        return False
    if style in ("block", "ultra"):
        return True
    if style == "distributed":
        return False
    return bram_mapping(depth, width)[0] < depth * width * LOGIC_COST_ROM


@cache
def ram_resources(depth: int, width: int) -> dict[str, float]:
    """A ``depth x width`` memory written and read through one port (same address), as
    Yosys maps it: flip-flops, distributed RAM or block RAM, whichever is cheapest.
    ``LUT`` counts LUTs used as memory as Vivado does (RAM32M = 4)."""
    res = {"LUT": 0.0, "FF": 0.0, "BRAM_18K": 0.0}
    if depth <= 0 or width <= 0:
        return res
    best = ("ff", float(depth * width), 0)
    for abits, unit, luts, per_bit in LUTRAM_SP_MAPPINGS:
        ranges = (depth - 1) // (1 << abits) + 1
        cost = 8 * ranges * width // unit + 0.5 * (ranges - 1) * width
        n = ranges * width * luts if per_bit else -(-ranges * width // unit) * luts
        if cost < best[1]:
            best = ("lutram", cost, n)
    cost, blocks, _ = bram_mapping(depth, width)
    if cost - 2 < best[1]:
        best = ("bram", cost, blocks)
    if best[0] == "ff":
        res["FF"] = float(depth * width)
    elif best[0] == "lutram":
        res["LUT"] = float(best[2])
    else:
        res["BRAM_18K"] = float(best[2])
    return res


class RomProfile:
    """What synthesis sees of a ROM's contents.

    ``nonconst``: data columns that are not constant (Yosys removes constant ones);
    ``distinct``: distinct non-constant columns (registers of equal columns merge);
    ``pieces16``/``pieces64``: distinct non-constant pieces of 16 (64) consecutive words
    of a column, counted per address range: what LUTs must hold when the ROM stays in
    logic (a LUT holds 16 words when a counter drives the address, 64 otherwise).

    Only ``nonconst`` is known up front; the other counts need the ROM's contents and
    are counted when first read (a ROM that goes to block RAM never needs them). ``cols``
    is the ``(depth, nonconst)`` array of non-constant columns or a function returning it.
    ``words``, when given, is a function returning the ROM as ``(codes, bits)``: a
    ``(depth, slots)`` array of ``bits``-bit codes, the word at each address. The piece
    counts are then taken from the codes (:func:`word_pieces`), without laying out the
    ROM bit by bit (``cols``, 8 bits of memory per ROM bit, is then only read for
    ``distinct`` of a ROM of at most 64 words).
    """

    def __init__(self, depth: int, cols, distinct: int | None = None,
                 nonconst: int | None = None, words=None):
        self.depth = depth
        self._source = cols
        self._words_source = words
        self.nonconst = int(cols.shape[1] if nonconst is None else nonconst)
        if distinct is not None:
            self.__dict__["distinct"] = distinct

    @functools.cached_property
    def _cols(self) -> np.ndarray:
        return self._source() if callable(self._source) else self._source

    @functools.cached_property
    def distinct(self) -> int:
        if self.nonconst and self.depth <= 64:
            # each column of at most 64 words as one integer: a 1-D unique, not rows
            packed = np.zeros((self.nonconst, 8), np.uint8)
            packed[:, :-(-self.depth // 8)] = np.packbits(self._cols.T, axis=1)
            return int(len(np.unique(packed.view(np.uint64))))
        return self.nonconst

    @functools.cached_property
    def pieces16(self) -> int:
        return self._pieces(16)

    @functools.cached_property
    def pieces64(self) -> int:
        return self._pieces(64)

    def _pieces(self, size: int) -> int:
        if not self.nonconst:
            return 0
        if self._words_source is not None:
            codes, bits = self._words_source()
            return word_pieces(codes, bits, size)
        return _pieces(self._cols, size)


def _pieces(bits: np.ndarray, size: int) -> int:
    depth, width = bits.shape
    ranges = -(-depth // size)
    padded = np.empty((ranges * size, width), np.uint8)
    padded[:depth] = bits
    padded[depth:] = bits[-1]  # words past the end are don't-care: no new content
    weights = (np.uint64(1) << np.arange(size, dtype=np.uint64))
    # [range, column] -> the piece as an integer of `size` bits
    keys = (padded.reshape(ranges, size, width).astype(np.uint64)
            * weights[None, :, None]).sum(axis=1)
    full = np.uint64((1 << size) - 1) if size < 64 else np.uint64(2**64 - 1)
    live = (keys != 0) & (keys != full)
    if not live.any():
        return 0
    index = np.broadcast_to(np.arange(ranges)[:, None], keys.shape)[live]
    values = keys[live]
    # distinct (range, piece) pairs: sort by both, count where either changes
    # (several times faster than np.unique(..., axis=0) on the stacked pairs)
    order = np.lexsort((values, index))
    values, index = values[order], index[order]
    changes = (values[1:] != values[:-1]) | (index[1:] != index[:-1])
    return int(changes.sum()) + 1


def word_pieces(codes: np.ndarray, bits: int, size: int) -> int:
    """What :func:`_pieces` counts on the ROM's bits, from its words: ``codes`` is the
    ``(depth, slots)`` array of ``bits``-bit codes, one row per address.

    Column ``(slot, b)`` of the ROM is bit ``b`` of the slot's codes. A constant column
    only makes constant pieces, which are not counted, so every column can be taken,
    and the pieces of bit ``b`` are assembled from the codes directly, ``size`` words at
    a time: a few passes over the codes instead of a bit layout 8 times the ROM's size
    and a 64-bit copy of it (a 4096 x 4096 layer at 4 bits: 64 MB and 512 MB).
    """
    codes = np.asarray(codes)
    depth, slots = codes.shape
    if depth == 0 or slots == 0 or bits <= 0:
        return 0
    ranges = -(-depth // size)
    if ranges * size != depth:  # words past the end are don't-care: repeat the last one
        tail = np.broadcast_to(codes[-1:], (ranges * size - depth, slots))
        codes = np.concatenate([codes, tail])
    blocks = codes.reshape(ranges, size, slots)
    key_type = _uint_for(size)
    ctype = codes.dtype.type
    full = key_type(np.iinfo(key_type).max >> (np.iinfo(key_type).bits - size))
    found: list[np.ndarray] = []
    for b in range(bits):
        keys = np.zeros((ranges, slots), key_type)
        for word in range(size):
            bit = (blocks[:, word, :] >> ctype(b)) & ctype(1)
            keys |= bit.astype(key_type) << key_type(word)
        live = (keys != 0) & (keys != full)
        index = np.broadcast_to(np.arange(ranges, dtype=np.uint64)[:, None], keys.shape)
        found.append(np.stack([index[live], keys[live].astype(np.uint64)]))
    pairs = np.concatenate(found, axis=1)
    if not pairs.shape[1]:
        return 0
    if size <= 32 and ranges < 2**32:  # (range, piece) as one integer: a plain sort
        combined = np.sort((pairs[0] << np.uint64(size)) | pairs[1])
        return int((combined[1:] != combined[:-1]).sum()) + 1
    order = np.lexsort((pairs[1], pairs[0]))
    index, values = pairs[0][order], pairs[1][order]
    return int(((values[1:] != values[:-1]) | (index[1:] != index[:-1])).sum()) + 1


def rom_profile(bits: np.ndarray) -> RomProfile:
    """The :class:`RomProfile` of a ROM given as a ``(depth, width)`` 0/1 array."""
    bits = np.asarray(bits, dtype=np.uint8)
    depth = bits.shape[0]
    if depth <= 1 or bits.size == 0:
        return RomProfile(depth, np.zeros((depth, 0), np.uint8), 0)
    return RomProfile(depth, bits[:, nonconst_columns(bits)])


def nonconst_columns(bits: np.ndarray) -> np.ndarray:
    """The columns of a ``(depth, width)`` 0/1 array that are neither all 0 nor all 1."""
    return bits.any(axis=0) & ~bits.all(axis=0)


def threshold_rom_profile(thresholds: np.ndarray, pe: int, bits: int) -> RomProfile:
    """The :class:`RomProfile` of a threshold ROM as dfx's RTL lays it out: one row of
    ``thresholds`` per channel, word ``nf`` holding the ``bits``-bit two's-complement codes
    of channels ``nf*pe .. nf*pe+pe-1``."""
    t = np.asarray(thresholds, dtype=np.int64)
    codes = (t & ((1 << bits) - 1)).reshape(t.shape[0] // pe, pe * t.shape[1])
    return rom_profile(int_bits(codes, bits))


def int_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit codes ``[..., n]`` -> their bits, ``[..., n * bits]``, LSB first."""
    # the narrowest type that holds the codes: the shifted copy is bits x the codes' size
    dtype = _uint_for(bits)
    codes = np.asarray(codes).astype(dtype, copy=False)
    out = np.empty(codes.shape + (bits,), np.uint8)
    for b in range(bits):
        out[..., b] = (codes >> dtype(b)) & dtype(1)
    return out.reshape(*codes.shape[:-1], codes.shape[-1] * bits)


def _uint_for(bits: int):
    for dtype in (np.uint8, np.uint16, np.uint32):
        if bits <= np.iinfo(dtype).bits:
            return dtype
    return np.uint64


class FoldedBitStates:
    """Which bits of a matrix of codes vary within each residue class, for every folding.

    A weight ROM of folding ``(SIMD, PE)`` holds in data column ``(p, s, b)`` bit ``b``
    of the weights ``W[r, c]`` with ``r % SIMD == s`` and ``c % PE == p``, so whether the
    column is constant is a question about that residue class. Each code becomes a
    *state*: bit ``2b + v`` set when its bit ``b`` is ``v``; OR-ing the states of a class
    sets both bits of ``b`` exactly when bit ``b`` varies. Classes of ``(S, P)`` are
    unions of classes of ``(S', P')`` when ``S | S'`` and ``P | P'``, so each folding is
    reduced from the smallest folding already reduced: the weights are read once per
    distinct PE, and every further answer costs ``SIMD x PE`` states, not the matrix.
    """

    def __init__(self, codes: np.ndarray, bits: int):
        codes = np.asarray(codes)
        self.bits = bits
        state_type = _uint_for(2 * bits)
        ctype = _uint_for(bits)
        c = codes.astype(ctype, copy=False)
        states = np.zeros(codes.shape, state_type)
        for b in range(bits):
            bit = ((c >> ctype(b)) & ctype(1)).astype(state_type)
            states |= state_type(1 << 2 * b) << bit
        self.rows, self.cols = codes.shape
        self._by_pe: dict[int, np.ndarray] = {self.cols: states}  # (rows, PE)
        self._folded: dict[int, dict[int, np.ndarray]] = {}  # PE -> SIMD -> (SIMD, PE)
        self._mask = state_type(int("01" * bits, 2))
        self._nonconst: dict[tuple[int, int], int] = {}

    def _columns(self, pe: int) -> np.ndarray:
        if pe not in self._by_pe:
            base = min(p for p in self._by_pe if p % pe == 0)
            arr = self._by_pe[base]
            self._by_pe[pe] = np.bitwise_or.reduce(arr.reshape(self.rows, base // pe, pe),
                                                   axis=1)
        return self._by_pe[pe]

    def folded(self, simd: int, pe: int) -> np.ndarray:
        """The OR of the states of each class, ``(SIMD, PE)``."""
        by_simd = self._folded.setdefault(pe, {})
        if simd not in by_simd:
            if not by_simd:
                by_simd[self.rows] = self._columns(pe)
            base = min(s for s in by_simd if s % simd == 0)
            arr = by_simd[base]
            by_simd[simd] = np.bitwise_or.reduce(arr.reshape(base // simd, simd, pe), axis=0)
        return by_simd[simd]

    def nonconst(self, simd: int, pe: int) -> int:
        """Non-constant data columns of the ROM of folding ``(SIMD, PE)``."""
        key = (simd, pe)
        if key not in self._nonconst:
            if (self.rows // simd) * (self.cols // pe) <= 1:
                self._nonconst[key] = 0  # one word: every column is constant
            else:
                folded = self.folded(simd, pe)
                varying = folded & (folded >> folded.dtype.type(1)) & self._mask
                self._nonconst[key] = int(np.bitwise_count(varying).sum())
        return self._nonconst[key]


#: LUT RAM with one write and one read port (7-series): (address bits, data bits, LUTs) of
#: RAM32M (32 x 6 in 4 LUTs, simple dual port), RAM64M (64 x 3 in 4 LUTs), RAM128X1D
#: (128 x 1 in 4 LUTs).
LUTRAM_DP_MAPPINGS = ((5, 6, 4), (6, 3, 4), (7, 1, 4))


@cache
def lutram_dp_luts(depth: int, width: int) -> float:
    """LUTs used as RAM by a ``depth x width`` simple dual-port memory in LUT RAM: the
    cheapest of the primitives (the read multiplexer of deeper memories is logic, which
    the layer's own estimate counts)."""
    best = None
    for abits, bits, luts in LUTRAM_DP_MAPPINGS:
        ranges = (depth - 1) // (1 << abits) + 1
        n = ranges * -(-width // bits) * luts
        best = n if best is None else min(best, n)
    return float(best)


@cache
def dual_port_ram_resources(depth: int, width: int, style: str = "auto") -> dict[str, float]:
    """A ``depth x width`` memory with one write port and one registered read port (a line
    buffer), as Yosys maps it: ``block`` -> block RAM, ``distributed`` -> LUT RAM, ``auto``
    -> the cheaper by Yosys' costs (LUT RAM 8 per 64 bits, block RAM as in
    :func:`bram_mapping`; tiny memories go to flip-flops)."""
    res = {"LUT": 0.0, "FF": 0.0, "BRAM_18K": 0.0}
    if depth <= 0 or width <= 0:
        return res
    if depth <= 2:
        res["FF"] = float(depth * width)
        return res
    lut = lutram_dp_luts(depth, width)
    cost, blocks, _ = bram_mapping(depth, width)
    if style == "block" or (style not in ("distributed",) and cost < 2 * lut):
        res["BRAM_18K"] = float(blocks)
    else:
        res["LUT"] = lut
    return res


def clog2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())
