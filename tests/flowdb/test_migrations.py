"""Migrations: idempotence, FlowKit's table and column names, and the Python event layout."""

from __future__ import annotations

import psycopg
import pytest

from flowdb.migrate import migrate, migration_files
from flowdb.roles import RoleSettings
from flowdb.schema import EVENT_TYPES
from flowdb.testing import database_of


def _columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute AS a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (f"{schema}.{table}",),
    ).fetchall()
    return {str(name): str(sql_type) for name, sql_type in rows}


def test_migrate_twice_applies_nothing_new(fresh_dsn: str) -> None:
    assert migrate(fresh_dsn, roles=RoleSettings()) == []
    with psycopg.connect(fresh_dsn) as conn:
        recorded = [
            row[0]
            for row in conn.execute("SELECT name FROM public.flowcore_migrations ORDER BY name")
        ]
    assert recorded == [path.name for path in migration_files()]


def test_migrate_new_database_applies_every_file(flowdb_server) -> None:
    dsn = flowdb_server.create_database()
    try:
        first = migrate(dsn, roles=RoleSettings())
        second = migrate(dsn, roles=RoleSettings())
    finally:
        flowdb_server.drop_database(database_of(dsn))
    assert first == [path.name for path in migration_files()]
    assert second == []


@pytest.mark.parametrize(
    ("schema", "table", "expected"),
    [
        (
            "events",
            "calls",
            {
                "id": "text",
                "outgoing": "boolean",
                "datetime": "timestamp with time zone",
                "duration": "numeric",
                "msisdn": "text",
                "msisdn_counterpart": "text",
                "location_id": "text",
                "tac": "numeric(8,0)",
            },
        ),
        (
            "events",
            "mds",
            {"volume_total": "numeric", "volume_upload": "numeric", "volume_download": "numeric"},
        ),
        (
            "events",
            "topups",
            {
                "recharge_amount": "numeric",
                "airtime_fee": "numeric",
                "tax_and_fee": "numeric",
                "pre_event_balance": "numeric",
                "post_event_balance": "numeric",
                "type": "text",
            },
        ),
        (
            "infrastructure",
            "cells",
            {
                "cell_id": "bigint",
                "id": "text",
                "version": "integer",
                "site_id": "text",
                "date_of_first_service": "date",
                "date_of_last_service": "date",
                "geom_point": "geometry(Point,4326)",
                "geom_polygon": "geometry(MultiPolygon,4326)",
            },
        ),
        (
            "infrastructure",
            "sites",
            {
                "site_id": "bigint",
                "id": "text",
                "version": "integer",
                "is_cow": "boolean",
                "geom_point": "geometry(Point,4326)",
            },
        ),
        (
            "infrastructure",
            "tacs",
            {
                "id": "numeric",
                "brand": "text",
                "model": "text",
                "hnd_type": "text",
                "j2me_cldc_20": "boolean",
            },
        ),
        (
            "geography",
            "admin3",
            {
                "admin0pcod": "text",
                "admin1pcod": "text",
                "admin2pcod": "text",
                "admin3pcod": "text",
                "admin3name": "text",
                "geom": "geometry(MultiPolygon,4326)",
            },
        ),
        (
            "etl",
            "etl_records",
            {
                "id": "integer",
                "cdr_type": "character varying",
                "cdr_date": "date",
                "state": "character varying",
                "timestamp": "timestamp with time zone",
            },
        ),
        (
            "public",
            "available_tables",
            {
                "table_name": "text",
                "has_locations": "boolean",
                "has_subscribers": "boolean",
                "has_counterparts": "boolean",
            },
        ),
    ],
)
def test_schema_has_flowkit_columns(fresh_dsn, schema, table, expected) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        columns = _columns(conn, schema, table)
    for name, sql_type in expected.items():
        assert columns.get(name) == sql_type, f"{schema}.{table}.{name}"


def test_sms_has_no_duration_and_mds_no_counterpart(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        sms = _columns(conn, "events", "sms")
        mds = _columns(conn, "events", "mds")
    assert "duration" not in sms
    assert "msisdn_counterpart" not in mds
    assert "outgoing" not in mds


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_event_layout_matches_database(fresh_dsn, name) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        columns = _columns(conn, "events", name)
    expected_types = {"timestamptz": "timestamp with time zone", "numeric(8)": "numeric(8,0)"}
    python_layout = {
        column: expected_types.get(sql_type, sql_type)
        for column, sql_type in EVENT_TYPES[name].columns
    }
    assert columns == python_layout


def test_event_tables_partitioned_by_day(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        rows = dict(
            conn.execute(
                """
            SELECT c.relname, pg_get_partkeydef(c.oid)
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'events' AND c.relkind = 'p'
            """
            ).fetchall()
        )
    counts = {f"subscriber_cell_{per}": "LIST (cdr_type)" for per in ("hours", "days")}
    counts_by_day = {
        f"subscriber_cell_{per}_{name}": "RANGE (cdr_date)"
        for per in ("hours", "days")
        for name in EVENT_TYPES
    }
    assert rows == {
        **{name: "RANGE (datetime)" for name in EVENT_TYPES},
        **counts,
        **counts_by_day,
    }


def test_available_tables_rows(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        rows = conn.execute("SELECT * FROM public.available_tables()").fetchall()
    assert rows == [
        ("calls", True, True, True),
        ("mds", True, True, False),
        ("sms", True, True, True),
        ("topups", True, True, False),
    ]


def test_bookkeeping_functions(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        location_table = conn.execute("SELECT location_table()").fetchone()
        version = conn.execute("SELECT version FROM flowdb_version()").fetchone()
    assert location_table == ("infrastructure.cells",)
    assert version is not None


def test_schemas_exist(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        schemas = {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    assert {"events", "infrastructure", "geography", "etl", "cache"} <= schemas
    assert {"postgis", "btree_gist"} <= extensions
