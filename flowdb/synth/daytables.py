"""Building generated days as standalone tables, then publishing them all in one transaction.

Each (event type, day) is written into its own table ``events.<type>_YYYYMMDD`` that is not yet
a partition: created, filled and indexed in one transaction, so PostgreSQL writes no
WAL for it (``wal_level = minimal``) and several days build at once on separate connections.
The same transaction counts the day's events per subscriber and cell (``flowdb.cell_counts``).
:func:`publish` then attaches every table to its parent, copies the staged cells, sites and TACs
into ``infrastructure`` and records the days as ingested and counted, all in one transaction:
queries see either nothing or the whole dataset. :func:`drop_unpublished` removes the tables
and counts of a failed run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import attrs
import psycopg
from psycopg import sql

from flowdb.cell_counts import (
    affected_parents,
    attach_counts,
    build_counts,
    day_counts_table,
    drop_unattached_counts,
    mark_counted,
)
from flowdb.etl import record_ingested
from flowdb.partitions import day_bounds, list_day_partitions
from flowdb.quality import record_quality_checks
from flowdb.schema import event_type, partition_name
from flowdb.statistics import refresh_parent_statistics

__all__ = [
    "DayTable",
    "STAGING_SCHEMA",
    "SynthError",
    "build_day_tables",
    "check_empty",
    "drop_unpublished",
    "publish",
    "refresh_statistics",
]

logger = logging.getLogger(__name__)

STAGING_SCHEMA = "synth"
"""Schema of the generator's working tables: staged network, subscribers, homes."""

_INFRASTRUCTURE_TABLES = ("sites", "cells", "tacs")


class SynthError(RuntimeError):
    """Synthetic data could not be generated; nothing was published."""


@attrs.frozen
class DayTable:
    """One generated day of one event type, built as ``events.<type>_YYYYMMDD``."""

    event_type: str
    day: dt.date

    @property
    def name(self) -> str:
        """Return the unqualified table name, e.g. ``calls_20160101``."""
        return partition_name(self.event_type, self.day)

    @property
    def identifier(self) -> sql.Identifier:
        """Return the schema-qualified identifier of the table."""
        return sql.Identifier("events", self.name)


FillDay = Callable[[psycopg.Connection, DayTable], int]
"""Writes a day's rows into its (empty, unindexed) table and returns how many it wrote."""


def check_empty(conn: psycopg.Connection, tables: Sequence[DayTable]) -> None:
    """Raise SynthError unless the database is a migrated FlowDB without cells, sites or days.

    A generated day is taken when one of its event tables exists already.
    """
    row = conn.execute("SELECT to_regclass('infrastructure.cells')").fetchone()
    if row is None or row[0] is None:
        raise SynthError(
            "the database has no FlowDB schema (infrastructure.cells is missing); run "
            "`flowcore db migrate` on it first"
        )
    for name in ("cells", "sites"):
        statement = sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier("infrastructure", name)
        )
        row = conn.execute(statement).fetchone()
        if row and row[0]:
            raise SynthError(
                f"infrastructure.{name} already holds {row[0]} rows; synthetic data goes into a "
                f"database without cells, sites or events (create a new one, or `flowcore db "
                f"down`, remove $FLOWCORE_HOME and `flowcore db up` again)"
            )
    for table in tables:
        row = conn.execute("SELECT to_regclass(%s)", (f"events.{table.name}",)).fetchone()
        if row and row[0] is not None:
            raise SynthError(
                f"table events.{table.name} already exists; synthetic data goes into a "
                f"database without events for the generated days"
            )


def _create(conn: psycopg.Connection, table: DayTable) -> None:
    parent = sql.Identifier("events", event_type(table.event_type).name)
    # Autovacuum stays off until the table is attached: a vacuum of a finished day table
    # would hold a lock that ATTACH PARTITION waits for.
    conn.execute(
        sql.SQL(
            "CREATE TABLE {table} (LIKE {parent} INCLUDING DEFAULTS) "
            "WITH (autovacuum_enabled = false)"
        ).format(table=table.identifier, parent=parent)
    )


def _finish(conn: psycopg.Connection, table: DayTable) -> None:
    """Add the day-range check and the parent's indexes to a filled table.

    The table is not analysed here: :func:`refresh_statistics` analyses the parents after
    publishing, and in PostgreSQL 15 that analyses every partition too.
    """
    start, end = day_bounds(table.day)
    # The check lets ATTACH PARTITION skip its validation scan.
    conn.execute(
        sql.SQL(
            "ALTER TABLE {table} ADD CONSTRAINT {name} "
            "CHECK (datetime >= {start} AND datetime < {end})"
        ).format(
            table=table.identifier,
            name=sql.Identifier(f"{table.name}_day_check"),
            start=sql.Literal(start),
            end=sql.Literal(end),
        )
    )
    for column in event_type(table.event_type).indexed_columns:
        conn.execute(
            sql.SQL("CREATE INDEX {name} ON {table} ({column})").format(
                name=sql.Identifier(f"{table.name}_{column}_idx"),
                table=table.identifier,
                column=sql.Identifier(column),
            )
        )


