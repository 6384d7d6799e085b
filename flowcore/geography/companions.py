"""Checks of FlowKit's companions of ``aggregation_unit``: the tables a spec names.

``mapping_table`` bridges cells to admin p-codes, or (with ``geom_table`` and
``geom_table_join_column``) to rows of a table of points for ``lon-lat``. These checks run while
a spec is planned, against the database, so a missing table or column is a 400 that names the
field, never an SQL error later.
"""

from __future__ import annotations

from typing import Any

from flowcore.geography.units import AggregationUnit
from flowcore.model.fields import SpatialFields

__all__ = ["companion_problems"]


def companion_problems(
    path: str, spatial: SpatialFields, unit: AggregationUnit, inspector: Any
) -> list[str]:
    """Return the problems of a spec's mapping and geometry tables, as ``$.path: ...`` lines."""
    if unit.name == "lon-lat":
        return _lon_lat_problems(path, spatial, inspector)
    problems = []
    if spatial.geom_table is not None or spatial.geom_table_join_column is not None:
        problems.append(
            f"{path}.geom_table: geom_table and geom_table_join_column apply only to "
            f"aggregation_unit 'lon-lat', not {unit.name!r}"
        )
    if spatial.mapping_table is None:
        return problems
    if not unit.polygons:
        problems.append(
            f"{path}.mapping_table: only admin units and lon-lat accept a mapping table, "
            f"not {unit.name!r}"
        )
        return problems
    level = unit.name.removeprefix("admin")
    problems.extend(
        _table_problems(
            f"{path}.mapping_table", spatial.mapping_table, {"id", f"admin{level}pcod"}, inspector
        )
    )
    return problems


def _lon_lat_problems(path: str, spatial: SpatialFields, inspector: Any) -> list[str]:
    fields = ("mapping_table", "geom_table", "geom_table_join_column")
    named = {name: getattr(spatial, name) for name in fields if getattr(spatial, name) is not None}
    if not named:
        return []
    missing = [name for name in fields if name not in named]
    if missing:
        return [
            f"{path}.{missing[0]}: lon-lat takes coordinates from another table only with "
            "mapping_table, geom_table and geom_table_join_column together; "
            f"missing {', '.join(missing)}"
        ]
    join_column = str(named["geom_table_join_column"])
    return [
        *_table_problems(
            f"{path}.mapping_table", named["mapping_table"], {"id", join_column}, inspector
        ),
        *_table_problems(
            f"{path}.geom_table", named["geom_table"], {join_column, "geom_point"}, inspector
        ),
    ]


def _table_problems(field: str, qualified_name: str, needed: set[str], inspector: Any) -> list[str]:
    """Return the problem of a named table that is missing or lacks ``needed`` columns."""
    schema, _, name = qualified_name.rpartition(".")
    if not inspector.has_table(name, schema=schema or None):
        return [f"{field}: table {qualified_name!r} does not exist"]
    columns = {c["name"] for c in inspector.get_columns(name, schema=schema or None)}
    if not needed <= columns:
        return [f"{field}: {qualified_name!r} needs the columns {', '.join(sorted(needed))}"]
    return []
