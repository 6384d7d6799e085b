"""``localised_calendar_activity``: subscriber counts per location and calendar of active periods.

Each subscriber of ``reference_location`` (a location query such as ``daily_location`` or
``modal_location``) is counted at their location under their calendar, the sorted starts of
the periods in which they had an event (see ``calendar_activity``). The result takes the
aggregation unit of ``reference_location``. Subscribers with no event in any period are counted
under a null calendar. Columns: the unit columns, ``value_label`` (the calendar) and ``value``,
as FlowKit's labelled spatial aggregate names them.

Release rule, as for ``labelled_spatial_aggregate``: a location is released only when every
one of its calendars counts more than the redaction threshold (15). Otherwise all its rows are
withheld. Rows at a null location are never released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, select

from flowcore.kinds import UNIT_INDEX, QueryKind, count_by_label, redact_labelled
from flowcore.model.base import Aggregate, SubscriberLocations
from flowcore.sql.context import BuildContext
from flowcore.sql.sampling import apply_sampling
from flowcore_network.calendar_activity import subscriber_calendars
from flowcore_network.periods import PeriodFields

__all__ = ["LocalisedCalendarActivity", "build_localised_calendar_activity", "KIND"]


@attrs.frozen(kw_only=True)
class LocalisedCalendarActivity(Aggregate, PeriodFields):
    """Subscriber counts per location of a location query and calendar of active periods.

    ``sampling`` keeps a repeatable sample of the located subscribers, so those left out are
    counted nowhere. The event filters (``event_types``, ``hours``, ``subscriber_subset``)
    apply to the calendars only.
    """

    query_kind: ClassVar[str] = "localised_calendar_activity"
    description: ClassVar[str] = (
        "The number of subscribers at each location of a location query, per pattern of "
        "periods with at least one event."
    )

    reference_location: SubscriberLocations

    def spatial_unit(self) -> str | None:
        """Return the unit of the reference location."""
        return self.reference_location.spatial_unit()


def build_localised_calendar_activity(
    spec: LocalisedCalendarActivity, context: BuildContext
) -> Select[Any]:
    """Select the unit columns, ``value_label`` (a calendar) and ``value``, its subscribers."""
    unit_name = spec.spatial_unit()
    if unit_name is None:
        raise ValueError(f"{spec.reference_location.query_kind} has no aggregation unit")
    located = apply_sampling(
        select(context.result_of(spec.reference_location)), spec.sampling
    ).subquery("located")
    calendars = subscriber_calendars(spec, context).subquery("calendars")
    return count_by_label(located, calendars, context.unit_columns(unit_name))


KIND = QueryKind(
    spec=LocalisedCalendarActivity,
    build=build_localised_calendar_activity,
    version="1",
    top_level=True,
    redactor=redact_labelled,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "localised_calendar_activity",
        "start_date": "2016-01-01",
        "total_periods": 7,
        "period_length": 1,
        "period_unit": "days",
        "event_types": ["calls", "sms"],
        "reference_location": {
            "query_kind": "modal_location",
            "locations": [
                {
                    "query_kind": "daily_location",
                    "date": f"2016-01-0{day}",
                    "method": "last",
                    "aggregation_unit": "admin3",
                }
                for day in range(1, 8)
            ],
        },
    },
)
