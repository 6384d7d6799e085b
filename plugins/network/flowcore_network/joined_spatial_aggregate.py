"""``joined_spatial_aggregate``: a per-subscriber metric summarised at each subscriber's location.

The metric's rows and the location query's rows are inner-joined on subscriber, so only
subscribers present in both count. Each location then gets either a statistic of each of the
metric's columns (unit columns, then ``value`` and any further metric column, such as
``inactive_periods`` of ``total_active_periods``) or, with ``method`` ``distr``, the share of
those subscribers having each category (unit columns, ``metric``, ``key``, ``value``, the shares
of one location and metric column summing to 1). Numeric metrics take the nine statistics;
categorical metrics such as ``handset`` take ``distr`` or ``mode``.

Release rule: a location is released only when the location query places more than the
redaction threshold of subscribers there, whether or not they have a metric value. That count is
stored in the private column ``_subscriber_count``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import Select, Text, and_, cast, func, literal, select, union_all

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import (
    Aggregate,
    CategoricalSubscriberMetric,
    SubscriberLocations,
    SubscriberMetric,
)
from flowcore.model.fields import STATISTICS
from flowcore.sql.context import BuildContext
from flowcore_network.redaction import SUBSCRIBER_COUNT, redact_by_subscribers
from flowcore_network.statistics import statistic_of

__all__ = ["JoinedSpatialAggregate", "build_joined_spatial_aggregate", "KIND"]

#: Methods a categorical metric accepts.
CATEGORICAL_METHODS = ("distr", "mode")

#: The nine statistics of numeric metrics, and ``distr`` for categorical ones.
Method = Literal[
    "count", "sum", "avg", "max", "min", "median", "stddev", "variance", "mode", "distr"
]


@attrs.frozen(kw_only=True)
class JoinedSpatialAggregate(Aggregate):
    """A statistic or distribution of a metric per location of a location query."""

    query_kind: ClassVar[str] = "joined_spatial_aggregate"
    description: ClassVar[str] = (
        "A per-subscriber metric summarised at each location of a location query."
    )

    locations: SubscriberLocations
    metric: SubscriberMetric
    method: Method

    def __attrs_post_init__(self) -> None:
        if isinstance(self.metric, CategoricalSubscriberMetric):
            if self.method not in CATEGORICAL_METHODS:
                raise ValueError(
                    f"method {self.method!r} does not apply to the categorical metric "
                    f"{self.metric.query_kind}; use one of {', '.join(CATEGORICAL_METHODS)}"
                )
        elif self.method not in STATISTICS:
            raise ValueError(
                f"method {self.method!r} does not apply to the numeric metric "
                f"{self.metric.query_kind}; use one of {', '.join(STATISTICS)}"
            )

    def spatial_unit(self) -> str | None:
        """Return the unit of the location query: the metric's own unit does not matter."""
        return self.locations.spatial_unit()


def build_joined_spatial_aggregate(
    spec: JoinedSpatialAggregate, context: BuildContext
) -> Select[Any]:
    """Select unit columns, the summary columns and ``_subscriber_count`` per location."""
    unit_name = spec.spatial_unit()
    if unit_name is None:
        raise ValueError(f"{spec.locations.query_kind} has no aggregation unit")
    unit = context.unit_columns(unit_name)
    locations = context.result_of(spec.locations)
    metric = context.result_of(spec.metric)

    placed = (
        select(*(locations.c[name] for name in unit), func.count().label(SUBSCRIBER_COUNT))
        .group_by(*(locations.c[name] for name in unit))
        .subquery("placed_subscribers")
    )
    measured = _metric_columns(metric)
    joined = (
        select(*(locations.c[name] for name in unit), *(metric.c[name] for name in measured))
        .join_from(locations, metric, locations.c.subscriber == metric.c.subscriber)
        .subquery("located_metric")
    )
    location = [joined.c[name] for name in unit]
    if spec.method == "distr":
        parts = [_distribution(joined, unit, name) for name in measured]
        summary = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("summary")
    else:
        statistics = [statistic_of(spec.method, joined.c[name]).label(name) for name in measured]
        summary = select(*location, *statistics).group_by(*location).subquery("summary")
    on = [summary.c[name] == placed.c[name] for name in unit]
    return select(*summary.c, placed.c[SUBSCRIBER_COUNT]).join_from(summary, placed, and_(*on))


def _metric_columns(metric: Any) -> list[str]:
    """Return the metric columns to summarise: all but ``subscriber`` and private ones."""
    return [
        column.name
        for column in metric.c
        if column.name != "subscriber" and not column.name.startswith("_")
    ]


def _distribution(joined: Any, unit: tuple[str, ...], column: str) -> Select[Any]:
    """Select each location's share of subscribers per category of one metric column."""
    location = [joined.c[name] for name in unit]
    key = cast(joined.c[column], Text)
    # A count over a sum of counts divides in numeric, as FlowKit does, so shares carry its digits.
    share = func.count() / func.sum(func.count()).over(partition_by=location)
    return select(
        *location,
        literal(column).label("metric"),
        key.label("key"),
        share.label("value"),
    ).group_by(*location, key)


KIND = QueryKind(
    spec=JoinedSpatialAggregate,
    build=build_joined_spatial_aggregate,
    version="3",
    top_level=True,
    redactor=redact_by_subscribers,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "joined_spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
        "metric": {
            "query_kind": "radius_of_gyration",
            "start_date": "2016-01-01",
            "end_date": "2016-01-02",
        },
        "method": "avg",
    },
)
