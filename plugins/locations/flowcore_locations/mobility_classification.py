"""``mobility_classification``: a mobility type per subscriber from their reference locations.

``locations`` lists one reference location query per period, oldest first. Each subscriber of
the most recent period gets the first of these labels that applies:

1. ``unlocated``: their location in the most recent period is null;
2. ``irregular``: they are missing from at least one period;
3. ``not_always_locatable``: their location is null in at least one period;
4. ``mobile``: their longest stay is shorter than ``stay_length_threshold`` periods;
5. ``stable``: otherwise.

A stay is a run of consecutive periods at the same location, so locations A, A, B, A give
stays of 2, 1 and 1 periods. Subscribers missing from the most recent period have no row. A
location is null when all of its unit columns are.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Integer, Select, and_, case, func, literal, not_, select, union_all

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberLabels, SubscriberLocations
from flowcore.model.fields import Sampling
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import at_least_one, check_same_unit, unit_columns_of

__all__ = ["MOBILITY_TYPES", "MobilityClassification", "build_mobility_classification", "KIND"]

#: The labels, in the order they are tested.
MOBILITY_TYPES = ("unlocated", "irregular", "not_always_locatable", "mobile", "stable")


@attrs.frozen(kw_only=True)
class MobilityClassification(SubscriberLabels):
    """Each subscriber's mobility type over a sequence of reference location periods."""

    query_kind: ClassVar[str] = "mobility_classification"
    description: ClassVar[str] = (
        "Each subscriber's mobility type from their reference locations in successive periods."
    )

    # Oldest period first: the order carries meaning, so the canonical form keeps it.
    locations: tuple[SubscriberLocations, ...] = attrs.field(validator=at_least_one)
    stay_length_threshold: int
    sampling: Sampling | None = None

    def __attrs_post_init__(self) -> None:
        check_same_unit(self.locations, "All locations must have the same aggregation unit")


def build_mobility_classification(
    spec: MobilityClassification, context: BuildContext
) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the mobility type, per subscriber of the last period."""
    unit = unit_columns_of(context, spec)
    periods = []
    for period, locations in enumerate(spec.locations):
        rows = context.result_of(locations)
        periods.append(
            select(
                rows.c.subscriber,
                *(rows.c[name] for name in unit),
                literal(period, Integer).label("period"),
            )
        )
    stacked = (periods[0] if len(periods) == 1 else union_all(*periods)).subquery("periods")
    stacked_unit = [stacked.c[name] for name in unit]
    unlocated = and_(*(column.is_(None) for column in stacked_unit))

    history = (
        select(
            stacked.c.subscriber,
            (func.count() < len(spec.locations)).label("irregular"),
            func.bool_or(unlocated).label("ever_unlocated"),
        )
        .group_by(stacked.c.subscriber)
        .subquery("history")
    )

    # Consecutive periods at one location share ``period - rank``, where the rank counts the
    # subscriber's periods at that location, so each such run is one stay.
    rank = func.dense_rank().over(
        partition_by=[stacked.c.subscriber, *stacked_unit], order_by=stacked.c.period
    )
    runs = (
        select(stacked.c.subscriber, *stacked_unit, (stacked.c.period - rank).label("stay"))
        .where(not_(unlocated))
        .subquery("runs")
    )
    run_unit = [runs.c[name] for name in unit]
    stays = (
        select(runs.c.subscriber, func.count().label("stay_length"))
        .group_by(runs.c.subscriber, *run_unit, runs.c.stay)
        .subquery("stays")
    )
    longest = (
        select(stays.c.subscriber, func.max(stays.c.stay_length).label("longest_stay"))
        .group_by(stays.c.subscriber)
        .subquery("longest")
    )

    latest = context.result_of(spec.locations[-1]).alias("latest")
    mobility_type = case(
        (and_(*(latest.c[name].is_(None) for name in unit)), "unlocated"),
        (history.c.irregular, "irregular"),
        (history.c.ever_unlocated, "not_always_locatable"),
        (longest.c.longest_stay < spec.stay_length_threshold, "mobile"),
        else_="stable",
    )
    return select(latest.c.subscriber, mobility_type.label("value")).select_from(
        latest.outerjoin(history, history.c.subscriber == latest.c.subscriber).outerjoin(
            longest, longest.c.subscriber == latest.c.subscriber
        )
    )


KIND = QueryKind(
    spec=MobilityClassification,
    build=build_mobility_classification,
    version="1",
    index_columns=(("subscriber",),),
    example={
        "query_kind": "mobility_classification",
        "locations": [
            {
                "query_kind": "daily_location",
                "date": f"2016-01-0{day}",
                "method": "last",
                "aggregation_unit": "admin3",
            }
            for day in (1, 2, 3)
        ],
        "stay_length_threshold": 2,
    },
)
