"""Network metrics and aggregates read FlowDB's per-cell counts with the same results.

Every spec runs twice on a private copy of the test dataset: once reading the counts, once
reading the events after the days' completion records are removed. The rows must be identical,
floating-point values included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from counted_paths import SUBSET, events_only, sorted_rows, with_subset

import flowcore
from flowcore.session import Session
from flowcore.settings import Settings

#: Replaces the ``SUBSET`` placeholder: the subscribers located on 2016-01-03.
SUBSET_QUERY = {
    "query_kind": "daily_location",
    "date": "2016-01-03",
    "method": "last",
    "aggregation_unit": "admin3",
}

NIGHT = {"start_hour": 22, "end_hour": 6}
OFFICE = {"start_hour": 9, "end_hour": 17}
ALL_TYPES = ["calls", "sms", "mds", "topups"]


def ranged(kind: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    """Return a ``kind`` spec over ``[start, end)``."""
    return {"query_kind": kind, "start_date": start, "end_date": end, **fields}


def active_periods(start: str, total: int, length: int, unit: str, **fields: Any) -> dict[str, Any]:
    """Return a ``total_active_periods`` spec."""
    return {
        "query_kind": "total_active_periods",
        "start_date": start,
        "total_periods": total,
        "period_length": length,
        "period_unit": unit,
        **fields,
    }


SPECS: list[dict[str, Any]] = [
    ranged("unique_subscriber_counts", "2016-01-01", "2016-01-02", aggregation_unit="admin3"),
    ranged(
        "unique_subscriber_counts",
        "2016-01-02",
        "2016-01-05",
        aggregation_unit="admin2",
        event_types=["calls", "sms", "mds"],
        hours=NIGHT,
    ),
    ranged(
        "unique_subscriber_counts",
        "2016-01-01",
        "2016-01-08",
        aggregation_unit="lon-lat",
        event_types=["calls"],
        hours=OFFICE,
    ),
    ranged(
        "unique_subscriber_counts",
        "2016-01-03",
        "2016-01-06",
        aggregation_unit="admin1",
        subscriber_subset=SUBSET,
    ),
    ranged("unique_location_counts", "2016-01-01", "2016-01-04", aggregation_unit="admin3"),
    ranged(
        "unique_location_counts",
        "2016-01-02",
        "2016-01-04",
        aggregation_unit="lon-lat",
        event_types=["sms"],
        hours={"start_hour": 20, "end_hour": 4},
    ),
    ranged(
        "unique_location_counts",
        "2016-01-01",
        "2016-01-08",
        aggregation_unit="admin2",
        event_types=ALL_TYPES,
    ),
    ranged(
        "unique_location_counts",
        "2016-01-02",
        "2016-01-05",
        aggregation_unit="admin3",
        subscriber_subset=SUBSET,
        hours=OFFICE,
    ),
    ranged("unique_locations", "2016-01-01", "2016-01-03", aggregation_unit="admin3"),
    ranged(
        "unique_locations",
        "2016-01-04",
        "2016-01-06",
        aggregation_unit="admin2",
        event_types=["calls", "mds"],
        hours={"start_hour": 6, "end_hour": 10},
    ),
    ranged(
        "unique_locations",
        "2016-01-01",
        "2016-01-02",
        aggregation_unit="lon-lat",
        hours={"start_hour": 21, "end_hour": 3},
        subscriber_subset=SUBSET,
    ),
    ranged("event_count", "2016-01-01", "2016-01-04", direction="both"),
    ranged(
        "event_count",
        "2016-01-02",
        "2016-01-08",
        event_types=ALL_TYPES,
        hours={"start_hour": 23, "end_hour": 2},
    ),
    ranged("event_count", "2016-01-05", "2016-01-06", event_types=["sms"], hours=OFFICE),
    ranged("event_count", "2016-01-01", "2016-01-08", subscriber_subset=SUBSET),
    active_periods("2016-01-01", 7, 1, "days"),
    active_periods("2016-01-02", 8, 6, "hours", hours=NIGHT),
    active_periods("2016-01-01", 3, 2, "days", event_types=["calls", "mds"]),
    active_periods("2016-01-01", 4, 720, "minutes", event_types=ALL_TYPES),
    active_periods("2016-01-03", 2, 1, "days", hours=OFFICE, subscriber_subset=SUBSET),
    active_periods("2016-01-01", 16, 3, "hours", hours={"start_hour": 19, "end_hour": 7}),
    {**active_periods("2016-01-01", 7, 1, "days"), "query_kind": "calendar_activity"},
    {
        **active_periods("2016-01-02", 8, 6, "hours", hours=NIGHT, subscriber_subset=SUBSET),
        "query_kind": "calendar_activity",
    },
    ranged(
        "nocturnal_events",
        "2016-01-01",
        "2016-01-08",
        night_hours={"start_hour": 20, "end_hour": 4},
    ),
    ranged(
        "nocturnal_events",
        "2016-01-02",
        "2016-01-04",
        night_hours={"start_hour": 6, "end_hour": 18},
        event_types=["calls", "mds"],
    ),
    ranged(
        "nocturnal_events",
        "2016-01-03",
        "2016-01-06",
        night_hours={"start_hour": 0, "end_hour": 5},
        subscriber_subset=SUBSET,
    ),
]

#: Specs whose results the counts cannot give exactly, so they read the events.
EVENT_SPECS: list[dict[str, Any]] = [
    ranged("event_count", "2016-01-01", "2016-01-04", direction="out"),
    active_periods("2016-01-01", 4, 90, "minutes"),
    active_periods("2016-01-01", 5, 1, "hours"),
    ranged(
        "unique_subscriber_counts",
        "2016-01-01T06:00:00",
        "2016-01-03",
        aggregation_unit="admin3",
    ),
    ranged("nocturnal_events", "2016-01-01T12:00:00", "2016-01-02", night_hours=NIGHT),
]


@pytest.fixture
def session(counted_dsn: str) -> Iterator[Session]:
    """A session on the private copy of the test dataset."""
    opened = flowcore.connect(counted_dsn, settings=Settings(redaction_threshold=15))
    try:
        yield opened
    finally:
        opened.close()


def _sql(session: Session, spec: dict[str, Any]) -> str:
    return session.sql(with_subset(session, spec, SUBSET_QUERY))


def _sorted_rows(session: Session, spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted_rows(session, spec, SUBSET_QUERY)


def test_counts_and_events_same_rows(session: Session, counted_dsn: str) -> None:
    for spec in SPECS:
        assert "subscriber_cell_" in _sql(session, spec), spec
    from_counts = [_sorted_rows(session, spec) for spec in SPECS]
    with events_only(counted_dsn, session):
        for spec in SPECS:
            assert "subscriber_cell_" not in _sql(session, spec), spec
        from_events = [_sorted_rows(session, spec) for spec in SPECS]
    for spec, counted_rows, event_rows in zip(SPECS, from_counts, from_events, strict=True):
        assert counted_rows, spec
        assert counted_rows == event_rows, spec


def test_hour_counts_only_where_needed(session: Session) -> None:
    whole_days = _sql(session, ranged("event_count", "2016-01-01", "2016-01-03"))
    night = _sql(session, ranged("event_count", "2016-01-01", "2016-01-03", hours=NIGHT))
    nocturnal = _sql(
        session, ranged("nocturnal_events", "2016-01-01", "2016-01-03", night_hours=NIGHT)
    )
    six_hours = _sql(session, active_periods("2016-01-01", 4, 6, "hours"))

    assert "subscriber_cell_days" in whole_days
    assert "subscriber_cell_hours" not in whole_days
    assert "subscriber_cell_hours" in night
    assert "subscriber_cell_hours" in nocturnal
    assert "subscriber_cell_hours" in six_hours


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=lambda spec: spec["query_kind"])
def test_unsupported_specs_read_events(session: Session, spec: dict[str, Any]) -> None:
    assert "subscriber_cell_" not in _sql(session, spec)
    assert _sorted_rows(session, spec)
