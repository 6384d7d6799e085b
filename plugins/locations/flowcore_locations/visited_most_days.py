"""``visited_most_days``: each subscriber's location seen on the most days of a date range.

Rule, deterministic on every run and after a cache reset: the location seen on the most
distinct calendar days (UTC) of ``[start_date, end_date)`` wins. Ties go to the location with
more events, then to the one whose latest event is most recent, then to the smallest unit value.
FlowKit breaks the ties left after the event count at random.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import BigInteger, Date, Select, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import DateRangeFields, EventFilters, Sampling, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_locations.per_cell import located_cell_counts

__all__ = ["VisitedMostDays", "build_visited_most_days", "KIND"]


@attrs.frozen(kw_only=True)
class VisitedMostDays(SubscriberLocations, SpatialFields, EventFilters, DateRangeFields):
    """Each subscriber's location seen on the most days of a date range."""

    query_kind: ClassVar[str] = "visited_most_days"
    description: ClassVar[str] = "Each subscriber's location seen on the most days in a range."

    sampling: Sampling | None = None


def build_visited_most_days(spec: VisitedMostDays, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's most visited location."""
    cells = located_cell_counts(context, spec, start=spec.start_date, end=spec.end_date)
    per_cell = cells.subquery("cells")
    unit = context.unit_columns(spec)
    cell_unit = [per_cell.c[name] for name in unit]
    visits = (
        select(
            per_cell.c.subscriber,
            *cell_unit,
            func.count(cast(per_cell.c.datetime, Date).distinct()).label("day_count"),
            # Cast back from numeric so that the sort below compares integers.
            cast(func.sum(per_cell.c.event_count), BigInteger).label("event_count"),
            func.max(per_cell.c.datetime).label("latest"),
        )
        .group_by(per_cell.c.subscriber, *cell_unit)
        .subquery("location_days")
    )
    visit_unit = [visits.c[name] for name in unit]
    return (
        select(visits.c.subscriber, *visit_unit)
        .ext(distinct_on(visits.c.subscriber))
        .order_by(
            visits.c.subscriber,
            visits.c.day_count.desc(),
            visits.c.event_count.desc(),
            visits.c.latest.desc(),
            *visit_unit,
        )
    )


KIND = QueryKind(
    spec=VisitedMostDays,
    build=build_visited_most_days,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "visited_most_days",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin3",
    },
)
