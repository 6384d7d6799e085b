"""The Python API: connect to FlowDB, run query specs, read results.

import flowcore

with flowcore.connect() as session:
    result = session.run({"query_kind": "daily_location", "date": "2016-01-01",
                          "method": "last", "aggregation_unit": "admin3"})
    print(result.to_pandas())
"""

from __future__ import annotations

import math
import select as select_module
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pluggy
import psycopg.errors
from sqlalchemy import Connection, Engine, Select, create_engine, event, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import PGCompiler_psycopg, PGDialect_psycopg
from sqlalchemy.exc import CompileError, DBAPIError, DisconnectionError, NoSuchTableError

from flowcore.cache.backend import CacheHit
from flowcore.errors import QueryCancelledError, QueryFailedError, QueryNotFoundError
from flowcore.execution.executor import Executor
from flowcore.execution.plan import PlannedQuery
from flowcore.model.base import QuerySpec
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.model.scopes import required_scopes
from flowcore.planner import Planner
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry
from flowcore.result import CHUNK_ROWS, Result
from flowcore.settings import Settings

__all__ = ["Session", "connect", "create_flowdb_engine"]

Spec = QuerySpec | Mapping[str, Any]


#: Seconds a pooled connection may sit idle and still be handed out without a liveness check.
PING_AFTER_IDLE_SECONDS = 1.0

# Key in a pool record's ``info`` (cleared when the connection is replaced): when it was last
# returned to the pool, or opened, on the monotonic clock.
_RETURNED_AT = "flowcore_returned_at"


