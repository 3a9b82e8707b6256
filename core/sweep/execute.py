"""Running the points: on Dask (a LocalCluster, or a scheduler given by address), or one
after another in this process.

Dask is imported only here, and only when a sweep runs on it.

* **LocalCluster** (the default): worker processes on this machine, one thread each (a
  build is single-threaded Python, and the builds of one worker share its imports and
  its loaded plugins). When Vivado is found here, every local worker gets the Dask
  resource ``vivado``.
* **A scheduler** (``tcp://host:port``): the points go to the cluster's workers. A worker
  needs dfx installed, and must read the model and write the sweep folder under the same
  paths (a shared file system). Points that need Vivado (:data:`VIVADO_OUTPUTS`) go only
  to workers started with ``--resources vivado=1``.
* **Serial**: every point in this process, one after another (the benchmark's baseline).

Faults: a worker that dies while building a point is noticed by the scheduler, which
gives the point to another worker (Dask's ``allowed-failures`` times, then the row says
the point kept killing workers). A point whose build fails returns a ``failed`` row.
Ctrl-C (or SIGTERM) stops the sweep: unfinished points are cancelled, the cluster shut
down, and the finished rows are kept (:class:`SweepInterrupted`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dfx.errors import DfxError
from dfx.sweep.point import PointSpec, run_point

#: the Dask event topic on which workers announce the start of a point
EVENT_TOPIC = "dfx-sweep"
#: the Dask worker resource a point that needs Vivado asks for
VIVADO_RESOURCE = "vivado"
#: seconds to wait for an unreachable scheduler before giving up (``--scheduler-timeout``)
DEFAULT_SCHEDULER_TIMEOUT_S = 10.0

#: ``on_event(kind, data)``: kind "start" (data: point, worker, and the worker's pid on
#: Dask), "done" (data: the row),
#: "cluster" (data: a description of where the points run)
EventHandler = Callable[[str, dict], None]


class SchedulerUnreachable(DfxError):
    """The Dask scheduler given by ``--scheduler`` did not answer in time."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep; ``rows`` are the finished points' rows and
    ``signum`` the signal (see :class:`dfx.processes.Terminated`)."""

    def __init__(self, rows: list[dict], signum: int):
        super().__init__(f"sweep stopped by signal {signum}")
        self.rows = rows
        self.signum = signum


def _failed_row(spec: PointSpec, why: str) -> dict:
    return {"point": spec.index, "status": "failed", "error": why,
            "build_dir": spec.output_dir}


def _signal_of(exc: KeyboardInterrupt) -> int:
    import signal

    return int(getattr(exc, "signum", signal.SIGINT))


def run_serial(specs: list[PointSpec], on_event: EventHandler) -> list[dict]:
    """Every point in this process, in order. Ctrl-C stops after (or inside) the running
    point's build, which cleans up after itself; the finished rows are kept."""
    rows: list[dict] = []
    on_event("cluster", {"where": "this process, one point after another", "workers": 1})
    for spec in specs:
        on_event("start", {"point": spec.index, "worker": "local"})
        try:
            row = run_point(spec)
        except KeyboardInterrupt as exc:
            raise SweepInterrupted(rows, _signal_of(exc)) from None
        row["worker"] = "local"
        rows.append(row)
        on_event("done", row)
    return rows


def point_on_worker(spec: PointSpec) -> dict:
    """The task a Dask worker runs: announce the start, build, say where it ran."""
    from distributed import get_worker

    worker = get_worker()
    try:
        worker.log_event(EVENT_TOPIC, {"event": "start", "point": spec.index,
                                       "worker": worker.address, "pid": os.getpid()})
    except Exception:  # the announcement only feeds the progress display
        pass
    row = run_point(spec)
    row["worker"] = worker.address
    return row


def _vivado_here() -> bool:
    from dfx.errors import ToolNotFoundError

    try:
        from dfx.tcl.vivado import find_vivado

        find_vivado()
    except ToolNotFoundError:
        return False
    return True


def _check_address(address: str) -> str:
    from dfx.errors import ConfigError

    text = address.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    scheme, _, rest = text.partition("://")
    host, sep, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ws", "wss", "inproc") or not sep or not host \
            or not port.isdigit():
        raise ConfigError(f"--scheduler {address!r}: expected tcp://HOST:PORT (the address "
                          f"`dask scheduler` prints)")
    return text


def connect(address: str, timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S):
    """A Dask client of the scheduler at ``address``; SchedulerUnreachable naming it when
    it does not answer within ``timeout_s`` seconds, or has no worker by then."""
    from distributed import Client

    address = _check_address(address)
    started = time.monotonic()
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        waited = time.monotonic() - started
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} (gave up after {waited:.1f} s: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); is `dask "
            f"scheduler` running there, and is the port open? (--scheduler-timeout sets the "
            f"wait)") from None
    left = max(1.0, timeout_s - (time.monotonic() - started))
    try:
        client.wait_for_workers(1, timeout=left)
    except (OSError, TimeoutError):
        client.close()
        raise SchedulerUnreachable(
            f"the Dask scheduler at {address} has no worker (waited {left:.0f} s); start "
            f"one with `dask worker {address} --nthreads 1`") from None
    return client


def local_cluster(n_workers: int):
    """A LocalCluster of ``n_workers`` worker processes on 127.0.0.1, one thread each; with
    the ``vivado`` resource when Vivado is found on this machine."""
    from distributed import LocalCluster

    resources = {VIVADO_RESOURCE: 1} if _vivado_here() else None
    # The scheduler's HTTP server (Dask's dashboard, where bokeh is installed) starts
    # anyway: a free port on the loopback, not 8787, which another cluster may hold.
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                        silence_logs=logging.ERROR,
                        resources=resources, preload=["dfx.sweep.worker_setup"])


