"""``calendar_activity``: how many subscribers share each pattern of active periods.

The periods are those of ``total_active_periods``: ``[start_date + i * period_length,
start_date + (i + 1) * period_length)`` for i from 0 to ``total_periods - 1``, in days, hours or
minutes (a day is 24 hours, in UTC). A subscriber's calendar is the array of the starts of the
periods in which they had at least one event, ascending, as UTC timestamps without a time zone.
Subscribers with no event in any period have no calendar. Columns: ``grp`` (a calendar) and
``value`` (the number of subscribers whose calendar is exactly ``grp``), as in FlowKit.

Release rule: a calendar is released only when more than the redaction threshold (15) of
subscribers have it. The HTTP API writes a calendar as a JSON array of ISO 8601 strings, for
example ``["2016-01-01T00:00:00", "2016-01-03T00:00:00"]``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import TIMESTAMP, Interval, Select, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from flowcore.kinds import QueryKind, redact_column
from flowcore.model.base import Aggregate
from flowcore.sql.context import BuildContext
from flowcore.sql.sampling import apply_sampling
from flowcore_network.periods import PeriodFields, period_events, period_index

__all__ = ["CalendarActivity", "build_calendar_activity", "subscriber_calendars", "KIND"]


@attrs.frozen(kw_only=True)
class CalendarActivity(Aggregate, PeriodFields):
    """Subscriber counts per calendar of active periods.

    ``sampling`` keeps a repeatable sample of the subscribers before their calendars are
    counted. NOTE: FlowKit applies ``sampling`` to the rows of the finished aggregate instead,
    which samples calendars, not subscribers.
    """

    query_kind: ClassVar[str] = "calendar_activity"
    description: ClassVar[str] = (
        "The number of subscribers per pattern of periods with at least one event."
    )
    nonspatial: ClassVar[bool] = True


def subscriber_calendars(spec: PeriodFields, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the sorted starts of the periods they were active in."""
    events = period_events(spec, context)
    active = (
        select(events.c.subscriber, period_index(spec, events.c.datetime).label("period"))
        .distinct()
        .subquery("active_periods")
    )
    # Period starts are timestamps without a time zone, read as UTC, as FlowKit stores them.
    # The casts keep the types when the SQL is printed with its values written in.
    first_start = cast(literal(spec.start_date.replace(tzinfo=None), TIMESTAMP), TIMESTAMP)
    period = cast(literal(spec.period(), Interval), Interval)
    period_start = first_start + active.c.period * period
    return select(
        active.c.subscriber,
        func.array_agg(aggregate_order_by(period_start, active.c.period)).label("value"),
    ).group_by(active.c.subscriber)


def build_calendar_activity(spec: CalendarActivity, context: BuildContext) -> Select[Any]:
    """Select ``grp``, a calendar, and ``value``, the number of subscribers with that calendar."""
    sampled = apply_sampling(subscriber_calendars(spec, context), spec.sampling)
    calendars = sampled.subquery("calendars")
    return select(calendars.c.value.label("grp"), func.count().label("value")).group_by(
        calendars.c.value
    )


KIND = QueryKind(
    spec=CalendarActivity,
    build=build_calendar_activity,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    example={
        "query_kind": "calendar_activity",
        "start_date": "2016-01-01",
        "total_periods": 7,
        "period_length": 1,
        "period_unit": "days",
        "event_types": ["calls", "sms"],
    },
)
