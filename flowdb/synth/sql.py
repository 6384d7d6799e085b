"""The ``sql`` generator: plausible subscriber behaviour at volume, computed inside PostgreSQL.

The model, with FlowKit's parameters:

* Sites are random points in the regions of the finest admin level; each region is picked
  uniformly, so small (dense) regions get as many sites as large remote ones. Cells are one per
  site, then extra cells on random sites; a cell stands at its site's point. Every site and cell
  has version 0, in service since a random day of the year before the first generated day.
* Each subscriber keeps one handset (TAC) and a home cell. Their *home region* is every cell
  within ``home_radius_m`` (3 km) of the home cell, the home cell included. Each day a subscriber
  relocates to a random cell with probability ``p_relocate``.
* ``interactions_multiplier`` × subscribers calling pairs are drawn once; every call and SMS is
  between the two members of a random pair. Each party's cell is a random cell of their home
  region, or with probability ``p_out_of_area`` any reachable cell. Times are uniform over the
  day at one-second resolution; call durations 0–2600 s; calls and SMS are stored two-line (one
  row per party, same id, ``outgoing`` true for the caller, the two rows adjacent).
* Mobile data sessions belong to a random subscriber, at a cell chosen the same way, lasting
  0–260 s with 0–100,000 bytes up and down each.
* Disaster: while an admin2 region is off limits (first to last day inclusive), its cells are
  unreachable, every subscriber living there relocates on the first day of the period, and
  nobody relocates into it. Residents do not move back afterwards; they relocate later only by
  chance.

Repeatability: every random number is a hash of a row number and a *stream* derived from the
seeds (``synth.draw``), never ``random()``, so the same parameters give the same rows however
PostgreSQL plans the statements; site points come from PostGIS's seeded ``ST_GeneratePoints``.
The ``python`` generator is the one tested to be byte-identical run after run.

The working tables stay in the ``synth`` schema for inspection: ``subscribers``, ``interactions``
(calling pairs), ``neighbourhoods`` (each cell's home region) and ``homes`` (each subscriber's
home cell per day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import psycopg
from psycopg import sql

from flowdb.partitions import day_bounds
from flowdb.synth.daytables import STAGING_SCHEMA, DayTable, SynthError
from flowdb.synth.geography import SynthGeography
from flowdb.synth.params import SynthParams

__all__ = ["EVENT_TYPES", "fill_sql_day", "stage_sql_world", "stream"]

logger = logging.getLogger(__name__)

EVENT_TYPES = ("calls", "sms", "mds")
"""Event types the sql generator writes, in the order their day tables are built."""

_BRANDS = ["Nokia", "Samsung", "Apple", "Huawei", "Tecno", "Xiaomi", "Oppo", "Itel"]
_HANDSET_TYPES = ["Smart", "Feature", "Basic"]


def stream(*parts: object) -> int:
    """Return the 63-bit stream number of ``synth.draw`` for a seed and labels."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _id_width(count: int, minimum: int) -> int:
    """Return the digit count of ids numbered up to ``count``, at least ``minimum``."""
    return max(minimum, len(str(count)))


# A uniform number in [0, 1) from the top 53 bits of PostgreSQL's seeded 64-bit integer hash.
_DRAW_FUNCTION = """
CREATE FUNCTION synth.draw(key bigint, stream bigint)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ((hashint8extended(key, stream) >> 11) & 9007199254740991)::float8
        / 9007199254740992.0
$$
"""


def _uniform_int(draw: str, count: str) -> str:
    """Return SQL for an integer 1 … ``count`` from a ``draw`` in [0, 1)."""
    return f"least({count}, 1 + floor({draw} * {count})::int)"


