"""A fake ``pynq`` for the driver tests: records the calls a board would see.

Not a board: ``Overlay`` loads nothing, the DMA moves no data through any accelerator.
An S2MM transfer fills its buffer from ``OUTPUT_BYTES`` (set by the test), so the
driver's unpacking can be checked; ``HANG`` makes the S2MM channel never go idle.
"""

import numpy as np

CALLS = []
OUTPUT_BYTES = None  # uint8 array of the whole output buffer, set by the test
HANG = False


class _Buffer(np.ndarray):
    def flush(self):
        CALLS.append(("flush", self.shape))

    def invalidate(self):
        CALLS.append(("invalidate", self.shape))


def allocate(shape, dtype=np.uint8):
    CALLS.append(("allocate", tuple(shape)))
    return np.zeros(shape, dtype=dtype).view(_Buffer)


class _Channel:
    def __init__(self, name):
        self.name = name
        self.offset = 0
        self.busy = False

    def transfer(self, buf):
        CALLS.append((self.name, "transfer", buf.shape))
        if self.name == "recv" and OUTPUT_BYTES is not None:
            flat = OUTPUT_BYTES.reshape(-1, buf.shape[-1])
            buf[:] = flat[self.offset:self.offset + buf.shape[0]]
            self.offset += buf.shape[0]
        self.busy = HANG and self.name == "recv"

    @property
    def idle(self):
        return not self.busy


class _DMA:
    def __init__(self):
        self.sendchannel = _Channel("send")
        self.recvchannel = _Channel("recv")


class Overlay:
    def __init__(self, path):
        CALLS.append(("Overlay", path))
        self.axi_dma = _DMA()
