"""Planner statistics of the partitioned event and count tables, refreshed after new days.

The loader analyses each new day's partitions when it builds them. The generator leaves them
to the analysis of their parents, which covers them. The parents need statistics of their
own: PostgreSQL's "inherited" statistics, used to estimate joins and groupings over many days.
In PostgreSQL 15, ``ANALYZE`` of a partitioned table also analyses every partition again, so
its cost grows with the days stored. A parent is therefore analysed only
when it has no statistics yet or when the days just added are at least :data:`REFRESH_SHARE`
of its partitions, so loading one day into a year of data no longer re-analyses the whole year.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

__all__ = ["REFRESH_SHARE", "refresh_parent_statistics", "stale_parents"]

REFRESH_SHARE = 0.1
"""The share of a parent's partitions that must be new before the parent is analysed again."""


def stale_parents(conn: psycopg.Connection, added: Mapping[str, int]) -> list[str]:
    """Return the parents (``schema.table``) whose statistics should be refreshed.

    ``added`` maps each parent to the number of leaf partitions just added or replaced.
    """
    stale = []
    for parent, count in added.items():
        if count <= 0:
            continue
        schema, table = parent.split(".")
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stats "
            "WHERE schemaname = %s AND tablename = %s AND inherited), "
            "(SELECT count(*) FROM pg_partition_tree(to_regclass(%s)) WHERE isleaf)",
            (schema, table, parent),
        ).fetchone()
        has_statistics, partitions = row if row else (False, 0)
        if not has_statistics or count >= REFRESH_SHARE * partitions:
            stale.append(parent)
    return stale


def refresh_parent_statistics(
    dsn: str, added: Mapping[str, int], *, jobs: int | None = None, every: bool = False
) -> list[str]:
    """Analyse the stale parents among ``added``, ``jobs`` at once; return the ones analysed.

    Give the largest parents first, so that no long analysis starts last. With ``every``, all
    parents that gained partitions are analysed, for callers that left the new partitions
    unanalysed.
    """
    if every:
        stale = [parent for parent, count in added.items() if count > 0]
    else:
        with psycopg.connect(dsn, autocommit=True) as conn:
            stale = stale_parents(conn, added)
    if not stale:
        return []

    def analyse(parent: str) -> None:
        schema, table = parent.split(".")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))

    workers = max(1, min(len(stale), jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse") as pool:
        list(pool.map(analyse, stale))
    return stale
