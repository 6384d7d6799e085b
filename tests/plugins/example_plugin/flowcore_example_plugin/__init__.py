"""A third-party query kind, ``first_location``: where each subscriber was first seen.

It is installed like any other plugin distribution and shows that a kind deriving from
``SubscriberLocations`` works inside ``spatial_aggregate`` and ``flows`` unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import distinct_on

from flowcore.hookspecs import hookimpl
from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import DateRangeFields, EventFilters, SpatialFields
from flowcore.sql.context import BuildContext

__all__ = ["FirstLocation", "flowcore_register_query_kinds"]


@attrs.frozen(kw_only=True)
class FirstLocation(SubscriberLocations, SpatialFields, EventFilters, DateRangeFields):
    """Each subscriber's location at their first event in ``[start_date, end_date)``."""

    query_kind: ClassVar[str] = "first_location"
    description: ClassVar[str] = "Each subscriber's location at their first event."


def build_first_location(spec: FirstLocation, context: BuildContext) -> Select[Any]:
    """Select each subscriber's location at their earliest event (ties: smallest unit value)."""
    events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    unit = [events.c[name] for name in context.unit_columns(spec)]
    return (
        select(events.c.subscriber, *unit)
        .ext(distinct_on(events.c.subscriber))
        .order_by(events.c.subscriber, events.c.datetime, *unit)
    )


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register ``first_location``."""
    register(
        QueryKind(
            spec=FirstLocation,
            build=build_first_location,
            version="1",
            index_columns=(("subscriber",), (UNIT_INDEX,)),
            example={
                "query_kind": "first_location",
                "start_date": "2016-01-01",
                "end_date": dt.date(2016, 1, 2).isoformat(),
                "aggregation_unit": "admin3",
            },
        )
    )
