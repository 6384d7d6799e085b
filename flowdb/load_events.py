"""Loading one day of events from a CSV file into its day partition.

A day is built as a new table, filled with COPY, indexed, analysed and counted per subscriber
and cell (``flowdb.cell_counts``). In the same transaction, the day's old partition (if any) is
dropped, the new table is attached in its place, and the day is recorded as ingested and
counted. A failure anywhere rolls the whole transaction back, so queries
see either the old day or the new one, never a half-loaded day.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import attrs
import psycopg
from psycopg import sql

from flowdb.cell_counts import attach_counts, build_counts, day_counts_table, mark_counted
from flowdb.csv_staging import (
    FileColumn,
    ProgressCallback,
    copy_file,
    diagnose_file,
    map_header,
    quote_value,
    read_header,
)
from flowdb.etl import record_ingested
from flowdb.load_report import LineError
from flowdb.partitions import day_bounds
from flowdb.quality import record_quality_checks
from flowdb.schema import EventType, partition_name

__all__ = ["DayFile", "DayLoadResult", "load_day_file", "parse_day_file_name"]

_DAY_FILE = re.compile(r"^(?P<prefix>[a-z_]+)_(?P<day>\d{8})\.csv(\.gz)?$")


@attrs.frozen
class DayFile:
    """A file holding one event type's records of one day."""

    path: Path
    event_type: EventType
    day: date


@attrs.frozen
class DayLoadResult:
    """Outcome of loading one day file: its row count, or the errors that rejected it."""

    day_file: DayFile
    rows: int = 0
    errors: list[LineError] = attrs.field(factory=list)


def parse_day_file_name(path: Path, event_type: EventType) -> DayFile | LineError:
    """Return the day file of ``path``, or an error unless it is named ``<prefix>_YYYYMMDD.csv``."""
    expected = f"{event_type.file_prefix}_YYYYMMDD.csv"
    match = _DAY_FILE.match(path.name)
    prefixes = {event_type.file_prefix, event_type.name}
    if not match or match["prefix"] not in prefixes:
        return LineError(None, f"file name {path.name!r} is invalid: expected {expected}")
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        return LineError(None, f"file name {path.name!r} contains an invalid date {match['day']!r}")
    return DayFile(path, event_type, day)


def _column_definitions(event_type: EventType) -> sql.Composed:
    """Return the column list of a day table: the parent's columns and NOT NULL constraints."""
    definitions = []
    for name, sql_type in event_type.columns:
        not_null = sql.SQL(" NOT NULL") if name in event_type.required_columns else sql.SQL("")
        definitions.append(
            sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(sql_type), not_null)
        )
    return sql.SQL(", ").join(definitions)


def load_day_file(
    dsn: str, day_file: DayFile, *, on_progress: ProgressCallback | None = None
) -> DayLoadResult:
    """Load one day file, replacing that day's partition; return rows or the file's errors."""
    event_type = day_file.event_type
    columns, header_errors = map_header(
        read_header(day_file.path),
        dict(event_type.columns),
        aliases=event_type.file_aliases,
        required=event_type.required_columns,
    )
    if header_errors:
        return DayLoadResult(day_file, errors=header_errors)

    with psycopg.connect(dsn, autocommit=True) as conn:
        # Timestamps without an offset mean UTC.
        conn.execute("SET timezone TO 'UTC'")
        try:
            rows = _build_and_swap(conn, day_file, columns, on_progress)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            errors = _diagnose(conn, day_file, columns)
            if not errors:
                # The fast path failed on something the diagnosis does not cover.
                errors = [LineError(None, f"loading failed: {_first_line(error)}")]
            return DayLoadResult(day_file, errors=errors)
        except psycopg.errors.InvalidObjectDefinition as error:
            # ATTACH rejects a day that overlaps a partition with another name.
            return DayLoadResult(day_file, errors=[LineError(None, _first_line(error))])
    return DayLoadResult(day_file, rows=rows)


