"""Ingestion bookkeeping: recording loaded days and reading which dates are available."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import psycopg

from flowdb.schema import event_type

__all__ = ["INGESTED", "available_dates", "record_ingested", "record_state"]

INGESTED = "ingested"
"""The ``etl.etl_records`` state that makes a day available to queries."""


def record_state(conn: psycopg.Connection, cdr_type: str, day: date, state: str) -> None:
    """Append a state change of one event type's day to ``etl.etl_records``.

    Raises:
        ValueError: when ``cdr_type`` is not an event type.
    """
    event_type(cdr_type)
    conn.execute(
        "INSERT INTO etl.etl_records (cdr_type, cdr_date, state, timestamp) "
        "VALUES (%s, %s, %s, clock_timestamp())",
        (cdr_type, day, state),
    )


def record_ingested(conn: psycopg.Connection, cdr_type: str, day: date) -> None:
    """Record that one event type's day is loaded, which makes it an available date."""
    record_state(conn, cdr_type, day, INGESTED)


def available_dates(conn: psycopg.Connection) -> dict[str, list[date]]:
    """Return the available dates per event type, from ``etl.available_dates``, sorted."""
    dates: dict[str, list[date]] = defaultdict(list)
    rows = conn.execute(
        "SELECT cdr_type, cdr_date FROM etl.available_dates ORDER BY cdr_type, cdr_date"
    ).fetchall()
    for cdr_type, cdr_date in rows:
        dates[str(cdr_type)].append(cdr_date)
    return dict(dates)
