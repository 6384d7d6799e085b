"""Location kinds on the test dataset, checked against independent SQL.

The independent queries locate events with plain SQL: the cell version valid on the event's UTC
date, then point in polygon or the cell's coordinates. They pick locations with
``row_number()`` windows instead of the kinds' ``DISTINCT ON``, and break ties by the
documented rules (latest time, then the smallest unit value).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import psycopg
import pytest
from location_helpers import SpecRunner, daily

from flowcore.model.scopes import required_scopes

DAYS = [dt.date(2016, 1, day) for day in range(1, 8)]

#: Per unit: the location columns, their SQL expressions and the join that locates a cell.
UNIT_SQL = {
    "admin3": {
        "columns": "pcod",
        "select": "a.admin3pcod AS pcod",
        "join": "JOIN geography.admin3 AS a ON ST_Within(c.geom_point, a.geom)",
    },
    "lon-lat": {
        "columns": "lon, lat",
        "select": "ST_X(c.geom_point) AS lon, ST_Y(c.geom_point) AS lat",
        "join": "",
    },
}

LOCATED_EVENTS = """
WITH raw_events AS (
    SELECT msisdn, datetime, location_id FROM events.calls
    WHERE datetime >= %(start)s AND datetime < %(end)s
    UNION ALL
    SELECT msisdn, datetime, location_id FROM events.sms
    WHERE datetime >= %(start)s AND datetime < %(end)s
),
located AS (
    SELECT e.msisdn, e.datetime, {select}
    FROM raw_events AS e
    JOIN infrastructure.cells AS c
      ON c.id = e.location_id
     AND e.datetime::date >= coalesce(c.date_of_first_service, '-infinity'::date)
     AND e.datetime::date <= coalesce(c.date_of_last_service, 'infinity'::date)
    {join}
)
"""

DAILY_LAST = """
SELECT msisdn, {columns} FROM (
    SELECT msisdn, {columns},
           row_number() OVER (PARTITION BY msisdn ORDER BY datetime DESC, {columns}) AS n
    FROM located
) AS ranked WHERE n = 1
"""

DAILY_MOST_COMMON = """
SELECT msisdn, {columns} FROM (
    SELECT msisdn, {columns},
           row_number() OVER (
               PARTITION BY msisdn ORDER BY events DESC, latest DESC, {columns}
           ) AS n
    FROM (
        SELECT msisdn, {columns}, count(*) AS events, max(datetime) AS latest
        FROM located GROUP BY msisdn, {columns}
    ) AS counted
) AS ranked WHERE n = 1
"""

WEEK_MODAL = """
, daily AS (
    SELECT msisdn, day, {columns} FROM (
        SELECT msisdn, datetime::date AS day, {columns},
               row_number() OVER (
                   PARTITION BY msisdn, datetime::date ORDER BY datetime DESC, {columns}
               ) AS n
        FROM located
    ) AS ranked WHERE n = 1
),
votes AS (
    SELECT msisdn, {columns}, count(*) AS days, max(day) AS latest
    FROM daily GROUP BY msisdn, {columns}
)
SELECT msisdn, {columns} FROM (
    SELECT msisdn, {columns},
           row_number() OVER (PARTITION BY msisdn ORDER BY days DESC, latest DESC, {columns}) AS n
    FROM votes
) AS ranked WHERE n = 1
"""


def independent(dsn: str, sql: str, unit: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Run an independent per-subscriber query and return ``{subscriber: location}``."""
    parts = UNIT_SQL[unit]
    text = (LOCATED_EVENTS + sql).format(**parts)
    bounds = {
        "start": dt.datetime.combine(start, dt.time(), dt.UTC),
        "end": dt.datetime.combine(end, dt.time(), dt.UTC),
    }
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        rows = connection.execute(text, bounds).fetchall()
    result: dict[str, Any] = {}
    for subscriber, *location in rows:
        result[subscriber] = location[0] if len(location) == 1 else tuple(location)
    return result


