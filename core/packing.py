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

import re

import numpy as np


def padded_bits(bits: int) -> int:
    """``bits`` rounded up to whole bytes (AXI-Stream tdata width)."""
    return (bits + 7) // 8 * 8


class StreamType:
    """The facts packing needs about an element datatype: name, bits, range.

    Made from a datatype name (``"UINT4"``, ``"INT2"``, ``"BIPOLAR"``, ``"BINARY"``,
    ``"TERNARY"``) or from any object with a ``name`` (a qonnx ``DataType``), so this
    module needs nothing but numpy (the host driver carries a copy of it).
    """

    __slots__ = ("name", "bits", "signed", "lo", "hi", "bipolar")

    def __init__(self, datatype) -> None:
        name = datatype if isinstance(datatype, str) else getattr(datatype, "name", None)
        if not isinstance(name, str):
            raise TypeError(f"not a datatype: {datatype!r}")
        self.name = name
        self.bipolar = name == "BIPOLAR"
        if name in ("BIPOLAR", "BINARY"):
            self.bits, self.signed = 1, False
            self.lo, self.hi = (-1, 1) if self.bipolar else (0, 1)
        elif name == "TERNARY":
            self.bits, self.signed, self.lo, self.hi = 2, True, -1, 1
        elif re.fullmatch(r"U?INT[1-9][0-9]*", name):
            self.signed = not name.startswith("U")
            self.bits = int(name[4:] if self.signed is False else name[3:])
            if self.bits > 64:
                raise ValueError(f"{name}: elements wider than 64 bits are not supported")
            self.lo = -(1 << (self.bits - 1)) if self.signed else 0
            self.hi = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1
        else:
            raise ValueError(f"{name} is not an integer stream datatype (INTn, UINTn, "
                             f"BIPOLAR, BINARY, TERNARY)")


def stream_type(datatype) -> StreamType:
    """``datatype`` (a name, a qonnx DataType or a StreamType) as a :class:`StreamType`."""
    return datatype if isinstance(datatype, StreamType) else StreamType(datatype)


def _misfit(values: np.ndarray, dt: StreamType, offset: int = 0) -> str:
    """Which value breaks ``dt`` (for the error message; only called on failure)."""
    flat = values.reshape(-1)
    if dt.bipolar:
        bad = ~np.isin(flat, (-1, 1))
    else:
        with np.errstate(invalid="ignore"):
            bad = ~((flat >= dt.lo) & (flat <= dt.hi) & (np.round(flat) == flat))
    index = int(np.argmax(bad))
    value, index = flat[index].item(), index + offset
    what = "-1 or +1" if dt.bipolar else f"integers in [{dt.lo}, {dt.hi}]"
    return (f"values do not fit {dt.name}: element {index} (flat index) is "
            f"{value!r}; {dt.name} takes {what}")


#: IEEE 754 bits of 1.0, without the sign, per float width: -1.0 and +1.0 differ only there
_ONE_BITS = {4: (np.uint32, 0x3F800000, 0x7FFFFFFF),
             8: (np.uint64, 0x3FF0000000000000, 0x7FFFFFFFFFFFFFFF)}


def _all_plus_minus_one(values: np.ndarray) -> bool:
    """Whether every value is -1 or +1, in passes that make no temporary arrays.

    Floats: every element's bits, sign aside, are those of 1.0 exactly when the OR and
    the AND of all elements' bits, sign aside, both are (a NaN, a 0 or a 0.5 changes
    one of them). Integers: in [-1, 1] and none is 0."""
    flat = values.reshape(-1)
    if flat.dtype.kind == "f" and flat.dtype.itemsize in _ONE_BITS and flat.flags.contiguous:
        utype, one, magnitude = _ONE_BITS[flat.dtype.itemsize]
        bits = flat.view(utype)
        return ((int(np.bitwise_or.reduce(bits)) & magnitude) == one
                and (int(np.bitwise_and.reduce(bits)) & magnitude) == one)
    if flat.dtype.kind in "iu":
        return bool(flat.min() >= -1 and flat.max() <= 1 and np.count_nonzero(flat) == flat.size)
    return bool((np.abs(flat) == 1).all())


