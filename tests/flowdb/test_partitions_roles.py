"""Day partitions created by other code, ingestion records, and the two login roles' rights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from flowdb.etl import available_dates, record_ingested, record_state
from flowdb.partitions import ensure_day_partition, list_day_partitions


def test_ensure_day_partition_creates_indexed_partition(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        first = ensure_day_partition(conn, "mds", date(2016, 1, 2))
        again = ensure_day_partition(conn, "mds", date(2016, 1, 2))
        bounds = conn.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'mds_20160102'"
        ).fetchone()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'mds_20160102' ORDER BY 1"
        ).fetchall()
        partitions = list_day_partitions(conn, "mds")
    assert first == again == "events.mds_20160102"
    assert bounds == ("FOR VALUES FROM ('2016-01-02 00:00:00+00') TO ('2016-01-03 00:00:00+00')",)
    assert [name for (name,) in indexes] == [
        "mds_20160102_datetime_idx",
        "mds_20160102_id_idx",
        "mds_20160102_location_id_idx",
        "mds_20160102_msisdn_idx",
        "mds_20160102_tac_idx",
    ]
    assert partitions == ["mds_20160102"]


def test_partition_accepts_its_day_only(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        ensure_day_partition(conn, "calls", date(2016, 1, 1))
        conn.execute(
            "INSERT INTO events.calls (datetime, msisdn) VALUES (%s, 'A')",
            (datetime(2016, 1, 1, 23, 59, 59, tzinfo=UTC),),
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO events.calls (datetime, msisdn) VALUES (%s, 'A')",
                (datetime(2016, 1, 2, tzinfo=UTC),),
            )


def test_unknown_event_type_raises(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn, pytest.raises(ValueError, match="allowed: calls"):
        ensure_day_partition(conn, "forwards", date(2016, 1, 1))


def test_latest_record_decides_availability(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        record_ingested(conn, "calls", date(2016, 1, 1))
        record_ingested(conn, "calls", date(2016, 1, 2))
        record_state(conn, "calls", date(2016, 1, 2), "quarantine")
        record_ingested(conn, "sms", date(2016, 1, 1))
        dates = available_dates(conn)
    assert dates == {"calls": [date(2016, 1, 1)], "sms": [date(2016, 1, 1)]}


def test_deduped_checks_keep_latest_for_ingested_days(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        record_ingested(conn, "calls", date(2016, 1, 1))
        conn.execute(
            "INSERT INTO etl.post_etl_queries (cdr_date, cdr_type, type_of_query_or_check, "
            "outcome, timestamp) VALUES "
            "('2016-01-01', 'calls', 'count', '10', '2020-01-01'), "
            "('2016-01-01', 'calls', 'count', '12', '2020-01-02'), "
            "('2016-01-02', 'calls', 'count', '5', '2020-01-02')"
        )
        rows = conn.execute(
            "SELECT cdr_date, type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries"
        ).fetchall()
    assert rows == [(date(2016, 1, 1), "count", "12")]


def test_api_role_reads_cache_and_geography_only(fresh_dsn, role_dsn) -> None:
    with psycopg.connect(role_dsn(fresh_dsn, "api")) as conn:
        geography = conn.execute("SELECT count(*) FROM geography.admin0").fetchone()
        assert geography == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM events.calls")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE cache.x_api (a int)")


def test_engine_role_reads_events_not_writes(fresh_dsn, role_dsn) -> None:
    with psycopg.connect(fresh_dsn) as owner:
        ensure_day_partition(owner, "calls", date(2016, 1, 1))
        owner.execute("INSERT INTO events.calls (datetime, msisdn) VALUES ('2016-01-01', 'A')")
    with psycopg.connect(role_dsn(fresh_dsn, "engine")) as conn:
        assert conn.execute("SELECT count(*) FROM events.calls").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM events.calls_20160101").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM etl.etl_records").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM events.calls")


def test_api_role_reads_engine_cache_tables(fresh_dsn, role_dsn) -> None:
    with psycopg.connect(role_dsn(fresh_dsn, "engine")) as conn:
        conn.execute("CREATE TABLE cache.x_engine AS SELECT 1 AS value")
    with psycopg.connect(role_dsn(fresh_dsn, "api")) as conn:
        assert conn.execute("SELECT value FROM cache.x_engine").fetchone() == (1,)


def test_owner_cache_tables_handed_to_engine(fresh_dsn, role_dsn, flowdb_server) -> None:
    with psycopg.connect(fresh_dsn) as owner:
        owner.execute("CREATE TABLE cache.x_owner AS SELECT 2 AS value")
        row = owner.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'cache.x_owner'::regclass"
        ).fetchone()
    assert row == (flowdb_server.roles.engine_user,)
    with psycopg.connect(role_dsn(fresh_dsn, "engine")) as engine:
        engine.execute("DROP TABLE cache.x_owner")
