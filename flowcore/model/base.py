"""Base class of query specs and the interfaces a query kind can produce.

A query kind is one frozen attrs class deriving from ``QuerySpec``. Deriving from an interface
class (``SubscriberLocations``, ``Aggregate``...) declares what the kind produces. A field typed
with an interface accepts any installed kind that produces it, so a third-party location kind
works inside ``spatial_aggregate`` and ``flows`` unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import attrs

__all__ = [
    "QuerySpec",
    "SubscriberLocations",
    "SubscriberLocationSet",
    "SubscriberMetric",
    "CategoricalSubscriberMetric",
    "SubscriberLabels",
    "Aggregate",
    "NONSPATIAL",
    "iter_children",
    "iter_tree",
]

#: Scope unit of queries that have no aggregation unit.
NONSPATIAL = "nonspatial"


@attrs.frozen(kw_only=True, slots=False)
class QuerySpec:
    """A validated, immutable query specification; subclasses set ``query_kind``."""

    query_kind: ClassVar[str] = ""
    #: Human summary used in the OpenAPI document and ``flowcore plugins``.
    description: ClassVar[str] = ""
    #: True for kinds whose output has no location columns whatever their inputs are (for
    #: example histograms); their permission scopes name the ``nonspatial`` unit.
    nonspatial: ClassVar[bool] = False
    #: Fields the HTTP API requires in a request although the Python API gives them a default.
    api_required: ClassVar[tuple[str, ...]] = ()

    def spatial_unit(self) -> str | None:
        """Return the aggregation unit of this query's output, or None when it has none.

        The default takes the query's own ``aggregation_unit`` field, else the unit of its
        first nested query. Kinds marked ``nonspatial`` have none.
        """
        if self.nonspatial:
            return None
        own = getattr(self, "aggregation_unit", None)
        if isinstance(own, str):
            return own
        for _, child in iter_children(self):
            unit = child.spatial_unit()
            if unit is not None:
                return unit
        return None


class SubscriberLocations(QuerySpec):
    """Interface: one row per subscriber with ``subscriber`` and the spatial unit's columns."""


class SubscriberLocationSet(QuerySpec):
    """Interface: one row per subscriber and location visited (``subscriber``, unit columns)."""


class SubscriberMetric(QuerySpec):
    """Interface: one row per subscriber with ``subscriber`` and ``value``."""


class CategoricalSubscriberMetric(SubscriberMetric):
    """Interface: a metric whose ``value`` is a category (text), such as a handset brand.

    Aggregates summarise it with ``distr`` or ``mode``; histograms reject it.
    """


class SubscriberLabels(QuerySpec):
    """Interface: one row per subscriber with ``subscriber`` and a text label in ``value``.

    Labelled aggregates count subscribers per label. Labels are not metrics, so
    ``joined_spatial_aggregate`` and ``histogram_aggregate`` do not take them, as in FlowKit.
    """


class Aggregate(QuerySpec):
    """Interface: aggregated rows fit for release (after redaction) through the API."""


def iter_children(spec: QuerySpec) -> Iterator[tuple[str, QuerySpec]]:
    """Yield ``(relative JSON path, spec)`` for each query nested directly in ``spec``."""
    for field in attrs.fields(type(spec)):
        value: Any = getattr(spec, field.name)
        if isinstance(value, QuerySpec):
            yield f".{field.name}", value
        elif isinstance(value, tuple | list):
            for index, item in enumerate(value):
                if isinstance(item, QuerySpec):
                    yield f".{field.name}[{index}]", item


def iter_tree(spec: QuerySpec, path: str = "$") -> Iterator[tuple[str, QuerySpec]]:
    """Yield ``(JSON path, spec)`` for ``spec`` and every query nested in it, depth first."""
    yield path, spec
    for relative, child in iter_children(spec):
        yield from iter_tree(child, path + relative)
