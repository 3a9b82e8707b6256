"""Stream packing: how tensors travel on dfx's AXI-Streams. The one definition.

Every producer and consumer of stream data uses these functions: the RTL
generators (memory init files), the simulation harness (input and output
files) and, later, the host drivers.

The rules
---------
* **Elements.** An element of a ``b``-bit integer datatype is encoded in ``b``
  bits: two's complement for signed types, plain binary for unsigned ones, and
  for BIPOLAR (the values -1 and +1) one bit, ``1`` for +1 and ``0`` for -1.
* **Words.** A stream word carries ``n`` elements. Element ``i`` occupies bits
  ``[i*b, (i+1)*b)``: element 0 is in the least significant bits.
* **Padding.** On an AXI-Stream, ``tdata`` is padded with zero bits up to a
  multiple of 8; the padding is in the most significant bits.
* **Order.** A tensor of shape ``(..., C)`` is sent in C order, flattened,
  ``n`` consecutive elements per word: word ``k`` holds elements
  ``k*n .. k*n+n-1``. Frames (samples of a batch) follow one another.
* **Bytes.** In files and host buffers a word is stored little-endian in
  ``ceil(n*b/8)`` bytes, so byte 0 holds bits 0..7.
"""

from __future__ import annotations

import numpy as np


def padded_bits(bits: int) -> int:
    """``bits`` rounded up to whole bytes (AXI-Stream tdata width)."""
    return (bits + 7) // 8 * 8


def encode_elements(values: np.ndarray, datatype) -> np.ndarray:
    """Integer values -> unsigned codes of ``datatype.bitwidth()`` bits (as uint64)."""
    values = np.asarray(values)
    bits = datatype.bitwidth()
    if datatype.name == "BIPOLAR":
        if not np.all(np.isin(values, (-1, 1))):
            raise ValueError("BIPOLAR values must be -1 or +1")
        return (values > 0).astype(np.uint64)
    ints = np.asarray(np.round(values), dtype=np.int64)
    if not np.array_equal(ints, values) or ints.min(initial=0) < datatype.min() or \
            ints.max(initial=0) > datatype.max():
        raise ValueError(f"values do not fit {datatype.name}")
    return (ints & ((1 << bits) - 1)).astype(np.uint64)


def decode_elements(codes: np.ndarray, datatype) -> np.ndarray:
    """Unsigned codes -> integer values of ``datatype`` (as int64)."""
    codes = np.asarray(codes, dtype=np.int64)
    bits = datatype.bitwidth()
    if datatype.name == "BIPOLAR":
        return np.where(codes & 1, 1, -1).astype(np.int64)
    if datatype.signed():
        sign = 1 << (bits - 1)
        return ((codes & ((1 << bits) - 1)) ^ sign) - sign
    return codes & ((1 << bits) - 1)


def pack_words(values: np.ndarray, datatype, elements_per_word: int) -> list[int]:
    """A flat sequence of values -> stream words as Python ints (arbitrary width)."""
    codes = encode_elements(np.asarray(values).reshape(-1), datatype)
    return join_codes(codes, datatype.bitwidth(), elements_per_word)


def join_codes(codes: np.ndarray, bits: int, elements_per_word: int) -> list[int]:
    """Unsigned ``bits``-bit codes, in order -> words of ``elements_per_word`` codes as
    Python ints (code i of a word in bits [i*bits, (i+1)*bits))."""
    codes = np.asarray(codes).reshape(-1)
    if codes.size % elements_per_word:
        raise ValueError(f"{codes.size} elements do not fill words of {elements_per_word}")
    words = []
    for start in range(0, codes.size, elements_per_word):
        word = 0
        for i, code in enumerate(codes[start:start + elements_per_word]):
            word |= int(code) << (i * bits)
        words.append(word)
    return words


def unpack_words(words: list[int], datatype, elements_per_word: int) -> np.ndarray:
    """Stream words -> the flat sequence of integer values they carry."""
    bits = datatype.bitwidth()
    mask = (1 << bits) - 1
    codes = [(word >> (i * bits)) & mask for word in words for i in range(elements_per_word)]
    return decode_elements(np.asarray(codes, dtype=np.int64), datatype)


def words_to_bytes(words: list[int], word_bits: int) -> bytes:
    """Stream words -> little-endian bytes, ``padded_bits(word_bits) / 8`` per word."""
    width = padded_bits(word_bits) // 8
    return b"".join(int(w).to_bytes(width, "little") for w in words)


def bytes_to_words(data: bytes, word_bits: int) -> list[int]:
    width = padded_bits(word_bits) // 8
    if len(data) % width:
        raise ValueError(f"{len(data)} bytes are not a whole number of {width}-byte words")
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


def pack_tensor(x: np.ndarray, datatype, elements_per_word: int) -> bytes:
    """A batch of frames -> the bytes of its stream (see the rules above).

    Vectorized: every element is spread into its bits, the bits of a word are
    padded to whole bytes and packed little-endian, so any word width works.
    """
    codes = encode_elements(np.asarray(x).reshape(-1), datatype)
    if codes.size % elements_per_word:
        raise ValueError(f"{codes.size} elements do not fill words of {elements_per_word}")
    bits = datatype.bitwidth()
    word_bits = elements_per_word * bits
    shifts = np.arange(bits, dtype=np.uint64)
    planes = ((codes[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    planes = planes.reshape(-1, word_bits)
    pad = padded_bits(word_bits) - word_bits
    if pad:
        planes = np.pad(planes, ((0, 0), (0, pad)))
    return np.packbits(planes, axis=1, bitorder="little").tobytes()


def unpack_tensor(data: bytes, datatype, elements_per_word: int, shape) -> np.ndarray:
    """The bytes of a stream -> a batch of frames of ``shape`` (leading dim: the batch)."""
    bits = datatype.bitwidth()
    word_bits = elements_per_word * bits
    width = padded_bits(word_bits) // 8
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % width:
        raise ValueError(f"{raw.size} bytes are not a whole number of {width}-byte words")
    planes = np.unpackbits(raw.reshape(-1, width), axis=1, bitorder="little")[:, :word_bits]
    planes = planes.reshape(-1, bits).astype(np.int64)
    codes = (planes << np.arange(bits, dtype=np.int64)).sum(axis=1)
    return decode_elements(codes, datatype).reshape(shape)


def hex_lines(words: list[int], word_bits: int) -> str:
    """Words as ``$readmemh`` lines, one word per line, zero-padded hex."""
    digits = max(1, (word_bits + 3) // 4)
    return "".join(f"{int(w):0{digits}x}\n" for w in words)
