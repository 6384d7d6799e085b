"""Quality checks run on each loaded day, stored in ``etl.post_etl_queries`` for the QA routes.

Each check is one number or timestamp computed over the day's partition, kept as text as
FlowKit's ingestion does. Checks that need a column the event type lacks (counterparts of
mobile data sessions, say) are skipped for that type.
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from flowdb.schema import event_type, partition_name

__all__ = ["QUALITY_CHECKS", "record_quality_checks"]

#: Check name -> (SQL expression over the day's rows, column it needs or None).
QUALITY_CHECKS: dict[str, tuple[str, str | None]] = {
    "count_added_rows": ("count(*)", None),
    "count_msisdns": ("count(DISTINCT msisdn)", None),
    "count_imeis": ("count(DISTINCT imei)", None),
    "count_imsis": ("count(DISTINCT imsi)", None),
    "count_location_ids": ("count(DISTINCT location_id)", None),
    "count_null_location_ids": ("count(*) FILTER (WHERE coalesce(location_id, '') = '')", None),
    "count_null_counterparts": (
        "count(*) FILTER (WHERE msisdn_counterpart IS NULL)",
        "msisdn_counterpart",
    ),
    "earliest_timestamp": ("min(datetime)", None),
    "latest_timestamp": ("max(datetime)", None),
}


def record_quality_checks(conn: psycopg.Connection, cdr_type: str, day: date) -> int:
    """Compute every quality check on one loaded day and append the outcomes; return how many."""
    kind = event_type(cdr_type)
    available = set(kind.column_names)
    checks = {
        name: expression
        for name, (expression, needs) in QUALITY_CHECKS.items()
        if needs is None or needs in available
    }
    # The expressions are the fixed strings above, never user input.
    selected = sql.SQL(", ").join(
        sql.SQL("({})::text").format(sql.SQL(expression)) for expression in checks.values()
    )
    partition = sql.Identifier("events", partition_name(kind.name, day))
    outcomes = conn.execute(sql.SQL("SELECT {} FROM {}").format(selected, partition)).fetchone()
    rows = [
        (day, kind.name, name, outcome)
        for name, outcome in zip(checks, outcomes or (), strict=True)
    ]
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO etl.post_etl_queries "
            "(cdr_date, cdr_type, type_of_query_or_check, outcome, timestamp) "
            "VALUES (%s, %s, %s, %s, clock_timestamp())",
            rows,
        )
    return len(rows)
