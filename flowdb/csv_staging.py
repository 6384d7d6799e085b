"""CSV input shared by the loaders: headers, streaming COPY, and row-by-row diagnosis.

Loading goes fast path first: the file's bytes are streamed into a typed table with COPY, so
PostgreSQL parses every value once. Only when that COPY fails does :func:`diagnose_file` read
the file again to list every bad line: it checks the field count of each record in Python,
copies the values as text into a temporary table, and checks types in SQL.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

import attrs
import psycopg
from psycopg import sql

from flowdb.load_report import LineError

__all__ = [
    "FileColumn",
    "copy_file",
    "diagnose_file",
    "map_header",
    "open_binary",
    "quote_value",
    "read_header",
]

_CHUNK_SIZE = 1 << 20

_TYPE_DESCRIPTIONS = {
    "timestamptz": "a valid timestamp (YYYY-MM-DD HH:MM:SS, UTC unless an offset is given)",
    "date": "a valid date (YYYY-MM-DD)",
    "boolean": "a boolean (True or False)",
    "numeric": "a number",
    "numeric(8)": "a number of at most 8 digits",
    "double precision": "a number",
    "integer": "an integer",
    "bigint": "an integer",
}

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes read since the last call."""


@attrs.frozen
class FileColumn:
    """A column of a CSV file and the table column it loads into."""

    file_name: str
    target: str
    sql_type: str
    required: bool = False


def open_binary(path: Path) -> IO[bytes]:
    """Open a data file for reading bytes, decompressing ``.gz`` files."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read_header(path: Path) -> list[str]:
    """Return the column names of a CSV file's first line, stripped and lower-cased."""
    with open_binary(path) as handle:
        first = handle.readline()
    text = first.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return []
    return [name.strip().lower() for name in next(csv.reader([text]))]


