"""``topup_amount``: a statistic of each subscriber's top-up amounts (``recharge_amount``).

Reads ``events.topups`` only, so the kind has no ``event_types`` field. A top-up with no amount
(null) is left out of the statistic.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import Hours, QueryId, Statistic
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber
from flowcore_network.statistics import statistic_of

__all__ = ["TopUpAmount", "build_topup_amount", "KIND"]


@attrs.frozen(kw_only=True)
class TopUpAmount(SubscriberMetric, MetricFields):
    """A statistic of each subscriber's top-up amounts."""

    query_kind: ClassVar[str] = "topup_amount"
    description: ClassVar[str] = "A statistic of each subscriber's top-up amounts."

    statistic: Statistic
    subscriber_subset: QueryId | None = None
    hours: Hours | None = None


def build_topup_amount(spec: TopUpAmount, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the statistic of ``recharge_amount``."""
    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=("topups",),
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
        columns=("recharge_amount",),
    ).subquery("topups")
    return per_subscriber(events, statistic_of(spec.statistic, events.c.recharge_amount))


KIND = QueryKind(
    spec=TopUpAmount,
    build=build_topup_amount,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "topup_amount",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "statistic": "avg",
    },
)
