"""A fake ``pyxrt`` for the driver tests: records the calls XRT would see.

Not an Alveo card: no xclbin is loaded. ``OUTPUT_BYTES`` (set by the test) is what the
s2mm kernel "writes"; ``HANG`` makes every run stay in state RUNNING.
"""

CALLS = []
OUTPUT_BYTES = b""
HANG = False


class ert_cmd_state:  # noqa: N801 (XRT's spelling)
    ERT_CMD_STATE_COMPLETED = "COMPLETED"
    ERT_CMD_STATE_RUNNING = "RUNNING"


class xclBOSyncDirection:  # noqa: N801
    XCL_BO_SYNC_BO_TO_DEVICE = "to_device"
    XCL_BO_SYNC_BO_FROM_DEVICE = "from_device"


class device:  # noqa: N801
    def __init__(self, index):
        CALLS.append(("device", index))

    def load_xclbin(self, path):
        CALLS.append(("load_xclbin", path))
        return "uuid"


class bo:  # noqa: N801
    normal = "normal"

    def __init__(self, dev, size, flags, group):
        CALLS.append(("bo", size, group))
        self.data = bytearray(size)

    def write(self, data, offset):
        CALLS.append(("write", len(data)))
        self.data[offset:offset + len(data)] = data

    def sync(self, direction):
        CALLS.append(("sync", direction))
        if direction == xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE and OUTPUT_BYTES:
            self.data[:] = OUTPUT_BYTES

    def read(self, size, offset):
        return bytes(self.data[offset:offset + size])


class _Run:
    def wait(self, timeout_ms):
        CALLS.append(("wait", timeout_ms))
        return ert_cmd_state.ERT_CMD_STATE_RUNNING if HANG else \
            ert_cmd_state.ERT_CMD_STATE_COMPLETED


class kernel:  # noqa: N801
    def __init__(self, dev, uuid, name):
        CALLS.append(("kernel", name))
        self.name = name

    def group_id(self, i):
        return i

    def __call__(self, buf, words):
        CALLS.append(("start", self.name, words))
        return _Run()
