"""Helpers for the flow kinds' tests: a small hand-made world, spec shortcuts and a runner.

The hand-made world has three admin3 regions side by side, one degree square: R1 (80–81 E),
R2 (81–82 E) and R3 (82–83 E), all 27–28 N, with one cell at the centre of each (C1, C2, C3).
Events are inserted per test as calls with ``add_calls``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flowcore
from flowcore.settings import Settings
from flowcore.testing import insert_cells, insert_events, insert_region, square

__all__ = ["build_world", "add_calls", "daily", "flows", "SpecRunner"]

REGIONS = {"R1": 80.0, "R2": 81.0, "R3": 82.0}


def build_world(dsn: str) -> None:
    """Insert the hand-made regions and their cells into an empty database."""
    for index, (pcod, west) in enumerate(REGIONS.items(), start=1):
        insert_region(dsn, 3, pcod, square(west, 27.0, 1.0))
        insert_cells(dsn, [{"id": f"C{index}", "lon": west + 0.5, "lat": 27.5}])


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


def daily(date: str, unit: str = "admin3") -> dict[str, Any]:
    """Return a ``daily_location`` spec with the method ``last``."""
    return {
        "query_kind": "daily_location",
        "date": date,
        "method": "last",
        "aggregation_unit": unit,
    }


def flows(
    origin: dict[str, Any], destination: dict[str, Any], join_type: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Return a ``flows`` spec (or another kind with ``query_kind=...``)."""
    spec = {"query_kind": "flows", "from_location": origin, "to_location": destination}
    if join_type is not None:
        spec["join_type"] = join_type
    return {**spec, **extra}


class SpecRunner:
    """Computes specs through a real session (executor and cache) on one database."""

    def __init__(self, dsn: str) -> None:
        self.session = flowcore.connect(dsn, settings=Settings(redaction_threshold=15))
        self.registry = self.session.registry
        self.converter = self.session.converter

    def rows(self, spec: Mapping[str, Any], *, redact: bool = False) -> list[dict[str, Any]]:
        """Return the released rows of ``spec`` (redacted with the threshold 15 on request)."""
        return self.session.run(spec, redact=redact, timeout=120).to_dicts()

    def counts(self, spec: Mapping[str, Any], *, redact: bool = False) -> dict[Any, int]:
        """Return ``{location columns (one value or a tuple): value}`` of an aggregate."""
        result: dict[Any, int] = {}
        for row in self.rows(spec, redact=redact):
            value = row.pop("value")
            key = tuple(row.values())
            key = key[0] if len(key) == 1 else key
            assert key not in result, f"{key} has several rows"
            result[key] = value
        return result

    def columns(self, spec: Mapping[str, Any]) -> list[str]:
        """Return the output column names of ``spec``."""
        return self.session.run(spec, timeout=120).columns

    def close(self) -> None:
        """Stop the session's executor and release its connections."""
        self.session.close()
