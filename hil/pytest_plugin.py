"""dfx's pytest plugin: hardware-in-the-loop tests on the simulated accelerator or on boards.

Loaded by pytest through the entry point ``pytest11`` (``dfx = dfx.hil.pytest_plugin``).
README.md ("Hardware-in-the-loop tests under pytest") is the user's guide; in short:

* options (group ``dfx``, each with an environment variable): ``--dfx-target``,
  ``--dfx-lab``, ``--dfx-cache``, ``--dfx-timeout``, ``--dfx-lock-timeout``,
  ``--dfx-lock-dir``, ``--dfx-metrics``, ``--dfx-report``;
* fixtures: ``dfx_build`` (session), ``accelerator``, ``dfx_target``, ``dfx_metrics``;
* markers: ``dfx_board(*names)``, ``dfx_needs(*tools)``.

The module imports little (no numpy, no qonnx): pytest loads it in every run.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from dfx.hil.errors import (
    BoardBusy,
    BoardUnreachable,
    BuildFailed,
    LabFileError,
)
from dfx.hil.lab import LabBoard, Target, load_lab, resolve_target

NEEDS = ("verilator", "yosys", "vivado", "v++", "board")
#: The errors whose message says everything: reported without a traceback.
PLAIN_ERRORS = (BuildFailed, BoardBusy, BoardUnreachable, LabFileError)

#: option -> (metavar, environment variable, default, help)
OPTIONS = {
    "--dfx-target": ("TARGET", "DFX_TARGET", "sim",
                     "what the tests run on: sim (the simulated accelerator, default), lab "
                     "(every board of --dfx-lab), pynq://user@host, ssh://user@host:port, or "
                     "a board name of the lab"),
    "--dfx-lab": ("FILE", "DFX_LAB", None,
                  "a YAML list of boards: name, host, user, key, port, board (dfx board "
                  "name), platform, python, path, ssh_options"),
    "--dfx-cache": ("DIR", "DFX_CACHE_DIR", None,
                    "dfx's artifact cache for the builds (default: dfx's own cache folder)"),
    "--dfx-timeout": ("SECONDS", "DFX_TIMEOUT", "30",
                      "seconds a board may take to answer and a driver run may last "
                      "(default 30)"),
    "--dfx-lock-timeout": ("SECONDS", "DFX_LOCK_TIMEOUT", "300",
                           "seconds a test waits for a free board before it fails naming "
                           "the holder (default 300)"),
    "--dfx-lock-dir": ("DIR", "DFX_LOCK_DIR", None,
                       "the folder of the board locks, shared by every run that uses the "
                       "lab (default: dfx-board-locks in the system temp folder)"),
    "--dfx-metrics": ("FILE", "DFX_METRICS", None,
                      "the run's metrics file, JSON (default: dfx-hil/metrics.json in "
                      "pytest's cache folder)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dfx", "dfx hardware-in-the-loop tests")
    for option, (metavar, env, _default, text) in OPTIONS.items():
        group.addoption(option, metavar=metavar, default=None, help=f"{text} [env {env}]")
    group.addoption("--dfx-report", action="store_true", default=None,
                    help="print a table of every dfx test's metrics at the end [env "
                         "DFX_REPORT=1]")


def _setting(config: pytest.Config, option: str):
    """An option's value: the command line, else its environment variable, else the
    default."""
    value = config.getoption(option.lstrip("-").replace("-", "_"))
    if value is None:
        _metavar, env, default, _help = OPTIONS[option]
        value = os.environ.get(env) or default
    return value


def _seconds(config, option: str) -> float:
    text = _setting(config, option)
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = -1.0
    if not value > 0:
        env = OPTIONS[option][1]
        raise pytest.UsageError(f"{option} (or {env}) {text!r}: a positive number of seconds")
    return value


@dataclass
class Settings:
    """The plugin's settings for this process (one per pytest process)."""

    target: Target
    lab_path: str | None
    cache_dir: Path
    timeout_s: float
    lock_timeout_s: float
    lock_dir: Path
    metrics_path: Path
    report: bool
    run: dict  # the run's header: id, started (the same in every worker)
    worker: str


