"""The executor on a real database: states, single flight, dependencies, cancellation, streaming.

Plans are made by hand: ``generate_series`` for results, ``pg_sleep`` for slow queries, a
division by zero for failures, and selects over ``cache.x<id>`` for dependants. A sequence
bumped by each query's SQL counts how often it really ran, rolled-back runs included.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa

import flowcore.hookspecs
from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.errors import QueryNotFoundError
from flowcore.execution.executor import Executor
from flowcore.execution.plan import BuiltQuery, EventRead, PlannedQuery
from flowcore.execution.progress import Progress
from flowcore.hookspecs import hookimpl
from flowcore.settings import Settings
from flowdb.config import sqlalchemy_url

RUNS_SEQUENCE = "public.test_query_runs"


def query_id_of(name: str) -> str:
    """Return the query id used for a test query name."""
    return hashlib.md5(name.encode()).hexdigest()


def make_plan(
    name: str,
    build_select: Callable[[], sa.Select[Any]],
    *,
    dependencies: Sequence[PlannedQuery] = (),
    reads: Sequence[EventRead] = (),
    index_columns: tuple[tuple[str, ...], ...] = (),
    kind: str = "test_query",
) -> PlannedQuery:
    """Return a planned query named ``name`` whose SQL is ``build_select()``."""
    return PlannedQuery(
        query_id=query_id_of(name),
        query_kind=kind,
        spec={"query_kind": kind, "name": name},
        dependencies=tuple(dependencies),
        build=lambda: BuiltQuery(
            select=build_select(), reads=tuple(reads), index_columns=index_columns
        ),
    )


def series_plan(name: str, rows: int = 10, **options: Any) -> PlannedQuery:
    """A query returning ``value`` 1..rows."""
    return make_plan(
        name,
        lambda: sa.select(sa.func.generate_series(1, rows).label("value")),
        index_columns=(("value",),),
        **options,
    )


def counted_sleep_plan(name: str, seconds: float | list[float], **options: Any) -> PlannedQuery:
    """A query that bumps the runs sequence, then sleeps ``seconds`` inside its SQL.

    With a list, each build sleeps for the next duration in it.
    """

    def build() -> sa.Select[Any]:
        duration_s = seconds.pop(0) if isinstance(seconds, list) else seconds
        # The sequence is bumped while the sleep's argument is computed, before the sleep.
        duration = sa.cast(duration_s, sa.Float) + 0 * sa.func.nextval(RUNS_SEQUENCE)
        slept = sa.func.pg_sleep(duration).table_valued("slept")
        return sa.select(sa.literal(1).label("value")).select_from(slept)

    return make_plan(name, build, **options)


def failing_plan(name: str, **options: Any) -> PlannedQuery:
    """A query whose SQL fails with a division by zero."""
    return make_plan(
        name, lambda: sa.select((sa.literal(1) / sa.literal(0)).label("value")), **options
    )


def total_plan(name: str, child: PlannedQuery, **options: Any) -> PlannedQuery:
    """A query summing the ``value`` column of ``child``'s cache table."""

    def build() -> sa.Select[Any]:
        table = sa.table(f"x{child.query_id}", sa.column("value"), schema="cache")
        return sa.select(sa.func.sum(table.c.value).label("value"))

    return make_plan(name, build, dependencies=[child], **options)


