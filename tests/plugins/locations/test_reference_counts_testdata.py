"""Reference-location and unmoving counts on the test dataset, checked against independent SQL.

The reference location is the ``daily_location`` (method last) of 2016-01-01 at admin3. The
visits are the admin3 regions seen from 2016-01-02 to 2016-01-07, or on 2016-01-02 alone for
the unmoving counts, because few subscribers of the dataset stay in one region for longer. The
independent query locates calls and sms with plain SQL (the cell version in service on the
event's UTC date, then point in polygon) and tests membership with EXISTS instead of joins.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from location_helpers import SpecRunner, daily

START = dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
SPLIT = dt.datetime(2016, 1, 2, tzinfo=dt.UTC)
END = dt.datetime(2016, 1, 8, tzinfo=dt.UTC)
ONE_DAY_END = dt.datetime(2016, 1, 3, tzinfo=dt.UTC)

LOCATED = """
WITH located AS (
    SELECT e.msisdn, e.datetime, a.admin3pcod AS pcod
    FROM (
        SELECT msisdn, datetime, location_id FROM events.calls
        WHERE datetime >= %(start)s AND datetime < %(end)s
        UNION ALL
        SELECT msisdn, datetime, location_id FROM events.sms
        WHERE datetime >= %(start)s AND datetime < %(end)s
    ) AS e
    JOIN infrastructure.cells AS c
      ON c.id = e.location_id
     AND e.datetime::date >= coalesce(c.date_of_first_service, '-infinity'::date)
     AND e.datetime::date <= coalesce(c.date_of_last_service, 'infinity'::date)
    JOIN geography.admin3 AS a ON ST_Within(c.geom_point, a.geom)
),
reference AS (
    SELECT DISTINCT ON (msisdn) msisdn, pcod FROM located
    WHERE datetime < %(split)s
    ORDER BY msisdn, datetime DESC, pcod
),
visits AS (
    SELECT DISTINCT msisdn, pcod FROM located WHERE datetime >= %(split)s
)
"""

ACTIVE = """
SELECT r.pcod, count(*) FILTER (
    WHERE EXISTS (SELECT 1 FROM visits AS v WHERE v.msisdn = r.msisdn AND v.pcod = r.pcod)
)
FROM reference AS r GROUP BY r.pcod
"""

UNMOVING_AT_REFERENCE = """
SELECT r.pcod, count(*) FILTER (
    WHERE EXISTS (SELECT 1 FROM visits AS v WHERE v.msisdn = r.msisdn)
      AND NOT EXISTS (
          SELECT 1 FROM visits AS v WHERE v.msisdn = r.msisdn AND v.pcod <> r.pcod
      )
)
FROM reference AS r GROUP BY r.pcod
"""

UNMOVING = """
, places AS (SELECT msisdn, count(DISTINCT pcod) AS n FROM visits GROUP BY msisdn)
SELECT v.pcod, count(*) FILTER (WHERE p.n = 1)
FROM visits AS v JOIN places AS p USING (msisdn) GROUP BY v.pcod
"""

VISITORS = """
SELECT pcod, count(*) FILTER (
    WHERE NOT EXISTS (
        SELECT 1 FROM reference AS r WHERE r.msisdn = v.msisdn AND r.pcod = v.pcod
    )
)
FROM visits AS v GROUP BY pcod
"""


def independent(dsn: str, sql: str, end: dt.datetime = END) -> dict[str, int]:
    """Run an independent count query with visits before ``end``; return ``{pcod: value}``."""
    bounds = {"start": START, "split": SPLIT, "end": end}
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        rows = connection.execute(LOCATED + sql, bounds).fetchall()
    return {pcod: value for pcod, value in rows}


def visited(end: dt.datetime = END) -> dict[str, Any]:
    """Return the ``unique_locations`` spec of the visits before ``end``."""
    return {
        "query_kind": "unique_locations",
        "start_date": SPLIT.date().isoformat(),
        "end_date": end.date().isoformat(),
        "aggregation_unit": "admin3",
    }


def by_location(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return ``{pcod: value}`` of admin-unit rows."""
    return {row["pcod"]: row["value"] for row in rows}


def active_counts() -> dict[str, Any]:
    """Return the ``active_at_reference_location_counts`` spec of this module."""
    return {
        "query_kind": "active_at_reference_location_counts",
        "unique_locations": visited(),
        "reference_locations": daily(START.date().isoformat()),
    }


def test_active_counts_match_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    expected = independent(testdata_dsn, ACTIVE)

    found = by_location(testdata.rows(active_counts()))

    assert sum(expected.values()) > 100
    assert found == expected


def test_unmoving_at_reference_matches_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    expected = independent(testdata_dsn, UNMOVING_AT_REFERENCE, ONE_DAY_END)
    spec = {
        "query_kind": "unmoving_at_reference_location_counts",
        "locations": visited(ONE_DAY_END),
        "reference_locations": daily(START.date().isoformat()),
    }

    found = by_location(testdata.rows(spec))

    assert sum(expected.values()) > 0
    assert found == expected


def test_unmoving_counts_match_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    expected = independent(testdata_dsn, UNMOVING, ONE_DAY_END)
    spec = {"query_kind": "unmoving_counts", "locations": visited(ONE_DAY_END)}

    found = by_location(testdata.rows(spec))

    assert sum(expected.values()) > 0
    assert found == expected


def test_visitor_counts_match_sql(testdata: SpecRunner, testdata_dsn: str) -> None:
    active = independent(testdata_dsn, ACTIVE)
    visitors = independent(testdata_dsn, VISITORS)
    # The subscribers seen at a location are those active there plus its visitors. Both
    # inputs are redacted before the difference, then the difference itself.
    expected = {}
    for pcod, active_count in active.items():
        visitor_count = visitors.get(pcod, 0)
        seen_count = active_count + visitor_count
        if active_count > 15 and seen_count > 15 and visitor_count > 15:
            expected[pcod] = visitor_count
    spec = {
        "query_kind": "unique_visitor_counts",
        "active_at_reference_location_counts": active_counts(),
        "unique_subscriber_counts": {**visited(), "query_kind": "unique_subscriber_counts"},
    }

    found = by_location(testdata.rows(spec, redact=True))

    assert len(expected) > 0
    assert found == expected


def test_active_counts_redacted(testdata: SpecRunner, testdata_dsn: str) -> None:
    expected = {pcod: n for pcod, n in independent(testdata_dsn, ACTIVE).items() if n > 15}

    found = by_location(testdata.rows(active_counts(), redact=True))

    assert len(expected) > 0
    assert found == expected
