"""The executor's view of a query: identity, cached dependencies and a deferred SQL builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from sqlalchemy.sql import Select

__all__ = ["EventRead", "BuiltQuery", "PlannedQuery"]


@attrs.frozen
class EventRead:
    """One event table read over a half-open date range ``[start, end)``; used for invalidation."""

    event_type: str
    start: dt.date
    end: dt.date


@attrs.frozen
class BuiltQuery:
    """The SQL of one query and the event data it reads directly (not through dependencies)."""

    select: Select[Any]
    reads: tuple[EventRead, ...] = ()
    #: Column groups to index on the cache table, e.g. (("pcod",), ("subscriber",)).
    index_columns: tuple[tuple[str, ...], ...] = ()
    #: PostgreSQL settings applied for the transaction that computes the result.
    planner_settings: tuple[tuple[str, str], ...] = ()
    #: Ids of the stored queries read as subscriber subsets; the result depends on them.
    subsets: tuple[str, ...] = ()


@attrs.frozen(eq=False)
class PlannedQuery:
    """A query ready to run.

    ``build`` may only be called once every query in ``dependencies`` is completed, because the
    SQL it returns reads their results from the cache tables ``cache.x<query_id>``.
    """

    query_id: str
    query_kind: str
    #: Canonical JSON form of the spec; stored with the cache entry.
    spec: Mapping[str, Any]
    dependencies: tuple[PlannedQuery, ...]
    build: Callable[[], BuiltQuery]

    def walk(self) -> Iterator[PlannedQuery]:
        """Yield this query and every query below it, depth first, each id once."""
        seen: set[str] = set()
        stack: list[PlannedQuery] = [self]
        while stack:
            node = stack.pop()
            if node.query_id in seen:
                continue
            seen.add(node.query_id)
            yield node
            stack.extend(reversed(node.dependencies))