class HookRecorder:
    """A plugin that records every state change and cache event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes: list[tuple[str, str, str]] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    @hookimpl
    def flowcore_query_state_changed(
        self, query_id: str, query_kind: str, old_state: str, new_state: str
    ) -> None:
        with self.lock:
            self.changes.append((query_id, old_state, new_state))

    @hookimpl
    def flowcore_cache_event(
        self, event: str, query_id: str, query_kind: str, details: dict[str, Any]
    ) -> None:
        with self.lock:
            self.events.append((event, query_id, dict(details)))

    def transitions(self, query_id: str) -> list[tuple[str, str]]:
        """Return the (old, new) state pairs announced for a query, in order."""
        with self.lock:
            return [(old, new) for qid, old, new in self.changes if qid == query_id]

    def executions(self, query_id: str) -> int:
        """Return how often a query moved to executing."""
        return sum(1 for _, new in self.transitions(query_id) if new == "executing")

    def cache_events(self, event: str, query_id: str) -> list[dict[str, Any]]:
        """Return the details of each cache event of one kind for a query."""
        with self.lock:
            return [d for e, qid, d in self.events if e == event and qid == query_id]


def hook_relay(recorder: HookRecorder) -> Any:
    """Return a pluggy hook relay with ``recorder`` registered."""
    manager = pluggy.PluginManager(flowcore.hookspecs.PROJECT_NAME)
    manager.add_hookspecs(flowcore.hookspecs)
    manager.register(recorder)
    return manager.hook


def make_engine(dsn: str) -> sa.Engine:
    """Create an engine with room for the executor's threads."""
    return sa.create_engine(sqlalchemy_url(dsn), pool_size=10, max_overflow=20)


def runs(engine: sa.Engine) -> int:
    """Return how many counted queries have run (the runs sequence's last value)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {RUNS_SEQUENCE}")
        ).scalar_one()


def table_exists(engine: sa.Engine, query_id: str) -> bool:
    """Return whether ``cache.x<query_id>`` exists."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"cache.x{query_id}"}
        ).scalar_one()


def wait_for_state(executor: Executor, query_id: str, state: str, timeout: float = 20) -> None:
    """Poll until a query reaches ``state``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while executor.state(query_id) != state:
        if time.monotonic() > deadline:
            pytest.fail(f"query {query_id} did not reach {state}: {executor.state(query_id)}")
        time.sleep(0.02)


@pytest.fixture
def engine(fresh_dsn: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database with the runs sequence."""
    engine = make_engine(fresh_dsn)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SEQUENCE {RUNS_SEQUENCE}"))
    yield engine
    engine.dispose()


@pytest.fixture
def recorder() -> HookRecorder:
    """A hook recorder for one test."""
    return HookRecorder()


@pytest.fixture
def start_executor(engine: sa.Engine, recorder: HookRecorder) -> Iterator[Callable[..., Executor]]:
    """Function starting an executor on the test database; every one is stopped afterwards."""
    started: list[Executor] = []

    def start(max_workers: int = 4, **settings: Any) -> Executor:
        hook = hook_relay(recorder)
        backend = PostgresCacheBackend(engine, hook=hook)
        executor = Executor(
            engine,
            backend,
            Settings(max_workers=max_workers, heartbeat_seconds=1, **settings),
            hook=hook,
        )
        executor.start()
        started.append(executor)
        return executor

    yield start
    for executor in started:
        executor.stop(cancel_running=True)


@pytest.fixture
def executor(start_executor: Callable[..., Executor]) -> Executor:
    """A started executor with four workers."""
    return start_executor()


# -- states and storing ------------------------------------------------------------------


def test_submit_stores_result(executor: Executor, engine: sa.Engine) -> None:
    plan = series_plan("stores", rows=100)

    assert executor.submit(plan) == plan.query_id
    assert executor.wait(plan.query_id, timeout=20) == "completed"

    with engine.connect() as connection:
        values = (
            connection.execute(sa.text(f"SELECT value FROM cache.x{plan.query_id} ORDER BY value"))
            .scalars()
            .all()
        )
        cached = connection.execute(
            sa.text("SELECT * FROM cache.cached WHERE query_id = :id"), {"id": plan.query_id}
        ).one()
        indexes = (
            connection.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE tablename = :name"),
                {"name": f"x{plan.query_id}"},
            )
            .scalars()
            .all()
        )
    assert values == list(range(1, 101))
    assert cached.schema == "cache"
    assert cached.tablename == f"x{plan.query_id}"
    assert cached.access_count == 1
    assert cached.compute_time > 0
    assert cached.size_bytes > 0
    assert cached.spec == {"query_kind": "test_query", "name": "stores"}
    assert "CREATE TABLE" in cached.query
    assert len(indexes) == 1
    assert "(value)" in indexes[0]


