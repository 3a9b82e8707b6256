"""Run the dfx accelerator: ``python driver.py --exec_mode execute|throughput_test``.

FINN's flags. ``--platform sim`` runs the build's simulated accelerator on this
computer; ``zynq-iodma`` needs pynq on the board, ``alveo`` needs pyxrt.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver_base import PLATFORMS, DriverError, FINNExampleOverlay, load_io, write_metrics  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    io = load_io()
    parser = argparse.ArgumentParser(description="Run the dfx accelerator (FINN's flags).")
    parser.add_argument("--exec_mode", choices=("execute", "throughput_test"),
                        default="execute")
    parser.add_argument("--platform", choices=PLATFORMS, default=io.get("platform", "sim"))
    parser.add_argument("--batchsize", type=int, default=1)
    parser.add_argument("--bitfile", default=None, help="default: ../bitfile/ of the package")
    parser.add_argument("--inputfile", default="input.npy")
    parser.add_argument("--outputfile", default="output.npy")
    parser.add_argument("--device", default=None, help="Alveo device index")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds any wait on the device may take, per batch")
    parser.add_argument("--postprocess", action="store_true",
                        help="apply the model's float tail (scales, biases) to the output")
    args = parser.parse_args(argv)
    # stopped by a time limit (timeout, ssh): unwind, so the simulator is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.exec_mode == "execute":
            # the platform first: a missing bitfile or simulator is said before the input
            accel = FINNExampleOverlay(args.bitfile, args.platform, io, batch_size=1,
                                       device=args.device, timeout_s=args.timeout)
            try:
                x = np.load(args.inputfile)
            except (OSError, ValueError) as exc:
                raise DriverError(f"--inputfile {args.inputfile}: {exc}") from None
            y = accel.execute(x)
            if args.postprocess:
                y = accel.postprocess(y)
            np.save(args.outputfile, y)
            print(f"{len(y)} frames: outputs in {args.outputfile}")
        else:
            if args.batchsize < 1:
                raise DriverError(f"--batchsize {args.batchsize}: at least 1")
            accel = FINNExampleOverlay(args.bitfile, args.platform, io,
                                       batch_size=args.batchsize, device=args.device,
                                       timeout_s=args.timeout)
            res = accel.throughput_test()
            write_metrics(res, Path("."))
            for key, value in res.items():
                print(f"{key}: {value}")
    except DriverError as exc:
        print(f"driver: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
