"""active_at_reference_location_counts and unique_visitor_counts on hand-made events.

The reference location of every test is the ``daily_location`` (method last) of 2016-01-01, and
the visited locations are the ``unique_locations`` of the following days, so a subscriber can
have a reference location they did not visit again.
"""

from __future__ import annotations

from typing import Any

import pytest
from location_helpers import SpecRunner, add_calls, daily

from flowcore.errors import InvalidSpecError


def visited(start: str, end: str, unit: str = "admin3") -> dict[str, Any]:
    """Return a ``unique_locations`` spec."""
    return {
        "query_kind": "unique_locations",
        "start_date": start,
        "end_date": end,
        "aggregation_unit": unit,
    }


def active_counts(unit: str = "admin3", reference_unit: str | None = None) -> dict[str, Any]:
    """Return the ``active_at_reference_location_counts`` spec used by these tests."""
    return {
        "query_kind": "active_at_reference_location_counts",
        "unique_locations": visited("2016-01-02", "2016-01-04", unit),
        "reference_locations": daily("2016-01-01", reference_unit or unit),
    }


def by_location(rows: list[dict[str, Any]]) -> dict[Any, Any]:
    """Return ``{pcod: value}`` of admin-unit rows."""
    return {row["pcod"]: row["value"] for row in rows}


