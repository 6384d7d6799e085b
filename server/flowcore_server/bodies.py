"""Encoded result bodies kept in memory, so a repeated download skips reading and encoding.

A stored result never changes: a query computed again is stored anew, with a new storage time.
So a JSON or CSV body, once encoded whole or streamed to the end, serves every later download
of the same stored result in the same format. Bodies are keyed by query id, storage time and format,
and the least recently used ones are dropped first once their total size passes the limit. Each
server process keeps its own bodies.

GeoJSON bodies are not kept: they join the unit's boundaries as they are when read, and loading
a geography layer again changes those without storing the results anew.
"""

from __future__ import annotations

import datetime as dt
import threading

import attrs
import cachetools

__all__ = ["BodyKey", "ResultBodies", "DEFAULT_BODY_CACHE_BYTES", "ENTRY_OVERHEAD_BYTES"]

#: Default total size of the kept bodies: 64 MiB.
DEFAULT_BODY_CACHE_BYTES = 64 * 1024 * 1024

#: Bytes counted for each kept body besides its own: an estimate of the key and the cache's
#: bookkeeping, so that many empty bodies (a CSV of no rows) still count against the limit.
ENTRY_OVERHEAD_BYTES = 512


def _entry_size(body: bytes) -> int:
    return len(body) + ENTRY_OVERHEAD_BYTES


@attrs.frozen
class BodyKey:
    """One stored result in one format."""

    query_id: str
    stored_at: dt.datetime
    form: str


class ResultBodies:
    """A thread-safe store of encoded bodies, bounded by their total size in bytes.

    A body that counts for more than a quarter of the limit is not kept, so one large result
    cannot push out all the others. A limit of zero keeps nothing.
    """

    def __init__(self, max_bytes: int = DEFAULT_BODY_CACHE_BYTES) -> None:
        """Keep at most ``max_bytes`` bytes of bodies."""
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be zero or more, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._bodies: cachetools.LRUCache[BodyKey, bytes] = cachetools.LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=_entry_size
        )
        self._lock = threading.Lock()

    @property
    def max_body_bytes(self) -> int:
        """Return the size of the largest body that is kept."""
        return max(self.max_bytes // 4 - ENTRY_OVERHEAD_BYTES, -1)

    @property
    def size_bytes(self) -> int:
        """Return the total size counted for the kept bodies, overhead included."""
        with self._lock:
            return int(self._bodies.currsize)

    def get(self, key: BodyKey) -> bytes | None:
        """Return the body kept for ``key``, or None."""
        with self._lock:
            return self._bodies.get(key)

    def keep(self, key: BodyKey, body: bytes) -> bool:
        """Store a body unless it is too large, and return whether it was stored."""
        if len(body) > self.max_body_bytes:
            return False
        with self._lock:
            self._bodies[key] = body
        return True
