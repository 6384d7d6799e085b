"""``daily_location``: each subscriber's location on one day, by their last or most common event.

The day is the calendar day of ``date``: a time of day in ``date`` is dropped, as FlowKit's
``daily_location`` drops it, so ``2016-01-02T06:00:00`` means the same query as ``2016-01-02``.

Tie rules (documented, deterministic on every run and after a cache reset):

* ``last``: the location of the latest event of the day ``[date, date + 1 day)``; events at the
  identical latest time in different places resolve to the smallest unit value (for example the
  lowest ``pcod``, or the lowest ``lon`` then ``lat``).
* ``most-common``: the location with the most events; ties go to the location whose latest
  event is most recent, then to the smallest unit value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import Select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import EventFilters, Sampling, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_locations.choice import choose_locations

__all__ = ["DailyLocation", "build_daily_location", "KIND"]

ONE_DAY = dt.timedelta(days=1)


def _calendar_day(value: dt.date) -> dt.datetime:
    """Return midnight at the start of ``value``'s day (a date or a datetime)."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return dt.datetime.combine(day, dt.time())


@attrs.frozen(kw_only=True)
class DailyLocation(SubscriberLocations, SpatialFields, EventFilters):
    """Each subscriber's location on one day."""

    query_kind: ClassVar[str] = "daily_location"
    description: ClassVar[str] = "Each subscriber's location on one day (last or most common)."

    date: dt.datetime = attrs.field(converter=_calendar_day)
    method: Literal["last", "most-common"]
    sampling: Sampling | None = None


def build_daily_location(spec: DailyLocation, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's location that day."""
    return choose_locations(
        context, spec, start=spec.date, end=spec.date + ONE_DAY, method=spec.method
    )


KIND = QueryKind(
    spec=DailyLocation,
    build=build_daily_location,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "daily_location",
        "date": "2016-01-01",
        "method": "last",
        "aggregation_unit": "admin3",
    },
)
