"""``displacement``: a statistic of how far, in km, a subscriber's events are from a reference.

The reference is a per-subscriber location query at ``lon-lat`` (a home location, say). Every
located event of the subscriber in ``[start_date, end_date)`` gives one geodesic distance
(PostGIS geography, WGS 84 spheroid) from its cell's point to the subscriber's reference point.
Subscribers without a reference location, or without located events in the range, have no row.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberLocations, SubscriberMetric
from flowcore.model.fields import EventFilters, Statistic
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields
from flowcore_network.radius_of_gyration import METRES_PER_KM, geography_point
from flowcore_network.statistics import statistic_of

__all__ = ["Displacement", "build_displacement", "KIND"]


@attrs.frozen(kw_only=True)
class Displacement(SubscriberMetric, MetricFields, EventFilters):
    """A statistic of each subscriber's distances from their reference location, in km."""

    query_kind: ClassVar[str] = "displacement"
    description: ClassVar[str] = (
        "A statistic of each subscriber's distances, in km, from a reference location."
    )

    statistic: Statistic
    reference_location: SubscriberLocations

    def __attrs_post_init__(self) -> None:
        MetricFields.__attrs_post_init__(self)
        unit = self.reference_location.spatial_unit()
        if unit != "lon-lat":
            raise ValueError(
                f"reference_location must have aggregation_unit 'lon-lat' to measure "
                f"distances, got {unit!r}"
            )

    def spatial_unit(self) -> str | None:
        """Return None: the values are distances, not locations at a unit."""
        return None


def build_displacement(spec: Displacement, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the statistic of distances in km."""
    events = context.locate(
        context.events(
            start=spec.start_date,
            end=spec.end_date,
            event_types=spec.event_types,
            hours=spec.hours,
            subscriber_subset=spec.subscriber_subset,
        ),
        "lon-lat",
    ).subquery("located_points")
    reference = context.result_of(spec.reference_location)
    distance_km = (
        func.ST_Distance(
            geography_point(events.c.lon, events.c.lat),
            geography_point(reference.c.lon, reference.c.lat),
        )
        / METRES_PER_KM
    )
    return (
        select(events.c.subscriber, statistic_of(spec.statistic, distance_km).label("value"))
        .join_from(events, reference, events.c.subscriber == reference.c.subscriber)
        .group_by(events.c.subscriber)
    )


KIND = QueryKind(
    spec=Displacement,
    build=build_displacement,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "displacement",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "statistic": "avg",
        "reference_location": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "lon-lat",
        },
    },
)
