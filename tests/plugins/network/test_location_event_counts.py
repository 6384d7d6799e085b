"""location_event_counts on small hand-made data, checked against counts written by hand."""

from __future__ import annotations

from typing import Any

import pytest

import flowcore
from flowcore.errors import InvalidSpecError
from flowcore.testing import insert_cells, insert_events, insert_region, square
from flowdb.cell_counts import count_ingested_days

# Region A contains cells c1 and c2, region B contains c3.
CELLS = [
    {"id": "c1", "lon": 80.5, "lat": 27.5},
    {"id": "c2", "lon": 80.6, "lat": 27.6},
    {"id": "c3", "lon": 82.5, "lat": 27.5},
]
CALLS = [
    {"msisdn": "s1", "datetime": "2016-01-01 10:05:00", "location_id": "c1", "outgoing": True},
    {"msisdn": "s2", "datetime": "2016-01-01 10:05:00", "location_id": "c1", "outgoing": False},
    {"msisdn": "s1", "datetime": "2016-01-01 10:30:00", "location_id": "c2", "outgoing": True},
    {"msisdn": "s3", "datetime": "2016-01-01 11:00:00", "location_id": "c3", "outgoing": False},
    {"msisdn": "s1", "datetime": "2016-01-02 10:05:30", "location_id": "c1", "outgoing": False},
    # After the range [2016-01-01, 2016-01-03): never counted.
    {"msisdn": "s1", "datetime": "2016-01-03 00:00:00", "location_id": "c1", "outgoing": True},
]
SMS = [
    {"msisdn": "s2", "datetime": "2016-01-01 10:05:10", "location_id": "c1", "outgoing": True},
    {"msisdn": "s4", "datetime": "2016-01-01 23:59:59", "location_id": "c3", "outgoing": True},
]


@pytest.fixture
def small_dsn(fresh_dsn: str) -> str:
    """A database holding two regions, three cells, six calls and two SMS rows."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_cells(fresh_dsn, CELLS)
    insert_events(fresh_dsn, "calls", CALLS)
    insert_events(fresh_dsn, "sms", SMS)
    return fresh_dsn


def counts_spec(**overrides: Any) -> dict[str, Any]:
    """Return a location_event_counts spec over 2016-01-01 and 2016-01-02 at admin3."""
    spec: dict[str, Any] = {
        "query_kind": "location_event_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-03",
        "interval": "day",
        "aggregation_unit": "admin3",
        "event_types": ["calls", "sms", "calls"],
    }
    spec.update(overrides)
    return spec


def released_values(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
    """Map each row's location and bucket columns to its value."""
    return {tuple(v for k, v in row.items() if k != "value"): row["value"] for row in rows}


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("both", {("A", "2016-01-01"): 4, ("B", "2016-01-01"): 2, ("A", "2016-01-02"): 1}),
        ("out", {("A", "2016-01-01"): 3, ("B", "2016-01-01"): 1}),
        ("in", {("A", "2016-01-01"): 1, ("B", "2016-01-01"): 1, ("A", "2016-01-02"): 1}),
    ],
)
def test_day_counts_each_direction(
    run_on: Any, small_dsn: str, direction: str, expected: dict[tuple[Any, ...], int]
) -> None:
    rows = run_on(small_dsn)(counts_spec(direction=direction))
    assert released_values(rows) == expected


def test_hour_counts(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(interval="hour"))
    assert list(rows[0]) == ["pcod", "date", "hour", "value"]
    assert released_values(rows) == {
        ("A", "2016-01-01", 10): 4,
        ("B", "2016-01-01", 11): 1,
        ("B", "2016-01-01", 23): 1,
        ("A", "2016-01-02", 10): 1,
    }


def test_minute_counts(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(interval="min"))
    assert list(rows[0]) == ["pcod", "date", "hour", "min", "value"]
    assert released_values(rows) == {
        ("A", "2016-01-01", 10, 5): 3,
        ("A", "2016-01-01", 10, 30): 1,
        ("B", "2016-01-01", 11, 0): 1,
        ("B", "2016-01-01", 23, 59): 1,
        ("A", "2016-01-02", 10, 5): 1,
    }


