"""The folding search's per-layer statistics give what the per-folding ROM layout gives."""

from __future__ import annotations

import numpy as np
import pytest

from dfx.plugins.layers.memory import (
    FoldedBitStates,
    divisors,
    int_bits,
    nonconst_columns,
    rom_profile,
)


def _rom_bits(codes: np.ndarray, bits: int, simd: int, pe: int) -> np.ndarray:
    """The weight ROM of dfx_mvau laid out word by word (the old, direct computation)."""
    mw, mh = codes.shape
    sf, nf = mw // simd, mh // pe
    words = codes.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    shifts = np.arange(bits, dtype=np.uint64)
    out = (words.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)
    return out.reshape(nf * sf, pe * simd * bits).astype(np.uint8)


@pytest.mark.parametrize("mw,mh,bits,seed", [(12, 10, 2, 0), (24, 18, 4, 1), (16, 8, 1, 2),
                                              (30, 12, 3, 3)])
def test_nonconst_equals_direct_layout(mw, mh, bits, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << bits, (mw, mh))
    # constant stripes, so some classes are constant and the count is not just the width
    codes[::3, :] = 0
    codes[:, ::4] |= 1
    states = FoldedBitStates(codes, bits)
    for simd in divisors(mw):
        for pe in divisors(mh):
            direct = rom_profile(_rom_bits(codes, bits, simd, pe))
            assert states.nonconst(simd, pe) == direct.nonconst, (simd, pe)


def test_int_bits_matches_uint64_layout():
    rng = np.random.default_rng(5)
    for bits in (1, 3, 8, 11):
        codes = rng.integers(0, 1 << bits, (7, 5))
        shifts = np.arange(bits, dtype=np.uint64)
        want = ((codes.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)).reshape(7, -1)
        assert np.array_equal(int_bits(codes, bits), want.astype(np.uint8))


def test_distinct_columns_of_shallow_rom():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2, (40, 6)).astype(np.uint8)
    bits = np.concatenate([base, base[:, :3], np.zeros((40, 2), np.uint8)], axis=1)
    profile = rom_profile(bits)
    assert profile.nonconst == int(nonconst_columns(bits).sum()) == 9
    assert profile.distinct == len({tuple(c) for c in base.T})
