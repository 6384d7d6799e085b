"""Invalidation for data loaders: results computed from data that was reloaded must go."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine

from flowcore.cache.postgres import PostgresCacheBackend
from flowdb.config import sqlalchemy_url

__all__ = ["invalidate_reloaded_day", "invalidate_reloaded_table"]


@contextmanager
def _backend(dsn: str, hook: Any) -> Iterator[PostgresCacheBackend]:
    """Yield a cache backend on a small engine of its own, disposed of afterwards."""
    engine = create_engine(sqlalchemy_url(dsn), pool_size=1, max_overflow=1)
    try:
        yield PostgresCacheBackend(engine, hook=hook)
    finally:
        engine.dispose()


def invalidate_reloaded_day(
    dsn: str, event_type: str, day: dt.date, *, hook: Any = None
) -> list[str]:
    """Remove every stored result that read ``event_type`` events on ``day``; return their ids.

    Call it after a day of events is loaded or replaced. Results built on a removed result are
    removed too, and each removal is announced through ``hook`` when one is given.
    """
    # NOTE: a query that read the old day and is still executing when this runs stores its
    # result afterwards, and that stale result stays until it is invalidated again.
    with _backend(dsn, hook) as backend:
        return backend.invalidate_dates(event_type, day)


def invalidate_reloaded_table(dsn: str, table: str, *, hook: Any = None) -> list[str]:
    """Remove every stored result after ``table`` (cells, sites, TACs, a geography layer) changed.

    Every location-based result depends on the cells and the regions, so all results go.
    """
    with _backend(dsn, hook) as backend:
        return backend.invalidate_all(f"{table} was reloaded")
