"""Location rules that read day counts per event type give the rows of merged counts and events.

Day counts are located per event type, so the calls and SMS rows of a subscriber and cell stay
apart. Every rule must still give the rows of the events path, and of counts merged per
subscriber and cell before they are located and sorted per subscriber (without region keys).
The hand-made events below put calls and SMS at the same cell, the same latest time at cells of
different regions, equal event counts split across the two types, and a cell whose version moves
region inside the date range.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import flowcore_locations.choice as choice_module
import flowcore_locations.visited_most_days as visited_module
import pytest
from counted_paths import events_only, reads_counts, sorted_rows
from location_helpers import SpecRunner, add_calls, daily
from sqlalchemy import BigInteger, Date, Select, cast, func, select

from flowcore.sql.context import BuildContext
from flowcore.testing import insert_events
from flowdb.cell_counts import count_ingested_days


def add_sms(dsn: str, messages: list[tuple[str, str, str]]) -> None:
    """Insert outgoing SMS given as ``(subscriber, ISO datetime in UTC, cell id)``."""
    insert_events(
        dsn,
        "sms",
        [
            {
                "id": f"sms-{index}",
                "msisdn": subscriber,
                "datetime": moment,
                "location_id": cell,
                "outgoing": True,
            }
            for index, (subscriber, moment, cell) in enumerate(messages)
        ],
    )


def merged_cell_counts(
    context: BuildContext, spec: Any, *, start: dt.datetime, end: dt.datetime
) -> Select[Any]:
    """Select located cell counts with the event types merged per subscriber, cell and day."""
    counts = context.cell_counts(spec, start=start, end=end)
    assert counts is not None, spec
    rows = counts.subquery("cell_counts")
    per_cell = select(
        rows.c.subscriber,
        rows.c.location_id,
        cast(func.sum(rows.c.event_count), BigInteger).label("event_count"),
        func.max(rows.c.last_event).label("datetime"),
    ).group_by(rows.c.subscriber, rows.c.location_id, cast(rows.c.datetime, Date))
    return context.locate(per_cell, spec)


CALLS = [
    # ann: a call at C2 (R2) and an SMS at C1 (R1) at the same latest second. daily_location
    # resolves a tie at the latest event to the smallest unit value, R1.
    ("ann", "2016-01-01 18:00:00", "C2"),
    ("ann", "2016-01-01 09:00:00", "C1"),
    # ben: C3 has 2 calls and C1 has 1 call and 1 SMS. The SMS at C1 is the latest event.
    ("ben", "2016-01-01 08:00:00", "C3"),
    ("ben", "2016-01-01 09:00:00", "C3"),
    ("ben", "2016-01-01 07:00:00", "C1"),
    # cat: three calls and three SMS at C2, then one call at C3.
    ("cat", "2016-01-01 01:00:00", "C2"),
    ("cat", "2016-01-01 02:00:00", "C2"),
    ("cat", "2016-01-01 03:00:00", "C2"),
    ("cat", "2016-01-01 23:59:59", "C3"),
    # dan: MOVED is in R1 until the 2nd and in R2 from the 3rd.
    ("dan", "2016-01-02 10:00:00", "MOVED"),
    ("dan", "2016-01-03 10:00:00", "MOVED"),
    ("dan", "2016-01-03 11:00:00", "C3"),
    ("dan", "2016-01-04 09:00:00", "C3"),
    # eve: C1 and C1B are in R1 at different lon-lat points, with the same latest second.
    ("eve", "2016-01-02 12:00:00", "C1B"),
    ("eve", "2016-01-03 12:00:00", "C2"),
]

SMS = [
    ("ann", "2016-01-01 18:00:00", "C1"),
    ("ann", "2016-01-02 06:00:00", "C2"),
    ("ben", "2016-01-01 10:00:00", "C1"),
    ("cat", "2016-01-01 04:00:00", "C2"),
    ("cat", "2016-01-01 05:00:00", "C2"),
    ("cat", "2016-01-01 06:00:00", "C2"),
    ("dan", "2016-01-02 12:00:00", "MOVED"),
    ("dan", "2016-01-03 12:00:00", "MOVED"),
    ("dan", "2016-01-04 09:00:00", "MOVED"),
    ("eve", "2016-01-02 12:00:00", "C1"),
    ("eve", "2016-01-03 12:00:00", "C1"),
]


def range_spec(kind: str, start: str, end: str, unit: str = "admin3") -> dict[str, Any]:
    return {"query_kind": kind, "start_date": start, "end_date": end, "aggregation_unit": unit}


SPECS: list[dict[str, Any]] = [
    *(
        daily(day, unit, method)
        for day in ("2016-01-01", "2016-01-02", "2016-01-03", "2016-01-04")
        for unit in ("admin3", "lon-lat")
        for method in ("last", "most-common")
    ),
    *(
        range_spec(kind, "2016-01-01", end, unit)
        for kind in ("most_frequent_location", "visited_most_days")
        for end in ("2016-01-02", "2016-01-04", "2016-01-05")
        for unit in ("admin3", "lon-lat")
    ),
    {
        "query_kind": "modal_location",
        "locations": [daily(f"2016-01-0{day}", method="most-common") for day in (1, 2, 3, 4)],
    },
    {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "modal_location",
            "locations": [daily(f"2016-01-0{day}") for day in (1, 2, 3, 4)],
        },
    },
    {
        "query_kind": "flows",
        "from_location": daily("2016-01-02", method="most-common"),
        "to_location": range_spec("visited_most_days", "2016-01-03", "2016-01-05"),
    },
]


@pytest.fixture
def loaded(world: SpecRunner, world_dsn: str) -> SpecRunner:
    add_calls(world_dsn, CALLS)
    add_sms(world_dsn, SMS)
    counted = count_ingested_days(world_dsn)
    assert len(counted) == 8
    return world


def test_per_type_counts_match_other_paths(
    loaded: SpecRunner, world_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = loaded.session
    for spec in SPECS:
        assert reads_counts(session, spec), spec
    from_counts = [sorted_rows(session, spec) for spec in SPECS]
    per_type_sql = session.sql(SPECS[0])

    with monkeypatch.context() as patch:
        for module in (choice_module, visited_module):
            patch.setattr(module, "located_cell_counts", merged_cell_counts)
        # Without region keys, every unit takes the path that sorts rows per subscriber, so
        # the merged rows also check the keyed choice against the sorted one.
        patch.setattr(choice_module, "keyed_cell_counts", lambda *args, **kwargs: None)
        # The merged formulation groups the day counts again before locating them.
        assert session.sql(SPECS[0]) != per_type_sql
        from_merged = [sorted_rows(session, spec) for spec in SPECS]

    with events_only(world_dsn, session):
        for spec in SPECS:
            assert not reads_counts(session, spec), spec
        from_events = [sorted_rows(session, spec) for spec in SPECS]

    for spec, counted, merged, events in zip(
        SPECS, from_counts, from_merged, from_events, strict=True
    ):
        assert counted, spec
        assert counted == merged, spec
        assert counted == events, spec


def test_documented_ties_per_type_counts(loaded: SpecRunner) -> None:
    assert loaded.locations(daily("2016-01-01")) == {
        "ann": "R1",
        "ben": "R1",
        "cat": "R3",
    }
    assert loaded.locations(daily("2016-01-01", method="most-common")) == {
        "ann": "R1",
        "ben": "R1",
        "cat": "R2",
    }
    assert loaded.locations(daily("2016-01-03")) == {"dan": "R2", "eve": "R1"}
    assert loaded.locations(range_spec("visited_most_days", "2016-01-02", "2016-01-05")) == {
        "ann": "R2",
        "dan": "R2",
        "eve": "R1",
    }
