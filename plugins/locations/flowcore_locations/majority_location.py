"""``majority_location``: the location holding more than half of each subscriber's weight.

The weights come from a nested query producing ``subscriber``, unit columns and ``value``
(normally ``location_visits``). Rows with a negative weight are ignored. A location is the
subscriber's majority location when its weight is greater than half of the larger of the
subscriber's total weight and ``minimum_total_weight``, so at most one location can pass.
Subscribers without one are left out, unless ``include_unlocatable`` is true: then they get a
row whose unit columns are null.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Float, Select, func, literal, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import Sampling
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import unit_columns_of
from flowcore_locations.interfaces import SubscriberLocationWeights

__all__ = ["MajorityLocation", "build_majority_location", "KIND"]


def _not_negative(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    # FlowKit 1.34 rejects a negative minimum as well, and one could never change the result.
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value}")


@attrs.frozen(kw_only=True)
class MajorityLocation(SubscriberLocations):
    """Each subscriber's location with a majority of their location weight."""

    query_kind: ClassVar[str] = "majority_location"
    description: ClassVar[str] = (
        "Each subscriber's location holding more than half of their location weight."
    )

    subscriber_location_weights: SubscriberLocationWeights
    minimum_total_weight: float = attrs.field(
        default=0.0, validator=_not_negative, metadata={"json_schema": {"minimum": 0}}
    )
    include_unlocatable: bool = False
    sampling: Sampling | None = None


def build_majority_location(spec: MajorityLocation, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's majority location."""
    unit = unit_columns_of(context, spec)
    weights = context.result_of(spec.subscriber_location_weights)
    weighted = (
        select(
            weights.c.subscriber,
            *(weights.c[name] for name in unit),
            weights.c.value,
            func.sum(weights.c.value).over(partition_by=weights.c.subscriber).label("total"),
        )
        .where(weights.c.value >= 0)
        .subquery("weighted")
    )
    # Compared as double precision, the type of minimum_total_weight.
    threshold = func.greatest(weighted.c.total, literal(spec.minimum_total_weight, Float))
    majority = select(weighted.c.subscriber, *(weighted.c[name] for name in unit)).where(
        weighted.c.value * 2 > threshold
    )
    if not spec.include_unlocatable:
        return majority
    located = majority.subquery("majority")
    subscribers = select(weights.c.subscriber).distinct().subquery("weighted_subscribers")
    return select(subscribers.c.subscriber, *(located.c[name] for name in unit)).outerjoin_from(
        subscribers, located, located.c.subscriber == subscribers.c.subscriber
    )


KIND = QueryKind(
    spec=MajorityLocation,
    build=build_majority_location,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "majority_location",
        "subscriber_location_weights": {
            "query_kind": "location_visits",
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
    },
)
