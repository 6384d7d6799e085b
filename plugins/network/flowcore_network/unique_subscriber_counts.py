"""``unique_subscriber_counts``: how many distinct subscribers were seen at each location.

A subscriber counts once at every location where they had at least one event in
``[start_date, end_date)``, so the counts of all locations add up to more than the number of
subscribers when people move. Rows of ``value`` at or below the redaction threshold are not
released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, distinct, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate
from flowcore.model.fields import DateRangeFields, EventFilters, SpatialFields
from flowcore.sql.context import BuildContext

__all__ = ["UniqueSubscriberCounts", "build_unique_subscriber_counts", "KIND"]


@attrs.frozen(kw_only=True)
class UniqueSubscriberCounts(Aggregate, DateRangeFields, SpatialFields, EventFilters):
    """Number of distinct subscribers seen at each location over a date range."""

    query_kind: ClassVar[str] = "unique_subscriber_counts"
    description: ClassVar[str] = "Number of distinct subscribers seen at each location."


def build_unique_subscriber_counts(
    spec: UniqueSubscriberCounts, context: BuildContext
) -> Select[Any]:
    """Select unit columns and ``value``, the number of distinct subscribers."""
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date)
    if counts is not None:
        # A subscriber with any event at a cell in a day (or hour) has a count row there.
        events = context.locate(counts, spec).subquery("located_counts")
    else:
        events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    unit = [events.c[name] for name in context.unit_columns(spec)]
    return select(*unit, func.count(distinct(events.c.subscriber)).label("value")).group_by(*unit)


KIND = QueryKind(
    spec=UniqueSubscriberCounts,
    build=build_unique_subscriber_counts,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "unique_subscriber_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    },
)
