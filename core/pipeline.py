"""The build pipeline: order the steps, run each one or take it from the cache.

For every step the pipeline computes a cache key from

* the content hash of the step's input model,
* the step's name and version,
* the values of the configuration fields the step names (file contents for
  fields that name files),
* the fingerprints of the plugins involved (the plugin that registered the
  step, those implementing the stage hooks it calls, and the owners of the
  layer kinds when the step uses them),
* for verified steps, the verification inputs.

A hit skips the step (and loading the model); a miss runs it and stores its
output model and files atomically. What a build takes from an entry (the files
it copies, the model it loads) is hashed as it is read; a damaged entry is
dropped and rebuilt. The build writes into a staging folder inside
``output_dir`` and moves its files into place when it succeeds (:mod:`dfx.outdir`):
an interrupted build leaves the folder as it was, a failed one never replaces a
complete build, and no file that dfx did not write is removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dfx import __version__
from dfx.errors import ConfigError, DfxError, IncompleteBuildError, PluginError, StepError
from dfx.outdir import is_storage_problem, storage_error
from dfx.steps import Step, StepContext

log = logging.getLogger("dfx")

#: Config fields whose value names a file: the key hashes the file's content.
FILE_FIELDS = {
    "folding_config_file",
    "specialize_layers_config_file",
    "verify_input_npy",
    "verify_expected_output_npy",
    "vitis_floorplan_file",
}


#: FINN's verification names that map onto a dfx check.
VERIFY_ALIASES = {"stitched_ip_rtlsim": "rtlsim", "node_by_node_rtlsim": "rtlsim"}


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Step order
# --------------------------------------------------------------------------


def registered_steps(plugins) -> list[Step]:
    """All registered steps, in order, from ``dfx_register_steps`` of every plugin."""
    order: list[Step] = []
    owners: dict[str, object] = {}
    for impl in plugins.registration_order("dfx_register_steps"):
        plugin = plugins.plugin_for_module(impl.plugin)
        plugin_name = plugin.name if plugin else str(impl.plugin)
        for step in impl.function() or []:
            if not isinstance(step, Step):
                raise PluginError(f"plugin {plugin_name!r} registered {step!r}, not a dfx Step")
            names = [s.name for s in order]
            if step.name in names:
                if not step.replaces:
                    raise PluginError(
                        f"plugin {plugin_name!r} registers step {step.name!r}, which "
                        f"{owners[step.name]!r} registered already (pass replaces=True to "
                        f"replace it)"
                    )
                index = names.index(step.name)
                replaced = order.pop(index)
                names.pop(index)
                if not step.after and not step.before:
                    if not step.outputs:
                        # in the replaced step's place, for the outputs it was needed for
                        step = dataclasses.replace(step, outputs=replaced.outputs)
                    order.insert(index, step)
                    owners[step.name] = plugin_name
                    continue
            anchor = step.after or step.before
            if anchor:
                if anchor not in names:
                    raise PluginError(
                        f"plugin {plugin_name!r}: step {step.name!r} goes "
                        f"{'after' if step.after else 'before'} {anchor!r}, which is not a "
                        f"registered step"
                    )
                index = names.index(anchor) + (1 if step.after else 0)
                order.insert(index, step)
            else:
                order.append(step)
            owners[step.name] = plugin_name
    plugins.step_owners = owners
    return order


def _import_custom_step(spec: str) -> Step:
    """A FINN-style custom step given as ``package.module.function`` in ``steps``."""
    import importlib

    module_name, _, func_name = spec.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"steps: {spec!r} is neither a registered step nor an importable "
                          f"function ({exc})") from None
    return Step(spec, func, cacheable=False, description="custom step from the config")


def step_triggers(steps: list[Step]) -> dict[str, tuple[frozenset[str], str | None]]:
    """For every step, the outputs a build must ask for to run it, and where that comes from.

    ``name -> (outputs, anchor)``: a step that names ``outputs`` runs when the build asks
    for one of them (``anchor`` None). A step that names none runs when the step it is
    placed after (or before) runs: it takes that step's outputs, and ``anchor`` is that
    step's name. A step with neither runs in every build (empty outputs). So a plugin step
    placed after the estimates runs in an estimate-only build.
    """
    by_name = {s.name: s for s in steps}
    triggers: dict[str, tuple[frozenset[str], str | None]] = {}

    def resolve(step: Step, seen: frozenset[str]) -> frozenset[str]:
        if step.name not in triggers:
            anchor = step.after or step.before
            if step.outputs or not anchor or anchor not in by_name or anchor in seen:
                triggers[step.name] = (frozenset(step.outputs), None)
            else:
                triggers[step.name] = (resolve(by_name[anchor], seen | {step.name}), anchor)
        return triggers[step.name][0]

    for step in steps:
        resolve(step, frozenset())
    return triggers


@dataclass(frozen=True)
class PlannedStep:
    """One registered step and whether this build runs it (``why``: when, or why not)."""

    step: Step
    runs: bool
    why: str


def _names(outputs) -> str:
    return ", ".join(sorted(outputs))


def plan_steps(cfg, steps: list[Step]) -> list[PlannedStep]:
    """Every step this build runs, in order, and the registered steps it skips, with why.

    The rules: ``steps`` (if set) lists the steps and their order; otherwise all
    registered steps run in their order. Of those, a step runs when the build asks for
    one of the outputs that need it (:func:`step_triggers`); ``start_step`` and
    ``stop_step`` then cut the list. Registered steps not run are listed after, in their
    order, each with its reason.
    """
    by_name = {s.name: s for s in steps}
    from dfx.config import validate_step_names

    if cfg.steps:
        chosen = []
        for name in cfg.steps:
            if name in by_name:
                chosen.append(by_name[name])
            elif "." in name:
                chosen.append(_import_custom_step(name))
            else:
                validate_step_names(cfg, list(by_name))  # raises with a suggestion
    else:
        chosen = list(steps)
    validate_step_names(cfg, [s.name for s in chosen])

    wanted = set(cfg.generate_outputs)
    producible = set().union(*(s.outputs for s in steps)) if steps else set()
    missing = sorted(wanted - producible)
    if missing:
        raise ConfigError(
            f"generate_outputs: no loaded plugin produces {', '.join(missing)} "
            f"(produced here: {', '.join(sorted(producible)) or 'nothing'})"
        )
    triggers = step_triggers(steps)
    asked = f"generate_outputs asks for {_names(wanted)}"

    def trigger(step: Step) -> tuple[frozenset[str], str | None]:
        return triggers.get(step.name, (frozenset(step.outputs), None))

    def reason_to_run(step: Step) -> str:
        outputs, anchor = trigger(step)
        if not outputs:
            return "every build" + (f" (placed by {anchor}, which every build runs)"
                                    if anchor else "")
        needed = _names(outputs & wanted)
        if anchor:
            return f"with {anchor} (it names no outputs of its own), for {needed}"
        return f"for {needed}"

    def reason_to_skip(step: Step) -> str:
        outputs, anchor = trigger(step)
        if anchor:
            return (f"it runs with {anchor} (it names no outputs of its own), needed only "
                    f"for {_names(outputs)}; {asked}")
        return f"needed only for {_names(outputs)}; {asked}"

    kept, skipped = [], {}
    for step in chosen:
        outputs, _anchor = trigger(step)
        if not outputs or outputs & wanted:
            kept.append(step)
        else:
            skipped[step.name] = reason_to_skip(step)
    names = [s.name for s in kept]
    for key in ("start_step", "stop_step"):
        name = getattr(cfg, key)
        if name and name not in names:
            # validate_step_names found it, so the outputs ruled it out
            raise ConfigError(f"{key} {name!r} is not a step of this build: "
                              f"{skipped.get(name, 'it does not run')}")
    start = names.index(cfg.start_step) if cfg.start_step else 0
    stop = names.index(cfg.stop_step) + 1 if cfg.stop_step else len(kept)
    for step in kept[:start]:
        skipped[step.name] = f"it comes before start_step {cfg.start_step}"
    for step in kept[stop:]:
        skipped[step.name] = f"it comes after stop_step {cfg.stop_step}"
    plan = [PlannedStep(step, True, reason_to_run(step)) for step in kept[start:stop]]
    listed = {s.name for s in chosen}
    for step in steps:
        if step.name not in listed:
            skipped[step.name] = "the configuration's steps do not list it"
    custom = [s for s in chosen if s.name not in by_name]  # functions named in steps
    for step in [*steps, *custom]:
        if step.name in skipped:
            plan.append(PlannedStep(step, False, skipped[step.name]))
    return plan


def select_steps(cfg, steps: list[Step]) -> list[Step]:
    """The steps this build runs, in order (see :func:`plan_steps` for the rules)."""
    return [planned.step for planned in plan_steps(cfg, steps) if planned.runs]


# --------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------


@dataclass
class StepRecord:
    name: str
    seconds: float
    cached: bool
    key: str
    content_hash: str


@dataclass
class BuildResult:
    output_dir: Path
    steps: list[StepRecord] = field(default_factory=list)
    model_path: Path | None = None
    #: (step name, what the step reported about its outputs), in step order
    reports: list[tuple[str, dict]] = field(default_factory=list)
    #: the per-output status written to build_status.json
    outputs: dict = field(default_factory=dict)

    @property
    def cached_steps(self) -> int:
        return sum(1 for s in self.steps if s.cached)


class Build:
    """One ``dfx run``: a model, a validated config, the loaded plugins and a cache."""

    def __init__(self, model_path, cfg, plugins, cache, board=None, progress=None,
                 quiet: bool = False):
        self.model_path = Path(model_path)
        self.cfg = cfg
        self.plugins = plugins
        self.cache = cache
        self.board = board
        self.all_steps = registered_steps(plugins)
        self.steps = select_steps(cfg, self.all_steps)
        for step in self.steps:
            if step.preflight is not None:
                step.preflight(cfg, board)
        if cfg.folding_config_file and any("folding_config_file" in s.config_fields
                                           for s in self.steps):
            # before step 1: a typo in the folding file must not cost the earlier steps
            from dfx.folding_config import preflight_folding_config

            preflight_folding_config(cfg.folding_config_file, plugins.layer_kinds)
        _check_verify_steps(cfg, self.steps)
        from dfx.config import config_warnings

        self.config_warnings = config_warnings(cfg)
        for message in self.config_warnings:  # loudly: on the terminal, and in the log
            print(f"dfx: warning: {message}", file=sys.stderr)
        self.progress = progress
        self.quiet = quiet
        self.output_dir = Path(cfg.output_dir)
        self.plugin_names = [p.name for p in plugins.plugins]

    # -- keys --------------------------------------------------------------
    def _involved_plugins(self, step: Step) -> list:
        """The plugin that registered ``step`` and those implementing the hooks it calls."""
        owner = self.plugins.step_owners.get(step.name)
        involved = [p for p in self.plugins.plugins if p.name == owner]
        for hook in step.hooks:
            involved += [p for p in self.plugins.implementers(hook) if p not in involved]
        return involved

    def _config_part(self, step: Step) -> dict:
        part = {}
        # Keys a plugin declares may be read by any stage it implements, so they
        # belong to the key of every step whose hooks that plugin fills in.
        fields = list(step.config_fields)
        for plugin in self._involved_plugins(step):
            fields += [k for k in self.plugins.config_keys_of(plugin) if k not in fields]
        for name in fields:
            value = self.cfg.get(name)
            if name in FILE_FIELDS and value:
                path = Path(value)
                value = {"path": str(value), "sha256": file_hash(path) if path.is_file()
                         else None}
            elif name == "board" and self.board is not None:
                value = {"name": self.board.name, "part": self.board.part,
                         "resources": dict(self.board.resources)}
            part[name] = value
        return part

    def _fingerprints(self, step: Step) -> list[str]:
        prints = {plugin.fingerprint for plugin in self._involved_plugins(step)}
        if step.uses_layer_kinds:
            # Every plugin that registers layer kinds, found without calling the hook
            # (which would import the layer modules on a fully cached run).
            for plugin in self.plugins.implementers("dfx_register_layer_kinds"):
                prints.add(plugin.fingerprint)
        return sorted(prints)

    def _verifies(self, step: Step) -> bool:
        wanted = {VERIFY_ALIASES.get(str(v), str(v)) for v in (self.cfg.verify_steps or [])}
        return bool(step.verify_as) and step.verify_as in wanted

    def _verify_part(self, step: Step) -> dict | None:
        if not self._verifies(step):
            return None
        files = {}
        for name in ("verify_input_npy", "verify_expected_output_npy"):
            path = Path(self.cfg.get(name))
            if not path.is_file():
                raise ConfigError(f"{name}: {str(path)!r} does not exist (needed by "
                                  f"verify_steps {step.verify_as!r})")
            files[name] = file_hash(path)
        return {"verify_as": step.verify_as, "atol": self.cfg.verification_atol, **files}

    def step_key(self, step: Step, input_hash: str) -> str:
        from dfx.cache import make_key

        return make_key(
            "dfx-step", __version__, input_hash, step.name, step.version,
            self._config_part(step), self._fingerprints(step), self._verify_part(step),
            step.environment(self.cfg) if step.environment else None,
        )

    # -- run ---------------------------------------------------------------
    def _initial_model(self):
        """The first step's input: the model file, or with start_step the saved model."""
        if self.cfg.start_step:
            names = [s.name for s in self.all_steps] if not self.cfg.steps else list(
                self.cfg.steps)
            index = names.index(self.cfg.start_step)
            if index > 0:
                previous = names[index - 1]
                path = self.output_dir / "intermediate_models" / f"{previous}.onnx"
                if not path.is_file():
                    raise ConfigError(
                        f"start_step {self.cfg.start_step!r} needs the model saved by step "
                        f"{previous!r} of an earlier build ({path} does not exist)"
                    )
                return path
        return self.model_path

    def run(self) -> BuildResult:
        """Run the build; publish it into ``output_dir`` (see :mod:`dfx.outdir`)."""
        from dfx import outdir

        self._check_model_file(self._initial_model())
        out = outdir.check_output_dir(self.output_dir, force=bool(self.cfg.force_output_dir),
                                     keep=(self.model_path,))
        staging = outdir.make_staging(out)
        if self.progress is None:
            from dfx.progress import make_progress

            self.progress = make_progress(len(self.steps), quiet=self.quiet)
        handler = self._attach_log(staging)
        result = BuildResult(self.output_dir)
        status = {"status": "running", "dfx_version": __version__,
                  "model": str(self.model_path), "plugins": ",".join(self.plugin_names)}
        try:
            self._staging = staging  # earlier steps' files, for ctx.build_dir
            self._run_steps(staging, result)
        except BaseException as exc:
            failure = _as_user_error(exc)
            self._fail(out, staging, result, status, failure, handler)
            if failure is exc:
                raise
            raise failure from None
        finally:
            self.progress.close()
        status.update(self._output_status(result))
        try:
            self._finish_files(staging, result, status)
            self._detach_log(handler)
            outdir.publish(out, staging, status="complete", version=__version__,
                           keep_previous_files=bool(self.cfg.start_step))
        except ConfigError as exc:  # it would overwrite a file of the user's
            self._detach_log(handler)
            exc.add_note(f"the finished build is kept in {outdir.keep_failure(out, staging)}")
            raise
        except BaseException as exc:
            self._detach_log(handler)
            outdir.abandon(out, staging)  # the earlier build stays as it was
            raise _as_user_error(exc) from None
        if result.model_path is not None:
            result.model_path = self.output_dir / result.model_path.relative_to(staging)
        result.outputs = status["outputs"]
        if self.cfg.require_all_outputs:
            _require_outputs(status["outputs"], self.output_dir)
        return result

    def _check_model_file(self, path: Path) -> None:
        """The model must be a readable file: checked before the output folder is touched."""
        if path.is_dir():
            raise ConfigError(f"model {str(path)!r} is a directory, not a model file (give "
                              f"the .onnx file inside it)")
        if not path.is_file():
            raise ConfigError(f"model file {str(path)!r} does not exist")

    def _attach_log(self, staging: Path) -> logging.Handler:
        handler = _QuietFileHandler(staging / "build_dataflow.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("dfx")
        root.propagate = False  # the log file has the details; the terminal gets the message
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if self.cfg.verbose else logging.INFO)
        return handler

    def _detach_log(self, handler: logging.Handler) -> None:
        logging.getLogger("dfx").removeHandler(handler)
        handler.close()

    def _fail(self, out, staging: Path, result: BuildResult, status: dict,
              exc: BaseException, handler: logging.Handler) -> None:
        """Record a failed build without losing the good build already in ``out``.

        Interrupted: the staging folder goes, the folder stays as it was. Failed: the
        failure report is published, or, when ``out`` holds a complete build, kept beside
        it in ``<out>/.dfx-failed/``; a note on ``exc`` says where.
        """
        from dfx import outdir

        status.update(status="failed", error=str(exc) or type(exc).__name__,
                      failed_step=getattr(exc, "step_name", None))
        log.error("build failed: %s", status["error"])
        try:
            self._finish_files(staging, result, status)
        except OSError as write_error:  # a full disk: the message must still get out
            log.error("the failure report could not be written: %s", write_error)
        self._detach_log(handler)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            outdir.abandon(out, staging)
            return
        try:
            where = self._keep_failed_build(out, staging)
        except OSError as move_error:
            outdir.discard(staging)
            log.error("the failed build could not be kept: %s", move_error)
            return
        if out.holds_good_build:
            exc.add_note(f"the previous build in {out.path} is kept; the failed build's log "
                         f"and build_status.json are in {where}")
        else:
            exc.add_note(f"the failed build's log and build_status.json are in {where}")

    def _keep_failed_build(self, out, staging: Path) -> Path:
        """Publish a failed build where no complete one is; else keep it in .dfx-failed/."""
        from dfx import outdir

        if not out.holds_good_build:
            try:
                outdir.publish(out, staging, status="failed", version=__version__)
                return out.path
            except ConfigError:  # it would overwrite a file of the user's
                pass
        return outdir.keep_failure(out, staging)

    def _output_status(self, result: BuildResult) -> dict:
        """``outputs`` (per requested output) and ``status`` for build_status.json."""
        outputs = output_status(self.cfg.generate_outputs, self.all_steps, result.reports)
        done = all(o["status"] == "produced" for o in outputs.values())
        return {"status": "complete" if done else "incomplete", "outputs": outputs}

    def _finish_files(self, staging: Path, result: BuildResult, status: dict) -> None:
        times = {s.name: round(s.seconds, 6) for s in result.steps}
        (staging / "time_per_step.json").write_text(json.dumps(times, indent=2) + "\n")
        # FINN's time_per_step.json has only the times; which steps came from the cache is
        # here (the HTML report's step timeline marks them)
        status["steps"] = [{"step": s.name, "seconds": round(s.seconds, 6), "cached": s.cached}
                           for s in result.steps]
        (staging / "build_status.json").write_text(json.dumps(status, indent=2) + "\n")
        verify = {}
        vdir = staging / "verification_output"
        if vdir.is_dir():
            for path in sorted(vdir.glob("*.json")):
                verify[path.stem] = json.loads(path.read_text())
        if verify:
            (staging / "report").mkdir(exist_ok=True)
            (staging / "report" / "verify_results.json").write_text(
                json.dumps(verify, indent=2) + "\n")

    def _run_steps(self, staging: Path, result: BuildResult) -> None:
        self._sweep_leftovers()
        # A damaged entry found while loading a model an earlier step made is dropped;
        # the build then starts over, and that step runs again (each pass drops one).
        for _attempt in range(len(self.steps) + 1):
            try:
                self._run_steps_once(staging, result)
                return
            except _Rebuild:
                result.steps.clear()
                result.reports.clear()
        from dfx.errors import CacheError

        raise CacheError(f"the cache at {self.cache.root} keeps serving damaged entries; "
                         f"run `dfx cache verify` or `dfx cache clear`")

    def _sweep_leftovers(self) -> None:
        """Remove what killed dfx processes left in the cache (never a live one's folders)."""
        from dfx.cache import simulators_dir, sweep_simulator_leftovers

        try:
            self.cache.sweep_leftovers()
            sims = simulators_dir()
            if sims.is_dir():
                sweep_simulator_leftovers(sims)
        except (OSError, DfxError) as exc:  # a sweep never stops a build
            log.debug("sweeping leftovers: %s", exc)

    def _damaged(self, exc, action: str) -> None:
        log.warning("%s; %s", exc, action)
        self.progress.update(f"cache entry of {exc.step} damaged ({exc.what} {exc.why}): "
                             f"{action}")

    def _run_steps_once(self, staging: Path, result: BuildResult) -> None:
        from dfx.cache import DamagedEntryError

        model_file = self._initial_model()
        input_hash = file_hash(model_file)
        model = None  # the in-memory model, when the previous step ran
        model_bytes = None  # and its serialized bytes
        source = None  # the cache entry holding the current model (None: model_file)
        self._staging = staging  # later steps read earlier steps' files here
        log.info("dfx %s: building %s into %s", __version__, self.model_path, self.output_dir)
        for message in self.config_warnings:
            log.warning("%s", message)
        for index, step in enumerate(self.steps):
            self.progress.start(index, step.name)
            started = time.perf_counter()
            key = self.step_key(step, input_hash)
            with self.cache.claim(key) as claim:
                entry = claim.entry if step.cacheable else None
                if entry is not None:
                    try:
                        self._collect(entry, step, staging)
                    except DamagedEntryError as exc:
                        self._damaged(exc, "dropped it, running the step again")
                        claim.drop(exc)
                        entry = None
                cached = entry is not None
                if not cached:
                    if model is None:
                        model = self._load_input(model_file, source)
                    model_bytes = None  # the previous step's: not kept while this one runs
                    model, reports = self._run_one(step, model, claim.files_dir)
                    # serialized once: the same bytes go to the cache, to
                    # intermediate_models and (after the last step) to final_model.onnx
                    model_bytes = model.model.SerializeToString()
                    claim.save_model(model_bytes)
                    entry = claim.commit(step.name, {"seconds": time.perf_counter() - started,
                                                     "outputs": reports})
                    self._collect(entry, step, staging, model_bytes=model_bytes)
            seconds = time.perf_counter() - started
            result.reports.append((step.name, entry.meta.get("outputs") or {}))
            source = entry
            input_hash = entry.content_hash
            if cached:
                model = model_bytes = None
            result.steps.append(StepRecord(step.name, seconds, cached, key, input_hash))
            log.info("step %s: %s in %.3f s", step.name, "cached" if cached else "ran", seconds)
            self.plugins.hook.dfx_step_finished(step_name=step.name, seconds=seconds,
                                                cached=cached, ctx=None)
            self.progress.finish(index, step.name, seconds, cached)
        if self.steps:
            result.model_path = staging / "final_model.onnx"
            if model_bytes is not None:
                _write_bytes(result.model_path, model_bytes)
            elif source is not None:
                try:
                    source.write_model(result.model_path)
                except DamagedEntryError as exc:
                    self._damaged(exc, "dropped it, building again")
                    self.cache.drop_damaged(exc)
                    raise _Rebuild from None
            else:
                _link_or_copy(model_file, result.model_path)

    def _load_input(self, model_file: Path, source):
        """The model a step runs on: from ``source`` (a cache entry, verified) or the file."""
        if source is None or source.model_path is None:
            return _load_model(model_file)
        from qonnx.core.modelwrapper import ModelWrapper

        from dfx.cache import DamagedEntryError

        try:
            return ModelWrapper(source.read_model())
        except DamagedEntryError as exc:
            self._damaged(exc, "dropped it, building again")
            self.cache.drop_damaged(exc)
            raise _Rebuild from None

    def _run_one(self, step: Step, model, files: Path):
        files.mkdir(parents=True, exist_ok=True)
        ctx = StepContext(
            step_name=step.name,
            artifact_dir=files,
            hook=self.plugins.hook,
            layer_kinds=self.plugins.layer_kinds,
            board=self.board,
            log=logging.getLogger(f"dfx.step.{step.name}"),
            progress=self.progress.update,
            build_dir=getattr(self, "_staging", None),
        )
        try:
            model = step.call(model, self.cfg, ctx)
            if not hasattr(model, "graph") or not hasattr(model, "save"):
                raise StepError(f"step {step.name!r} returned {type(model).__name__}, "
                                f"not a ModelWrapper")
            if self._verifies(step):
                self._verify(step, model, files)
        except DfxError as exc:
            exc.step_name = step.name
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if is_storage_problem(exc):
                error = storage_error(exc)
                error.step_name = step.name
                raise error from None
            log.exception("step %s raised", step.name)
            _post_mortem(self.cfg, exc)
            from dfx.layers import layer_kind_at_fault

            # a layer kind's method that raised is named with its plugin and node
            culprit = layer_kind_at_fault(exc, self.plugins.layer_kinds)
            error = StepError(f"step {step.name!r} failed: "
                              f"{culprit or f'{type(exc).__name__}: {exc}'}")
            error.step_name = step.name
            raise error from exc
        return model, ctx.outputs

    def _verify(self, step: Step, model, files: Path) -> None:
        import numpy as np

        from dfx.execute import compare, execute

        x = np.load(self.cfg.verify_input_npy)
        expected = np.load(self.cfg.verify_expected_output_npy)
        self.progress.update(f"verifying {step.verify_as} on {len(x)} inputs")
        if step.verifier is not None:
            output = step.verifier(model, x, files, self.plugins.layer_kinds)
        else:
            output = execute(model, x, self.plugins.layer_kinds)
        verdict = compare(output, expected, atol=self.cfg.verification_atol)
        verdict["step"] = step.name
        out = files / "verification_output"
        out.mkdir(exist_ok=True)
        (out / f"{step.verify_as}.json").write_text(json.dumps(verdict, indent=2) + "\n")
        log.info("verify %s after %s: %s", step.verify_as, step.name, verdict["verdict"])

    def _collect(self, entry, step: Step, staging: Path, model_bytes: bytes | None = None
                 ) -> None:
        """Copy a step's files (and its model, if saved) into the output folder.

        Every byte taken from the entry is checked against its manifest while it is
        copied (DamagedEntryError; what was copied from the entry is removed again).
        ``model_bytes``: the step's output model, serialized (just built), written
        instead of read back from the entry.
        """
        copied: list[Path] = []
        try:
            for rel in entry.files:
                if not rel.startswith("files/"):
                    continue
                dst = staging / rel[len("files/"):]
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.exists() or dst.is_symlink():
                    dst.unlink()
                copied.append(dst)
                entry.copy_file(rel, dst)
            if self.cfg.save_intermediate_models and entry.model_path is not None:
                dst = staging / "intermediate_models" / f"{step.name}.onnx"
                dst.parent.mkdir(exist_ok=True)
                copied.append(dst)
                if model_bytes is not None:
                    _write_bytes(dst, model_bytes)
                else:
                    entry.write_model(dst)
        except BaseException:
            for path in copied:
                if path.is_file():
                    path.unlink()
            raise


