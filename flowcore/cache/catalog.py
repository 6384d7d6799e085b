"""Names and SQL fragments of the cache schema shared by the backend's modules."""

from __future__ import annotations

from sqlalchemy import Connection

__all__ = [
    "CACHE_SCHEMA",
    "BASE_TABLE_CLASSES",
    "SIZE_SQL",
    "SCORE_SQL",
    "qualified_name",
]

CACHE_SCHEMA = "cache"

#: FlowKit lists its base tables in cache.cached under these classes; they are never scored,
#: evicted or dropped (they live outside the cache schema).
BASE_TABLE_CLASSES = (
    "Table",
    "GeoTable",
    "CallsTable",
    "SmsTable",
    "MdsTable",
    "TopupsTable",
    "ForwardsTable",
    "TacsTable",
    "CellsTable",
    "SitesTable",
)

#: Bytes of a ``cache.cached`` row ``c``: measured when stored, else measured now.
SIZE_SQL = "coalesce(c.size_bytes, cache.table_size(c.tablename, c.schema))"
#: Score of a ``cache.cached`` row ``c``: multiplier x compute seconds / bytes.
SCORE_SQL = f"cache.cache_score(c.cache_score_multiplier, c.compute_time, {SIZE_SQL})"


def qualified_name(connection: Connection, table_name: str, schema: str = CACHE_SCHEMA) -> str:
    """Return ``schema.table`` with both parts quoted as identifiers where needed."""
    preparer = connection.dialect.identifier_preparer
    return f"{preparer.quote_schema(schema)}.{preparer.quote(table_name)}"
