"""Dask preload for the sweep's LocalCluster workers (``preload=["dfx.sweep.worker_setup"]``).

Ctrl-C at a terminal signals the whole foreground process group, so the worker processes
get the SIGINT too. The sweep's own process decides what happens then (cancel the
points, keep the finished rows, shut the cluster down); a worker that died of the signal
on its own would only print tracebacks. So the workers ignore SIGINT; the cluster's
shutdown stops them.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload interface
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
