"""Cached runs: a stored query is reused in two statements and stays correct under removal."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import flowcore
import flowcore.result
import flowcore.session
from flowcore.cache.reload import invalidate_reloaded_day
from flowcore.errors import QueryNotFoundError
from flowcore.hookspecs import hookimpl
from flowcore.session import Session, create_flowdb_engine
from flowcore.testing import insert_cells, insert_events

DAY = dt.date(2016, 1, 1)

SPEC = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": DAY.isoformat(),
        "method": "last",
        "aggregation_unit": "lon-lat",
        "event_types": ["calls"],
    },
}


def call(msisdn: str, hour: int, cell: str) -> dict[str, Any]:
    """An outgoing call on DAY at ``hour`` from ``cell``."""
    return {
        "msisdn": msisdn,
        "datetime": f"{DAY.isoformat()} {hour:02d}:00:00",
        "location_id": cell,
        "outgoing": True,
    }


class HitRecorder:
    """A plugin that records hit events and can run an action on the next one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: list[tuple[str, dict[str, Any]]] = []
        self.on_next_hit: Any = None

    @hookimpl
    def flowcore_cache_event(
        self, event: str, query_id: str, query_kind: str, details: dict[str, Any]
    ) -> None:
        if event != "hit":
            return
        with self.lock:
            self.hits.append((query_id, dict(details)))
            action, self.on_next_hit = self.on_next_hit, None
        if action is not None:
            action(query_id)


@pytest.fixture
def dsn(fresh_dsn: str) -> str:
    """A fresh database with two cells and three subscribers' calls on DAY."""
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 85.0, "lat": 27.0}, {"id": "c2", "lon": 86.0, "lat": 28.0}],
    )
    insert_events(
        fresh_dsn, "calls", [call("a", 9, "c1"), call("b", 10, "c1"), call("c", 11, "c2")]
    )
    return fresh_dsn


@pytest.fixture
def recorder() -> HitRecorder:
    """The hit recorder of one test."""
    return HitRecorder()


@pytest.fixture
def session(dsn: str, recorder: HitRecorder) -> Iterator[Session]:
    """A session on ``dsn`` that announces cache events to ``recorder``."""
    with flowcore.connect(dsn, plugins=[recorder]) as session:
        yield session


def counts(session: Session) -> dict[tuple[float, float], int]:
    """Run SPEC and return its subscriber count per (lon, lat)."""
    result = session.run(SPEC)
    assert result.columns == ["lon", "lat", "value"]
    return {(lon, lat): value for lon, lat, value in result.rows()}


def access_row(session: Session, query_id: str) -> sa.Row[Any]:
    """Return the access statistics of a stored result."""
    with session.engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT access_count, last_accessed, cache_score_multiplier "
                "FROM cache.cached WHERE query_id = :id"
            ),
            {"id": query_id},
        ).one()


def test_cached_run_touches_access_statistics(session: Session, recorder: HitRecorder) -> None:
    first = counts(session)
    query_id = session.query_id(SPEC)
    before = access_row(session, query_id)
    recorder.hits.clear()

    second = counts(session)

    after = access_row(session, query_id)
    assert second == first
    # A run counts as a submission and a read, as an uncached run does.
    assert after.access_count == before.access_count + 2
    assert after.last_accessed > before.last_accessed
    assert after.cache_score_multiplier > before.cache_score_multiplier
    assert [details["access"] for _, details in recorder.hits] == ["run", "read"]
    assert [qid for qid, _ in recorder.hits] == [query_id, query_id]
    assert [details["access_count"] for _, details in recorder.hits] == [
        before.access_count + 1,
        before.access_count + 2,
    ]


def test_cached_run_needs_two_statements(session: Session) -> None:
    expected = counts(session)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(session.engine, "before_cursor_execute", record)
    try:
        rows = counts(session)
    finally:
        sa.event.remove(session.engine, "before_cursor_execute", record)

    assert rows == expected
    assert len(statements) == 2, statements
    assert "touch_cache" in statements[0]


