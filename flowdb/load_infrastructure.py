"""Loading cells, sites and handset models (TACs) from CSV, replacing the table's contents.

Each file is copied into a typed temporary table, checked as a whole (coordinates, service
dates, duplicate or overlapping versions), and only then replaces the table's rows, in the
same transaction.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import psycopg
from psycopg import sql

from flowdb.csv_staging import (
    FileColumn,
    ProgressCallback,
    copy_file,
    diagnose_file,
    map_header,
    quote_value,
    read_header,
)
from flowdb.load_report import LineError

__all__ = ["INFRASTRUCTURE_TABLES", "InfrastructureTable", "TableLoadResult", "load_table_file"]

_STAGING = sql.Identifier("flowcore_infrastructure")
_COORDINATES = {"latitude": "double precision", "longitude": "double precision"}


@attrs.frozen
class InfrastructureTable:
    """An infrastructure table and how its file loads into it."""

    table: str
    key_column: str | None
    """Serial key that the loader numbers afresh, e.g. cells' ``cell_id``; None for tacs."""
    noun: str
    """Name of one row's thing in error messages, e.g. "cell"."""
    versioned: bool
    """Whether rows are versions with service dates, and have a point location."""

    @property
    def qualified(self) -> str:
        """Return ``infrastructure.<table>``."""
        return f"infrastructure.{self.table}"


INFRASTRUCTURE_TABLES = {
    "sites": InfrastructureTable("sites", "site_id", "site", versioned=True),
    "cells": InfrastructureTable("cells", "cell_id", "cell", versioned=True),
    "tacs": InfrastructureTable("tacs", None, "TAC", versioned=False),
}
"""The loadable infrastructure tables by name."""


@attrs.frozen
class TableLoadResult:
    """Outcome of loading one table file: its row count, or the errors that rejected it."""

    path: Path
    table: InfrastructureTable
    rows: int = 0
    errors: list[LineError] = attrs.field(factory=list)


def _table_columns(conn: psycopg.Connection, table: InfrastructureTable) -> dict[str, str]:
    """Return the loadable columns of a table and their types, read from the catalog."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, NULL)
        FROM pg_attribute AS a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (table.qualified,),
    ).fetchall()
    skipped = {table.key_column, "geom_point", "geom_polygon"}
    return {str(name): str(sql_type) for name, sql_type in rows if name not in skipped}


def _file_header(path: Path, table: InfrastructureTable) -> list[str]:
    """Return the header, reading FlowKit's cells layout the way FlowKit's loader does."""
    header = read_header(path)
    if table.table == "cells" and header[3:5] == ["longitude", "latitude"]:
        # FlowKit's cells.csv labels its 4th and 5th columns longitude, latitude, but the 4th
        # contains latitudes and the 5th longitudes (values like 26.67, 87.86 in Nepal), and
        # FlowKit's loader reads them by position. Loading by position keeps cells where FlowKit
        # puts them.
        header[3], header[4] = "latitude", "longitude"
    return header


def load_table_file(
    dsn: str,
    path: Path,
    table: InfrastructureTable,
    *,
    on_progress: ProgressCallback | None = None,
) -> TableLoadResult:
    """Replace an infrastructure table's rows with a CSV file's; return rows or errors."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        table_columns = _table_columns(conn, table)
        extra = _COORDINATES if table.versioned else {}
        columns, header_errors = map_header(
            _file_header(path, table), table_columns, required=("id",), extra=extra
        )
        if header_errors:
            return TableLoadResult(path, table, errors=header_errors)
        try:
            with conn.transaction():
                _stage(conn, path, columns, on_progress)
                errors = _check_rows(conn, table, columns)
                if errors:
                    raise _Rejected(errors)
                rows = _replace(conn, table, columns)
        except _Rejected as rejected:
            return TableLoadResult(path, table, errors=rejected.errors)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            with conn.transaction():
                errors = diagnose_file(conn, path, columns)
            if not errors:
                message = str(error).strip().splitlines()[0] if str(error).strip() else ""
                errors = [LineError(None, f"loading failed: {message}")]
            return TableLoadResult(path, table, errors=errors)
    return TableLoadResult(path, table, rows=rows)


class _Rejected(Exception):
    """Carries row errors out of the transaction so that it rolls back."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} bad rows")
        self.errors = errors


def _stage(
    conn: psycopg.Connection,
    path: Path,
    columns: list[FileColumn],
    on_progress: ProgressCallback | None,
) -> None:
    """Copy the file into a typed temporary table whose ``line`` column numbers the rows."""
    definitions = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(column.target),
            sql.SQL(column.sql_type),
            sql.SQL(" NOT NULL") if column.required else sql.SQL(""),
        )
        for column in columns
    ]
    # COPY inserts rows in file order, so an identity starting at 2 (after the header) gives
    # each row its line number, as long as no quoted field spans several lines.
    conn.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {} ("
            "line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), {}) ON COMMIT DROP"
        ).format(_STAGING, sql.SQL(", ").join(definitions))
    )
    with conn.cursor() as cursor:
        copy_file(cursor, path, _STAGING, columns, on_progress=on_progress)


def _check_rows(
    conn: psycopg.Connection, table: InfrastructureTable, columns: list[FileColumn]
) -> list[LineError]:
    """Return the rows that would break the table's rules, as line errors."""
    names = {column.target for column in columns}
    errors = _duplicate_rows(conn, table, names)
    if not table.versioned:
        return errors
    if names & {"latitude", "longitude"}:
        errors += _coordinate_errors(conn, names)
    if {"date_of_first_service", "date_of_last_service"} <= names:
        rows = conn.execute(
            sql.SQL(
                "SELECT line, date_of_first_service, date_of_last_service FROM {} "
                "WHERE date_of_first_service > date_of_last_service"
            ).format(_STAGING)
        ).fetchall()
        errors += [
            LineError(line, f"date_of_first_service {first} is after date_of_last_service {last}")
            for line, first, last in rows
        ]
    errors += _overlapping_versions(conn, table, names)
    return errors