SETTINGS = pytest.StashKey[Settings]()
RECORD = pytest.StashKey["object"]()  # a test's MetricsRecord
CANDIDATES = pytest.StashKey[tuple]()  # the boards a test may use (after dfx_board)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dfx_board(*names): the boards the test can run on (lab names or dfx "
        "board names); skipped on another target or when the lab has none of them")
    config.addinivalue_line(
        "markers", f"dfx_needs(*tools): skipped with the reason when a tool is missing "
        f"({', '.join(NEEDS)})")
    lab_path = _setting(config, "--dfx-lab")
    try:
        lab = load_lab(lab_path) if lab_path else None
        target = resolve_target(_setting(config, "--dfx-target"),
                                lab, lab_path)
    except LabFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    cache = _setting(config, "--dfx-cache")
    if cache is None:
        from dfx.cache import default_cache_root

        cache = default_cache_root()
    lock_dir = _setting(config, "--dfx-lock-dir") or \
        Path(tempfile.gettempdir()) / "dfx-board-locks"
    metrics = _setting(config, "--dfx-metrics")
    if metrics is None:
        cache_plugin = getattr(config, "cache", None)
        folder = cache_plugin.mkdir("dfx-hil") if cache_plugin is not None else \
            Path(tempfile.gettempdir()) / f"dfx-hil-{os.getuid()}"  # -p no:cacheprovider
        metrics = Path(folder) / "metrics.json"
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and "dfx_hil_run" in worker_input:
        run = dict(worker_input["dfx_hil_run"])  # the controller's, shared by all workers
    else:
        run = {"id": f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
               "started": time.time(), "target": target.spec}
        from dfx import __version__

        run["dfx_version"] = __version__
    report = bool(config.getoption("dfx_report")) or \
        os.environ.get("DFX_REPORT", "").lower() in ("1", "true", "yes", "on")
    config.stash[SETTINGS] = Settings(
        target=target, lab_path=lab_path, cache_dir=Path(cache).expanduser().absolute(),
        timeout_s=_seconds(config, "--dfx-timeout"),
        lock_timeout_s=_seconds(config, "--dfx-lock-timeout"),
        lock_dir=Path(lock_dir).expanduser().absolute(), metrics_path=Path(metrics).absolute(),
        report=report, run=run,
        worker=worker_input["workerid"] if worker_input is not None else "main")
    if config.pluginmanager.hasplugin("xdist") and worker_input is None:
        config.pluginmanager.register(_XdistController(run), "dfx-hil-xdist")


class _XdistController:
    """Hands the run's header to every xdist worker (one metrics file per run)."""

    def __init__(self, run: dict):
        self.run = run

    def pytest_configure_node(self, node) -> None:
        node.workerinput["dfx_hil_run"] = self.run


def _settings(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]


def _metrics_file(settings: Settings):
    from dfx.hil.metrics import MetricsFile

    return MetricsFile(settings.metrics_path, settings.run)


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = _settings(config)
    lines = [f"dfx: target {s.target.describe()}"]
    if not s.target.is_sim:
        lines.append(f"dfx: board locks in {s.lock_dir}, timeout {s.timeout_s:g} s, lock "
                     f"wait {s.lock_timeout_s:g} s")
    return lines


# --------------------------------------------------------------------------- markers


def _record(item: pytest.Item):
    """The test's MetricsRecord, made on first use."""
    from dfx.hil.metrics import MetricsRecord

    record = item.stash.get(RECORD, None)
    if record is None:
        s = _settings(item.config)
        record = MetricsRecord(item.nodeid, s.worker, s.target.spec)
        item.stash[RECORD] = record
    return record


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers: a test that cannot run here is skipped with the reason (at its own
    location); a test's boards are those of the target its ``dfx_board`` allows."""
    s = _settings(config)
    missing: dict[str, str | None] = {}  # each tool looked for once
    for item in items:
        boards = s.target.boards
        reason = None
        for need in (str(n) for m in item.iter_markers("dfx_needs") for n in m.args):
            if need not in missing:
                missing[need] = _missing(need, s)
            if missing[need]:
                reason = f"dfx_needs({need!r}): {missing[need]}"
                break
        wanted = [str(n) for m in item.iter_markers("dfx_board") for n in m.args]
        if wanted and reason is None:
            if s.target.is_sim:
                reason = (f"dfx_board: runs on {', '.join(wanted)}; the target is sim (use "
                          f"--dfx-target with a lab that has such a board)")
            else:
                boards = tuple(b for b in boards if any(b.matches(w) for w in wanted))
                if not boards:
                    have = ", ".join(f"{b.name} ({b.board or 'no dfx board'})"
                                     for b in s.target.boards)
                    reason = (f"dfx_board: runs on {', '.join(wanted)}; the target "
                              f"{s.target.spec} has none of them (it has {have})")
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        item.stash[CANDIDATES] = boards


