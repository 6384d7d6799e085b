"""Removing stored results: invalidation, eviction and clearing share one transaction step."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
import psycopg.errors
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from flowcore.cache.catalog import BASE_TABLE_CLASSES, CACHE_SCHEMA, SIZE_SQL, qualified_name
from flowcore.cache.locks import query_lock_key
from flowcore.cache.states import Event, StateChange, apply_event

__all__ = [
    "ResultInUseError",
    "RemovedResult",
    "Removal",
    "caused_by",
    "remove_results",
    "retry_on_deadlock",
]

log = logging.getLogger("flowcore.cache")

# Concurrent invalidations that cross paths in the dependency graph may deadlock; PostgreSQL
# aborts one of them, which then starts over.
_DEADLOCK_RETRIES = 3

_T = TypeVar("_T")


def caused_by(error: BaseException, kind: type[Exception]) -> bool:
    """Return whether a SQLAlchemy error wraps a psycopg error of ``kind``."""
    return isinstance(error, DBAPIError) and isinstance(error.orig, kind)


class ResultInUseError(Exception):
    """A result could not be locked without waiting."""


@attrs.frozen
class RemovedResult:
    """One deleted metadata row."""

    query_id: str
    query_kind: str
    size_bytes: int


@attrs.define
class Removal:
    """The results removed and the state changes made by one removal transaction."""

    rows: list[RemovedResult] = attrs.Factory(list)
    changes: list[StateChange] = attrs.Factory(list)
    #: For results removed because they depend on another: the id they were reached from.
    reached_from: dict[str, str] = attrs.Factory(dict)


def remove_results(
    connection: Connection, query_ids: Sequence[str], *, cascade: bool, wait: bool
) -> Removal:
    """Delete results (and with ``cascade`` their dependants) in the caller's transaction.

    Each result's advisory lock is taken before its dependants are read, so no query can start
    building on a result while it is being removed. With ``wait`` False a result that is in use
    raises ``ResultInUseError`` instead of waiting.
    """
    removal = Removal()
    seen: list[str] = []
    frontier = sorted(set(query_ids))
    while frontier:
        for query_id in frontier:
            _lock_for_removal(connection, query_id, wait=wait)
        seen.extend(frontier)
        if not cascade:
            break
        dependants = connection.execute(
            text(
                "SELECT DISTINCT rtrim(query_id), rtrim(depends_on) FROM cache.dependencies "
                "WHERE depends_on = ANY(CAST(:ids AS character(32)[]))"
            ),
            {"ids": frontier},
        ).all()
        next_frontier: set[str] = set()
        for dependant, depends_on in dependants:
            if dependant not in seen and dependant not in next_frontier:
                removal.reached_from[dependant] = depends_on
                next_frontier.add(dependant)
        frontier = sorted(next_frontier)

    for query_id in seen:
        change = apply_event(connection, query_id, Event.RESET)
        if change is not None:
            removal.changes.append(change)
    deleted = connection.execute(
        text(
            f"DELETE FROM cache.cached AS c WHERE c.query_id = ANY(CAST(:ids AS character(32)[])) "
            "AND c.schema = :schema AND NOT (coalesce(c.class, '') = ANY(:base_classes)) "
            f"RETURNING rtrim(c.query_id), coalesce(c.class, ''), c.tablename, {SIZE_SQL}"
        ),
        {"ids": seen, "schema": CACHE_SCHEMA, "base_classes": list(BASE_TABLE_CLASSES)},
    ).all()
    for query_id, query_kind, table_name, size_bytes in deleted:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {qualified_name(connection, table_name)}")
        removal.rows.append(RemovedResult(query_id, query_kind, int(size_bytes)))
    for query_id in seen:
        change = apply_event(connection, query_id, Event.FINISH_RESETTING)
        if change is not None:
            removal.changes.append(change)
    return removal


def _lock_for_removal(connection: Connection, query_id: str, *, wait: bool) -> None:
    """Take a query's advisory lock until the end of the transaction."""
    key = query_lock_key(query_id)
    if wait:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return
    locked = connection.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
    ).scalar_one()
    if not locked:
        raise ResultInUseError(query_id)


def retry_on_deadlock(work: Callable[[], _T]) -> _T:
    """Run ``work``, starting over when PostgreSQL aborted it to break a deadlock."""
    for attempt in range(1, _DEADLOCK_RETRIES + 1):
        try:
            return work()
        except DBAPIError as error:
            if not caused_by(error, psycopg.errors.DeadlockDetected) or (
                attempt == _DEADLOCK_RETRIES
            ):
                raise
            log.warning("cache removal deadlocked (attempt %d), retrying", attempt)
    raise AssertionError("unreachable")