def create_flowdb_engine(dsn: str, *, max_workers: int = 4) -> Engine:
    """Create a SQLAlchemy engine on FlowDB whose sessions compute dates in UTC.

    The pool has room for ``max_workers`` executor threads besides API requests.

    A connection idle for more than ``PING_AFTER_IDLE_SECONDS``, or with unread input from
    the server, is checked before use and replaced if the server dropped it, as
    ``pool_pre_ping`` does for every checkout. A cached query costs only two or three round
    trips, so a ping on each of them would be a large share.
    """
    # A connection that the server closed within PING_AFTER_IDLE_SECONDS of its last use (a
    # terminated backend, a restart) has the server's goodbye waiting on its socket, and is
    # pinged and replaced too.
    # NOTE: a connection cut without a word from the server (a network failure) within that
    # second fails the first statement that uses it. SQLAlchemy then replaces it and every
    # older connection of the pool.
    from flowdb.config import sqlalchemy_url

    engine = create_engine(
        sqlalchemy_url(dsn),
        connect_args={"options": "-c timezone=UTC"},
        # The executor uses max_workers + 3 connections at most. The rest serve API requests.
        pool_size=10,
        max_overflow=16 + max_workers,
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection on checkout when it was idle for a while or the server closed it."""
    dialect = engine.dialect

    def remember(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        idle = time.monotonic() - returned_at if returned_at is not None else None
        if (
            idle is not None
            and idle < PING_AFTER_IDLE_SECONDS
            and not _has_pending_input(dbapi_connection)
        ):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and retries the checkout with a new one.
            raise DisconnectionError(f"a pooled connection failed its ping: {error}") from error

    event.listen(engine.pool, "connect", remember)
    event.listen(engine.pool, "checkin", remember)
    event.listen(engine.pool, "checkout", ping)


def _has_pending_input(dbapi_connection: Any) -> bool:
    """Return whether an idle connection has bytes to read, or its socket is gone.

    An idle PostgreSQL connection seldom receives anything unasked (a notice or a changed
    parameter at most). Input on it is usually the server's goodbye: a FATAL message, then end
    of file, when the backend was terminated or the server shut down. Such a connection gets a
    real ping, which also reads any harmless input. The check costs no round trip.
    """
    if getattr(dbapi_connection, "closed", False):
        return True
    try:
        descriptor = dbapi_connection.fileno()
    except (psycopg.Error, OSError):
        # The driver no longer has a socket for this connection.
        return True
    poller = select_module.poll()
    poller.register(descriptor, select_module.POLLIN | select_module.POLLPRI)
    return bool(poller.poll(0))


def connect(
    dsn: str | None = None,
    *,
    settings: Settings | None = None,
    plugins: Iterable[object] = (),
) -> Session:
    """Open a session on FlowDB: ``dsn``, else the configured one, else the local cluster."""
    from flowdb.config import resolve_dsn

    settings = settings or Settings.from_env()
    engine = create_flowdb_engine(resolve_dsn(dsn), max_workers=settings.max_workers)
    pm = build_plugin_manager(settings, extra_plugins=plugins)
    return Session(engine=engine, settings=settings, plugin_manager=pm)


class Session:
    """A connection to FlowDB with the installed query kinds and a running executor."""

    def __init__(
        self, *, engine: Engine, settings: Settings, plugin_manager: pluggy.PluginManager
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.plugin_manager = plugin_manager
        self.registry: Registry = load_registry(plugin_manager)
        self.converter = SpecConverter(self.registry, max_spec_nodes=settings.max_spec_nodes)
        backend_factory = self.registry.cache_backends[settings.cache_backend]
        self.cache = backend_factory(engine=engine, settings=settings, hook=plugin_manager.hook)
        self.executor = Executor(engine, self.cache, settings, hook=plugin_manager.hook)
        self.executor.start()
        self.planner = Planner(
            self.registry,
            self.converter,
            engine,
            is_stored=lambda qid: self.executor.state(qid) == "completed",
        )

    # -- specs ---------------------------------------------------------------------------

    def spec(self, data: Spec) -> QuerySpec:
        """Return the validated spec for JSON data (or the spec itself)."""
        return self.converter.structure(data)

    def query_id(self, data: Spec) -> str:
        """Return the query id of a spec without running it."""
        return query_id(self.spec(data), self.registry)

    def scopes(self, data: Spec) -> frozenset[str]:
        """Return the permission scopes the spec tree needs."""
        return required_scopes(self.spec(data))

    def plan(self, data: Spec) -> PlannedQuery:
        """Validate a spec against the database and return its planned query tree."""
        return self.planner.plan(self.spec(data))

    def sql(self, data: Spec) -> str:
        """Return the SQL of a spec with nested queries inlined, values shown as literals."""
        statement = self.planner.inline_sql(self.spec(data))
        return _display_sql(statement)

    # -- running -------------------------------------------------------------------------

    def submit(self, data: Spec) -> str:
        """Queue a spec (and the nested queries it needs) and return its query id at once.

        A completed query is a cache hit: its result is touched and nothing is planned.
        """
        spec = self.spec(data)
        identity = query_id(spec, self.registry)
        if self.reuse(identity) is not None:
            return identity
        return self.executor.submit(self.planner.plan(spec))

    def reuse(self, query_id_: str, *, accesses: Sequence[str] = ("run",)) -> CacheHit | None:
        """Touch a completed query's result once per access and return the hit.

        Runs one statement. Returns None when the query is not completed, and submitting it
        (which plans and validates it first) computes it.
        """
        self.executor.check_running()
        with self.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return self.cache.touch_completed(connection, query_id_, accesses=accesses)

    def run(self, data: Spec, *, redact: bool = False, timeout: float | None = None) -> Result:
        """Compute a spec (or reuse its cached result) and return the result.

        ``redact=True`` applies the kind's release rule with the configured threshold, as the
        HTTP API always does; by default the raw rows are returned. A cached result is
        returned without planning the spec again, and read at once when it is small.
        """
        spec = self.spec(data)

        def recompute() -> Result:
            # A streamed result whose table was removed before it was read is computed again.
            return self.run(spec, redact=redact, timeout=timeout)

        cached = self._cached_result(
            query_id(spec, self.registry), spec, redact=redact, recompute=recompute
        )
        if cached is not None:
            return cached
        identity = self.executor.submit(self.planner.plan(spec))
        state = self.executor.wait(identity, timeout=timeout)
        if state == "errored":
            raise QueryFailedError(identity, self.executor.error(identity) or "unknown error")
        if state == "cancelled":
            raise QueryCancelledError(identity)
        if state != "completed":
            raise TimeoutError(f"query {identity} is still {state} after {timeout} s")
        return self._result(identity, spec, redact=redact, recompute=recompute)

    def result(self, query_id_: str, *, redact: bool = False) -> Result:
        """Return the result of a completed query by id."""
        stored = self.executor.spec(query_id_)
        if stored is None:
            raise QueryNotFoundError(query_id_)
        return self._result(query_id_, self.spec(stored), redact=redact)

    def release_select(self, query_id_: str, query_kind: str, *, redact: bool) -> Select[Any]:
        """Return the SELECT over a stored result that releases it (redacted on request)."""
        table = self.planner.stored_table(query_id_)
        kind = self.registry.kind(query_kind)
        if redact and kind.redactor is not None:
            return kind.redactor(table, self.settings.redaction_threshold)
        return select(*(c for c in table.c if not c.name.startswith("_")))

    def _cached_result(
        self, identity: str, spec: QuerySpec, *, redact: bool, recompute: Callable[[], Result]
    ) -> Result | None:
        """Touch a completed query's result as a run and a read, and return it (None on a miss).

        The same connection records the hit and reads a small result, so a warm run needs two
        statements. A result removed in between is a miss, which the caller computes again.
        """
        self.executor.check_running()
        with self.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            hit = self.cache.touch_completed(connection, identity, accesses=("run", "read"))
            if hit is None:
                return None
            try:
                statement = self.release_select(identity, spec.query_kind, redact=redact)
            except NoSuchTableError:
                return None
            rows = None
            if hit.estimated_rows is not None and hit.estimated_rows <= CHUNK_ROWS:
                try:
                    rows = _read_small(connection, statement)
                except DBAPIError as error:
                    # Removed since the hit: compute it again, as for any miss.
                    if isinstance(error.orig, psycopg.errors.UndefinedTable):
                        return None
                    raise
        return Result(
            query_id=identity,
            query_kind=spec.query_kind,
            engine=self.engine,
            select=statement,
            sql=lambda: self.sql(spec),
            rows=rows,
            recompute=recompute,
        )

    def _result(
        self,
        identity: str,
        spec: QuerySpec,
        *,
        redact: bool,
        recompute: Callable[[], Result] | None = None,
    ) -> Result:
        """Touch a completed query's result as a read and return it, to be read lazily."""
        if self.executor.state(identity) != "completed":
            raise QueryNotFoundError(identity)
        statement = self.release_select(identity, spec.query_kind, redact=redact)
        self.cache.touch(identity)
        return Result(
            query_id=identity,
            query_kind=spec.query_kind,
            engine=self.engine,
            select=statement,
            sql=lambda: self.sql(spec),
            recompute=recompute,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the executor and release the database connections."""
        self.executor.stop()
        self.engine.dispose()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_small(connection: Connection, statement: Select[Any]) -> list[tuple[Any, ...]] | None:
    """Read a result expected to be small in one round trip, or return None if it is larger.

    The row estimate comes from ``ANALYZE`` and may be stale, so at most one chunk plus one
    row is read, and a larger result is left to stream.
    """
    fetched = connection.execute(statement.limit(CHUNK_ROWS + 1)).all()
    if len(fetched) > CHUNK_ROWS:
        return None
    return [tuple(row) for row in fetched]


class _LiteralCompiler(PGCompiler_psycopg):
    """SQL compiler that writes floats as double precision, as psycopg sends them.

    SQLAlchemy writes a float as a bare number, which PostgreSQL reads as numeric: ``1.0 / n``
    would then divide exactly where the executed statement divides in double precision.
    """

    def render_literal_value(self, value: Any, type_: Any) -> str:
        """Return the SQL text of a literal value."""
        if isinstance(value, float):
            if math.isnan(value):
                text = "NaN"
            elif math.isinf(value):
                text = "Infinity" if value > 0 else "-Infinity"
            else:
                text = repr(value)
            return f"CAST('{text}' AS DOUBLE PRECISION)"
        return str(super().render_literal_value(value, type_))


def _literal_dialect() -> PGDialect_psycopg:
    """Return a PostgreSQL dialect for printing SQL with literal values.

    The named parameter style keeps ``%`` in string literals single, as psql reads them.
    """
    dialect = PGDialect_psycopg(paramstyle="named")
    dialect.statement_compiler = _LiteralCompiler
    return dialect


def _display_sql(statement: Select[Any]) -> str:
    """Render SQL that runs as printed, with every value written as a literal.

    The statement assumes the session time zone UTC, as flowcore sets it, so the text starts
    with a comment that gives the SET command. A value that SQLAlchemy cannot write as a
    literal leaves placeholders, with the parameter values in a closing comment.
    """
    header = "-- Run with the time zone UTC: SET TIME ZONE 'UTC';\n"
    try:
        return header + str(
            statement.compile(
                dialect=_literal_dialect(),
                compile_kwargs={"literal_binds": True, "render_postcompile": True},
            )
        )
    except (CompileError, NotImplementedError):
        compiled = statement.compile(dialect=postgresql.dialect())
        parameters = ", ".join(f"{name}={value!r}" for name, value in compiled.params.items())
        return f"{header}{compiled}\n-- parameters: {parameters}"
