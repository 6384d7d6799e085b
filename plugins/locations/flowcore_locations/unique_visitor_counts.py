"""``unique_visitor_counts``: subscribers seen at a location that is not their reference location.

The value is the ``unique_subscriber_counts`` value of a location minus its
``active_at_reference_location_counts`` value, so it counts the visitors: subscribers seen at
the location whose reference location is elsewhere. Locations come from the
``active_at_reference_location_counts`` input. As in FlowKit, both inputs enter the difference
redacted, so a row is released only when each input's value and the difference are all above
the redaction threshold (15). The inputs' values are stored in private columns for that check.
This kind needs ``unique_subscriber_counts`` from the flowcore-network distribution.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from flowcore_network.unique_subscriber_counts import UniqueSubscriberCounts
from sqlalchemy import FromClause, Select, and_, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import Aggregate
from flowcore.sql.context import BuildContext
from flowcore_locations.active_at_reference_location_counts import (
    ActiveAtReferenceLocationCounts,
)
from flowcore_locations.inputs import check_same_unit, unit_columns_of

__all__ = [
    "UniqueVisitorCounts",
    "build_unique_visitor_counts",
    "redact_unique_visitor_counts",
    "KIND",
]

#: Private column holding the ``active_at_reference_location_counts`` value of the row.
ACTIVE_COUNT = "_active_at_reference"
#: Private column holding the ``unique_subscriber_counts`` value of the row.
UNIQUE_COUNT = "_unique_subscribers"


@attrs.frozen(kw_only=True)
class UniqueVisitorCounts(Aggregate):
    """Per location, the subscribers seen there whose reference location is elsewhere."""

    query_kind: ClassVar[str] = "unique_visitor_counts"
    description: ClassVar[str] = (
        "The number of subscribers seen at a location other than their reference location."
    )

    active_at_reference_location_counts: ActiveAtReferenceLocationCounts
    unique_subscriber_counts: UniqueSubscriberCounts

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            (self.active_at_reference_location_counts, self.unique_subscriber_counts),
            "'active_at_reference_location_counts' and 'unique_subscriber_counts' parameters "
            "must have the same aggregation unit",
        )


def build_unique_visitor_counts(spec: UniqueVisitorCounts, context: BuildContext) -> Select[Any]:
    """Select the unit columns, ``value`` (the visitors) and both inputs' values."""
    unit = unit_columns_of(context, spec)
    active = context.result_of(spec.active_at_reference_location_counts).alias("active")
    seen = context.result_of(spec.unique_subscriber_counts).alias("seen")

    # A location missing from unique_subscriber_counts gets a null value, which is never
    # released, as in FlowKit's left join of the two redacted inputs.
    same_location = and_(*(seen.c[name] == active.c[name] for name in unit))
    return select(
        *(active.c[name] for name in unit),
        (seen.c.value - active.c.value).label("value"),
        active.c.value.label(ACTIVE_COUNT),
        seen.c.value.label(UNIQUE_COUNT),
    ).select_from(active.outerjoin(seen, same_location))


def redact_unique_visitor_counts(result: FromClause, threshold: int) -> Select[Any]:
    """Select the public columns of rows whose value and both input values exceed ``threshold``."""
    released = [c for c in result.c if not c.name.startswith("_")]
    return select(*released).where(
        result.c[ACTIVE_COUNT] > threshold,
        result.c[UNIQUE_COUNT] > threshold,
        result.c.value > threshold,
    )


KIND = QueryKind(
    spec=UniqueVisitorCounts,
    build=build_unique_visitor_counts,
    version="1",
    top_level=True,
    redactor=redact_unique_visitor_counts,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "unique_visitor_counts",
        "active_at_reference_location_counts": {
            "query_kind": "active_at_reference_location_counts",
            "unique_locations": {
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
        "unique_subscriber_counts": {
            "query_kind": "unique_subscriber_counts",
            "start_date": "2016-01-02",
            "end_date": "2016-01-08",
            "aggregation_unit": "admin3",
        },
    },
)
