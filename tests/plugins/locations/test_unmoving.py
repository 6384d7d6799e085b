"""unmoving_counts and unmoving_at_reference_location_counts on hand-made events."""

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


def unmoving(unit: str = "admin3") -> dict[str, Any]:
    """Return an ``unmoving_counts`` spec over 2016-01-01 and 2016-01-02."""
    return {"query_kind": "unmoving_counts", "locations": visited("2016-01-01", "2016-01-03", unit)}


def unmoving_at_reference(
    unit: str = "admin3", reference_unit: str | None = None
) -> dict[str, Any]:
    """Return an ``unmoving_at_reference_location_counts`` spec.

    The reference location is the last location of 2016-01-01 and the visits are those of
    2016-01-02 and 2016-01-03.
    """
    return {
        "query_kind": "unmoving_at_reference_location_counts",
        "locations": visited("2016-01-02", "2016-01-04", unit),
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


UNMOVING_CALLS = [
    # alice: two cells, both in R1, so unmoving at admin3 but not at lon-lat.
    ("alice", "2016-01-01 10:00:00", "C1"),
    ("alice", "2016-01-02 10:00:00", "C1B"),
    # bob: R1 then R2, moving.
    ("bob", "2016-01-01 10:00:00", "C1"),
    ("bob", "2016-01-02 10:00:00", "C2"),
    # carol: R2 only, unmoving.
    ("carol", "2016-01-01 11:00:00", "C2"),
    ("carol", "2016-01-02 11:00:00", "C2"),
    # dave: R3 then R2, moving, so R3 counts 0.
    ("dave", "2016-01-01 12:00:00", "C3"),
    ("dave", "2016-01-02 12:00:00", "C2"),
    # erin: only at a cell outside every region, so she has no location at admin3.
    ("erin", "2016-01-01 12:00:00", "OUT"),
    # frank: R3 on 2016-01-03, outside the range.
    ("frank", "2016-01-03 12:00:00", "C3"),
]


def test_unmoving_counts_hand_checked(world: SpecRunner, world_dsn: str) -> None:
    add_calls(world_dsn, UNMOVING_CALLS)
    spec = unmoving()

    assert world.columns(spec) == ["pcod", "value"]
    assert by_location(world.rows(spec)) == {"R1": 1, "R2": 1, "R3": 0}
    assert world.rows(spec, redact=True) == []


def test_unmoving_counts_lon_lat(world: SpecRunner, world_dsn: str) -> None:
    add_calls(world_dsn, UNMOVING_CALLS)
    spec = unmoving("lon-lat")

    rows = world.rows(spec)

    assert world.columns(spec) == ["lon", "lat", "value"]
    assert {(row["lon"], row["lat"]): row["value"] for row in rows} == {
        (80.5, 27.5): 0,
        (80.25, 27.25): 0,
        (81.5, 27.5): 1,
        (82.5, 27.5): 0,
        (90.5, 10.5): 1,
    }


def test_unmoving_counts_redacted(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            *crowd("stay-", 16, [("2016-01-01 10:00:00", "C1"), ("2016-01-02 10:00:00", "C1")]),
            *crowd("move-", 20, [("2016-01-01 10:00:00", "C2"), ("2016-01-02 10:00:00", "C3")]),
        ],
    )
    spec = unmoving()

    assert by_location(world.rows(spec)) == {"R1": 16, "R2": 0, "R3": 0}
    assert by_location(world.rows(spec, redact=True)) == {"R1": 16}


def test_unmoving_counts_rejects_single_location(world: SpecRunner) -> None:
    spec = {"query_kind": "unmoving_counts", "locations": daily("2016-01-01")}

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert raised.value.messages == [
        "$.locations.query_kind: 'daily_location' is not one of unique_locations"
    ]


def test_unmoving_at_reference_hand_checked(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: reference R1; later only R1 (two cells), so unmoving at R1.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C1B"),
            # bob: reference R1; later R1 and R2, so moving.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 10:00:00", "C1"),
            ("bob", "2016-01-03 10:00:00", "C2"),
            # carol: reference R2 (last call of the 1st); later R2 only.
            ("carol", "2016-01-01 08:00:00", "C3"),
            ("carol", "2016-01-01 09:00:00", "C2"),
            ("carol", "2016-01-02 09:00:00", "C2"),
            # dave: reference R3; never seen again, so not counted and R3 counts 0.
            ("dave", "2016-01-01 12:00:00", "C3"),
            # erin: reference R2; later R3 only, so moving.
            ("erin", "2016-01-01 12:00:00", "C2"),
            ("erin", "2016-01-02 12:00:00", "C3"),
            # frank: no reference location, so his visits count nowhere.
            ("frank", "2016-01-02 12:00:00", "C1"),
        ],
    )
    spec = unmoving_at_reference()

    assert world.columns(spec) == ["pcod", "value"]
    assert by_location(world.rows(spec)) == {"R1": 1, "R2": 1, "R3": 0}
    assert world.rows(spec, redact=True) == []


def test_unmoving_at_reference_redacted(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            *crowd("stay-", 16, [("2016-01-01 10:00:00", "C2"), ("2016-01-02 10:00:00", "C2")]),
            *crowd("few-", 15, [("2016-01-01 10:00:00", "C1"), ("2016-01-03 10:00:00", "C1")]),
            *crowd("move-", 20, [("2016-01-01 10:00:00", "C3"), ("2016-01-02 10:00:00", "C2")]),
        ],
    )
    spec = unmoving_at_reference()

    assert by_location(world.rows(spec)) == {"R1": 15, "R2": 16, "R3": 0}
    assert by_location(world.rows(spec, redact=True)) == {"R2": 16}


@pytest.mark.parametrize(
    ("unit", "reference_unit", "found"),
    [("admin3", "admin1", "admin3, admin1"), ("admin2", "lon-lat", "admin2, lon-lat")],
)
def test_unmoving_at_reference_unit_mismatch(
    world: SpecRunner, unit: str, reference_unit: str, found: str
) -> None:
    spec = unmoving_at_reference(unit, reference_unit)

    with pytest.raises(InvalidSpecError) as raised:
        world.session.spec(spec)

    assert raised.value.messages == [
        "$: 'locations' and 'reference_locations' parameters must have the same aggregation "
        f"unit (found {found})"
    ]
