"""Events counted per subscriber, cell and hour or day: writing them and marking them complete.

``events.subscriber_cell_hours`` and ``events.subscriber_cell_days`` hold, for each event type
and day, one row per subscriber, cell and hour (or day) with the number of events and the time
of the latest. Queries that need nothing else read them instead of the day's events.
``etl.counted_days`` records which ingestion of a day the counts were made from. Queries use a
day's counts only while that ingestion is the day's current one (the ``etl.counted_dates``
view). A day ingested again by another writer is therefore read from its events until it is
counted again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import psycopg
from psycopg import sql

from flowdb.partitions import day_bounds
from flowdb.schema import event_type, partition_name

__all__ = [
    "analyse_counts",
    "count_day",
    "count_ingested_days",
    "discard_counts",
    "mark_counted",
]


#: The start of an event's hour in UTC, whatever the session's time zone.
_UTC_HOUR = sql.SQL("date_bin('1 hour', datetime, '2000-01-01 00:00:00+00')")


def count_day(
    conn: psycopg.Connection, cdr_type: str, day: date, source: sql.Composable | None = None
) -> int:
    """Replace the counts of one event type's day with counts of ``source``; return day rows.

    ``source`` is the day's table (a partition, or a table about to become one); by default the
    event type's parent table, limited to the day. The day counts are made from the hour
    counts. Neither is used by queries until :func:`mark_counted` runs for the day's ingestion.
    """
    parent = event_type(cdr_type).name
    start, end = day_bounds(day)
    discard_counts(conn, cdr_type, day)
    # One statement: the day rows are summed from the hour rows as they are written.
    cursor = conn.execute(
        sql.SQL(
            "WITH hours AS ("
            "INSERT INTO events.subscriber_cell_hours "
            "(cdr_type, cdr_date, hour_start, msisdn, location_id, event_count, last_event) "
            "SELECT {cdr_type}, {day}, {hour}, msisdn, location_id, count(*), max(datetime) "
            "FROM {source} WHERE datetime >= {start} AND datetime < {end} "
            "GROUP BY {hour}, msisdn, location_id "
            "RETURNING msisdn, location_id, event_count, last_event) "
            "INSERT INTO events.subscriber_cell_days "
            "(cdr_type, cdr_date, msisdn, location_id, event_count, last_event) "
            "SELECT {cdr_type}, {day}, msisdn, location_id, sum(event_count), max(last_event) "
            "FROM hours GROUP BY msisdn, location_id"
        ).format(
            cdr_type=sql.Literal(cdr_type),
            day=sql.Literal(day),
            source=source if source is not None else sql.Identifier("events", parent),
            start=sql.Literal(start),
            end=sql.Literal(end),
            hour=_UTC_HOUR,
        )
    )
    return cursor.rowcount


def mark_counted(conn: psycopg.Connection, cdr_type: str, day: date) -> None:
    """Record that the day's counts match its current ingestion, so queries may read them."""
    conn.execute(
        "INSERT INTO etl.counted_days (cdr_type, cdr_date, ingested_at) "
        "SELECT cdr_type, cdr_date, timestamp FROM etl.ingest_state "
        "WHERE cdr_type = %s AND cdr_date = %s AND state = 'ingested' "
        "ON CONFLICT (cdr_type, cdr_date) DO UPDATE SET ingested_at = EXCLUDED.ingested_at",
        (cdr_type, day),
    )


def discard_counts(conn: psycopg.Connection, cdr_type: str, day: date) -> None:
    """Delete one event type's day of counts and its completion record."""
    conn.execute(
        "DELETE FROM etl.counted_days WHERE cdr_type = %s AND cdr_date = %s", (cdr_type, day)
    )
    for table in ("subscriber_cell_hours", "subscriber_cell_days"):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE cdr_type = %s AND cdr_date = %s").format(
                sql.Identifier("events", table)
            ),
            (cdr_type, day),
        )


def analyse_counts(conn: psycopg.Connection) -> None:
    """Refresh the planner's statistics of the counts after days were added or replaced."""
    conn.execute("ANALYZE events.subscriber_cell_hours")
    conn.execute("ANALYZE events.subscriber_cell_days")


def count_ingested_days(
    dsn: str, *, event_types: Iterable[str] = (), recount: bool = False
) -> list[tuple[str, date]]:
    """Count the ingested days whose counts are missing or stale (all of them with ``recount``).

    Each day is counted and marked in its own transaction, under the same lock as a load of
    that day. Returns the (event type, day) pairs counted, in order.
    """
    wanted = {event_type(name).name for name in event_types}
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
        for cdr_type, day in pending:
            if wanted and cdr_type not in wanted:
                continue
            with conn.transaction():
                # The same lock as a load of this day, so the counts match the events.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"events.{partition_name(str(cdr_type), day)}",),
                )
                count_day(conn, str(cdr_type), day)
                mark_counted(conn, str(cdr_type), day)
            counted.append((str(cdr_type), day))
        if counted:
            analyse_counts(conn)
    return counted
