"""The in-process executor: runs planned queries on a bounded thread pool, dependencies first.

Query states live in ``cache.query_states`` and change only through compare-and-set updates, so
several executors (threads, processes, hosts) on one database agree. Within a process, identical
submissions share one future per query id. Across processes, the connection that executes a
query holds an advisory lock on the query's key, and only the process whose ``queued ->
executing`` update wins runs the SQL.

A query whose dependencies are still being computed holds no pool slot: it is handed to the pool
only once the futures of its dependencies are done, so even one worker thread cannot deadlock on
a deep tree.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg.errors
from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.exc import DBAPIError

from flowcore.cache.backend import CacheBackend
from flowcore.cache.catalog import CACHE_SCHEMA
from flowcore.cache.locks import (
    QUERY_ID_PATTERN,
    cache_table_name,
    check_query_id,
    pg_locks_fields,
    query_lock_key,
)
from flowcore.cache.notify import Notifier
from flowcore.cache.states import (
    AWOL,
    DESCRIPTIONS,
    SETTLED_STATES,
    Event,
    QueryState,
    StateChange,
    apply_event,
    read_state,
    register_plan,
    reset,
    state_row,
)
from flowcore.errors import FlowcoreError, QueryNotFoundError
from flowcore.execution.plan import BuiltQuery, PlannedQuery
from flowcore.execution.progress import Progress, read_progress
from flowcore.execution.workers import (
    WorkerRegistration,
    recover_abandoned_queries,
    try_lock,
)
from flowcore.settings import Settings

__all__ = ["Executor"]

log = logging.getLogger("flowcore.execution")

# A query whose stored dependencies vanish (evicted or invalidated) while it waits recomputes
# them at most this many times before it errors.
_MAX_DEPENDENCY_ROUNDS = 3
# Backoff, in seconds, for a query that another process is executing or holding.
_RETRY_FIRST_DELAY = 0.05
_RETRY_MAX_DELAY = 1.0
# Seconds during which a cancel is repeated until the cancelled query's worker stops.
_CANCEL_RETRY_SECONDS = 10.0
# Polling interval bounds, in seconds, while waiting for a state another process may change.
_POLL_FIRST_DELAY = 0.02
_POLL_MAX_DELAY = 0.5


class _Retry(enum.Enum):
    """Outcomes of one attempt that are not a settled state."""

    #: Another process is executing the query or locks one of its dependencies. Try later.
    LATER = "later"
    #: A dependency is no longer stored: compute the dependencies again, then this query.
    DEPENDENCIES = "dependencies"


class Executor:
    """Runs planned queries and reports their states, progress and errors.

    Call ``start()`` before submitting and ``stop()`` when done. ``hook`` is a plugin manager's
    ``pm.hook`` (or None); every state change is announced through it and logged on the
    ``flowcore.execution`` logger. The engine's pool should allow at least
    ``settings.max_workers + 3`` connections.
    """

    def __init__(
        self,
        engine: Engine,
        backend: CacheBackend,
        settings: Settings | None = None,
        hook: Any = None,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.settings = settings or Settings()
        if self.settings.max_workers < 1:
            raise ValueError(
                f"max_workers {self.settings.max_workers!r} is invalid: expected at least 1"
            )
        self.notifier = Notifier(hook)
        self.notifier.add_listener(self._wake_waiters)
        self._lock = threading.Lock()
        self._state_changed = threading.Condition()
        self._inflight: dict[str, Future[str]] = {}
        # Queries submitted again while their future was pending. A failed outcome of the
        # pending attempt must not settle them, because the new submission queued them anew.
        self._rerun_requested: set[str] = set()
        self._retry_counts: dict[str, int] = {}
        self._timers: set[threading.Timer] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._worker: WorkerRegistration | None = None
        self._stopping = False
        self._pruning_stop = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        """Id of this executor's row in ``cache.workers`` (set by ``start()``)."""
        if self._worker is None:
            raise RuntimeError("the executor is not started: call start() first")
        return self._worker.worker_id

    def start(self) -> None:
        """Register as a worker, recover work abandoned by dead workers and open the pool."""
        if self._pool is not None:
            return
        worker = WorkerRegistration(
            self.engine,
            heartbeat_seconds=self.settings.heartbeat_seconds,
            on_heartbeat=self.recover,
        )
        # Set before the heartbeat thread starts, because its recovery reads the worker id.
        self._worker = worker
        try:
            worker.start()
            self.recover()
        except BaseException:
            worker.stop()
            self._worker = None
            raise
        self._stopping = False
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.max_workers, thread_name_prefix="flowcore-query"
        )
        self._start_pruning()
        log.info("executor started with %d workers", self.settings.max_workers)

    def _start_pruning(self) -> None:
        """Shrink the cache to its configured size every ``cache_pruning_seconds``."""
        interval = self.settings.cache_pruning_seconds
        time_limit = self.settings.cache_pruning_timeout
        self._pruning_stop = threading.Event()
        if interval <= 0:
            return

        def prune_periodically(stop: threading.Event) -> None:
            while not stop.wait(interval):
                try:
                    evicted = self.backend.shrink(time_limit=time_limit)
                except Exception:
                    log.exception("scheduled cache shrink failed; trying again in %d s", interval)
                    continue
                log.info("scheduled cache shrink evicted %d results", len(evicted))

        threading.Thread(
            target=prune_periodically,
            args=(self._pruning_stop,),
            name="flowcore-cache-pruning",
            daemon=True,
        ).start()

    def recover(self) -> list[str]:
        """Reset queries left queued or executing by dead processes; return their ids."""
        return recover_abandoned_queries(
            self.engine, self.backend, self.notifier, own_worker_id=self.worker_id
        )

    def stop(self, *, cancel_running: bool = False) -> None:
        """Stop the pool and unregister the worker.

        Queries that are executing finish first, unless ``cancel_running`` cancels them.
        Queries still waiting go back to ``known``, so a later submission runs them.
        """
        pool = self._pool
        if pool is None:
            return
        self._stopping = True
        self._pruning_stop.set()
        with self._lock:
            timers = list(self._timers)
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        # Drop queued work first, so a slot freed by a cancel below starts nothing new.
        pool.shutdown(wait=False, cancel_futures=True)
        if cancel_running:
            for query_id in self._executing_here():
                self.cancel(query_id)
        pool.shutdown(wait=True)
        self._pool = None
        with self._lock:
            left = list(self._inflight)
        for query_id in left:
            self._give_back(query_id)
        assert self._worker is not None
        self._worker.stop()
        self._worker = None
        log.info("executor stopped")

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _executing_here(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    text(
                        "SELECT rtrim(query_id) FROM cache.query_states "
                        "WHERE state = 'executing' AND owner = :owner"
                    ),
                    {"owner": self.worker_id},
                ).scalars()
            )

    def _give_back(self, query_id: str) -> None:
        """Reset a query this process queued but never ran, and settle its future."""
        with self.engine.begin() as connection:
            row = state_row(connection, query_id)
            changes: list[StateChange] = []
            queued_here = (
                row is not None
                and row["state"] == QueryState.QUEUED
                and row["owner"] == self.worker_id
            )
            if queued_here:
                changes = reset(connection, query_id, include_unfinished=True)
            state = read_state(connection, query_id)
        self.notifier.state_changed(changes)
        self._settle(query_id, state)

    # -- submitting ----------------------------------------------------------------------

    def submit(self, plan: PlannedQuery) -> str:
        """Queue a planned query and the dependencies it needs; return its id at once.

        A stored query is a cache hit: it is touched and nothing runs. A known or cancelled
        query is (re)run, with cancelled going through resetting to known first. A queued,
        executing or errored query is left as it is, unless the process that queued or ran it
        died, in which case it is recovered and run.

        Raises:
            ValueError: when a query id in the tree is not 32 lowercase hex digits.
            RuntimeError: when the executor is not started.
        """
        self.check_running()
        for node in plan.walk():
            check_query_id(node.query_id)
        query_id = plan.query_id
        with self.engine.begin() as connection:
            register_plan(connection, plan)

        deadline = time.monotonic() + 10
        checked_abandoned = False
        while True:
            with self.engine.connect() as connection:
                state = read_state(connection, query_id)
            if state == QueryState.COMPLETED:
                if self.backend.touch(query_id, access="run") is not None:
                    return query_id
                # Marked completed but the result is gone: run it again.
                self._reset(query_id)
                continue
            if state in (QueryState.QUEUED, QueryState.EXECUTING) and not checked_abandoned:
                # Left by a process that died since: recover it now and run it here.
                checked_abandoned = True
                with self._lock:
                    pending_here = query_id in self._inflight
                if not pending_here and query_id in self.recover():
                    continue
            if state in (QueryState.QUEUED, QueryState.EXECUTING, QueryState.ERRORED):
                return query_id
            if state == QueryState.CANCELLED:
                self._reset(query_id)
                continue
            if state == QueryState.RESETTING and time.monotonic() < deadline:
                time.sleep(_POLL_FIRST_DELAY)
                continue
            break

        self._queue_tree(plan)
        self._schedule(plan)
        return query_id

    def check_running(self) -> None:
        """Raise RuntimeError unless the executor is started and not stopping."""
        if self._pool is None or self._stopping:
            raise RuntimeError("the executor is not running: call start() first")

    def _reset(self, query_id: str) -> None:
        with self.engine.begin() as connection:
            changes = reset(connection, query_id)
        self.notifier.state_changed(changes)

    def _queue_tree(self, plan: PlannedQuery) -> None:
        """Queue every query of the tree that is not stored, dependencies first.

        A dependency that errored or was cancelled earlier is reset and queued again. The
        submitted query itself was settled by ``submit``.
        """
        for node in _dependencies_first(plan):
            changes: list[StateChange] = []
            with self.engine.begin() as connection:
                state = read_state(connection, node.query_id)
                if node is not plan and state in (QueryState.ERRORED, QueryState.CANCELLED):
                    changes.extend(reset(connection, node.query_id))
                    state = QueryState.KNOWN
                if state == QueryState.KNOWN:
                    queued = apply_event(
                        connection, node.query_id, Event.QUEUE, owner=self.worker_id
                    )
                    if queued is not None:
                        changes.append(queued)
            self.notifier.state_changed(changes)

    # -- scheduling ----------------------------------------------------------------------

    def _schedule(self, plan: PlannedQuery) -> None:
        """Create a future for each query of the tree that has none, and start each one."""
        created: list[PlannedQuery] = []
        with self._lock:
            for node in _dependencies_first(plan):
                if node.query_id in self._inflight:
                    self._rerun_requested.add(node.query_id)
                else:
                    self._inflight[node.query_id] = Future()
                    created.append(node)
        for node in created:
            self._after_dependencies(node, round_=1)

    def _after_dependencies(self, node: PlannedQuery, round_: int) -> None:
        """Hand ``node`` to the pool once the futures of its dependencies are done."""
        with self._lock:
            waits = [
                (dependency, self._inflight[dependency.query_id])
                for dependency in node.dependencies
                if dependency.query_id in self._inflight
            ]
        if not waits:
            self._dispatch(node, round_)
            return
        remaining = len(waits)
        counter_lock = threading.Lock()

        def dependency_done(_: Future[str]) -> None:
            nonlocal remaining
            with counter_lock:
                remaining -= 1
                last = remaining == 0
            if last:
                self._dependencies_done(node, waits, round_)

        for _, future in waits:
            future.add_done_callback(dependency_done)

    def _dependencies_done(
        self,
        node: PlannedQuery,
        waits: Sequence[tuple[PlannedQuery, Future[str]]],
        round_: int,
    ) -> None:
        if self._stopping:
            self._give_back(node.query_id)
            return
        outcomes = [(dependency, future.result()) for dependency, future in waits]
        failed = [(dependency, state) for dependency, state in outcomes if state != "completed"]
        if failed:
            self._fail_for_dependencies(node, failed)
        else:
            self._dispatch(node, round_)

    def _dispatch(self, node: PlannedQuery, round_: int) -> None:
        pool = self._pool
        if pool is None or self._stopping:
            self._give_back(node.query_id)
            return
        try:
            pool.submit(self._attempt, node, round_)
        except RuntimeError:  # the pool shut down in between
            self._give_back(node.query_id)

    def _retry_later(self, node: PlannedQuery, round_: int) -> None:
        """Dispatch ``node`` again after a growing delay, holding no pool slot meanwhile."""
        with self._lock:
            count = self._retry_counts.get(node.query_id, 0)
            self._retry_counts[node.query_id] = count + 1
        delay = min(_RETRY_FIRST_DELAY * 2**count, _RETRY_MAX_DELAY)

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self._dispatch(node, round_)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self._timers.add(timer)
        if stopping:
            self._give_back(node.query_id)
        else:
            timer.start()

    def _attempt(self, node: PlannedQuery, round_: int) -> None:
        """Run one attempt at a query in a pool thread and act on its outcome."""
        try:
            outcome = self._run(node)
        except Exception as error:
            log.exception("query %s (%s): executor failure", node.query_id, node.query_kind)
            outcome = self._error_out(node, f"executor failure: {_describe(error)}")
        if outcome in (QueryState.QUEUED, QueryState.EXECUTING, QueryState.RESETTING):
            # Queued again or taken over elsewhere since this attempt began: follow it.
            outcome = _Retry.LATER
        if outcome is _Retry.LATER:
            self._retry_later(node, round_)
        elif outcome is _Retry.DEPENDENCIES:
            if round_ >= _MAX_DEPENDENCY_ROUNDS:
                message = "its dependencies were removed from the cache while it waited"
                self._finish(node, self._error_out(node, message), round_)
                return
            for dependency in node.dependencies:
                self._schedule(dependency)
            self._after_dependencies(node, round_ + 1)
        else:
            self._finish(node, outcome, round_)

    def _finish(self, node: PlannedQuery, state: str, round_: int) -> None:
        """Settle a query's future with ``state``, or run it again if it was resubmitted."""
        with self._lock:
            rerun = node.query_id in self._rerun_requested and state != QueryState.COMPLETED
            self._rerun_requested.discard(node.query_id)
            if not rerun:
                future = self._inflight.pop(node.query_id, None)
                self._retry_counts.pop(node.query_id, None)
        if rerun:
            self._dispatch(node, round_)
            return
        if future is not None and not future.done():
            future.set_result(state)
        self._wake_waiters()

    def _settle(self, query_id: str, state: str) -> None:
        """Settle a query's future with ``state`` (used when stopping)."""
        with self._lock:
            future = self._inflight.pop(query_id, None)
            self._retry_counts.pop(query_id, None)
            self._rerun_requested.discard(query_id)
        if future is not None and not future.done():
            future.set_result(state)
        self._wake_waiters()

    # -- running one query ---------------------------------------------------------------

    def _run(self, node: PlannedQuery) -> str | _Retry:
        """Execute ``node`` if this process wins it; return its settled state or a retry."""
        connection = self.engine.connect()
        holds_locks = False
        try:
            state = read_state(connection, node.query_id)
            connection.commit()
            if state in (QueryState.COMPLETED, QueryState.ERRORED, QueryState.CANCELLED):
                return state
            if state == QueryState.RESETTING:
                return _Retry.LATER
            if not try_lock(connection, query_lock_key(node.query_id)):
                connection.commit()
                return _Retry.LATER
            holds_locks = True
            if (connection.dialect.server_version_info or (0,)) >= (14,):
                # Makes PostgreSQL abort this query soon after this process dies, instead of
                # running it to the end, so that recovery can take the query over.
                connection.execute(text("SET client_connection_check_interval = 1000"))
            connection.commit()
            claimed = self._claim(connection, node)
            if claimed is not None:
                return claimed
            return self._compute(connection, node)
        finally:
            if holds_locks:
                # Closing the connection ends its session locks, and a late
                # pg_cancel_backend aimed at it can no longer hit another query.
                connection.invalidate()
            connection.close()

    def _claim(self, connection: Connection, node: PlannedQuery) -> str | _Retry | None:
        """Move ``node`` to executing under its lock; return None when this process may run it."""
        changes: list[StateChange] = []
        state = read_state(connection, node.query_id)
        if state == QueryState.EXECUTING:
            # The lock is free, so the process that set this state has died: recover the query.
            changes.extend(reset(connection, node.query_id, include_unfinished=True))
            self.backend.discard_unfinished(connection, node.query_id)
            state = QueryState.KNOWN
        if state in (QueryState.KNOWN, AWOL):
            if state == AWOL:
                register_plan(connection, node)
            queued = apply_event(connection, node.query_id, Event.QUEUE, owner=self.worker_id)
            if queued is not None:
                changes.append(queued)
            state = QueryState.QUEUED
        connection.commit()
        self.notifier.state_changed(changes)
        if state != QueryState.QUEUED:
            return _Retry.LATER if state == QueryState.RESETTING else state

        # Shared locks on the dependencies keep them from being evicted while this query reads.
        for dependency in node.dependencies:
            if not try_lock(connection, query_lock_key(dependency.query_id), shared=True):
                connection.commit()
                return _Retry.LATER
        missing = _unstored(connection, [d.query_id for d in node.dependencies])
        connection.commit()
        if missing:
            log.info("query %s: dependencies %s are no longer stored", node.query_id, missing)
            return _Retry.DEPENDENCIES
        for dependency in node.dependencies:
            self.backend.touch(dependency.query_id, access="dependency")

        backend_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        executing = apply_event(
            connection,
            node.query_id,
            Event.EXECUTE,
            owner=self.worker_id,
            backend_pid=backend_pid,
        )
        connection.commit()
        if executing is None:
            state = read_state(connection, node.query_id)
            connection.commit()
            return state if state in SETTLED_STATES else _Retry.LATER
        self.notifier.state_changed(executing)
        return None

    def _compute(self, connection: Connection, node: PlannedQuery) -> str:
        """Build and store the result; commit it together with ``executing -> completed``."""
        backend_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        try:
            built = node.build()
            # A cancel that arrived while this backend was idle did not interrupt anything, so
            # look at the state once more before the expensive statement starts.
            if read_state(connection, node.query_id) != QueryState.EXECUTING:
                connection.rollback()
                return self._current_state(node.query_id)
            _lock_subsets(connection, node, built)
            stored = self.backend.store(connection, node, built)
            finished = apply_event(connection, node.query_id, Event.FINISH)
            if finished is None:
                # Cancelled while computing: the result must not appear.
                connection.rollback()
                return self._current_state(node.query_id)
            connection.commit()
        except Exception as error:
            _rollback_quietly(connection)
            # cancel() marks the query cancelled before it stops the SQL. Any other cancel (an
            # administrator's, a statement timeout) is an error of this run, as in FlowKit.
            cancelled_here = self._current_state(node.query_id) == QueryState.CANCELLED
            if cancelled_here and _caused_by(error, psycopg.errors.QueryCanceled):
                return self._record_cancelled(node, backend_pid)
            log.warning(
                "query %s (%s) failed: %s",
                node.query_id,
                node.query_kind,
                _describe(error),
                exc_info=True,
            )
            return self._record_error(node, _describe(error), backend_pid)
        self.notifier.state_changed(finished)
        self.notifier.cache_event(
            "stored",
            node.query_id,
            node.query_kind,
            {
                "table": stored.table,
                "compute_time_ms": stored.compute_time_ms,
                "size_bytes": stored.size_bytes,
            },
        )
        return QueryState.COMPLETED

    def _record_error(self, node: PlannedQuery, message: str, backend_pid: int) -> str:
        """Move this run of a query to errored with ``message``; return its state afterwards."""
        with self.engine.begin() as connection:
            errored = apply_event(
                connection, node.query_id, Event.ERROR, error=message, expected_pid=backend_pid
            )
            state = read_state(connection, node.query_id)
        if errored is not None:
            self.notifier.state_changed(errored)
        return state

    def _error_out(self, node: PlannedQuery, message: str) -> str:
        """Error a query that is executing, or queued (through executing); return its state.

        When even that fails (the database is unreachable) the failure is logged and the
        query's future settles as errored in this process.
        """
        try:
            changes: list[StateChange] = []
            with self.engine.begin() as connection:
                executing = apply_event(
                    connection, node.query_id, Event.EXECUTE, owner=self.worker_id
                )
                if executing is not None:
                    changes.append(executing)
                errored = apply_event(connection, node.query_id, Event.ERROR, error=message)
                if errored is not None:
                    changes.append(errored)
                state = read_state(connection, node.query_id)
        except Exception:
            log.exception("query %s: could not record its error %r", node.query_id, message)
            return QueryState.ERRORED
        self.notifier.state_changed(changes)
        return state

    def _record_cancelled(self, node: PlannedQuery, backend_pid: int) -> str:
        """Settle a run whose SQL ``cancel`` stopped."""
        with self.engine.begin() as connection:
            cancelled = apply_event(
                connection, node.query_id, Event.CANCEL, expected_pid=backend_pid
            )
            state = read_state(connection, node.query_id)
        if cancelled is not None:
            self.notifier.state_changed(cancelled)
        return state

    def _fail_for_dependencies(
        self, node: PlannedQuery, failed: Sequence[tuple[PlannedQuery, str]]
    ) -> None:
        """Settle a queued query whose dependencies errored or were cancelled.

        An errored dependency errors the query (queued -> executing -> errored). If every
        failed dependency was cancelled, the query is cancelled too.
        """
        reasons = []
        for dependency, state in failed:
            reason = f"dependency {dependency.query_id} ({dependency.query_kind}) "
            reason += DESCRIPTIONS.get(state, state)
            detail = self.error(dependency.query_id)
            if detail:
                reason += f": {detail}"
            reasons.append(reason)
        message = "; ".join(reasons)
        log.info("query %s cannot run: %s", node.query_id, message)
        if all(state == QueryState.CANCELLED for _, state in failed):
            with self.engine.begin() as connection:
                cancelled = apply_event(connection, node.query_id, Event.CANCEL)
                state = read_state(connection, node.query_id)
            if cancelled is not None:
                self.notifier.state_changed(cancelled)
        else:
            state = self._error_out(node, message)
        self._finish(node, state, 1)

    def _current_state(self, query_id: str) -> str:
        with self.engine.connect() as connection:
            return read_state(connection, query_id)

    # -- reporting -----------------------------------------------------------------------

    def state(self, query_id: str) -> str:
        """Return a query's state, or ``awol`` for an id that no one submitted."""
        if not _is_query_id(query_id):
            return AWOL
        return self._current_state(query_id)

    def progress(self, query_id: str) -> Progress:
        """Return how many queries of a tree are unstored, queued and executing.

        Raises:
            QueryNotFoundError: for an id that no one submitted.
        """
        if not _is_query_id(query_id):
            raise QueryNotFoundError(query_id)
        with self.engine.connect() as connection:
            progress = read_progress(connection, query_id)
            if progress is None and read_state(connection, query_id) == QueryState.COMPLETED:
                progress = Progress(0, 0, 0)
        if progress is None:
            raise QueryNotFoundError(query_id)
        return progress

    def wait(self, query_id: str, timeout: float | None = None) -> str:
        """Block until a query is completed, errored, cancelled or known; return that state.

        Returns the current state when ``timeout`` seconds pass first, and ``awol`` at once for
        an id that no one submitted.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_FIRST_DELAY
        while True:
            state = self.state(query_id)
            if state in SETTLED_STATES or state == AWOL:
                return state
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return state
            pause = delay if remaining is None else min(delay, remaining)
            # Woken early by state changes made in this process; other processes' changes
            # are seen by polling.
            with self._state_changed:
                self._state_changed.wait(pause)
            delay = min(delay * 2, _POLL_MAX_DELAY)

    def _wake_waiters(self, _: object = None) -> None:
        with self._state_changed:
            self._state_changed.notify_all()

    def cancel(self, query_id: str) -> bool:
        """Cancel a queued or executing query, in any process; return whether it was cancelled.

        An executing query's SQL is stopped with ``pg_cancel_backend`` and its transaction
        rolls back, so no table is left behind.
        """
        if not _is_query_id(query_id):
            return False
        with self.engine.begin() as connection:
            cancelled = apply_event(connection, query_id, Event.CANCEL)
        if cancelled is None:
            return False
        self.notifier.state_changed(cancelled)
        if cancelled.old_state == QueryState.EXECUTING and cancelled.backend_pid is not None:
            self._interrupt(query_id, cancelled.backend_pid)
        return True

    def _interrupt(self, query_id: str, backend_pid: int) -> None:
        """Cancel the SQL of ``backend_pid`` for as long as that backend holds the query's lock.

        PostgreSQL ignores a cancel that reaches a backend between statements, so the cancel
        is repeated until the worker lets the lock go, for at most ``_CANCEL_RETRY_SECONDS``.
        """
        classid, objid = pg_locks_fields(query_lock_key(query_id))
        deadline = time.monotonic() + _CANCEL_RETRY_SECONDS
        attempts = 0
        while True:
            with self.engine.connect() as connection:
                holding = connection.execute(
                    text(
                        "SELECT pg_cancel_backend(l.pid) FROM pg_locks AS l "
                        "WHERE l.locktype = 'advisory' AND l.pid = :pid AND l.granted "
                        "AND l.mode = 'ExclusiveLock' AND l.classid = CAST(:classid AS oid) "
                        "AND l.objid = CAST(:objid AS oid) AND l.objsubid = 1"
                    ),
                    {"pid": backend_pid, "classid": classid, "objid": objid},
                ).scalar()
                connection.commit()
            if not holding or time.monotonic() >= deadline:
                break
            attempts += 1
            time.sleep(_POLL_FIRST_DELAY * 5)
        log.info(
            "query %s: cancel sent to backend %s %d times (%s)",
            query_id,
            backend_pid,
            attempts + (1 if holding else 0),
            "still running" if holding else "stopped",
        )

    def error(self, query_id: str) -> str | None:
        """Return why a query errored, or None when it has no error (or is unknown)."""
        if not _is_query_id(query_id):
            return None
        with self.engine.connect() as connection:
            row = state_row(connection, query_id)
        return None if row is None else row["error"]

    def spec(self, query_id: str) -> Mapping[str, Any] | None:
        """Return the spec JSON a query was submitted with (with its ``query_kind``), or None."""
        if not _is_query_id(query_id):
            return None
        with self.engine.connect() as connection:
            row = state_row(connection, query_id)
            if row is not None:
                return dict(row["spec"])
            stored = connection.execute(
                text("SELECT spec FROM cache.cached WHERE query_id = :query_id"),
                {"query_id": query_id},
            ).scalar()
        return None if stored is None else dict(stored)

    def spec_and_state(self, query_id: str) -> tuple[Mapping[str, Any], str] | None:
        """Return a query's spec JSON and state, read in one statement, or None for an unknown id.

        The values are those that ``spec`` and ``state`` return. A query with neither a state
        row nor a stored spec is unknown.
        """
        if not _is_query_id(query_id):
            return None
        # Autocommit: one statement needs no BEGIN and ROLLBACK round trips.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(
                text(
                    "SELECT coalesce(s.spec, c.spec) AS spec, "
                    "coalesce(s.state, 'completed') AS state "
                    "FROM (SELECT CAST(:query_id AS character(32)) AS query_id) AS ids "
                    "LEFT JOIN cache.query_states AS s ON s.query_id = ids.query_id "
                    "LEFT JOIN cache.cached AS c ON c.query_id = ids.query_id "
                    "WHERE s.query_id IS NOT NULL OR c.query_id IS NOT NULL"
                ),
                {"query_id": query_id},
            ).one_or_none()
        if row is None or row.spec is None:
            return None
        return dict(row.spec), row.state

    def query_kind(self, query_id: str) -> str | None:
        """Return the kind a query was submitted as, or None for an unknown id."""
        if not _is_query_id(query_id):
            return None
        with self.engine.connect() as connection:
            row = state_row(connection, query_id)
        return None if row is None else row["query_kind"]

    def result_table(self, query_id: str) -> Table:
        """Return the table holding a completed query's result.

        Raises:
            QueryNotFoundError: when the query's result is not stored.
        """
        if not _is_query_id(query_id):
            raise QueryNotFoundError(query_id)
        return self.backend.result_table(query_id)


def _lock_subsets(connection: Connection, node: PlannedQuery, built: BuiltQuery) -> None:
    """Take the shared lock of each subscriber subset the query reads, as of its dependencies.

    Dependencies are locked when the query is claimed, but subsets are known only once it is
    built. Removal needs the exclusive lock, so eviction skips a locked subset and
    invalidation waits for it. The locks end with the connection, after the result is stored.

    Raises:
        FlowcoreError: when a subset is being removed or is no longer stored.
    """
    for query_id in built.subsets:
        table_name = f"{CACHE_SCHEMA}.{cache_table_name(query_id)}"
        locked = try_lock(connection, query_lock_key(query_id), shared=True)
        exists = connection.execute(text("SELECT to_regclass(:name)"), {"name": table_name})
        if not locked or exists.scalar() is None:
            raise FlowcoreError(
                f"the subscriber subset {query_id} is no longer stored; run it again, then "
                f"query {node.query_id}"
            )


def _dependencies_first(plan: PlannedQuery) -> list[PlannedQuery]:
    """Return the queries of a tree, each once, every query after all of its dependencies."""
    order: list[PlannedQuery] = []
    seen: set[str] = set()
    stack: list[tuple[PlannedQuery, bool]] = [(plan, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node.query_id in seen:
            continue
        seen.add(node.query_id)
        stack.append((node, True))
        stack.extend((dependency, False) for dependency in reversed(node.dependencies))
    return order


def _unstored(connection: Connection, query_ids: Sequence[str]) -> list[str]:
    """Return the ids among ``query_ids`` that have no stored result."""
    if not query_ids:
        return []
    stored = set(
        connection.execute(
            text(
                "SELECT rtrim(query_id) FROM cache.cached "
                "WHERE query_id = ANY(CAST(:ids AS character(32)[]))"
            ),
            {"ids": list(query_ids)},
        ).scalars()
    )
    return [query_id for query_id in query_ids if query_id not in stored]


def _is_query_id(query_id: object) -> bool:
    return isinstance(query_id, str) and QUERY_ID_PATTERN.fullmatch(query_id) is not None


def _caused_by(error: BaseException, kind: type[Exception]) -> bool:
    return isinstance(error, DBAPIError) and isinstance(error.orig, kind)


def _describe(error: BaseException) -> str:
    """Return a one-line reason for a failure, without the SQL or a traceback."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        diagnostic = getattr(error.orig, "diag", None)
        primary = getattr(diagnostic, "message_primary", None)
        if primary:
            return str(primary)
        return str(error.orig).splitlines()[0]
    text_ = str(error).splitlines()[0] if str(error) else ""
    if isinstance(error, FlowcoreError) and text_:
        # flowcore's own messages are written for the user already.
        return text_
    return f"{type(error).__name__}: {text_}" if text_ else type(error).__name__


def _rollback_quietly(connection: Connection) -> None:
    try:
        connection.rollback()
    except DBAPIError:
        log.debug("rollback failed on a broken connection", exc_info=True)
