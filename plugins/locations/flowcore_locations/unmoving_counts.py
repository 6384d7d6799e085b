"""``unmoving_counts``: subscribers seen at only one location, counted at that location.

A subscriber is unmoving when the ``locations`` query (a location set such as
``unique_locations``) gives them exactly one location. Every location of the set gets a row:
the number of unmoving subscribers there, 0 where every subscriber seen there also went
elsewhere. Rows with ``value`` at or below the redaction threshold (15) are not released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate, SubscriberLocationSet
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import unit_columns_of

__all__ = ["UnmovingCounts", "build_unmoving_counts", "KIND"]


@attrs.frozen(kw_only=True)
class UnmovingCounts(Aggregate):
    """Per location, the subscribers seen there and nowhere else."""

    query_kind: ClassVar[str] = "unmoving_counts"
    description: ClassVar[str] = (
        "The number of subscribers seen at only one location, per location."
    )

    locations: SubscriberLocationSet


def build_unmoving_counts(spec: UnmovingCounts, context: BuildContext) -> Select[Any]:
    """Select the unit columns and ``value``, the subscribers seen only at that location."""
    unit = unit_columns_of(context, spec)
    visited = context.result_of(spec.locations).alias("visited")

    # A location set has one row per subscriber and location, so a subscriber's row count is
    # the number of distinct locations they were seen at.
    with_place_count = select(
        *(visited.c[name] for name in unit),
        func.count().over(partition_by=visited.c.subscriber).label("places"),
    ).subquery("with_place_count")
    location = [with_place_count.c[name] for name in unit]
    unmoving = func.count().filter(with_place_count.c.places == 1)
    return select(*location, unmoving.label("value")).group_by(*location)


KIND = QueryKind(
    spec=UnmovingCounts,
    build=build_unmoving_counts,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "unmoving_counts",
        "locations": {
            "query_kind": "unique_locations",
            "start_date": "2016-01-01",
            "end_date": "2016-01-08",
            "aggregation_unit": "admin3",
        },
    },
)
