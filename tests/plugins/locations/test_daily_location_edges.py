"""daily_location on hand-made events: day bounds, hour windows, ties and cell versions."""

from __future__ import annotations

from location_helpers import SpecRunner, add_calls, daily, repeated_locations


def test_midnight_event_belongs_to_next_day(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 23:00:00", "C1"),
            ("alice", "2016-01-02 00:00:00", "C2"),
            ("bob", "2016-01-02 00:00:00", "C3"),
        ],
    )

    first_day = world.locations(daily("2016-01-01"))
    second_day = world.locations(daily("2016-01-02"))

    assert first_day == {"alice": "R1"}
    assert second_day == {"alice": "R2", "bob": "R3"}


def test_time_in_date_means_whole_day(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-02 05:00:00", "C1"),
            ("bob", "2016-01-02 07:00:00", "C2"),
            ("bob", "2016-01-03 05:00:00", "C3"),
        ],
    )

    located = world.locations(daily("2016-01-02T06:00:00"))

    assert located == {"alice": "R1", "bob": "R2"}


def test_night_window_stays_inside_date(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: the previous evening is outside the date, 12:00 outside the window.
            ("alice", "2016-01-01 23:30:00", "C3"),
            ("alice", "2016-01-02 05:00:00", "C2"),
            ("alice", "2016-01-02 12:00:00", "C3"),
            ("alice", "2016-01-02 22:30:00", "C1"),
            # bob: 06:00 is outside the half-open window, the next night is another date.
            ("bob", "2016-01-02 05:59:59", "C2"),
            ("bob", "2016-01-02 06:00:00", "C3"),
            ("bob", "2016-01-03 01:00:00", "C1"),
            # carol: events only on the neighbouring nights.
            ("carol", "2016-01-01 23:00:00", "C1"),
            ("carol", "2016-01-03 02:00:00", "C1"),
        ],
    )
    night = {"start_hour": 22, "end_hour": 6}

    last = world.locations(daily("2016-01-02", hours=night))
    most_common = world.locations(daily("2016-01-02", method="most-common", hours=night))

    assert last == {"alice": "R1", "bob": "R2"}
    # alice: R2 (05:00) and R1 (22:30) have one event each; the later one wins.
    assert most_common == {"alice": "R1", "bob": "R2"}


def test_most_common_ties_repeatable(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: two events each in R1 and R2; R2's latest event is later.
            ("alice", "2016-01-01 08:00:00", "C1"),
            ("alice", "2016-01-01 09:00:00", "C2"),
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-01 11:00:00", "C2"),
            # bob: one event each in R3 and R2 at the same moment; the smaller pcod wins.
            ("bob", "2016-01-01 10:00:00", "C3"),
            ("bob", "2016-01-01 10:00:00", "C2"),
            # carol: R1 has more events although R3 has the latest one.
            ("carol", "2016-01-01 08:00:00", "C1"),
            ("carol", "2016-01-01 09:00:00", "C1B"),
            ("carol", "2016-01-01 12:00:00", "C3"),
        ],
    )
    spec = daily("2016-01-01", method="most-common")

    runs = repeated_locations(world, spec)

    assert runs[0] == {"alice": "R2", "bob": "R2", "carol": "R1"}
    assert all(run == runs[0] for run in runs)


def test_most_common_lon_lat_tie_smallest_point(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-01 10:00:00", "C1B"),
        ],
    )

    runs = repeated_locations(world, daily("2016-01-01", "lon-lat", "most-common"))

    assert runs[0] == {"alice": (80.25, 27.25)}
    assert all(run == runs[0] for run in runs)


def test_last_tie_smallest_unit_value(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 09:00:00", "C1"),
            ("alice", "2016-01-01 18:00:00", "C3"),
            ("alice", "2016-01-01 18:00:00", "C2"),
        ],
    )

    runs = repeated_locations(world, daily("2016-01-01"))

    assert runs[0] == {"alice": "R2"}
    assert all(run == runs[0] for run in runs)


def test_unlocatable_events_give_no_location(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: only unknown, outside and retired cells.
            ("alice", "2016-01-01 08:00:00", "NOSUCH"),
            ("alice", "2016-01-01 09:00:00", "OUT"),
            ("alice", "2016-01-01 10:00:00", "RETIRED"),
            # bob: his later events cannot be located, so his last location is R1.
            ("bob", "2016-01-01 08:00:00", "C1"),
            ("bob", "2016-01-01 20:00:00", "OUT"),
            ("bob", "2016-01-01 21:00:00", "NOSUCH"),
            ("bob", "2016-01-01 22:00:00", "RETIRED"),
        ],
    )

    admin = world.locations(daily("2016-01-01"))
    lon_lat = world.locations(daily("2016-01-01", "lon-lat"))
    counts = world.rows({"query_kind": "spatial_aggregate", "locations": daily("2016-01-01")})

    assert admin == {"bob": "R1"}
    # OUT has coordinates, so only the unknown and retired cells are unlocatable at lon-lat.
    assert lon_lat == {"alice": (90.5, 10.5), "bob": (90.5, 10.5)}
    assert counts == [{"pcod": "R1", "value": 1}]


def test_moved_cell_maps_by_event_date(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-02 10:00:00", "MOVED"),
            ("alice", "2016-01-03 10:00:00", "MOVED"),
        ],
    )

    assert world.locations(daily("2016-01-02")) == {"alice": "R1"}
    assert world.locations(daily("2016-01-03")) == {"alice": "R2"}
    assert world.locations(daily("2016-01-02", "lon-lat")) == {"alice": (80.6, 27.6)}
    assert world.locations(daily("2016-01-03", "lon-lat")) == {"alice": (81.6, 27.6)}


def test_daily_location_columns(world: SpecRunner, world_dsn: str) -> None:
    add_calls(world_dsn, [("alice", "2016-01-01 10:00:00", "C1")])

    assert world.columns(daily("2016-01-01")) == ["subscriber", "pcod"]
    assert world.columns(daily("2016-01-01", "lon-lat")) == ["subscriber", "lon", "lat"]
