"""Loading administrative boundaries from GeoJSON into ``geography.admin0`` to ``admin3``.

Each layer file is read and checked in Python first. Its features then replace the table's rows
in one transaction, so a bad file leaves the previous boundaries in place.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import psycopg
import shapely.geometry
from psycopg import sql

from flowdb.load_report import LineError

__all__ = ["LayerLoadResult", "admin_level", "load_layer_file"]

_LAYER_FILE = re.compile(r"^admin(?P<level>[0-3])\.geojson$")
_WGS84_NAMES = {
    "urn:ogc:def:crs:EPSG::4326",
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "EPSG:4326",
}


@attrs.frozen
class LayerLoadResult:
    """Outcome of loading one boundary layer: its row count, or the errors that rejected it."""

    path: Path
    level: int
    rows: int = 0
    errors: list[LineError] = attrs.field(factory=list)


def admin_level(path: Path) -> int | None:
    """Return the admin level of a file named ``adminN.geojson``, else None."""
    match = _LAYER_FILE.match(path.name)
    return int(match["level"]) if match else None


def _layer_columns(conn: psycopg.Connection, level: int) -> set[str]:
    """Return the property-fed columns of ``geography.admin<level>`` (all but gid and geom)."""
    rows = conn.execute(
        """
        SELECT a.attname FROM pg_attribute AS a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
        """,
        (f"geography.admin{level}",),
    ).fetchall()
    return {str(name) for (name,) in rows} - {"gid", "geom"}


def _feature_error(index: int, message: str) -> LineError:
    """Return an error about a feature; features are numbered from 1 in the message."""
    return LineError(None, f"feature {index + 1}: {message}")


def _read_features(path: Path, level: int) -> tuple[list[dict[str, Any]], list[LineError]]:
    """Read a layer's features, and list what makes the file unloadable."""
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return [], [LineError(None, f"is not valid JSON: {error}")]
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        return [], [LineError(None, "is not a GeoJSON FeatureCollection")]
    crs_name = (document.get("crs") or {}).get("properties", {}).get("name")
    if crs_name and crs_name not in _WGS84_NAMES:
        return [], [
            LineError(None, f"coordinate system {crs_name!r} is not supported: expected WGS 84")
        ]
    features = document.get("features")
    if not isinstance(features, list) or not features:
        return [], [LineError(None, "contains no features")]

    code = f"admin{level}pcod"
    errors: list[LineError] = []
    for index, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(properties, dict) or not properties.get(code):
            errors.append(_feature_error(index, f"property {code} is missing"))
        if not isinstance(geometry, dict) or geometry.get("type") not in {
            "Polygon",
            "MultiPolygon",
        }:
            kind = geometry.get("type") if isinstance(geometry, dict) else None
            errors.append(_feature_error(index, f"geometry {kind!r} is not a (multi)polygon"))
            continue
        try:
            shapely.geometry.shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError) as error:
            errors.append(_feature_error(index, f"geometry is invalid GeoJSON: {error}"))
    return features, errors


def load_layer_file(dsn: str, path: Path, level: int) -> LayerLoadResult:
    """Replace ``geography.admin<level>`` with a GeoJSON file's features; return rows or errors."""
    features, errors = _read_features(path, level)
    if errors:
        return LayerLoadResult(path, level, errors=errors)
    table = sql.Identifier("geography", f"admin{level}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        known = _layer_columns(conn, level)
        # Properties that are not columns of the table (other datasets carry many) are skipped.
        columns = sorted(
            {key.lower() for feature in features for key in feature["properties"]} & known
        )
        statement = sql.SQL(
            "INSERT INTO {} ({}, geom) "
            "VALUES ({}, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON({}), 4326)))"
        ).format(
            table,
            sql.SQL(", ").join(sql.Identifier(column) for column in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
            sql.Placeholder(),
        )
        rows = []
        for feature in features:
            properties = {key.lower(): value for key, value in feature["properties"].items()}
            values = [_property_text(properties.get(column)) for column in columns]
            rows.append([*values, json.dumps(feature["geometry"])])
        try:
            with conn.transaction():
                conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(table))
                with conn.cursor() as cursor:
                    cursor.executemany(statement, rows)
                conn.execute(sql.SQL("ANALYZE {}").format(table))
        except psycopg.errors.DataError as error:
            message = str(error).strip().splitlines()[0]
            return LayerLoadResult(
                path, level, errors=[LineError(None, f"loading failed: {message}")]
            )
    return LayerLoadResult(path, level, rows=len(rows))


def _property_text(value: Any) -> str | None:
    """Return a property value as text for PostgreSQL to convert to the column's type."""
    if value is None or value == "":
        return None
    return str(value)