def test_planner_settings_apply_locally(executor: Executor, engine: sa.Engine) -> None:
    settings = (("enable_nestloop", "off"), ("work_mem", "5MB"))
    plan = PlannedQuery(
        query_id=query_id_of("planner settings"),
        query_kind="test_query",
        spec={"query_kind": "test_query", "name": "planner settings"},
        dependencies=(),
        build=lambda: BuiltQuery(
            select=sa.select(
                sa.func.current_setting("enable_nestloop").label("nestloop"),
                sa.func.current_setting("work_mem").label("work_mem"),
            ),
            planner_settings=settings,
        ),
    )

    executor.submit(plan)

    assert executor.wait(plan.query_id, timeout=20) == "completed"
    with engine.connect() as connection:
        stored = connection.execute(sa.text(f"SELECT * FROM cache.x{plan.query_id}")).one()
        after = connection.execute(sa.text("SELECT current_setting('enable_nestloop')")).scalar()
    assert stored.nestloop == "off"
    assert stored.work_mem == "5MB"
    assert after == "on"


def test_states_follow_transitions(executor: Executor, recorder: HookRecorder) -> None:
    plan = series_plan("transitions")

    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)

    assert recorder.transitions(plan.query_id) == [
        ("known", "queued"),
        ("queued", "executing"),
        ("executing", "completed"),
    ]
    stored = recorder.cache_events("stored", plan.query_id)
    assert len(stored) == 1
    assert stored[0]["table"] == f"cache.x{plan.query_id}"


def test_unknown_id_is_awol(executor: Executor) -> None:
    unknown = query_id_of("never submitted")

    assert executor.state(unknown) == "awol"
    assert executor.state("not-an-id") == "awol"
    assert executor.wait(unknown, timeout=1) == "awol"
    assert executor.spec(unknown) is None
    assert executor.error(unknown) is None
    assert executor.cancel(unknown) is False
    with pytest.raises(QueryNotFoundError):
        executor.progress(unknown)
    with pytest.raises(QueryNotFoundError):
        executor.result_table(unknown)


def test_resubmit_is_cache_hit(
    executor: Executor, recorder: HookRecorder, engine: sa.Engine
) -> None:
    plan = series_plan("hit")
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)

    executor.submit(plan)

    assert recorder.executions(plan.query_id) == 1
    hits = recorder.cache_events("hit", plan.query_id)
    assert [hit["access"] for hit in hits] == ["run"]
    with engine.connect() as connection:
        access_count = connection.execute(
            sa.text("SELECT access_count FROM cache.cached WHERE query_id = :id"),
            {"id": plan.query_id},
        ).scalar_one()
    assert access_count == 2


def test_spec_and_result_table(executor: Executor) -> None:
    plan = series_plan("spec", rows=3)
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)

    assert executor.spec(plan.query_id) == {"query_kind": "test_query", "name": "spec"}
    assert executor.query_kind(plan.query_id) == "test_query"
    table = executor.result_table(plan.query_id)
    assert table.schema == "cache"
    assert table.name == f"x{plan.query_id}"
    assert list(table.c.keys()) == ["value"]


def test_failed_query_is_errored(executor: Executor, engine: sa.Engine) -> None:
    plan = failing_plan("fails")

    executor.submit(plan)

    assert executor.wait(plan.query_id, timeout=20) == "errored"
    assert executor.error(plan.query_id) == "division by zero"
    assert not table_exists(engine, plan.query_id)


