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
output model and files atomically. The build writes into a staging folder next
to ``output_dir`` and swaps it into place at the end, so an interrupted build
never leaves a half-written output folder; a failed build leaves its folder
(with the log and ``build_status.json``) for inspection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dfx import __version__
from dfx.errors import ConfigError, DfxError, PluginError, StepError
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
                order.pop(index)
                names.pop(index)
                if not step.after and not step.before:
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


def select_steps(cfg, steps: list[Step]) -> list[Step]:
    """The steps this build runs, from ``steps``/``start_step``/``stop_step``/outputs."""
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
        explicit = True
    else:
        chosen = list(steps)
        explicit = False
    validate_step_names(cfg, [s.name for s in chosen])

    wanted = set(cfg.generate_outputs)
    producible = set().union(*(s.outputs for s in steps)) if steps else set()
    missing = sorted(wanted - producible)
    if missing:
        raise ConfigError(
            f"generate_outputs: no loaded plugin produces {', '.join(missing)} "
            f"(produced here: {', '.join(sorted(producible)) or 'nothing'})"
        )
    if not explicit:
        last = max((i for i, s in enumerate(chosen) if s.outputs & wanted), default=-1)
        chosen = chosen[: last + 1]
    chosen = [s for s in chosen if not s.outputs or s.outputs & wanted]

    names = [s.name for s in chosen]
    start = names.index(cfg.start_step) if cfg.start_step else 0
    stop = names.index(cfg.stop_step) + 1 if cfg.stop_step else len(chosen)
    return chosen[start:stop]


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
        return {"verify_as": step.verify_as, **files}

    def step_key(self, step: Step, input_hash: str) -> str:
        from dfx.cache import make_key

        return make_key(
            "dfx-step", __version__, input_hash, step.name, step.version,
            self._config_part(step), self._fingerprints(step), self._verify_part(step),
            step.environment(self.cfg) if step.environment else None,
        )

    # -- staging output folder -------------------------------------------
    def _make_staging(self) -> Path:
        parent = self.output_dir.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".{self.output_dir.name}.dfx-staging-*"):
            pid = stale.name.rsplit("-", 2)[-2]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
        suffix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging = parent / f".{self.output_dir.name}.dfx-staging-{suffix}"
        if self.cfg.start_step and self.output_dir.is_dir():
            shutil.copytree(self.output_dir, staging, symlinks=True)
        else:
            staging.mkdir()
        return staging

    def _publish(self, staging: Path) -> None:
        target = self.output_dir
        backup = None
        if target.exists():
            backup = target.parent / f".{target.name}.dfx-old-{uuid.uuid4().hex[:8]}"
            os.replace(target, backup)
        os.replace(staging, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)

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
        if self.progress is None:
            from dfx.progress import make_progress

            self.progress = make_progress(len(self.steps), quiet=self.quiet)
        staging = self._make_staging()
        handler = logging.FileHandler(staging / "build_dataflow.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("dfx")
        root.propagate = False  # the log file has the details; the terminal gets the message
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if self.cfg.verbose else logging.INFO)
        result = BuildResult(self.output_dir)
        status = {"status": "running", "dfx_version": __version__,
                  "model": str(self.model_path), "plugins": ",".join(self.plugin_names)}
        try:
            self._staging = staging  # earlier steps' files, for ctx.build_dir
            self._run_steps(staging, result)
            status["status"] = "complete"
        except BaseException as exc:
            status.update(status="failed", error=str(exc) or type(exc).__name__,
                          failed_step=getattr(exc, "step_name", None))
            log.error("build failed: %s", status["error"])
            self._finish_files(staging, result, status)
            root.removeHandler(handler)
            handler.close()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                shutil.rmtree(staging, ignore_errors=True)  # interrupted: keep the old output
            else:
                self._publish(staging)  # failed: keep the folder for inspection
            raise
        finally:
            self.progress.close()
        self._finish_files(staging, result, status)
        root.removeHandler(handler)
        handler.close()
        self._publish(staging)
        if result.model_path is not None:
            result.model_path = self.output_dir / result.model_path.relative_to(staging)
        return result

    def _finish_files(self, staging: Path, result: BuildResult, status: dict) -> None:
        times = {s.name: round(s.seconds, 6) for s in result.steps}
        (staging / "time_per_step.json").write_text(json.dumps(times, indent=2) + "\n")
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
        model_file = self._initial_model()
        if not model_file.is_file():
            raise ConfigError(f"model file {str(model_file)!r} does not exist")
        input_hash = file_hash(model_file)
        model = None  # the in-memory model, when the previous step ran
        log.info("dfx %s: building %s into %s", __version__, self.model_path, self.output_dir)
        for index, step in enumerate(self.steps):
            self.progress.start(index, step.name)
            started = time.perf_counter()
            key = self.step_key(step, input_hash)
            with self.cache.claim(key) as claim:
                entry = claim.entry if step.cacheable else None
                cached = entry is not None
                if not cached:
                    if model is None:
                        model = _load_model(model_file)
                    model = self._run_one(step, model, claim.files_dir)
                    model.save(str(claim.model_path))
                    entry = claim.commit(step.name, {"seconds": time.perf_counter() - started})
            seconds = time.perf_counter() - started
            self._collect(entry, step, staging)
            model_file = entry.model_path
            input_hash = entry.content_hash
            if cached:
                model = None
            result.steps.append(StepRecord(step.name, seconds, cached, key, input_hash))
            log.info("step %s: %s in %.3f s", step.name, "cached" if cached else "ran", seconds)
            self.plugins.hook.dfx_step_finished(step_name=step.name, seconds=seconds,
                                                cached=cached, ctx=None)
            self.progress.finish(index, step.name, seconds, cached)
        if self.steps:
            result.model_path = staging / "final_model.onnx"
            _link_or_copy(model_file, result.model_path)

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
        except DfxError as exc:
            exc.step_name = step.name
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            log.exception("step %s raised", step.name)
            error = StepError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}")
            error.step_name = step.name
            raise error from exc
        if not hasattr(model, "graph") or not hasattr(model, "save"):
            raise StepError(f"step {step.name!r} returned {type(model).__name__}, "
                            f"not a ModelWrapper")
        if self._verifies(step):
            self._verify(step, model, files)
        return model

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
        verdict = compare(output, expected)
        verdict["step"] = step.name
        out = files / "verification_output"
        out.mkdir(exist_ok=True)
        (out / f"{step.verify_as}.json").write_text(json.dumps(verdict, indent=2) + "\n")
        log.info("verify %s after %s: %s", step.verify_as, step.name, verdict["verdict"])

    def _collect(self, entry, step: Step, staging: Path) -> None:
        """Copy a step's files (and its model, if saved) into the output folder."""
        if entry.files_dir.is_dir():
            for src in entry.files_dir.rglob("*"):
                if src.is_file():
                    dst = staging / src.relative_to(entry.files_dir)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(src, dst)
        if self.cfg.save_intermediate_models and entry.model_path is not None:
            dst = staging / "intermediate_models" / f"{step.name}.onnx"
            dst.parent.mkdir(exist_ok=True)
            _link_or_copy(entry.model_path, dst)


def _load_model(path: Path):
    from dfx.graph import load_model

    return load_model(path)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Copy a cached file into the output folder.

    A copy, not a hard link: a user editing a file of the output folder must
    never change the cache entry behind it.
    """
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    shutil.copyfile(src, dst)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
