"""``nocturnal_events``: the percentage (0 to 100) of each subscriber's events made at night.

An event is nocturnal when its UTC hour h satisfies ``h >= start_hour OR h < end_hour``, as
FlowKit 1.34 tests it. For the usual window that wraps midnight (say 20 to 4) that is the
night. For a window with ``start_hour < end_hour`` the test keeps both ends of the day, not the
hours between.

The percentage is exact decimal arithmetic (PostgreSQL's ``avg`` of the 0/1 flags times 100),
as FlowKit computes it, so results carry the same digits as FlowKit's, for example
``33.33333333333333333300`` where float arithmetic gives ``33.33333333333333``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import ColumnElement, Numeric, Select, case, cast, extract, func, or_

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import ORDER_FREE, EventType, Hours, QueryId
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber

__all__ = ["NocturnalEvents", "build_nocturnal_events", "KIND"]


@attrs.frozen(kw_only=True)
class NocturnalEvents(SubscriberMetric, MetricFields):
    """Each subscriber's percentage of events at night."""

    query_kind: ClassVar[str] = "nocturnal_events"
    description: ClassVar[str] = "Each subscriber's percentage of events made at night."

    night_hours: Hours
    event_types: tuple[EventType, ...] | None = attrs.field(default=None, metadata=ORDER_FREE)
    subscriber_subset: QueryId | None = None


def build_nocturnal_events(spec: NocturnalEvents, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the percentage of events in ``night_hours``."""
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date, hourly=True)
    if counts is not None:
        # All events of an hour row share its UTC hour. The share is the night events over
        # all events, in the same numeric division that avg() of the 0/1 flags makes.
        rows = counts.subquery("counted_hours")
        night_hour = _at_night(spec, rows.c.datetime)
        night_events = func.sum(case((night_hour, rows.c.event_count), else_=0))
        share = cast(night_events, Numeric) / cast(func.sum(rows.c.event_count), Numeric) * 100
        return per_subscriber(rows, share)

    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=spec.event_types,
        subscriber_subset=spec.subscriber_subset,
    ).subquery("timed_events")
    at_night = _at_night(spec, events.c.datetime)
    share = func.avg(case((at_night, 1), else_=0)) * 100
    return per_subscriber(events, share)


def _at_night(spec: NocturnalEvents, moment: Any) -> ColumnElement[bool]:
    """Return whether the UTC hour of ``moment`` is in the spec's night hours."""
    hour = extract("hour", moment)
    return or_(hour >= spec.night_hours.start_hour, hour < spec.night_hours.end_hour)


KIND = QueryKind(
    spec=NocturnalEvents,
    build=build_nocturnal_events,
    version="2",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "nocturnal_events",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "night_hours": {"start_hour": 20, "end_hour": 4},
    },
)
