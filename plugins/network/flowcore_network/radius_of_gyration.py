"""``radius_of_gyration``: how far, in km, a subscriber's events spread around their centre.

Every located event counts once, at the point of the cell version in service on the event's
date. The centre is the arithmetic mean of the points' longitudes and latitudes. The value is
the root mean square of the geodesic distances (PostGIS geography, WGS 84 spheroid) from each
point to that centre, in kilometres. Events at unknown cells or cells out of service that day
are left out.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select
from sqlalchemy.sql import ColumnElement

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import EventFilters
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields

__all__ = ["RadiusOfGyration", "build_radius_of_gyration", "geography_point", "KIND"]

METRES_PER_KM = 1000.0


@attrs.frozen(kw_only=True)
class RadiusOfGyration(SubscriberMetric, MetricFields, EventFilters):
    """Each subscriber's radius of gyration in km."""

    query_kind: ClassVar[str] = "radius_of_gyration"
    description: ClassVar[str] = "Each subscriber's radius of gyration around their centre, in km."


def geography_point(lon: Any, lat: Any) -> ColumnElement[Any]:
    """Return the WGS 84 geography point at ``lon``, ``lat`` (for geodesic distances)."""
    return func.geography(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))


def build_radius_of_gyration(spec: RadiusOfGyration, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the radius of gyration in km."""
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
    centres = (
        select(
            events.c.subscriber,
            func.avg(events.c.lon).label("centre_lon"),
            func.avg(events.c.lat).label("centre_lat"),
        )
        .group_by(events.c.subscriber)
        .subquery("centres")
    )
    distance = func.ST_Distance(
        geography_point(events.c.lon, events.c.lat),
        geography_point(centres.c.centre_lon, centres.c.centre_lat),
    )
    # Metres are squared and averaged before converting to km, in FlowKit's order of operations.
    radius_km = func.sqrt(func.avg(distance * distance)) / METRES_PER_KM
    return (
        select(events.c.subscriber, radius_km.label("value"))
        .join_from(events, centres, events.c.subscriber == centres.c.subscriber)
        .group_by(events.c.subscriber)
    )


KIND = QueryKind(
    spec=RadiusOfGyration,
    build=build_radius_of_gyration,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "radius_of_gyration",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
    },
)
