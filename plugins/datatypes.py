"""Integer datatypes from value ranges, shared by the streamliner and the layer kinds."""

from __future__ import annotations


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the smallest two's-complement integer holding every value in [lo, hi]."""
    lo, hi = int(lo), int(hi)
    return max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1


def smallest_int_datatype(lo: int, hi: int):
    """The smallest qonnx DataType (BINARY, UINTn or INTn) holding every value in [lo, hi]."""
    from qonnx.core.datatype import DataType

    if lo >= 0:
        bits = max(1, int(hi).bit_length())
        return DataType["BINARY"] if bits == 1 else DataType[f"UINT{bits}"]
    return DataType[f"INT{signed_bits(lo, hi)}"]
