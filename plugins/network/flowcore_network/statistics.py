"""SQL aggregate functions for the statistic names of FlowKit (``count``, ``avg``, ``median``...).

``median`` is the continuous 50th percentile, ``stddev`` and ``variance`` are the sample
estimates (n - 1 in the denominator) and ``mode`` is PostgreSQL's ``mode()``, which breaks a tie
between equally frequent values by taking the smallest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql import ColumnElement

__all__ = ["statistic_of"]


def statistic_of(statistic: str, column: Any) -> ColumnElement[Any]:
    """Return the aggregate expression computing ``statistic`` over ``column``."""
    if statistic == "median":
        return func.percentile_cont(0.5).within_group(column)
    if statistic == "mode":
        return func.mode().within_group(column)
    simple: dict[str, Callable[[Any], ColumnElement[Any]]] = {
        "count": func.count,
        "sum": func.sum,
        "avg": func.avg,
        "max": func.max,
        "min": func.min,
        "stddev": func.stddev_samp,
        "variance": func.var_samp,
    }
    if statistic not in simple:
        raise ValueError(f"statistic {statistic!r} is not one of median, mode, {', '.join(simple)}")
    return simple[statistic](column)
