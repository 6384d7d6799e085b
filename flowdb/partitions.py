"""Day partitions of the event tables: their names, bounds and creation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

from flowdb.schema import event_type, partition_name

__all__ = ["day_bounds", "ensure_day_partition", "list_day_partitions"]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC start of ``day`` and of the next day: a partition's [from, to) bounds."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def ensure_day_partition(conn: psycopg.Connection, event_type_name: str, day: date) -> str:
    """Create ``events.<type>_YYYYMMDD`` as an empty partition if missing; return its name.

    The partition inherits the parent's indexes. The returned name is schema-qualified.

    Raises:
        ValueError: when ``event_type_name`` is not an event type.
    """
    parent = event_type(event_type_name).name
    name = partition_name(parent, day)
    start, end = day_bounds(day)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {parent} "
            "FOR VALUES FROM ({start}) TO ({end})"
        ).format(
            partition=sql.Identifier("events", name),
            parent=sql.Identifier("events", parent),
            start=sql.Literal(start.isoformat()),
            end=sql.Literal(end.isoformat()),
        )
    )
    return f"events.{name}"


def list_day_partitions(conn: psycopg.Connection, event_type_name: str) -> list[str]:
    """Return the names of the partitions attached to ``events.<type>``, sorted."""
    parent = event_type(event_type_name).name
    rows = conn.execute(
        """
        SELECT child.relname
        FROM pg_inherits AS i
        JOIN pg_class AS child ON child.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(%s)
        ORDER BY child.relname
        """,
        (f"events.{parent}",),
    ).fetchall()
    return [str(row[0]) for row in rows]
