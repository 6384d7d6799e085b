"""``active_at_reference_location_counts``: subscribers seen at their own reference location.

A subscriber is active at their reference location when it is among the locations they visited
in the ``unique_locations`` query. Each reference location gets the number of its subscribers
who are active there. A location whose subscribers were all seen only elsewhere, or not at all,
gets 0, as FlowKit's sum of per-subscriber flags gives. Rows with ``value`` at or below the
redaction threshold (15) are not released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, and_, distinct, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate, SubscriberLocations, SubscriberLocationSet
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import check_same_unit, unit_columns_of

__all__ = [
    "ActiveAtReferenceLocationCounts",
    "build_active_at_reference_location_counts",
    "KIND",
]


@attrs.frozen(kw_only=True)
class ActiveAtReferenceLocationCounts(Aggregate):
    """Per reference location, the subscribers who visited it in a date range."""

    query_kind: ClassVar[str] = "active_at_reference_location_counts"
    description: ClassVar[str] = (
        "The number of subscribers seen at their reference location, per reference location."
    )

    unique_locations: SubscriberLocationSet
    reference_locations: SubscriberLocations

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            (self.unique_locations, self.reference_locations),
            "'unique_locations' and 'reference_locations' parameters must have the same "
            "aggregation unit",
        )


def build_active_at_reference_location_counts(
    spec: ActiveAtReferenceLocationCounts, context: BuildContext
) -> Select[Any]:
    """Select the reference unit columns and ``value``, the subscribers active there."""
    unit = unit_columns_of(context, spec)
    reference = context.result_of(spec.reference_locations).alias("reference")
    visited = context.result_of(spec.unique_locations).alias("visited")

    # The outer join keeps every reference location, so one visited by none of its
    # subscribers counts 0. A subscriber matches at most once per location, but counting
    # distinct subscribers keeps that true for a location set that repeats rows.
    at_reference = and_(
        visited.c.subscriber == reference.c.subscriber,
        *(visited.c[name] == reference.c[name] for name in unit),
    )
    location = [reference.c[name] for name in unit]
    return (
        select(*location, func.count(distinct(visited.c.subscriber)).label("value"))
        .select_from(reference.outerjoin(visited, at_reference))
        .group_by(*location)
    )


KIND = QueryKind(
    spec=ActiveAtReferenceLocationCounts,
    build=build_active_at_reference_location_counts,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "active_at_reference_location_counts",
        "unique_locations": {
            "query_kind": "unique_locations",
            "start_date": "2016-01-01",
            "end_date": "2016-01-08",
            "aggregation_unit": "admin3",
        },
        "reference_locations": {
            "query_kind": "modal_location",
            "locations": [
                {
                    "query_kind": "daily_location",
                    "date": "2016-01-01",
                    "method": "last",
                    "aggregation_unit": "admin3",
                },
                {
                    "query_kind": "daily_location",
                    "date": "2016-01-02",
                    "method": "last",
                    "aggregation_unit": "admin3",
                },
            ],
        },
    },
)
