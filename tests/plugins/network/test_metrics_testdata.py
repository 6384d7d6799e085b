"""Metrics on the test dataset, checked against counts written directly in SQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

# Calls and SMS rows of the first three days, one per party, as FlowKit reads them by default.
EVENTS = """
    SELECT msisdn, msisdn_counterpart, outgoing
    FROM events.calls WHERE datetime >= '2016-01-01' AND datetime < '2016-01-04'
    UNION ALL
    SELECT msisdn, msisdn_counterpart, outgoing
    FROM events.sms WHERE datetime >= '2016-01-01' AND datetime < '2016-01-04'
"""

EVENT_COUNTS = f"SELECT msisdn, count(*) FROM ({EVENTS}) AS e WHERE outgoing GROUP BY msisdn"

DEGREES = f"""
    SELECT msisdn, count(DISTINCT msisdn_counterpart)
    FROM ({EVENTS}) AS e
    WHERE msisdn_counterpart <> msisdn
    GROUP BY msisdn
"""


def query(dsn: str, sql: str) -> dict[str, int]:
    """Return ``{subscriber: count}`` from a two-column query."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SET timezone = 'UTC'")
        return dict(connection.execute(sql).fetchall())


def metric_spec(kind: str, **fields: Any) -> dict[str, Any]:
    """Return a ``kind`` spec over 2016-01-01 to 2016-01-04."""
    return {"query_kind": kind, "start_date": "2016-01-01", "end_date": "2016-01-04", **fields}


@pytest.mark.parametrize(
    ("spec", "sql"),
    [
        (metric_spec("event_count", direction="out"), EVENT_COUNTS),
        (metric_spec("subscriber_degree"), DEGREES),
    ],
)
def test_metric_matches_sql(run_on: Any, testdata_dsn: str, spec: dict[str, Any], sql: str) -> None:
    expected = query(testdata_dsn, sql)
    rows = run_on(testdata_dsn)(spec)
    assert len(expected) > 100
    assert {row["subscriber"]: row["value"] for row in rows} == expected