def test_day_columns_and_types(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec())
    assert list(rows[0]) == ["pcod", "date", "value"]
    assert all(isinstance(row["date"], str) for row in rows)


def test_single_event_type(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(event_types=["sms"]))
    assert released_values(rows) == {("A", "2016-01-01"): 1, ("B", "2016-01-01"): 1}


def test_hours_window(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(hours={"start_hour": 11, "end_hour": 0}))
    assert released_values(rows) == {("B", "2016-01-01"): 2}


def test_lon_lat_unit(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(aggregation_unit="lon-lat", direction="out"))
    assert released_values(rows) == {
        (80.5, 27.5, "2016-01-01"): 2,
        (80.6, 27.6, "2016-01-01"): 1,
        (82.5, 27.5, "2016-01-01"): 1,
    }


def test_partial_last_day_left_out(run_on: Any, small_dsn: str) -> None:
    rows = run_on(small_dsn)(counts_spec(end_date="2016-01-02T12:00:00"))
    assert released_values(rows) == {("A", "2016-01-01"): 4, ("B", "2016-01-01"): 2}


def test_range_under_one_day_hourly(run_on: Any, small_dsn: str) -> None:
    spec = counts_spec(
        start_date="2016-01-01T10:00:00", end_date="2016-01-01T11:00:00", interval="hour"
    )
    rows = run_on(small_dsn)(spec)
    # The 11:00 call in region B is at the end of the range, so it is left out.
    assert released_values(rows) == {("A", "2016-01-01", 10): 4}


def test_range_under_one_day_by_minute(run_on: Any, small_dsn: str) -> None:
    spec = counts_spec(
        start_date="2016-01-01T10:00:00", end_date="2016-01-01T10:30:00", interval="min"
    )
    rows = run_on(small_dsn)(spec)
    assert released_values(rows) == {("A", "2016-01-01", 10, 5): 3}


