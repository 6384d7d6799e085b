"""``subscriber_degree``: the number of distinct counterparts each subscriber interacted with.

A row whose counterpart is the subscriber themself, or is unknown (null), adds no counterpart,
so a subscriber with only such rows has no row in the result. ``direction`` keeps counterparts
of outgoing (``out``) or incoming (``in``) rows only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, distinct, func

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import Direction, EventFilters
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber

__all__ = ["SubscriberDegree", "build_subscriber_degree", "KIND"]


@attrs.frozen(kw_only=True)
class SubscriberDegree(SubscriberMetric, MetricFields, EventFilters):
    """Each subscriber's number of distinct counterparts."""

    query_kind: ClassVar[str] = "subscriber_degree"
    description: ClassVar[str] = "Each subscriber's number of distinct counterparts."

    direction: Direction = "both"


def build_subscriber_degree(spec: SubscriberDegree, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the number of distinct other counterparts."""
    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=spec.event_types,
        hours=spec.hours,
        direction=spec.direction,
        subscriber_subset=spec.subscriber_subset,
        columns=("msisdn_counterpart",),
    ).subquery("interactions")
    counterpart = events.c.msisdn_counterpart
    return per_subscriber(events, func.count(distinct(counterpart))).where(
        counterpart != events.c.subscriber
    )


KIND = QueryKind(
    spec=SubscriberDegree,
    build=build_subscriber_degree,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "subscriber_degree",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "direction": "both",
    },
)
