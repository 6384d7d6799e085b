"""The default cache backend: each result is a table ``cache.x<query_id>`` in FlowDB itself."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from sqlalchemy import Connection, Engine, MetaData, Row, Select, Table, select, text
from sqlalchemy.exc import DBAPIError, NoSuchTableError
from sqlalchemy.sql import ColumnElement

from flowcore import __version__
from flowcore.cache.backend import CacheEntry, CacheHit, Eviction, StoredResult
from flowcore.cache.catalog import (
    BASE_TABLE_CLASSES,
    CACHE_SCHEMA,
    SCORE_SQL,
    SIZE_SQL,
    qualified_name,
)
from flowcore.cache.ddl import CreateTableAs
from flowcore.cache.locks import cache_table_name, check_query_id
from flowcore.cache.notify import Notifier
from flowcore.cache.removal import (
    Removal,
    ResultInUseError,
    caused_by,
    remove_results,
    retry_on_deadlock,
)
from flowcore.errors import QueryNotFoundError
from flowcore.execution.plan import BuiltQuery, PlannedQuery
from flowcore.settings import Settings

__all__ = ["PostgresCacheBackend"]

log = logging.getLogger("flowcore.cache")

# Eviction skips a result that someone is reading rather than waiting this long for it.
_EVICTION_LOCK_TIMEOUT = "5s"

_T = TypeVar("_T")

# One round trip for a cache hit: checks that the query is completed, touches its result
# :touches times (each touch_cache call is one access, evaluated in generate_series order) and
# reads the row estimate that ANALYZE left when the result was stored. The inner SELECT locks
# the metadata row first, so access_count is the latest committed count (a concurrent touch is
# waited for) and a row deleted meanwhile yields no row. The touches run above the lock.
_TOUCH_COMPLETED = text(
    "SELECT c.query_kind, c.schema, c.tablename, c.access_count, "
    "CASE WHEN to_regclass(quote_ident(c.schema) || '.' || quote_ident(c.tablename)) IS NOT NULL "
    "THEN c.created END AS created, "
    "(SELECT array_agg(cache.touch_cache(c.query_id) ORDER BY n) "
    " FROM generate_series(1, CAST(:touches AS integer)) AS n) AS scores, "
    "(SELECT CAST(pc.reltuples AS bigint) FROM pg_catalog.pg_class AS pc "
    " WHERE pc.oid = to_regclass(quote_ident(c.schema) || '.' || quote_ident(c.tablename))) "
    "AS estimated_rows "
    "FROM (SELECT cached.query_id, cached.class AS query_kind, cached.schema, "
    " cached.tablename, cached.access_count, cached.created "
    " FROM cache.cached AS cached "
    " LEFT JOIN cache.query_states AS s ON s.query_id = cached.query_id "
    " WHERE cached.query_id = :query_id AND coalesce(s.state, 'completed') = 'completed' "
    " FOR UPDATE OF cached) AS c"
)


def _as_float(value: Decimal | float | int | None) -> float:
    """Convert a numeric column to float; huge multipliers become infinity instead of failing."""
    if value is None:
        return 0.0
    try:
        return float(value)
    except OverflowError:
        return float("inf")


def _stored_inputs(plan: PlannedQuery, built: BuiltQuery) -> list[str]:
    """Return the ids of every query below ``plan`` and of the subsets its SQL reads."""
    below = [node.query_id for node in plan.walk() if node is not plan]
    return below + [query_id for query_id in built.subsets if query_id not in below]


class PostgresCacheBackend:
    """Stores results as tables in the ``cache`` schema with FlowKit's metadata rows.

    ``hook`` is the plugin manager's hook relay (or None); evictions and invalidations are
    announced through it.
    """

    name = "postgresql"

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        hook: Any = None,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or Settings()
        self.notifier = notifier or Notifier(hook)

    # -- storing -------------------------------------------------------------------------

    def store(self, connection: Connection, plan: PlannedQuery, built: BuiltQuery) -> StoredResult:
        """Create ``cache.x<query_id>`` from the query's SELECT, index it and record its metadata.

        Runs in the caller's open transaction; nothing is visible to others until it commits,
        and a rollback leaves no table behind.
        """
        table_name = cache_table_name(plan.query_id)
        _check_index_columns(plan, built)
        preparer = connection.dialect.identifier_preparer
        qualified = qualified_name(connection, table_name)
        self.discard_unfinished(connection, plan.query_id)

        for name, value in built.planner_settings:
            connection.execute(
                text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
            )
        started = time.monotonic()
        created = connection.execute(CreateTableAs(CACHE_SCHEMA, table_name, built.select))
        compute_time_ms = (time.monotonic() - started) * 1000
        statements = [_executed_sql(connection, created)]

        for group in built.index_columns:
            columns = ", ".join(preparer.quote(column) for column in group)
            statement = f"CREATE INDEX ON {qualified} ({columns}) WITH (fillfactor = 100)"
            connection.exec_driver_sql(statement)
            statements.append(statement)
        connection.exec_driver_sql(f"ANALYZE {qualified}")
        size_bytes = connection.execute(
            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": qualified}
        ).scalar_one()

        connection.execute(
            text(
                "INSERT INTO cache.cached (query_id, version, query, created, access_count, "
                "last_accessed, compute_time, cache_score_multiplier, class, schema, tablename, "
                "obj, size_bytes, spec) VALUES (:query_id, :version, :query, now(), 0, now(), "
                ":compute_time, 0, :class, :schema, :tablename, ''::bytea, :size_bytes, "
                "CAST(:spec AS jsonb))"
            ),
            {
                "query_id": plan.query_id,
                "version": __version__,
                "query": ";\n".join(statements),
                "compute_time": compute_time_ms,
                "class": plan.query_kind,
                "schema": CACHE_SCHEMA,
                "tablename": table_name,
                "size_bytes": size_bytes,
                "spec": json.dumps(dict(plan.spec)),
            },
        )
        inputs = _stored_inputs(plan, built)
        self._record_dependencies(connection, plan, built, inputs)
        self._record_reads(connection, plan, built, inputs)
        # A fresh entry counts as read once, as in FlowKit.
        connection.execute(text("SELECT cache.touch_cache(:query_id)"), {"query_id": plan.query_id})
        return StoredResult(
            query_id=plan.query_id,
            table=f"{CACHE_SCHEMA}.{table_name}",
            compute_time_ms=compute_time_ms,
            size_bytes=size_bytes,
        )

    def _record_dependencies(
        self, connection: Connection, plan: PlannedQuery, built: BuiltQuery, below: list[str]
    ) -> None:
        """Insert one dependencies row per nearest stored query below ``plan`` or subset it read.

        ``below`` lists every query id under ``plan`` and its subsets (``_stored_inputs``).
        """
        if not below:
            return
        stored = set(
            connection.execute(
                text(
                    "SELECT rtrim(query_id) FROM cache.cached "
                    "WHERE query_id = ANY(CAST(:ids AS character(32)[]))"
                ),
                {"ids": below},
            ).scalars()
        )
        # A subset is read as it is stored, so it is a nearest query whatever its own tree.
        nearest: list[str] = [query_id for query_id in built.subsets if query_id in stored]
        seen: set[str] = set(nearest)
        pending = list(plan.dependencies)
        while pending:
            node = pending.pop()
            if node.query_id in seen:
                continue
            seen.add(node.query_id)
            if node.query_id in stored:
                nearest.append(node.query_id)
            else:
                # Not stored: the stored queries it was built from are the nearest ones.
                pending.extend(node.dependencies)
        if nearest:
            connection.execute(
                text(
                    "INSERT INTO cache.dependencies (query_id, depends_on) "
                    "VALUES (:query_id, :depends_on) ON CONFLICT DO NOTHING"
                ),
                [{"query_id": plan.query_id, "depends_on": other} for other in nearest],
            )

    def _record_reads(
        self, connection: Connection, plan: PlannedQuery, built: BuiltQuery, below: list[str]
    ) -> None:
        """Insert the event date ranges the query read, directly or through stored queries.

        The ranges of every stored query below it and of its subscriber subsets are copied too,
        so reloading a day finds the result even after the query it was built on is evicted
        and its dependencies row with it.
        """
        if below:
            connection.execute(
                text(
                    "INSERT INTO cache.event_reads (query_id, event_type, start_date, end_date) "
                    "SELECT DISTINCT CAST(:query_id AS character(32)), event_type, start_date, "
                    "end_date FROM cache.event_reads "
                    "WHERE query_id = ANY(CAST(:ids AS character(32)[]))"
                ),
                {"query_id": plan.query_id, "ids": below},
            )
        for read in built.reads:
            if read.start > read.end:
                raise ValueError(
                    f"event read of query {plan.query_id} is invalid: start {read.start} is "
                    f"after end {read.end}"
                )
        if built.reads:
            connection.execute(
                text(
                    "INSERT INTO cache.event_reads (query_id, event_type, start_date, end_date) "
                    "VALUES (:query_id, :event_type, :start, :end)"
                ),
                [
                    {
                        "query_id": plan.query_id,
                        "event_type": read.event_type,
                        "start": read.start,
                        "end": read.end,
                    }
                    for read in built.reads
                ],
            )

    def discard_unfinished(self, connection: Connection, query_id: str) -> None:
        """Drop ``cache.x<query_id>`` if it exists without a metadata row."""
        table_name = cache_table_name(query_id)
        stored = connection.execute(
            text("SELECT 1 FROM cache.cached WHERE query_id = :query_id"), {"query_id": query_id}
        ).first()
        if stored is None:
            connection.exec_driver_sql(
                f"DROP TABLE IF EXISTS {qualified_name(connection, table_name)}"
            )

    # -- reading -------------------------------------------------------------------------

    def is_stored(self, query_id: str) -> bool:
        """Return whether a result is stored."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text("SELECT 1 FROM cache.cached WHERE query_id = :query_id"),
                {"query_id": check_query_id(query_id)},
            ).first()
        return row is not None

    def touch(self, query_id: str, *, access: str = "read") -> float | None:
        """Record a read of a stored result and announce a ``hit``; return its new score.

        ``access`` names the purpose of the read (``run``, ``read`` or ``dependency``) and goes
        into the hit's details. Returns None, announcing nothing, when the result is not stored.
        """
        check_query_id(query_id)
        try:
            with self.engine.begin() as connection:
                row = connection.execute(
                    text(
                        "SELECT cache.touch_cache(c.query_id), c.class, c.access_count + 1 "
                        "FROM cache.cached AS c WHERE c.query_id = :query_id"
                    ),
                    {"query_id": query_id},
                ).first()
        except DBAPIError as error:
            # Removed between the lookup and the update: the same as never stored.
            if caused_by(error, psycopg.errors.NoDataFound):
                return None
            raise
        if row is None:
            return None
        score, query_kind, access_count = row
        self.notifier.cache_event(
            "hit",
            query_id,
            query_kind or "",
            {"access": access, "score": _as_float(score), "access_count": access_count},
        )
        return _as_float(score)

    def touch_completed(
        self, connection: Connection, query_id: str, *, accesses: Sequence[str] = ("run",)
    ) -> CacheHit | None:
        """Touch a completed query's result once per access, in one statement; return the hit.

        Returns None, announcing nothing, when the query is not ``completed`` or its result is
        not stored, including when a concurrent removal deletes it while this statement runs.
        A result without a state row counts as completed, as in ``read_state``. Each access
        announces a ``hit`` as ``touch`` does. Runs on ``connection``, and the caller commits
        unless it is in autocommit mode.
        """
        check_query_id(query_id)
        if not accesses:
            raise ValueError("accesses is empty: expected at least one access to record")
        try:
            row = connection.execute(
                _TOUCH_COMPLETED, {"query_id": query_id, "touches": len(accesses)}
            ).first()
        except DBAPIError as error:
            # The row lock turns a concurrent deletion into no row. Should touch_cache still
            # miss the row, it raises no_data_found, which is a miss as well.
            if caused_by(error, psycopg.errors.NoDataFound):
                connection.rollback()
                return None
            raise
        if row is None:
            return None
        query_kind = row.query_kind or ""
        scores = [_as_float(score) for score in row.scores]
        for number, (access, score) in enumerate(zip(accesses, scores, strict=True), start=1):
            self.notifier.cache_event(
                "hit",
                query_id,
                query_kind,
                {"access": access, "score": score, "access_count": row.access_count + number},
            )
        estimated = row.estimated_rows
        return CacheHit(
            query_id=query_id,
            query_kind=query_kind,
            table=f"{row.schema}.{row.tablename}",
            estimated_rows=None if estimated is None or estimated < 0 else int(estimated),
            score=scores[-1],
            stored_at=row.created,
        )

    def result_table(self, query_id: str) -> Table:
        """Return the table of a stored result with its columns.

        Raises:
            QueryNotFoundError: when the result is not stored.
        """
        check_query_id(query_id)
        with self.engine.connect() as connection:
            row = connection.execute(
                text("SELECT schema, tablename FROM cache.cached WHERE query_id = :query_id"),
                {"query_id": query_id},
            ).first()
            if row is None:
                raise QueryNotFoundError(query_id)
            try:
                return Table(row.tablename, MetaData(), schema=row.schema, autoload_with=connection)
            except NoSuchTableError:
                raise QueryNotFoundError(query_id) from None

    def iter_chunks(
        self,
        query_id: str,
        *,
        columns: Sequence[str] | None = None,
        where: ColumnElement[bool] | None = None,
        chunk_size: int = 10_000,
        touch: bool = True,
    ) -> Iterator[Sequence[Row[Any]]]:
        """Stream a stored result in chunks of at most ``chunk_size`` rows.

        ``columns`` picks and orders columns (all by default); ``where`` filters rows, for
        example ``sqlalchemy.column("value") > 15``. The result is checked, and touched, when
        this is called, not when iteration starts.

        Raises:
            QueryNotFoundError: when the result is not stored.
            ValueError: for an unknown column or a chunk size below 1.
        """
        _check_chunk_size(chunk_size)
        table = self.result_table(query_id)
        if columns is None:
            selected = list(table.c)
        else:
            unknown = [name for name in columns if name not in table.c]
            if unknown:
                raise ValueError(
                    f"columns {unknown} are not in the result of query {query_id}; "
                    f"available: {list(table.c.keys())}"
                )
            selected = [table.c[name] for name in columns]
        statement = select(*selected).select_from(table)
        if where is not None:
            statement = statement.where(where)
        if touch:
            self.touch(query_id, access="read")
        return self.stream(statement, chunk_size=chunk_size)

    def iter_rows(
        self,
        query_id: str,
        *,
        columns: Sequence[str] | None = None,
        where: ColumnElement[bool] | None = None,
        chunk_size: int = 10_000,
        touch: bool = True,
    ) -> Iterator[Row[Any]]:
        """Stream a stored result row by row, fetching ``chunk_size`` rows per round trip."""
        chunks = self.iter_chunks(
            query_id, columns=columns, where=where, chunk_size=chunk_size, touch=touch
        )
        return (row for chunk in chunks for row in chunk)

    def stream(
        self, select: Select[Any], *, chunk_size: int = 10_000
    ) -> Iterator[Sequence[Row[Any]]]:
        """Stream the rows of any SELECT in chunks through a server-side cursor.

        The connection stays open until the iterator is exhausted or closed, so memory stays
        bounded by one chunk whatever the size of the result.
        """
        _check_chunk_size(chunk_size)
        return self._stream(select, chunk_size)

    def _stream(self, statement: Select[Any], chunk_size: int) -> Iterator[Sequence[Row[Any]]]:
        with self.engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, max_row_buffer=chunk_size
            ).execute(statement)
            try:
                yield from result.partitions(chunk_size)
            finally:
                result.close()

    # -- removing ------------------------------------------------------------------------

    def invalidate(
        self, query_id: str, *, cascade: bool = True, reason: str = "requested"
    ) -> list[str]:
        """Remove a stored result, and with ``cascade`` every stored result built on it.

        Waits for queries that are reading the result to finish. The query states go back to
        ``known`` (through ``resetting``), so the next run recomputes them. Returns the ids of
        the removed results.
        """
        check_query_id(query_id)

        remove = functools.partial(remove_results, query_ids=[query_id], cascade=cascade, wait=True)
        removal = retry_on_deadlock(functools.partial(self._in_transaction, remove))
        self._announce(removal, "invalidated", root_reason=reason)
        return [row.query_id for row in removal.rows]

    def invalidate_dates(self, event_type: str | None, day: dt.date) -> list[str]:
        """Remove every stored result that read events of ``event_type`` on ``day``.

        Call this after (re)loading a day of events; ``event_type`` None matches every type.
        Results built on the removed ones are removed too. Returns the removed ids.
        """
        if not isinstance(day, dt.date):
            raise ValueError(f"day {day!r} is invalid: expected a datetime.date")
        with self.engine.connect() as connection:
            affected = (
                connection.execute(
                    text(
                        "SELECT DISTINCT rtrim(query_id) FROM cache.event_reads "
                        "WHERE (CAST(:event_type AS text) IS NULL OR event_type = :event_type) "
                        "AND start_date <= :day AND :day < end_date ORDER BY 1"
                    ),
                    {"event_type": event_type, "day": day},
                )
                .scalars()
                .all()
            )
        what = f"{event_type} events" if event_type else "events"
        return self._invalidate_each(affected, f"{what} of {day.isoformat()} were reloaded")

    def _invalidate_each(self, query_ids: Sequence[str], reason: str) -> list[str]:
        """Invalidate each result with its dependants, skipping those already removed."""
        removed: list[str] = []
        for query_id in query_ids:
            if query_id not in removed:
                removed.extend(self.invalidate(query_id, cascade=True, reason=reason))
        return removed

    def invalidate_all(self, reason: str) -> list[str]:
        """Remove every stored result, as invalidate() does; return the removed ids.

        Call this after a change that any result may depend on, such as reloaded cells.
        """
        with self.engine.connect() as connection:
            stored = (
                connection.execute(text("SELECT rtrim(query_id) FROM cache.cached ORDER BY 1"))
                .scalars()
                .all()
            )
        return self._invalidate_each(stored, reason)

    def shrink(
        self,
        target_bytes: int | None = None,
        *,
        dry_run: bool = False,
        time_limit: float | None = None,
    ) -> list[Eviction]:
        """Evict the lowest-scored results until the cache is at most ``target_bytes``.

        ``target_bytes`` defaults to ``cache_size`` in ``cache.cache_config``. Results created
        within ``cache_protected_period`` seconds are never evicted (a negative period turns the
        protection off), and results that someone is reading are skipped. Dependants of an
        evicted result stay stored. ``dry_run`` returns what would be evicted and changes
        nothing. With ``time_limit`` (seconds), no eviction starts once that time has passed,
        and the results evicted until then are returned.
        """
        if target_bytes is not None and (isinstance(target_bytes, bool) or target_bytes < 0):
            raise ValueError(f"target_bytes {target_bytes!r} is invalid: expected bytes >= 0")
        deadline = None if time_limit is None else time.monotonic() + time_limit
        with self.engine.connect() as connection:
            limit = (
                target_bytes
                if target_bytes is not None
                else connection.execute(text("SELECT cache.cache_max_size()")).scalar_one()
            )
            total = self._total_size(connection)
            candidates = connection.execute(
                text(
                    "SELECT rtrim(c.query_id) AS query_id, coalesce(c.class, '') AS query_kind, "
                    f"{SIZE_SQL} AS size_bytes, "
                    f"{SCORE_SQL} AS score FROM cache.cached AS c "
                    "WHERE c.schema = :schema AND NOT (coalesce(c.class, '') = ANY(:base_classes)) "
                    "AND (cache.cache_protected_period() < 0 OR c.created < now() - "
                    "make_interval(secs => cache.cache_protected_period())) "
                    "ORDER BY score ASC, c.last_accessed ASC, c.query_id"
                ),
                {"schema": CACHE_SCHEMA, "base_classes": list(BASE_TABLE_CLASSES)},
            ).all()
        evictions: list[Eviction] = []
        for candidate in candidates:
            if total <= limit:
                break
            if deadline is not None and time.monotonic() >= deadline:
                log.warning(
                    "cache shrink stopped after its time limit of %s s, %d bytes above the limit",
                    time_limit,
                    total - limit,
                )
                break
            eviction = Eviction(
                query_id=candidate.query_id,
                query_kind=candidate.query_kind,
                size_bytes=int(candidate.size_bytes),
                score=_as_float(candidate.score),
            )
            if not dry_run and not self._evict(eviction):
                continue
            evictions.append(eviction)
            total -= eviction.size_bytes
        return evictions

    def _evict(self, eviction: Eviction) -> bool:
        """Remove one result unless someone is using it; return whether it was removed."""

        def remove(connection: Connection) -> Removal:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{_EVICTION_LOCK_TIMEOUT}'")
            return remove_results(connection, [eviction.query_id], cascade=False, wait=False)

        try:
            removal = self._in_transaction(remove)
        except ResultInUseError:
            log.info("not evicting query %s: it is in use", eviction.query_id)
            return False
        except DBAPIError as error:
            if caused_by(error, psycopg.errors.LockNotAvailable):
                log.info("not evicting query %s: its table is being read", eviction.query_id)
                return False
            raise
        if not removal.rows:
            return False
        self.notifier.state_changed(removal.changes)
        self.notifier.cache_event(
            "evicted",
            eviction.query_id,
            eviction.query_kind,
            {"size_bytes": eviction.size_bytes, "score": eviction.score},
        )
        return True

    def clear(self) -> int:
        """Remove every stored result and orphaned cache table; return how many results went.

        Each result is removed in its own transaction, waiting for queries that read it, and
        the touch counter starts over.
        """
        with self.engine.connect() as connection:
            query_ids = (
                connection.execute(
                    text(
                        "SELECT rtrim(query_id) FROM cache.cached "
                        "WHERE schema = :schema AND NOT (coalesce(class, '') = ANY(:base_classes)) "
                        "ORDER BY created"
                    ),
                    {"schema": CACHE_SCHEMA, "base_classes": list(BASE_TABLE_CLASSES)},
                )
                .scalars()
                .all()
            )
        removed = 0
        for query_id in query_ids:
            remove = functools.partial(
                remove_results, query_ids=[query_id], cascade=False, wait=True
            )
            removal = retry_on_deadlock(functools.partial(self._in_transaction, remove))
            self._announce(removal, "invalidated", root_reason="cache cleared")
            removed += len(removal.rows)
        with self.engine.begin() as connection:
            self._drop_orphans(connection)
            connection.execute(text("SELECT setval('cache.cache_touches', 1)"))
        return removed

    def _drop_orphans(self, connection: Connection) -> None:
        """Drop ``cache.x<query_id>`` tables that have no metadata row."""
        orphans = (
            connection.execute(
                text(
                    "SELECT t.tablename FROM pg_tables AS t WHERE t.schemaname = :schema "
                    "AND t.tablename ~ '^x[0-9a-f]{32}$' AND NOT EXISTS ("
                    "SELECT 1 FROM cache.cached AS c "
                    "WHERE c.schema = t.schemaname AND c.tablename = t.tablename)"
                ),
                {"schema": CACHE_SCHEMA},
            )
            .scalars()
            .all()
        )
        for table_name in orphans:
            connection.exec_driver_sql(
                f"DROP TABLE IF EXISTS {qualified_name(connection, table_name)}"
            )

    # -- listing -------------------------------------------------------------------------

    def entries(self) -> list[CacheEntry]:
        """Return every stored result, oldest first, with its state and score."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT rtrim(c.query_id), coalesce(c.class, ''), "
                    "coalesce(s.state, 'completed'), c.schema || '.' || c.tablename, "
                    f"{SIZE_SQL}, c.created, c.last_accessed, c.access_count, c.compute_time, "
                    f"{SCORE_SQL} FROM cache.cached AS c "
                    "LEFT JOIN cache.query_states AS s ON s.query_id = c.query_id "
                    "ORDER BY c.created, c.query_id"
                )
            ).all()
        return [
            CacheEntry(
                query_id=row[0],
                query_kind=row[1],
                state=row[2],
                table=row[3],
                size_bytes=int(row[4]),
                created=row[5],
                last_accessed=row[6],
                access_count=row[7],
                compute_time_ms=_as_float(row[8]),
                score=_as_float(row[9]),
            )
            for row in rows
        ]

    def total_size(self) -> int:
        """Return the bytes used by stored results."""
        with self.engine.connect() as connection:
            return self._total_size(connection)

    def max_size(self) -> int:
        """Return the configured size limit in bytes (``cache_size`` in ``cache.cache_config``)."""
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT cache.cache_max_size()")).scalar_one())

    @staticmethod
    def _total_size(connection: Connection) -> int:
        return int(
            connection.execute(
                text(
                    f"SELECT coalesce(sum({SIZE_SQL}), 0) FROM cache.cached AS c "
                    "WHERE NOT (coalesce(c.class, '') = ANY(:base_classes))"
                ),
                {"base_classes": list(BASE_TABLE_CLASSES)},
            ).scalar_one()
        )

    # -- helpers -------------------------------------------------------------------------

    def _in_transaction(self, work: Callable[[Connection], _T]) -> _T:
        with self.engine.begin() as connection:
            return work(connection)

    def _announce(self, removal: Removal, event: str, *, root_reason: str) -> None:
        """Announce the state changes and the cache event of each removed result."""
        self.notifier.state_changed(removal.changes)
        for row in removal.rows:
            parent = removal.reached_from.get(row.query_id)
            reason = root_reason if parent is None else f"depends on {parent}"
            self.notifier.cache_event(
                event,
                row.query_id,
                row.query_kind,
                {"reason": reason, "size_bytes": row.size_bytes},
            )


def _check_index_columns(plan: PlannedQuery, built: BuiltQuery) -> None:
    """Raise ValueError when an index column is not an output column of the query."""
    available = list(built.select.selected_columns.keys())
    for group in built.index_columns:
        missing = [column for column in group if column not in available]
        if missing or not group:
            raise ValueError(
                f"index columns {list(group)} of query {plan.query_id} ({plan.query_kind}) are "
                f"invalid: {missing or 'empty group'} not among the output columns {available}"
            )


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size {chunk_size!r} is invalid: expected an integer >= 1")


def _executed_sql(connection: Connection, result: Any) -> str:
    """Return the statement a result ran, with its values quoted by psycopg, for the record."""
    statement: str = result.context.statement
    parameters = result.context.parameters
    if not parameters or not parameters[0]:
        return statement
    try:
        dbapi_connection = connection.connection.dbapi_connection
        if not isinstance(dbapi_connection, psycopg.Connection):
            return statement
        cursor = psycopg.ClientCursor(dbapi_connection)
        return cursor.mogrify(statement, parameters[0])
    except (psycopg.Error, TypeError, ValueError):
        # The record is informative only; keep the placeholders when a value cannot be quoted.
        return statement
