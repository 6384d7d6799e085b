"""modal_location on hand-made events: votes, documented ties, identity and nesting."""

from __future__ import annotations

from typing import Any

from location_helpers import SpecRunner, add_calls, daily, repeated_locations

from flowcore.model.identity import query_id


def modal(*locations: dict[str, Any]) -> dict[str, Any]:
    """Return a ``modal_location`` spec of the given location specs."""
    return {"query_kind": "modal_location", "locations": list(locations)}


def days(count: int, unit: str = "admin3") -> list[dict[str, Any]]:
    """Return daily_location specs (method last) for 2016-01-01 and the following days."""
    return [daily(f"2016-01-0{day}", unit) for day in range(1, count + 1)]


def test_modal_most_days_wins(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C2"),
            ("alice", "2016-01-03 10:00:00", "C1"),
            ("alice", "2016-01-04 10:00:00", "C3"),
        ],
    )

    assert world.locations(modal(*days(4))) == {"alice": "R1"}


def test_modal_ties_repeatable(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: R1 and R2 on two days each; R2's most recent day (4th) is latest.
            ("alice", "2016-01-01 10:00:00", "C2"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C1"),
            ("alice", "2016-01-04 10:00:00", "C2"),
            # bob: R3 then R1, one day each; R1 is the later day.
            ("bob", "2016-01-01 10:00:00", "C3"),
            ("bob", "2016-01-02 10:00:00", "C1"),
            # carol: only seen on the 3rd.
            ("carol", "2016-01-03 12:00:00", "C3"),
        ],
    )
    spec = modal(*days(4))

    runs = repeated_locations(world, spec)

    assert runs[0] == {"alice": "R2", "bob": "R1", "carol": "R3"}
    assert all(run == runs[0] for run in runs)


def test_modal_same_day_tie_smallest_unit(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # last: R3; most-common: R2 (two events). Both inputs stand for 2016-01-01.
            ("alice", "2016-01-01 08:00:00", "C2"),
            ("alice", "2016-01-01 09:00:00", "C2"),
            ("alice", "2016-01-01 20:00:00", "C3"),
        ],
    )
    spec = modal(daily("2016-01-01"), daily("2016-01-01", method="most-common"))

    runs = repeated_locations(world, spec)

    assert runs[0] == {"alice": "R2"}
    assert all(run == runs[0] for run in runs)


def test_modal_lon_lat(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1B"),
            ("alice", "2016-01-03 10:00:00", "C1B"),
        ],
    )

    assert world.locations(modal(*days(3, "lon-lat"))) == {"alice": (80.25, 27.25)}
    assert world.columns(modal(*days(3, "lon-lat"))) == ["subscriber", "lon", "lat"]


def test_modal_of_modals(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C2"),
            ("alice", "2016-01-04 10:00:00", "C2"),
        ],
    )
    # Each inner modal is a 1–1 tie that its later day decides. The outer modal is a 1–1 tie
    # between inputs standing for the 1st (R1) and the 3rd (R2), so R2 wins.
    spec = modal(modal(*days(2)), modal(daily("2016-01-03"), daily("2016-01-04")))
    inner_first = world.locations(modal(daily("2016-01-01"), daily("2016-01-03")))

    assert inner_first == {"alice": "R2"}
    assert world.locations(spec) == {"alice": "R2"}


def test_modal_identity_ignores_order(world: SpecRunner) -> None:
    forward = world.converter.structure(modal(*days(3)))
    backward = world.converter.structure(modal(*reversed(days(3))))
    fewer = world.converter.structure(modal(*days(2)))

    assert query_id(forward, world.registry) == query_id(backward, world.registry)
    assert query_id(forward, world.registry) != query_id(fewer, world.registry)
