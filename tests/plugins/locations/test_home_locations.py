"""Range and weighted home-location kinds on hand-made events."""

from __future__ import annotations

from typing import Any

from location_helpers import SpecRunner, add_calls, daily, repeated_locations


def ranged(kind: str, start: str, end: str, unit: str = "admin3", **extra: Any) -> dict[str, Any]:
    """Return a spec of a kind with ``start_date``, ``end_date`` and ``aggregation_unit``."""
    return {
        "query_kind": kind,
        "start_date": start,
        "end_date": end,
        "aggregation_unit": unit,
        **extra,
    }


def visits(*dates: str) -> dict[str, Any]:
    """Return a ``location_visits`` spec over daily locations (method last) of ``dates``."""
    return {"query_kind": "location_visits", "locations": [daily(date) for date in dates]}


def majority(weights: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return a ``majority_location`` spec."""
    return {"query_kind": "majority_location", "subscriber_location_weights": weights, **extra}


def test_most_frequent_location_rule(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C1B"),
            ("alice", "2016-01-03 11:00:00", "C2"),
            ("alice", "2016-01-03 12:00:00", "C2"),
            # bob: two events each; R2's latest is later.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-01 11:00:00", "C1"),
            ("bob", "2016-01-02 09:00:00", "C2"),
            ("bob", "2016-01-01 09:00:00", "C2"),
            # outside the range [01-01, 01-04)
            ("bob", "2016-01-04 00:00:00", "C3"),
            ("bob", "2016-01-04 01:00:00", "C3"),
            ("bob", "2016-01-04 02:00:00", "C3"),
        ],
    )
    spec = ranged("most_frequent_location", "2016-01-01", "2016-01-04")

    runs = repeated_locations(world, spec)

    assert runs[0] == {"alice": "R1", "bob": "R2"}
    assert all(run == runs[0] for run in runs)


def test_visited_most_days_rule(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: R1 on two days beats R2 on one day with more events.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            *(("alice", f"2016-01-03 1{hour}:00:00", "C2") for hour in range(5)),
            # bob: two days each; R2 has more events.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 10:00:00", "C1"),
            ("bob", "2016-01-02 11:00:00", "C2"),
            ("bob", "2016-01-03 11:00:00", "C2"),
            ("bob", "2016-01-03 12:00:00", "C2"),
            # carol: one day and one event each; R1's event is the latest.
            ("carol", "2016-01-01 10:00:00", "C3"),
            ("carol", "2016-01-02 10:00:00", "C1"),
        ],
    )
    spec = ranged("visited_most_days", "2016-01-01", "2016-01-04")

    runs = repeated_locations(world, spec)

    assert runs[0] == {"alice": "R1", "bob": "R2", "carol": "R1"}
    assert all(run == runs[0] for run in runs)


def test_unique_locations_pairs(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-01 11:00:00", "C1B"),
            ("alice", "2016-01-02 10:00:00", "C2"),
            ("alice", "2016-01-02 10:30:00", "OUT"),
            ("bob", "2016-01-02 10:00:00", "C3"),
            ("bob", "2016-01-03 10:00:00", "C1"),
        ],
    )
    spec = ranged("unique_locations", "2016-01-01", "2016-01-03")

    rows = world.rows(spec)
    lon_lat = world.rows(ranged("unique_locations", "2016-01-01", "2016-01-03", "lon-lat"))

    assert sorted((r["subscriber"], r["pcod"]) for r in rows) == [
        ("alice", "R1"),
        ("alice", "R2"),
        ("bob", "R3"),
    ]
    assert world.columns(spec) == ["subscriber", "pcod"]
    assert len(lon_lat) == 5


def test_unique_locations_sample_keeps_subscribers(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            (subscriber, "2016-01-01 10:00:00", cell)
            for subscriber in ("alice", "bob", "carol", "dave")
            for cell in ("C1", "C2", "C3")
        ],
    )
    sampling = {"sampling_method": "random_ids", "size": 2, "seed": 0.5}
    spec = ranged("unique_locations", "2016-01-01", "2016-01-02", sampling=sampling)

    rows = world.rows(spec)
    again = world.rows(spec)

    subscribers = {r["subscriber"] for r in rows}
    assert len(subscribers) == 2
    assert len(rows) == 6
    assert sorted(map(str, rows)) == sorted(map(str, again))


def test_location_visits_counts_inputs(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C2"),
            ("bob", "2016-01-03 10:00:00", "C3"),
        ],
    )
    spec = visits("2016-01-01", "2016-01-02", "2016-01-03")

    rows = world.rows(spec)

    assert world.columns(spec) == ["subscriber", "pcod", "value"]
    assert sorted((r["subscriber"], r["pcod"], r["value"]) for r in rows) == [
        ("alice", "R1", 2),
        ("alice", "R2", 1),
        ("bob", "R3", 1),
    ]


def test_majority_location_threshold(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: R1 on 2 of 3 days, a majority.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-03 10:00:00", "C2"),
            # bob: three places, no majority.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 10:00:00", "C2"),
            ("bob", "2016-01-03 10:00:00", "C3"),
            # carol: R1 on 2 of 4 days is exactly half, not more.
            ("carol", "2016-01-01 10:00:00", "C1"),
            ("carol", "2016-01-02 10:00:00", "C1"),
            ("carol", "2016-01-03 10:00:00", "C2"),
            ("carol", "2016-01-04 10:00:00", "C3"),
        ],
    )
    weights = visits("2016-01-01", "2016-01-02", "2016-01-03", "2016-01-04")

    plain = world.locations(majority(weights))
    with_unlocatable = world.locations(majority(weights, include_unlocatable=True))
    # A minimum total weight of 4 makes alice's 2 of 3 days no longer a majority.
    demanding = world.locations(majority(weights, minimum_total_weight=4))
    lenient = world.locations(majority(weights, minimum_total_weight=3.9))

    assert plain == {"alice": "R1"}
    assert with_unlocatable == {"alice": "R1", "bob": None, "carol": None}
    assert demanding == {}
    assert lenient == {"alice": "R1"}
    assert world.columns(majority(weights)) == ["subscriber", "pcod"]


def test_coalesced_location_fallback(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # alice: preferred (days 1-3) majority R1.
            ("alice", "2016-01-01 10:00:00", "C1"),
            ("alice", "2016-01-02 10:00:00", "C1"),
            ("alice", "2016-01-04 10:00:00", "C3"),
            ("alice", "2016-01-05 10:00:00", "C3"),
            # bob: no preferred majority; fallback (days 4-5) R3 visited twice.
            ("bob", "2016-01-01 10:00:00", "C1"),
            ("bob", "2016-01-02 10:00:00", "C2"),
            ("bob", "2016-01-03 10:00:00", "C3"),
            ("bob", "2016-01-04 10:00:00", "C3"),
            ("bob", "2016-01-05 10:00:00", "C3"),
            # carol: only a fallback, visited once: below the threshold of 2.
            ("carol", "2016-01-05 10:00:00", "C2"),
            # dave: no preferred majority and no fallback: keeps his null row.
            ("dave", "2016-01-01 10:00:00", "C1"),
            ("dave", "2016-01-02 10:00:00", "C2"),
        ],
    )
    late_visits = visits("2016-01-04", "2016-01-05")
    spec = {
        "query_kind": "coalesced_location",
        "preferred_location": majority(
            visits("2016-01-01", "2016-01-02", "2016-01-03"), include_unlocatable=True
        ),
        "fallback_location": majority(late_visits),
        "subscriber_location_weights": late_visits,
        "weight_threshold": 2,
    }

    assert world.locations(spec) == {"alice": "R1", "bob": "R3", "dave": None}
    assert world.columns(spec) == ["subscriber", "pcod"]


def test_weighted_kinds_accept_sampling(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            (subscriber, f"2016-01-0{day} 10:00:00", cell)
            for subscriber in ("alice", "bob", "carol", "dave")
            for day, cell in ((1, "C1"), (2, "C1"), (3, "C2"))
        ],
    )
    sample = {"sampling_method": "random_ids", "size": 2, "seed": 0.5}
    weights = visits("2016-01-01", "2016-01-02", "2016-01-03")
    sampled_weights = {**weights, "sampling": sample}
    spec = {
        "query_kind": "coalesced_location",
        "preferred_location": majority(weights, sampling=sample),
        "fallback_location": majority(weights),
        "subscriber_location_weights": weights,
        "weight_threshold": 5,
        "sampling": sample,
    }

    weight_rows = world.rows(sampled_weights)
    sampled_majority = world.locations(majority(weights, sampling=sample))
    coalesced = world.locations(spec)

    # Each sampled subscriber keeps both of their weight rows (R1: 2 days, R2: 1 day).
    sampled = {row["subscriber"] for row in weight_rows}
    assert len(sampled) == 2
    assert sorted((r["pcod"], r["value"]) for r in weight_rows) == [
        ("R1", 2),
        ("R1", 2),
        ("R2", 1),
        ("R2", 1),
    ]
    assert sampled_majority == {subscriber: "R1" for subscriber in sampled}
    assert coalesced == sampled_majority