def _code_dtype(bits: int):
    for dtype, width in ((np.uint8, 8), (np.uint16, 16), (np.uint32, 32)):
        if bits <= width:
            return dtype
    return np.uint64


def encode_elements(values: np.ndarray, datatype) -> np.ndarray:
    """Integer values -> unsigned codes of ``datatype``'s bits (as uint64). Raises
    ValueError naming the first value that does not fit."""
    return _encode(values, datatype).astype(np.uint64)


def _encode(values: np.ndarray, datatype) -> np.ndarray:
    """:func:`encode_elements` in the smallest unsigned numpy type that holds the codes."""
    dt = stream_type(datatype)
    values = np.asarray(values)
    if values.dtype == np.bool_:
        values = values.view(np.uint8)
    if dt.bipolar:
        if values.size and not _all_plus_minus_one(values):  # NaN is never 1
            raise ValueError(_misfit(values, dt))
        return (values > 0).view(np.uint8)
    code_dtype = _code_dtype(dt.bits)
    if values.size == 0:
        return np.zeros(values.shape, dtype=code_dtype)
    lo, hi = values.min(), values.max()
    if not (lo >= dt.lo and hi <= dt.hi):  # NaN fails both comparisons
        raise ValueError(_misfit(values, dt))
    if values.dtype.kind in "iu":
        ints = values
    else:
        signed_dtype = np.dtype(f"i{np.dtype(code_dtype).itemsize}")
        ints = values.astype(signed_dtype if dt.signed else code_dtype)
        if not np.array_equal(ints, values):  # fractions
            raise ValueError(_misfit(values, dt))
    if dt.signed:
        ints = ints.astype(np.dtype(f"i{np.dtype(code_dtype).itemsize}"), copy=False)
        return ints.view(code_dtype) & code_dtype((1 << dt.bits) - 1) if dt.bits < 64 \
            else ints.view(code_dtype)
    return ints.astype(code_dtype, copy=False)


def decode_elements(codes: np.ndarray, datatype) -> np.ndarray:
    """Unsigned codes -> integer values of ``datatype`` (as int64)."""
    dt = stream_type(datatype)
    codes = np.asarray(codes, dtype=np.int64)
    bits = dt.bits
    if dt.bipolar:
        return np.where(codes & 1, 1, -1).astype(np.int64)
    if dt.signed:
        sign = 1 << (bits - 1)
        return ((codes & ((1 << bits) - 1)) ^ sign) - sign
    return codes & ((1 << bits) - 1)


def pack_words(values: np.ndarray, datatype, elements_per_word: int) -> list[int]:
    """A flat sequence of values -> stream words as Python ints (arbitrary width)."""
    codes = encode_elements(np.asarray(values).reshape(-1), datatype)
    return join_codes(codes, stream_type(datatype).bits, elements_per_word)


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
    bits = stream_type(datatype).bits
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


