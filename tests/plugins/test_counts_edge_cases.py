"""Edge cases of FlowDB's per-cell counts: every spec gives the same rows from counts and events.

A small hand-made world is loaded once per module and counted. Each spec runs twice: once
reading ``events.subscriber_cell_hours`` or ``subscriber_cell_days``, once reading the events
after the days' completion records (``etl.counted_days``) are removed, and the records are put
back afterwards. The worlds of tests that change the bookkeeping are built per test.

Regions (admin3, one degree square, 27 to 28 N): R1 80 to 81 E, R2 81 to 82 E, R3 82 to 83 E.
Cells: C1 and C1B in R1, C2 in R2, C3 in R3, OUT outside every region, MOVED in R1 until
2016-01-02 and in R2 from 2016-01-03, NEW in R3 from 2016-01-02 only.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import counted_paths
import psycopg
import pytest
from counted_paths import SUBSET, events_only
from flowcore_meaningful.examples import EXAMPLE_SCORES

import flowcore
from flowcore.errors import InvalidSpecError
from flowcore.session import Session
from flowcore.settings import Settings
from flowcore.testing import insert_cells, insert_events, insert_region, insert_sites, square
from flowdb.cell_counts import count_ingested_days
from flowdb.etl import record_state
from flowdb.testing import ScratchServer, database_of

REGIONS = {"R1": 80.0, "R2": 81.0, "R3": 82.0}

SITES: list[dict[str, Any]] = [
    {"id": "S1", "lon": 80.5, "lat": 27.5},
    {"id": "S2", "lon": 81.5, "lat": 27.5},
    {"id": "S3", "lon": 82.5, "lat": 27.5},
]

CELLS: list[dict[str, Any]] = [
    {"id": "C1", "lon": 80.5, "lat": 27.5, "site_id": "S1"},
    {"id": "C1B", "lon": 80.25, "lat": 27.25, "site_id": "S1"},
    {"id": "C2", "lon": 81.5, "lat": 27.5, "site_id": "S2"},
    {"id": "C3", "lon": 82.5, "lat": 27.5, "site_id": "S3"},
    {"id": "OUT", "lon": 90.5, "lat": 10.5},
    {
        "id": "MOVED",
        "version": 0,
        "lon": 80.6,
        "lat": 27.6,
        "date_of_last_service": dt.date(2016, 1, 2),
    },
    {
        "id": "MOVED",
        "version": 1,
        "lon": 81.6,
        "lat": 27.6,
        "date_of_first_service": dt.date(2016, 1, 3),
    },
    {"id": "NEW", "lon": 82.6, "lat": 27.6, "date_of_first_service": dt.date(2016, 1, 2)},
]

#: ``(event type, subscriber, UTC time, cell)``. Calls are outgoing, sms incoming.
EVENTS: list[tuple[str, str, str, str | None]] = [
    # alice: events on both sides of each midnight.
    ("calls", "alice", "2016-01-01 23:59:59", "C1"),
    ("calls", "alice", "2016-01-02 00:00:00", "C2"),
    ("calls", "alice", "2016-01-02 23:59:59.999999", "C3"),
    ("calls", "alice", "2016-01-03 00:00:00", "C1"),
    # bob: his later events have no cell, an empty cell, an unknown cell and one outside every
    # region, so only the first one is located.
    ("calls", "bob", "2016-01-02 08:00:00", "C2"),
    ("calls", "bob", "2016-01-02 09:00:00", None),
    ("calls", "bob", "2016-01-02 10:00:00", ""),
    ("calls", "bob", "2016-01-02 11:00:00", "NOPE"),
    ("calls", "bob", "2016-01-02 12:00:00", "OUT"),
    # carol: two cells at the same second: the smaller pcod wins.
    ("calls", "carol", "2016-01-02 10:00:00", "C3"),
    ("calls", "carol", "2016-01-02 10:00:00", "C2"),
    # dave: R3 twice at one cell, R1 twice at two cells, R1 latest.
    ("calls", "dave", "2016-01-02 08:00:00", "C3"),
    ("calls", "dave", "2016-01-02 09:00:00", "C3"),
    ("calls", "dave", "2016-01-02 10:00:00", "C1"),
    ("calls", "dave", "2016-01-02 11:00:00", "C1B"),
    # erin: MOVED is in R1 on 2016-01-02 and in R2 later. NEW is not in service on 2016-01-01.
    ("calls", "erin", "2016-01-01 10:00:00", "C1"),
    ("calls", "erin", "2016-01-01 12:00:00", "NEW"),
    ("calls", "erin", "2016-01-02 10:00:00", "MOVED"),
    ("calls", "erin", "2016-01-02 11:00:00", "MOVED"),
    ("calls", "erin", "2016-01-03 10:00:00", "MOVED"),
    ("calls", "erin", "2016-01-04 10:00:00", "MOVED"),
    # frank: on the edges of a 22-to-4 window, and many events in hour 3 at two cells.
    ("calls", "frank", "2016-01-02 03:10:00", "C3"),
    ("calls", "frank", "2016-01-02 03:20:00", "C3"),
    ("calls", "frank", "2016-01-02 03:30:00", "C2"),
    ("calls", "frank", "2016-01-02 03:59:59", "C3"),
    ("calls", "frank", "2016-01-02 04:00:00", "C1"),
    ("calls", "frank", "2016-01-02 21:59:59", "C1"),
    ("calls", "frank", "2016-01-02 22:00:00", "C2"),
    # grace: one event of each type.
    ("calls", "grace", "2016-01-02 08:00:00", "C1"),
    ("sms", "grace", "2016-01-02 09:00:00", "C2"),
    ("mds", "grace", "2016-01-02 10:00:00", "C3"),
    ("topups", "grace", "2016-01-03 11:00:00", "C2"),
]

SCORES: dict[str, Any] = {
    "labels": EXAMPLE_SCORES["labels"],
    "tower_day_of_week_scores": EXAMPLE_SCORES["tower_day_of_week_scores"],
    "tower_hour_of_day_scores": EXAMPLE_SCORES["tower_hour_of_day_scores"],
    "tower_cluster_radius": 1.0,
    "tower_cluster_call_threshold": 0,
}

#: Replaces the ``SUBSET`` placeholder: alice and erin.
SUBSET_QUERY: dict[str, Any] = {
    "query_kind": "daily_location",
    "date": "2016-01-01",
    "method": "last",
    "aggregation_unit": "admin3",
}
ALL_TYPES = ["calls", "sms", "mds", "topups"]
NIGHT = {"start_hour": 22, "end_hour": 4}


def daily(date: str, method: str = "last", unit: str = "admin3", **extra: Any) -> dict[str, Any]:
    """Return a ``daily_location`` spec."""
    return {
        "query_kind": "daily_location",
        "date": date,
        "method": method,
        "aggregation_unit": unit,
        **extra,
    }


def ranged(kind: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    """Return a ``kind`` spec over ``[start, end)``."""
    return {"query_kind": kind, "start_date": start, "end_date": end, **fields}


def build_world(dsn: str, events: list[tuple[str, str, str, str | None]]) -> None:
    """Insert the regions, sites and cells, then ``events``, and count every ingested day."""
    for pcod, west in REGIONS.items():
        insert_region(dsn, 3, pcod, square(west, 27.0, 1.0))
    insert_sites(dsn, SITES)
    insert_cells(dsn, CELLS)
    add_events(dsn, events)
    count_ingested_days(dsn)


def add_events(dsn: str, events: list[tuple[str, str, str, str | None]]) -> None:
    """Insert events given as ``(event type, subscriber, UTC time, cell)``."""
    for event_type in ALL_TYPES:
        rows: list[dict[str, Any]] = []
        for index, (kind, subscriber, moment, cell) in enumerate(events):
            if kind != event_type:
                continue
            row = {"id": f"{kind}-{index}", "msisdn": subscriber, "datetime": moment}
            row["location_id"] = cell
            if kind in ("calls", "sms"):
                row["outgoing"] = kind == "calls"
            rows.append(row)
        insert_events(dsn, event_type, rows)


@pytest.fixture(scope="module")
def world_dsn(flowdb_server: ScratchServer, flowdb_template: str) -> Iterator[str]:
    """DSN of a database that contains the hand-made world, its events and their counts."""
    dsn = flowdb_server.create_database(flowdb_template)
    try:
        build_world(dsn, EVENTS)
        yield dsn
    finally:
        flowdb_server.drop_database(database_of(dsn))


@pytest.fixture(scope="module")
def world(world_dsn: str) -> Iterator[Session]:
    """A session on the hand-made world."""
    session = flowcore.connect(world_dsn, settings=Settings(redaction_threshold=15))
    try:
        yield session
    finally:
        session.close()


def sorted_rows(session: Session, spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Compute ``spec`` afresh and return its rows as sorted tuples."""
    return counted_paths.sorted_rows(session, spec, SUBSET_QUERY)


