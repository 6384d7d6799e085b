"""``total_network_objects``: how many cells carried events, per location and period.

Each event time is truncated to the ``total_by`` period in UTC, as ``date_trunc`` does in a UTC
session. A network object counts once per location and period, however many events it carried.
Results are not redacted, as in FlowKit: they describe the network, not subscribers.

Through the API the network object is always the plain cell id of the event (``location_id``).
The internal kind ``versioned_network_objects`` counts versioned cells (``location_id``,
``version``) or versioned sites (``site_id``, ``version``) instead; a cell or site that moved
counts once per version. It is not top-level, so the HTTP API neither accepts it nor lists it,
but the Python API runs it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import FromClause, Select, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import Aggregate, QuerySpec
from flowcore.model.fields import DateRangeFields, EventFilters, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_network.buckets import utc_bucket_start

__all__ = [
    "PERIODS",
    "Period",
    "TotalNetworkObjects",
    "VersionedNetworkObjects",
    "build_total_network_objects",
    "KIND",
    "VERSIONED_KIND",
]

Period = Literal["second", "minute", "hour", "day", "month", "year"]
#: The ``total_by`` periods from finest to coarsest.
PERIODS: tuple[str, ...] = Period.__args__  # type: ignore[attr-defined]

#: Width of the buckets events are counted in before they are located: the ``total_by`` period,
#: or one day for months and years, because a cell's version is chosen by the event's date.
_PRE_BUCKETS = {
    "second": dt.timedelta(seconds=1),
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "month": dt.timedelta(days=1),
    "year": dt.timedelta(days=1),
}
_ONE_DAY = dt.timedelta(days=1)

#: Columns that identify one network object after locating events at each network unit.
_OBJECT_COLUMNS = {
    "cell": ("location_id",),
    "versioned-cell": ("location_id", "version"),
    "versioned-site": ("site_id", "version"),
}


@attrs.frozen(kw_only=True, slots=False)
class NetworkObjectFields(DateRangeFields, SpatialFields, EventFilters):
    """Fields shared by the public and the internal network object counts."""

    total_by: Period = "day"


@attrs.frozen(kw_only=True)
class TotalNetworkObjects(Aggregate, NetworkObjectFields):
    """Number of distinct cells with events per location and period."""

    query_kind: ClassVar[str] = "total_network_objects"
    description: ClassVar[str] = "Number of cells that carried events, per location and period."


@attrs.frozen(kw_only=True)
class VersionedNetworkObjects(QuerySpec, NetworkObjectFields):
    """Number of distinct versioned cells or sites with events per location and period."""

    query_kind: ClassVar[str] = "versioned_network_objects"
    description: ClassVar[str] = (
        "Number of versioned cells or sites that carried events, per location and period."
    )

    network_object: Literal["versioned-cell", "versioned-site"]


def _counted_events(
    spec: NetworkObjectFields, context: BuildContext, width: dt.timedelta
) -> FromClause | None:
    """Return FlowDB's per-cell counts for buckets of ``width``, or None to read the events.

    Rows of the day counts carry the day's latest event in ``datetime``, rows of the hour counts
    the hour's start: either falls in the right bucket of one day or one hour.
    """
    if width < dt.timedelta(hours=1):
        return None
    counts = context.cell_counts(
        spec, start=spec.start_date, end=spec.end_date, hourly=width != _ONE_DAY
    )
    return None if counts is None else counts.subquery("object_counts")


def build_total_network_objects(spec: NetworkObjectFields, context: BuildContext) -> Select[Any]:
    """Select unit columns, ``value`` (distinct network objects) and ``datetime`` (period start)."""
    network_object = getattr(spec, "network_object", "cell")
    width = _PRE_BUCKETS[spec.total_by]
    events = _counted_events(spec, context, width)
    if events is None:
        events = context.spec_events(spec, start=spec.start_date, end=spec.end_date).subquery(
            "object_events"
        )
    # Reduce the events to one row per cell and bucket before locating them, so the join to the
    # cell mapping and the truncation to the period run on thousands of rows, not millions.
    # This is exact because a bucket never spans two dates, and locate() chooses the cell
    # version by the date of ``datetime``, here the bucket start.
    bucket = utc_bucket_start(events.c.datetime, width)
    cell_buckets = select(events.c.location_id, bucket.label("datetime")).group_by(
        events.c.location_id, bucket
    )
    object_names = _OBJECT_COLUMNS[network_object]
    if network_object != "cell":
        # Locate each bucket at its network object first. The object columns get new names,
        # because a versioned cell's location_id would clash with the event's own location_id.
        at_object = context.locate(cell_buckets, network_object).subquery("events_at_object")
        cell_buckets = select(
            at_object.c.datetime,
            at_object.c.location_id,
            *(at_object.c[name].label(f"_object_{name}") for name in object_names),
        )
        object_names = tuple(f"_object_{name}" for name in object_names)
    located = context.locate(cell_buckets, spec).subquery("located_events")

    unit = [located.c[name] for name in context.unit_columns(spec)]
    period_start = func.date_trunc(spec.total_by, located.c.datetime, "UTC").label("datetime")
    objects = (
        select(*unit, *(located.c[name] for name in object_names), period_start)
        .distinct()
        .subquery("objects_per_period")
    )
    grouped_unit = [objects.c[name] for name in context.unit_columns(spec)]
    # Stored, and so returned, in FlowKit's order: by location, then period.
    return (
        select(*grouped_unit, func.count().label("value"), objects.c.datetime)
        .group_by(*grouped_unit, objects.c.datetime)
        .order_by(*grouped_unit, objects.c.datetime)
    )


KIND = QueryKind(
    spec=TotalNetworkObjects,
    build=build_total_network_objects,
    version="1",
    top_level=True,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "total_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "total_by": "day",
        "aggregation_unit": "admin3",
    },
)

VERSIONED_KIND = QueryKind(
    spec=VersionedNetworkObjects,
    build=build_total_network_objects,
    version="1",
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "versioned_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "total_by": "day",
        "network_object": "versioned-site",
        "aggregation_unit": "admin3",
    },
)