def test_errored_query_is_not_rerun(executor: Executor, recorder: HookRecorder) -> None:
    plan = failing_plan("errored stays")
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)

    executor.submit(plan)

    assert executor.state(plan.query_id) == "errored"
    assert recorder.executions(plan.query_id) == 1


def test_build_exception_is_errored(executor: Executor) -> None:
    def broken() -> sa.Select[Any]:
        raise KeyError("missing_column")

    plan = make_plan("broken build", broken)
    executor.submit(plan)

    assert executor.wait(plan.query_id, timeout=20) == "errored"
    assert executor.error(plan.query_id) == "KeyError: 'missing_column'"


def test_invalid_index_column_is_errored(executor: Executor, engine: sa.Engine) -> None:
    plan = make_plan(
        "bad index",
        lambda: sa.select(sa.literal(1).label("value")),
        index_columns=(("pcod",),),
    )
    executor.submit(plan)

    assert executor.wait(plan.query_id, timeout=20) == "errored"
    error = executor.error(plan.query_id) or ""
    assert "pcod" in error
    assert "['value']" in error
    assert not table_exists(engine, plan.query_id)


def test_invalid_query_id_rejected(executor: Executor) -> None:
    plan = PlannedQuery(
        query_id="x; DROP TABLE cache.cached",
        query_kind="test_query",
        spec={},
        dependencies=(),
        build=lambda: BuiltQuery(sa.select(sa.literal(1))),
    )

    with pytest.raises(ValueError, match="32 lowercase hex digits"):
        executor.submit(plan)


def test_submit_needs_started_executor(engine: sa.Engine) -> None:
    executor = Executor(engine, PostgresCacheBackend(engine), Settings(max_workers=1))

    with pytest.raises(RuntimeError, match="start"):
        executor.submit(series_plan("not started"))


# -- single flight -----------------------------------------------------------------------


def test_parallel_identical_submissions_run_once(
    executor: Executor, recorder: HookRecorder, engine: sa.Engine
) -> None:
    plan = counted_sleep_plan("twenty at once", 0.5)
    barrier = threading.Barrier(20)
    returned: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        query_id = executor.submit(plan)
        with lock:
            returned.append(query_id)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert returned == [plan.query_id] * 20
    assert executor.wait(plan.query_id, timeout=20) == "completed"
    assert recorder.executions(plan.query_id) == 1
    assert runs(engine) == 1
    with engine.connect() as connection:
        tables = connection.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'cache' AND tablename = :t"),
            {"t": f"x{plan.query_id}"},
        ).scalar_one()
    assert tables == 1


def test_two_executors_agree(
    engine: sa.Engine, fresh_dsn: str, start_executor: Callable[..., Executor]
) -> None:
    first = start_executor()
    other_engine = make_engine(fresh_dsn)
    recorder = HookRecorder()
    hook = hook_relay(recorder)
    second = Executor(
        other_engine,
        PostgresCacheBackend(other_engine, hook=hook),
        Settings(max_workers=2, heartbeat_seconds=1),
        hook=hook,
    )
    second.start()
    try:
        plan = counted_sleep_plan("two executors", 1.0)
        first.submit(plan)
        wait_for_state(second, plan.query_id, "executing")

        assert second.submit(plan) == plan.query_id
        assert second.state(plan.query_id) == "executing"
        assert second.wait(plan.query_id, timeout=20) == "completed"
        assert first.state(plan.query_id) == "completed"
        assert recorder.executions(plan.query_id) == 0
        assert runs(engine) == 1
    finally:
        second.stop()
        other_engine.dispose()