#: A test that uses one of these (directly or through its fixtures) is a dfx test.
DFX_FIXTURES = frozenset({"dfx_build", "accelerator", "dfx_target", "dfx_metrics"})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every dfx test gets a metrics record before its fixtures run, so a test skipped
    by a marker or failed by a fixture (a build) is listed too."""
    uses = DFX_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if uses or any(item.iter_markers("dfx_board")) or any(item.iter_markers("dfx_needs")):
        _record(item)


def _missing(need: str, s: Settings) -> str | None:
    """Why ``need`` is not available here, or None when it is."""
    if need == "board":
        return "the target is sim (no board)" if s.target.is_sim else None
    if need.lower() not in NEEDS:
        raise pytest.UsageError(f"dfx_needs({need!r}): unknown; one of {', '.join(NEEDS)}")
    from dfx.errors import ToolNotFoundError
    from dfx.tools import find_tool

    try:
        find_tool(need)
    except ToolNotFoundError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- reports


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    record = item.stash.get(RECORD, None)
    if record is not None:
        record.note_report(report)
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, PLAIN_ERRORS) and report.failed:
        report.longrepr = f"{type(exc).__name__}: {exc}"  # the message says it all
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    result = yield
    record = item.stash.get(RECORD, None)
    if record is not None:  # setup, call and teardown are over: the record is complete
        s = _settings(item.config)
        try:
            _metrics_file(s).add_test(record.finish())
        except (OSError, TimeoutError) as exc:  # the test's own outcome stands
            warnings.warn(pytest.PytestWarning(f"dfx: the metrics of {item.nodeid} could not "
                                               f"be written to {s.metrics_path}: {exc}"),
                          stacklevel=1)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_report_teststatus(report, config):
    """Verbose results say where the test ran: ``PASSED (sim)``, ``FAILED (pynq-a)``."""
    result = yield
    props = dict(getattr(report, "user_properties", ()) or ())
    where = props.get("dfx_board") or props.get("dfx_target")
    if where and result and result[0] and result[2]:
        category, letter, word = result
        if isinstance(word, tuple):
            word = (f"{word[0]} ({where})", word[1])
        else:
            word = f"{word} ({where})"
        result = (category, letter, word)
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run is over (all workers too): close the shared ssh connections to the boards."""
    if hasattr(session.config, "workerinput"):
        return
    s = session.config.stash.get(SETTINGS, None)
    if s is None or s.target.is_sim:
        return
    from dfx.hil.remote import RemoteBoard

    for board in s.target.boards:
        RemoteBoard(board, s.timeout_s).close_connection()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    s = _settings(config)
    doc = _metrics_file(s).read()
    if not doc or doc.get("run", {}).get("id") != s.run["id"]:
        return  # no dfx test in this run
    tests = doc.get("tests", [])
    if s.report:
        from dfx.hil.metrics import format_table

        terminalreporter.section("dfx hardware-in-the-loop")
        for line in format_table(doc):
            terminalreporter.write_line(line)
    where = sorted({t.get("board") or t.get("target") or "?" for t in tests})
    builds = doc.get("builds", [])
    failed = sum(b.get("status") != "ok" for b in builds)
    terminalreporter.write_line(
        f"dfx: metrics of {len(tests)} tests ({', '.join(where) or 'none'}) and "
        f"{len(builds)} builds ({failed} failed) in {s.metrics_path}")


# --------------------------------------------------------------------------- fixtures


def _set_property(item: pytest.Item, name: str, value) -> None:
    """A junit property (record_property), replacing an earlier value of the same name."""
    item.user_properties[:] = [p for p in item.user_properties if p[0] != name]
    item.user_properties.append((name, value))