_SITES = (
    """
CREATE TABLE synth.sites AS
WITH regions AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY {pcod}) AS region_no, geom
    FROM {admin}
    WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)
),
picks AS MATERIALIZED (
    SELECT site_no,
        """
    + _uniform_int(
        "synth.draw(site_no, %(site_region_stream)s)", "(SELECT count(*) FROM regions)::int"
    )
    + """ AS region_no,
        floor(synth.draw(site_no, %(site_age_stream)s) * 365)::int AS first_service_offset
    FROM generate_series(1, %(n_sites)s) AS site_no
),
per_region AS (
    SELECT region_no, array_agg(site_no ORDER BY site_no) AS site_nos
    FROM picks
    GROUP BY region_no
),
points AS (
    SELECT p.site_nos[d.ordinal] AS site_no, d.geom
    FROM per_region AS p
    JOIN regions AS r USING (region_no)
    CROSS JOIN LATERAL ST_Dump(
        ST_GeneratePoints(r.geom, cardinality(p.site_nos), (%(points_seed)s + r.region_no)::int)
    ) WITH ORDINALITY AS d (path, geom, ordinal)
)
SELECT pk.site_no,
    'S' || lpad(pk.site_no::text, %(site_width)s, '0') AS id,
    0 AS version,
    'Site ' || pk.site_no AS name,
    'macro' AS type,
    'active' AS status,
    false AS is_cow,
    %(first_service_from)s::date + pk.first_service_offset AS date_of_first_service,
    NULL::date AS date_of_last_service,
    ST_SetSRID(pt.geom, 4326)::geometry(Point, 4326) AS geom_point
FROM picks AS pk
JOIN points AS pt USING (site_no)
ORDER BY pk.site_no
""",
)

_CELLS = (
    """
CREATE TABLE synth.cells AS
SELECT c.cell_no,
    'C' || lpad(c.cell_no::text, %(cell_width)s, '0') AS id,
    0 AS version,
    s.id AS site_id,
    'Cell ' || c.cell_no AS name,
    'macro' AS type,
    'active' AS status,
    s.date_of_first_service,
    NULL::date AS date_of_last_service,
    s.geom_point,
    false AS off_limits
FROM (
    SELECT cell_no,
        CASE WHEN cell_no <= %(n_sites)s THEN cell_no
             ELSE """
    + _uniform_int("synth.draw(cell_no, %(cell_site_stream)s)", "%(n_sites)s")
    + """ END AS site_no
    FROM generate_series(1, %(n_cells)s) AS cell_no
) AS c
JOIN synth.sites AS s USING (site_no)
ORDER BY c.cell_no
""",
    "ALTER TABLE synth.cells ADD PRIMARY KEY (cell_no)",
    "CREATE INDEX cells_geography_idx ON synth.cells USING gist ((geom_point::geography))",
)

_OFF_LIMITS = """
UPDATE synth.cells AS c SET off_limits = true
FROM geography.admin2 AS a
WHERE a.admin2pcod = %(disaster_region)s AND ST_Within(c.geom_point, a.geom)
"""

_TACS = (
    """
CREATE TABLE synth.tacs AS
SELECT tac_no,
    (35000000 + tac_no)::numeric AS id,
    brand,
    brand || ' ' || chr(65 + tac_no %% 26) || tac_no AS model,
    hnd_type,
    CASE WHEN hnd_type = 'Smart' THEN 'Android' END AS software_os_name
FROM (
    SELECT tac_no,
        (%(brands)s::text[])["""
    + _uniform_int("synth.draw(tac_no, %(brand_stream)s)", "cardinality(%(brands)s::text[])")
    + """] AS brand,
        (%(handset_types)s::text[])["""
    + _uniform_int(
        "synth.draw(tac_no, %(handset_stream)s)", "cardinality(%(handset_types)s::text[])"
    )
    + """] AS hnd_type
    FROM generate_series(1, %(n_tacs)s) AS tac_no
) AS t
ORDER BY tac_no
""",
)

