"""``aggregate_network_objects``: a statistic of ``total_network_objects`` over coarser periods.

The nested query's ``value`` is summarised per location and ``aggregate_by`` period (the start
of each period in ``datetime``). The HTTP API requires ``aggregate_by``. The Python API
defaults it to one period coarser than the nested query's ``total_by`` (``year`` becomes
``century``), as FlowKit's library does.

Statistics: ``median`` is the continuous median (``percentile_cont(0.5)``). ``stddev`` and
``variance`` are the sample statistics, so a period with a single value gives null. ``mode`` is
PostgreSQL's ``mode()``: it reads the values in ascending order and returns the smallest of
equally frequent values. The result is not redacted, because its input is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import Select, func, select
from sqlalchemy.sql import ColumnElement

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import Aggregate
from flowcore.model.fields import Statistic
from flowcore.sql.context import BuildContext
from flowcore_network.total_network_objects import PERIODS, TotalNetworkObjects

__all__ = ["AggregateNetworkObjects", "build_aggregate_network_objects", "coarser_period", "KIND"]

AggregateBy = Literal["second", "minute", "hour", "day", "month", "year", "century"]


def coarser_period(period: str) -> str:
    """Return the period one step coarser than ``period`` (``year`` gives ``century``)."""
    index = PERIODS.index(period)
    return PERIODS[index + 1] if index + 1 < len(PERIODS) else "century"


def _default_aggregate_by(spec: AggregateNetworkObjects) -> str:
    return coarser_period(spec.total_network_objects.total_by)


@attrs.frozen(kw_only=True)
class AggregateNetworkObjects(Aggregate):
    """A statistic of the number of network objects per location over a coarser period."""

    query_kind: ClassVar[str] = "aggregate_network_objects"
    description: ClassVar[str] = (
        "A statistic (mean, maximum, ...) of total_network_objects per location and period."
    )

    # FlowKit's API requires aggregate_by. Its library, like the Python API, has a default.
    api_required: ClassVar[tuple[str, ...]] = ("aggregate_by",)

    total_network_objects: TotalNetworkObjects
    statistic: Statistic
    aggregate_by: AggregateBy = attrs.field(
        default=attrs.Factory(_default_aggregate_by, takes_self=True)
    )


def statistic_of(statistic: str, value: Any) -> ColumnElement[Any]:
    """Return the SQL aggregate computing ``statistic`` over ``value``."""
    if statistic == "median":
        return func.percentile_cont(0.5).within_group(value)
    if statistic == "mode":
        return func.mode().within_group(value)
    functions: dict[str, Callable[[Any], ColumnElement[Any]]] = {
        "count": func.count,
        "sum": func.sum,
        "avg": func.avg,
        "max": func.max,
        "min": func.min,
        "stddev": func.stddev_samp,
        "variance": func.var_samp,
    }
    return functions[statistic](value)


def build_aggregate_network_objects(
    spec: AggregateNetworkObjects, context: BuildContext
) -> Select[Any]:
    """Select unit columns, ``value`` (the statistic) and ``datetime`` (period start)."""
    totals = context.result_of(spec.total_network_objects)
    unit = [totals.c[name] for name in context.unit_columns(spec.total_network_objects)]
    period_start = func.date_trunc(spec.aggregate_by, totals.c.datetime).label("datetime")
    return select(
        *unit,
        statistic_of(spec.statistic, totals.c.value).label("value"),
        period_start,
    ).group_by(*unit, period_start)


KIND = QueryKind(
    spec=AggregateNetworkObjects,
    build=build_aggregate_network_objects,
    version="1",
    top_level=True,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "aggregate_network_objects",
        "total_network_objects": {
            "query_kind": "total_network_objects",
            "start_date": "2016-01-01",
            "end_date": "2016-01-08",
            "total_by": "hour",
            "aggregation_unit": "admin3",
        },
        "statistic": "max",
        "aggregate_by": "day",
    },
)
