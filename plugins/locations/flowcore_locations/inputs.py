"""Helpers for kinds built from several nested location queries: unit checks and stacking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
from sqlalchemy import Date, Select, literal, select, union_all

from flowcore.model.base import QuerySpec, iter_children
from flowcore.sql.context import BuildContext

__all__ = [
    "at_least_one",
    "units_found",
    "check_same_unit",
    "reference_day",
    "unit_columns_of",
    "stack_inputs",
]


def at_least_one(instance: Any, attribute: attrs.Attribute[Any], value: Sequence[Any]) -> None:
    """Reject an empty list of nested location queries (attrs validator)."""
    if not value:
        raise ValueError(
            f"{attribute.name} must list at least one subscriber location query, got an empty list"
        )


def units_found(specs: Sequence[QuerySpec]) -> list[str]:
    """Return the distinct aggregation units of ``specs`` in order of first appearance."""
    units: list[str] = []
    for spec in specs:
        unit = spec.spatial_unit() or "none"
        if unit not in units:
            units.append(unit)
    return units


def check_same_unit(specs: Sequence[QuerySpec], message: str) -> None:
    """Raise ValueError with ``message`` and the units found unless all specs share one unit."""
    units = units_found(specs)
    if len(units) > 1:
        raise ValueError(f"{message} (found {', '.join(units)})")


def reference_day(spec: QuerySpec) -> dt.date | None:
    """Return the day a location query stands for: its ``date``, else its ``start_date``.

    A kind with neither (a nested ``modal_location``, say) stands for the earliest day of the
    queries inside it; None when no nested query has a date either.
    """
    for name in ("date", "start_date"):
        value = getattr(spec, name, None)
        if isinstance(value, dt.datetime):
            return value.date()
    days = [day for _, child in iter_children(spec) if (day := reference_day(child)) is not None]
    return min(days, default=None)


def unit_columns_of(context: BuildContext, spec: QuerySpec) -> tuple[str, ...]:
    """Return the unit columns of a query that takes its unit from the queries inside it."""
    unit = spec.spatial_unit()
    if unit is None:
        raise ValueError(f"{spec.query_kind} has no aggregation unit: no nested query has one")
    return context.unit_columns(unit)


def stack_inputs(
    context: BuildContext, specs: Sequence[QuerySpec], unit: Sequence[str]
) -> Select[Any]:
    """Select ``subscriber``, the unit columns and ``day`` from every input query, stacked."""
    parts = []
    for spec in specs:
        rows = context.result_of(spec)
        parts.append(
            select(
                rows.c.subscriber,
                *(rows.c[name] for name in unit),
                literal(reference_day(spec), Date).label("day"),
            )
        )
    if len(parts) == 1:
        return parts[0]
    return select(union_all(*parts).subquery("stacked_inputs"))
