"""Quality checks recorded for each loaded day and read back through the QA view."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg


def test_loaded_day_has_quality_checks(testdata_dsn: str, testdata_path: Path) -> None:
    with (testdata_path / "records" / "calls" / "calls_20160103.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with psycopg.connect(testdata_dsn) as conn:
        outcomes = dict(
            conn.execute(
                "SELECT type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries "
                "WHERE cdr_type = 'calls' AND cdr_date = '2016-01-03'"
            ).fetchall()
        )
    assert outcomes["count_added_rows"] == str(len(rows))
    assert outcomes["count_msisdns"] == str(len({row["msisdn"] for row in rows}))
    assert outcomes["count_location_ids"] == str(len({row["location_id"] for row in rows}))
    assert outcomes["earliest_timestamp"].startswith(min(row["start_time"] for row in rows))


def test_counterpart_check_only_where_column_exists(testdata_dsn: str) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        types = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT cdr_type FROM etl.post_etl_queries "
                "WHERE type_of_query_or_check = 'count_null_counterparts'"
            )
        }
    assert types == {"calls", "sms"}


def test_checks_match_partition_rows(testdata_dsn: str) -> None:
    # The plain aggregates, computed here for every loaded day of calls and SMS.
    expected_sql = (
        "SELECT count(*)::text, count(DISTINCT msisdn)::text, count(DISTINCT imei)::text, "
        "count(DISTINCT imsi)::text, count(DISTINCT location_id)::text, "
        "count(*) FILTER (WHERE coalesce(location_id, '') = '')::text, "
        "count(*) FILTER (WHERE msisdn_counterpart IS NULL)::text, "
        "min(datetime)::text, max(datetime)::text FROM events.{} WHERE datetime::date = %s"
    )
    names = (
        "count_added_rows",
        "count_msisdns",
        "count_imeis",
        "count_imsis",
        "count_location_ids",
        "count_null_location_ids",
        "count_null_counterparts",
        "earliest_timestamp",
        "latest_timestamp",
    )
    with psycopg.connect(testdata_dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        days = conn.execute(
            "SELECT cdr_type::text, cdr_date FROM etl.available_dates "
            "WHERE cdr_type IN ('calls', 'sms') ORDER BY 1, 2"
        ).fetchall()
        assert len(days) >= 10
        for cdr_type, day in days:
            expected = conn.execute(expected_sql.format(cdr_type), (day,)).fetchone()
            recorded = dict(
                conn.execute(
                    "SELECT type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries "
                    "WHERE cdr_type = %s AND cdr_date = %s",
                    (cdr_type, day),
                ).fetchall()
            )
            assert {name: recorded[name] for name in names} == dict(
                zip(names, expected or (), strict=True)
            ), (cdr_type, day)
