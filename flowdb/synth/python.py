"""The ``python`` generator: uniform random calls, byte-identical for the same seeds.

FlowKit's reproducible generator, with its parameters:

* Cells (``CELLS_SEED``): ``n_cells`` cells with distinct 8-digit ids, each at a random point
  inside a random region of the finest admin level, with a random version 0–2 in service from
  the first generated day. Every cell has its own site, with the same id and point.
* Subscribers (``SUBSCRIBERS_SEED``): ``n_subscribers`` with 16-character hexadecimal
  ``msisdn``, ``imei`` and ``imsi`` hashes and a 5-digit TAC.
* Calls (``CALLS_SEED``): per day ``n_calls`` calls between two different subscribers drawn
  uniformly. Each party is at a cell drawn uniformly, at a uniform second of the day, and a
  call lasts 0–2600 s. Calls are stored two-line: the caller's row has ``outgoing`` true and
  the caller's cell, the callee's row false and the callee's cell. Rows are in time order.

Only calls are generated. Each day draws from its own stream seeded by (``CALLS_SEED``, day
number), so adding days leaves earlier days unchanged. Randomness comes from NumPy's
``Generator`` (PCG64); the same seeds and the same NumPy give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator

import attrs
import numpy as np
import psycopg
import shapely
from psycopg import sql

from flowdb.synth.daytables import STAGING_SCHEMA, DayTable
from flowdb.synth.geography import SynthGeography
from flowdb.synth.params import SynthParams

__all__ = ["EVENT_TYPES", "PythonWorld", "fill_python_day", "stage_python_world"]

logger = logging.getLogger(__name__)

EVENT_TYPES = ("calls",)
"""Event types the python generator writes."""

_CALL_COLUMNS = (
    "id",
    "outgoing",
    "datetime",
    "duration",
    "msisdn",
    "msisdn_counterpart",
    "location_id",
    "imsi",
    "imei",
    "tac",
)
_COPY_CHUNK_ROWS = 50_000


@attrs.frozen
class PythonWorld:
    """The staged cells and subscribers that every generated day draws from."""

    cell_ids: list[str]
    msisdns: list[str]
    imsis: list[str]
    imeis: list[str]
    tacs: list[int]


def _hashes(rng: np.random.Generator, count: int, label: str) -> list[str]:
    """Return ``count`` 16-character hexadecimal hashes of random numbers."""
    numbers = rng.integers(0, 2**63, size=count)
    return [hashlib.md5(f"{label}:{value}".encode()).hexdigest()[:16] for value in numbers]


def _random_points(
    rng: np.random.Generator, region: shapely.Geometry, count: int
) -> list[tuple[float, float]]:
    """Return ``count`` uniform random points inside ``region`` (rejection sampling)."""
    west, south, east, north = shapely.bounds(region)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        batch = max(16, 2 * (count - len(points)))
        xs = rng.uniform(west, east, size=batch)
        ys = rng.uniform(south, north, size=batch)
        inside = shapely.contains_xy(region, xs, ys)
        points += [(float(x), float(y)) for x, y in zip(xs[inside], ys[inside], strict=True)]
    return points[:count]


def _cells(
    conn: psycopg.Connection, params: SynthParams, geography: SynthGeography
) -> list[tuple[str, int, float, float]]:
    """Return (id, version, lon, lat) of every cell, in cell order."""
    level = geography.level
    statement = sql.SQL(
        "SELECT ST_AsBinary(geom) FROM {admin} WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom) "
        "ORDER BY {pcod}"
    ).format(
        admin=sql.Identifier("geography", f"admin{level}"),
        pcod=sql.Identifier(f"admin{level}pcod"),
    )
    regions = [shapely.from_wkb(bytes(row[0])) for row in conn.execute(statement)]
    rng = np.random.default_rng(params.cells_seed)
    ids = rng.choice(90_000_000, size=params.n_cells, replace=False) + 10_000_000
    versions = rng.integers(0, 3, size=params.n_cells)
    region_of_cell = rng.integers(0, len(regions), size=params.n_cells)
    locations: dict[int, tuple[float, float]] = {}
    for region_index in np.unique(region_of_cell):
        members = np.flatnonzero(region_of_cell == region_index)
        points = _random_points(rng, regions[int(region_index)], len(members))
        for member, point in zip(members, points, strict=True):
            locations[int(member)] = point
    return [(str(ids[i]), int(versions[i]), *locations[i]) for i in range(params.n_cells)]


def stage_python_world(
    conn: psycopg.Connection, params: SynthParams, geography: SynthGeography
) -> PythonWorld:
    """Draw cells and subscribers, stage the cells and sites in ``synth``; return the world."""
    cells = _cells(conn, params, geography)
    rng = np.random.default_rng(params.subscribers_seed)
    msisdns = _hashes(rng, params.n_subscribers, "msisdn")
    imeis = _hashes(rng, params.n_subscribers, "imei")
    imsis = _hashes(rng, params.n_subscribers, "imsi")
    tacs = [int(tac) for tac in rng.integers(10_000, 100_000, size=params.n_subscribers)]
    if len(set(msisdns)) != len(msisdns):
        raise ValueError("two subscribers drew the same msisdn; choose another subscribers_seed")

    with conn.transaction():
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").format(
                schema=sql.Identifier(STAGING_SCHEMA)
            )
        )
        for table in ("cells", "sites"):
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {staged} (id text, version int, {site} "
                    "date_of_first_service date, geom_point geometry(Point, 4326))"
                ).format(
                    staged=sql.Identifier(STAGING_SCHEMA, table),
                    site=sql.SQL("site_id text," if table == "cells" else ""),
                )
            )
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY synth.cells (id, version, site_id, date_of_first_service, geom_point) "
                "FROM STDIN"
            ) as copy:
                for cell_id, version, lon, lat in cells:
                    copy.write_row((cell_id, version, cell_id, params.start_date, _point(lon, lat)))
            with cursor.copy(
                "COPY synth.sites (id, version, date_of_first_service, geom_point) FROM STDIN"
            ) as copy:
                for cell_id, _version, lon, lat in cells:
                    copy.write_row((cell_id, 0, params.start_date, _point(lon, lat)))
    logger.info("staged %d cells and %d subscribers", len(cells), params.n_subscribers)
    return PythonWorld(
        cell_ids=[cell[0] for cell in cells],
        msisdns=msisdns,
        imsis=imsis,
        imeis=imeis,
        tacs=tacs,
    )


def _point(lon: float, lat: float) -> str:
    """Return a point as EWKT, with coordinates written exactly (repr)."""
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def _call_lines(world: PythonWorld, params: SynthParams, table: DayTable) -> Iterator[str]:
    """Yield the day's two-line call rows as COPY text lines, in time order."""
    day_number = params.days.index(table.day)
    rng = np.random.default_rng([params.calls_seed, day_number])
    count = params.n_calls
    n_subscribers = len(world.msisdns)
    callers = rng.integers(0, n_subscribers, size=count)
    callees = (callers + 1 + rng.integers(0, n_subscribers - 1, size=count)) % n_subscribers
    caller_cells = rng.integers(0, len(world.cell_ids), size=count)
    callee_cells = rng.integers(0, len(world.cell_ids), size=count)
    seconds = rng.integers(0, 86_400, size=count)
    durations = rng.integers(0, 2_601, size=count)
    call_ids = rng.integers(0, 2**63, size=count)
    day_text = f"{table.day:%Y-%m-%d}"
    for i in np.lexsort((np.arange(count), seconds)):
        hours, rest = divmod(int(seconds[i]), 3_600)
        minutes, second = divmod(rest, 60)
        moment = f"{day_text} {hours:02d}:{minutes:02d}:{second:02d}+00"
        call_id = f"{int(call_ids[i]):016x}"
        parties = (
            (callers[i], callees[i], caller_cells[i]),
            (callees[i], callers[i], callee_cells[i]),
        )
        for outgoing, (party, other, cell) in zip(("t", "f"), parties, strict=True):
            yield (
                f"{call_id}\t{outgoing}\t{moment}\t{durations[i]}\t{world.msisdns[party]}\t"
                f"{world.msisdns[other]}\t{world.cell_ids[cell]}\t{world.imsis[party]}\t"
                f"{world.imeis[party]}\t{world.tacs[party]}\n"
            )


def fill_python_day(
    params: SynthParams, world: PythonWorld, conn: psycopg.Connection, table: DayTable
) -> int:
    """Write one day of calls into its table with COPY; return the number of rows."""
    if table.event_type != "calls":
        raise ValueError(f"the python generator writes calls only, not {table.event_type!r}")
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=table.identifier,
        columns=sql.SQL(", ").join(map(sql.Identifier, _CALL_COLUMNS)),
    )
    rows = 0
    buffer = io.StringIO()
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for line in _call_lines(world, params, table):
            buffer.write(line)
            rows += 1
            if rows % _COPY_CHUNK_ROWS == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return rows
