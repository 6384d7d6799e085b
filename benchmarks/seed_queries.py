"""The benchmarked queries: each seed query kind, with the event rows it reads.

Dates follow the dataset: one-day queries use its first day, range queries cover every day.
Every query here leaves ``event_types`` unset, so it reads FlowKit's default event tables,
calls and SMS; :attr:`BenchQuery.reads` records that for the scan floor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from dataset_sizes import BenchDataset

__all__ = ["BenchQuery", "DEFAULT_EVENT_TYPES", "seed_queries"]

DEFAULT_EVENT_TYPES = ("calls", "sms")
"""The tables a spec without ``event_types`` reads in a standard FlowDB."""

ONE_DAY = dt.timedelta(days=1)

# Labels and scores of the meaningful-locations kinds: nights score -1, working hours +1.
_HOUR_SCORES = [-1] * 7 + [0, 0] + [1] * 8 + [0, 0] + [-1] * 5
_DAY_SCORES = {
    "monday": 1,
    "tuesday": 1,
    "wednesday": 1,
    "thursday": 1,
    "friday": 1,
    "saturday": 0,
    "sunday": -1,
}
_LABELS = {
    "home": {
        "type": "Polygon",
        "coordinates": [[[-1.1, -1.1], [-0.25, -1.1], [-0.25, 1.1], [-1.1, 1.1], [-1.1, -1.1]]],
    },
    "work": {
        "type": "Polygon",
        "coordinates": [[[0.25, 0], [1.1, 0], [1.1, 1.1], [0.25, 1.1], [0.25, 0]]],
    },
}
_SCORING = {
    "labels": _LABELS,
    "tower_hour_of_day_scores": _HOUR_SCORES,
    "tower_day_of_week_scores": _DAY_SCORES,
    "tower_cluster_radius": 1.0,
    "tower_cluster_call_threshold": 0,
}


@attrs.frozen
class BenchQuery:
    """A named spec and the half-open datetime range of calls and SMS it reads."""

    name: str
    spec: dict[str, Any]
    start: dt.date
    end: dt.date
    #: Accepted by the HTTP API as it is (aggregates); others are wrapped or skipped there.
    top_level: bool

    @property
    def reads(self) -> tuple[str, ...]:
        """Return the event tables the query scans."""
        return DEFAULT_EVENT_TYPES


def _daily(day: dt.date, method: str = "last", unit: str = "admin3") -> dict[str, Any]:
    return {
        "query_kind": "daily_location",
        "date": day.isoformat(),
        "method": method,
        "aggregation_unit": unit,
    }


def seed_queries(dataset: BenchDataset) -> list[BenchQuery]:
    """Return the benchmarked queries for ``dataset``'s days."""
    days = dataset.days
    first, end = days[0], days[-1] + ONE_DAY
    whole = {"start_date": first.isoformat(), "end_date": end.isoformat()}
    queries = [
        BenchQuery("daily_location_last", _daily(first), first, first + ONE_DAY, False),
        BenchQuery(
            "daily_location_most_common",
            _daily(first, "most-common"),
            first,
            first + ONE_DAY,
            False,
        ),
        BenchQuery(
            f"modal_location_{len(days)}d",
            {"query_kind": "modal_location", "locations": [_daily(day) for day in days]},
            first,
            end,
            False,
        ),
        BenchQuery(
            "spatial_aggregate",
            {"query_kind": "spatial_aggregate", "locations": _daily(first)},
            first,
            first + ONE_DAY,
            True,
        ),
        BenchQuery(
            f"location_event_counts_{len(days)}d",
            {
                "query_kind": "location_event_counts",
                **whole,
                "interval": "hour",
                "direction": "both",
                "aggregation_unit": "admin3",
            },
            first,
            end,
            True,
        ),
        BenchQuery(
            f"total_network_objects_{len(days)}d",
            {
                "query_kind": "total_network_objects",
                **whole,
                "total_by": "day",
                "aggregation_unit": "admin3",
            },
            first,
            end,
            True,
        ),
        BenchQuery(
            f"meaningful_locations_aggregate_{len(days)}d",
            {
                "query_kind": "meaningful_locations_aggregate",
                **whole,
                "aggregation_unit": "admin1",
                "label": "home",
                **_SCORING,
            },
            first,
            end,
            True,
        ),
        BenchQuery(
            f"meaningful_locations_between_label_od_matrix_{len(days)}d",
            {
                "query_kind": "meaningful_locations_between_label_od_matrix",
                **whole,
                "aggregation_unit": "admin1",
                "label_a": "home",
                "label_b": "work",
                **_SCORING,
            },
            first,
            end,
            True,
        ),
    ]
    if len(days) >= 2:
        second = days[1]
        middle = days[len(days) // 2]
        queries.append(
            BenchQuery(
                "flows",
                {
                    "query_kind": "flows",
                    "from_location": _daily(first),
                    "to_location": _daily(second),
                    "join_type": "inner",
                },
                first,
                second + ONE_DAY,
                True,
            )
        )
        queries.append(
            BenchQuery(
                f"meaningful_locations_between_dates_od_matrix_{len(days)}d",
                {
                    "query_kind": "meaningful_locations_between_dates_od_matrix",
                    "start_date_a": first.isoformat(),
                    "end_date_a": middle.isoformat(),
                    "start_date_b": middle.isoformat(),
                    "end_date_b": end.isoformat(),
                    "aggregation_unit": "admin1",
                    "label": "home",
                    **_SCORING,
                },
                first,
                end,
                True,
            )
        )
    return queries
