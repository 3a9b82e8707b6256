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