class _Rebuild(Exception):
    """A damaged cache entry an earlier step made was dropped: build again."""


def _check_verify_steps(cfg, steps: list[Step]) -> None:
    """Every ``verify_steps`` name must have a step in this build that checks it."""
    checked = {s.verify_as for s in steps if s.verify_as}
    missing = []
    for name in cfg.verify_steps or []:
        dfx_name = VERIFY_ALIASES.get(str(name), str(name))
        if dfx_name not in checked:
            missing.append(str(name))
    if missing:
        hint = ""
        if any("rtlsim" in m for m in missing):
            hint = "the rtlsim checks need stitched_ip or rtlsim_performance in generate_outputs; "
        raise ConfigError(
            f"verify_steps: {', '.join(missing)} would not run: no step of this build checks "
            f"it ({hint}checked here: {', '.join(sorted(checked)) or 'nothing'})")


def _interactive() -> bool:
    """A person at a terminal: stdin and stdout are ttys and no CI is announced."""
    if os.environ.get("CI"):
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _post_mortem(cfg, exc: BaseException) -> None:
    """FINN's enable_build_pdb_debug: pdb at the failing frame, for a person at a terminal."""
    if not getattr(cfg, "enable_build_pdb_debug", False) or not _interactive():
        return
    import pdb
    import traceback

    traceback.print_exception(exc)
    print("dfx: enable_build_pdb_debug is on: starting the post-mortem debugger "
          "(q to leave, the build then fails)", file=sys.stderr)
    pdb.post_mortem(exc.__traceback__)


