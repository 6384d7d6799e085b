"""``location_visits``: how many of several location queries put each subscriber at each location.

The usual input is one ``daily_location`` per day, so ``value`` is the number of days a
subscriber's daily location was that location. Inputs are counted, so an input listed twice
counts twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import ORDER_FREE, Sampling
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import at_least_one, check_same_unit, stack_inputs, unit_columns_of
from flowcore_locations.interfaces import SubscriberLocationWeights

__all__ = ["LocationVisits", "build_location_visits", "KIND"]


@attrs.frozen(kw_only=True)
class LocationVisits(SubscriberLocationWeights):
    """Per subscriber and location, the number of input queries giving that location."""

    query_kind: ClassVar[str] = "location_visits"
    description: ClassVar[str] = (
        "Per subscriber and location, how many of the listed location queries give it."
    )

    locations: tuple[SubscriberLocations, ...] = attrs.field(
        validator=at_least_one, metadata=ORDER_FREE
    )
    sampling: Sampling | None = None

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            self.locations, "All inputs to location_visits should have the same aggregation unit"
        )


def build_location_visits(spec: LocationVisits, context: BuildContext) -> Select[Any]:
    """Select ``subscriber``, the unit columns and ``value``, the number of inputs agreeing."""
    unit = unit_columns_of(context, spec)
    stacked = stack_inputs(context, spec.locations, unit).subquery("stacked")
    stacked_unit = [stacked.c[name] for name in unit]
    return select(stacked.c.subscriber, *stacked_unit, func.count().label("value")).group_by(
        stacked.c.subscriber, *stacked_unit
    )


KIND = QueryKind(
    spec=LocationVisits,
    build=build_location_visits,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "location_visits",
        "locations": [
            {
                "query_kind": "daily_location",
                "date": f"2016-01-0{day}",
                "method": "last",
                "aggregation_unit": "admin3",
            }
            for day in (1, 2, 3)
        ],
    },
)