_SUBSCRIBERS = (
    """
CREATE TABLE synth.subscribers AS
SELECT s.sub_no,
    substr(md5('msisdn:' || %(subscribers_seed)s || ':' || s.sub_no), 1, 16) AS msisdn,
    '42901' || lpad(s.sub_no::text, 10, '0') AS imsi,
    t.id::text || lpad(s.sub_no::text, 7, '0') AS imei,
    t.id AS tac
FROM (
    SELECT sub_no, """
    + _uniform_int("synth.draw(sub_no, %(handset_of_stream)s)", "%(n_tacs)s")
    + """ AS tac_no
    FROM generate_series(1, %(n_subscribers)s) AS sub_no
) AS s
JOIN synth.tacs AS t USING (tac_no)
ORDER BY s.sub_no
""",
    "ALTER TABLE synth.subscribers ADD PRIMARY KEY (sub_no)",
    "ALTER TABLE synth.subscribers ADD UNIQUE (msisdn)",
)

# The callee is the caller shifted by 1 … n-1 places, so nobody forms a pair with themselves.
# Each pair is stored as two party rows (caller: outgoing true), as calls are.
_INTERACTIONS = (
    """
CREATE TABLE synth.interactions AS
WITH pairs AS (
    SELECT pair_no, caller,
        1 + (caller - 1 + """
    + _uniform_int("synth.draw(pair_no, %(callee_stream)s)", "(%(n_subscribers)s - 1)")
    + """) %% %(n_subscribers)s AS callee
    FROM (
        SELECT pair_no, """
    + _uniform_int("synth.draw(pair_no, %(caller_stream)s)", "%(n_subscribers)s")
    + """ AS caller
        FROM generate_series(1, %(n_pairs)s) AS pair_no
    ) AS drawn
)
SELECT p.pair_no, party.outgoing, party.sub_no, a.msisdn, b.msisdn AS counterpart
FROM pairs AS p
CROSS JOIN LATERAL (
    VALUES (true, p.caller, p.callee), (false, p.callee, p.caller)
) AS party (outgoing, sub_no, other)
JOIN synth.subscribers AS a ON a.sub_no = party.sub_no
JOIN synth.subscribers AS b ON b.sub_no = party.other
ORDER BY p.pair_no, party.outgoing DESC
""",
    "ALTER TABLE synth.interactions ADD PRIMARY KEY (pair_no, outgoing)",
)

_NEIGHBOURHOODS = (
    """
CREATE TABLE synth.neighbourhoods AS
SELECT c.cell_no,
    array_agg(n.cell_no ORDER BY n.cell_no) AS cells,
    array_agg(n.cell_no ORDER BY n.cell_no) FILTER (WHERE NOT n.off_limits) AS cells_outside
FROM synth.cells AS c
JOIN synth.cells AS n
    ON ST_DWithin(c.geom_point::geography, n.geom_point::geography, %(radius)s)
GROUP BY c.cell_no
""",
    "ALTER TABLE synth.neighbourhoods ADD PRIMARY KEY (cell_no)",
)

_REACHABLE = """
SELECT array_agg(cell_no ORDER BY cell_no) FROM synth.cells WHERE NOT (%(disaster)s AND off_limits)
"""

_RANDOM_REACHABLE = (
    "(%(reachable)s::int[])["
    + _uniform_int("synth.draw(sub_no, %(home_stream)s)", "%(n_reachable)s")
    + "]"
)

_HOMES_TABLE = (
    "CREATE TABLE synth.homes (day date, sub_no int, cell_no int, PRIMARY KEY (day, sub_no))"
)

_FIRST_HOMES = (
    "INSERT INTO synth.homes (day, sub_no, cell_no) SELECT %(day)s, sub_no, "
    + _RANDOM_REACHABLE
    + " FROM synth.subscribers ORDER BY sub_no"
)

_NEXT_HOMES = (
    """
INSERT INTO synth.homes (day, sub_no, cell_no)
SELECT %(day)s, h.sub_no,
    CASE WHEN synth.draw(h.sub_no, %(relocate_stream)s) < %(p_relocate)s
            OR (%(disaster)s AND c.off_limits)
        THEN """
    + _RANDOM_REACHABLE
    + """
        ELSE h.cell_no
    END
FROM synth.homes AS h
JOIN synth.cells AS c USING (cell_no)
WHERE h.day = %(previous)s
ORDER BY h.sub_no
"""
)


