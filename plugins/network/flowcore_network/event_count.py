"""``event_count``: the number of event rows of each subscriber in ``[start_date, end_date)``.

Every row counts, located or not: a call between two subscribers of the network is one row for
each of them. ``direction`` keeps outgoing (``out``) or incoming (``in``) rows only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import BigInteger, Select, cast, func

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import Direction, EventFilters
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber

__all__ = ["EventCount", "build_event_count", "KIND"]


@attrs.frozen(kw_only=True)
class EventCount(SubscriberMetric, MetricFields, EventFilters):
    """Each subscriber's number of events."""

    query_kind: ClassVar[str] = "event_count"
    description: ClassVar[str] = "Each subscriber's number of events."

    direction: Direction = "both"


def build_event_count(spec: EventCount, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the number of event rows."""
    # The counts keep no direction, so only specs of both directions can read them. Rows at
    # unknown cells are counted too, as they are in the events.
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date)
    if counts is not None:
        rows = counts.subquery("counted_cells")
        return per_subscriber(rows, cast(func.sum(rows.c.event_count), BigInteger))
    events = context.spec_events(spec, start=spec.start_date, end=spec.end_date).subquery(
        "counted_events"
    )
    return per_subscriber(events, func.count())


KIND = QueryKind(
    spec=EventCount,
    build=build_event_count,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "event_count",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "direction": "both",
    },
)
