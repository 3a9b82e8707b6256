"""Build steps: what a step is, and what a step sees while it runs.

A step reads a model (and the configuration fields it names) and returns a new
model; the files it writes into its report folder become part of its cached
artifact. Its cache key is a hash of its input model, its name and version, the
configuration fields it names, and the fingerprints of the plugins involved, so
a step must name every configuration field it reads in ``config_fields``.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - type hints only
    from dfx.boards import Board
    from dfx.layers import LayerRegistry


@dataclass(frozen=True)
class Step:
    """A build step as plugins register it (see ``dfx_register_steps``).

    name:            unique name; FINN's step names where the step does FINN's job.
    func:            ``func(model, cfg, ctx) -> model`` (FINN-style ``func(model, cfg)``
                     is accepted too). It may return ``None`` to mean "model unchanged".
    version:         bump it when the step's output changes for the same input.
    config_fields:   every configuration key the step reads (part of the cache key).
    after/before:    where the step goes in the order (another step's name).
    replaces:        allow replacing a step registered earlier under the same name.
    outputs:         the output types (``generate_outputs`` values) that need this
                     step: it runs when the build asks for one of them. Empty: the step
                     runs whenever the step it is placed ``after``/``before`` runs (a
                     report step after the estimates runs in an estimate-only build), in
                     the place of a step it ``replaces`` whenever that one would have
                     run, and with neither in every build. ``dfx steps`` shows, for a
                     configuration, which steps run and why the others are skipped.
    hooks:           the stage hooks the step calls; the fingerprints of the plugins
                     implementing them are part of the cache key.
    uses_layer_kinds: whether the registered layer kinds affect the result.
    verify_as:       the ``verify_steps`` name that checks the model after this step.
    cacheable:       False for steps with side effects outside their artifact.
    description:     one line for ``dfx steps``.
    verifier:        ``verifier(model, x, files_dir, layer_kinds) -> outputs`` runs the
                     model for ``verify_as`` (default: dfx's python execution).
    preflight:       ``preflight(cfg, board)``, called for every step a build will run
                     before the first one starts; raises :class:`dfx.errors.ConfigError`
                     for a configuration the step cannot work with (a missing board, say),
                     so the user learns it at once, not after the earlier steps.
    environment:     ``environment(cfg) -> JSON data`` describing the tools the step
                     uses (e.g. the Verilator version, or None when
                     missing); part of the key, so installing a tool reruns the steps that
                     did without it.
    """

    name: str
    func: Callable[..., Any]
    version: str = "1"
    config_fields: tuple[str, ...] = ()
    after: str | None = None
    before: str | None = None
    replaces: bool = False
    outputs: frozenset[str] = field(default_factory=frozenset)
    hooks: tuple[str, ...] = ()
    uses_layer_kinds: bool = False
    verify_as: str | None = None
    cacheable: bool = True
    description: str = ""
    verifier: Callable[..., Any] | None = None
    environment: Callable[[Any], Any] | None = None
    preflight: Callable[[Any, Any], None] | None = None

    def __post_init__(self):
        object.__setattr__(self, "config_fields", tuple(self.config_fields))
        object.__setattr__(self, "outputs", frozenset(self.outputs))
        object.__setattr__(self, "hooks", tuple(self.hooks))

    def call(self, model, cfg, ctx):
        """Run the step function, accepting FINN's two-argument signature too."""
        try:
            n_params = len(inspect.signature(self.func).parameters)
        except (TypeError, ValueError):  # builtins, odd callables
            n_params = 3
        result = self.func(model, cfg) if n_params == 2 else self.func(model, cfg, ctx)
        return model if result is None else result


@dataclass
class StepContext:
    """What a running step can reach besides its model and configuration.

    report_dir:   write report files here (they go to ``<output_dir>/report``).
    output_files: write other build outputs here, by their path relative to the
                  output folder (``ctx.output_path("final_hw_config.json")``).
    hook:         the plugin manager's hook relay (``ctx.hook.dfx_streamline(...)``).
    layer_kinds:  the registered hardware layer kinds.
    board:        the selected board, or None.
    log:          the build logger (its lines go to the build log file).
    build_dir:    the build folder being assembled: the files earlier steps of this
                  build wrote (codegen/, stitched_ip/, ...), to read, never to write.
    """

    step_name: str
    artifact_dir: Path
    hook: Any
    layer_kinds: LayerRegistry
    board: Board | None
    log: logging.Logger
    progress: Callable[[str], None] = lambda message: None
    #: what this step says about the build's outputs (see :meth:`report_output`)
    outputs: dict[str, dict] = field(default_factory=dict)
    build_dir: Path | None = None

    @property
    def report_dir(self) -> Path:
        path = self.artifact_dir / "report"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def output_path(self, relative: str) -> Path:
        """A path inside the build output folder, for files other than reports."""
        path = self.artifact_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        """Write ``data`` as indented JSON at ``relative`` inside the output folder."""
        path = self.output_path(relative)
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        return path

    def write_report(self, name: str, data: Any) -> Path:
        """Write ``data`` as JSON into ``report/<name>``."""
        return self.write_json(f"report/{name}", data)

    def report_output(self, output: str, status: str, *, files: list[str] = (),
                      missing: list[str] = (), make: str | None = None,
                      why: str | None = None, **details: Any) -> None:
        """Say what this step did for a ``generate_outputs`` value, for build_status.json.

        status:  "produced" (the output exists), "prepared" (its scripts are written and
                 dry-run, but the tool that makes it did not run) or "not produced".
        files:   the output's files, relative to the output folder.
        missing: what is missing (files, or figures such as timing).
        make:    how to make what is missing (which script to run, in which order).
        why:     why it is missing (e.g. "Vivado not found").
        A later report of the same step on the same output replaces the earlier one.
        """
        if status not in ("produced", "prepared", "not produced"):
            raise ValueError(f"report_output: status {status!r} is not produced, prepared "
                             f"or not produced")
        entry: dict[str, Any] = {"status": status, "step": self.step_name}
        for key, value in (("files", list(files)), ("missing", list(missing)),
                           ("make", make), ("why", why)):
            if value:
                entry[key] = value
        entry.update(details)
        self.outputs[str(output)] = entry

def run_stage(plugins, hook_name: str, model, folder: Path, cfg=None):
    """Call stage hook ``hook_name`` outside a build (e.g. ``dfx sim``), its files and the
    files of earlier stages in ``folder``; ``cfg`` None: the default configuration."""
    if cfg is None:
        from dfx.config import make_config

        cfg = make_config({}, extra_fields=plugins.config_fields())
    ctx = StepContext(step_name=hook_name, artifact_dir=Path(folder), hook=plugins.hook,
                      layer_kinds=plugins.layer_kinds, board=None,
                      log=logging.getLogger(f"dfx.stage.{hook_name}"), build_dir=Path(folder))
    return getattr(plugins.hook, hook_name)(model=model, cfg=cfg, ctx=ctx)