def _load_model(path: Path):
    from dfx.graph import load_model

    return load_model(path)


def _write_bytes(path: Path, data: bytes) -> None:
    """Write a serialized model (a large bytes object) to ``path``, without a copy of it."""
    with open(path, "wb") as f:
        f.write(memoryview(data))


def _link_or_copy(src: Path, dst: Path) -> None:
    """Copy a cached file into the output folder.

    A copy, not a hard link: a user editing a file of the output folder must
    never change the cache entry behind it.
    """
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    shutil.copyfile(src, dst)


#: how good an output's status is, worst first
_STATUS_ORDER = ("not produced", "prepared", "produced")


def output_status(requested, steps: list[Step], reports: list[tuple[str, dict]]) -> dict:
    """Per requested output: produced, prepared (scripts written, the tool did not run) or
    not produced, from what the steps reported (``StepContext.report_output``).

    An output that no step reported on is produced when every step that makes it (the
    registered steps naming it in ``outputs``) ran; one that did not run (``stop_step``,
    ``steps``) makes it "not produced". Of several reports the worst status wins, with
    its details; what is missing and the files are merged.
    """
    ran = {name for name, _ in reports}
    result = {}
    for output in (str(o) for o in requested):
        makers = [s.name for s in steps if output in s.outputs]
        said = [r[output] for _, r in reports if output in r]
        if said:
            worst = min(_STATUS_ORDER.index(r["status"]) for r in said)
            fields = [r for r in said if _STATUS_ORDER.index(r["status"]) == worst][-1]
            entry = {"status": _STATUS_ORDER[worst],
                     **{k: v for k, v in fields.items() if k != "status"}}
            for key in ("missing", "files"):
                merged = [x for r in said for x in r.get(key, [])]
                if merged:
                    entry[key] = list(dict.fromkeys(merged))
        elif makers and all(name in ran for name in makers):
            entry = {"status": "produced", "steps": makers}
        elif makers:
            entry = {"status": "not produced", "why": ", ".join(
                n for n in makers if n not in ran) + " did not run in this build"}
        else:
            entry = {"status": "not produced", "why": "no step of this build makes it"}
        result[output] = entry
    return result


def describe_output(name: str, entry: dict) -> str:
    """One line about one output: its status, and what is missing and what makes it."""
    text = f"{name} {entry['status']}"
    details = []
    if entry.get("why"):
        details.append(entry["why"])
    if entry.get("missing"):
        details.append("missing " + ", ".join(entry["missing"]))
    if entry.get("make"):
        details.append("to make it: " + entry["make"])
    return text + (f" ({'; '.join(details)})" if details else "")


def _require_outputs(outputs: dict, folder: Path) -> None:
    """``require_all_outputs``: every requested output produced, or an error naming them."""
    short = {k: v for k, v in outputs.items() if v["status"] != "produced"}
    if short:
        raise IncompleteBuildError(
            f"require_all_outputs: {len(short)} requested output(s) not produced in "
            f"{folder}: " + "; ".join(describe_output(k, v) for k, v in short.items()))


def _as_user_error(exc: BaseException) -> BaseException:
    """A disk or permission failure outside a step, as a message instead of a traceback."""
    if isinstance(exc, DfxError) or not is_storage_problem(exc):
        return exc
    return storage_error(exc)


class _QuietFileHandler(logging.FileHandler):
    """The build log: a write that fails (a full disk) must not print a traceback of its
    own over the build's error message."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass
