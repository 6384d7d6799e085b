"""GeoJSON features of aggregation units and of query results, built in SQL.

The database writes each geometry and centroid with ``ST_AsGeoJSON`` (geometries are stored in
EPSG:4326, which GeoJSON requires); Python only wraps the rows into features, embedding that
JSON text unparsed.

A result becomes features in one of two ways:

* rows with the unit's columns (``pcod``, or ``lon`` and ``lat``): one feature per row, the
  unit's geometry LEFT-joined on those columns, every column a property;
* flows (``<column>_from``, ``<column>_to`` for each unit column, and ``value``): one feature per
  location that appears at either end, with properties ``outflows`` and ``inflows`` mapping
  the other end's location to ``value``. For units with several columns the location key is
  the column values joined with commas (``"85.3,27.7"`` for lon-lat). The meaningful
  locations OD matrices add ``label_from`` and ``label_to``, one label pair per query, so their
  features are built the same way and leave the labels out.

Features are sorted (rows by all their columns, flows by location, with the keys of
``outflows`` and ``inflows`` sorted too), so their ids and bytes do not depend on the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Select, String, and_, cast, func, select
from sqlalchemy.sql import ColumnElement, FromClause

from flowcore.geography.units import AggregationUnit
from flowcore.registry import Registry

__all__ = [
    "GeoJsonUnavailable",
    "FeatureSelect",
    "geography_features",
    "geography_units",
    "result_features",
]

#: Label columns of the meaningful locations OD matrices, left out of their flow features.
_OD_LABEL_COLUMNS = frozenset({"label_from", "label_to"})

_GEOMETRY = "_geometry"
_CENTROID = "_centroid"

#: Builds one GeoJSON feature from a row number and a row.
FeatureBuilder = Callable[[int, Sequence[Any]], dict[str, Any]]


class GeoJsonUnavailable(ValueError):
    """A result has no GeoJSON form; the message gives the reason."""


class FeatureSelect:
    """A SELECT whose rows are properties then geometry and centroid, and their feature form."""

    def __init__(self, statement: Select[Any], properties: Sequence[str]) -> None:
        self.statement = statement
        # JSON object keys must be plain str; SQLAlchemy names may be str subclasses.
        self.properties = tuple(str(name) for name in properties)

    def feature(self, number: int, row: Sequence[Any]) -> dict[str, Any]:
        """Return the GeoJSON feature of one row, numbered ``number``."""
        *values, geometry, centroid = row
        properties = dict(zip(self.properties, values, strict=True))
        properties["centroid"] = _embedded(centroid)
        return {
            "type": "Feature",
            "id": number,
            "geometry": _embedded(geometry),
            "properties": properties,
        }


def _embedded(geojson_text: str | None) -> Any:
    return None if geojson_text is None else orjson.Fragment(geojson_text)


def _geometry_columns(geometry: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    return [
        func.ST_AsGeoJSON(geometry).label(_GEOMETRY),
        func.ST_AsGeoJSON(func.ST_Centroid(geometry)).label(_CENTROID),
    ]


def _unit_geometry(unit: AggregationUnit) -> FromClause:
    if unit.geometry is None:
        raise GeoJsonUnavailable(f"the aggregation unit {unit.name!r} has no geometry")
    return unit.geometry().subquery("unit_geometry")


def geography_units(registry: Registry) -> list[str]:
    """Return the API's aggregation units that have a geometry, sorted."""
    return [name for name in registry.public_units() if registry.unit(name).geometry is not None]


def geography_features(unit: AggregationUnit) -> FeatureSelect:
    """Return the features of every region or point of a unit, ordered by the unit columns."""
    geometry = _unit_geometry(unit)
    columns = [geometry.c[name] for name in unit.columns]
    statement = select(*columns, *_geometry_columns(geometry.c.geom)).order_by(*columns)
    return FeatureSelect(statement, unit.columns)


def result_features(release: Select[Any], unit: AggregationUnit) -> FeatureSelect:
    """Return the features of a released result (see the module docstring for the shapes)."""
    names = [str(column.name) for column in release.selected_columns]
    if all(name in names for name in unit.columns):
        return _row_features(release, unit, names)
    flow_columns = {f"{name}_{end}" for name in unit.columns for end in ("from", "to")}
    if set(names) - _OD_LABEL_COLUMNS == flow_columns | {"value"}:
        return _flow_features(release, unit)
    raise GeoJsonUnavailable(
        f"the result's columns ({', '.join(names)}) have neither the columns of the unit "
        f"{unit.name!r} ({', '.join(unit.columns)}) nor their _from and _to pairs"
    )


def _join_on_unit(left: FromClause, right: FromClause, unit: AggregationUnit) -> Any:
    return and_(*(left.c[name] == right.c[name] for name in unit.columns))


def _row_features(release: Select[Any], unit: AggregationUnit, names: list[str]) -> FeatureSelect:
    result = release.subquery("result")
    geometry = _unit_geometry(unit)
    # Ordered, because feature ids are row numbers and the join's row order would depend on
    # the plan, which differs between a streamed read and a LIMITed one.
    statement = (
        select(*result.c, *_geometry_columns(geometry.c.geom))
        .select_from(result.outerjoin(geometry, _join_on_unit(result, geometry, unit)))
        .order_by(*result.c)
    )
    return FeatureSelect(statement, names)


def _location_key(columns: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    if len(columns) == 1:
        return cast(columns[0], String)
    return func.concat_ws(",", *columns)


def _flow_side(flows: FromClause, unit: AggregationUnit, end: str, other_end: str) -> FromClause:
    """Per location at one end (``from`` or ``to``): a JSON object of the other end to value."""
    end_columns = [flows.c[f"{name}_{end}"] for name in unit.columns]
    other_key = _location_key([flows.c[f"{name}_{other_end}"] for name in unit.columns])
    label = "outflows" if end == "from" else "inflows"
    return (
        select(
            *(column.label(name) for column, name in zip(end_columns, unit.columns, strict=True)),
            # json_object_agg rejects a null key, which outer-joined flows can have.
            func.json_object_agg(other_key, flows.c.value)
            .aggregate_order_by(other_key)
            .filter(other_key.is_not(None))
            .label(label),
        )
        .where(and_(*(column.is_not(None) for column in end_columns)))
        .group_by(*end_columns)
        .subquery(label)
    )


def _flow_features(release: Select[Any], unit: AggregationUnit) -> FeatureSelect:
    flows = release.subquery("flows")
    outflows = _flow_side(flows, unit, "from", "to")
    inflows = _flow_side(flows, unit, "to", "from")
    locations = (
        select(
            *(
                func.coalesce(outflows.c[name], inflows.c[name]).label(name)
                for name in unit.columns
            ),
            func.json_strip_nulls(outflows.c.outflows).label("outflows"),
            func.json_strip_nulls(inflows.c.inflows).label("inflows"),
        )
        .select_from(outflows.join(inflows, _join_on_unit(outflows, inflows, unit), full=True))
        .subquery("locations")
    )
    geometry = _unit_geometry(unit)
    statement = (
        select(*locations.c, *_geometry_columns(geometry.c.geom))
        .select_from(locations.outerjoin(geometry, _join_on_unit(locations, geometry, unit)))
        .order_by(*(locations.c[name] for name in unit.columns))
    )
    return FeatureSelect(statement, [*unit.columns, "outflows", "inflows"])
