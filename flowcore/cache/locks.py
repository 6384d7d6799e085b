"""PostgreSQL advisory lock keys for queries and executor processes.

An executing query holds an exclusive session lock on its query key, so a second process cannot
run the same query at the same time, and its lock disappears with its connection when the
process dies. A query that reads stored results holds shared locks on their keys while it runs,
so eviction and invalidation wait for it instead of dropping a table it is reading.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "QUERY_ID_PATTERN",
    "check_query_id",
    "cache_table_name",
    "query_lock_key",
    "worker_lock_key",
    "pg_locks_fields",
]

#: Query ids are 32 lowercase hex digits (an md5-sized digest).
QUERY_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


def check_query_id(query_id: str) -> str:
    """Return ``query_id`` unchanged, or raise ValueError when it is not 32 lowercase hex digits.

    Query ids become table names, so this check is what keeps them safe as identifiers.
    """
    if not isinstance(query_id, str) or QUERY_ID_PATTERN.fullmatch(query_id) is None:
        raise ValueError(f"query id {query_id!r} is invalid: expected 32 lowercase hex digits")
    return query_id


def cache_table_name(query_id: str) -> str:
    """Return the name of the table in schema ``cache`` that stores a query's result."""
    return f"x{check_query_id(query_id)}"


def _advisory_key(namespace: str, name: str) -> int:
    """Derive a signed 64-bit advisory lock key from a namespace and a name."""
    digest = hashlib.blake2b(f"flowcore.{namespace}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def query_lock_key(query_id: str) -> int:
    """Return the advisory lock key of a query id."""
    return _advisory_key("query", query_id)


def worker_lock_key(worker_id: str) -> int:
    """Return the advisory lock key that an executor process holds while it is alive."""
    return _advisory_key("worker", worker_id)


def pg_locks_fields(key: int) -> tuple[int, int]:
    """Return the ``(classid, objid)`` pair under which ``pg_locks`` lists a bigint key."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF
