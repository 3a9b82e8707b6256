"""Stream packing: the vectorized tensor path agrees with the word-level definition."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType

from dfx.packing import (
    bytes_to_words,
    pack_tensor,
    pack_words,
    padded_bits,
    unpack_tensor,
    words_to_bytes,
)


@pytest.mark.parametrize("dt_name,elems", [("BIPOLAR", 6), ("BIPOLAR", 600), ("UINT2", 16),
                                           ("INT2", 3), ("INT4", 7), ("UINT8", 4),
                                           ("INT12", 5), ("INT32", 3), ("BINARY", 13)])
def test_pack_roundtrip_and_definition(dt_name, elems):
    dt = DataType[dt_name]
    rng = np.random.default_rng(0)
    if dt_name == "BIPOLAR":
        x = rng.choice([-1, 1], size=(5, elems * 2))
    else:
        x = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(5, elems * 2))
    data = pack_tensor(x, dt, elems)
    assert len(data) == x.size // elems * padded_bits(elems * dt.bitwidth()) // 8
    # the vectorized bytes equal the word-by-word definition
    assert data == words_to_bytes(pack_words(x, dt, elems), elems * dt.bitwidth())
    np.testing.assert_array_equal(unpack_tensor(data, dt, elems, x.shape), x)


def test_element_zero_is_in_the_least_significant_bits():
    dt = DataType["INT4"]
    (word,) = pack_words(np.array([-1, 2]), dt, 2)
    assert word == 0x2F  # element 0 = -1 -> 0xF in bits 0..3, element 1 = 2 in bits 4..7
    assert bytes_to_words(words_to_bytes([0x2F], 8), 8) == [0x2F]
    bip = pack_tensor(np.array([1, -1, -1, 1, 1, 1]), DataType["BIPOLAR"], 6)
    assert bip == bytes([0b111001])


def test_values_that_do_not_fit_are_rejected():
    with pytest.raises(ValueError):
        pack_tensor(np.array([0, 16]), DataType["UINT4"], 2)
    with pytest.raises(ValueError):
        pack_tensor(np.array([0, 1]), DataType["BIPOLAR"], 2)


# -- the fast paths against a per-element reference ------------------------------------


def _reference_bytes(values, name: str, bits: int, elems: int) -> bytes:
    """The rules, one element at a time in Python ints (independent of dfx.packing)."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    width = (elems * bits + 7) // 8
    out = bytearray()
    for start in range(0, len(flat), elems):
        word = 0
        for i, v in enumerate(flat[start:start + elems]):
            code = (1 if v > 0 else 0) if name == "BIPOLAR" else v & ((1 << bits) - 1)
            word |= code << (i * bits)
        out += word.to_bytes(width, "little")
    return bytes(out)


ALL_TYPES = (["BIPOLAR", "BINARY", "TERNARY"] + [f"INT{b}" for b in range(2, 33)]
             + [f"UINT{b}" for b in range(1, 33)] + ["INT40", "UINT48", "INT64"])


@pytest.mark.parametrize("dt_name", ALL_TYPES)
def test_every_datatype_matches_the_per_element_reference(dt_name):
    dt = DataType[dt_name]
    rng = np.random.default_rng(abs(hash(dt_name)) % 2**32)
    bits = dt.bitwidth()
    for elems in (1, 2, 3, 5, 8, 12, 13, 33):
        frames = int(rng.integers(1, 4))
        shape = (frames, elems * int(rng.integers(1, 4)))
        if dt_name == "BIPOLAR":
            x = rng.choice([-1, 1], size=shape)
        else:
            lo, hi = int(dt.min()), int(dt.max())
            x = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64) \
                if bits < 64 else rng.integers(-2**62, 2**62, size=shape)
            x.flat[0], x.flat[-1] = lo if bits < 64 else x.flat[0], hi if bits < 64 else 0
        inputs = [x] + ([x.astype(np.float32)] if bits <= 24 else [])
        for xx in inputs:
            data = pack_tensor(xx, dt, elems)
            assert data == _reference_bytes(x, dt_name, bits, elems), (dt_name, elems)
            back = unpack_tensor(data, dt, elems, x.shape)
            assert back.dtype == np.int64
            np.testing.assert_array_equal(back, x)
        # a datatype given by name packs the same (the driver has no qonnx)
        assert pack_tensor(x, dt_name, elems) == data