def _staging_values(params: SynthParams) -> dict[str, Any]:
    """Return the statement parameters of the staging step."""
    cells_seed, subscribers_seed = params.cells_seed, params.subscribers_seed
    return {
        "n_sites": params.n_sites,
        "n_cells": params.n_cells,
        "n_tacs": params.n_tacs,
        "n_subscribers": params.n_subscribers,
        "n_pairs": params.n_subscribers * params.interactions_multiplier,
        "site_width": _id_width(params.n_sites, 5),
        "cell_width": _id_width(params.n_cells, 7),
        "first_service_from": params.start_date - dt.timedelta(days=365),
        "radius": params.home_radius_m,
        "disaster_region": params.disaster_region,
        "brands": _BRANDS,
        "handset_types": _HANDSET_TYPES,
        "subscribers_seed": subscribers_seed,
        "points_seed": cells_seed,
        "site_region_stream": stream(cells_seed, "site region"),
        "site_age_stream": stream(cells_seed, "site first service"),
        "cell_site_stream": stream(cells_seed, "cell site"),
        "brand_stream": stream(cells_seed, "tac brand"),
        "handset_stream": stream(cells_seed, "tac handset type"),
        "handset_of_stream": stream(subscribers_seed, "subscriber tac"),
        "caller_stream": stream(subscribers_seed, "pair caller"),
        "callee_stream": stream(subscribers_seed, "pair callee"),
    }


def stage_sql_world(
    conn: psycopg.Connection, params: SynthParams, geography: SynthGeography
) -> None:
    """Create the ``synth`` schema: sites, cells, TACs, subscribers, pairs, homes per day.

    Raises:
        SynthError: when the disaster region is not an admin2 p-code in the database.
    """
    values = _staging_values(params)
    admin = sql.Identifier("geography", f"admin{geography.level}")
    pcod = sql.Identifier(f"admin{geography.level}pcod")
    with conn.transaction():
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").format(
                schema=sql.Identifier(STAGING_SCHEMA)
            )
        )
        conn.execute(_DRAW_FUNCTION)
        conn.execute(sql.SQL(_SITES[0]).format(admin=admin, pcod=pcod), values)
        _execute_all(conn, _CELLS, values)
        if params.disaster_region is not None:
            _mark_off_limits(conn, params.disaster_region, values)
        _execute_all(conn, _TACS, values)
        _execute_all(conn, _NEIGHBOURHOODS, values)
        _execute_all(conn, _SUBSCRIBERS, values)
        _execute_all(conn, _INTERACTIONS, values)
        _stage_homes(conn, params)
        for table in ("cells", "neighbourhoods", "subscribers", "interactions", "homes"):
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(STAGING_SCHEMA, table)))
    logger.info(
        "staged %d sites, %d cells, %d subscribers",
        params.n_sites,
        params.n_cells,
        params.n_subscribers,
    )


def _execute_all(
    conn: psycopg.Connection, statements: tuple[str, ...], values: dict[str, Any]
) -> None:
    """Execute statements one by one: a statement with parameters must stand alone."""
    for statement in statements:
        conn.execute(statement, values)


def _mark_off_limits(conn: psycopg.Connection, region: str, values: dict[str, Any]) -> None:
    """Flag the cells inside the disaster region; raise SynthError for an unknown region."""
    exists = conn.execute(
        "SELECT count(*) FROM geography.admin2 WHERE admin2pcod = %s", (region,)
    ).fetchone()
    if not exists or not exists[0]:
        examples = [
            str(code)
            for (code,) in conn.execute(
                "SELECT admin2pcod FROM geography.admin2 ORDER BY admin2pcod LIMIT 5"
            )
        ]
        raise SynthError(
            f"disaster_region {region!r} is not an admin2 p-code in geography.admin2; "
            f"valid ones include: {', '.join(examples) or 'none (admin2 is empty)'}"
        )
    conn.execute(_OFF_LIMITS, values)
    remaining = conn.execute("SELECT count(*) FROM synth.cells WHERE NOT off_limits").fetchone()
    if not remaining or not remaining[0]:
        raise SynthError(
            f"every cell lies in disaster_region {region!r}, so nobody could relocate; "
            f"choose a smaller region"
        )


