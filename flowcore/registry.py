"""The registry of what plugins contributed: query kinds, aggregation units, cache backends."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from flowcore.errors import PluginError, UnknownQueryKindError
from flowcore.kinds import QueryKind
from flowcore.model.base import QuerySpec

if TYPE_CHECKING:
    from flowcore.geography.units import AggregationUnit

__all__ = ["Registry"]


@attrs.define
class Registry:
    """Query kinds, aggregation units and cache backends by name, with their distributions."""

    kinds: dict[str, QueryKind] = attrs.field(factory=dict)
    units: dict[str, AggregationUnit] = attrs.field(factory=dict)
    cache_backends: dict[str, Callable[..., Any]] = attrs.field(factory=dict)
    #: Distribution name of each registered cache backend.
    backend_owners: dict[str, str] = attrs.field(factory=dict)

    def add_kind(self, kind: QueryKind, distribution: str) -> None:
        """Register a query kind; raise PluginError if another distribution already did."""
        if not (isinstance(kind.spec, type) and issubclass(kind.spec, QuerySpec)):
            raise PluginError(
                f"{distribution} registered a query kind whose spec is not a QuerySpec"
            )
        if not kind.name:
            raise PluginError(
                f"{distribution} registered {kind.spec.__name__} without a query_kind"
            )
        existing = self.kinds.get(kind.name)
        if existing is not None:
            raise PluginError(
                f"query kind {kind.name!r} is provided by both {existing.distribution} "
                f"and {distribution}; uninstall one of them"
            )
        self.kinds[kind.name] = attrs.evolve(kind, distribution=distribution)

    def add_unit(self, unit: AggregationUnit, distribution: str) -> None:
        """Register an aggregation unit; raise PluginError on a duplicate name."""
        existing = self.units.get(unit.name)
        if existing is not None:
            raise PluginError(
                f"aggregation unit {unit.name!r} is provided by both {existing.distribution} "
                f"and {distribution}; uninstall one of them"
            )
        self.units[unit.name] = attrs.evolve(unit, distribution=distribution)

    def add_cache_backend(self, name: str, factory: Callable[..., Any], distribution: str) -> None:
        """Register a cache backend factory; raise PluginError on a duplicate name."""
        if name in self.cache_backends:
            raise PluginError(
                f"cache backend {name!r} is provided by both {self.backend_owners[name]} "
                f"and {distribution}"
            )
        self.cache_backends[name] = factory
        self.backend_owners[name] = distribution

    def kind(self, name: str) -> QueryKind:
        """Return the kind called ``name`` or raise UnknownQueryKindError."""
        try:
            return self.kinds[name]
        except KeyError:
            raise UnknownQueryKindError(
                [f"$.query_kind: {name!r} is not one of {', '.join(sorted(self.kinds))}"]
            ) from None

    def kind_of(self, spec: QuerySpec) -> QueryKind:
        """Return the registered kind of a spec instance."""
        return self.kind(spec.query_kind)

    def unit(self, name: str) -> AggregationUnit:
        """Return the aggregation unit called ``name`` (KeyError if unknown)."""
        return self.units[name]

    def public_units(self) -> list[str]:
        """Return the names of units usable as ``aggregation_unit`` in API specs, sorted."""
        return sorted(name for name, unit in self.units.items() if unit.public)

    def region_units(self) -> list[str]:
        """Return the public units of region polygons (admin levels), sorted."""
        return [name for name in self.public_units() if self.units[name].polygons]

    def implementations(self, interfaces: Iterable[type]) -> list[QueryKind]:
        """Return the kinds whose spec derives from any of ``interfaces``, sorted by name."""
        bases = tuple(interfaces)
        return [k for _, k in sorted(self.kinds.items()) if issubclass(k.spec, bases)]

    def top_level_kinds(self) -> list[QueryKind]:
        """Return the kinds exposed at the top level of the HTTP API, sorted by name."""
        return [k for _, k in sorted(self.kinds.items()) if k.top_level]
