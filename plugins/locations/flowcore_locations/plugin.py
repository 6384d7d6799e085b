"""Entry point of the flowcore-locations distribution: registers its query kinds."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore_locations import (
    active_at_reference_location_counts,
    coalesced_location,
    daily_location,
    labelled_spatial_aggregate,
    location_visits,
    majority_location,
    mobility_classification,
    modal_location,
    most_frequent_location,
    spatial_aggregate,
    unique_locations,
    unmoving_at_reference_location_counts,
    unmoving_counts,
    visited_most_days,
)

__all__ = ["KINDS", "flowcore_register_query_kinds"]

#: Every query kind of this distribution.
KINDS: tuple[QueryKind, ...] = (
    daily_location.KIND,
    modal_location.KIND,
    most_frequent_location.KIND,
    visited_most_days.KIND,
    unique_locations.KIND,
    location_visits.KIND,
    majority_location.KIND,
    coalesced_location.KIND,
    mobility_classification.KIND,
    spatial_aggregate.KIND,
    labelled_spatial_aggregate.KIND,
    active_at_reference_location_counts.KIND,
    unmoving_counts.KIND,
    unmoving_at_reference_location_counts.KIND,
)


def _kinds_needing_network() -> tuple[QueryKind, ...]:
    """Return the kinds that nest flowcore-network kinds, or none when it is not installed."""
    try:
        from flowcore_locations import unique_visitor_counts
    except ModuleNotFoundError as error:
        if error.name is None or not error.name.startswith("flowcore_network"):
            raise
        return ()
    return (unique_visitor_counts.KIND,)


KINDS += _kinds_needing_network()


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register the location query kinds."""
    for kind in KINDS:
        register(kind)
