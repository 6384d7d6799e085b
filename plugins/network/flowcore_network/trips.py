"""Trip origin-destination matrices: how many subscribers went from one location to another.

``consecutive_trips_od_matrix`` orders each subscriber's located events by time. Every pair of
consecutive events is a trip from the first event's location to the second's, including pairs
in one location. Events at the same time are ordered by cell id, then by unit columns, so the
order is the same on every run.

``trips_od_matrix`` needs no consecutive events: a subscriber made a trip from A to B (A and B
different) when their first event at A came strictly before their last event at B. A location
differs from another when any of its unit columns differs. FlowKit 1.34 requires every column
to differ, which matters only for lon-lat: it leaves out trips along one meridian or parallel.

In both, a subscriber counts once per (origin, destination) pair, and ``value`` is the number of
subscribers. Rows of ``value`` at or below the redaction threshold are not released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import FromClause, Select, and_, distinct, func, or_, select
from sqlalchemy.sql import ColumnElement

from flowcore.kinds import QueryKind, redact_column
from flowcore.model.base import Aggregate
from flowcore.model.fields import DateRangeFields, EventFilters, SpatialFields
from flowcore.sql.context import BuildContext

__all__ = [
    "ConsecutiveTripsODMatrix",
    "TripsODMatrix",
    "build_consecutive_trips",
    "build_trips",
    "CONSECUTIVE_KIND",
    "TRIPS_KIND",
]


@attrs.frozen(kw_only=True)
class ConsecutiveTripsODMatrix(Aggregate, DateRangeFields, SpatialFields, EventFilters):
    """Number of subscribers with consecutive events at each pair of locations."""

    query_kind: ClassVar[str] = "consecutive_trips_od_matrix"
    description: ClassVar[str] = (
        "Number of subscribers travelling between locations in consecutive events."
    )


@attrs.frozen(kw_only=True)
class TripsODMatrix(Aggregate, DateRangeFields, SpatialFields, EventFilters):
    """Number of subscribers seen at one location and later at another."""

    query_kind: ClassVar[str] = "trips_od_matrix"
    description: ClassVar[str] = (
        "Number of subscribers seen at one location before being seen at another."
    )


def _count_subscribers(pairs: FromClause, unit: tuple[str, ...]) -> Select[Any]:
    """Count distinct subscribers per (``<col>_from``..., ``<col>_to``...) pair."""
    keys = [pairs.c[f"{name}_from"] for name in unit] + [pairs.c[f"{name}_to"] for name in unit]
    return select(*keys, func.count(distinct(pairs.c.subscriber)).label("value")).group_by(*keys)


def build_consecutive_trips(spec: ConsecutiveTripsODMatrix, context: BuildContext) -> Select[Any]:
    """Select ``<col>_from``, ``<col>_to`` and ``value`` over consecutive event pairs."""
    events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    unit = context.unit_columns(spec)
    unit_columns = [events.c[name] for name in unit]
    order = (events.c.datetime, events.c.location_id, *unit_columns)
    following = [
        func.lead(column).over(partition_by=events.c.subscriber, order_by=order).label(f"{name}_to")
        for name, column in zip(unit, unit_columns, strict=True)
    ]
    sequence = select(
        events.c.subscriber,
        *(column.label(f"{name}_from") for name, column in zip(unit, unit_columns, strict=True)),
        *following,
    ).subquery("event_sequence")
    # A subscriber's last event has no following event, so its _to columns are null; located
    # events never have null unit columns otherwise.
    last_event = sequence.c[f"{unit[0]}_to"].is_(None)
    pairs = select(sequence).where(~last_event).subquery("consecutive_pairs")
    return _count_subscribers(pairs, unit)


def _differs(first: FromClause, second: FromClause, unit: tuple[str, ...]) -> ColumnElement[bool]:
    """Return the condition that two locations differ in any unit column."""
    if len(unit) == 1:
        return first.c[unit[0]] != second.c[unit[0]]
    return or_(*(first.c[name] != second.c[name] for name in unit))


def build_trips(spec: TripsODMatrix, context: BuildContext) -> Select[Any]:
    """Select ``<col>_from``, ``<col>_to`` and ``value`` over first and last visits."""
    events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    unit = context.unit_columns(spec)
    unit_columns = [events.c[name] for name in unit]
    # A CTE, because the visits are joined to themselves.
    visits = (
        select(
            events.c.subscriber,
            *unit_columns,
            func.min(events.c.datetime).label("first_visit"),
            func.max(events.c.datetime).label("last_visit"),
        )
        .group_by(events.c.subscriber, *unit_columns)
        .cte("location_visits")
    )
    origin = visits.alias("origin")
    destination = visits.alias("destination")
    pairs = (
        select(
            origin.c.subscriber,
            *(origin.c[name].label(f"{name}_from") for name in unit),
            *(destination.c[name].label(f"{name}_to") for name in unit),
        )
        .join_from(
            origin,
            destination,
            and_(
                origin.c.subscriber == destination.c.subscriber,
                origin.c.first_visit < destination.c.last_visit,
                _differs(origin, destination, unit),
            ),
        )
        .subquery("trip_pairs")
    )
    return _count_subscribers(pairs, unit)


def _example(kind: str) -> dict[str, Any]:
    return {
        "query_kind": kind,
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    }


CONSECUTIVE_KIND = QueryKind(
    spec=ConsecutiveTripsODMatrix,
    build=build_consecutive_trips,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    example=_example("consecutive_trips_od_matrix"),
)

TRIPS_KIND = QueryKind(
    spec=TripsODMatrix,
    build=build_trips,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    example=_example("trips_od_matrix"),
)