def test_dependency_shared_between_executors(
    engine: sa.Engine, fresh_dsn: str, start_executor: Callable[..., Executor]
) -> None:
    first = start_executor()
    other_engine = make_engine(fresh_dsn)
    second = Executor(
        other_engine,
        PostgresCacheBackend(other_engine),
        Settings(max_workers=1, heartbeat_seconds=1),
    )
    second.start()
    try:
        child = counted_sleep_plan("shared child", 1.0)
        first.submit(child)
        wait_for_state(first, child.query_id, "executing")
        parent = total_plan("parent of shared child", child)

        second.submit(parent)

        assert second.wait(parent.query_id, timeout=20) == "completed"
        assert runs(engine) == 1
    finally:
        second.stop()
        other_engine.dispose()


# -- dependencies ------------------------------------------------------------------------


def test_deep_tree_with_one_worker(
    start_executor: Callable[..., Executor], engine: sa.Engine
) -> None:
    executor = start_executor(max_workers=1)
    node = series_plan("chain 0", rows=10)
    for level in range(1, 6):
        node = total_plan(f"chain {level}", node)

    executor.submit(node)

    assert executor.wait(node.query_id, timeout=30) == "completed"
    with engine.connect() as connection:
        value = connection.execute(sa.text(f"SELECT value FROM cache.x{node.query_id}")).scalar()
    assert value == 55


def test_wide_tree_with_one_worker(
    start_executor: Callable[..., Executor], engine: sa.Engine
) -> None:
    executor = start_executor(max_workers=1)
    children = [series_plan(f"leaf {index}", rows=index) for index in range(1, 6)]

    def build() -> sa.Select[Any]:
        parts = [
            sa.select(sa.table(f"x{c.query_id}", sa.column("value"), schema="cache").c.value)
            for c in children
        ]
        union = sa.union_all(*parts).subquery()
        return sa.select(sa.func.sum(union.c.value).label("value"))

    parent = make_plan("wide parent", build, dependencies=children)
    executor.submit(parent)

    assert executor.wait(parent.query_id, timeout=30) == "completed"
    with engine.connect() as connection:
        value = connection.execute(sa.text(f"SELECT value FROM cache.x{parent.query_id}")).scalar()
        dependencies = connection.execute(
            sa.text("SELECT count(*) FROM cache.dependencies WHERE query_id = :id"),
            {"id": parent.query_id},
        ).scalar_one()
    assert value == 1 + 3 + 6 + 10 + 15
    assert dependencies == 5


def test_failed_child_errors_parent(executor: Executor, engine: sa.Engine) -> None:
    child = failing_plan("failing child")
    parent = total_plan("parent of failing child", child)

    executor.submit(parent)

    assert executor.wait(parent.query_id, timeout=20) == "errored"
    assert executor.state(child.query_id) == "errored"
    error = executor.error(parent.query_id) or ""
    assert child.query_id in error
    assert "division by zero" in error
    assert not table_exists(engine, parent.query_id)


def test_errored_child_rerun_for_new_parent(executor: Executor) -> None:
    attempts: list[int] = []

    def flaky() -> sa.Select[Any]:
        attempts.append(1)
        if len(attempts) == 1:
            return sa.select((sa.literal(1) / sa.literal(0)).label("value"))
        return sa.select(sa.literal(5).label("value"))

    child = make_plan("flaky child", flaky)
    executor.submit(child)
    assert executor.wait(child.query_id, timeout=20) == "errored"

    parent = total_plan("parent of flaky child", child)
    executor.submit(parent)

    assert executor.wait(parent.query_id, timeout=20) == "completed"
    assert executor.state(child.query_id) == "completed"


def test_progress_counts_during_execution(executor: Executor) -> None:
    child = counted_sleep_plan("slow child", 1.5)
    parent = total_plan("parent of slow child", child)

    executor.submit(parent)
    wait_for_state(executor, child.query_id, "executing")

    assert executor.progress(parent.query_id) == Progress(eligible=2, queued=1, running=1)
    assert executor.progress(child.query_id) == Progress(eligible=1, queued=0, running=1)
    assert executor.wait(parent.query_id, timeout=20) == "completed"
    assert executor.progress(parent.query_id) == Progress(0, 0, 0)
    assert executor.progress(parent.query_id).as_dict() == {
        "eligible": 0,
        "queued": 0,
        "running": 0,
    }


def test_stored_child_not_rerun(
    executor: Executor, recorder: HookRecorder, engine: sa.Engine
) -> None:
    child = series_plan("stored child", rows=4)
    executor.submit(child)
    executor.wait(child.query_id, timeout=20)
    parent = total_plan("parent of stored child", child)

    assert executor.progress(child.query_id) == Progress(0, 0, 0)
    executor.submit(parent)

    assert executor.wait(parent.query_id, timeout=20) == "completed"
    assert recorder.executions(child.query_id) == 1
    assert [hit["access"] for hit in recorder.cache_events("hit", child.query_id)] == ["dependency"]


def test_evicted_child_recomputed_for_parent(executor: Executor, engine: sa.Engine) -> None:
    child = series_plan("evicted child", rows=4)
    executor.submit(child)
    executor.wait(child.query_id, timeout=20)
    executor.backend.invalidate(child.query_id)
    assert executor.state(child.query_id) == "known"

    parent = total_plan("parent of evicted child", child)
    executor.submit(parent)

    assert executor.wait(parent.query_id, timeout=20) == "completed"
    assert executor.state(child.query_id) == "completed"
    with engine.connect() as connection:
        value = connection.execute(sa.text(f"SELECT value FROM cache.x{parent.query_id}")).scalar()
    assert value == 10


# -- cancellation ------------------------------------------------------------------------


def test_cancel_running_query(
    executor: Executor, recorder: HookRecorder, engine: sa.Engine
) -> None:
    plan = counted_sleep_plan("cancel me", 60)
    executor.submit(plan)
    wait_for_state(executor, plan.query_id, "executing")

    started = time.monotonic()
    assert executor.cancel(plan.query_id) is True

    assert executor.wait(plan.query_id, timeout=20) == "cancelled"
    # The SQL stopped: waiting did not last the minute the query would sleep.
    assert time.monotonic() - started < 30
    assert not table_exists(engine, plan.query_id)
    assert recorder.transitions(plan.query_id)[-1] == ("executing", "cancelled")
    assert executor.cancel(plan.query_id) is False


def test_cancelled_query_reruns(executor: Executor, recorder: HookRecorder) -> None:
    # The first run sleeps for a minute, the rerun not at all.
    plan = counted_sleep_plan("rerun after cancel", [60, 0])
    executor.submit(plan)
    wait_for_state(executor, plan.query_id, "executing")
    executor.cancel(plan.query_id)
    executor.wait(plan.query_id, timeout=20)

    executor.submit(plan)

    assert executor.wait(plan.query_id, timeout=20) == "completed"
    assert recorder.transitions(plan.query_id)[-6:] == [
        ("executing", "cancelled"),
        ("cancelled", "resetting"),
        ("resetting", "known"),
        ("known", "queued"),
        ("queued", "executing"),
        ("executing", "completed"),
    ]


def test_outside_cancel_errors_query(executor: Executor, engine: sa.Engine) -> None:
    # As in FlowKit, SQL stopped by someone else (an administrator, a statement timeout) is an
    # error of the run, unlike a cancel through the executor.
    plan = counted_sleep_plan("cancelled from outside", 60)
    executor.submit(plan)
    wait_for_state(executor, plan.query_id, "executing")
    deadline = time.monotonic() + 20
    while executor.state(plan.query_id) == "executing" and time.monotonic() < deadline:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
                )
            )
        time.sleep(0.2)

    assert executor.wait(plan.query_id, timeout=20) == "errored"
    assert "canceling statement due to user request" in (executor.error(plan.query_id) or "")
    assert not table_exists(engine, plan.query_id)


