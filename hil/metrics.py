"""The metrics file of a run: one JSON document that every xdist worker adds to.

Layout::

    {"run": {"id", "started", "target", "dfx_version"},
     "tests": [{"test", "worker", "target", "board", "platform", "outcome", "start",
                "end", "board_acquired", "board_released", "outputs_checked",
                "throughput[images/s]", "latency[ms]", "measurements", "builds", ...}],
     "builds": [{"key", "model", "worker", "status", "start", "end", "seconds", ...}]}

Each write takes the file's lock (``<file>.lock``), reads the document, adds to it and
replaces the file atomically, so parallel workers lose nothing and a reader never sees
half a file. Times are seconds since the epoch (``time.time()``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import filelock


class MetricsFile:
    """The run's metrics file at ``path``, for the run ``run`` (its header)."""

    def __init__(self, path: str | os.PathLike, run: dict[str, Any]):
        self.path = Path(path)
        self.run = run

    def _update(self, section: str, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(self.path) + ".lock", timeout=60):
            doc = self.read()
            if doc is None or doc.get("run", {}).get("id") != self.run["id"]:
                doc = {"run": self.run, "tests": [], "builds": []}  # a new run starts afresh
            doc.setdefault(section, []).append(record)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
            os.replace(tmp, self.path)

    def add_test(self, record: dict[str, Any]) -> None:
        self._update("tests", record)

    def add_build(self, record: dict[str, Any]) -> None:
        self._update("builds", record)

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None


def _clock(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "-"


def _number(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


def format_table(doc: dict) -> list[str]:
    """The ``--dfx-report`` table: one line per test, in the order the tests started."""
    header = ("test", "target", "worker", "result", "outputs", "fps", "latency ms",
              "start", "seconds")
    rows = [header]
    for rec in sorted(doc.get("tests", []), key=lambda r: r.get("start") or 0):
        target = rec.get("board") or rec.get("target") or "-"
        seconds = (rec["end"] - rec["start"]) if rec.get("end") and rec.get("start") else None
        rows.append((rec.get("test", "?"), target, rec.get("worker", "-"),
                     rec.get("outcome", "-"), _number(rec.get("outputs_checked"), "d"),
                     _number(rec.get("throughput[images/s]"), ",.0f"),
                     _number(rec.get("latency[ms]"), ".4f"), _clock(rec.get("start")),
                     _number(seconds, ".2f")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [str(c).ljust(w) if i < 4 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


class MetricsRecord:
    """The metrics of one test (the ``dfx_metrics`` fixture); written when it ends.

    The accelerator adds its runs here; a test adds its own with :meth:`record` and checks
    outputs with :meth:`check_outputs` (counted as ``outputs_checked``).
    """

    def __init__(self, test: str, worker: str, target: str):
        self.data: dict[str, Any] = {
            "test": test, "worker": worker, "pid": os.getpid(), "target": target,
            "board": None, "platform": None, "outcome": None, "start": time.time(),
            "end": None, "board_acquired": None, "board_released": None,
            "outputs_checked": 0, "outputs_mismatched": 0, "frames_executed": 0,
            "throughput[images/s]": None, "latency[ms]": None, "measurements": [],
            "builds": [],
        }

    def record(self, **values: Any) -> None:
        """Set keys of this test's record (any JSON value)."""
        self.data.update(values)

    def add(self, **counts: int) -> None:
        for key, n in counts.items():
            self.data[key] = (self.data.get(key) or 0) + n

    def add_measurement(self, res: dict, build=None) -> None:
        """A throughput test's result (FINN's keys); batch 1 also gives the latency."""
        keep = ("batch_size", "throughput[images/s]", "runtime[ms]", "cycles", "platform",
                "fclk[mhz]")
        entry = {k: res[k] for k in keep if k in res}
        if build is not None:
            entry["build"] = build.key[:16]
        self.data["measurements"].append(entry)
        self.data["throughput[images/s]"] = res.get("throughput[images/s]")
        if res.get("batch_size") == 1:
            self.data["latency[ms]"] = res.get("runtime[ms]")

    def note_build(self, build) -> None:
        entry = {"key": build.key[:16], "model": build.model.name,
                 "built_here": build.built_here, "board": build.board}
        if entry not in self.data["builds"]:
            self.data["builds"].append(entry)

    def check_outputs(self, actual, expected, atol: float = 0.0) -> None:
        """Assert ``actual`` equals ``expected`` frame by frame (bit-exact unless ``atol``)
        and count the frames as checked; the message names the first frames that differ."""
        __tracebackhide__ = True
        import numpy as np

        actual, expected = np.asarray(actual), np.asarray(expected)
        if actual.shape != expected.shape:
            raise AssertionError(f"outputs have shape {list(actual.shape)}, expected "
                                 f"{list(expected.shape)}")
        frames = actual.reshape(len(actual), -1) if actual.ndim else actual.reshape(1, 1)
        want = expected.reshape(frames.shape)
        if atol:
            same = np.isclose(frames, want, rtol=0.0, atol=atol).all(axis=1)
        else:
            same = (frames == want).all(axis=1)
        bad = np.flatnonzero(~same)
        self.add(outputs_checked=len(frames), outputs_mismatched=len(bad))
        if len(bad):
            first = int(bad[0])
            how = f"within {atol:g}" if atol else "bit-exact"
            raise AssertionError(
                f"{len(bad)} of {len(frames)} frames differ ({how}); first frame {first}: "
                f"got {frames[first][:8].tolist()}, expected {want[first][:8].tolist()}")

    def note_report(self, report) -> None:
        """The outcome so far, from a phase's report (a failed setup is an error)."""
        if report.failed:
            self.data["outcome"] = "error" if report.when != "call" else "failed"
        elif report.skipped and self.data["outcome"] is None:
            self.data["outcome"] = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else None
            self.data["skip_reason"] = reason
        elif report.when == "call" and report.passed and self.data["outcome"] is None:
            self.data["outcome"] = "passed"

    def finish(self) -> dict:
        self.data["end"] = time.time()
        return self.data
