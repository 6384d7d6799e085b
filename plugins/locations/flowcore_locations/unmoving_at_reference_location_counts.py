"""``unmoving_at_reference_location_counts``: subscribers seen only at their reference location.

A subscriber is unmoving at their reference location when every location the ``locations``
query (a location set such as ``unique_locations``) gives them equals their reference
location. A subscriber with a reference location but no visited location is not counted,
because FlowKit's per-subscriber flag is null for them, not true. Every reference location
gets a row, 0 where none of its subscribers stayed there. Rows with ``value`` at or below the
redaction threshold (15) are not released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Boolean, Select, and_, func, select, true

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate, SubscriberLocations, SubscriberLocationSet
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import check_same_unit, unit_columns_of

__all__ = [
    "UnmovingAtReferenceLocationCounts",
    "build_unmoving_at_reference_location_counts",
    "KIND",
]


@attrs.frozen(kw_only=True)
class UnmovingAtReferenceLocationCounts(Aggregate):
    """Per reference location, the subscribers seen there and nowhere else."""

    query_kind: ClassVar[str] = "unmoving_at_reference_location_counts"
    description: ClassVar[str] = (
        "The number of subscribers seen only at their reference location, per reference location."
    )

    locations: SubscriberLocationSet
    reference_locations: SubscriberLocations

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            (self.locations, self.reference_locations),
            "'locations' and 'reference_locations' parameters must have the same aggregation unit",
        )


def build_unmoving_at_reference_location_counts(
    spec: UnmovingAtReferenceLocationCounts, context: BuildContext
) -> Select[Any]:
    """Select the reference unit columns and ``value``, the subscribers who stayed there."""
    unit = unit_columns_of(context, spec)
    reference = context.result_of(spec.reference_locations).alias("reference")
    visited = context.result_of(spec.locations).alias("visited")

    # The outer join gives a subscriber without visits one row of nulls: the comparison is
    # null there, so bool_and is null and the subscriber is not counted.
    at_reference = and_(*(visited.c[name] == reference.c[name] for name in unit))
    reference_location = [reference.c[name] for name in unit]
    per_subscriber = (
        select(
            *reference_location,
            func.bool_and(at_reference, type_=Boolean).label("unmoving"),
        )
        .select_from(reference.outerjoin(visited, visited.c.subscriber == reference.c.subscriber))
        .group_by(reference.c.subscriber, *reference_location)
        .subquery("per_subscriber")
    )
    location = [per_subscriber.c[name] for name in unit]
    unmoving = func.count().filter(per_subscriber.c.unmoving.is_(true()))
    return select(*location, unmoving.label("value")).group_by(*location)


KIND = QueryKind(
    spec=UnmovingAtReferenceLocationCounts,
    build=build_unmoving_at_reference_location_counts,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "unmoving_at_reference_location_counts",
        "locations": {
            "query_kind": "unique_locations",
            "start_date": "2016-01-02",
            "end_date": "2016-01-08",
            "aggregation_unit": "admin3",
        },
        "reference_locations": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
    },
)
