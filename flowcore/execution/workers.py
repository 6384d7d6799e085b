"""Executor processes: each registers as a worker, and queries left by dead workers are recovered.

A worker holds a session advisory lock on its own key through a dedicated connection for as long
as it lives. PostgreSQL releases the lock when the connection ends, including when the process is
killed, so a worker row whose lock can be taken belongs to a dead process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from flowcore.cache.backend import CacheBackend
from flowcore.cache.locks import pg_locks_fields, query_lock_key, worker_lock_key
from flowcore.cache.notify import Notifier
from flowcore.cache.states import QueryState, StateChange, reset

__all__ = ["WorkerRegistration", "recover_abandoned_queries", "try_lock", "unlock"]

log = logging.getLogger("flowcore.execution")

# How long recovery waits for a terminated backend to exit, in milliseconds.
_TERMINATE_WAIT_MS = 5000


def try_lock(connection: Connection, key: int, *, shared: bool = False) -> bool:
    """Take a session advisory lock without waiting; return whether it was taken."""
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    return bool(connection.execute(text(f"SELECT {function}(:key)"), {"key": key}).scalar_one())


def unlock(connection: Connection, key: int) -> None:
    """Release an exclusive session advisory lock taken by ``try_lock``."""
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


class WorkerRegistration:
    """This process's row in ``cache.workers``, its liveness lock and its heartbeat thread.

    ``on_heartbeat`` runs in the heartbeat thread after every beat, and the executor recovers
    abandoned queries there. An exception in it is logged and the beats go on.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        heartbeat_seconds: float,
        on_heartbeat: Callable[[], object] | None = None,
    ) -> None:
        if heartbeat_seconds <= 0:
            raise ValueError(
                f"heartbeat_seconds {heartbeat_seconds!r} is invalid: expected seconds > 0"
            )
        self.engine = engine
        self.heartbeat_seconds = heartbeat_seconds
        self.on_heartbeat = on_heartbeat
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.worker_id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._connection: Connection | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Insert the worker row, take the liveness lock and start the heartbeat thread."""
        self._connect()
        self._stopped.clear()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name=f"flowcore-heartbeat-{self.pid}", daemon=True
        )
        self._thread.start()
        log.info("worker %s started", self.worker_id)

    def _connect(self) -> None:
        connection = self.engine.connect()
        try:
            if not try_lock(connection, worker_lock_key(self.worker_id)):
                raise RuntimeError(f"worker lock of {self.worker_id} is already taken")
            connection.execute(
                text(
                    "INSERT INTO cache.workers (worker_id, host, pid) VALUES (:worker_id, :host, "
                    ":pid) ON CONFLICT (worker_id) DO UPDATE SET heartbeat = now()"
                ),
                {"worker_id": self.worker_id, "host": self.host, "pid": self.pid},
            )
            connection.commit()
        except BaseException:
            connection.invalidate()
            connection.close()
            raise
        self._connection = connection

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self.heartbeat_seconds):
            self.beat()
            if self.on_heartbeat is not None:
                try:
                    self.on_heartbeat()
                except Exception:
                    log.exception(
                        "recovery after the heartbeat of worker %s failed", self.worker_id
                    )

    def beat(self) -> None:
        """Record that the worker is alive; reconnect (and lock again) if its connection died."""
        try:
            if self._connection is None:
                self._connect()
                return
            self._connection.execute(
                text("UPDATE cache.workers SET heartbeat = now() WHERE worker_id = :worker_id"),
                {"worker_id": self.worker_id},
            )
            self._connection.commit()
        except DBAPIError:
            log.warning(
                "worker %s lost its database connection; reconnecting",
                self.worker_id,
                exc_info=True,
            )
            self._discard_connection()
            try:
                self._connect()
            except Exception:
                log.exception("worker %s could not reconnect", self.worker_id)

    def stop(self) -> None:
        """Stop the heartbeat, delete the worker row and release the liveness lock."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("DELETE FROM cache.workers WHERE worker_id = :worker_id"),
                    {"worker_id": self.worker_id},
                )
                self._connection.commit()
            except DBAPIError:
                log.warning("could not delete the row of worker %s", self.worker_id, exc_info=True)
            # Closing the connection (not returning it to the pool) releases the lock.
            self._discard_connection()
        log.info("worker %s stopped", self.worker_id)

    def _discard_connection(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.invalidate()
            self._connection.close()
        except DBAPIError:
            pass
        self._connection = None


def recover_abandoned_queries(
    engine: Engine, backend: CacheBackend, notifier: Notifier, *, own_worker_id: str
) -> list[str]:
    """Reset to ``known`` the queries that dead workers left queued or executing.

    A query is abandoned when its owner's lock is free (or its owner has no row) and no one
    holds the query's own lock. Any table half made for it is dropped. Returns the reset ids.
    """
    recovered: list[str] = []
    with engine.connect() as connection:
        try:
            others = (
                connection.execute(
                    text("SELECT worker_id FROM cache.workers WHERE worker_id <> :me"),
                    {"me": own_worker_id},
                )
                .scalars()
                .all()
            )
            dead = [worker for worker in others if try_lock(connection, worker_lock_key(worker))]
            connection.commit()
            candidates = (
                connection.execute(
                    text(
                        "SELECT rtrim(s.query_id) FROM cache.query_states AS s "
                        "WHERE s.state IN ('queued', 'executing') "
                        "AND s.owner IS DISTINCT FROM :me AND (s.owner IS NULL "
                        "OR s.owner = ANY(CAST(:dead AS text[])) "
                        "OR NOT EXISTS (SELECT 1 FROM cache.workers AS w "
                        "WHERE w.worker_id = s.owner)) ORDER BY 1"
                    ),
                    {"me": own_worker_id, "dead": dead},
                )
                .scalars()
                .all()
            )
            connection.commit()
            for query_id in candidates:
                changes = _recover_query(connection, backend, query_id, own_worker_id, dead)
                if changes:
                    recovered.append(query_id)
                    notifier.state_changed(changes)
            if dead:
                connection.execute(
                    text("DELETE FROM cache.workers WHERE worker_id = ANY(CAST(:dead AS text[]))"),
                    {"dead": dead},
                )
                for worker in dead:
                    unlock(connection, worker_lock_key(worker))
                connection.commit()
                log.info("removed dead workers %s", ", ".join(dead))
        except BaseException:
            # Closing the connection releases every lock taken above.
            connection.invalidate()
            raise
    if recovered:
        log.warning("reset %d queries abandoned by dead workers: %s", len(recovered), recovered)
    return recovered


def _recover_query(
    connection: Connection,
    backend: CacheBackend,
    query_id: str,
    own_worker_id: str,
    dead: list[str],
) -> list[StateChange]:
    """Reset one abandoned query if it is still abandoned once its lock is held."""
    key = query_lock_key(query_id)
    locked = try_lock(connection, key) or _stop_orphaned_backend(connection, query_id, dead)
    connection.commit()
    if not locked:
        return []  # its SQL is running in a live process
    try:
        row = connection.execute(
            text(
                "SELECT s.state, s.owner, (s.owner IS NOT NULL AND EXISTS (SELECT 1 FROM "
                "cache.workers AS w WHERE w.worker_id = s.owner)) AS owner_registered "
                "FROM cache.query_states AS s WHERE s.query_id = :query_id FOR UPDATE"
            ),
            {"query_id": query_id},
        ).one_or_none()
        abandoned = (
            row is not None
            and row.state in (QueryState.QUEUED, QueryState.EXECUTING)
            and row.owner != own_worker_id
            and (row.owner is None or row.owner in dead or not row.owner_registered)
        )
        if not abandoned:
            connection.rollback()
            return []
        changes = reset(connection, query_id, include_unfinished=True)
        backend.discard_unfinished(connection, query_id)
        connection.commit()
        return changes
    except BaseException:
        connection.rollback()
        raise
    finally:
        unlock(connection, key)
        connection.commit()


def _stop_orphaned_backend(connection: Connection, query_id: str, dead: list[str]) -> bool:
    """Terminate the backend still running a query for a dead worker; return whether it is locked.

    PostgreSQL notices that a client died only when it next talks to it, so the SQL of a
    killed process can run on, holding the query's lock. Only a backend that holds the lock
    for a query whose owner is confirmed dead is terminated.
    """
    if not dead:
        return False
    classid, objid = pg_locks_fields(query_lock_key(query_id))
    terminated = connection.execute(
        text(
            "SELECT pg_terminate_backend(l.pid, :wait_ms) "
            "FROM cache.query_states AS s JOIN pg_locks AS l ON l.pid = s.backend_pid "
            "WHERE s.query_id = :query_id AND s.state = 'executing' "
            "AND s.owner = ANY(CAST(:dead AS text[])) AND l.locktype = 'advisory' "
            "AND l.granted AND l.mode = 'ExclusiveLock' AND l.classid = CAST(:classid AS oid) "
            "AND l.objid = CAST(:objid AS oid) AND l.objsubid = 1"
        ),
        {
            "query_id": query_id,
            "dead": dead,
            "classid": classid,
            "objid": objid,
            "wait_ms": _TERMINATE_WAIT_MS,
        },
    ).scalar()
    connection.commit()
    if not terminated:
        return False
    log.warning("terminated the backend left running query %s by a dead worker", query_id)
    return try_lock(connection, query_lock_key(query_id))
