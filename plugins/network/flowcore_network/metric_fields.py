"""Fields and interfaces shared by the per-subscriber metrics (``subscriber``, ``value`` rows).

A metric is computed over ``[start_date, end_date)`` for every subscriber with at least one
event in the range. ``sampling``, applied by the planner, keeps a repeatable subset of them.
"""

from __future__ import annotations

from typing import Any

import attrs
from sqlalchemy import Select, select
from sqlalchemy.sql import ColumnElement

# Re-exported: the interface moved to the core, so that kinds of other distributions can
# produce and take categorical metrics without depending on this one.
from flowcore.model.base import CategoricalSubscriberMetric
from flowcore.model.fields import DateRangeFields, Sampling

__all__ = [
    "MetricFields",
    "CategoricalSubscriberMetric",
    "METRIC_INDEX",
    "per_subscriber",
]

#: Cache-table index of every metric: rows are looked up and joined by subscriber.
METRIC_INDEX: tuple[tuple[str, ...], ...] = (("subscriber",),)


@attrs.frozen(kw_only=True, slots=False)
class MetricFields(DateRangeFields):
    """The date range and optional sample every per-subscriber metric takes."""

    sampling: Sampling | None = None


def per_subscriber(events: Any, value: ColumnElement[Any]) -> Select[Any]:
    """Select ``subscriber`` and ``value`` from ``events``, grouped by subscriber."""
    return select(events.c.subscriber, value.label("value")).group_by(events.c.subscriber)