@pytest.mark.parametrize("unit", ["admin3", "lon-lat"])
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_daily_last_matches_sql(
    testdata: SpecRunner, testdata_dsn: str, day: dt.date, unit: str
) -> None:
    expected = independent(testdata_dsn, DAILY_LAST, unit, day, day + dt.timedelta(days=1))

    found = testdata.locations(daily(day.isoformat(), unit))

    assert len(expected) > 400
    assert found == expected


@pytest.mark.parametrize("unit", ["admin3", "lon-lat"])
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_daily_most_common_matches_sql(
    testdata: SpecRunner, testdata_dsn: str, day: dt.date, unit: str
) -> None:
    end = day + dt.timedelta(days=1)
    expected = independent(testdata_dsn, DAILY_MOST_COMMON, unit, day, end)

    found = testdata.locations(daily(day.isoformat(), unit, "most-common"))

    assert len(expected) > 400
    assert found == expected


@pytest.mark.parametrize("unit", ["admin3", "lon-lat"])
def test_week_modal_matches_sql(testdata: SpecRunner, testdata_dsn: str, unit: str) -> None:
    expected = independent(testdata_dsn, WEEK_MODAL, unit, DAYS[0], DAYS[-1] + dt.timedelta(1))
    spec = {
        "query_kind": "modal_location",
        "locations": [daily(day.isoformat(), unit) for day in DAYS],
    }

    found = testdata.locations(spec)

    assert len(expected) > 400
    assert found == expected


def test_most_frequent_week_matches_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    end = DAYS[-1] + dt.timedelta(days=1)
    expected = independent(testdata_dsn, DAILY_MOST_COMMON, "admin3", DAYS[0], end)
    spec = {
        "query_kind": "most_frequent_location",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin3",
    }

    assert testdata.locations(spec) == expected


@pytest.mark.parametrize("unit", ["admin3", "lon-lat"])
@pytest.mark.parametrize("day", [DAYS[0], DAYS[5]], ids=str)
def test_spatial_aggregate_matches_sql(
    testdata: SpecRunner, testdata_dsn: str, day: dt.date, unit: str
) -> None:
    located = independent(testdata_dsn, DAILY_LAST, unit, day, day + dt.timedelta(days=1))
    expected = Counter(located.values())
    spec = {"query_kind": "spatial_aggregate", "locations": daily(day.isoformat(), unit)}

    rows = testdata.rows(spec)
    columns = [c for c in testdata.columns(spec) if c != "value"]
    found = {
        (row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)): row["value"]
        for row in rows
    }

    assert testdata.columns(spec) == [*UNIT_SQL[unit]["columns"].split(", "), "value"]
    assert len(rows) == len(expected)
    assert found == dict(expected)
    assert sum(found.values()) == len(located)


def test_spatial_aggregate_modal_redacted(testdata: SpecRunner, testdata_dsn: str) -> None:
    located = independent(testdata_dsn, WEEK_MODAL, "admin3", DAYS[0], dt.date(2016, 1, 8))
    expected = {pcod: n for pcod, n in Counter(located.values()).items() if n > 15}
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "modal_location",
            "locations": [daily(day.isoformat()) for day in DAYS],
        },
    }

    rows = testdata.rows(spec, redact=True)

    assert expected, "the week's modal locations should give some regions above 15"
    assert {row["pcod"]: row["value"] for row in rows} == expected
    assert all(row["value"] > 15 for row in rows)


def test_spatial_aggregate_modal_scopes(testdata: SpecRunner) -> None:
    spec = testdata.converter.structure(
        {
            "query_kind": "spatial_aggregate",
            "locations": {
                "query_kind": "modal_location",
                "locations": [daily(day.isoformat()) for day in DAYS[:2]],
            },
        }
    )

    assert required_scopes(spec) == {
        "admin3:spatial_aggregate:spatial_aggregate",
        "admin3:spatial_aggregate:modal_location",
        "admin3:spatial_aggregate:daily_location",
    }