def crowd(prefix: str, count: int, calls: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Return the same ``(moment, cell)`` calls for ``count`` subscribers named ``prefix<n>``."""
    return [
        (f"{prefix}{number}", moment, cell) for number in range(count) for moment, cell in calls
    ]


def test_active_counts_hand_checked(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: reference R1; visits R1 (C1B) and R2 later, so she is active at R1.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1B"),
            ("alice", "2016-01-03 10:00:00", "C2"),
            # bob: reference R1; visits only R2 later, so he is not active at R1.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 11:00:00", "C2"),
            # carol: reference R2 (her last call of the 1st); visits R2 later.
            ("carol", "2016-01-01 08:00:00", "C3"),
            ("carol", "2016-01-01 09:00:00", "C2"),
            ("carol", "2016-01-03 09:00:00", "C2"),
            # dave: reference R3; never seen again, so R3 counts 0.
            ("dave", "2016-01-01 12:00:00", "C3"),
            # erin: no reference location, so her visit to R3 counts nowhere.
            ("erin", "2016-01-02 12:00:00", "C3"),
        ],
    )
    spec = active_counts()

    assert world.columns(spec) == ["pcod", "value"]
    assert by_location(world.rows(spec)) == {"R1": 1, "R2": 1, "R3": 0}
    assert world.rows(spec, redact=True) == []


def test_active_counts_lon_lat(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # Both cells are in R1, so only lon-lat distinguishes them.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 10:00:00", "C1B"),
        ],
    )
    spec = active_counts("lon-lat")

    rows = world.rows(spec)

    assert world.columns(spec) == ["lon", "lat", "value"]
    assert {(row["lon"], row["lat"]): row["value"] for row in rows} == {(80.5, 27.5): 1}


def test_active_counts_redacted(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            *crowd("r1-", 16, [("2016-01-01 10:00:00", "C1"), ("2016-01-02 10:00:00", "C1")]),
            *crowd("r2-", 15, [("2016-01-01 10:00:00", "C2"), ("2016-01-02 10:00:00", "C2")]),
            *crowd("gone-", 20, [("2016-01-01 10:00:00", "C3")]),
        ],
    )
    spec = active_counts()

    assert by_location(world.rows(spec)) == {"R1": 16, "R2": 15, "R3": 0}
    assert by_location(world.rows(spec, redact=True)) == {"R1": 16}


@pytest.mark.parametrize(
    ("unit", "reference_unit", "found"),
    [("admin3", "admin2", "admin3, admin2"), ("lon-lat", "admin3", "lon-lat, admin3")],
)
def test_active_counts_unit_mismatch(
    world: SpecRunner, unit: str, reference_unit: str, found: str
) -> None:
    spec = active_counts(unit, reference_unit)

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert raised.value.messages == [
        "$: 'unique_locations' and 'reference_locations' parameters must have the same "
        f"aggregation unit (found {found})"
    ]


def test_active_counts_rejects_location_set_reference(world: SpecRunner) -> None:
    spec = {**active_counts(), "reference_locations": visited("2016-01-01", "2016-01-02")}

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert len(raised.value.messages) == 1
    assert raised.value.messages[0].startswith(
        "$.reference_locations.query_kind: 'unique_locations' is not one of "
    )


def visitor_counts(unit: str = "admin3", seen_unit: str | None = None) -> dict[str, Any]:
    """Return the ``unique_visitor_counts`` spec used by these tests, over the same days."""
    return {
        "query_kind": "unique_visitor_counts",
        "active_at_reference_location_counts": active_counts(unit),
        "unique_subscriber_counts": {
            "query_kind": "unique_subscriber_counts",
            "start_date": "2016-01-02",
            "end_date": "2016-01-04",
            "aggregation_unit": seen_unit or unit,
        },
    }


def test_visitor_counts_hand_checked(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: reference R1; seen at R1 and R2 later, so a visitor at R2 only.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1B"),
            ("alice", "2016-01-03 10:00:00", "C2"),
            # bob: reference R1; seen at R2 later, a visitor there.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 11:00:00", "C2"),
            # carol: reference R2; seen at R2 later, so not a visitor.
            ("carol", "2016-01-01 09:00:00", "C2"),
            ("carol", "2016-01-03 09:00:00", "C2"),
            # dave: reference R3; no subscriber is seen at R3 later, so R3 has no unique count.
            ("dave", "2016-01-01 12:00:00", "C3"),
        ],
    )
    spec = visitor_counts()

    assert world.columns(spec) == ["pcod", "value"]
    assert by_location(world.rows(spec)) == {"R1": 0, "R2": 2, "R3": None}
    assert world.rows(spec, redact=True) == []


def test_visitor_counts_redacts_inputs(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # R1: 16 at home and 16 visitors from R2, so 32 seen and 16 active.
            *crowd("home1-", 16, [("2016-01-01 10:00:00", "C1"), ("2016-01-02 10:00:00", "C1")]),
            *crowd("visit1-", 16, [("2016-01-01 10:00:00", "C2"), ("2016-01-02 10:00:00", "C1")]),
            # R3: 15 at home and 17 visitors: the active count 15 is redacted, so R3 is too.
            *crowd("home3-", 15, [("2016-01-01 10:00:00", "C3"), ("2016-01-02 10:00:00", "C3")]),
            *crowd("visit3-", 17, [("2016-01-01 10:00:00", "C2"), ("2016-01-03 10:00:00", "C3")]),
        ],
    )
    spec = visitor_counts()

    assert by_location(world.rows(spec)) == {"R1": 16, "R2": None, "R3": 17}
    assert by_location(world.rows(spec, redact=True)) == {"R1": 16}


def test_visitor_counts_unit_mismatch(world: SpecRunner) -> None:
    spec = visitor_counts("admin3", "admin2")

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert raised.value.messages == [
        "$: 'active_at_reference_location_counts' and 'unique_subscriber_counts' parameters "
        "must have the same aggregation unit (found admin3, admin2)"
    ]


def test_visitor_counts_rejects_other_aggregate(world: SpecRunner) -> None:
    spec = {
        **visitor_counts(),
        "unique_subscriber_counts": {
            "query_kind": "spatial_aggregate",
            "locations": daily("2016-01-02"),
        },
    }

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert raised.value.messages == [
        "$.unique_subscriber_counts.query_kind: 'spatial_aggregate' is not one of "
        "unique_subscriber_counts"
    ]