@pytest.mark.parametrize("dt_name,bad,what", [
    ("BIPOLAR", 0.5, "0.5"), ("BIPOLAR", 0, "0"), ("UINT4", 16, "16"),
    ("UINT4", np.nan, "nan"), ("INT2", -3, "-3"), ("UINT4", 2.5, "2.5"),
])
def test_misfits_name_the_element(dt_name, bad, what):
    x = np.ones((2, 4), dtype=np.float32)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{dt_name}: element 6 .*{what}"):
        pack_tensor(x, DataType[dt_name], 4)


def test_non_integer_datatypes_are_refused_by_name():
    with pytest.raises(ValueError, match="FLOAT32 is not an integer stream datatype"):
        pack_tensor(np.zeros(4), "FLOAT32", 2)


@pytest.mark.parametrize("dt_name,elems", [("BIPOLAR", 12), ("UINT4", 8), ("INT3", 5)])
def test_large_batches_pack_in_blocks_to_the_same_bytes(dt_name, elems):
    import dfx.packing as packing

    dt = DataType[dt_name]
    rng = np.random.default_rng(3)
    size = (packing.CHUNK_ELEMENTS // elems * 3 + 7, elems)  # several blocks and a rest
    x = rng.choice([-1, 1], size=size) if dt_name == "BIPOLAR" else \
        rng.integers(int(dt.min()), int(dt.max()), size=size, endpoint=True)
    data = pack_tensor(x.astype(np.float32), dt, elems)
    assert data == _reference_bytes(x[:50], dt_name, dt.bitwidth(), elems) + \
        pack_tensor(x[50:], dt, elems)
    assert data == words_to_bytes(pack_words(x, dt, elems), elems * dt.bitwidth())
    bad = x.astype(np.float32)
    bad[-1, -1] = 0.5
    with pytest.raises(ValueError, match=f"element {bad.size - 1} .*0.5"):
        pack_tensor(bad, dt, elems)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int16, np.int64])
@pytest.mark.parametrize("bad", [0.0, -0.0, 0.5, 2.0, -1.0000001, np.nan, np.inf, -3])
def test_bipolar_check_finds_every_non_bipolar_value(dtype, bad):
    """The bipolar check (bit tests for floats, range and zero count for integers) takes
    exactly -1 and +1, whatever the input's type and wherever the bad value is."""
    x = np.where(np.arange(24) % 3 == 0, -1, 1).astype(dtype).reshape(2, 12)
    assert pack_tensor(x, "BIPOLAR", 12) == _reference_bytes(x, "BIPOLAR", 1, 12)
    value = np.asarray(bad, dtype=np.float64)
    if np.dtype(dtype).kind in "iu":
        if not np.isfinite(value) or value != np.round(value):
            return  # not representable in an integer array
    x[1, 5] = dtype(value) if np.dtype(dtype).kind == "f" else int(value)
    if np.dtype(dtype).kind == "f" and np.float64(x[1, 5]) in (-1.0, 1.0):
        return  # rounded to +-1 by the narrower float: a valid value
    with pytest.raises(ValueError, match="BIPOLAR: element 17 "):
        pack_tensor(x, "BIPOLAR", 12)
    with pytest.raises(ValueError, match="BIPOLAR: element 17 "):
        pack_tensor(np.asfortranarray(x), "BIPOLAR", 12)  # not contiguous in C order


@pytest.mark.parametrize("dt_name,elems", [("INT12", 1), ("UINT5", 3), ("INT4", 7),
                                           ("BIPOLAR", 10), ("INT24", 1), ("UINT9", 2)])
def test_unpack_to_float32_from_an_array(dt_name, elems):
    """unpack_tensor(..., dtype=float32) on a uint8 array gives what the int64 unpack of
    the bytes gives, converted (the driver's output path)."""
    dt = DataType[dt_name]
    rng = np.random.default_rng(11)
    if dt_name == "BIPOLAR":
        y = rng.choice([-1, 1], size=(9, elems * 2))
    else:
        y = rng.integers(int(dt.min()), int(dt.max()), size=(9, elems * 2), endpoint=True)
    data = pack_tensor(y, dt, elems)
    ints = unpack_tensor(data, dt, elems, y.shape)
    assert np.array_equal(ints, y) and ints.dtype == np.int64
    floats = unpack_tensor(np.frombuffer(data, np.uint8), dt, elems, y.shape, dtype=np.float32)
    assert floats.dtype == np.float32 and np.array_equal(floats, y.astype(np.float32))
