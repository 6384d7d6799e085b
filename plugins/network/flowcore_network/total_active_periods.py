"""``total_active_periods``: in how many of a run of equal periods each subscriber had an event.

The periods are ``[start_date + i * period_length, start_date + (i + 1) * period_length)`` for
i from 0 to ``total_periods - 1``, in days, hours or minutes (a day is 24 hours, in UTC). Any
event counts, located or not. Subscribers with no event in any period have no row. Columns:
``subscriber``, ``value`` (the active periods) and ``inactive_periods`` (``total_periods`` minus
``value``), as in FlowKit; ``joined_spatial_aggregate`` summarises both.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, distinct, func, literal

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, per_subscriber
from flowcore_network.periods import PeriodFields, period_events, period_index

__all__ = ["TotalActivePeriods", "build_total_active_periods", "KIND"]


@attrs.frozen(kw_only=True)
class TotalActivePeriods(SubscriberMetric, PeriodFields):
    """Each subscriber's number of active periods."""

    query_kind: ClassVar[str] = "total_active_periods"
    description: ClassVar[str] = "Each subscriber's number of periods with at least one event."


def build_total_active_periods(spec: TotalActivePeriods, context: BuildContext) -> Select[Any]:
    """Select ``subscriber``, ``value`` (periods with an event) and ``inactive_periods``."""
    events = period_events(spec, context)
    active = func.count(distinct(period_index(spec, events.c.datetime)))
    return per_subscriber(events, active).add_columns(
        (literal(spec.total_periods) - active).label("inactive_periods")
    )


KIND = QueryKind(
    spec=TotalActivePeriods,
    build=build_total_active_periods,
    version="2",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "total_active_periods",
        "start_date": "2016-01-01",
        "total_periods": 7,
        "period_length": 1,
        "period_unit": "days",
    },
)
