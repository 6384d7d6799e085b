"""Events counted per subscriber, cell and hour or day: building, attaching and marking them.

``events.subscriber_cell_hours`` and ``events.subscriber_cell_days`` hold, for each event type
and day, one row per subscriber, cell and hour (or day) with the number of events and the time
of the latest. Queries that need nothing else read them instead of the day's events. Each
(event type, day) has its own partition in each table, e.g.
``events.subscriber_cell_hours_calls_20160101``. Like a day of events, a day's counts are built
as standalone tables in one transaction (no WAL with ``wal_level = minimal``), then attached.

``etl.counted_days`` records which ingestion of a day the counts were made from. Queries use a
day's counts only while that ingestion is the day's current one (the ``etl.counted_dates``
view). A day ingested again by another writer is therefore read from its events until it is
counted again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import psycopg
from psycopg import sql

from flowdb.partitions import day_bounds
from flowdb.schema import EVENT_TYPES, event_type, partition_name
from flowdb.statistics import refresh_parent_statistics

__all__ = [
    "COUNT_TABLES",
    "affected_parents",
    "attach_counts",
    "build_counts",
    "count_ingested_days",
    "counts_partition",
    "day_counts_table",
    "drop_unattached_counts",
    "mark_counted",
]

logger = logging.getLogger(__name__)

COUNT_TABLES = ("subscriber_cell_hours", "subscriber_cell_days")
"""The count tables in ``events``, finest first."""

#: The start of an event's hour in UTC, whatever the session's time zone.
_UTC_HOUR = sql.SQL("date_bin('1 hour', datetime, '2000-01-01 00:00:00+00')")


def counts_partition(table: str, cdr_type: str, day: date) -> str:
    """Return the unqualified name of a day's partition of a count table."""
    return f"{table}_{cdr_type}_{day:%Y%m%d}"


def _identifier(table: str, cdr_type: str, day: date, suffix: str) -> sql.Identifier:
    return sql.Identifier("events", counts_partition(table, cdr_type, day) + suffix)


def day_counts_table(cdr_type: str, day: date, suffix: str = "") -> sql.Identifier:
    """Return the table of a day's counts per subscriber and cell, as build_counts names it."""
    return _identifier("subscriber_cell_days", cdr_type, day, suffix)


def build_counts(
    conn: psycopg.Connection,
    cdr_type: str,
    day: date,
    source: sql.Composable | None = None,
    *,
    suffix: str = "",
    analyse: bool = True,
) -> int:
    """Build a day's hour and day counts as standalone tables; return the day rows.

    ``source`` is the day's table (a partition, or a table about to become one); by default the
    event type's parent table, limited to the day. The tables are named after their partition
    plus ``suffix``; :func:`attach_counts` makes them partitions. With ``analyse`` off, the
    caller analyses them later (the generator does, with their parents).
    """
    parent = event_type(cdr_type).name
    start, end = day_bounds(day)
    hours, days = (_identifier(table, cdr_type, day, suffix) for table in COUNT_TABLES)
    for table, target in zip(COUNT_TABLES, (hours, days), strict=True):
        # The check matches the partition bounds, so ATTACH PARTITION skips its scan.
        conn.execute(
            sql.SQL(
                "CREATE TABLE {target} (LIKE {parent}, CHECK (cdr_type = {cdr_type} "
                "AND cdr_date >= {day} AND cdr_date < {next_day}))"
            ).format(
                target=target,
                parent=sql.Identifier("events", table),
                cdr_type=sql.Literal(cdr_type),
                day=sql.Literal(day),
                next_day=sql.Literal(day + timedelta(days=1)),
            )
        )
    conn.execute(
        sql.SQL(
            "INSERT INTO {hours} "
            "SELECT {cdr_type}, {day}, {hour}, msisdn, location_id, count(*), max(datetime) "
            "FROM {source} WHERE datetime >= {start} AND datetime < {end} "
            "GROUP BY {hour}, msisdn, location_id"
        ).format(
            hours=hours,
            cdr_type=sql.Literal(cdr_type),
            day=sql.Literal(day),
            hour=_UTC_HOUR,
            source=source if source is not None else sql.Identifier("events", parent),
            start=sql.Literal(start),
            end=sql.Literal(end),
        )
    )
    cursor = conn.execute(
        sql.SQL(
            "INSERT INTO {days} SELECT cdr_type, cdr_date, msisdn, location_id, "
            "sum(event_count), max(last_event) FROM {hours} "
            "GROUP BY cdr_type, cdr_date, msisdn, location_id"
        ).format(days=days, hours=hours)
    )
    if analyse:
        for target in (hours, days):
            conn.execute(sql.SQL("ANALYZE {}").format(target))
    return cursor.rowcount


