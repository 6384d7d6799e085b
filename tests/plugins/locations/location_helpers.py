"""Helpers for the location kinds' tests: the hand-made world, spec shortcuts, a runner.

The hand-made world has three admin3 regions side by side, one degree square: R1 (80–81 E),
R2 (81–82 E) and R3 (82–83 E), all 27–28 N. Its cells:

=========  ======================  ===============================================
cell       position                note
=========  ======================  ===============================================
C1         80.5 E 27.5 N           in R1
C1B        80.25 E 27.25 N         in R1 too (a second lon-lat point in R1)
C2         81.5 E 27.5 N           in R2
C3         82.5 E 27.5 N           in R3
OUT        90.5 E 10.5 N           outside every region
MOVED      80.6 E (R1), 81.6 E     version 0 in R1 until 2016-01-02, version 1 in R2
                                   from 2016-01-03
RETIRED    82.6 E 27.6 N (R3)      in service only during 2015
=========  ======================  ===============================================

Events are inserted per test as calls with ``add_calls``; sms has no data, so the default
event types (calls and sms) read calls only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import flowcore
from flowcore.settings import Settings
from flowcore.testing import insert_cells, insert_events, insert_region, square

__all__ = [
    "REGIONS",
    "CELLS",
    "build_world",
    "add_calls",
    "daily",
    "SpecRunner",
    "repeated_locations",
]

REGIONS = {"R1": 80.0, "R2": 81.0, "R3": 82.0}
CELLS: list[dict[str, Any]] = [
    {"id": "C1", "lon": 80.5, "lat": 27.5},
    {"id": "C1B", "lon": 80.25, "lat": 27.25},
    {"id": "C2", "lon": 81.5, "lat": 27.5},
    {"id": "C3", "lon": 82.5, "lat": 27.5},
    {"id": "OUT", "lon": 90.5, "lat": 10.5},
    {
        "id": "MOVED",
        "version": 0,
        "lon": 80.6,
        "lat": 27.6,
        "date_of_last_service": dt.date(2016, 1, 2),
    },
    {
        "id": "MOVED",
        "version": 1,
        "lon": 81.6,
        "lat": 27.6,
        "date_of_first_service": dt.date(2016, 1, 3),
    },
    {
        "id": "RETIRED",
        "lon": 82.6,
        "lat": 27.6,
        "date_of_first_service": dt.date(2015, 1, 1),
        "date_of_last_service": dt.date(2015, 12, 31),
    },
]


def build_world(dsn: str) -> None:
    """Insert the hand-made regions and cells into an empty database."""
    for pcod, west in REGIONS.items():
        insert_region(dsn, 3, pcod, square(west, 27.0, 1.0))
    insert_cells(dsn, CELLS)


def add_calls(dsn: str, calls: Sequence[tuple[str, str, str]]) -> None:
    """Insert outgoing calls given as ``(subscriber, ISO datetime in UTC, cell id)``."""
    insert_events(
        dsn,
        "calls",
        [
            {
                "id": f"call-{index}",
                "msisdn": subscriber,
                "datetime": moment,
                "location_id": cell,
                "outgoing": True,
            }
            for index, (subscriber, moment, cell) in enumerate(calls)
        ],
    )


def daily(date: str, unit: str = "admin3", method: str = "last", **extra: Any) -> dict[str, Any]:
    """Return a ``daily_location`` spec."""
    return {
        "query_kind": "daily_location",
        "date": date,
        "method": method,
        "aggregation_unit": unit,
        **extra,
    }


class SpecRunner:
    """Computes specs through a real session (executor and cache) on one database."""

    def __init__(self, dsn: str) -> None:
        self.session = flowcore.connect(dsn, settings=Settings(redaction_threshold=15))
        self.registry = self.session.registry
        self.converter = self.session.converter

    def rows(self, spec: Mapping[str, Any], *, redact: bool = False) -> list[dict[str, Any]]:
        """Return the released rows of ``spec`` (redacted with the threshold 15 on request)."""
        return self.session.run(spec, redact=redact, timeout=120).to_dicts()

    def locations(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``{subscriber: location}`` of a per-subscriber spec (a tuple for lon-lat)."""
        result: dict[str, Any] = {}
        for row in self.rows(spec):
            subscriber = row.pop("subscriber")
            assert subscriber not in result, f"{subscriber} has several rows"
            values = tuple(row.values())
            result[subscriber] = values[0] if len(values) == 1 else values
        return result

    def columns(self, spec: Mapping[str, Any]) -> list[str]:
        """Return the output column names of ``spec``."""
        return self.session.run(spec, timeout=120).columns

    def clear_cache(self) -> int:
        """Remove every stored result, so the next run computes from the events again."""
        return self.session.cache.clear()

    def close(self) -> None:
        """Stop the session's executor and release its connections."""
        self.session.close()


def repeated_locations(runner: SpecRunner, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the locations of 5 runs of ``spec``; the cache is cleared before runs 2 and 4.

    Runs 3 and 5 read the stored result, runs 2 and 4 compute it again from the events.
    """
    results = []
    for attempt in range(5):
        if attempt in (1, 3):
            removed = runner.clear_cache()
            assert removed > 0, "clearing the cache should remove the stored result"
        results.append(runner.locations(spec))
    return results
