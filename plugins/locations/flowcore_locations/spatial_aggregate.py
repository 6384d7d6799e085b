"""``spatial_aggregate``: the number of subscribers at each location of a location query.

The nested query gives one location per subscriber, so counting its rows per location counts
subscribers. The result is released with the standard rule: rows with ``value`` at or below the
redaction threshold (15) are dropped.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate, SubscriberLocations
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import unit_columns_of

__all__ = ["SpatialAggregate", "build_spatial_aggregate", "KIND"]


@attrs.frozen(kw_only=True)
class SpatialAggregate(Aggregate):
    """Subscriber counts per location; the aggregation unit is the nested query's."""

    query_kind: ClassVar[str] = "spatial_aggregate"
    description: ClassVar[str] = "The number of subscribers at each location of a location query."

    locations: SubscriberLocations


def build_spatial_aggregate(spec: SpatialAggregate, context: BuildContext) -> Select[Any]:
    """Select the unit columns and ``value``, the number of subscribers at the location."""
    unit = unit_columns_of(context, spec)
    rows = context.result_of(spec.locations)
    location = [rows.c[name] for name in unit]
    return select(*location, func.count().label("value")).group_by(*location)


KIND = QueryKind(
    spec=SpatialAggregate,
    build=build_spatial_aggregate,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
    },
)
