"""The cache backend interface that the executor, the server and the command line use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
from sqlalchemy import Connection, Row, Select, Table
from sqlalchemy.sql import ColumnElement

from flowcore.execution.plan import BuiltQuery, PlannedQuery

__all__ = ["CacheBackend", "CacheHit", "StoredResult", "CacheEntry", "Eviction"]


@attrs.frozen
class StoredResult:
    """The table and the cost of one stored result."""

    query_id: str
    #: Schema-qualified name of the table with the rows.
    table: str
    compute_time_ms: float
    size_bytes: int


@attrs.frozen
class CacheHit:
    """A completed query whose result was just touched, with what reading it needs."""

    query_id: str
    query_kind: str
    #: Schema-qualified name of the table with the rows.
    table: str
    #: Row count of the table as of its ``ANALYZE`` when stored; None when never analysed.
    estimated_rows: int | None
    #: Score after the last touch.
    score: float
    #: When the result was stored. A result computed again is stored anew, at a later time, so
    #: two results of one query id differ here. None when the backend does not record it or
    #: the result's table is missing.
    stored_at: dt.datetime | None = None


@attrs.frozen
class CacheEntry:
    """One stored result as ``flowcore cache ls`` lists it."""

    query_id: str
    query_kind: str
    state: str
    table: str
    size_bytes: int
    created: dt.datetime
    last_accessed: dt.datetime
    access_count: int
    compute_time_ms: float
    score: float


@attrs.frozen
class Eviction:
    """A stored result that shrinking removed (or would remove, in a dry run)."""

    query_id: str
    query_kind: str
    size_bytes: int
    score: float


@runtime_checkable
class CacheBackend(Protocol):
    """Stores query results and reads them back.

    The executor owns query states and concurrency; the backend owns result tables and their
    metadata. ``store`` runs inside the executor's transaction, so a result and its
    ``completed`` state are committed together or not at all.
    """

    def store(self, connection: Connection, plan: PlannedQuery, built: BuiltQuery) -> StoredResult:
        """Compute and store one result in the caller's open transaction."""
        ...

    def discard_unfinished(self, connection: Connection, query_id: str) -> None:
        """Drop a result table that has no metadata row (left by an interrupted store)."""
        ...

    def is_stored(self, query_id: str) -> bool:
        """Return whether a result is stored."""
        ...

    def touch(self, query_id: str, *, access: str = "read") -> float | None:
        """Record a read of a stored result; return its new score, or None if not stored."""
        ...

    def touch_completed(
        self, connection: Connection, query_id: str, *, accesses: Sequence[str] = ("run",)
    ) -> CacheHit | None:
        """Touch a completed query's result once per access; None when it is not completed.

        Runs on the caller's connection, so a cache hit can be read without another checkout.
        """
        ...

    def result_table(self, query_id: str) -> Table:
        """Return the table of a stored result, with its columns."""
        ...

    def iter_chunks(
        self,
        query_id: str,
        *,
        columns: Sequence[str] | None = None,
        where: ColumnElement[bool] | None = None,
        chunk_size: int = 10_000,
        touch: bool = True,
    ) -> Iterator[Sequence[Row[Any]]]:
        """Stream a stored result in chunks of at most ``chunk_size`` rows."""
        ...

    def stream(
        self, select: Select[Any], *, chunk_size: int = 10_000
    ) -> Iterator[Sequence[Row[Any]]]:
        """Stream the rows of any SELECT over stored results in chunks."""
        ...

    def invalidate(
        self, query_id: str, *, cascade: bool = True, reason: str = "requested"
    ) -> list[str]:
        """Remove a stored result (and, with ``cascade``, every result built on it)."""
        ...

    def invalidate_dates(self, event_type: str | None, day: dt.date) -> list[str]:
        """Remove every stored result that read events of ``event_type`` on ``day``."""
        ...

    def shrink(
        self,
        target_bytes: int | None = None,
        *,
        dry_run: bool = False,
        time_limit: float | None = None,
    ) -> list[Eviction]:
        """Evict the lowest-scored unprotected results until the cache fits the size limit.

        With ``time_limit`` (seconds), no eviction starts once that time has passed.
        """
        ...

    def entries(self) -> list[CacheEntry]:
        """Return every stored result with its metadata and score."""
        ...

    def total_size(self) -> int:
        """Return the bytes used by stored results."""
        ...

    def max_size(self) -> int:
        """Return the size limit in bytes that ``shrink`` defaults to."""
        ...

    def clear(self) -> int:
        """Remove every stored result; return how many were removed."""
        ...
