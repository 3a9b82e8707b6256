"""Finding and loading plugins, and collecting what they register.

A plugin is named on the command line (``--plugins default,mypkg``) and found,
in this order, as:

1. a built-in name (``default`` is ``dfx.plugins``);
2. an entry point of the group ``dfx.plugins`` with that name;
3. a dotted module path (``mypkg.dfx_plugin``).
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import pluggy

from dfx import hookspec
from dfx.errors import PluginError
from dfx.layers import LayerRegistry

ENTRY_POINT_GROUP = "dfx.plugins"
BUILTIN_PLUGINS = {"default": "dfx.plugins"}


@dataclass
class LoadedPlugin:
    name: str
    module: ModuleType
    origin: str  # "builtin", "entry point <dist>", "module path"

    @property
    def version(self) -> str:
        return str(getattr(self.module, "__version__", "0"))

    @cached_property
    def fingerprint(self) -> str:
        """Version plus a hash of the plugin's source files.

        The source hash makes a cache entry stale as soon as the code that
        produced it changes, even when the author forgot to bump a version.
        """
        digest = hashlib.sha256(f"{self.name}\0{self.version}".encode())
        for path in _source_files(self.module):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


def _source_files(module: ModuleType) -> list[Path]:
    file = getattr(module, "__file__", None)
    if not file:
        return []
    path = Path(file)
    if path.name == "__init__.py":  # a package: every module in it
        return sorted(path.parent.rglob("*.py"))
    return [path]


def _find_entry_point(name: str):
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep
    return None


def _import_plugin(name: str) -> LoadedPlugin:
    if name in BUILTIN_PLUGINS:
        return LoadedPlugin(name, importlib.import_module(BUILTIN_PLUGINS[name]), "builtin")
    ep = _find_entry_point(name)
    if ep is not None:
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin
            raise PluginError(
                f"plugin {name!r} (entry point {ep.value}) failed to load: {exc}") from None
        dist = getattr(ep, "dist", None)
        origin = f"entry point of {dist.name} {dist.version}" if dist else "entry point"
        if dist is not None and not hasattr(module, "__version__"):
            module.__version__ = dist.version
        return LoadedPlugin(name, module, origin)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            known = ", ".join(sorted(set(BUILTIN_PLUGINS) | available_entry_points()))
            raise PluginError(
                f"plugin {name!r} not found: it is not a built-in plugin, not an entry point "
                f"of group {ENTRY_POINT_GROUP!r} and not an importable module "
                f"(available: {known})"
            ) from None
        raise PluginError(f"plugin {name!r} failed to import: {exc}") from None
    except Exception as exc:
        raise PluginError(f"plugin {name!r} failed to import: {exc}") from None
    return LoadedPlugin(name, module, "module path")


def available_entry_points() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


def parse_plugin_list(text: str | list[str] | None) -> list[str]:
    """``"default,mypkg"`` -> ``["default", "mypkg"]`` (order kept, duplicates dropped)."""
    if text is None:
        return ["default"]
    items = text if isinstance(text, list) else text.split(",")
    names: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in names:
            names.append(item)
    if not names:
        raise PluginError("no plugin named: give --plugins default (or a list of plugins)")
    return names


class DfxPluginManager:
    """pluggy's PluginManager plus what dfx collects from the plugins."""

    def __init__(self, names: list[str]):
        self.pm = pluggy.PluginManager(hookspec.PROJECT_NAME)
        self.pm.add_hookspecs(hookspec)
        self.plugins: list[LoadedPlugin] = []
        #: step name -> name of the plugin that registered it (filled by registered_steps)
        self.step_owners: dict[str, str] = {}
        for name in names:
            plugin = _import_plugin(name)
            try:
                self.pm.register(plugin.module, name=name)
            except (ValueError, pluggy.PluginValidationError) as exc:
                raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from None
            self.plugins.append(plugin)

    @property
    def hook(self):
        return self.pm.hook

    def plugin_for_module(self, module: ModuleType) -> LoadedPlugin | None:
        for plugin in self.plugins:
            if plugin.module is module:
                return plugin
        return None

    def implementers(self, hook_name: str) -> list[LoadedPlugin]:
        """The plugins that implement ``hook_name``, in calling order."""
        caller = getattr(self.pm.hook, hook_name)
        found = []
        for impl in reversed(caller.get_hookimpls()):
            plugin = self.plugin_for_module(impl.plugin)
            if plugin is not None:
                found.append(plugin)
        return found

    def hooks_of(self, plugin: LoadedPlugin) -> list[str]:
        """The dfx hooks ``plugin`` implements."""
        return sorted(
            caller.name
            for caller in self.pm.get_hookcallers(plugin.module) or []
            if caller.name.startswith("dfx_")
        )

    @cached_property
    def layer_kinds(self) -> LayerRegistry:
        registry = LayerRegistry()
        self.layer_kind_owners: dict[str, LoadedPlugin] = {}
        for impl in self.registration_order("dfx_register_layer_kinds"):
            owner = self.plugin_for_module(impl.plugin)
            owner_name = owner.name if owner is not None else str(impl.plugin_name)
            try:
                kinds = impl.function() or []
            except Exception as exc:  # a broken third-party plugin
                raise PluginError(f"plugin {owner_name!r}: dfx_register_layer_kinds raised "
                                  f"{type(exc).__name__}: {exc}") from None
            for kind in kinds:
                registry.register(kind, owner_name)
                if owner is not None:
                    self.layer_kind_owners[kind.op_type] = owner
        return registry

    def config_fields(self) -> list:
        """Every configuration key the plugins declare (``dfx_config_fields``)."""
        return [field for fields in self._declared_fields().values() for field in fields]

    def config_keys_of(self, plugin: LoadedPlugin) -> list[str]:
        """The configuration keys ``plugin`` declares: part of the cache key of its stages."""
        return [field.name for field in self._declared_fields().get(plugin.name, [])]

    def _declared_fields(self) -> dict[str, list]:
        if not hasattr(self, "_fields_by_plugin"):
            by_plugin: dict[str, list] = {}
            for impl in self.pm.hook.dfx_config_fields.get_hookimpls():
                owner = self.plugin_for_module(impl.plugin)
                name = owner.name if owner else str(impl.plugin)
                by_plugin.setdefault(name, []).extend(impl.function() or [])
            self._fields_by_plugin = by_plugin
        return self._fields_by_plugin

    def registration_order(self, hook_name: str) -> list:
        """Hook implementations in the order plugins register things: built-ins first.

        Third-party steps name default steps as anchors (``after=...``), so the
        built-in plugins register first whatever order ``--plugins`` lists them in.
        """
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        builtin = [i for i in impls if (p := self.plugin_for_module(i.plugin)) is not None
                   and p.origin == "builtin"]
        order = {p.module: n for n, p in enumerate(self.plugins)}
        rest = sorted((i for i in impls if i not in builtin),
                      key=lambda i: order.get(i.plugin, len(order)))
        return builtin + rest


def load_plugins(names: str | list[str] | None) -> DfxPluginManager:
    """Load the named plugins (see the module docstring for how names resolve)."""
    return DfxPluginManager(parse_plugin_list(names))