def _reachable_cells(conn: psycopg.Connection, disaster: bool) -> list[int]:
    """Return the cell numbers subscribers may use or move to: all, or those outside."""
    row = conn.execute(_REACHABLE, {"disaster": disaster}).fetchone()
    return list(row[0]) if row and row[0] else []


def _stage_homes(conn: psycopg.Connection, params: SynthParams) -> None:
    """Draw every subscriber's home cell on each day, relocating some each day."""
    conn.execute(_HOMES_TABLE)
    previous = None
    for index, day in enumerate(params.days):
        reachable = _reachable_cells(conn, params.disaster_on(day))
        values = {
            "day": day,
            "previous": previous,
            "disaster": params.disaster_on(day),
            "p_relocate": params.p_relocate,
            "reachable": reachable,
            "n_reachable": len(reachable),
            "home_stream": stream(params.subscribers_seed, "home", index),
            "relocate_stream": stream(params.subscribers_seed, "relocate", index),
        }
        conn.execute(_FIRST_HOMES if previous is None else _NEXT_HOMES, values)
        previous = day


# -- events ------------------------------------------------------------------------------------


def _pick_cell(draw: str, nearby: str) -> str:
    """Return SQL choosing a cell number from a draw in [0, 1).

    Below ``p_out`` the draw picks a reachable cell, else one of the ``nearby`` home-region
    cells; the two ranges are rescaled to [0, 1) so each choice is uniform.
    """
    reachable = _uniform_int(f"({draw} / %(p_out)s)", "%(n_reachable)s")
    home = _uniform_int(f"(({draw} - %(p_out)s) / (1 - %(p_out)s))", f"cardinality({nearby})")
    return (
        f"CASE WHEN {draw} < %(p_out)s THEN (%(reachable)s::int[])[{reachable}] "
        f"ELSE {nearby}[{home}] END"
    )


_CELL_ID = "'C' || lpad(({cell})::text, %(cell_width)s, '0')"


def _moment(event_no: str) -> str:
    """Return SQL for the time of event ``event_no`` (1 … ``count``), in event-number order.

    The day is cut into ``count`` equal slices and event n falls at a random point of slice n.
    Each time is uniform over the day, as an independent draw would be, but the rows come out
    in time order, as operators' files do, and the day's datetime index builds from sorted rows.
    """
    draw = f"synth.draw({event_no}, %(time_stream)s)"
    # The cap keeps the last event inside the day: with the largest draw, count - 1 + draw
    # rounds up to count in floating point, which would give 24:00.
    return (
        f"%(day_start)s + least(floor((({event_no} - 1) + {draw}) * 86400 / %(count)s), 86399) "
        "* interval '1 second'"
    )


_PRESENT = """
present AS MATERIALIZED (
    SELECT s.sub_no, s.msisdn, s.imsi, s.imei, s.tac,
        CASE WHEN %(disaster)s THEN n.cells_outside ELSE n.cells END AS nearby
    FROM synth.homes AS h
    JOIN synth.subscribers AS s USING (sub_no)
    JOIN synth.neighbourhoods AS n USING (cell_no)
    WHERE h.day = %(day)s
)
"""