@dataclass
class Cluster:
    """A Dask client, the LocalCluster it runs on (None for a scheduler given by address)
    and a description for the progress display. :meth:`close` shuts a LocalCluster down
    and leaves a scheduler given by address running."""

    client: object
    local: object | None
    where: str

    def close(self) -> None:
        _shut_down(self.client, self.local)


def open_cluster(n_workers: int = 2, scheduler: str | None = None,
                 scheduler_timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S) -> Cluster:
    """Connect to ``scheduler`` (see :func:`connect`), or start a LocalCluster of
    ``n_workers`` processes."""
    if scheduler:
        client = connect(scheduler, scheduler_timeout_s)
        return Cluster(client, None, f"the Dask scheduler at {client.scheduler.address}")
    from distributed import Client

    local = local_cluster(n_workers)
    try:
        client = Client(local, set_as_default=False)
    except BaseException:
        local.close()
        raise
    return Cluster(client, local, f"a LocalCluster of {n_workers} worker processes")


def run_dask(specs: list[PointSpec], on_event: EventHandler, cluster: Cluster) -> list[dict]:
    """Every point as a task of ``cluster``; the rows in the order they finished."""
    return _run_on(cluster.client, specs, on_event, cluster.where)


def _shut_down(client, cluster) -> None:
    # Workers that are stopped while they build, and connections closed under them, make
    # Dask log errors with tracebacks; the sweep has said what happened already.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    try:
        client.close(timeout=10)
    except Exception:  # noqa: BLE001 - best effort: the sweep's result matters more
        pass
    if cluster is not None:
        try:
            cluster.close(timeout=20)
        except Exception:  # noqa: BLE001
            pass


def _run_on(client, specs: list[PointSpec], on_event: EventHandler, where: str) -> list[dict]:
    from distributed import as_completed

    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    with_vivado = [addr for addr, info in workers.items()
                   if (info.get("resources") or {}).get(VIVADO_RESOURCE)]
    on_event("cluster", {"where": where, "workers": len(workers),
                         "vivado_workers": len(with_vivado)})
    lock = threading.Lock()
    announced: set[int] = set()

    def started(event) -> None:  # runs in the client's event-loop thread
        _, message = event
        if isinstance(message, dict) and message.get("event") == "start":
            with lock:
                announced.add(message.get("point"))
                on_event("start", {"point": message.get("point"),
                                   "worker": message.get("worker"),
                                   "pid": message.get("pid")})

    try:
        client.subscribe_topic(EVENT_TOPIC, started)
    except Exception:  # noqa: BLE001 - an older scheduler: no start announcements
        pass
    rows: list[dict] = []

    def finish(row: dict) -> None:
        rows.append(row)
        with lock:
            on_event("done", row)

    futures = {}
    token = f"{time.time_ns():x}"
    try:
        for spec in interleaved(specs):
            if spec.needs_vivado and not with_vivado:
                finish(_failed_row(spec, f"needs Vivado: no worker of {where} has the Dask "
                                         f"resource '{VIVADO_RESOURCE}' (start one on a "
                                         f"machine with Vivado: dask worker ADDRESS "
                                         f"--resources {VIVADO_RESOURCE}=1)"))
                continue
            future = client.submit(
                point_on_worker, spec, key=f"dfx-point-{spec.index}-{token}", pure=False,
                resources={VIVADO_RESOURCE: 1} if spec.needs_vivado else None)
            futures[future.key] = (future, spec)
        for future in as_completed([f for f, _ in futures.values()], loop=client.loop):
            spec = futures[future.key][1]
            finish(_result_row(future, spec))
        # a start announcement travels apart from the result: wait (briefly) for the last
        # ones, so that every built point has its starts counted
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with lock:
                if all(r["point"] in announced for r in rows if r.get("worker")):
                    break
            time.sleep(0.02)
    except KeyboardInterrupt as exc:
        pending = [f for f, _ in futures.values() if not f.done()]
        try:
            client.cancel(pending, force=True)
        except Exception:  # noqa: BLE001 - the cluster is being shut down anyway
            pass
        raise SweepInterrupted(rows, _signal_of(exc)) from None
    return rows


def interleaved(specs: list[PointSpec]) -> list[PointSpec]:
    """The points in the order they are handed out: the first point of every model, then
    the second of every model, ... The first point of a model imports and streamlines it
    (the others take that from the cache); were two workers to start on the same model,
    one would wait for the other's cache entry instead of building."""
    by_model: dict[str, list[PointSpec]] = {}
    for spec in specs:
        by_model.setdefault(spec.model, []).append(spec)
    rounds = max((len(points) for points in by_model.values()), default=0)
    return [points[i] for i in range(rounds) for points in by_model.values() if i < len(points)]


def _result_row(future, spec: PointSpec) -> dict:
    """The row a finished task returned, or a failed row saying what went wrong with it."""
    try:
        return future.result()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every fault becomes the point's row
        name = type(exc).__name__
        if name == "KilledWorker":
            why = (f"the worker building it died each time it was tried ({exc}); the point "
                   f"may need more memory than a worker has")
        elif name == "CancelledError":
            why = "cancelled (the cluster shut down or restarted before it ran)"
        else:
            why = f"{name}: {exc}"
        return _failed_row(spec, why)


def append_journal(path: Path, row: dict) -> None:
    """One finished row as a JSON line: a sweep stopped by kill -9 still keeps its rows."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, default=str) + "\n")