def test_cached_submit_touches_once(session: Session, recorder: HitRecorder) -> None:
    counts(session)
    query_id = session.query_id(SPEC)
    before = access_row(session, query_id)
    recorder.hits.clear()

    assert session.submit(SPEC) == query_id

    assert access_row(session, query_id).access_count == before.access_count + 1
    assert [details["access"] for _, details in recorder.hits] == ["run"]


def test_reloaded_day_invalidates_cached_run(session: Session, dsn: str) -> None:
    assert counts(session) == {(85.0, 27.0): 2, (86.0, 28.0): 1}
    query_id = session.query_id(SPEC)
    # Subscriber b's last call of the day moves to c2.
    insert_events(dsn, "calls", [call("b", 20, "c2")])

    removed = invalidate_reloaded_day(dsn, "calls", DAY)

    assert query_id in removed
    assert session.executor.state(query_id) == "known"
    assert counts(session) == {(85.0, 27.0): 1, (86.0, 28.0): 2}
    assert session.executor.state(query_id) == "completed"


def test_cleared_cache_recomputes(session: Session) -> None:
    expected = counts(session)
    query_id = session.query_id(SPEC)

    assert session.cache.clear() >= 1

    assert session.executor.state(query_id) == "known"
    assert counts(session) == expected
    assert session.cache.is_stored(query_id)


def test_result_removed_after_hit_recomputes(session: Session, recorder: HitRecorder) -> None:
    """An invalidation that commits between the hit and the read makes the run compute again."""
    expected = counts(session)
    query_id = session.query_id(SPEC)
    removed: list[str] = []
    recorder.on_next_hit = lambda qid: removed.extend(session.cache.invalidate(qid))

    rows = counts(session)

    assert query_id in removed
    assert rows == expected
    assert session.executor.state(query_id) == "completed"
    assert session.cache.is_stored(query_id)


def test_touch_completed_misses_unfinished_query(session: Session) -> None:
    counts(session)
    query_id = session.query_id(SPEC)
    with session.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE cache.query_states SET state = 'errored' WHERE query_id = :id"),
            {"id": query_id},
        )

    with session.engine.connect() as connection:
        hit = session.cache.touch_completed(connection, query_id)
        connection.commit()

    assert hit is None


def test_touch_completed_reports_table_and_rows(session: Session) -> None:
    counts(session)
    query_id = session.query_id(SPEC)

    with session.engine.connect() as connection:
        hit = session.cache.touch_completed(connection, query_id, accesses=("read",))
        connection.commit()

    assert hit is not None
    assert hit.table == f"cache.x{query_id}"
    assert hit.query_kind == "spatial_aggregate"
    assert hit.estimated_rows == 2
    assert hit.score > 0


def test_spec_and_state_reads_both(session: Session) -> None:
    counts(session)
    query_id = session.query_id(SPEC)

    found = session.executor.spec_and_state(query_id)

    assert found is not None
    spec, state = found
    assert state == "completed"
    assert spec["query_kind"] == "spatial_aggregate"
    assert session.spec(spec) == session.spec(SPEC)
    assert session.executor.spec_and_state("0" * 32) is None
    assert session.executor.spec_and_state("not an id") is None


def test_idle_connection_replaced_after_drop(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_flowdb_engine(dsn)
    try:
        with engine.connect() as connection:
            first_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        # Every checkout now counts as idle, so the dropped connection is pinged and replaced.
        monkeypatch.setattr(flowcore.session, "PING_AFTER_IDLE_SECONDS", 0.0)

        with engine.connect() as connection:
            second_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

        assert second_pid != first_pid
    finally:
        engine.dispose()


def _terminate_idle_connections(dsn: str) -> int:
    """Terminate the idle connections to the database of ``dsn``; return how many went.

    Connections that hold an advisory lock (an executor's liveness lock) are spared, and each
    termination waits until the backend has exited.
    """
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(a.pid, 5000) FROM pg_stat_activity AS a "
            "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
            "AND a.state = 'idle' AND NOT EXISTS (SELECT 1 FROM pg_locks AS l "
            "WHERE l.pid = a.pid AND l.locktype = 'advisory')"
        ).fetchall()
    return sum(1 for (terminated,) in rows if terminated)