def test_cancel_queued_query(
    start_executor: Callable[..., Executor], recorder: HookRecorder, engine: sa.Engine
) -> None:
    executor = start_executor(max_workers=1)
    blocker = counted_sleep_plan("blocks the only worker", 60)
    waiting = counted_sleep_plan("waits for the worker", 0)
    executor.submit(blocker)
    wait_for_state(executor, blocker.query_id, "executing")
    executor.submit(waiting)
    assert executor.state(waiting.query_id) == "queued"

    assert executor.cancel(waiting.query_id) is True
    executor.cancel(blocker.query_id)

    assert executor.wait(waiting.query_id, timeout=20) == "cancelled"
    assert executor.wait(blocker.query_id, timeout=20) == "cancelled"
    assert recorder.executions(waiting.query_id) == 0
    assert runs(engine) == 1


def test_cancelled_child_cancels_parent(executor: Executor) -> None:
    child = counted_sleep_plan("cancelled child", 60)
    parent = total_plan("parent of cancelled child", child)
    executor.submit(parent)
    wait_for_state(executor, child.query_id, "executing")

    executor.cancel(child.query_id)

    assert executor.wait(parent.query_id, timeout=20) == "cancelled"


def test_stop_resets_waiting_queries(engine: sa.Engine, recorder: HookRecorder) -> None:
    hook = hook_relay(recorder)
    executor = Executor(
        engine, PostgresCacheBackend(engine), Settings(max_workers=1, heartbeat_seconds=1), hook
    )
    executor.start()
    blocker = counted_sleep_plan("running at stop", 60)
    waiting = counted_sleep_plan("queued at stop", 0)
    executor.submit(blocker)
    wait_for_state(executor, blocker.query_id, "executing")
    executor.submit(waiting)

    executor.stop(cancel_running=True)

    assert executor.state(blocker.query_id) == "cancelled"
    assert executor.state(waiting.query_id) == "known"
    with engine.connect() as connection:
        workers = connection.execute(sa.text("SELECT count(*) FROM cache.workers")).scalar_one()
    assert workers == 0


# -- reading -----------------------------------------------------------------------------


def test_iter_chunks_streams_every_row(executor: Executor) -> None:
    plan = series_plan("stream", rows=25_000)
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=30)

    chunks = list(executor.backend.iter_chunks(plan.query_id, chunk_size=10_000))

    assert [len(chunk) for chunk in chunks] == [10_000, 10_000, 5_000]
    assert sorted(row.value for chunk in chunks for row in chunk) == list(range(1, 25_001))


def test_iter_rows_filters_and_picks_columns(executor: Executor) -> None:
    plan = make_plan(
        "two columns",
        lambda: sa.select(
            sa.func.generate_series(1, 100).label("value"), sa.literal("a").label("label")
        ),
    )
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)
    backend = executor.backend

    rows = list(backend.iter_rows(plan.query_id, columns=["value"], where=sa.column("value") > 15))

    assert len(rows) == 85
    assert all(row._fields == ("value",) for row in rows)
    assert min(row.value for row in rows) == 16
    with pytest.raises(ValueError, match="nope"):
        backend.iter_rows(plan.query_id, columns=["nope"])
    with pytest.raises(ValueError, match="chunk_size"):
        backend.iter_rows(plan.query_id, chunk_size=0)
    with pytest.raises(QueryNotFoundError):
        backend.iter_rows(query_id_of("not stored"))


def test_stream_accepts_select_over_cache_table(executor: Executor) -> None:
    plan = series_plan("select over table", rows=50)
    executor.submit(plan)
    executor.wait(plan.query_id, timeout=20)
    table = executor.result_table(plan.query_id)
    statement = sa.select(table.c.value).where(table.c.value > 15).order_by(table.c.value)

    chunks = list(executor.backend.stream(statement, chunk_size=7))

    assert [len(chunk) for chunk in chunks] == [7, 7, 7, 7, 7]
    assert [row.value for chunk in chunks for row in chunk] == list(range(16, 51))