def _version(names: set[str], alias: str) -> sql.Composable:
    """Return the SQL of a row's version: its value, or 0 when the file has none."""
    if "version" in names:
        return sql.SQL("coalesce({}.version, 0)").format(sql.Identifier(alias))
    return sql.SQL("0")


def _duplicate_rows(
    conn: psycopg.Connection, table: InfrastructureTable, names: set[str]
) -> list[LineError]:
    """Return rows repeating an earlier row's id (and version, for versioned tables)."""
    version_a = _version(names, "a") if table.versioned else sql.SQL("0")
    version_b = _version(names, "b") if table.versioned else sql.SQL("0")
    rows = conn.execute(
        sql.SQL(
            "SELECT b.line, b.id, {version_b}, min(a.line) FROM {staging} AS a "
            "JOIN {staging} AS b ON a.id = b.id AND {version_a} = {version_b} AND a.line < b.line "
            "GROUP BY 1, 2, 3 ORDER BY b.line"
        ).format(staging=_STAGING, version_a=version_a, version_b=version_b)
    ).fetchall()
    errors = []
    for line, identifier, version, first_line in rows:
        what = f"{table.noun} {quote_value(str(identifier))}"
        if table.versioned:
            what += f" version {version}"
        errors.append(LineError(line, f"{what} repeats line {first_line}"))
    return errors


def _coordinate_errors(conn: psycopg.Connection, names: set[str]) -> list[LineError]:
    """Return rows with only one coordinate or a coordinate outside its range."""
    if not {"latitude", "longitude"} <= names:
        missing = ({"latitude", "longitude"} - names).pop()
        return [LineError(1, f"column {missing!r} is missing: a location needs both coordinates")]
    rows = conn.execute(
        sql.SQL(
            "SELECT line, latitude, longitude FROM {} WHERE "
            "(latitude IS NULL) <> (longitude IS NULL) "
            "OR latitude NOT BETWEEN -90 AND 90 OR longitude NOT BETWEEN -180 AND 180"
        ).format(_STAGING)
    ).fetchall()
    errors = []
    for line, latitude, longitude in rows:
        if latitude is None or longitude is None:
            message = "latitude and longitude must both be given or both be empty"
        elif not -90 <= latitude <= 90:
            message = f"latitude {latitude} is outside -90 to 90"
        else:
            message = f"longitude {longitude} is outside -180 to 180"
        errors.append(LineError(line, message))
    return errors


def _overlapping_versions(
    conn: psycopg.Connection, table: InfrastructureTable, names: set[str]
) -> list[LineError]:
    """Return versions whose service dates overlap an earlier row's of the same id."""
    first = "date_of_first_service" if "date_of_first_service" in names else None
    last = "date_of_last_service" if "date_of_last_service" in names else None

    def period(alias: str) -> sql.Composable:
        lower = sql.Identifier(alias, first) if first else sql.SQL("NULL::date")
        upper = sql.Identifier(alias, last) if last else sql.SQL("NULL::date")
        # Reversed dates are reported on their own; an empty range keeps them out of this check.
        return sql.SQL(
            "CASE WHEN {lower} > {upper} THEN 'empty'::daterange "
            "ELSE daterange({lower}, {upper}, '[]') END"
        ).format(lower=lower, upper=upper)

    rows = conn.execute(
        sql.SQL(
            "SELECT b.line, b.id, {version_b}, min(a.line) FROM {staging} AS a "
            "JOIN {staging} AS b ON a.id = b.id AND a.line < b.line "
            "AND {version_a} <> {version_b} AND {period_a} && {period_b} "
            "GROUP BY 1, 2, 3 ORDER BY b.line"
        ).format(
            staging=_STAGING,
            version_a=_version(names, "a"),
            version_b=_version(names, "b"),
            period_a=period("a"),
            period_b=period("b"),
        )
    ).fetchall()
    return [
        LineError(
            line,
            f"{table.noun} {quote_value(str(identifier))} version {version} is in service on "
            f"dates that overlap the version on line {first_line}",
        )
        for line, identifier, version, first_line in rows
    ]


def _replace(
    conn: psycopg.Connection, table: InfrastructureTable, columns: list[FileColumn]
) -> int:
    """Replace the table's rows with the staged ones, numbering serial keys from 1."""
    targets = [column.target for column in columns if column.target not in _COORDINATES]
    values: list[sql.Composable] = [sql.Identifier(name) for name in targets]
    if table.versioned and "version" not in targets:
        targets.append("version")
        values.append(sql.SQL("0"))
    elif table.versioned:
        values[targets.index("version")] = sql.SQL("coalesce(version, 0)")
    if table.versioned and "latitude" in {column.target for column in columns}:
        targets.append("geom_point")
        values.append(
            sql.SQL(
                "CASE WHEN latitude IS NOT NULL "
                "THEN ST_SetSRID(ST_MakePoint(longitude, latitude), 4326) END"
            )
        )
    target = sql.Identifier("infrastructure", table.table)
    conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(target))
    cursor = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY line").format(
            target,
            sql.SQL(", ").join(sql.Identifier(name) for name in targets),
            sql.SQL(", ").join(values),
            _STAGING,
        )
    )
    conn.execute(sql.SQL("ANALYZE {}").format(target))
    return cursor.rowcount
