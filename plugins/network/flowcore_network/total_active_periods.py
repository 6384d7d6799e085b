"""``total_active_periods``: in how many of a run of equal periods each subscriber had an event.

The periods are ``[start_date + i * period_length, start_date + (i + 1) * period_length)`` for
i from 0 to ``total_periods - 1``, in days, hours or minutes (a day is 24 hours, in UTC). Any
event counts, located or not. Subscribers with no event in any period have no row. Columns:
``subscriber``, ``value`` (the active periods) and ``inactive_periods`` (``total_periods`` minus
``value``), as in FlowKit; ``joined_spatial_aggregate`` summarises both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import Float, FromClause, Select, distinct, extract, func, literal

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import EventFilters, Sampling
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, per_subscriber

__all__ = ["TotalActivePeriods", "build_total_active_periods", "KIND"]

PeriodUnit = Literal["days", "hours", "minutes"]

SECONDS_PER_UNIT = {"days": 86_400, "hours": 3_600, "minutes": 60}

_ONE_HOUR = dt.timedelta(hours=1)
_ONE_DAY = dt.timedelta(days=1)


def _at_least_one(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen(kw_only=True)
class TotalActivePeriods(SubscriberMetric, EventFilters):
    """Each subscriber's number of active periods."""

    query_kind: ClassVar[str] = "total_active_periods"
    description: ClassVar[str] = "Each subscriber's number of periods with at least one event."

    start_date: dt.datetime
    total_periods: int = attrs.field(validator=_at_least_one)
    period_length: int = attrs.field(default=1, validator=_at_least_one)
    period_unit: PeriodUnit = "days"
    sampling: Sampling | None = None

    def period(self) -> dt.timedelta:
        """Return the length of one period."""
        return dt.timedelta(seconds=self.period_length * SECONDS_PER_UNIT[self.period_unit])

    def end_date(self) -> dt.datetime:
        """Return the end of the last period."""
        return self.start_date + self.total_periods * self.period()


def build_total_active_periods(spec: TotalActivePeriods, context: BuildContext) -> Select[Any]:
    """Select ``subscriber``, ``value`` (periods with an event) and ``inactive_periods``."""
    events = _counted_periods(spec, context)
    if events is None:
        events = context.events(
            start=spec.start_date,
            end=spec.end_date(),
            event_types=spec.event_types,
            hours=spec.hours,
            subscriber_subset=spec.subscriber_subset,
        ).subquery("timed_events")
    start = literal(spec.start_date.replace(tzinfo=dt.UTC))
    seconds = extract("epoch", events.c.datetime - start)
    period_seconds = literal(spec.period().total_seconds(), Float)
    period_index = func.floor(seconds / period_seconds)
    active = func.count(distinct(period_index))
    return per_subscriber(events, active).add_columns(
        (literal(spec.total_periods) - active).label("inactive_periods")
    )


def _counted_periods(spec: TotalActivePeriods, context: BuildContext) -> FromClause | None:
    """Return FlowDB's per-cell counts when each of their rows falls in one period, else None.

    The counts apply only from a UTC midnight, so every period boundary is a whole hour when
    the period is whole hours, and a midnight when it is whole days. Each hour row then lies
    within one period, and so does each day row. The row's ``datetime`` (the hour's start, or
    the day's latest event) falls in the same period as every event it counts.
    """
    period = spec.period()
    if period % _ONE_HOUR:
        return None
    daily = not period % _ONE_DAY
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date(), hourly=not daily)
    return None if counts is None else counts.subquery("counted_cells")


KIND = QueryKind(
    spec=TotalActivePeriods,
    build=build_total_active_periods,
    version="2",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "total_active_periods",
        "start_date": "2016-01-01",
        "total_periods": 7,
        "period_length": 1,
        "period_unit": "days",
    },
)
