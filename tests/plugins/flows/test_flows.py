"""flows, inflows and outflows on hand-made events: join types, null groups and redaction."""

from __future__ import annotations

import psycopg
import pytest
from flows_helpers import SpecRunner, add_calls, daily, flows

FIRST, SECOND = daily("2016-01-01"), daily("2016-01-02")

#: Daily locations: day 1 then day 2 (None: no event that day).
MOVES = {
    "alice": ("C1", "C2"),
    "bob": ("C1", "C1"),
    "carol": ("C2", "C2"),
    "dave": ("C3", None),
    "dan": ("C3", None),
    "erin": (None, "C3"),
}

INNER = {("R1", "R2"): 1, ("R1", "R1"): 1, ("R2", "R2"): 1}
LEFT = {**INNER, ("R3", None): 2}
RIGHT = {**INNER, (None, "R3"): 1}
FULL = {**LEFT, (None, "R3"): 1}


@pytest.fixture
def moves(world_dsn: str) -> None:
    """Insert one call per subscriber and day as listed in ``MOVES``."""
    calls = []
    for subscriber, cells in MOVES.items():
        for day, cell in zip(("2016-01-01", "2016-01-02"), cells, strict=True):
            if cell is not None:
                calls.append((subscriber, f"{day} 12:00:00", cell))
    add_calls(world_dsn, calls)


@pytest.mark.parametrize(
    ("join_type", "expected"),
    [
        (None, INNER),
        ("inner", INNER),
        ("left", LEFT),
        ("left outer", LEFT),
        ("right", RIGHT),
        ("right outer", RIGHT),
        ("full outer", FULL),
    ],
)
def test_flows_join_types(
    world: SpecRunner, moves: None, join_type: str | None, expected: dict[tuple[str, str], int]
) -> None:
    assert world.counts(flows(FIRST, SECOND, join_type)) == expected


def test_flows_columns(world: SpecRunner, moves: None) -> None:
    lon_lat = flows(daily("2016-01-01", "lon-lat"), daily("2016-01-02", "lon-lat"))

    assert world.columns(flows(FIRST, SECOND)) == ["pcod_from", "pcod_to", "value"]
    assert world.columns(lon_lat) == ["lon_from", "lat_from", "lon_to", "lat_to", "value"]
    assert world.counts(lon_lat) == {
        (80.5, 27.5, 81.5, 27.5): 1,
        (80.5, 27.5, 80.5, 27.5): 1,
        (81.5, 27.5, 81.5, 27.5): 1,
    }


@pytest.mark.parametrize(
    ("join_type", "inflows", "outflows"),
    [
        ("inner", {"R2": 2, "R1": 1}, {"R1": 2, "R2": 1}),
        ("full outer", {"R2": 2, "R1": 1, "R3": 1, None: 2}, {"R1": 2, "R2": 1, "R3": 2, None: 1}),
    ],
)
def test_inflows_outflows_sums(
    world: SpecRunner,
    moves: None,
    join_type: str,
    inflows: dict[str | None, int],
    outflows: dict[str | None, int],
) -> None:
    inflow_spec = flows(FIRST, SECOND, join_type, query_kind="inflows")
    outflow_spec = flows(FIRST, SECOND, join_type, query_kind="outflows")

    assert world.counts(inflow_spec) == inflows
    assert world.counts(outflow_spec) == outflows
    assert world.columns(inflow_spec) == ["pcod", "value"]
    assert all(isinstance(row["value"], int) for row in world.rows(inflow_spec))


def test_flows_to_location_set(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 12:00:00", "C1"),
            ("alice", "2016-01-02 12:00:00", "C2"),
            ("alice", "2016-01-03 12:00:00", "C3"),
            ("alice", "2016-01-03 13:00:00", "C2"),
            ("bob", "2016-01-01 12:00:00", "C2"),
        ],
    )
    visited = {
        "query_kind": "unique_locations",
        "start_date": "2016-01-02",
        "end_date": "2016-01-04",
        "aggregation_unit": "admin3",
    }

    assert world.counts(flows(FIRST, visited)) == {("R1", "R2"): 1, ("R1", "R3"): 1}
    assert world.counts(flows(FIRST, visited, "left")) == {
        ("R1", "R2"): 1,
        ("R1", "R3"): 1,
        ("R2", None): 1,
    }


def test_flows_redaction_threshold(world: SpecRunner, world_dsn: str) -> None:
    calls = []
    for number in range(16):
        calls += [(f"north-{number}", "2016-01-01 12:00:00", "C1")]
        calls += [(f"north-{number}", "2016-01-02 12:00:00", "C2")]
    for number in range(15):
        calls += [(f"south-{number}", "2016-01-01 12:00:00", "C1")]
        calls += [(f"south-{number}", "2016-01-02 12:00:00", "C3")]
    add_calls(world_dsn, calls)

    raw = world.counts(flows(FIRST, SECOND))
    released = world.counts(flows(FIRST, SECOND), redact=True)
    inflows = world.counts(flows(FIRST, SECOND, query_kind="inflows"), redact=True)
    outflows = world.counts(flows(FIRST, SECOND, query_kind="outflows"), redact=True)

    assert raw == {("R1", "R2"): 16, ("R1", "R3"): 15}
    assert released == {("R1", "R2"): 16}
    assert inflows == {"R2": 16}
    assert outflows == {"R1": 31}


def test_flows_cache_indexes(world: SpecRunner, world_dsn: str, moves: None) -> None:
    spec = flows(FIRST, SECOND)
    world.rows(spec)
    table = f"x{world.session.query_id(spec)}"

    with psycopg.connect(world_dsn) as connection:
        definitions = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'cache' AND tablename = %s",
            [table],
        ).fetchall()

    # An index definition reads "CREATE INDEX name ON table USING btree (columns) WITH ...".
    indexed = sorted(definition.split("(", 1)[1].split(")", 1)[0] for (definition,) in definitions)
    assert indexed == ["pcod_from", "pcod_to"]