def _build_one(
    dsn: str, table: DayTable, fill: FillDay, stop: threading.Event, *, serial_indexes: bool
) -> int:
    """Create, fill and index one day table in one transaction; return its row count."""
    if stop.is_set():
        return 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET timezone = 'UTC'")
        if serial_indexes:
            # Every core already builds a table, so parallel index workers would only compete.
            conn.execute("SET max_parallel_maintenance_workers = 0")
        with conn.transaction():
            _create(conn, table)
            rows = fill(conn, table)
            _finish(conn, table)
            build_counts(conn, table.event_type, table.day, table.identifier, analyse=False)
            # Checked here, where days build in parallel; the records stay hidden from
            # etl.deduped_post_etl_queries until publish() marks the day ingested.
            record_quality_checks(
                conn,
                table.event_type,
                table.day,
                table.identifier,
                day_counts=day_counts_table(table.event_type, table.day),
            )
    logger.info("built events.%s: %d rows", table.name, rows)
    return rows


def build_day_tables(
    dsn: str, tables: Sequence[DayTable], fill: FillDay, *, jobs: int | None = None
) -> dict[DayTable, int]:
    """Build every day table, ``jobs`` at once on separate connections; return row counts.

    Raises:
        SynthError: when a table fails to build; the tables already built are dropped.
    """
    cores = os.cpu_count() or 1
    workers = max(1, jobs or cores)
    serial_indexes = workers >= cores and len(tables) > 1
    stop = threading.Event()
    counts: dict[DayTable, int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth") as pool:
        futures = {
            pool.submit(_build_one, dsn, table, fill, stop, serial_indexes=serial_indexes): table
            for table in tables
        }
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in done if future.exception() is not None]
        if failed:
            stop.set()
            wait(futures)
    if failed:
        error = failed[0].exception()
        table = futures[failed[0]]
        drop_unpublished(dsn, tables)
        raise SynthError(f"generating events.{table.name} failed: {error}") from error
    for future, table in futures.items():
        counts[table] = future.result()
    return counts


def drop_unpublished(dsn: str, tables: Iterable[DayTable]) -> None:
    """Drop the day tables and counts that exist but are not attached (a failed run)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in tables:
            attached = set(list_day_partitions(conn, table.event_type))
            if table.name in attached:
                continue
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table.identifier))
            conn.execute(
                "DELETE FROM etl.post_etl_queries WHERE cdr_type = %s AND cdr_date = %s",
                (table.event_type, table.day),
            )
            drop_unattached_counts(conn, table.event_type, table.day)


def publish(conn: psycopg.Connection, tables: Sequence[DayTable]) -> None:
    """Attach the day tables, move the staged network into ``infrastructure``, mark days ingested.

    Runs in one transaction on ``conn``: on failure nothing is published. The parents' planner
    statistics are left to :func:`refresh_statistics`.
    """
    with conn.transaction():
        for name in _INFRASTRUCTURE_TABLES:
            _copy_staged(conn, name)
        for table in tables:
            start, end = day_bounds(table.day)
            conn.execute(
                sql.SQL(
                    "ALTER TABLE {parent} ATTACH PARTITION {table} FOR VALUES FROM ({start}) "
                    "TO ({end})"
                ).format(
                    parent=sql.Identifier("events", event_type(table.event_type).name),
                    table=table.identifier,
                    start=sql.Literal(start),
                    end=sql.Literal(end),
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(table.identifier)
            )
            attach_counts(conn, table.event_type, table.day)
        for table in sorted(tables, key=lambda t: (t.event_type, t.day)):
            record_ingested(conn, table.event_type, table.day)
            mark_counted(conn, table.event_type, table.day)
    for name in _INFRASTRUCTURE_TABLES:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier("infrastructure", name)))


def refresh_statistics(dsn: str, tables: Sequence[DayTable], *, jobs: int | None = None) -> None:
    """Refresh the planner statistics of the event and count tables that gained new days."""
    days_per_type: dict[str, int] = {}
    for table in tables:
        days_per_type[table.event_type] = days_per_type.get(table.event_type, 0) + 1
    # Every parent, because the day tables and their counts were built without statistics.
    refresh_parent_statistics(dsn, affected_parents(days_per_type), jobs=jobs, every=True)


def _copy_staged(conn: psycopg.Connection, name: str) -> None:
    """Insert the staged rows of one infrastructure table, when the run staged any."""
    staged = f"{STAGING_SCHEMA}.{name}"
    row = conn.execute("SELECT to_regclass(%s)", (staged,)).fetchone()
    if not row or row[0] is None:
        return
    # Staged tables may hold working columns (such as cell numbers) the target lacks.
    columns = [
        str(column)
        for (column,) in conn.execute(
            "SELECT s.attname FROM pg_attribute AS s "
            "JOIN pg_attribute AS t ON t.attname = s.attname "
            "AND t.attrelid = to_regclass(%s) AND t.attnum > 0 AND NOT t.attisdropped "
            "WHERE s.attrelid = to_regclass(%s) AND s.attnum > 0 AND NOT s.attisdropped "
            "ORDER BY s.attnum",
            (f"infrastructure.{name}", staged),
        )
    ]
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}").format(
            target=sql.Identifier("infrastructure", name),
            columns=column_list,
            source=sql.Identifier(STAGING_SCHEMA, name),
        )
    )
