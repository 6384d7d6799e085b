"""Entry point of the flowcore-network distribution: registers its query kinds."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore_network import (
    aggregate_network_objects,
    calendar_activity,
    displacement,
    event_count,
    handset,
    histogram_aggregate,
    joined_spatial_aggregate,
    localised_calendar_activity,
    location_event_counts,
    location_introversion,
    nocturnal_events,
    pareto_interactions,
    radius_of_gyration,
    subscriber_degree,
    topup_amount,
    topup_balance,
    total_active_periods,
    total_network_objects,
    trips,
    unique_location_counts,
    unique_subscriber_counts,
)

__all__ = ["flowcore_register_query_kinds"]


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register the network query kinds."""
    register(location_event_counts.KIND)
    register(total_network_objects.KIND)
    register(total_network_objects.VERSIONED_KIND)
    register(aggregate_network_objects.KIND)
    register(unique_subscriber_counts.KIND)
    register(location_introversion.KIND)
    register(trips.CONSECUTIVE_KIND)
    register(trips.TRIPS_KIND)
    register(radius_of_gyration.KIND)
    register(event_count.KIND)
    register(subscriber_degree.KIND)
    register(nocturnal_events.KIND)
    register(unique_location_counts.KIND)
    register(joined_spatial_aggregate.KIND)
    register(histogram_aggregate.KIND)
    register(topup_amount.KIND)
    register(handset.KIND)
    register(pareto_interactions.KIND)
    register(displacement.KIND)
    register(total_active_periods.KIND)
    register(topup_balance.KIND)
    register(calendar_activity.KIND)
    register(localised_calendar_activity.KIND)
