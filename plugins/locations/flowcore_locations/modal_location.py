"""``modal_location``: each subscriber's usual location over several location queries.

The inputs are usually one ``daily_location`` per day; any kind producing one location per
subscriber works. Each input stands for one day: its ``date``, else its ``start_date`` (see
``reference_day``).

Rule, deterministic on every run and after a cache reset:

1. the location that is the subscriber's location in the most inputs wins (inputs are counted,
   so an input listed twice counts twice, as in FlowKit);
2. ties go to the location whose most recent day is latest;
3. remaining ties go to the smallest unit value (lowest ``pcod``, or lowest ``lon`` then
   ``lat``).

Every subscriber present in any input is in the result.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import ORDER_FREE, Sampling
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import at_least_one, check_same_unit, stack_inputs, unit_columns_of

__all__ = ["ModalLocation", "build_modal_location", "KIND"]


@attrs.frozen(kw_only=True)
class ModalLocation(SubscriberLocations):
    """The location each subscriber has most often across several location queries."""

    query_kind: ClassVar[str] = "modal_location"
    description: ClassVar[str] = (
        "Each subscriber's most frequent location across a list of location queries."
    )

    locations: tuple[SubscriberLocations, ...] = attrs.field(
        validator=at_least_one, metadata=ORDER_FREE
    )
    sampling: Sampling | None = None

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            self.locations, "All inputs to modal_location should have the same aggregation unit"
        )


def build_modal_location(spec: ModalLocation, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's modal location."""
    unit = unit_columns_of(context, spec)
    stacked = stack_inputs(context, spec.locations, unit).subquery("stacked")
    return modal_rows(stacked, unit)


def modal_rows(stacked: Any, unit: tuple[str, ...]) -> Select[Any]:
    """Pick each subscriber's modal location from ``subscriber, <unit>, day`` rows."""
    stacked_unit = [stacked.c[name] for name in unit]
    votes = (
        select(
            stacked.c.subscriber,
            *stacked_unit,
            func.count().label("input_count"),
            func.max(stacked.c.day).label("latest_day"),
        )
        .group_by(stacked.c.subscriber, *stacked_unit)
        .subquery("location_votes")
    )
    voted_unit = [votes.c[name] for name in unit]
    return (
        select(votes.c.subscriber, *voted_unit)
        .ext(distinct_on(votes.c.subscriber))
        .order_by(
            votes.c.subscriber,
            votes.c.input_count.desc(),
            votes.c.latest_day.desc().nulls_last(),
            *voted_unit,
        )
    )


KIND = QueryKind(
    spec=ModalLocation,
    build=build_modal_location,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "modal_location",
        "locations": [
            {
                "query_kind": "daily_location",
                "date": f"2016-01-0{day}",
                "method": "last",
                "aggregation_unit": "admin3",
            }
            for day in (1, 2, 3)
        ],
    },
)
