"""location_introversion and the two trip OD matrices on hand-made events."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.testing import insert_cells, insert_events, insert_region, square

# Region A contains cells c1 and c2, region B contains c3.
CELLS = [
    {"id": "c1", "lon": 80.5, "lat": 27.5},
    {"id": "c2", "lon": 80.6, "lat": 27.6},
    {"id": "c3", "lon": 82.5, "lat": 27.5},
]


def call(event_id: str, subscriber: str, cell: str, outgoing: bool, moment: str) -> dict[str, Any]:
    """Return one party's row of a call."""
    return {
        "id": event_id,
        "msisdn": subscriber,
        "location_id": cell,
        "outgoing": outgoing,
        "datetime": f"2016-01-01 {moment}",
    }


# e1: both parties in A; e2: A to B; e3: both parties in B; e4: the other party is not a
# subscriber of the network, so it has one row only.
PAIRED_CALLS = [
    call("e1", "s1", "c1", True, "10:00:00"),
    call("e1", "s2", "c2", False, "10:00:00"),
    call("e2", "s1", "c1", True, "11:00:00"),
    call("e2", "s3", "c3", False, "11:00:00"),
    call("e3", "s4", "c3", True, "12:00:00"),
    call("e3", "s5", "c3", False, "12:00:00"),
    call("e4", "s2", "c2", True, "13:00:00"),
]


@pytest.fixture
def regions_dsn(fresh_dsn: str) -> str:
    """A database with regions A and B and three cells, without events."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_cells(fresh_dsn, CELLS)
    return fresh_dsn


def region_spec(kind: str, **overrides: Any) -> dict[str, Any]:
    """Return a spec of ``kind`` over 2016-01-01 at admin3."""
    spec: dict[str, Any] = {
        "query_kind": kind,
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("both", {"A": 2 / 3, "B": 2 / 3}),
        ("out", {"A": 1 / 2, "B": 1.0}),
        ("in", {"A": 1.0, "B": 1 / 2}),
    ],
)
def test_introversion_each_direction(
    run_on: Any, regions_dsn: str, direction: str, expected: dict[str, float]
) -> None:
    insert_events(regions_dsn, "calls", PAIRED_CALLS)
    rows = run_on(regions_dsn)(region_spec("location_introversion", direction=direction))
    assert list(rows[0]) == ["pcod", "value"]
    assert {row["pcod"]: row["value"] for row in rows} == pytest.approx(expected)


def test_introversion_redacted_by_subscribers(run_on: Any, regions_dsn: str) -> None:
    insert_events(regions_dsn, "calls", PAIRED_CALLS)
    spec = region_spec("location_introversion")
    # A has rows of s1 and s2, B of s3, s4 and s5.
    assert run_on(regions_dsn)(spec, redact=2) == [{"pcod": "B", "value": pytest.approx(2 / 3)}]
    assert run_on(regions_dsn)(spec, redact=3) == []


@pytest.mark.parametrize("direction", ["in", "out"])
def test_introversion_direction_needs_outgoing(
    run_on: Any, regions_dsn: str, direction: str
) -> None:
    insert_events(regions_dsn, "calls", PAIRED_CALLS)
    insert_events(regions_dsn, "mds", [visit("s1", "c1", "08:00:00")])
    spec = region_spec("location_introversion", direction=direction, event_types=["calls", "mds"])
    with pytest.raises(InvalidSpecError) as raised:
        run_on(regions_dsn)(spec)
    assert raised.value.messages == [
        f"$.direction: {direction!r} needs event types with an outgoing column (calls, sms); "
        "mds have none"
    ]


def test_introversion_mds_both_directions(run_on: Any, regions_dsn: str) -> None:
    # Data sessions have no outgoing column and no counterpart, so none is introverted.
    insert_events(regions_dsn, "mds", [visit("s1", "c1", "08:00:00")])
    rows = run_on(regions_dsn)(region_spec("location_introversion", event_types=["mds"]))
    assert rows == []


def visit(subscriber: str, cell: str, moment: str) -> dict[str, Any]:
    """Return one event of ``subscriber`` at ``cell`` on 2016-01-01."""
    return {"msisdn": subscriber, "location_id": cell, "datetime": f"2016-01-01 {moment}"}


# t1: A, B, A, A, B; t2: B then A; t3: A and B at the same second.
VISITS = [
    visit("t1", "c1", "08:00:00"),
    visit("t1", "c3", "09:00:00"),
    visit("t1", "c1", "10:00:00"),
    visit("t1", "c2", "11:00:00"),
    visit("t1", "c3", "12:00:00"),
    visit("t2", "c3", "08:00:00"),
    visit("t2", "c2", "09:00:00"),
    visit("t3", "c3", "08:00:00"),
    visit("t3", "c1", "08:00:00"),
]


def od_values(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Map (pcod_from, pcod_to) of each row to its value."""
    return {(row["pcod_from"], row["pcod_to"]): row["value"] for row in rows}


def test_consecutive_trips(run_on: Any, regions_dsn: str) -> None:
    insert_events(regions_dsn, "sms", VISITS)
    rows = run_on(regions_dsn)(region_spec("consecutive_trips_od_matrix"))
    assert list(rows[0]) == ["pcod_from", "pcod_to", "value"]
    # t1 goes from A to B twice but counts once; t3's tie is ordered by cell id (c1, then c3).
    assert od_values(rows) == {("A", "B"): 2, ("B", "A"): 2, ("A", "A"): 1}


def test_trips_first_before_last(run_on: Any, regions_dsn: str) -> None:
    insert_events(regions_dsn, "sms", VISITS)
    rows = run_on(regions_dsn)(region_spec("trips_od_matrix"))
    assert list(rows[0]) == ["pcod_from", "pcod_to", "value"]
    # t3 was at A and B at the same second only: no trip either way.
    assert od_values(rows) == {("A", "B"): 1, ("B", "A"): 2}


def test_trips_at_lon_lat(run_on: Any, regions_dsn: str) -> None:
    insert_events(regions_dsn, "sms", VISITS[5:7])
    rows = run_on(regions_dsn)(region_spec("trips_od_matrix", aggregation_unit="lon-lat"))
    assert rows == [
        {"lon_from": 82.5, "lat_from": 27.5, "lon_to": 80.6, "lat_to": 27.6, "value": 1}
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("consecutive_trips_od_matrix", {("A", "B"), ("B", "A")}),
        ("trips_od_matrix", {("B", "A")}),
    ],
)
def test_trip_matrices_redacted(
    run_on: Any, regions_dsn: str, kind: str, expected: set[tuple[str, str]]
) -> None:
    insert_events(regions_dsn, "sms", VISITS)
    released = run_on(regions_dsn)(region_spec(kind), redact=1)
    assert set(od_values(released)) == expected
