"""``pareto_interactions``: the share of a subscriber's contacts that make up most interactions.

For each subscriber, counterparts are ranked by their number of events with the subscriber
(most first, ties broken by the larger counterpart id, a missing counterpart ranking first as
in PostgreSQL's descending order). The value is k / n, where k is the smallest number of top
counterparts whose events reach ``ceil(total events * proportion)`` and n is the number of
distinct counterparts.

As in FlowKit 1.34, the subscriber themself and a missing (null) counterpart count as
counterparts here, unlike in ``subscriber_degree``. The target is computed in exact decimal
arithmetic, so ``proportion`` 0.8 of 5 events is exactly 4.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import attrs
from sqlalchemy import Float, Numeric, Select, cast, func, literal, select

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import EventFilters
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields

__all__ = ["ParetoInteractions", "build_pareto_interactions", "KIND"]


def _open_unit_interval(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1 (exclusive), got {value}")


@attrs.frozen(kw_only=True)
class ParetoInteractions(SubscriberMetric, MetricFields, EventFilters):
    """Each subscriber's share of contacts accounting for ``proportion`` of their events."""

    query_kind: ClassVar[str] = "pareto_interactions"
    description: ClassVar[str] = (
        "Each subscriber's share of contacts that account for a proportion of their events."
    )

    proportion: float = attrs.field(validator=_open_unit_interval)


def build_pareto_interactions(spec: ParetoInteractions, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the share of top contacts reaching the target."""
    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=spec.event_types,
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
        columns=("msisdn_counterpart",),
    ).subquery("interactions")
    balance = (
        select(
            events.c.subscriber,
            events.c.msisdn_counterpart.label("counterpart"),
            func.count().label("events"),
        )
        .group_by(events.c.subscriber, events.c.msisdn_counterpart)
        .subquery("contact_balance")
    )
    by_subscriber = balance.c.subscriber
    top_first = (balance.c.events.desc(), balance.c.counterpart.desc())
    proportion = literal(Decimal(repr(spec.proportion)), Numeric)
    ranked = select(
        balance.c.subscriber,
        func.row_number().over(partition_by=by_subscriber, order_by=top_first).label("rank"),
        func.sum(balance.c.events)
        .over(partition_by=by_subscriber, order_by=top_first)
        .label("cumulative_events"),
        func.ceil(func.sum(balance.c.events).over(partition_by=by_subscriber) * proportion).label(
            "target"
        ),
        func.count().over(partition_by=by_subscriber).label("contacts"),
    ).subquery("ranked_contacts")
    share = cast(func.min(ranked.c.rank), Float) / cast(ranked.c.contacts, Float)
    return (
        select(ranked.c.subscriber, share.label("value"))
        .where(ranked.c.cumulative_events >= ranked.c.target)
        .group_by(ranked.c.subscriber, ranked.c.contacts)
    )


KIND = QueryKind(
    spec=ParetoInteractions,
    build=build_pareto_interactions,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "pareto_interactions",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "proportion": 0.8,
    },
)
