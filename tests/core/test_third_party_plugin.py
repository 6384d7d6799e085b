"""A kind installed from a third-party distribution works through the Python API."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

import flowcore
from flowcore.session import Session

FIRST_LOCATION = {
    "query_kind": "first_location",
    "start_date": "2016-01-01",
    "end_date": "2016-01-03",
    "aggregation_unit": "admin3",
}

# Independent computation: the admin3 region of each subscriber's earliest calls/sms event in
# the range, through the cell version valid that day; ties go to the smallest pcod.
EXPECTED_SQL = """
WITH events AS (
    SELECT msisdn, datetime, location_id FROM events.calls
    WHERE datetime >= '2016-01-01' AND datetime < '2016-01-03'
    UNION ALL
    SELECT msisdn, datetime, location_id FROM events.sms
    WHERE datetime >= '2016-01-01' AND datetime < '2016-01-03'
), located AS (
    SELECT e.msisdn, e.datetime, a.admin3pcod AS pcod
    FROM events e
    JOIN infrastructure.cells c ON c.id = e.location_id
        AND c.date_of_first_service <= e.datetime::date
        AND (c.date_of_last_service IS NULL OR e.datetime::date <= c.date_of_last_service)
    JOIN geography.admin3 a ON ST_Within(c.geom_point, a.geom)
), ranked AS (
    SELECT msisdn, pcod,
        row_number() OVER (PARTITION BY msisdn ORDER BY datetime, pcod) AS position
    FROM located
)
SELECT pcod, count(*) FROM ranked WHERE position = 1 GROUP BY pcod
"""


@pytest.fixture(scope="module")
def session(testdata_dsn: str) -> Iterator[Session]:
    with flowcore.connect(testdata_dsn) as opened:
        yield opened


def test_plugin_kind_runs_alone(session: Session) -> None:
    result = session.run(FIRST_LOCATION)
    assert result.columns == ["subscriber", "pcod"]
    subscribers = [row[0] for row in result]
    assert len(subscribers) == len(set(subscribers)) > 400


def test_plugin_kind_inside_spatial_aggregate(session: Session, testdata_dsn: str) -> None:
    result = session.run({"query_kind": "spatial_aggregate", "locations": FIRST_LOCATION})
    with psycopg.connect(testdata_dsn) as conn:
        expected = dict(conn.execute(EXPECTED_SQL).fetchall())
    assert result.columns == ["pcod", "value"]
    assert dict(result.rows()) == expected


def test_plugin_kind_scopes_nested(session: Session) -> None:
    scopes = session.scopes({"query_kind": "spatial_aggregate", "locations": FIRST_LOCATION})
    assert scopes == {
        "admin3:spatial_aggregate:spatial_aggregate",
        "admin3:spatial_aggregate:first_location",
    }
