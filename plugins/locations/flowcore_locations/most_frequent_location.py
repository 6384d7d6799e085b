"""``most_frequent_location``: each subscriber's location with the most events in a date range.

Same rule as ``daily_location`` with ``method`` ``most-common``, over ``[start_date, end_date)``.
The location with the most events wins. Ties go to the location whose latest event is most
recent, then to the smallest unit value.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import DateRangeFields, EventFilters, Sampling, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_locations.choice import choose_locations

__all__ = ["MostFrequentLocation", "build_most_frequent_location", "KIND"]


@attrs.frozen(kw_only=True)
class MostFrequentLocation(SubscriberLocations, SpatialFields, EventFilters, DateRangeFields):
    """Each subscriber's location with the most events over a date range."""

    query_kind: ClassVar[str] = "most_frequent_location"
    description: ClassVar[str] = "Each subscriber's location with the most events in a date range."

    sampling: Sampling | None = None


def build_most_frequent_location(spec: MostFrequentLocation, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's most frequent location."""
    return choose_locations(
        context, spec, start=spec.start_date, end=spec.end_date, method="most-common"
    )


KIND = QueryKind(
    spec=MostFrequentLocation,
    build=build_most_frequent_location,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "most_frequent_location",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin3",
    },
)
