"""Edge cases of the per-cell counts the loader and ``count-events`` write.

The cases are times with an offset, day edges and empty cells, and failed loads, which must
leave the previous day, its counts and its quality checks as they were. They also cover
``count-events`` on a database where only some days are counted, and a writer that records a
day again while it is being counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

import flowdb.cell_counts
from flowcore.cli import main
from flowcore.testing import insert_events
from flowdb.cell_counts import count_ingested_days
from flowdb.etl import record_ingested, record_state
from flowdb.loader import load_directory

HEADER = "start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,duration,tac\n"


def write_calls(folder: Path, day: str, lines: list[str]) -> None:
    """Write ``records/calls/calls_<day>.csv`` with the calls header and ``lines``."""
    calls = folder / "records" / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    (calls / f"calls_{day}.csv").write_text(HEADER + "".join(f"{line}\n" for line in lines))


def fetch(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the rows of ``query`` run in a UTC session."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        return conn.execute(query, params).fetchall()


def hour_rows(dsn: str) -> list[tuple[Any, ...]]:
    """Return the stored hour counts of calls as text, sorted."""
    return fetch(
        dsn,
        "SELECT cdr_date::text, hour_start::text, msisdn, location_id, event_count, "
        "last_event::text FROM events.subscriber_cell_hours WHERE cdr_type = 'calls' "
        "ORDER BY 1, 2, 3, 4 NULLS FIRST",
    )


def day_rows(dsn: str) -> list[tuple[Any, ...]]:
    """Return the stored day counts of calls as text, sorted."""
    return fetch(
        dsn,
        "SELECT cdr_date::text, msisdn, location_id, event_count, last_event::text "
        "FROM events.subscriber_cell_days WHERE cdr_type = 'calls' ORDER BY 1, 2, 3 NULLS FIRST",
    )


def counted_dates(dsn: str) -> list[tuple[str, date]]:
    """Return the (event type, day) pairs whose counts queries may read."""
    rows = fetch(dsn, "SELECT cdr_type, cdr_date FROM etl.counted_dates ORDER BY 1, 2")
    return [(str(cdr_type), cdr_date) for cdr_type, cdr_date in rows]


def count_tables(dsn: str) -> list[str]:
    """Return the names of every count table in ``events``, partitions included."""
    rows = fetch(
        dsn,
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'events' AND c.relname LIKE 'subscriber\\_cell\\_%%' "
        "AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    return [name for (name,) in rows]


def quality_checks(dsn: str) -> dict[str, str]:
    """Return the latest outcome of each quality check of calls on 2016-01-01."""
    rows = fetch(
        dsn,
        "SELECT type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries "
        "WHERE cdr_type = 'calls' AND cdr_date = '2016-01-01'",
    )
    return dict(rows)


DAY_TABLES = [
    "subscriber_cell_days",
    "subscriber_cell_days_calls",
    "subscriber_cell_days_calls_20160101",
    "subscriber_cell_days_mds",
    "subscriber_cell_days_sms",
    "subscriber_cell_days_topups",
    "subscriber_cell_hours",
    "subscriber_cell_hours_calls",
    "subscriber_cell_hours_calls_20160101",
    "subscriber_cell_hours_mds",
    "subscriber_cell_hours_sms",
    "subscriber_cell_hours_topups",
]


def test_offsets_and_day_edges_counted_in_utc(fresh_dsn: str, tmp_path: Path) -> None:
    write_calls(
        tmp_path,
        "20160101",
        [
            # 04:15 and 04:59:59 UTC: one hour row.
            "2016-01-01 10:00:00+05:45,B,1,A,C1,True,10,1",
            "2016-01-01 04:59:59+00:00,B,2,A,C1,True,10,1",
            # 23:15 UTC on the file's day, although the local date is the next day.
            "2016-01-02 05:00:00+05:45,B,3,A,C2,True,10,1",
            # Empty fields are null cells, quoted or not.
            "2016-01-01 00:00:00,A,4,B,,False,10,1",
            '2016-01-01 23:59:59.999999,A,5,B,"",False,10,1',
            '2016-01-01 23:59:59,A,6,B,"",False,10,1',
        ],
    )
    report = load_directory(fresh_dsn, tmp_path)

    assert report.ok, report.rejected
    assert hour_rows(fresh_dsn) == [
        ("2016-01-01", "2016-01-01 00:00:00+00", "B", None, 1, "2016-01-01 00:00:00+00"),
        ("2016-01-01", "2016-01-01 04:00:00+00", "A", "C1", 2, "2016-01-01 04:59:59+00"),
        ("2016-01-01", "2016-01-01 23:00:00+00", "A", "C2", 1, "2016-01-01 23:15:00+00"),
        ("2016-01-01", "2016-01-01 23:00:00+00", "B", None, 2, "2016-01-01 23:59:59.999999+00"),
    ]
    assert day_rows(fresh_dsn) == [
        ("2016-01-01", "A", "C1", 2, "2016-01-01 04:59:59+00"),
        ("2016-01-01", "A", "C2", 1, "2016-01-01 23:15:00+00"),
        ("2016-01-01", "B", None, 3, "2016-01-01 23:59:59.999999+00"),
    ]
    assert quality_checks(fresh_dsn)["count_null_location_ids"] == "3"


def test_offset_time_outside_day_rejected(fresh_dsn: str, tmp_path: Path) -> None:
    # 03:00 in Kathmandu is 21:15 UTC on the day before the file's day.
    write_calls(tmp_path, "20160101", ["2016-01-01 03:00:00+05:45,B,1,A,C1,True,10,1"])
    report = load_directory(fresh_dsn, tmp_path)

    assert not report.ok
    assert report.rejected[0].messages() == [
        "calls_20160101.csv line 2: start_time '2016-01-01 03:00:00+05:45' is outside the "
        "file's day 2016-01-01"
    ]
    assert count_tables(fresh_dsn) == [t for t in DAY_TABLES if not t.endswith("20160101")]
    assert counted_dates(fresh_dsn) == []


def test_failed_reload_keeps_day_and_counts(fresh_dsn: str, tmp_path: Path) -> None:
    write_calls(
        tmp_path,
        "20160101",
        ["2016-01-01 08:00:00,B,1,A,C1,True,10,1", "2016-01-01 09:00:00,B,2,A,C2,True,10,1"],
    )
    assert load_directory(fresh_dsn, tmp_path).ok
    days_before = day_rows(fresh_dsn)
    hours_before = hour_rows(fresh_dsn)
    checks_before = quality_checks(fresh_dsn)

    write_calls(
        tmp_path,
        "20160101",
        ["2016-01-01 10:00:00,B,3,A,C3,True,10,1", "2016-01-01 25:00:00,B,4,A,C3,True,10,1"],
    )
    report = load_directory(fresh_dsn, tmp_path)

    assert not report.ok
    assert day_rows(fresh_dsn) == days_before
    assert hour_rows(fresh_dsn) == hours_before
    assert quality_checks(fresh_dsn) == checks_before
    assert checks_before["count_added_rows"] == "2"
    assert counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]
    assert count_tables(fresh_dsn) == DAY_TABLES


def test_reload_replaces_counts_and_checks(fresh_dsn: str, tmp_path: Path) -> None:
    write_calls(
        tmp_path,
        "20160101",
        ["2016-01-01 08:00:00,B,1,A,C1,True,10,1", "2016-01-01 09:00:00,B,2,A,,True,10,1"],
    )
    assert load_directory(fresh_dsn, tmp_path).ok
    write_calls(tmp_path, "20160101", ["2016-01-01 23:59:59,B,3,C,C9,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok

    assert day_rows(fresh_dsn) == [("2016-01-01", "C", "C9", 1, "2016-01-01 23:59:59+00")]
    checks = quality_checks(fresh_dsn)
    assert checks["count_added_rows"] == "1"
    assert checks["count_null_location_ids"] == "0"
    assert checks["count_msisdns"] == "1"
    assert counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]
    assert count_tables(fresh_dsn) == DAY_TABLES


def test_count_events_skips_counted_and_withdrawn(fresh_dsn: str, tmp_path: Path) -> None:
    write_calls(tmp_path, "20160101", ["2016-01-01 08:00:00,B,1,A,C1,True,10,1"])
    write_calls(tmp_path, "20160102", ["2016-01-02 08:00:00,B,2,A,C2,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok
    # Days added without counts, one of them withdrawn again afterwards.
    insert_events(
        fresh_dsn,
        "sms",
        [
            {"msisdn": "A", "datetime": "2016-01-01 10:00:00", "location_id": "C3"},
            {"msisdn": "A", "datetime": "2016-01-03 10:00:00", "location_id": "C3"},
        ],
    )
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("DELETE FROM etl.counted_days WHERE cdr_date = '2016-01-02'")
        record_state(conn, "sms", date(2016, 1, 3), "quarantine")
    stamps_before = fetch(
        fresh_dsn,
        "SELECT ingested_at FROM etl.counted_days WHERE cdr_date = '2016-01-01'",
    )

    counted = count_ingested_days(fresh_dsn)

    assert counted == [("calls", date(2016, 1, 2)), ("sms", date(2016, 1, 1))]
    assert counted_dates(fresh_dsn) == [
        ("calls", date(2016, 1, 1)),
        ("calls", date(2016, 1, 2)),
        ("sms", date(2016, 1, 1)),
    ]
    assert stamps_before == fetch(
        fresh_dsn,
        "SELECT ingested_at FROM etl.counted_days "
        "WHERE cdr_date = '2016-01-01' AND cdr_type = 'calls'",
    )
    assert fetch(
        fresh_dsn,
        "SELECT cdr_date::text, msisdn, location_id, event_count "
        "FROM events.subscriber_cell_days WHERE cdr_type = 'sms'",
    ) == [("2016-01-01", "A", "C3", 1)]
    assert count_ingested_days(fresh_dsn) == []


def test_day_ingested_again_while_counted(
    fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_calls(tmp_path, "20160101", ["2016-01-01 08:00:00,B,1,A,C1,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("DELETE FROM etl.counted_days")
    attach = flowdb.cell_counts.attach_counts

    def attach_then_write(
        conn: psycopg.Connection, cdr_type: str, day: date, **options: Any
    ) -> None:
        # Another writer adds an event and records the day again after the counts are built.
        with psycopg.connect(fresh_dsn) as writer:
            writer.execute(
                "INSERT INTO events.calls (msisdn, datetime, location_id) VALUES (%s, %s, %s)",
                ("A", datetime(2016, 1, 1, 9, tzinfo=UTC), "C2"),
            )
            record_ingested(writer, cdr_type, day)
        attach(conn, cdr_type, day, **options)

    monkeypatch.setattr(flowdb.cell_counts, "attach_counts", attach_then_write)
    assert count_ingested_days(fresh_dsn) == [("calls", date(2016, 1, 1))]
    monkeypatch.undo()

    # The counts lack the writer's event, so they must not be marked current.
    assert day_rows(fresh_dsn) == [("2016-01-01", "A", "C1", 1, "2016-01-01 08:00:00+00")]
    assert counted_dates(fresh_dsn) == []
    assert count_ingested_days(fresh_dsn) == [("calls", date(2016, 1, 1))]
    assert counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]
    assert [row[1:4] for row in day_rows(fresh_dsn)] == [("A", "C1", 1), ("A", "C2", 1)]


def test_count_events_skips_unknown_event_type(
    fresh_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_calls(tmp_path, "20160101", ["2016-01-01 08:00:00,B,1,A,C1,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("DELETE FROM etl.counted_days")
        # A day of a type FlowDB has no event table for, recorded by another ETL.
        conn.execute(
            "INSERT INTO etl.etl_records (cdr_type, cdr_date, state) "
            "VALUES ('forwards', '2016-01-01', 'ingested')"
        )

    result = CliRunner().invoke(main, ["db", "count-events", "--dsn", fresh_dsn])

    assert result.exit_code == 0, result.output
    assert result.output == "Counted calls: 2016-01-01\n"
    assert "not counting days of unknown event types: forwards" in caplog.text
    assert counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]
