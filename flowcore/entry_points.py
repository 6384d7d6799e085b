"""The distributions that declare each ``flowcore.plugins`` entry point.

stevedore caches entry points without their distribution and keeps one of several identical
ones, so the declaring distributions are read here from ``importlib.metadata``. When entry points
of different distributions name one plugin object, :func:`attribute` decides whose it is.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flowcore.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Declaration",
    "Declarations",
    "attribute",
    "declared_by",
    "join_words",
    "read_declarations",
]

#: The entry-point group of flowcore plugins.
ENTRY_POINT_GROUP = "flowcore.plugins"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Declaration:
    """One distribution's entry point in the ``flowcore.plugins`` group."""

    entry_point: str
    value: str
    distribution: str | None
    version: str

    @property
    def source(self) -> str:
        """Return ``"<distribution> <version>"``, or the entry point if that is unknown."""
        if self.distribution is None:
            return f"entry point {self.entry_point!r}"
        return f"{self.distribution} {self.version}"

    @property
    def plugin_name(self) -> str:
        """Return the name the plugin is registered under in the plugin manager."""
        return f"{self.source}:{self.entry_point}"

    @property
    def owner(self) -> str:
        """Return the normalized distribution name, or the source if the distribution is unknown."""
        if self.distribution is None:
            return self.source
        return _normalized(self.distribution)


Declarations = dict[tuple[str, str], list[Declaration]]


def read_declarations() -> Declarations:
    """Map each ``flowcore.plugins`` entry point's name and value to its declaring distributions."""
    declarations: Declarations = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        declaration = Declaration(
            entry_point=entry_point.name,
            value=entry_point.value,
            distribution=None if dist is None else dist.name,
            version="" if dist is None else dist.version,
        )
        declarations.setdefault((entry_point.name, entry_point.value), []).append(declaration)
    return declarations


def declared_by(declarations: Declarations, entry_point: Any) -> list[Declaration]:
    """Return the declarations of one entry point, or a stand-in when no distribution has it."""
    found = declarations.get((entry_point.name, entry_point.value))
    return found or [Declaration(entry_point.name, entry_point.value, None, "")]


def join_words(words: Iterable[str]) -> str:
    """Join words as ``a``, ``a and b`` or ``a, b and c``, dropping repeats."""
    unique = list(dict.fromkeys(words))
    if len(unique) == 1:
        return unique[0]
    return f"{', '.join(unique[:-1])} and {unique[-1]}"


def _normalized(distribution: str) -> str:
    """Return a distribution name in its normalized form, so spellings of one name compare equal."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _module_of(plugin: object, declaration: Declaration) -> str:
    """Return the name of the module a plugin is, or the module its entry point names."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return declaration.value.partition(":")[0].strip()


def _shipper(module: str, declarations: list[Declaration]) -> Declaration | None:
    """Return the declaration whose distribution contains the module's top-level package."""
    top_level = module.partition(".")[0]
    shipping = importlib.metadata.packages_distributions().get(top_level, [])
    names = {_normalized(name) for name in shipping}
    return next((d for d in declarations if d.owner in names), None)


def attribute(plugin: object, declarations: list[Declaration], strict: bool) -> Declaration:
    """Return the declaration a plugin is registered under, reporting distributions sharing it.

    Raises PluginError in strict mode when entry points of different distributions name the
    plugin. Otherwise logs an error and keeps the distribution that ships the plugin's module,
    or the first declaration when that cannot be determined.
    """
    first = declarations[0]
    if len({declaration.owner for declaration in declarations}) == 1:
        return first
    module = _module_of(plugin, first)
    sources = join_words(d.source for d in declarations)
    if strict:
        raise PluginError(
            f"plugin {module} is named by entry points of {sources}, but only the distribution "
            "that ships a plugin may declare it"
        )
    shipper = _shipper(module, declarations)
    attributed = shipper or first
    logger.error(
        "plugin %s is named by entry points of %s: registering it under %s only, %s",
        module,
        sources,
        attributed.source,
        "the distribution that ships it" if shipper else "the first found",
    )
    return attributed
