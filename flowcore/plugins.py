"""Plugin discovery and the plugin manager factory.

Built-in core plugins are listed in ``DEFAULT_PLUGINS`` and registered exactly as third-party
ones; installed distributions are found through the entry-point group ``flowcore.plugins`` with
stevedore. Nothing is loaded at import time: call ``build_plugin_manager`` or ``load_registry``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
from collections.abc import Iterable
from typing import Any

import pluggy
from stevedore import ExtensionManager
from stevedore.extension import Extension

from flowcore import hookspecs
from flowcore.entry_points import (
    ENTRY_POINT_GROUP,
    Declaration,
    attribute,
    declared_by,
    join_words,
    read_declarations,
)
from flowcore.errors import PluginError
from flowcore.registry import Registry
from flowcore.settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "DEFAULT_PLUGINS", "build_plugin_manager", "load_registry"]

logger = logging.getLogger(__name__)

#: Plugins of the core itself, registered before installed ones.
DEFAULT_PLUGINS = ("flowcore.geography.plugin", "flowcore.cache.plugin")
_CORE_DISTRIBUTION = "flowcore"


class _ImportAborted(Exception):
    """Failure of a plugin module that raised a BaseException such as SystemExit on import."""


class _PluginExtensionManager(ExtensionManager[Any]):
    """An extension manager that reports a plugin's SystemExit on import as a load failure."""

    def _load_one_plugin(
        self,
        ep: importlib.metadata.EntryPoint,
        invoke_on_load: bool,
        invoke_args: tuple[Any],
        invoke_kwds: dict[str, Any],
    ) -> Extension[Any] | None:
        try:
            return super()._load_one_plugin(ep, invoke_on_load, invoke_args, invoke_kwds)
        except (KeyboardInterrupt, Exception):
            raise
        except BaseException as error:
            # stevedore catches only Exception, so a SystemExit from one plugin's import would end
            # the whole program. Turn it into an ordinary load failure of that plugin instead.
            raise _ImportAborted(f"it raised {error!r} while being imported") from error


def _discover(strict: bool) -> list[tuple[str, object]]:
    """Import every ``flowcore.plugins`` entry point; log (or raise, when strict) failures.

    Returns each plugin object once, with the name it is registered under.
    """
    declarations = read_declarations()

    def on_failure(_manager: Any, entry_point: Any, error: BaseException) -> None:
        distribution = join_words(d.source for d in declared_by(declarations, entry_point))
        if strict:
            raise PluginError(
                f"plugin {entry_point.value} from {distribution} failed to load: {error}"
            )
        logger.error(
            "skipping plugin %s from %s: it failed to load: %s",
            entry_point.value,
            distribution,
            error,
        )

    manager = _PluginExtensionManager(
        namespace=ENTRY_POINT_GROUP,
        invoke_on_load=False,
        on_load_failure_callback=on_failure,
    )
    # Several entry points may name one plugin object, and each object is registered once.
    plugins: dict[int, tuple[object, list[Declaration]]] = {}
    for ext in manager.extensions:
        _, declared = plugins.setdefault(id(ext.plugin), (ext.plugin, []))
        declared.extend(declared_by(declarations, ext.entry_point))
    return [
        (attribute(plugin, declared, strict).plugin_name, plugin)
        for plugin, declared in plugins.values()
    ]


def build_plugin_manager(
    settings: Settings | None = None,
    *,
    extra_plugins: Iterable[object] = (),
    discover: bool = True,
) -> pluggy.PluginManager:
    """Build a plugin manager with the core plugins, installed plugins and ``extra_plugins``.

    ``extra_plugins`` lets tests register throwaway plugin objects without installing them.
    Raises PluginError when a plugin implements a hook that does not exist.
    """
    settings = settings or Settings.from_env()
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(
            importlib.import_module(module_name), name=f"{_CORE_DISTRIBUTION}:{module_name}"
        )
    if discover:
        for name, plugin in _discover(settings.strict_plugins):
            if pm.is_registered(plugin):
                continue
            pm.register(plugin, name=name)
    for index, plugin in enumerate(extra_plugins):
        name = getattr(plugin, "__name__", None) or f"extra-plugin-{index}"
        pm.register(plugin, name=f"{name}:{index}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"a plugin implements an unknown hook: {error}") from error
    return pm


def _owner(pm: pluggy.PluginManager, plugin: object) -> str:
    """Return the distribution part of the name a plugin was registered under."""
    name = pm.get_name(plugin) or repr(plugin)
    return name.rsplit(":", 1)[0]


def load_registry(pm: pluggy.PluginManager) -> Registry:
    """Collect every plugin's query kinds, units and cache backends into a new registry.

    Each hook implementation is called on its own so that a duplicate can name both
    distributions. Raises PluginError on duplicates.
    """
    registry = Registry()
    for impl in pm.hook.flowcore_register_aggregation_units.get_hookimpls():
        impl.function(register=functools.partial(_add_unit, registry, _owner(pm, impl.plugin)))
    for impl in pm.hook.flowcore_register_query_kinds.get_hookimpls():
        impl.function(register=functools.partial(_add_kind, registry, _owner(pm, impl.plugin)))
    for impl in pm.hook.flowcore_register_cache_backends.get_hookimpls():
        owner = _owner(pm, impl.plugin)
        impl.function(
            register=lambda name, factory, owner=owner: registry.add_cache_backend(
                name, factory, owner
            )
        )
    return registry


def _add_kind(registry: Registry, owner: str, kind: Any) -> None:
    registry.add_kind(kind, owner)


def _add_unit(registry: Registry, owner: str, unit: Any) -> None:
    registry.add_unit(unit, owner)