def map_header(
    header: list[str],
    table_columns: dict[str, str],
    *,
    aliases: dict[str, str] | None = None,
    required: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> tuple[list[FileColumn], list[LineError]]:
    """Match a file's header to table columns; return the columns and any header errors.

    ``aliases`` maps file column names to table columns (e.g. ``start_time`` to
    ``datetime``); ``extra`` adds loadable columns that are not table columns, with types.
    """
    aliases = aliases or {}
    allowed = dict(table_columns) | (extra or {})
    errors: list[LineError] = []
    columns: list[FileColumn] = []
    seen: dict[str, str] = {}
    if not header:
        return [], [LineError(None, "the file is empty: expected a header line of column names")]
    for name in header:
        target = aliases.get(name, name)
        if target not in allowed:
            names = ", ".join(sorted(set(allowed) | set(aliases)))
            errors.append(LineError(1, f"column {name!r} is unknown; allowed: {names}"))
            continue
        if target in seen:
            errors.append(
                LineError(1, f"column {name!r} repeats column {seen[target]!r} of the header")
            )
            continue
        seen[target] = name
        columns.append(FileColumn(name, target, allowed[target], target in required))
    for target in required:
        if target not in seen:
            spelled = [alias for alias, column in aliases.items() if column == target]
            names = " or ".join(repr(name) for name in [target, *spelled])
            errors.append(LineError(1, f"required column {names} is missing from the header"))
    return columns, errors


def copy_file(
    cursor: psycopg.Cursor,
    path: Path,
    table: sql.Composable,
    columns: list[FileColumn],
    *,
    freeze: bool = False,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Stream a CSV file (after its header line) into ``table`` with COPY; return its rows.

    Empty fields, quoted or not, load as NULL. Raises psycopg errors on the first bad value.
    """
    options: list[sql.Composable] = [sql.SQL("FORMAT csv")]
    options.append(
        sql.SQL("FORCE_NULL ({})").format(
            sql.SQL(", ").join(sql.Identifier(column.target) for column in columns)
        )
    )
    if freeze:
        options.append(sql.SQL("FREEZE true"))
    statement = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        table,
        sql.SQL(", ").join(sql.Identifier(column.target) for column in columns),
        sql.SQL(", ").join(options),
    )
    with open_binary(path) as handle:
        header = handle.readline()
        if on_progress:
            on_progress(len(header))
        with cursor.copy(statement) as copy:
            while chunk := handle.read(_CHUNK_SIZE):
                copy.write(chunk)
                if on_progress:
                    on_progress(len(chunk))
    return cursor.rowcount


def quote_value(value: str, limit: int = 60) -> str:
    """Return a value quoted for an error message, shortened when long."""
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return f"'{value}'"


def _records(path: Path) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """Yield (line number, fields, error) per record after the header, for diagnosis."""
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, strict=True)
        try:
            next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield 1, None, f"the header is not valid CSV: {error}"
            return
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                # The reader cannot resynchronise after broken quoting, so diagnosis stops here.
                yield reader.line_num, None, f"invalid CSV ({error}); later lines were not checked"
                return
            yield reader.line_num, fields, None


def _has_invalid_utf8(fields: list[str]) -> bool:
    return any("\udc80" <= char <= "\udcff" for field in fields for char in field)


def diagnose_file(
    conn: psycopg.Connection,
    path: Path,
    columns: list[FileColumn],
    *,
    extra_checks: Callable[[psycopg.Connection, sql.Identifier], list[LineError]] | None = None,
) -> list[LineError]:
    """List every bad line of a CSV file whose COPY failed.

    Checks the field count, UTF-8, required values and each value's type. ``extra_checks`` then
    receives the connection and the staging table for checks of its own. That table has a
    ``line`` column and one text column per table column, and is dropped at commit.
    """
    errors: list[LineError] = []
    staging = sql.Identifier("flowcore_diagnosis")
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} (line bigint, {}) ON COMMIT DROP").format(
            staging,
            sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(column.target)) for column in columns
            ),
        )
    )
    expected = len(columns)
    with conn.cursor() as cursor:
        statement = sql.SQL("COPY {} (line, {}) FROM STDIN").format(
            staging, sql.SQL(", ").join(sql.Identifier(column.target) for column in columns)
        )
        with cursor.copy(statement) as copy:
            for line, fields, problem in _records(path):
                if problem is not None:
                    errors.append(LineError(line, problem))
                    continue
                assert fields is not None
                if fields == []:
                    errors.append(LineError(line, "the line is empty"))
                    continue
                if len(fields) != expected:
                    errors.append(
                        LineError(
                            line,
                            f"has {len(fields)} fields, expected {expected} "
                            "(one per column of the header)",
                        )
                    )
                    continue
                if _has_invalid_utf8(fields):
                    errors.append(LineError(line, "is not valid UTF-8 text"))
                    continue
                copy.write_row([line, *(field.strip() or None for field in fields)])
    errors += _value_errors(conn, staging, columns)
    if extra_checks is not None:
        errors += extra_checks(conn, staging)
    return errors


def _value_errors(
    conn: psycopg.Connection, staging: sql.Identifier, columns: list[FileColumn]
) -> list[LineError]:
    """Return the missing required values and the values that do not parse as their type."""
    errors: list[LineError] = []
    for column in columns:
        target = sql.Identifier(column.target)
        if column.required:
            rows = conn.execute(
                sql.SQL("SELECT line FROM {} WHERE {} IS NULL ORDER BY line").format(
                    staging, target
                )
            ).fetchall()
            errors += [LineError(int(line), f"{column.file_name} is missing") for (line,) in rows]
        if column.sql_type == "text" or _column_parses(conn, staging, column):
            continue
        rows = conn.execute(
            sql.SQL(
                "SELECT line, {column} FROM {staging} "
                "WHERE NOT etl.is_valid_input({column}, {sql_type}) ORDER BY line"
            ).format(column=target, staging=staging, sql_type=sql.Literal(column.sql_type)),
        ).fetchall()
        description = _TYPE_DESCRIPTIONS.get(column.sql_type, column.sql_type)
        errors += [
            LineError(int(line), f"{column.file_name} {quote_value(value)} is not {description}")
            for line, value in rows
        ]
    return errors


def _column_parses(conn: psycopg.Connection, staging: sql.Identifier, column: FileColumn) -> bool:
    """Return whether every value of a column casts to its type, with one set-based cast.

    Checking value by value costs a subtransaction each, so only columns that fail this
    check are examined row by row.
    """
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("SELECT count({column}::{sql_type}) FROM {staging}").format(
                    column=sql.Identifier(column.target),
                    sql_type=sql.SQL(column.sql_type),
                    staging=staging,
                )
            )
    except psycopg.errors.DataError:
        return False
    return True
