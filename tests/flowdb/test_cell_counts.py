"""Per-cell hour and day counts: written by the loader and the generator, replaced with the day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from flowcore.cli import main
from flowdb.cell_counts import count_ingested_days
from flowdb.loader import load_directory
from flowdb.synth import SynthParams, generate

# Counts made from the events (in a UTC session), in the layout of the stored counts.
COUNTS_FROM_EVENTS = {
    "day": """
        SELECT '{table}', datetime::date, msisdn, location_id, count(*), max(datetime)
        FROM events.{table}
        GROUP BY datetime::date, msisdn, location_id
    """,
    "hour": """
        SELECT '{table}', datetime::date, date_trunc('hour', datetime), msisdn, location_id,
            count(*), max(datetime)
        FROM events.{table}
        GROUP BY datetime::date, date_trunc('hour', datetime), msisdn, location_id
    """,
}

STORED_COUNTS = {
    "day": """
        SELECT cdr_type, cdr_date, msisdn, location_id, event_count, last_event
        FROM events.subscriber_cell_days WHERE cdr_type = '{table}'
    """,
    "hour": """
        SELECT cdr_type, cdr_date, hour_start, msisdn, location_id, event_count, last_event
        FROM events.subscriber_cell_hours WHERE cdr_type = '{table}'
    """,
}

HEADER = "start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,duration,tac\n"


def _differences(dsn: str, table: str, per: str) -> tuple[int, int, int]:
    """Return rows only in the events' counts, rows only in the stored counts, stored rows."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        expected = COUNTS_FROM_EVENTS[per].format(table=table)
        stored = STORED_COUNTS[per].format(table=table)
        missing = conn.execute(f"SELECT count(*) FROM ({expected} EXCEPT {stored}) AS m").fetchone()
        extra = conn.execute(f"SELECT count(*) FROM ({stored} EXCEPT {expected}) AS x").fetchone()
        rows = conn.execute(f"SELECT count(*) FROM ({stored}) AS s").fetchone()
    assert missing is not None and extra is not None and rows is not None
    return missing[0], extra[0], rows[0]


def _counted_dates(dsn: str) -> list[tuple[str, date]]:
    with psycopg.connect(dsn) as conn:
        return [
            (str(cdr_type), cdr_date)
            for cdr_type, cdr_date in conn.execute(
                "SELECT cdr_type, cdr_date FROM etl.counted_dates ORDER BY 1, 2"
            )
        ]


def _write_calls(folder: Path, lines: list[str]) -> None:
    calls = folder / "records" / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    (calls / "calls_20160101.csv").write_text(HEADER + "".join(f"{line}\n" for line in lines))


@pytest.mark.parametrize("per", ["day", "hour"])
@pytest.mark.parametrize("table", ["calls", "sms", "mds", "topups"])
def test_loaded_counts_match_events(testdata_dsn: str, table: str, per: str) -> None:
    missing, extra, rows = _differences(testdata_dsn, table, per)
    assert (missing, extra) == (0, 0)
    assert rows > 1000


def test_reloading_a_day_replaces_its_counts(fresh_dsn: str, tmp_path: Path) -> None:
    _write_calls(
        tmp_path,
        [
            "2016-01-01 08:00:00,B,1,A,C1,True,10,1",
            "2016-01-01 09:00:00,B,2,A,C1,True,10,1",
            "2016-01-01 10:00:00,A,3,B,C2,False,10,1",
        ],
    )
    assert load_directory(fresh_dsn, tmp_path).ok
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        first = conn.execute(
            "SELECT msisdn, location_id, event_count, last_event::text "
            "FROM events.subscriber_cell_days ORDER BY 1, 2"
        ).fetchall()
    assert first == [
        ("A", "C1", 2, "2016-01-01 09:00:00+00"),
        ("B", "C2", 1, "2016-01-01 10:00:00+00"),
    ]
    assert _counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]

    _write_calls(tmp_path, ["2016-01-01 11:00:00,B,4,A,C3,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok
    with psycopg.connect(fresh_dsn) as conn:
        second = conn.execute(
            "SELECT msisdn, location_id, event_count FROM events.subscriber_cell_days"
        ).fetchall()
        second_hours = conn.execute(
            "SELECT msisdn, location_id, event_count FROM events.subscriber_cell_hours"
        ).fetchall()
    assert second == [("A", "C3", 1)]
    assert second_hours == [("A", "C3", 1)]
    assert _counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]


def test_command_counts_days_without_current_counts(fresh_dsn: str, tmp_path: Path) -> None:
    _write_calls(tmp_path, ["2016-01-01 08:00:00,B,1,A,C1,True,10,1"])
    assert load_directory(fresh_dsn, tmp_path).ok
    with psycopg.connect(fresh_dsn) as conn:
        # Another writer ingests the day again: the stored counts are no longer current.
        conn.execute(
            "INSERT INTO etl.etl_records (cdr_type, cdr_date, state) "
            "VALUES ('calls', '2016-01-01', 'ingested')"
        )
    assert _counted_dates(fresh_dsn) == []

    runner = CliRunner()
    first = runner.invoke(main, ["db", "count-events", "--dsn", fresh_dsn])
    assert first.exit_code == 0, first.output
    assert first.output == "Counted calls: 2016-01-01\n"
    assert _counted_dates(fresh_dsn) == [("calls", date(2016, 1, 1))]

    again = runner.invoke(main, ["db", "count-events", "--dsn", fresh_dsn])
    assert again.output == "Every ingested day is counted.\n"
    recount = runner.invoke(
        main, ["db", "count-events", "--dsn", fresh_dsn, "--recount", "--event-type", "sms"]
    )
    assert recount.output == "Every ingested day is counted.\n"
    assert count_ingested_days(fresh_dsn, recount=True) == [("calls", date(2016, 1, 1))]


def test_unknown_event_type_is_rejected(fresh_dsn: str) -> None:
    result = CliRunner().invoke(
        main, ["db", "count-events", "--dsn", fresh_dsn, "--event-type", "voice"]
    )
    assert result.exit_code == 2
    assert "'voice' is not one of" in result.output


def test_generated_days_are_counted(fresh_dsn: str) -> None:
    params = SynthParams(
        n_days=2,
        n_subscribers=200,
        n_cells=40,
        n_sites=30,
        n_tacs=10,
        n_calls=1_000,
        n_sms=500,
        n_mds=500,
        geography="grid",
    )
    generate(fresh_dsn, params)
    for table in ("calls", "sms", "mds"):
        for per in ("day", "hour"):
            missing, extra, rows = _differences(fresh_dsn, table, per)
            assert (missing, extra) == (0, 0), (table, per)
            assert rows > 100, (table, per)
    days = [date(2016, 1, 1), date(2016, 1, 2)]
    assert _counted_dates(fresh_dsn) == [
        (table, day) for table in ("calls", "mds", "sms") for day in days
    ]
