"""Helpers for tests of query kinds: put small hand-made events, cells and regions in FlowDB.

Each helper records what a real load would (day partitions, ingestion records), so queries see
the inserted data exactly as they see loaded data. For plugin authors' tests as much as ours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from flowdb.etl import record_ingested
from flowdb.partitions import ensure_day_partition

__all__ = ["insert_events", "insert_cells", "insert_sites", "insert_region", "square"]


def _timestamp(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def insert_events(dsn: str, event_type: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert event rows (dicts of FlowDB column names) and mark their days as ingested.

    ``datetime`` may be an ISO string meaning UTC. Returns the number of rows inserted.
    """
    prepared = [{**row, "datetime": _timestamp(row["datetime"])} for row in rows]
    if not prepared:
        return 0
    columns = sorted({name for row in prepared for name in row})
    statement = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values})").format(
        table=sql.Identifier("events", event_type),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    days = sorted({row["datetime"].astimezone(dt.UTC).date() for row in prepared})
    with psycopg.connect(dsn) as conn:
        for day in days:
            ensure_day_partition(conn, event_type, day)
        with conn.cursor() as cursor:
            cursor.executemany(statement, [[row.get(c) for c in columns] for row in prepared])
        for day in days:
            record_ingested(conn, event_type, day)
    return len(prepared)


def _insert_versions(dsn: str, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    with psycopg.connect(dsn) as conn:
        for row in rows:
            values = dict(row)
            lon, lat = values.pop("lon"), values.pop("lat")
            values.setdefault("version", 0)
            names = sorted(values)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}, geom_point) "
                    "VALUES ({values}, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
                ).format(
                    table=sql.Identifier("infrastructure", table),
                    columns=sql.SQL(", ").join(map(sql.Identifier, names)),
                    values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
                ),
                [*(values[n] for n in names), lon, lat],
            )


def insert_cells(dsn: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert cell versions: ``id``, ``lon``, ``lat`` and optionally ``version``, ``site_id``,
    ``date_of_first_service``, ``date_of_last_service``."""
    _insert_versions(dsn, "cells", rows)


def insert_sites(dsn: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert site versions: ``id``, ``lon``, ``lat`` and optional version and service dates."""
    _insert_versions(dsn, "sites", rows)


def square(lon: float, lat: float, size: float) -> str:
    """Return the WKT of a square with its south-west corner at (lon, lat)."""
    east, north = lon + size, lat + size
    return f"MULTIPOLYGON((({lon} {lat},{east} {lat},{east} {north},{lon} {north},{lon} {lat})))"


def insert_region(
    dsn: str, level: int, pcod: str, wkt: str, *, name: str | None = None, **parents: str
) -> None:
    """Insert one region of ``geography.admin{level}`` from WKT (SRID 4326).

    ``parents`` gives parent codes and names, e.g. ``admin0pcod="NP"``.
    """
    values = {f"admin{level}pcod": pcod, f"admin{level}name": name or pcod, **parents}
    names = sorted(values)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}, geom) "
                "VALUES ({values}, ST_Multi(ST_GeomFromText(%s, 4326)))"
            ).format(
                table=sql.Identifier("geography", f"admin{level}"),
                columns=sql.SQL(", ").join(map(sql.Identifier, names)),
                values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            [*(values[n] for n in names), wkt],
        )
