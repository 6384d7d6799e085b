"""Mapping tables and point tables named in specs, on the hand-made world.

An admin unit with ``mapping_table`` takes each cell's p-code from the bridge and looks it up
in the admin table. ``lon-lat`` with ``mapping_table``, ``geom_table`` and
``geom_table_join_column`` takes the coordinates from the point table.
"""

from __future__ import annotations

import psycopg
import pytest
from location_helpers import SpecRunner, add_calls, daily

from flowcore.errors import InvalidSpecError

CALLS = [
    ("alice", "2016-01-02 10:00:00", "C1"),
    ("bob", "2016-01-02 10:00:00", "C3"),
    ("carol", "2016-01-02 10:00:00", "OUT"),
    ("dave", "2016-01-02 10:00:00", "C1B"),
    ("erin", "2016-01-03 10:00:00", "MOVED"),
    ("frank", "2016-01-02 10:00:00", "C2"),
]


def _execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.fixture
def bridged(world_dsn: str) -> str:
    """The world with its calls, a bridge to admin3 p-codes and a bridge to a point table."""
    add_calls(world_dsn, CALLS)
    _execute(
        world_dsn,
        "CREATE SCHEMA geo",
        # C1 moves to R2, C3 to a p-code no region has, OUT (outside every polygon) to R3.
        "CREATE TABLE geo.cell_regions (id text, admin3pcod text)",
        "INSERT INTO geo.cell_regions VALUES ('C1', 'R2'), ('C2', 'R2'), ('C3', 'GONE'), "
        "('OUT', 'R3'), ('MOVED', 'R1')",
        "CREATE TABLE geo.cell_points (id text, point_id text)",
        "INSERT INTO geo.cell_points VALUES ('C1', 'P1'), ('C2', 'P2'), ('C3', 'P1')",
        "CREATE TABLE geo.points (point_id text, geom_point geometry(Point, 4326))",
        "INSERT INTO geo.points VALUES ('P1', ST_SetSRID(ST_MakePoint(85.25, 28.5), 4326))",
    )
    return world_dsn


def test_admin_mapping_table_replaces_polygons(world: SpecRunner, bridged: str) -> None:
    mapped = {"mapping_table": "geo.cell_regions"}

    polygons = world.locations(daily("2016-01-02"))
    bridged_day = world.locations(daily("2016-01-02", **mapped))
    next_day = world.locations(daily("2016-01-03", **mapped))

    assert polygons == {"alice": "R1", "bob": "R3", "dave": "R1", "frank": "R2"}
    # C3's p-code is in no region, so bob's location is null. C1B is not in the bridge.
    assert bridged_day == {"alice": "R2", "bob": None, "carol": "R3", "frank": "R2"}
    assert next_day == {"erin": "R1"}


def test_admin_mapping_table_in_aggregates(world: SpecRunner, bridged: str) -> None:
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": daily("2016-01-02", mapping_table="geo.cell_regions"),
    }

    counts = {row["pcod"]: row["value"] for row in world.rows(spec)}

    assert counts == {"R2": 2, "R3": 1, None: 1}


def test_admin_mapping_table_shared_pcode(world: SpecRunner, bridged: str) -> None:
    # A second polygon of R2, far from every cell, so R2 has two rows in geography.admin3.
    _execute(
        bridged,
        "INSERT INTO geography.admin3 (admin3pcod, admin3name, geom) "
        "SELECT 'R2', 'R2 east', ST_Multi(ST_MakeEnvelope(95, 27, 96, 28, 4326))",
    )
    spec = {
        "query_kind": "location_event_counts",
        "start_date": "2016-01-02",
        "end_date": "2016-01-03",
        "interval": "day",
        "aggregation_unit": "admin3",
        "mapping_table": "geo.cell_regions",
    }

    counts = {row["pcod"]: row["value"] for row in world.rows(spec)}

    # alice's call at C1 and frank's at C2 count once each, not once per polygon of R2.
    assert counts == {"R2": 2, "R3": 1, None: 1}


def test_lon_lat_from_point_table(world: SpecRunner, bridged: str) -> None:
    spec = daily(
        "2016-01-02",
        unit="lon-lat",
        mapping_table="geo.cell_points",
        geom_table="geo.points",
        geom_table_join_column="point_id",
    )

    located = world.locations(spec)

    # P2 has no point, so frank's coordinates are null. OUT and C1B are not in the bridge.
    assert located == {"alice": (85.25, 28.5), "bob": (85.25, 28.5), "frank": (None, None)}


def test_lon_lat_one_table_both_roles(world: SpecRunner, bridged: str) -> None:
    _execute(
        bridged,
        "CREATE TABLE geo.cell_geoms (id text, geom_point geometry(Point, 4326))",
        "INSERT INTO geo.cell_geoms VALUES ('C1', ST_SetSRID(ST_MakePoint(85.25, 28.5), 4326))",
    )
    spec = daily(
        "2016-01-02",
        unit="lon-lat",
        mapping_table="geo.cell_geoms",
        geom_table="geo.cell_geoms",
        geom_table_join_column="id",
    )

    located = world.locations(spec)

    assert located == {"alice": (85.25, 28.5)}


def test_lon_lat_bridge_is_cells_table(world: SpecRunner, bridged: str) -> None:
    _execute(
        bridged,
        "UPDATE infrastructure.cells SET site_id = 'S1' WHERE id = 'C1'",
        "CREATE TABLE geo.site_points (site_id text, geom_point geometry(Point, 4326))",
        "INSERT INTO geo.site_points VALUES ('S1', ST_SetSRID(ST_MakePoint(85.25, 28.5), 4326))",
    )
    spec = daily(
        "2016-01-02",
        unit="lon-lat",
        mapping_table="infrastructure.cells",
        geom_table="geo.site_points",
        geom_table_join_column="site_id",
    )

    located = world.locations(spec)

    # Every cell is its own bridge row, and only C1's site has a point.
    assert located == {
        "alice": (85.25, 28.5),
        "bob": (None, None),
        "carol": (None, None),
        "dave": (None, None),
        "frank": (None, None),
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"mapping_table": "geo.nothing"},
            "$.mapping_table: table 'geo.nothing' does not exist",
        ),
        (
            {"mapping_table": "geo.cell_points"},
            "$.mapping_table: 'geo.cell_points' needs the columns admin3pcod, id",
        ),
        (
            {"geom_table": "geo.points", "geom_table_join_column": "point_id"},
            "$.geom_table: geom_table and geom_table_join_column apply only to "
            "aggregation_unit 'lon-lat', not 'admin3'",
        ),
        (
            {"unit": "lon-lat", "mapping_table": "geo.cell_points"},
            "$.geom_table: lon-lat takes coordinates from another table only with "
            "mapping_table, geom_table and geom_table_join_column together; "
            "missing geom_table, geom_table_join_column",
        ),
        (
            {
                "unit": "lon-lat",
                "mapping_table": "geo.cell_points",
                "geom_table": "geo.cell_regions",
                "geom_table_join_column": "point_id",
            },
            "$.geom_table: 'geo.cell_regions' needs the columns geom_point, point_id",
        ),
    ],
    ids=["missing", "columns", "admin-geom", "lon-lat-partial", "geom-columns"],
)
def test_bad_tables_rejected(
    world: SpecRunner, bridged: str, extra: dict[str, str], message: str
) -> None:
    spec = daily("2016-01-02", **extra)

    with pytest.raises(InvalidSpecError) as raised:
        world.rows(spec)

    assert raised.value.messages == [message]
