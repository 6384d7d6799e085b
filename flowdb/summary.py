"""Database summaries: rows per table and available dates per event type."""

from __future__ import annotations

from datetime import date

import attrs
import psycopg
from psycopg import sql

from flowdb.etl import available_dates
from flowdb.schema import EVENT_TYPES

__all__ = ["SUMMARY_TABLES", "DatabaseSummary", "summarise_database"]

SUMMARY_TABLES = (
    *(f"events.{name}" for name in EVENT_TYPES),
    "infrastructure.sites",
    "infrastructure.cells",
    "infrastructure.tacs",
    *(f"geography.admin{level}" for level in range(4)),
)
"""Tables whose rows the summary counts, in display order."""


@attrs.frozen
class DatabaseSummary:
    """Row counts per table and the available dates per event type."""

    table_rows: dict[str, int]
    available_dates: dict[str, list[date]]


def summarise_database(dsn: str) -> DatabaseSummary:
    """Count the rows of FlowDB's data tables and read the available dates."""
    # NOTE: exact counts scan every table, which takes a while on a country's worth of events.
    rows: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        for qualified in SUMMARY_TABLES:
            schema, table = qualified.split(".")
            if conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone() == (None,):
                continue
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()
            rows[qualified] = int(count[0]) if count else 0
        dates = available_dates(conn)
    return DatabaseSummary(rows, dates)