def reads_counts(session: Session, spec: dict[str, Any]) -> bool:
    """Return whether the SQL of ``spec`` reads FlowDB's per-cell counts."""
    return counted_paths.reads_counts(session, spec, SUBSET_QUERY)


def rows_both_ways(
    session: Session, dsn: str, spec: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return the rows of ``spec`` read from the counts, then read from the events."""
    assert reads_counts(session, spec), "the spec should read the counts"
    from_counts = sorted_rows(session, spec)
    with events_only(dsn, session):
        assert not reads_counts(session, spec), "the spec should read the events"
        from_events = sorted_rows(session, spec)
    return from_counts, from_events


def locations(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Return ``{subscriber: location}`` of per-subscriber rows (a tuple for lon-lat)."""
    result: dict[str, Any] = {}
    for subscriber, *place in rows:
        assert subscriber not in result, f"{subscriber} has several rows"
        result[subscriber] = place[0] if len(place) == 1 else tuple(place)
    return result


#: Specs with the per-subscriber locations they must give, checked by hand.
LOCATION_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (daily("2016-01-01"), {"alice": "R1", "erin": "R1"}),
    (
        daily("2016-01-02"),
        {
            "alice": "R3",
            "bob": "R2",
            "carol": "R2",
            "dave": "R1",
            "erin": "R1",
            "frank": "R2",
            "grace": "R2",
        },
    ),
    (
        daily("2016-01-02", "most-common"),
        {
            "alice": "R3",
            "bob": "R2",
            "carol": "R2",
            "dave": "R1",
            "erin": "R1",
            "frank": "R3",
            "grace": "R2",
        },
    ),
    (daily("2016-01-03"), {"alice": "R1", "erin": "R2"}),
    (daily("2016-01-02", hours=NIGHT), {"alice": "R3", "frank": "R2"}),
    (daily("2016-01-02", "most-common", hours=NIGHT), {"alice": "R3", "frank": "R3"}),
    (daily("2016-01-02", hours={"start_hour": 2, "end_hour": 4}), {"frank": "R3"}),
    (daily("2016-01-02", hours={"start_hour": 23, "end_hour": 0}), {"alice": "R3"}),
    (daily("2016-01-02", event_types=["sms", "mds"]), {"grace": "R3"}),
    (daily("2016-01-03", event_types=ALL_TYPES), {"alice": "R1", "erin": "R2", "grace": "R2"}),
    (daily("2016-01-02", event_types=["mds"]), {"grace": "R3"}),
    (daily("2016-01-02", subscriber_subset=SUBSET), {"alice": "R3", "erin": "R1"}),
    (
        daily("2016-01-02", unit="lon-lat", event_types=["calls"]),
        {
            "alice": (82.5, 27.5),
            "bob": (90.5, 10.5),
            "carol": (81.5, 27.5),
            "dave": (80.25, 27.25),
            "erin": (80.6, 27.6),
            "frank": (81.5, 27.5),
            "grace": (80.5, 27.5),
        },
    ),
    (
        ranged(
            "most_frequent_location",
            "2016-01-01",
            "2016-01-05",
            aggregation_unit="admin3",
            subscriber_subset=SUBSET,
        ),
        {"alice": "R1", "erin": "R1"},
    ),
    (
        ranged("visited_most_days", "2016-01-01", "2016-01-05", aggregation_unit="admin3"),
        {
            "alice": "R1",
            "bob": "R2",
            "carol": "R2",
            "dave": "R1",
            "erin": "R1",
            "frank": "R3",
            "grace": "R2",
        },
    ),
    (
        # Days without any data before and after the loaded ones.
        ranged("most_frequent_location", "2015-12-28", "2016-01-10", aggregation_unit="admin3"),
        {
            "alice": "R1",
            "bob": "R2",
            "carol": "R2",
            "dave": "R1",
            "erin": "R1",
            "frank": "R3",
            "grace": "R2",
        },
    ),
    (
        {
            "query_kind": "modal_location",
            "locations": [daily(f"2016-01-0{day}") for day in (1, 2, 3, 4)],
        },
        {
            "alice": "R1",
            "bob": "R2",
            "carol": "R2",
            "dave": "R1",
            "erin": "R2",
            "frank": "R2",
            "grace": "R2",
        },
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), LOCATION_CASES, ids=[str(i) for i in range(len(LOCATION_CASES))]
)
def test_locations_from_counts_and_events(
    world: Session, world_dsn: str, spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    from_counts, from_events = rows_both_ways(world, world_dsn, spec)
    assert locations(from_counts) == expected
    assert from_counts == from_events


#: Aggregates and metrics with their rows, checked by hand and sorted as ``sorted_rows`` does.
AGGREGATE_CASES: list[tuple[dict[str, Any], list[tuple[Any, ...]]]] = [
    (
        ranged("unique_locations", "2016-01-01", "2016-01-05", aggregation_unit="admin3"),
        [
            ("alice", "R1"),
            ("alice", "R2"),
            ("alice", "R3"),
            ("bob", "R2"),
            ("carol", "R2"),
            ("carol", "R3"),
            ("dave", "R1"),
            ("dave", "R3"),
            ("erin", "R1"),
            ("erin", "R2"),
            ("frank", "R1"),
            ("frank", "R2"),
            ("frank", "R3"),
            ("grace", "R1"),
            ("grace", "R2"),
        ],
    ),
    (
        ranged(
            "unique_location_counts",
            "2016-01-02",
            "2016-01-03",
            aggregation_unit="admin3",
            hours=NIGHT,
        ),
        [("alice", 2), ("frank", 2)],
    ),
    (
        ranged(
            "unique_subscriber_counts",
            "2016-01-01",
            "2016-01-04",
            aggregation_unit="admin3",
            event_types=ALL_TYPES,
        ),
        [("R1", 5), ("R2", 6), ("R3", 5)],
    ),
    (
        ranged("event_count", "2016-01-02", "2016-01-03"),
        [
            ("alice", 2),
            ("bob", 5),
            ("carol", 2),
            ("dave", 4),
            ("erin", 2),
            ("frank", 7),
            ("grace", 2),
        ],
    ),
    (
        ranged("event_count", "2016-01-01", "2016-01-05", hours=NIGHT, subscriber_subset=SUBSET),
        [("alice", 4)],
    ),
    (
        ranged(
            "nocturnal_events",
            "2016-01-02",
            "2016-01-03",
            night_hours=NIGHT,
            event_types=["calls"],
        ),
        [
            ("alice", 100.0),
            ("bob", 0.0),
            ("carol", 0.0),
            ("dave", 0.0),
            ("erin", 0.0),
            ("frank", Decimal("71.42857142857142857100")),
            ("grace", 0.0),
        ],
    ),
    (
        {
            "query_kind": "total_active_periods",
            "start_date": "2016-01-01",
            "total_periods": 4,
            "period_length": 1,
            "period_unit": "days",
            "subscriber_subset": SUBSET,
        },
        [("alice", 3, 1), ("erin", 4, 0)],
    ),
    (
        {
            "query_kind": "total_active_periods",
            "start_date": "2016-01-02",
            "total_periods": 4,
            "period_length": 6,
            "period_unit": "hours",
            "event_types": ["calls"],
        },
        [
            ("alice", 2, 2),
            ("bob", 2, 2),
            ("carol", 1, 3),
            ("dave", 1, 3),
            ("erin", 1, 3),
            ("frank", 2, 2),
            ("grace", 1, 3),
        ],
    ),
    (
        ranged(
            "total_network_objects",
            "2016-01-01",
            "2016-01-03",
            aggregation_unit="admin3",
            total_by="day",
        ),
        [
            ("R1", 1, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
            ("R1", 3, dt.datetime(2016, 1, 2, tzinfo=dt.UTC)),
            ("R2", 1, dt.datetime(2016, 1, 2, tzinfo=dt.UTC)),
            ("R3", 1, dt.datetime(2016, 1, 2, tzinfo=dt.UTC)),
        ],
    ),
    (
        ranged(
            "total_network_objects",
            "2016-01-01",
            "2016-01-05",
            aggregation_unit="admin3",
            total_by="month",
        ),
        [
            ("R1", 3, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
            ("R2", 2, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
            ("R3", 1, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
        ],
    ),
    (
        # Days without any data before and after the loaded ones.
        ranged(
            "total_network_objects",
            "2015-12-28",
            "2016-01-10",
            aggregation_unit="admin3",
            total_by="year",
        ),
        [
            ("R1", 3, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
            ("R2", 2, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
            ("R3", 1, dt.datetime(2016, 1, 1, tzinfo=dt.UTC)),
        ],
    ),
    (
        ranged(
            "total_network_objects",
            "2016-01-02",
            "2016-01-03",
            aggregation_unit="admin3",
            total_by="hour",
            hours={"start_hour": 3, "end_hour": 5},
        ),
        [
            ("R1", 1, dt.datetime(2016, 1, 2, 4, tzinfo=dt.UTC)),
            ("R2", 1, dt.datetime(2016, 1, 2, 3, tzinfo=dt.UTC)),
            ("R3", 1, dt.datetime(2016, 1, 2, 3, tzinfo=dt.UTC)),
        ],
    ),
    (
        ranged(
            "location_event_counts",
            "2016-01-02",
            "2016-01-03",
            interval="hour",
            direction="both",
            aggregation_unit="admin3",
            hours={"start_hour": 3, "end_hour": 5},
        ),
        [
            ("R1", "2016-01-02", 4, 1),
            ("R2", "2016-01-02", 3, 1),
            ("R3", "2016-01-02", 3, 3),
        ],
    ),
    (
        ranged(
            "location_event_counts",
            "2016-01-01",
            "2016-01-04",
            interval="day",
            aggregation_unit="admin3",
            event_types=ALL_TYPES,
            hours=NIGHT,
        ),
        [
            ("R1", "2016-01-01", 1),
            ("R1", "2016-01-03", 1),
            ("R2", "2016-01-02", 3),
            ("R3", "2016-01-02", 4),
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), AGGREGATE_CASES, ids=[str(i) for i in range(len(AGGREGATE_CASES))]
)
def test_aggregates_from_counts_and_events(
    world: Session, world_dsn: str, spec: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    from_counts, from_events = rows_both_ways(world, world_dsn, spec)
    assert from_counts == expected
    assert from_counts == from_events


def test_composed_queries_from_counts_and_events(world: Session, world_dsn: str) -> None:
    flows = {
        "query_kind": "flows",
        "from_location": daily("2016-01-01"),
        "to_location": daily("2016-01-03"),
    }
    unique_flows = {
        "query_kind": "flows",
        "from_location": daily("2016-01-02"),
        "to_location": ranged(
            "unique_locations", "2016-01-02", "2016-01-04", aggregation_unit="admin3"
        ),
        "join_type": "left outer",
    }
    aggregate = {
        "query_kind": "spatial_aggregate",
        "locations": ranged(
            "visited_most_days", "2016-01-01", "2016-01-05", aggregation_unit="admin3"
        ),
    }

    assert rows_both_ways(world, world_dsn, flows) == ([("R1", "R1", 1), ("R1", "R2", 1)],) * 2
    from_counts, from_events = rows_both_ways(world, world_dsn, unique_flows)
    assert from_counts == [
        ("R1", "R1", 2),
        ("R1", "R2", 1),
        ("R1", "R3", 1),
        ("R2", "R1", 2),
        ("R2", "R2", 4),
        ("R2", "R3", 2),
        ("R3", "R1", 1),
        ("R3", "R2", 1),
        ("R3", "R3", 1),
    ]
    assert from_counts == from_events
    from_counts, from_events = rows_both_ways(world, world_dsn, aggregate)
    assert from_counts == [("R1", 3), ("R2", 3), ("R3", 1)]
    assert from_counts == from_events


def test_subset_rows_repeat_events(world: Session, world_dsn: str) -> None:
    # Events are inner-joined to the subset, so a subscriber with n subset rows counts n times.
    subset_query = ranged("unique_locations", "2016-01-01", "2016-01-05", aggregation_unit="admin3")
    subset_rows = Counter(row["subscriber"] for row in world.run(subset_query).to_dicts())
    assert subset_rows["erin"] == 2
    plain = dict(
        counted_paths.sorted_rows(world, ranged("event_count", "2016-01-01", "2016-01-05"))
    )
    expected = sorted((name, plain[name] * rows) for name, rows in subset_rows.items())
    spec = ranged("event_count", "2016-01-01", "2016-01-05", subscriber_subset=SUBSET)

    assert counted_paths.reads_counts(world, spec, subset_query)
    from_counts = counted_paths.sorted_rows(world, spec, subset_query)
    with events_only(world_dsn, world):
        from_events = counted_paths.sorted_rows(world, spec, subset_query)

    assert ("erin", 2 * plain["erin"]) in from_counts
    assert from_counts == expected
    assert from_events == expected


def test_subset_result_invalidated_with_subset_day(world: Session) -> None:
    # The subset's day reaches the result through the subset, even after the subset is evicted.
    world.cache.clear()
    subset = world.run(daily("2016-01-01"))
    spec = ranged("event_count", "2016-01-02", "2016-01-05", subscriber_subset=subset.query_id)
    counted = world.run(spec)
    world.cache.invalidate(subset.query_id, cascade=False)
    assert world.executor.state(counted.query_id) == "completed"

    removed = world.cache.invalidate_dates("calls", dt.date(2016, 1, 1))

    assert removed == [counted.query_id]


def test_subset_needs_subscriber_column(world: Session) -> None:
    aggregate = world.run({"query_kind": "spatial_aggregate", "locations": daily("2016-01-02")})
    spec = ranged("event_count", "2016-01-01", "2016-01-05", subscriber_subset=aggregate.query_id)

    with pytest.raises(InvalidSpecError) as raised:
        world.run(spec)

    [message] = raised.value.messages
    assert message.startswith(f"$.subscriber_subset: query '{aggregate.query_id}' has no ")
    assert "(its columns are pcod, value)" in message

    # The private subscriber count of location_event_counts is left out of the message.
    counts = world.run(
        ranged(
            "location_event_counts",
            "2016-01-02",
            "2016-01-03",
            interval="day",
            aggregation_unit="admin3",
        )
    )
    with pytest.raises(InvalidSpecError) as raised:
        world.run({**spec, "subscriber_subset": counts.query_id})
    [message] = raised.value.messages
    assert "(its columns are pcod, date, value)" in message


def test_subset_must_be_stored(world: Session) -> None:
    spec = ranged("event_count", "2016-01-01", "2016-01-05", subscriber_subset="0" * 32)

    with pytest.raises(InvalidSpecError) as raised:
        world.run(spec)

    assert raised.value.messages == [
        f"$.subscriber_subset: {'0' * 32!r} is not the id of a completed query; "
        "run that query first"
    ]


def test_withdrawn_day_in_range_reads_events(fresh_dsn: str) -> None:
    build_world(
        fresh_dsn,
        [
            ("calls", "alice", "2016-01-01 08:00:00", "C1"),
            ("calls", "alice", "2016-01-02 08:00:00", "C2"),
            ("calls", "alice", "2016-01-02 09:00:00", "C2"),
            ("calls", "alice", "2016-01-03 08:00:00", "C3"),
        ],
    )
    with psycopg.connect(fresh_dsn) as conn:
        # The day stays attached, but a later state withdraws it from the available dates.
        record_state(conn, "calls", dt.date(2016, 1, 2), "quarantine")
    location = ranged(
        "most_frequent_location", "2016-01-01", "2016-01-04", aggregation_unit="admin3"
    )
    event_count = ranged("event_count", "2016-01-01", "2016-01-04")
    after = ranged("event_count", "2016-01-03", "2016-01-04")
    session = flowcore.connect(fresh_dsn, settings=Settings(redaction_threshold=15))
    try:
        # Queries over the events read every stored event of the range, as FlowKit does.
        assert not reads_counts(session, location)
        assert not reads_counts(session, event_count)
        assert sorted_rows(session, location) == [("alice", "R2")]
        assert sorted_rows(session, event_count) == [("alice", 4)]
        assert rows_both_ways(session, fresh_dsn, after) == ([("alice", 1)], [("alice", 1)])
    finally:
        session.close()


def test_meaningful_score_on_label_edge(fresh_dsn: str) -> None:
    # Ten events in one hour scoring 0.1 each: their mean score is exactly 0.1 either way, so
    # it lies on the edge of the first "home" shape and strictly inside the second.
    events = [("calls", "hank", f"2016-01-02 05:{minute:02d}:00", "C1") for minute in range(10)]
    build_world(fresh_dsn, events)
    hour_scores = [0.0] * 24
    hour_scores[5] = 0.1

    def spec(east: float) -> dict[str, Any]:
        corners = [[-1.0, -1.0], [east, -1.0], [east, 1.0], [-1.0, 1.0], [-1.0, -1.0]]
        return {
            "query_kind": "meaningful_locations_aggregate",
            "start_date": "2016-01-02",
            "end_date": "2016-01-03",
            "aggregation_unit": "admin3",
            "label": "home",
            "labels": {"home": {"type": "Polygon", "coordinates": [corners]}},
            "tower_hour_of_day_scores": hour_scores,
            "tower_day_of_week_scores": {day: 0.0 for day in SCORES["tower_day_of_week_scores"]},
            "tower_cluster_radius": 1.0,
            "tower_cluster_call_threshold": 0,
        }

    session = flowcore.connect(fresh_dsn, settings=Settings(redaction_threshold=15))
    try:
        on_edge = rows_both_ways(session, fresh_dsn, spec(0.1))
        inside = rows_both_ways(session, fresh_dsn, spec(0.2))
    finally:
        session.close()
    assert on_edge == ([], [])
    assert inside == ([("home", "R1", 1.0)], [("home", "R1", 1.0)])


def test_sampled_locations_from_counts_and_events(world: Session, world_dsn: str) -> None:
    full = dict(LOCATION_CASES[1][1])
    for sampling in (
        {"sampling_method": "random_ids", "size": 3, "seed": 0.5},
        {"sampling_method": "bernoulli", "fraction": 0.5, "seed": 0.5},
    ):
        spec = daily("2016-01-02", sampling=sampling)
        from_counts, from_events = rows_both_ways(world, world_dsn, spec)
        sample = locations(from_counts)
        assert sample, sampling
        assert {name: full[name] for name in sample} == sample
        assert from_counts == from_events


def test_directions_and_minutes_read_events(world: Session) -> None:
    # With a direction the counts come from the events, and the release rule, which ignores
    # direction, from the hour counts. By minute both come from the events.
    incoming = ranged(
        "location_event_counts",
        "2016-01-02",
        "2016-01-03",
        interval="hour",
        direction="in",
        aggregation_unit="admin3",
    )
    outgoing = {**incoming, "direction": "out", "hours": {"start_hour": 3, "end_hour": 5}}
    minutes = {
        **incoming,
        "interval": "min",
        "direction": "both",
        "hours": {"start_hour": 3, "end_hour": 4},
    }

    for spec in (incoming, outgoing):
        assert reads_counts(world, spec), spec
        assert "events.calls" in world.sql(spec), spec
    assert not reads_counts(world, minutes)
    assert sorted_rows(world, incoming) == [("R2", "2016-01-02", 9, 1)]
    assert sorted_rows(world, outgoing) == [
        ("R1", "2016-01-02", 4, 1),
        ("R2", "2016-01-02", 3, 1),
        ("R3", "2016-01-02", 3, 3),
    ]
    assert sorted_rows(world, minutes) == [
        ("R2", "2016-01-02", 3, 30, 1),
        ("R3", "2016-01-02", 3, 10, 1),
        ("R3", "2016-01-02", 3, 20, 1),
        ("R3", "2016-01-02", 3, 59, 1),
    ]


def test_uncounted_day_reads_events(world: Session, world_dsn: str) -> None:
    spec = ranged("event_count", "2016-01-01", "2016-01-03", event_types=["calls"])
    later = ranged("event_count", "2016-01-03", "2016-01-05", event_types=["calls"])
    with psycopg.connect(world_dsn) as conn:
        removed = conn.execute(
            "DELETE FROM etl.counted_days WHERE cdr_type = 'calls' AND cdr_date = '2016-01-02' "
            "RETURNING cdr_type, cdr_date, ingested_at"
        ).fetchall()
    try:
        assert not reads_counts(world, spec)
        assert reads_counts(world, later)
        assert sorted_rows(world, spec) == [
            ("alice", 3),
            ("bob", 5),
            ("carol", 2),
            ("dave", 4),
            ("erin", 4),
            ("frank", 7),
            ("grace", 1),
        ]
        assert sorted_rows(world, later) == [("alice", 1), ("erin", 2)]
    finally:
        with psycopg.connect(world_dsn) as conn, conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO etl.counted_days (cdr_type, cdr_date, ingested_at) "
                "VALUES (%s, %s, %s)",
                removed,
            )
    assert len(removed) == 1


def test_versioned_cells_and_sites(fresh_dsn: str) -> None:
    build_world(fresh_dsn, [])
    # S4 moves from R2 to R3 on 2016-01-03. GAP is in R1 on 2016-01-01, out of service on
    # 2016-01-02 and in R3 from 2016-01-03.
    insert_sites(
        fresh_dsn,
        [
            {
                "id": "S4",
                "version": 0,
                "lon": 81.5,
                "lat": 27.5,
                "date_of_last_service": dt.date(2016, 1, 2),
            },
            {
                "id": "S4",
                "version": 1,
                "lon": 82.2,
                "lat": 27.5,
                "date_of_first_service": dt.date(2016, 1, 3),
            },
        ],
    )
    insert_cells(
        fresh_dsn,
        [
            {"id": "C4", "lon": 81.5, "lat": 27.5, "site_id": "S4"},
            {
                "id": "GAP",
                "version": 0,
                "lon": 80.7,
                "lat": 27.5,
                "date_of_last_service": dt.date(2016, 1, 1),
            },
            {
                "id": "GAP",
                "version": 1,
                "lon": 82.7,
                "lat": 27.5,
                "date_of_first_service": dt.date(2016, 1, 3),
            },
        ],
    )
    add_events(
        fresh_dsn,
        [
            ("calls", "ivan", "2016-01-01 10:00:00", "GAP"),
            ("calls", "ivan", "2016-01-02 10:00:00", "GAP"),
            ("calls", "ivan", "2016-01-02 11:00:00", "GAP"),
            ("calls", "ivan", "2016-01-02 12:00:00", "GAP"),
            ("calls", "ivan", "2016-01-02 10:00:00", "C4"),
            ("calls", "ivan", "2016-01-03 10:00:00", "C4"),
            ("calls", "ivan", "2016-01-03 11:00:00", "GAP"),
        ],
    )
    count_ingested_days(fresh_dsn)
    most_frequent = ranged(
        "most_frequent_location", "2016-01-01", "2016-01-04", aggregation_unit="admin3"
    )
    visited = ranged("unique_locations", "2016-01-01", "2016-01-04", aggregation_unit="admin3")
    objects = ranged(
        "versioned_network_objects",
        "2016-01-01",
        "2016-01-04",
        aggregation_unit="admin3",
        total_by="day",
    )
    meaningful = {
        "query_kind": "meaningful_locations_aggregate",
        "start_date": "2016-01-01",
        "end_date": "2016-01-04",
        "aggregation_unit": "admin3",
        "label": "day",
        "labels": {
            "day": {
                "type": "Polygon",
                "coordinates": [[[0.5, -1.1], [1.1, -1.1], [1.1, 1.1], [0.5, 1.1], [0.5, -1.1]]],
            },
        },
        "tower_hour_of_day_scores": EXAMPLE_SCORES["tower_hour_of_day_scores"],
        "tower_day_of_week_scores": EXAMPLE_SCORES["tower_day_of_week_scores"],
        "tower_cluster_radius": 1.0,
        "tower_cluster_call_threshold": 0,
    }
    day = dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
    session = flowcore.connect(fresh_dsn, settings=Settings(redaction_threshold=15))
    try:
        located = rows_both_ways(session, fresh_dsn, most_frequent)
        unique = rows_both_ways(session, fresh_dsn, visited)
        cells = rows_both_ways(session, fresh_dsn, {**objects, "network_object": "versioned-cell"})
        sites = rows_both_ways(session, fresh_dsn, {**objects, "network_object": "versioned-site"})
        clusters = rows_both_ways(session, fresh_dsn, meaningful)
    finally:
        session.close()

    # R1 once, R2 twice (C4), R3 once: the three events at GAP on 2016-01-02 are not located.
    assert located == ([("ivan", "R2")],) * 2
    assert unique == ([("ivan", "R1"), ("ivan", "R2"), ("ivan", "R3")],) * 2
    assert (
        cells
        == (
            [
                ("R1", 1, day),
                ("R2", 1, day + dt.timedelta(days=1)),
                ("R2", 1, day + dt.timedelta(days=2)),
                ("R3", 1, day + dt.timedelta(days=2)),
            ],
        )
        * 2
    )
    # C4 stays in R2, but it is at S4 version 0 on 2016-01-02 and at version 1 afterwards.
    assert (
        sites
        == ([("R2", 1, day + dt.timedelta(days=1)), ("R2", 1, day + dt.timedelta(days=2))],) * 2
    )
    # Each version of S4 is a cluster of its own, scoring 1 for its events at 10:00.
    assert clusters == ([("day", "R2", 0.5), ("day", "R3", 0.5)],) * 2
