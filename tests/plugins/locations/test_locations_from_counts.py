"""Query kinds read FlowDB's per-cell counts when it has them, with the same results.

The loader counts each day's events per subscriber, cell and hour or day. Every spec here runs
twice on a copy of the test dataset: once reading the counts, once reading the events after the
days' completion records are removed. The hand-made world checks the day bound, ties and a day
ingested again after it was counted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from counted_paths import events_only, reads_counts, sorted_rows
from flowcore_meaningful.examples import EXAMPLE_SCORES
from location_helpers import SpecRunner, add_calls, daily

from flowdb.cell_counts import count_ingested_days

MEANINGFUL_SCORING = {
    "labels": EXAMPLE_SCORES["labels"],
    "tower_day_of_week_scores": EXAMPLE_SCORES["tower_day_of_week_scores"],
    "tower_hour_of_day_scores": EXAMPLE_SCORES["tower_hour_of_day_scores"],
    "tower_cluster_radius": 1.0,
    "tower_cluster_call_threshold": 0,
}

SPECS: list[dict[str, Any]] = [
    daily("2016-01-01"),
    daily("2016-01-03", method="most-common"),
    daily("2016-01-02", unit="lon-lat", method="most-common", event_types=["calls"]),
    daily("2016-01-05", unit="admin2", event_types=["calls", "sms", "mds"]),
    {
        "query_kind": "most_frequent_location",
        "start_date": "2016-01-02",
        "end_date": "2016-01-05",
        "aggregation_unit": "admin3",
    },
    {
        "query_kind": "visited_most_days",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin2",
    },
    {
        "query_kind": "modal_location",
        "locations": [daily(f"2016-01-0{day}", method="most-common") for day in (1, 2, 3)],
    },
    daily("2016-01-04", hours={"start_hour": 20, "end_hour": 4}),
    {
        "query_kind": "most_frequent_location",
        "start_date": "2016-01-01",
        "end_date": "2016-01-04",
        "aggregation_unit": "admin2",
        "hours": {"start_hour": 9, "end_hour": 17},
        "event_types": ["calls"],
    },
    {
        "query_kind": "location_event_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-03",
        "interval": "hour",
        "direction": "both",
        "aggregation_unit": "admin3",
    },
    {
        "query_kind": "location_event_counts",
        "start_date": "2016-01-02",
        "end_date": "2016-01-05",
        "interval": "day",
        "aggregation_unit": "admin2",
        "event_types": ["calls", "sms", "mds", "topups"],
        "hours": {"start_hour": 22, "end_hour": 6},
    },
    {
        "query_kind": "total_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "total_by": "day",
        "aggregation_unit": "admin3",
    },
    {
        "query_kind": "total_network_objects",
        "start_date": "2016-01-02",
        "end_date": "2016-01-04",
        "total_by": "hour",
        "aggregation_unit": "admin2",
        "hours": {"start_hour": 9, "end_hour": 17},
        "event_types": ["calls"],
    },
    {
        "query_kind": "total_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "total_by": "month",
        "aggregation_unit": "admin1",
        "hours": {"start_hour": 20, "end_hour": 4},
    },
    {
        "query_kind": "versioned_network_objects",
        "start_date": "2016-01-04",
        "end_date": "2016-01-08",
        "total_by": "day",
        "network_object": "versioned-site",
        "aggregation_unit": "admin3",
    },
    {
        "query_kind": "meaningful_locations_aggregate",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin2",
        "label": "work",
        **MEANINGFUL_SCORING,
    },
    {
        "query_kind": "meaningful_locations_between_label_od_matrix",
        "start_date": "2016-01-02",
        "end_date": "2016-01-06",
        "aggregation_unit": "admin1",
        "label_a": "home",
        "label_b": "work",
        "event_types": ["calls"],
        **MEANINGFUL_SCORING,
    },
]


def test_loaded_days_are_counted(counted_dsn: str) -> None:
    with psycopg.connect(counted_dsn) as conn:
        available = conn.execute(
            "SELECT cdr_type, cdr_date FROM etl.available_dates ORDER BY 1, 2"
        ).fetchall()
        counted = conn.execute(
            "SELECT cdr_type, cdr_date FROM etl.counted_dates ORDER BY 1, 2"
        ).fetchall()
    assert len(available) == 28
    assert counted == available


def test_counts_and_events_give_the_same_rows(counted_dsn: str) -> None:
    runner = SpecRunner(counted_dsn)
    session = runner.session
    try:
        for spec in SPECS:
            assert reads_counts(session, spec), spec
        from_counts = [sorted_rows(session, spec) for spec in SPECS]
        with events_only(counted_dsn, session):
            for spec in SPECS:
                assert not reads_counts(session, spec), spec
            from_events = [sorted_rows(session, spec) for spec in SPECS]
    finally:
        runner.close()
    for spec, counted_rows, event_rows in zip(SPECS, from_counts, from_events, strict=True):
        assert counted_rows, spec
        assert counted_rows == event_rows, spec


def test_hour_windows_read_hour_counts(counted_dsn: str) -> None:
    runner = SpecRunner(counted_dsn)
    try:
        night = runner.session.sql(daily("2016-01-01", hours={"start_hour": 20, "end_hour": 4}))
        whole_day = runner.session.sql(daily("2016-01-01"))
        by_minute = runner.session.sql(
            {
                "query_kind": "location_event_counts",
                "start_date": "2016-01-01",
                "end_date": "2016-01-02",
                "interval": "min",
                "aggregation_unit": "admin3",
            }
        )
    finally:
        runner.close()
    assert "subscriber_cell_hours" in night
    assert "subscriber_cell_days" not in night
    assert "subscriber_cell_days" in whole_day
    assert "subscriber_cell_hours" not in whole_day
    assert "subscriber_cell_" not in by_minute


def test_world_edges_from_counts(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-01 23:00:00", "C1"),
            ("alice", "2016-01-02 00:00:00", "C2"),
            ("bob", "2016-01-02 00:00:00", "C3"),
            # carol: one event in each of R1 and R2, at the same second: the smaller wins.
            ("carol", "2016-01-02 10:00:00", "C2"),
            ("carol", "2016-01-02 10:00:00", "C1"),
            # dave: R3 twice, R1 three times, R3 latest.
            ("dave", "2016-01-02 08:00:00", "C1"),
            ("dave", "2016-01-02 09:00:00", "C1"),
            ("dave", "2016-01-02 09:30:00", "C1"),
            ("dave", "2016-01-02 11:00:00", "C3"),
            ("dave", "2016-01-02 12:00:00", "C3"),
        ],
    )
    assert count_ingested_days(world_dsn) == [
        ("calls", dt.date(2016, 1, 1)),
        ("calls", dt.date(2016, 1, 2)),
    ]
    last = daily("2016-01-02")
    most_common = daily("2016-01-02", method="most-common")
    assert "subscriber_cell_days" in world.session.sql(last)

    assert world.locations(daily("2016-01-01")) == {"alice": "R1"}
    assert world.locations(last) == {"alice": "R2", "bob": "R3", "carol": "R1", "dave": "R3"}
    assert world.locations(most_common) == {
        "alice": "R2",
        "bob": "R3",
        "carol": "R1",
        "dave": "R1",
    }


def test_day_ingested_again_reads_its_events(world: SpecRunner, world_dsn: str) -> None:
    add_calls(world_dsn, [("alice", "2016-01-02 08:00:00", "C1")])
    count_ingested_days(world_dsn)
    assert world.locations(daily("2016-01-02")) == {"alice": "R1"}

    # Another writer adds a later event and records the day as ingested again.
    add_calls(world_dsn, [("alice", "2016-01-02 20:00:00", "C2")])
    world.session.cache.clear()
    assert "subscriber_cell_days" not in world.session.sql(daily("2016-01-02"))
    assert world.locations(daily("2016-01-02")) == {"alice": "R2"}

    count_ingested_days(world_dsn)
    world.session.cache.clear()
    assert "subscriber_cell_days" in world.session.sql(daily("2016-01-02"))
    assert world.locations(daily("2016-01-02")) == {"alice": "R2"}


def test_counts_of_unavailable_days_are_ignored(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            ("alice", "2016-01-02 08:00:00", "C1"),
            ("alice", "2016-01-04 08:00:00", "C1"),
        ],
    )
    count_ingested_days(world_dsn)
    with psycopg.connect(world_dsn) as conn:
        # Counts left for a day that was never ingested (or was withdrawn since).
        conn.execute(
            "CREATE TABLE events.subscriber_cell_days_calls_20160103 "
            "PARTITION OF events.subscriber_cell_days_calls "
            "FOR VALUES FROM ('2016-01-03') TO ('2016-01-04')"
        )
        conn.execute(
            "INSERT INTO events.subscriber_cell_days "
            "(cdr_type, cdr_date, msisdn, location_id, event_count, last_event) "
            "VALUES ('calls', '2016-01-03', 'alice', 'C2', 5, '2016-01-03 09:00:00+00')"
        )
    spec = {
        "query_kind": "most_frequent_location",
        "start_date": "2016-01-02",
        "end_date": "2016-01-05",
        "aggregation_unit": "admin3",
    }

    assert "subscriber_cell_days" in world.session.sql(spec)
    assert world.locations(spec) == {"alice": "R1"}
