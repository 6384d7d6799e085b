"""``coalesced_location``: a preferred location, with a fallback where it is missing.

Each subscriber gets their ``preferred_location`` where it has one. Otherwise they get their
``fallback_location``, but only when their weight at that location in
``subscriber_location_weights`` is at least ``weight_threshold``. A subscriber whose preferred
location is null (``majority_location`` with ``include_unlocatable``) keeps that null row when
no fallback qualifies. Other subscribers with neither location are left out.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, and_, case, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocations
from flowcore.model.fields import Sampling
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import check_same_unit, unit_columns_of
from flowcore_locations.interfaces import SubscriberLocationWeights

__all__ = ["CoalescedLocation", "build_coalesced_location", "KIND"]


@attrs.frozen(kw_only=True)
class CoalescedLocation(SubscriberLocations):
    """Each subscriber's preferred location, else a sufficiently visited fallback location."""

    query_kind: ClassVar[str] = "coalesced_location"
    description: ClassVar[str] = (
        "Each subscriber's preferred location, else a fallback location they visited enough."
    )

    preferred_location: SubscriberLocations
    fallback_location: SubscriberLocations
    subscriber_location_weights: SubscriberLocationWeights
    weight_threshold: int
    sampling: Sampling | None = None

    def __attrs_post_init__(self) -> None:
        check_same_unit(
            (self.preferred_location, self.fallback_location, self.subscriber_location_weights),
            "preferred_location, fallback_location and subscriber_location_weights must have "
            "the same aggregation unit",
        )


def build_coalesced_location(spec: CoalescedLocation, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and the unit columns of each subscriber's coalesced location."""
    unit = unit_columns_of(context, spec)
    preferred = context.result_of(spec.preferred_location).alias("preferred")
    fallback = context.result_of(spec.fallback_location).alias("fallback")
    weights = context.result_of(spec.subscriber_location_weights).alias("weights")

    same_place = and_(
        weights.c.subscriber == fallback.c.subscriber,
        *(weights.c[name] == fallback.c[name] for name in unit),
    )
    kept_fallback = (
        select(fallback.c.subscriber, *(fallback.c[name] for name in unit))
        .join_from(fallback, weights, same_place)
        .where(weights.c.value >= spec.weight_threshold)
        .subquery("kept_fallback")
    )
    # A preferred row with null unit columns is an unlocatable subscriber: use the fallback.
    has_preferred = and_(*(preferred.c[name].is_not(None) for name in unit))
    columns = [
        case((has_preferred, preferred.c[name]), else_=kept_fallback.c[name]).label(name)
        for name in unit
    ]
    subscriber = func.coalesce(preferred.c.subscriber, kept_fallback.c.subscriber)
    return select(subscriber.label("subscriber"), *columns).join_from(
        preferred,
        kept_fallback,
        preferred.c.subscriber == kept_fallback.c.subscriber,
        full=True,
    )


KIND = QueryKind(
    spec=CoalescedLocation,
    build=build_coalesced_location,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
)
