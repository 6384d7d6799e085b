"""A run of equal periods from a start time, shared by the kinds that count active periods.

Period i is ``[start_date + i * period_length, start_date + (i + 1) * period_length)`` for i
from 0 to ``total_periods - 1``, in days, hours or minutes. A day is 24 hours, in UTC.

Every period must overlap a day with data in one of the event types read. FlowKit reads each
period with its own events query, so a period without such a day fails the whole query, even
when the other periods have data (:func:`check_every_period_has_data`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs
from sqlalchemy import Float, FromClause, Integer, cast, extract, func, literal
from sqlalchemy.sql import ColumnElement

from flowcore.errors import FieldValueError, MissingDataError
from flowcore.model.fields import EventFilters, Sampling
from flowcore.sql.context import BuildContext

__all__ = [
    "PeriodUnit",
    "SECONDS_PER_UNIT",
    "PeriodFields",
    "period_events",
    "period_index",
    "check_every_period_has_data",
]

PeriodUnit = Literal["days", "hours", "minutes"]

SECONDS_PER_UNIT = {"days": 86_400, "hours": 3_600, "minutes": 60}

_ONE_HOUR = dt.timedelta(hours=1)
_ONE_DAY = dt.timedelta(days=1)


def _at_least_one(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise FieldValueError(attribute.name, f"must be at least 1, got {value}")


@attrs.frozen(kw_only=True, slots=False)
class PeriodFields(EventFilters):
    """Equal periods from a start time, the filters of the events read in them and a sample."""

    start_date: dt.datetime
    total_periods: int = attrs.field(validator=_at_least_one)
    period_length: int = attrs.field(default=1, validator=_at_least_one)
    period_unit: PeriodUnit = "days"
    sampling: Sampling | None = None

    def __attrs_post_init__(self) -> None:
        try:
            self.end_date()
        except OverflowError:
            raise FieldValueError(
                "total_periods",
                f"{self.total_periods} periods of {self.period_length} {self.period_unit} from "
                f"{self.start_date.isoformat()} end after {dt.datetime.max.year}-12-31, the "
                "last day a date can name; use fewer or shorter periods",
            ) from None

    def period(self) -> dt.timedelta:
        """Return the length of one period."""
        return dt.timedelta(seconds=self.period_length * SECONDS_PER_UNIT[self.period_unit])

    def end_date(self) -> dt.datetime:
        """Return the end of the last period."""
        return self.start_date + self.total_periods * self.period()


def period_events(spec: PeriodFields, context: BuildContext) -> FromClause:
    """Return the spec's events in its periods, as rows with ``subscriber`` and ``datetime``.

    FlowDB's per-cell counts stand in for the events when each count row lies within one
    period (see :func:`_counted_periods`).

    Raises:
        MissingDataError: when a period has no day of data (see
            :func:`check_every_period_has_data`).
    """
    check_every_period_has_data(spec, context)
    counted = _counted_periods(spec, context)
    if counted is not None:
        return counted
    return context.events(
        start=spec.start_date,
        end=spec.end_date(),
        event_types=spec.event_types,
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
    ).subquery("timed_events")


def period_index(spec: PeriodFields, moment: ColumnElement[Any]) -> ColumnElement[int]:
    """Return the number of the period that contains ``moment`` (a UTC timestamp), from 0."""
    start = literal(spec.start_date.replace(tzinfo=dt.UTC))
    seconds = extract("epoch", moment - start)
    period_seconds = literal(spec.period().total_seconds(), Float)
    return cast(func.floor(seconds / period_seconds), Integer)


def _counted_periods(spec: PeriodFields, context: BuildContext) -> FromClause | None:
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


def check_every_period_has_data(spec: PeriodFields, context: BuildContext) -> None:
    """Raise MissingDataError for the first period without a day of data in any event type.

    A period fails when it lies within a run of days without data, so only those runs are
    searched, not every period: a run of minutes over months stays cheap.
    """
    types = context.event_types(spec.event_types)
    first_day = spec.start_date.date()
    last_day = (spec.end_date() - dt.timedelta(microseconds=1)).date()
    with_data: set[dt.date] = set()
    for event_type in types:
        with_data.update(
            context.availability.days_with_data(event_type, spec.start_date, spec.end_date())
        )
    period = spec.period()
    # Runs of days without data lie between consecutive days with data, so the loop visits
    # each day with data once, however long the runs are.
    # Day numbers (proleptic ordinals), with one day before the first and one after the last
    # as bounds.
    bounds = [
        first_day.toordinal() - 1,
        *sorted(day.toordinal() for day in with_data),
        last_day.toordinal() + 1,
    ]
    for before, after in zip(bounds, bounds[1:], strict=False):
        if after - before <= 1:
            continue
        # The days from before + 1 to after - 1 have no data. Of the periods that start in
        # them, the first is the one most likely to end within them. No period ends after
        # the end of the last one.
        zone = spec.start_date.tzinfo
        run_start = dt.datetime.combine(dt.date.fromordinal(before + 1), dt.time(), zone)
        run_stop = spec.end_date()
        if after <= last_day.toordinal():
            run_stop = dt.datetime.combine(dt.date.fromordinal(after), dt.time(), zone)
        index = max(0, -((spec.start_date - run_start) // period))
        start = spec.start_date + index * period
        if index < spec.total_periods and start + period <= run_stop:
            raise MissingDataError(
                [
                    f"{context.path}: no {', '.join(types)} data in period {index + 1} of "
                    f"{spec.total_periods}, between {start.isoformat()} and "
                    f"{(start + period).isoformat()}; see the available dates"
                ],
                available_dates=context.availability.describe(types),
            )