def _run_dir(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this run share (pytest-xdist's recipe: a worker's
    basetemp is a folder of the controller's)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


@pytest.fixture(scope="session")
def dfx_build(request: pytest.FixtureRequest, tmp_path_factory):
    """``dfx_build(model, plugins="default", **cfg) -> DfxBuild``: a build through dfx's
    cache, made once per run across workers; a failed build raises its own error
    (:class:`~dfx.hil.errors.BuildFailed`) in every test that needs it."""
    from dfx.hil.builds import Builder

    s = _settings(request.config)
    builder = Builder(_run_dir(request.config, tmp_path_factory), s.cache_dir,
                      _metrics_file(s), s.worker, root=request.config.rootpath)
    boards = {b.board for b in s.target.boards}
    on_hardware = any(b.platform != "sim" for b in s.target.boards)

    def build(model, plugins: str = "default", **cfg):
        __tracebackhide__ = True
        if len(boards) == 1 and None not in boards:
            cfg.setdefault("board", next(iter(boards)))  # made for the lab's boards
        if on_hardware and "generate_outputs" not in cfg:
            from dfx.hil.builds import DEFAULT_OUTPUTS

            cfg["generate_outputs"] = [*DEFAULT_OUTPUTS, "bitfile"]
        return builder.build(model, plugins=plugins, **cfg)

    return build


@pytest.fixture
def dfx_metrics(request: pytest.FixtureRequest):
    """This test's metrics record (:class:`~dfx.hil.metrics.MetricsRecord`):
    ``check_outputs(actual, expected, atol=0)``, ``record(**values)``."""
    return _record(request.node)


class TargetHandle:
    """The ``dfx_target`` fixture: where this test runs, and its board lease."""

    def __init__(self, item: pytest.Item, settings: Settings, metrics):
        self.item = item
        self.settings = settings
        self.metrics = metrics
        self.candidates: tuple[LabBoard, ...] = item.stash.get(CANDIDATES, settings.target.boards)
        self.lock = None
        self.leased: LabBoard | None = None

    @property
    def is_sim(self) -> bool:
        return self.settings.target.is_sim

    @property
    def spec(self) -> str:
        return self.settings.target.spec

    def __str__(self) -> str:
        return self.leased.describe() if self.leased else self.settings.target.describe()

    def board(self):
        """The board this test holds (a :class:`~dfx.hil.remote.RemoteBoard`), locked on
        first use until the test ends; None on sim."""
        __tracebackhide__ = True
        from dfx.hil.remote import RemoteBoard

        if self.is_sim:
            return None
        if self.leased is None:
            from dfx.hil.locks import acquire_board

            s = self.settings
            names = [b.name for b in self.candidates]
            index = int(s.worker[2:]) if s.worker[2:].isdigit() else 0
            self.lock = acquire_board(s.lock_dir, names, s.lock_timeout_s, self.item.nodeid,
                                      s.worker, start_at=index)
            self.leased = next(b for b in self.candidates if b.name == self.lock.board)
            self.metrics.record(board=self.leased.name, platform=self.leased.platform,
                                board_acquired=self.lock.acquired_at)
            _set_property(self.item, "dfx_target", self.leased.describe())
            _set_property(self.item, "dfx_board", self.leased.name)
        return RemoteBoard(self.leased, self.settings.timeout_s)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.metrics.record(board_released=self.lock.released_at)
            self.lock = None


@pytest.fixture
def dfx_target(request: pytest.FixtureRequest, dfx_metrics):
    """Where this test runs (``sim`` or a board of the lab), recorded in the junit
    properties (``dfx_target``, ``dfx_version``); ``dfx_target.board()`` locks a board."""
    from dfx import __version__

    s = _settings(request.config)
    handle = TargetHandle(request.node, s, dfx_metrics)
    _set_property(request.node, "dfx_target", "sim" if s.target.is_sim else s.target.spec)
    _set_property(request.node, "dfx_version", __version__)
    if s.target.is_sim:
        dfx_metrics.record(platform="sim")
    yield handle
    handle.release()


@pytest.fixture
def accelerator(request: pytest.FixtureRequest, dfx_target: TargetHandle, dfx_metrics,
                dfx_build):
    """``accelerator(build, batch_size=1)``: the build's driver on the target, with
    ``execute`` and ``throughput_test`` (:mod:`dfx.hil.accelerator`). On a board the test
    holds the board from the first call until it ends."""
    from dfx.hil.accelerator import RemoteAccelerator, SimAccelerator

    made = []
    s = dfx_target.settings

    def make(build, batch_size: int = 1):
        __tracebackhide__ = True
        if dfx_target.is_sim:
            accel = SimAccelerator(build, dfx_metrics, s.timeout_s, batch_size)
        else:
            board = dfx_target.board()
            wanted = dfx_target.leased.board
            if wanted and build.board != wanted:  # a lab of several kinds of board
                build = dfx_build(build.model, plugins=build.plugins,
                                  **{**build.config, "board": wanted})
            accel = RemoteAccelerator(build, dfx_metrics, board, batch_size)
        dfx_metrics.note_build(build)
        _set_property(request.node, "dfx_bitfile_sha256", build.bitfile_sha256 or "none")
        if accel.platform == "sim":
            _set_property(request.node, "dfx_simulator_sha256", build.simulator_sha256)
        made.append(accel)
        return accel

    yield make
    for accel in made:
        accel.close()
