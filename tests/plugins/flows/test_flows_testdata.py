"""Flows on the test dataset, checked against independent SQL for every join type.

The independent query computes each day's last location with ``row_number()`` (ties to the
smallest unit value, as documented) and joins the two days with the SQL join of the same name.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import psycopg
import pytest
from flows_helpers import SpecRunner, daily, flows

#: Last location per subscriber in one UTC day ``[{start}, {end})``, by plain SQL.
DAILY_LAST = """
SELECT msisdn, {columns} FROM (
    SELECT msisdn, {columns},
           row_number() OVER (PARTITION BY msisdn ORDER BY datetime DESC, {columns}) AS n
    FROM (
        SELECT e.msisdn, e.datetime, {select}
        FROM (
            SELECT msisdn, datetime, location_id FROM events.calls
            WHERE datetime >= {start} AND datetime < {end}
            UNION ALL
            SELECT msisdn, datetime, location_id FROM events.sms
            WHERE datetime >= {start} AND datetime < {end}
        ) AS e
        JOIN infrastructure.cells AS c
          ON c.id = e.location_id
         AND e.datetime::date BETWEEN coalesce(c.date_of_first_service, '-infinity'::date)
                                  AND coalesce(c.date_of_last_service, 'infinity'::date)
        {join}
    ) AS located
) AS ranked WHERE n = 1
"""

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

SQL_JOINS = {
    "inner": "INNER JOIN",
    "left": "LEFT JOIN",
    "left outer": "LEFT OUTER JOIN",
    "right": "RIGHT JOIN",
    "right outer": "RIGHT OUTER JOIN",
    "full outer": "FULL OUTER JOIN",
}

FLOWS_SQL = """
SELECT {from_columns}, {to_columns}, count(*)
FROM ({first}) AS o {join} ({second}) AS d ON o.msisdn = d.msisdn
GROUP BY {from_columns}, {to_columns}
"""


def day_bounds(day: str, prefix: str) -> dict[str, dt.datetime]:
    """Return the parameters ``<prefix>start`` and ``<prefix>end`` of one UTC day."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return {f"{prefix}start": start, f"{prefix}end": start + dt.timedelta(days=1)}


def independent_daily(dsn: str, unit: str, day: str) -> dict[str, Any]:
    """Return ``{subscriber: location}`` of the last location on ``day`` by plain SQL."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        text = DAILY_LAST.format(**UNIT_SQL[unit], start="%(start)s", end="%(end)s")
        rows = connection.execute(text, day_bounds(day, "")).fetchall()
    return {s: (loc[0] if len(loc) == 1 else tuple(loc)) for s, *loc in rows}


def independent_flows(dsn: str, unit: str, join_type: str) -> dict[Any, int]:
    """Return ``{(from..., to...): count}`` of flows from 2016-01-01 to 2016-01-02 by SQL."""
    parts = UNIT_SQL[unit]
    names = parts["columns"].split(", ")
    text = FLOWS_SQL.format(
        first=DAILY_LAST.format(**parts, start="%(first_start)s", end="%(first_end)s"),
        second=DAILY_LAST.format(**parts, start="%(second_start)s", end="%(second_end)s"),
        join=SQL_JOINS[join_type],
        from_columns=", ".join(f"o.{name}" for name in names),
        to_columns=", ".join(f"d.{name}" for name in names),
    )
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        bounds = day_bounds("2016-01-01", "first_") | day_bounds("2016-01-02", "second_")
        rows = connection.execute(text, bounds)
        return {tuple(row[:-1]): row[-1] for row in rows.fetchall()}


@pytest.mark.parametrize("join_type", list(SQL_JOINS))
def test_flows_match_sql(testdata: SpecRunner, testdata_dsn: str, join_type: str) -> None:
    expected = independent_flows(testdata_dsn, "admin3", join_type)
    origins = set(independent_daily(testdata_dsn, "admin3", "2016-01-01"))
    destinations = set(independent_daily(testdata_dsn, "admin3", "2016-01-02"))
    subscribers = {
        "inner": origins & destinations,
        "left": origins,
        "left outer": origins,
        "right": destinations,
        "right outer": destinations,
        "full outer": origins | destinations,
    }[join_type]
    spec = flows(daily("2016-01-01"), daily("2016-01-02"), join_type)

    found = {(r["pcod_from"], r["pcod_to"]): r["value"] for r in testdata.rows(spec)}

    assert len(found) == len(expected)
    assert found == expected
    assert sum(found.values()) == len(subscribers)


def test_flows_lon_lat_match_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    expected = independent_flows(testdata_dsn, "lon-lat", "full outer")
    spec = flows(daily("2016-01-01", "lon-lat"), daily("2016-01-02", "lon-lat"), "full outer")

    assert testdata.counts(spec) == expected


@pytest.mark.parametrize("join_type", ["inner", "full outer"])
def test_inflows_outflows_match_sql(
    testdata: SpecRunner, testdata_dsn: str, join_type: str
) -> None:
    pairs = independent_flows(testdata_dsn, "admin3", join_type)
    inflows: Counter[Any] = Counter()
    outflows: Counter[Any] = Counter()
    for (origin, destination), value in pairs.items():
        inflows[destination] += value
        outflows[origin] += value
    base = flows(daily("2016-01-01"), daily("2016-01-02"), join_type)

    found_in = testdata.counts({**base, "query_kind": "inflows"})
    found_out = testdata.counts({**base, "query_kind": "outflows"})
    released_in = testdata.counts({**base, "query_kind": "inflows"}, redact=True)

    assert found_in == dict(inflows)
    assert found_out == dict(outflows)
    assert released_in == {pcod: n for pcod, n in inflows.items() if n > 15}


def test_flows_redacted_match_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    modal = {
        "query_kind": "modal_location",
        "locations": [daily(f"2016-01-0{day}", "admin1") for day in range(1, 8)],
    }
    spec = flows(modal, daily("2016-01-07", "admin1"))
    raw = testdata.counts(spec)

    released = testdata.counts(spec, redact=True)

    assert released == {pair: n for pair, n in raw.items() if n > 15}
    assert released, "province flows from the week's modal location should exceed 15"
