"""Network kinds on the test dataset, checked against counts written directly in SQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest

# Calls and SMS rows of the test week located at admin1: the cell version in service on the
# event's date, and the province polygon containing that cell.
LOCATED_EVENTS = """
    SELECT e.msisdn, e.datetime, e.location_id, a.admin1pcod AS pcod
    FROM (SELECT msisdn, datetime, location_id FROM events.calls
          UNION ALL
          SELECT msisdn, datetime, location_id FROM events.sms) AS e
    JOIN infrastructure.cells AS c
      ON c.id = e.location_id
     AND (c.date_of_first_service IS NULL OR c.date_of_first_service <= e.datetime::date)
     AND (c.date_of_last_service IS NULL OR e.datetime::date <= c.date_of_last_service)
    JOIN geography.admin1 AS a ON ST_Within(c.geom_point, a.geom)
    WHERE e.datetime >= '2016-01-01' AND e.datetime < '2016-01-08'
"""


@pytest.fixture(scope="module")
def located(testdata_dsn: str) -> list[tuple[Any, ...]]:
    """The located events of the test week as (subscriber, datetime, cell, pcod) rows."""
    with psycopg.connect(testdata_dsn) as connection:
        connection.execute("SET timezone = 'UTC'")
        return connection.execute(LOCATED_EVENTS).fetchall()


def week_spec(kind: str, **fields: Any) -> dict[str, Any]:
    """Return a spec of ``kind`` over the test week at admin1."""
    return {
        "query_kind": kind,
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin1",
        **fields,
    }


@pytest.mark.parametrize("interval", ["day", "hour", "min"])
def test_event_counts_match_sql(
    run_on: Any, testdata_dsn: str, located: list[tuple[Any, ...]], interval: str
) -> None:
    expected: Counter[tuple[Any, ...]] = Counter()
    for _, moment, _, pcod in located:
        bucket: tuple[Any, ...] = (pcod, moment.date().isoformat())
        if interval in ("hour", "min"):
            bucket += (moment.hour,)
        if interval == "min":
            bucket += (moment.minute,)
        expected[bucket] += 1
    rows = run_on(testdata_dsn)(week_spec("location_event_counts", interval=interval))
    got = {tuple(v for k, v in row.items() if k != "value"): row["value"] for row in rows}
    assert got == dict(expected)
    assert sum(got.values()) > 10_000


def test_unique_subscribers_match_sql(
    run_on: Any, testdata_dsn: str, located: list[tuple[Any, ...]]
) -> None:
    subscribers: dict[str, set[str]] = {}
    for subscriber, _, _, pcod in located:
        subscribers.setdefault(pcod, set()).add(subscriber)
    rows = run_on(testdata_dsn)(week_spec("unique_subscriber_counts"))
    assert {row["pcod"]: row["value"] for row in rows} == {
        pcod: len(seen) for pcod, seen in subscribers.items()
    }


def test_network_objects_match_sql(
    run_on: Any, testdata_dsn: str, located: list[tuple[Any, ...]]
) -> None:
    cells: dict[tuple[str, Any], set[str]] = {}
    for _, moment, cell, pcod in located:
        cells.setdefault((pcod, moment.date()), set()).add(cell)
    rows = run_on(testdata_dsn)(week_spec("total_network_objects"))
    assert {(row["pcod"], row["datetime"].date()): row["value"] for row in rows} == {
        key: len(seen) for key, seen in cells.items()
    }