def _lsb_first_bytes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes of ``bits`` in (1, 2, 4, 8) bits, in order -> bytes, code 0 in the low bits.

    ``codes.size * bits`` must be a multiple of 8."""
    if bits == 8:
        return codes.astype(np.uint8, copy=False).reshape(-1)
    if bits == 1:
        return np.packbits(codes.reshape(-1), bitorder="little")
    per_byte = 8 // bits
    groups = codes.astype(np.uint8, copy=False).reshape(-1, per_byte)
    out = groups[:, 0].copy()
    for i in range(1, per_byte):
        out |= groups[:, i] << np.uint8(i * bits)
    return out


def _pad_words(words: np.ndarray, bits: int, word_bits: int, width: int) -> np.ndarray:
    """Words of ``bits`` in (1, 2, 4, 8)-bit codes whose ``word_bits`` are not whole bytes
    -> ``width`` bytes per word, zero padded.

    The codes are packed end to end first (cheap), then cut into words: ``group``
    words span a whole number of bytes, so each group of bytes is read as one uint64
    and its words shifted out (when a group fits 64 bits; else the codes are padded
    with zero codes one word at a time)."""
    count = words.shape[0]
    group = 8 // np.gcd(word_bits, 8)
    if word_bits * group > 64:
        pad = (width * 8 - word_bits) // bits  # zero codes up to the byte boundary
        padded = np.zeros((count, words.shape[1] + pad), dtype=np.uint8)
        padded[:, :words.shape[1]] = words
        return _lsb_first_bytes(padded, bits)
    extra = -count % group  # whole groups: zero words at the end, dropped below
    codes = words.reshape(-1)
    if extra:
        codes = np.concatenate([codes, np.zeros(extra * words.shape[1], codes.dtype)])
    stream = _lsb_first_bytes(codes, bits)
    group_bytes = word_bits * group // 8
    # long 1-D strided operations (numpy is slow on short inner axes)
    acc_type = np.uint32 if word_bits * group <= 32 else np.uint64
    value = stream[0::group_bytes].astype(acc_type)
    for i in range(1, group_bytes):
        value |= stream[i::group_bytes].astype(acc_type) << acc_type(8 * i)
    out_type = np.dtype(f"<u{width}") if width in (1, 2, 4, 8) else np.dtype("<u8")
    cut = np.empty((value.size, group), dtype=out_type)
    mask = acc_type((1 << word_bits) - 1)
    for i in range(group):
        cut[:, i] = (value >> acc_type(i * word_bits)) & mask
    if width in (1, 2, 4, 8):  # a machine word per stream word
        return cut.reshape(-1)[:count].view(np.uint8)
    return np.ascontiguousarray(cut.reshape(-1)[:count].view(np.uint8).reshape(-1, 8)[:, :width])


def pack_tensor(x: np.ndarray, datatype, elements_per_word: int) -> bytes:
    """A batch of frames -> the bytes of its stream (see the rules above).

    Three vectorized paths, all giving the bytes of the rules:

    * element widths of 1, 2, 4, 8, 16, 32 or 64 bits: the words' codes are laid end
      to end (each word padded with zero codes to whole bytes) and packed a byte, or
      a little-endian machine word, at a time;
    * other widths, words of at most 64 bits: each word is assembled in a uint64 and
      its low bytes kept;
    * wider words: every element is spread into its bits and the bits are packed.
    """
    dt = stream_type(datatype)
    n = int(elements_per_word)
    flat = np.asarray(x).reshape(-1)
    if flat.size % n:
        raise ValueError(f"{flat.size} elements do not fill words of {n}")
    # a large batch goes in blocks of whole words that stay in the CPU caches (a word's
    # bytes depend on that word only, so the blocks' bytes simply follow one another)
    block = max(1, CHUNK_ELEMENTS // n) * n
    if flat.size <= block:
        return _pack_flat(flat, dt, n, 0)
    return b"".join(_pack_flat(flat[i:i + block], dt, n, i)
                    for i in range(0, flat.size, block))


CHUNK_ELEMENTS = 1 << 20


def _pack_flat(flat: np.ndarray, dt: StreamType, n: int, offset: int) -> bytes:
    """:func:`pack_tensor` of whole words; ``offset``: the flat index of ``flat[0]``."""
    try:
        codes = _encode(flat, dt)
    except ValueError:
        if not offset:
            raise
        raise ValueError(_misfit(flat, dt, offset)) from None
    bits = dt.bits
    word_bits = n * bits
    width = padded_bits(word_bits) // 8
    words = codes.reshape(-1, n)
    if bits in (1, 2, 4, 8):
        if word_bits % 8 == 0:
            return _lsb_first_bytes(words, bits).tobytes()
        return _pad_words(words, bits, word_bits, width).tobytes()
    if bits in (16, 32, 64):
        return words.astype(f"<u{bits // 8}", copy=False).tobytes()
    if word_bits <= 64:
        shifts = np.arange(n, dtype=np.uint64) * np.uint64(bits)
        packed = np.bitwise_or.reduce(words.astype(np.uint64) << shifts, axis=1)
        return packed.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :width].tobytes()
    shifts = np.arange(bits, dtype=codes.dtype)
    planes = ((codes[:, None] >> shifts) & codes.dtype.type(1)).astype(np.uint8)
    planes = planes.reshape(-1, word_bits)
    pad = width * 8 - word_bits
    if pad:
        planes = np.pad(planes, ((0, 0), (0, pad)))
    return np.packbits(planes, axis=1, bitorder="little").tobytes()


def unpack_tensor(data, datatype, elements_per_word: int, shape, dtype=np.int64) -> np.ndarray:
    """The bytes of a stream -> a batch of frames of ``shape`` (leading dim: the batch),
    as values of ``dtype`` (int64; the driver asks for float32, FINN's output type).
    The inverse of :func:`pack_tensor`, on the same three paths. ``data``: bytes or any
    contiguous buffer (a uint8 array is read in place)."""
    dt = stream_type(datatype)
    n = int(elements_per_word)
    bits = dt.bits
    word_bits = n * bits
    width = padded_bits(word_bits) // 8
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % width:
        raise ValueError(f"{raw.size} bytes are not a whole number of {width}-byte words")
    rows = raw.reshape(-1, width)
    if bits in (1, 2, 4, 8):
        if bits == 8:
            codes = rows
        elif bits == 1:
            codes = np.unpackbits(rows, axis=1, bitorder="little")
        else:
            shifts = np.arange(0, 8, bits, dtype=np.uint8)
            codes = (rows[:, :, None] >> shifts) & np.uint8((1 << bits) - 1)
            codes = codes.reshape(rows.shape[0], -1)
        codes = codes[:, :n]
    elif bits in (16, 32, 64):
        codes = rows.view(f"<u{bits // 8}")
    elif word_bits <= 64 and width in (1, 2, 4, 8) and n == 1:
        # one element per word in a machine word: its low bits, no copy to widen it
        codes = rows.view(f"<u{width}") & np.dtype(f"<u{width}").type((1 << bits) - 1)
    elif word_bits <= 64:
        if width in (1, 2, 4, 8):
            packed = rows.view(f"<u{width}").astype(np.uint64)  # (words, 1)
        else:
            wide = np.zeros((rows.shape[0], 8), dtype=np.uint8)
            wide[:, :width] = rows
            packed = wide.view("<u8")  # (words, 1)
        shifts = np.arange(n, dtype=np.uint64) * np.uint64(bits)
        codes = (packed >> shifts) & np.uint64((1 << bits) - 1)
    else:
        planes = np.unpackbits(rows, axis=1, bitorder="little")[:, :word_bits]
        planes = planes.reshape(-1, bits).astype(np.uint64)
        codes = np.bitwise_or.reduce(planes << np.arange(bits, dtype=np.uint64), axis=1)
    return _decode_fast(codes.reshape(-1), dt, np.dtype(dtype)).reshape(shape)


def _decode_fast(codes: np.ndarray, dt: StreamType, dtype=np.int64) -> np.ndarray:
    """Codes -> values of ``dtype``, the same as :func:`decode_elements` without its
    masking (codes from :func:`unpack_tensor` hold exactly ``bits`` bits). Small types
    are decoded in the narrowest signed integer that holds them, then converted once."""
    # a signed type with room for every code and the sign bit's weight
    work = next(t for t, b in ((np.int8, 8), (np.int16, 16), (np.int32, 32), (np.int64, 65))
                if dt.bits < b)
    if dt.bipolar:
        values = codes.astype(work) * work(2) - work(1)
    elif dt.signed and dt.bits < 64:
        sign = work(1 << (dt.bits - 1))
        values = (codes.astype(work) ^ sign) - sign
    else:
        values = codes
    return values.astype(dtype, copy=False)


def hex_lines(words: list[int], word_bits: int) -> str:
    """Words as ``$readmemh`` lines, one word per line, zero-padded hex."""
    digits = max(1, (word_bits + 3) // 4)
    return "".join(f"{int(w):0{digits}x}\n" for w in words)