def _build_and_swap(
    conn: psycopg.Connection,
    day_file: DayFile,
    columns: list[FileColumn],
    on_progress: ProgressCallback | None,
) -> int:
    """Build the day's table from the file and swap it in, in one transaction."""
    event_type = day_file.event_type
    parent = sql.Identifier("events", event_type.name)
    final_name = partition_name(event_type.name, day_file.day)
    building_name = f"{final_name}_new"
    building = sql.Identifier("events", building_name)
    start, end = day_bounds(day_file.day)

    with conn.transaction():
        # Loads of the same day take turns; different days build in parallel.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"events.{final_name}",))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {building} ({columns}, "
                "CONSTRAINT {check} CHECK (datetime >= {start} AND datetime < {end}))"
            ).format(
                building=building,
                columns=_column_definitions(event_type),
                check=sql.Identifier(f"{final_name}_datetime_in_day"),
                start=sql.Literal(start),
                end=sql.Literal(end),
            )
        )
        with conn.cursor() as cursor:
            # FREEZE writes the rows as already visible to all, sparing a later vacuum pass.
            rows = copy_file(
                cursor, day_file.path, building, columns, freeze=True, on_progress=on_progress
            )
        for column in event_type.indexed_columns:
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{building_name}_{column}_idx"),
                    building,
                    sql.Identifier(column),
                )
            )
        conn.execute(sql.SQL("ANALYZE {}").format(building))
        build_counts(conn, event_type.name, day_file.day, building, suffix="_new")
        record_quality_checks(
            conn,
            event_type.name,
            day_file.day,
            building,
            day_counts=day_counts_table(event_type.name, day_file.day, suffix="_new"),
        )

        # Swaps on one event table take turns. Otherwise two loads, each holding a lock on the
        # parent, could each wait for the other's lock (a deadlock, which PostgreSQL aborts).
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"events.{event_type.name}",))
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("events", final_name))
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(building, sql.Identifier(final_name))
        )
        for column in event_type.indexed_columns:
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier("events", f"{building_name}_{column}_idx"),
                    sql.Identifier(f"{final_name}_{column}_idx"),
                )
            )
        # The CHECK constraint matches the partition bounds, so ATTACH skips scanning the rows.
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                parent,
                sql.Identifier("events", final_name),
                sql.Literal(start),
                sql.Literal(end),
            )
        )
        attach_counts(conn, event_type.name, day_file.day, suffix="_new")
        record_ingested(conn, event_type.name, day_file.day)
        mark_counted(conn, event_type.name, day_file.day)
    return rows


def _diagnose(
    conn: psycopg.Connection, day_file: DayFile, columns: list[FileColumn]
) -> list[LineError]:
    """List every bad line of a day file, including times outside the file's day."""
    datetime_column = next(column for column in columns if column.target == "datetime")
    start, end = day_bounds(day_file.day)

    def outside_day(conn: psycopg.Connection, staging: sql.Identifier) -> list[LineError]:
        rows = conn.execute(
            sql.SQL(
                "SELECT line, datetime FROM {staging} "
                # CASE makes sure only valid timestamps reach the cast.
                "WHERE CASE WHEN etl.is_valid_input(datetime, 'timestamptz') "
                "THEN NOT (datetime::timestamptz >= {start} AND datetime::timestamptz < {end}) "
                "ELSE false END "
                "ORDER BY line"
            ).format(staging=staging, start=sql.Literal(start), end=sql.Literal(end))
        ).fetchall()
        return [
            LineError(
                int(line),
                f"{datetime_column.file_name} {quote_value(value)} is outside the file's day "
                f"{day_file.day.isoformat()}",
            )
            for line, value in rows
        ]

    with conn.transaction():
        return diagnose_file(conn, day_file.path, columns, extra_checks=outside_day)


def _first_line(error: Exception) -> str:
    """Return the first line of a database error's message."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