@pytest.mark.parametrize("counted", [False, True], ids=["from events", "from hour counts"])
def test_small_counts_redacted_by_subscribers(run_on: Any, small_dsn: str, counted: bool) -> None:
    if counted:
        # The release rule then reads the hour counts, grouped by region key.
        count_ingested_days(small_dsn)
    spec = counts_spec(direction="in")
    # Region A on 2016-01-01 counts one incoming row, but s1 and s2 were both seen there.
    released = released_values(run_on(small_dsn)(spec, redact=1))
    assert released == {("A", "2016-01-01"): 1, ("B", "2016-01-01"): 1}
    assert run_on(small_dsn)(spec, redact=2) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_types": ["calls", "voice"]}, "$.event_types: 'voice' is not one of"),
        ({"event_types": []}, "$.event_types: must list at least one event type"),
        ({"interval": "minute"}, "$.interval: 'minute' is not one of day, hour, min"),
        ({"direction": "sideways"}, "$.direction: 'sideways' is not one of"),
        ({"end_date": "2016-01-01T12:00:00"}, "$: interval 'day' needs end_date"),
        ({"end_date": "2015-12-31"}, "must be before end_date"),
    ],
)
def test_invalid_spec_rejected(converter: Any, change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(counts_spec(**change))
    assert any(line.startswith(message) or message in line for line in raised.value.messages)


def test_direction_needs_outgoing_column(run_on: Any, small_dsn: str) -> None:
    insert_events(
        small_dsn, "mds", [{"msisdn": "s1", "datetime": "2016-01-01 09:00", "location_id": "c1"}]
    )
    with pytest.raises(InvalidSpecError) as raised:
        run_on(small_dsn)(counts_spec(event_types=["mds"], direction="out"))
    assert "direction" in raised.value.messages[0]


def crowd(count: int, hour: int, *, outgoing: bool = False) -> list[dict[str, Any]]:
    """Return one call row for each of ``count`` distinct subscribers at c1 in ``hour``."""
    return [
        {
            "msisdn": f"crowd{hour}-{index}",
            "datetime": f"2016-01-05 {hour:02d}:{index:02d}:00",
            "location_id": "c1",
            "outgoing": outgoing,
        }
        for index in range(count)
    ]


@pytest.fixture
def crowd_dsn(fresh_dsn: str) -> str:
    """16 distinct subscribers at c1 in hour 8, and 15 subscribers (with 40 rows) in hour 9."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_cells(fresh_dsn, CELLS[:1])
    rows = crowd(16, 8) + crowd(15, 9) * 2 + crowd(10, 9, outgoing=True)
    # One outgoing row in hour 8, so a direction "out" count of 1 is still released there.
    rows[0] = {**rows[0], "outgoing": True}
    insert_events(fresh_dsn, "calls", rows)
    return fresh_dsn


def test_redaction_counts_distinct_subscribers(run_on: Any, crowd_dsn: str) -> None:
    spec = counts_spec(
        start_date="2016-01-05", end_date="2016-01-06", interval="hour", event_types=None
    )
    raw = released_values(run_on(crowd_dsn)(spec))
    assert raw == {("A", "2016-01-05", 8): 16, ("A", "2016-01-05", 9): 40}
    released = run_on(crowd_dsn)(spec, redact=15)
    # Hour 9 has 40 rows but only 15 distinct subscribers: not released.
    assert released == [{"pcod": "A", "date": "2016-01-05", "hour": 8, "value": 16}]


def test_redaction_ignores_direction(run_on: Any, crowd_dsn: str) -> None:
    spec = counts_spec(
        start_date="2016-01-05", end_date="2016-01-06", interval="hour", direction="out"
    )
    released = run_on(crowd_dsn)(spec, redact=15)
    assert released == [{"pcod": "A", "date": "2016-01-05", "hour": 8, "value": 1}]
    assert run_on(crowd_dsn)(spec, redact=16) == []


def test_subset_counts_and_release(run_on: Any, small_dsn: str) -> None:
    daily = {
        "query_kind": "daily_location",
        "date": "2016-01-02",
        "method": "last",
        "aggregation_unit": "admin3",
    }
    with flowcore.connect(small_dsn) as session:
        subset = session.run(daily).query_id
    spec = counts_spec(subscriber_subset=subset)
    # Only s1 had an event on 2016-01-02, so only s1's rows count.
    assert released_values(run_on(small_dsn)(spec)) == {
        ("A", "2016-01-01"): 2,
        ("A", "2016-01-02"): 1,
    }
    # The release rule counts every subscriber seen: s1 and s2 in A on 2016-01-01, s1 alone
    # on 2016-01-02.
    assert released_values(run_on(small_dsn)(spec, redact=1)) == {("A", "2016-01-01"): 2}


def test_p_code_with_two_polygons(run_on: Any, fresh_dsn: str) -> None:
    # Region A has two polygons (two rows of geography.admin3). The hour counts are grouped by
    # an integer region key, and s1, seen in both halves, must still count once.
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "A", square(81, 27, 1))
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 80.5, "lat": 27.5}, {"id": "c2", "lon": 81.5, "lat": 27.5}],
    )
    insert_events(
        fresh_dsn,
        "calls",
        [
            {"msisdn": "s1", "datetime": "2016-01-01 10:05:00", "location_id": "c1"},
            {"msisdn": "s1", "datetime": "2016-01-01 10:40:00", "location_id": "c2"},
            {"msisdn": "s2", "datetime": "2016-01-01 10:50:00", "location_id": "c2"},
        ],
    )
    count_ingested_days(fresh_dsn)
    spec = counts_spec(end_date="2016-01-02", interval="hour", event_types=["calls"])

    assert run_on(fresh_dsn)(spec) == [{"pcod": "A", "date": "2016-01-01", "hour": 10, "value": 3}]
    assert len(run_on(fresh_dsn)(spec, redact=1)) == 1
    assert run_on(fresh_dsn)(spec, redact=2) == []
