"""Permission scopes: the ``<unit>:<top-level kind>:<kind>`` triplets a spec tree needs.

Computed from the structured spec, never from raw JSON, so no nested query escapes the check.
The unit is the effective aggregation unit of the whole tree (``nonspatial`` without one).
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import attrs

from flowcore.model.base import NONSPATIAL, QuerySpec, iter_tree
from flowcore.model.fields import RegionUnitName
from flowcore.registry import Registry

__all__ = ["required_scopes", "grantable_scopes", "SIMPLE_SCOPES"]

#: Server-wide capabilities that are scopes on their own.
SIMPLE_SCOPES = ("get_available_dates", "get_result", "run")


def required_scopes(spec: QuerySpec) -> frozenset[str]:
    """Return the triplet scopes needed to run or read ``spec``."""
    unit = spec.spatial_unit() or NONSPATIAL
    top = spec.query_kind
    return frozenset(f"{unit}:{top}:{node.query_kind}" for _, node in iter_tree(spec))


def _nested_spec_bases(cls: type[QuerySpec]) -> list[type]:
    """Return the spec classes or interfaces a spec class's fields accept."""
    bases: list[type] = []
    hints = get_type_hints(cls)
    for field in attrs.fields(cls):
        bases.extend(_spec_types_in(hints.get(field.name)))
    return bases


def _spec_types_in(annotation: Any) -> list[type]:
    if isinstance(annotation, type) and issubclass(annotation, QuerySpec):
        return [annotation]
    found: list[type] = []
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for arg in get_args(annotation):
            if arg is not Ellipsis:
                found.extend(_spec_types_in(arg))
    return found


def reachable_kinds(registry: Registry, top_kind: str) -> list[str]:
    """Return every kind name that can occur inside ``top_kind`` (itself included), sorted."""
    seen: set[str] = set()
    pending = [top_kind]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        bases = _nested_spec_bases(registry.kind(name).spec)
        if bases:
            pending.extend(k.name for k in registry.implementations(bases))
    return sorted(seen)


def grantable_scopes(registry: Registry) -> list[str]:
    """Return every scope a token could usefully hold with the installed kinds, sorted."""
    scopes = set(SIMPLE_SCOPES)
    units = registry.public_units()
    for top in registry.top_level_kinds():
        kinds = reachable_kinds(registry, top.name)
        spatial = not top.spec.nonspatial and _has_spatial_unit(registry, kinds)
        top_units = _units_of(registry, top.spec) if spatial else [NONSPATIAL]
        for unit in top_units:
            scopes.update(f"{unit}:{top.name}:{kind}" for kind in kinds)
    for unit in units:
        scopes.add(f"{unit}:geography:geography")
    return sorted(scopes)


def _units_of(registry: Registry, spec: type[QuerySpec]) -> list[str]:
    """Return the units a top-level spec class accepts: region units when its field is typed so."""
    if get_type_hints(spec).get("aggregation_unit") is RegionUnitName:
        return registry.region_units()
    return registry.public_units()


def _has_spatial_unit(registry: Registry, kinds: list[str]) -> bool:
    return any("aggregation_unit" in attrs.fields_dict(registry.kind(k).spec) for k in kinds)
