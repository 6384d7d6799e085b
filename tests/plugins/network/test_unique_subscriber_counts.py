"""unique_subscriber_counts on hand-made data: distinct subscribers per location, redacted."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.testing import insert_cells, insert_events, insert_region, square


@pytest.fixture
def visits_dsn(fresh_dsn: str) -> str:
    """Region A: 16 subscribers, one of them three times; region B: s0 and s1 only."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 80.5, "lat": 27.5}, {"id": "c3", "lon": 82.5, "lat": 27.5}],
    )
    rows = [
        {"msisdn": f"s{index}", "datetime": "2016-01-01 08:00:00", "location_id": "c1"}
        for index in range(16)
    ]
    rows += [
        {"msisdn": "s0", "datetime": f"2016-01-01 0{hour}:00:00", "location_id": "c1"}
        for hour in (1, 2)
    ]
    rows += [
        {"msisdn": "s0", "datetime": "2016-01-01 09:00:00", "location_id": "c3"},
        {"msisdn": "s1", "datetime": "2016-01-01 09:00:00", "location_id": "c3"},
        # Outside the range [2016-01-01, 2016-01-02).
        {"msisdn": "s9", "datetime": "2016-01-02 09:00:00", "location_id": "c3"},
    ]
    insert_events(fresh_dsn, "calls", [{**row, "outgoing": True} for row in rows])
    return fresh_dsn


def counts_spec(**overrides: Any) -> dict[str, Any]:
    """Return a unique_subscriber_counts spec over 2016-01-01 at admin3."""
    spec: dict[str, Any] = {
        "query_kind": "unique_subscriber_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    }
    spec.update(overrides)
    return spec


def test_distinct_subscribers_per_location(run_on: Any, visits_dsn: str) -> None:
    rows = run_on(visits_dsn)(counts_spec())
    assert list(rows[0]) == ["pcod", "value"]
    assert {row["pcod"]: row["value"] for row in rows} == {"A": 16, "B": 2}


def test_hours_window_applies(run_on: Any, visits_dsn: str) -> None:
    rows = run_on(visits_dsn)(counts_spec(hours={"start_hour": 0, "end_hour": 3}))
    assert {row["pcod"]: row["value"] for row in rows} == {"A": 1}


def test_redaction_at_15_and_16(run_on: Any, visits_dsn: str) -> None:
    assert run_on(visits_dsn)(counts_spec(), redact=15) == [{"pcod": "A", "value": 16}]
    assert run_on(visits_dsn)(counts_spec(), redact=16) == []