def attach_counts(conn: psycopg.Connection, cdr_type: str, day: date, *, suffix: str = "") -> None:
    """Attach a day's built count tables, replacing the partitions already there.

    The counts are not read by queries until :func:`mark_counted` runs for the day.
    """
    next_day = day + timedelta(days=1)
    for table in COUNT_TABLES:
        final = counts_partition(table, cdr_type, day)
        if suffix:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("events", final)))
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    _identifier(table, cdr_type, day, suffix), sql.Identifier(final)
                )
            )
        conn.execute(
            sql.SQL(
                "ALTER TABLE {parent} ATTACH PARTITION {table} "
                "FOR VALUES FROM ({day}) TO ({next_day})"
            ).format(
                parent=sql.Identifier("events", f"{table}_{cdr_type}"),
                table=sql.Identifier("events", final),
                day=sql.Literal(day),
                next_day=sql.Literal(next_day),
            )
        )


def mark_counted(
    conn: psycopg.Connection, cdr_type: str, day: date, ingested_at: datetime | None = None
) -> None:
    """Record that the day's counts match its ingestion, so queries may read them.

    ``ingested_at`` is the timestamp of the ingestion the counts were made from, by default the
    day's current one. Queries read the counts only while that ingestion is still current.
    """
    if ingested_at is not None:
        conn.execute(
            "INSERT INTO etl.counted_days (cdr_type, cdr_date, ingested_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (cdr_type, cdr_date) DO UPDATE SET ingested_at = EXCLUDED.ingested_at",
            (cdr_type, day, ingested_at),
        )
        return
    conn.execute(
        "INSERT INTO etl.counted_days (cdr_type, cdr_date, ingested_at) "
        "SELECT cdr_type, cdr_date, timestamp FROM etl.ingest_state "
        "WHERE cdr_type = %s AND cdr_date = %s AND state = 'ingested' "
        "ON CONFLICT (cdr_type, cdr_date) DO UPDATE SET ingested_at = EXCLUDED.ingested_at",
        (cdr_type, day),
    )


def drop_unattached_counts(conn: psycopg.Connection, cdr_type: str, day: date) -> None:
    """Drop a day's count tables that were built but never attached (a failed run)."""
    for table in COUNT_TABLES:
        name = counts_partition(table, cdr_type, day)
        row = conn.execute(
            "SELECT c.relispartition FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'events' AND c.relname = %s",
            (name,),
        ).fetchone()
        if row is not None and not row[0]:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("events", name)))


def affected_parents(days_per_type: Mapping[str, int]) -> dict[str, int]:
    """Return the event and count tables that new days change, with the partitions each gained.

    ``days_per_type`` maps event types to the days added or replaced. Event tables come first,
    as they are the largest.
    """
    added = {f"events.{name}": days for name, days in days_per_type.items() if days}
    total = sum(added.values())
    if total:
        added.update({f"events.{table}": total for table in COUNT_TABLES})
    return added


def count_ingested_days(
    dsn: str, *, event_types: Iterable[str] = (), recount: bool = False
) -> list[tuple[str, date]]:
    """Count the ingested days whose counts are missing or stale (all of them with ``recount``).

    Each day is counted, attached and marked in its own transaction, under the same locks as
    a load of that day. Returns the (event type, day) pairs counted, in order.
    """
    selected = {event_type(name).name for name in event_types}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET timezone TO 'UTC'")
        pending = conn.execute(
            "SELECT a.cdr_type, a.cdr_date FROM etl.available_dates AS a "
            "LEFT JOIN etl.counted_dates AS c "
            "ON c.cdr_type = a.cdr_type AND c.cdr_date = a.cdr_date "
            "WHERE %s OR c.cdr_date IS NULL ORDER BY a.cdr_type, a.cdr_date",
            (recount,),
        ).fetchall()
        counted: list[tuple[str, date]] = []
        unknown = sorted({str(cdr_type) for cdr_type, _ in pending} - set(EVENT_TYPES))
        if unknown:
            # Another ETL may record days of types that FlowDB has no event table for.
            logger.warning("not counting days of unknown event types: %s", ", ".join(unknown))
        for cdr_type, day in pending:
            name = str(cdr_type)
            if name in unknown or (selected and name not in selected):
                continue
            with conn.transaction():
                # The same locks as a load of this day, so the counts match the events and
                # attaching takes turns with the loader's swaps.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"events.{partition_name(name, day)}",),
                )
                # Read the ingestion before the events. Another writer that records the day
                # again while it is counted then leaves the counts stale, not marked current.
                current = conn.execute(
                    "SELECT timestamp FROM etl.ingest_state "
                    "WHERE cdr_type = %s AND cdr_date = %s AND state = 'ingested'",
                    (name, day),
                ).fetchone()
                if current is None:
                    # The day was withdrawn after the pending days were listed.
                    continue
                build_counts(conn, name, day, suffix="_new")
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"events.{name}",))
                attach_counts(conn, name, day, suffix="_new")
                mark_counted(conn, name, day, current[0])
            counted.append((name, day))
    added = {f"events.{table}": len(counted) for table in COUNT_TABLES}
    refresh_parent_statistics(dsn, added)
    return counted