def test_dropped_connection_within_ping_window_replaced(session: Session, dsn: str) -> None:
    """A pooled connection dropped less than a second after its last use is not handed out."""
    expected = counts(session)
    assert _terminate_idle_connections(dsn) >= 1

    # No ping is due yet: every pooled connection was returned moments ago.
    assert counts(session) == expected


def test_stale_row_estimate_returns_every_row(session: Session) -> None:
    """A result that grew past CHUNK_ROWS after ANALYZE still returns all its rows on a hit."""
    counts(session)
    query_id = session.query_id(SPEC)
    extra = flowcore.result.CHUNK_ROWS + 5
    with session.engine.begin() as connection:
        # Rows added without ANALYZE, so the row estimate is still 2.
        connection.execute(
            sa.text(
                f"INSERT INTO cache.x{query_id} (lon, lat, value) "
                "SELECT 0.0, 0.0, n FROM generate_series(1, :extra) AS n"
            ),
            {"extra": extra},
        )

    result = session.run(SPEC)

    rows = result.rows()
    assert len(rows) == extra + 2
    assert len(result) == extra + 2
    assert sorted(value for _, _, value in rows)[-1] == extra


def test_streamed_hit_removed_before_reading_recomputes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large cached result removed between the run and its iteration is computed again."""
    expected = counts(session)
    query_id = session.query_id(SPEC)
    # Results of more than one row are now left to stream when iterated.
    monkeypatch.setattr(flowcore.session, "CHUNK_ROWS", 1)
    result = session.run(SPEC)

    removed = session.cache.invalidate(query_id)
    rows = {(lon, lat): value for lon, lat, value in result.rows()}

    assert removed == [query_id]
    assert rows == expected
    assert session.executor.state(query_id) == "completed"


def test_result_by_id_removed_before_reading(session: Session) -> None:
    """Iterating a result by id after its removal raises QueryNotFoundError, not a SQL error."""
    counts(session)
    query_id = session.query_id(SPEC)
    result = session.result(query_id)
    session.cache.invalidate(query_id)

    with pytest.raises(QueryNotFoundError, match=query_id):
        result.rows()


def test_hits_while_another_session_clears(session: Session, dsn: str) -> None:
    """Runs in two threads stay correct while a second session clears the cache repeatedly."""
    expected = counts(session)
    failures: list[BaseException] = []
    answers: list[dict[tuple[float, float], int]] = []

    def run_repeatedly() -> None:
        try:
            for _ in range(15):
                answers.append(counts(session))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run_repeatedly) for _ in range(2)]
    with flowcore.connect(dsn) as clearer:
        for thread in threads:
            thread.start()
        cleared = sum(clearer.cache.clear() for _ in range(5))
        for thread in threads:
            thread.join(timeout=120)

    assert failures == []
    assert len(answers) == 30
    assert all(answer == expected for answer in answers)
    assert cleared >= 1


def test_concurrent_hit_reports_its_access_count(
    session: Session, recorder: HitRecorder, dsn: str
) -> None:
    """A hit that waited for another touch reports the access count after both."""
    counts(session)
    query_id = session.query_id(SPEC)
    recorder.hits.clear()
    with psycopg.connect(dsn) as other:
        # Another process touches the result and keeps the row locked until it commits.
        other.execute("SELECT cache.touch_cache(%s)", (query_id,))
        waiting = threading.Thread(target=session.reuse, args=(query_id,))
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()
        other.commit()
    waiting.join(timeout=30)

    assert [details["access_count"] for _, details in recorder.hits] == [
        access_row(session, query_id).access_count
    ]
