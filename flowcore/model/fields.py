"""Field types shared by query kinds, with FlowKit's rules for dates, hours and event types.

Mixins (``SpatialFields``, ``EventFilters``, ``DateRangeFields``) give a kind the usual flat
JSON fields; the converter in ``flowcore.model.converter`` reads each type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NewType

import attrs

from flowcore.errors import FieldValueError

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "Direction",
    "Statistic",
    "STATISTICS",
    "AggregationUnitName",
    "RegionUnitName",
    "QueryId",
    "Hours",
    "Sampling",
    "SpatialFields",
    "EventFilters",
    "DateRangeFields",
    "check_date_range",
    "ORDER_FREE",
]

#: Field metadata flag: the list's order carries no meaning, so the canonical form sorts it.
ORDER_FREE = {"order_free": True}

EVENT_TYPES = ("calls", "sms", "mds", "topups")
EventType = Literal["calls", "sms", "mds", "topups"]
Direction = Literal["in", "out", "both"]
Statistic = Literal["count", "sum", "avg", "max", "min", "median", "stddev", "variance", "mode"]
STATISTICS: tuple[str, ...] = Statistic.__args__  # type: ignore[attr-defined]

#: Name of a registered aggregation unit usable through the API (checked by the converter).
AggregationUnitName = NewType("AggregationUnitName", str)
#: Name of a public aggregation unit of region polygons, such as admin3 (checked by the converter).
RegionUnitName = NewType("RegionUnitName", str)
#: A 32-hex query id of a stored query (checked by the converter).
QueryId = NewType("QueryId", str)


def _hour_in_range(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 24:
        raise ValueError(f"{attribute.name} must be between 0 and 24, got {value}")
    if value == 24:
        # FlowKit's schema allows 24, but FlowKit cannot build the query ("24:00" does not
        # parse), so flowcore rejects it before running anything, with the way out.
        raise ValueError(f"{attribute.name} 24 is not accepted; use 0 for midnight")


#: The hours a window accepts, in the OpenAPI document.
_HOUR_BOUNDS = {"minimum": 0, "maximum": 23}


@attrs.frozen(kw_only=True)
class Hours:
    """Hour-of-day window ``[start_hour:00, end_hour:00)``; wraps midnight when start > end.

    ``start_hour == end_hour`` is an empty window, as in FlowKit. An hour of 24 is rejected, as
    FlowKit fails on it, so a window up to midnight ends at 0 (``start_hour`` 20,
    ``end_hour`` 0).
    """

    start_hour: int = attrs.field(validator=_hour_in_range, metadata={"json_schema": _HOUR_BOUNDS})
    end_hour: int = attrs.field(validator=_hour_in_range, metadata={"json_schema": _HOUR_BOUNDS})


#: Largest ``sampling.size``: the sample's row limit is compared as a PostgreSQL integer.
MAX_SAMPLE_SIZE = 2**31 - 1


@attrs.frozen(kw_only=True)
class Sampling:
    """A repeatable random sample of a per-subscriber result."""

    sampling_method: Literal["random_ids", "system", "bernoulli"] = "random_ids"
    size: int | None = None
    fraction: float | None = None
    estimate_count: bool = True
    seed: float | None = None

    def __attrs_post_init__(self) -> None:
        if (self.size is None) == (self.fraction is None):
            raise ValueError(
                "Must provide exactly one of 'size' or 'fraction' for a random sample."
            )
        if self.size is not None and not 1 <= self.size <= MAX_SAMPLE_SIZE:
            raise FieldValueError(
                "size", f"must be between 1 and {MAX_SAMPLE_SIZE}, got {self.size}"
            )
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {self.fraction}")
        seeded = self.sampling_method == "random_ids" and self.seed is not None
        if seeded and not -1 <= (self.seed or 0) <= 1:
            raise ValueError(f"seed must be between -1 and 1 for random_ids, got {self.seed}")


@attrs.frozen(kw_only=True, slots=False)
class SpatialFields:
    """The aggregation unit of a query and FlowKit's optional companions."""

    aggregation_unit: AggregationUnitName
    #: Bridge table (``id`` = cell id, ``admin{n}pcod``) used instead of point-in-polygon.
    mapping_table: str | None = None
    geom_table: str | None = None
    geom_table_join_column: str | None = None


@attrs.frozen(kw_only=True, slots=False)
class EventFilters:
    """Event selection of a query: event tables, a subscriber subset and an hour window.

    ``event_types`` None means every table that has subscribers and counterparts
    (``calls`` and ``sms`` in a standard FlowDB); duplicates are removed.
    """

    event_types: tuple[EventType, ...] | None = attrs.field(default=None, metadata=ORDER_FREE)
    subscriber_subset: QueryId | None = None
    hours: Hours | None = None


def check_date_range(start: dt.datetime, end: dt.datetime, start_name: str, end_name: str) -> None:
    """Raise ValueError unless ``start < end`` (ranges are half-open ``[start, end)``)."""
    if start == end:
        raise ValueError(
            f"{start_name} and {end_name} are the same ({start.isoformat()}); "
            "the range [start, end) would be empty"
        )
    if start > end:
        raise ValueError(
            f"{start_name} ({start.isoformat()}) must be before {end_name} ({end.isoformat()})"
        )


@attrs.frozen(kw_only=True, slots=False)
class DateRangeFields:
    """A half-open date range ``start_date <= event time < end_date``."""

    start_date: dt.datetime
    end_date: dt.datetime

    def __attrs_post_init__(self) -> None:
        check_date_range(self.start_date, self.end_date, "start_date", "end_date")
