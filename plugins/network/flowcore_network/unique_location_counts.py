"""``unique_location_counts``: how many distinct locations each subscriber visited.

Locations are counted at the spec's aggregation unit (a ``pcod``, or a ``lon``, ``lat`` pair),
from located events only: events at unknown cells, cells out of service that day or points
outside every region are left out.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import EventFilters, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber

__all__ = ["UniqueLocationCounts", "build_unique_location_counts", "KIND"]


@attrs.frozen(kw_only=True)
class UniqueLocationCounts(SubscriberMetric, MetricFields, SpatialFields, EventFilters):
    """Each subscriber's number of distinct locations visited."""

    query_kind: ClassVar[str] = "unique_location_counts"
    description: ClassVar[str] = "Each subscriber's number of distinct locations visited."


def build_unique_location_counts(spec: UniqueLocationCounts, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the number of distinct locations."""
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date)
    if counts is not None:
        # A subscriber with any event at a cell in a day (or hour) has a count row there.
        events = context.locate(counts, spec).subquery("located_counts")
    else:
        events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    unit = [events.c[name] for name in context.unit_columns(spec)]
    visits = select(events.c.subscriber, *unit).distinct().subquery("visited_locations")
    return per_subscriber(visits, func.count())


KIND = QueryKind(
    spec=UniqueLocationCounts,
    build=build_unique_location_counts,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "unique_location_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    },
)
