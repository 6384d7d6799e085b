"""The query cache: result tables in the ``cache`` schema, their metadata and query states."""

from __future__ import annotations

from flowcore.cache.backend import CacheBackend, CacheEntry, Eviction, StoredResult
from flowcore.cache.locks import cache_table_name, check_query_id
from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.cache.states import AWOL, DESCRIPTIONS, QueryState

__all__ = [
    "AWOL",
    "DESCRIPTIONS",
    "CacheBackend",
    "CacheEntry",
    "Eviction",
    "PostgresCacheBackend",
    "QueryState",
    "StoredResult",
    "cache_table_name",
    "check_query_id",
]
