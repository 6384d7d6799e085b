"""The aggregation units of the core: admin levels, lon-lat, cells and sites.

Every unit maps a *cell version* (a row of ``infrastructure.cells``) to the unit's output
columns once, in a small mapping select with the join keys ``_cell_id``, ``_valid_from`` and
``_valid_to``; events then join that mapping on their cell id and date. Point-in-polygon is
therefore computed once per cell version, never once per event.

FlowKit's companions of ``aggregation_unit`` change the mapping:

* an admin unit with ``mapping_table`` (a bridge of ``id``, the cell id, and ``admin{n}pcod``)
  takes each cell's p-code from the bridge instead of point-in-polygon. The p-code is then
  looked up among the distinct p-codes of ``geography.admin{n}``: a p-code the admin table
  lacks gives a null region, and one with several polygons still gives one row.
* ``lon-lat`` with ``mapping_table``, ``geom_table`` and ``geom_table_join_column`` takes each
  cell's coordinates from the ``geom_point`` of the ``geom_table`` row whose join column equals
  the bridge row's. A cell without such a row has null coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from geoalchemy2 import Geometry as GeometryType
from sqlalchemy import Integer, String, and_, cast, column, func, select, table
from sqlalchemy.sql import Select, quoted_name

from flowcore.model.fields import SpatialFields
from flowcore.sql.tables import admin_tables, cells, sites

__all__ = ["AggregationUnit", "core_units", "user_table", "MAPPING_KEYS", "NAMED_TABLE_RULES"]

#: Join-key columns every mapping select provides besides the unit's own columns.
MAPPING_KEYS = ("_cell_id", "_valid_from", "_valid_to")
#: Version of the rules for tables a spec names (``mapping_table``, ``geom_table``). It is part
#: of the ids of specs that name such tables, so results stored under older rules are not reused.
NAMED_TABLE_RULES = "2"

#: Builds the cell-version mapping for a spec's spatial fields (None: the raw cell id).
Mapping = Callable[[SpatialFields | None], Select[Any]]
#: Builds a keyed mapping: cell versions to an integer ``_region_key``, and the regions' keys
#: with the unit's columns. None when the spatial fields give the regions no key. With
#: ``ordered=True`` the keys follow the order of the unit's values, so the smallest key is the
#: smallest value.
KeyedMapping = Callable[..., "tuple[Select[Any], Select[Any]] | None"]
#: Builds a select of the unit's columns and a ``geom`` column for the geography route.
Geometry = Callable[[], Select[Any]]


@attrs.frozen(kw_only=True)
class AggregationUnit:
    """One spatial unit: its output columns, its cell-version mapping and its geometry."""

    name: str
    columns: tuple[str, ...]
    #: Builds the mapping select, or None for a unit that is the event's cell id itself.
    mapping: Mapping | None
    #: Builds the geometry select, or None when the unit has no geography output.
    geometry: Geometry | None = None
    #: Accepted as ``aggregation_unit`` in API specs.
    public: bool = False
    #: Regions with polygons (admin levels): what polygon-only kinds require.
    polygons: bool = False
    distribution: str = ""
    #: Builds the keyed mapping, for kinds that group many rows by region: an integer key
    #: groups faster than text p-codes. None for units without such a key. It is called with
    #: the spatial fields alone, or also with ``ordered=True`` when the keys must follow the
    #: order of the unit's values. It returns None when it has no such keys.
    keyed_mapping: KeyedMapping | None = None


def _cell_keys() -> list[Any]:
    return [
        cells.c.id.label("_cell_id"),
        cells.c.date_of_first_service.label("_valid_from"),
        cells.c.date_of_last_service.label("_valid_to"),
    ]


def user_table(qualified_name: str, alias: str, *columns: str) -> Any:
    """Return a user's table named ``schema.name`` (or ``name``) with ``columns``, quoted.

    The select refers to the table by ``alias``, because PostgreSQL rejects a table that
    appears twice in one FROM clause under its own name. A spec may name one table as both
    the mapping and the point table, or name ``infrastructure.cells`` as the mapping table.
    """
    schema, _, name = qualified_name.rpartition(".")
    return table(
        quoted_name(name, quote=True),
        *(column(name_, String) for name_ in columns),
        schema=quoted_name(schema, quote=True) if schema else None,
    ).alias(alias)


def _admin_unit(level: int) -> AggregationUnit:
    admin = admin_tables[level]
    pcod = admin.c[f"admin{level}pcod"]

    def mapping(spatial: SpatialFields | None) -> Select[Any]:
        if spatial is not None and spatial.mapping_table:
            bridge = user_table(spatial.mapping_table, "mapping_table", "id", f"admin{level}pcod")
            # Distinct p-codes, so a p-code with several polygons still maps a cell once.
            regions = select(pcod.label("pcod")).distinct().subquery("region_pcodes")
            return (
                select(*_cell_keys(), regions.c.pcod)
                .join_from(cells, bridge, bridge.c.id == cells.c.id)
                .outerjoin(regions, regions.c.pcod == bridge.c[f"admin{level}pcod"])
            )
        return select(*_cell_keys(), pcod.label("pcod")).join_from(
            cells, admin, func.ST_Within(cells.c.geom_point, admin.c.geom)
        )

    def geometry() -> Select[Any]:
        return select(pcod.label("pcod"), admin.c.geom.label("geom"))

    def keyed_mapping(
        spatial: SpatialFields | None, *, ordered: bool = False
    ) -> tuple[Select[Any], Select[Any]] | None:
        if spatial is not None and spatial.mapping_table:
            return None
        # One key per p-code, so grouping by key groups exactly as grouping by p-code would,
        # even where a p-code has several polygons.
        if ordered:
            # Each polygon row is numbered in p-code order. A window function in the mapping
            # keeps the join out of parallel workers, so only ordered keys use one.
            key = cast(func.dense_rank().over(order_by=pcod), Integer).label("_region_key")
            numbered = select(admin.c.geom, key).subquery("numbered_regions")
            keyed = select(*_cell_keys(), numbered.c._region_key).join_from(
                cells, numbered, func.ST_Within(cells.c.geom_point, numbered.c.geom)
            )
            return keyed, select(key, pcod.label("pcod")).group_by(pcod)
        keys = select(func.min(admin.c.gid).label("_region_key"), pcod.label("pcod")).group_by(pcod)
        key_table = keys.subquery("region_keys")
        keyed = (
            select(*_cell_keys(), key_table.c._region_key)
            .join_from(cells, admin, func.ST_Within(cells.c.geom_point, admin.c.geom))
            .join(key_table, key_table.c.pcod.is_not_distinct_from(pcod))
        )
        return keyed, keys

    return AggregationUnit(
        name=f"admin{level}",
        columns=("pcod",),
        mapping=mapping,
        geometry=geometry,
        public=True,
        polygons=True,
        keyed_mapping=keyed_mapping,
    )


def _lon_lat_mapping(spatial: SpatialFields | None) -> Select[Any]:
    if spatial is not None and spatial.mapping_table and spatial.geom_table:
        join_column = spatial.geom_table_join_column or ""
        bridge = user_table(spatial.mapping_table, "mapping_table", "id", join_column)
        points = user_table(spatial.geom_table, "geom_table", join_column, "geom_point")
        # A geography column casts to geometry too, so either type of point works.
        point = cast(points.c.geom_point, GeometryType)
        return (
            select(
                *_cell_keys(),
                func.ST_X(point).label("lon"),
                func.ST_Y(point).label("lat"),
            )
            .join_from(cells, bridge, bridge.c.id == cells.c.id)
            .outerjoin(points, points.c[join_column] == bridge.c[join_column])
        )
    return select(
        *_cell_keys(),
        func.ST_X(cells.c.geom_point).label("lon"),
        func.ST_Y(cells.c.geom_point).label("lat"),
    )


def _lon_lat_keyed_mapping(
    spatial: SpatialFields | None, *, ordered: bool = False
) -> tuple[Select[Any], Select[Any]] | None:
    """Return cell versions with a key per distinct point, numbered by ``lon`` then ``lat``.

    Only ordered keys are offered, for the choice of each subscriber's location. Kinds that
    group rows by region group by the coordinates, and points from a point table have no key.
    """
    if not ordered or (spatial is not None and spatial.mapping_table):
        return None
    lon = func.ST_X(cells.c.geom_point)
    lat = func.ST_Y(cells.c.geom_point)
    # Both selects number the same rows (every cell version), so equal points get equal keys.
    key = cast(func.dense_rank().over(order_by=(lon, lat)), Integer).label("_region_key")
    keyed = select(*_cell_keys(), key)
    keys = select(key, lon.label("lon"), lat.label("lat")).distinct()
    return keyed, keys


def _lon_lat_geometry() -> Select[Any]:
    lon = func.ST_X(cells.c.geom_point)
    lat = func.ST_Y(cells.c.geom_point)
    return (
        select(
            lon.label("lon"),
            lat.label("lat"),
            func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326).label("geom"),
        )
        .where(cells.c.geom_point.is_not(None))
        .distinct()
    )


def _versioned_cell_mapping(spatial: SpatialFields | None) -> Select[Any]:
    return select(
        *_cell_keys(),
        cells.c.id.label("location_id"),
        cells.c.version.label("version"),
        func.ST_X(cells.c.geom_point).label("lon"),
        func.ST_Y(cells.c.geom_point).label("lat"),
    )


def _versioned_site_mapping(spatial: SpatialFields | None) -> Select[Any]:
    # A cell version and a site version overlap on the dates both are in service, so the
    # mapping's validity is the intersection of the two intervals (null = open-ended).
    valid_from = func.greatest(cells.c.date_of_first_service, sites.c.date_of_first_service)
    valid_to = func.least(cells.c.date_of_last_service, sites.c.date_of_last_service)
    overlap = and_(
        (cells.c.date_of_last_service.is_(None))
        | (sites.c.date_of_first_service.is_(None))
        | (sites.c.date_of_first_service <= cells.c.date_of_last_service),
        (sites.c.date_of_last_service.is_(None))
        | (cells.c.date_of_first_service.is_(None))
        | (cells.c.date_of_first_service <= sites.c.date_of_last_service),
    )
    return select(
        cells.c.id.label("_cell_id"),
        valid_from.label("_valid_from"),
        valid_to.label("_valid_to"),
        sites.c.id.label("site_id"),
        sites.c.version.label("version"),
        func.ST_X(sites.c.geom_point).label("lon"),
        func.ST_Y(sites.c.geom_point).label("lat"),
    ).join_from(cells, sites, and_(sites.c.id == cells.c.site_id, overlap))


def core_units() -> list[AggregationUnit]:
    """Return the units the core registers: admin0–admin3, lon-lat and the network units."""
    return [
        *(_admin_unit(level) for level in range(4)),
        AggregationUnit(
            name="lon-lat",
            columns=("lon", "lat"),
            mapping=_lon_lat_mapping,
            keyed_mapping=_lon_lat_keyed_mapping,
            geometry=_lon_lat_geometry,
            public=True,
        ),
        AggregationUnit(
            name="versioned-cell",
            columns=("location_id", "version", "lon", "lat"),
            mapping=_versioned_cell_mapping,
        ),
        AggregationUnit(
            name="versioned-site",
            columns=("site_id", "version", "lon", "lat"),
            mapping=_versioned_site_mapping,
        ),
        AggregationUnit(name="cell", columns=("location_id",), mapping=None),
    ]
