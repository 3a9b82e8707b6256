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
                     step. Empty means "every output after this point needs it".
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
    """

    step_name: str
    artifact_dir: Path
    hook: Any
    layer_kinds: LayerRegistry
    board: Board | None
    log: logging.Logger
    progress: Callable[[str], None] = lambda message: None
    # the build folder as assembled so far (earlier steps' files), for steps that read them
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
