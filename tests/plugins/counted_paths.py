"""Helpers that run a spec from FlowDB's per-cell counts and from the events, to compare them.

A spec reads ``events.subscriber_cell_days`` or ``subscriber_cell_hours`` while every day in
its range is listed in ``etl.counted_days``. Inside :func:`events_only` that table is empty, so
the same spec reads the events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

from flowcore.session import Session

__all__ = ["SUBSET", "events_only", "reads_counts", "sorted_rows", "with_subset"]

#: Placeholder in a spec's ``subscriber_subset``, replaced by the query id of a stored subset.
SUBSET = "<subset>"


def with_subset(
    session: Session, spec: Mapping[str, Any], subset_query: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """Return ``spec`` with the :data:`SUBSET` placeholder replaced by ``subset_query``'s id."""
    if subset_query is None or spec.get("subscriber_subset") != SUBSET:
        return spec
    subset_id = session.run(subset_query, timeout=120).query_id
    return {**spec, "subscriber_subset": subset_id}


def reads_counts(
    session: Session, spec: Mapping[str, Any], subset_query: Mapping[str, Any] | None = None
) -> bool:
    """Return whether the SQL of ``spec`` reads FlowDB's per-cell counts."""
    return "subscriber_cell_" in session.sql(with_subset(session, spec, subset_query))


def sorted_rows(
    session: Session, spec: Mapping[str, Any], subset_query: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Compute ``spec`` afresh and return its rows as tuples, sorted by their text form.

    The cache is cleared first, then ``subset_query`` is computed when ``spec`` names
    :data:`SUBSET`.
    """
    session.cache.clear()
    rows = session.run(with_subset(session, spec, subset_query), timeout=120).to_dicts()
    # Sorted by repr, because rows may hold None next to values of another type.
    return sorted((tuple(row.values()) for row in rows), key=repr)


@contextmanager
def events_only(dsn: str, session: Session) -> Iterator[None]:
    """Make queries read the events instead of the counts inside the block, then restore them.

    Every day's completion record is removed from ``etl.counted_days`` and put back on exit.
    The session's cache is cleared on entry and exit, so no result of the other path is reused.
    """
    with psycopg.connect(dsn) as conn:
        records = conn.execute(
            "SELECT cdr_type, cdr_date, ingested_at FROM etl.counted_days"
        ).fetchall()
        conn.execute("DELETE FROM etl.counted_days")
    session.cache.clear()
    try:
        yield
    finally:
        with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO etl.counted_days (cdr_type, cdr_date, ingested_at) "
                "VALUES (%s, %s, %s)",
                records,
            )
        session.cache.clear()