# Row k of the day is party (k mod 2 = 1: caller) of event (k + 1) / 2. Per-event draws are
# keyed by the event number, so both rows of an event agree on its pair, time and duration.
# OFFSET 0 keeps the subquery a separate step, so each draw is computed once per row, and
# generate_series in the select list streams its rows instead of storing them first.
_TWO_LINE = (
    """
INSERT INTO {table} (
    id, outgoing, datetime, {duration_column} msisdn, msisdn_counterpart, location_id,
    imsi, imei, tac
)
WITH """
    + _PRESENT
    + """
SELECT %(id_prefix)s || e.event_no, e.outgoing, e.moment, {duration_value}
    i.msisdn, i.counterpart,
    """
    + _CELL_ID.format(cell=_pick_cell("e.cell_draw", "p.nearby"))
    + """,
    p.imsi, p.imei, p.tac
FROM (
    SELECT k, (k + 1) / 2 AS event_no, k %% 2 = 1 AS outgoing,
        """
    + _uniform_int("synth.draw((k + 1) / 2, %(pair_stream)s)", "%(n_pairs)s")
    + """ AS pair_no,
        """
    + _moment("(k + 1) / 2")
    + """ AS moment,
        floor(synth.draw((k + 1) / 2, %(duration_stream)s) * 2601) AS duration,
        synth.draw(k, %(cell_stream)s) AS cell_draw
    FROM (SELECT generate_series(1::bigint, 2 * %(count)s::bigint) AS k) AS numbers
    OFFSET 0
) AS e
JOIN synth.interactions AS i ON i.pair_no = e.pair_no AND i.outgoing = e.outgoing
JOIN present AS p ON p.sub_no = i.sub_no
"""
)

_MDS = (
    """
INSERT INTO {table} (
    id, datetime, duration, volume_total, volume_upload, volume_download, msisdn,
    location_id, imsi, imei, tac
)
WITH """
    + _PRESENT
    + """
SELECT %(id_prefix)s || e.n, e.moment, e.duration, e.upload + e.download, e.upload,
    e.download, p.msisdn,
    """
    + _CELL_ID.format(cell=_pick_cell("e.cell_draw", "p.nearby"))
    + """,
    p.imsi, p.imei, p.tac
FROM (
    SELECT n,
        """
    + _uniform_int("synth.draw(n, %(subscriber_stream)s)", "%(n_subscribers)s")
    + """ AS sub_no,
        """
    + _moment("n")
    + """ AS moment,
        floor(synth.draw(n, %(duration_stream)s) * 261) AS duration,
        floor(synth.draw(n, %(upload_stream)s) * 100001) AS upload,
        floor(synth.draw(n, %(download_stream)s) * 100001) AS download,
        synth.draw(n, %(cell_stream)s) AS cell_draw
    FROM (SELECT generate_series(1::bigint, %(count)s::bigint) AS n) AS numbers
    OFFSET 0
) AS e
JOIN present AS p USING (sub_no)
"""
)


def fill_sql_day(params: SynthParams, conn: psycopg.Connection, table: DayTable) -> int:
    """Write one day of one event type into its table; return the number of rows."""
    index = params.days.index(table.day)
    counts = {"calls": params.n_calls, "sms": params.n_sms, "mds": params.n_mds}
    disaster = params.disaster_on(table.day)
    reachable = _reachable_cells(conn, disaster)
    seed = params.calls_seed
    values: dict[str, Any] = {
        "day": table.day,
        "day_start": day_bounds(table.day)[0],
        "disaster": disaster,
        "reachable": reachable,
        "n_reachable": len(reachable),
        "p_out": params.p_out_of_area,
        "count": counts[table.event_type],
        "n_pairs": params.n_subscribers * params.interactions_multiplier,
        "n_subscribers": params.n_subscribers,
        "cell_width": _id_width(params.n_cells, 7),
        "id_prefix": f"{table.event_type[0]}{table.day:%Y%m%d}-",
    }
    for purpose in ("pair", "time", "duration", "cell", "subscriber", "upload", "download"):
        values[f"{purpose}_stream"] = stream(seed, table.event_type, index, purpose)
    if table.event_type == "mds":
        statement = sql.SQL(_MDS).format(table=table.identifier)
    elif table.event_type in ("calls", "sms"):
        has_duration = table.event_type == "calls"
        statement = sql.SQL(_TWO_LINE).format(
            table=table.identifier,
            duration_column=sql.SQL("duration," if has_duration else ""),
            duration_value=sql.SQL("e.duration," if has_duration else ""),
        )
    else:
        raise ValueError(f"the sql generator writes calls, sms and mds, not {table.event_type!r}")
    cursor = conn.execute(statement, values)
    return cursor.rowcount
