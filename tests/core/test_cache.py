"""The PostgreSQL cache backend: scores, eviction, protection, invalidation and clearing."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest
import sqlalchemy as sa

import flowcore
import flowcore.hookspecs
from flowcore.cache.plugin import flowcore_register_cache_backends
from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.cache.reload import invalidate_reloaded_day
from flowcore.cache.states import (
    TRANSITIONS,
    Event,
    QueryState,
    apply_event,
    register_plan,
)
from flowcore.execution.executor import Executor
from flowcore.execution.plan import BuiltQuery, EventRead, PlannedQuery
from flowcore.hookspecs import hookimpl
from flowcore.settings import Settings
from flowcore.testing import insert_cells, insert_events
from flowdb.config import sqlalchemy_url
from flowdb.loader import load_directory

HALF_LIFE = 1000


def series_plan(
    name: str,
    rows: int = 10,
    *,
    dependencies: Sequence[PlannedQuery] = (),
    reads: Sequence[EventRead] = (),
) -> PlannedQuery:
    """A query returning ``value`` 1..rows, plus the values of its dependencies' tables."""

    def build() -> BuiltQuery:
        parts: list[sa.Select[Any]] = [sa.select(sa.func.generate_series(1, rows).label("value"))]
        for dependency in dependencies:
            table = sa.table(f"x{dependency.query_id}", sa.column("value"), schema="cache")
            parts.append(sa.select(table.c.value))
        union = sa.union_all(*parts).subquery()
        return BuiltQuery(sa.select(union.c.value), reads=tuple(reads))

    return PlannedQuery(
        query_id=hashlib.md5(name.encode()).hexdigest(),
        query_kind="test_series",
        spec={"query_kind": "test_series", "name": name},
        dependencies=tuple(dependencies),
        build=build,
    )


class EventRecorder:
    """A plugin that records cache events."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    @hookimpl
    def flowcore_cache_event(
        self, event: str, query_id: str, query_kind: str, details: dict[str, Any]
    ) -> None:
        with self.lock:
            self.events.append((event, query_id, dict(details)))

    def of(self, event: str) -> list[tuple[str, dict[str, Any]]]:
        """Return (query id, details) of each recorded event of one kind, in order."""
        with self.lock:
            return [(qid, details) for e, qid, details in self.events if e == event]


class FaultyObserver:
    """A plugin whose hooks always raise."""

    @hookimpl
    def flowcore_cache_event(self, event: str) -> None:
        raise RuntimeError(f"observer failed on {event}")

    @hookimpl
    def flowcore_query_state_changed(self, new_state: str) -> None:
        raise RuntimeError(f"observer failed on {new_state}")


def hook_relay(*plugins: object) -> Any:
    """Return a pluggy hook relay with ``plugins`` registered."""
    manager = pluggy.PluginManager(flowcore.hookspecs.PROJECT_NAME)
    manager.add_hookspecs(flowcore.hookspecs)
    for plugin in plugins:
        manager.register(plugin)
    return manager.hook


@pytest.fixture
def engine(fresh_dsn: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database."""
    engine = sa.create_engine(sqlalchemy_url(fresh_dsn), pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def recorder() -> EventRecorder:
    """A cache event recorder for one test."""
    return EventRecorder()


@pytest.fixture
def backend(engine: sa.Engine, recorder: EventRecorder) -> PostgresCacheBackend:
    """The backend under test, announcing events to ``recorder``."""
    return PostgresCacheBackend(engine, hook=hook_relay(recorder))


@pytest.fixture
def executor(engine: sa.Engine, backend: PostgresCacheBackend) -> Iterator[Executor]:
    """A started executor storing through ``backend``."""
    executor = Executor(engine, backend, Settings(max_workers=2, heartbeat_seconds=1))
    executor.start()
    yield executor
    executor.stop(cancel_running=True)


@pytest.fixture
def store(executor: Executor) -> Callable[[PlannedQuery], str]:
    """Function that runs a plan to completion and returns its query id."""

    def run(plan: PlannedQuery) -> str:
        executor.submit(plan)
        state = executor.wait(plan.query_id, timeout=30)
        assert state == "completed", executor.error(plan.query_id)
        return plan.query_id

    return run


def execute(engine: sa.Engine, sql: str, **parameters: Any) -> None:
    """Run one statement in its own transaction."""
    with engine.begin() as connection:
        connection.execute(sa.text(sql), parameters)


def fetch_one(engine: sa.Engine, sql: str, **parameters: Any) -> Any:
    """Return the first column of the first row of a query."""
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), parameters).scalar()


def age_entries(engine: sa.Engine, query_ids: Sequence[str], days: int = 2) -> None:
    """Move entries' creation back by ``days``, out of the protected period."""
    execute(
        engine,
        "UPDATE cache.cached SET created = now() - make_interval(days => :days) "
        "WHERE query_id = ANY(CAST(:ids AS character(32)[]))",
        days=days,
        ids=list(query_ids),
    )


def wait_until_executing(executor: Executor, query_id: str, timeout: float = 20) -> None:
    """Poll until a query is executing, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while executor.state(query_id) != "executing" and time.monotonic() < deadline:
        time.sleep(0.02)


def set_compute_time(engine: sa.Engine, query_id: str, milliseconds: float) -> None:
    """Overwrite an entry's compute time, which scales its score."""
    execute(
        engine,
        "UPDATE cache.cached SET compute_time = :ms WHERE query_id = :id",
        ms=milliseconds,
        id=query_id,
    )


def stored_ids(engine: sa.Engine) -> set[str]:
    """Return the ids of every stored result."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT rtrim(query_id) FROM cache.cached"))
        return set(rows.scalars())


def cache_tables(engine: sa.Engine) -> set[str]:
    """Return the names of every table in the cache schema named like a result."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'cache' "
                "AND tablename ~ '^x[0-9a-f]{32}$'"
            )
        )
        return set(rows.scalars())


# -- states ------------------------------------------------------------------------------


def test_transitions_match_flowkit() -> None:
    table = {event: (sorted(sources), target) for event, (sources, target) in TRANSITIONS.items()}

    assert table == {
        Event.QUEUE: (["known"], "queued"),
        Event.EXECUTE: (["queued"], "executing"),
        Event.FINISH: (["executing"], "completed"),
        Event.ERROR: (["executing"], "errored"),
        Event.CANCEL: (["executing", "queued"], "cancelled"),
        Event.RESET: (["cancelled", "completed", "errored"], "resetting"),
        Event.FINISH_RESETTING: (["resetting"], "known"),
    }


def test_disallowed_transition_changes_nothing(engine: sa.Engine) -> None:
    plan = series_plan("transitions")
    with engine.begin() as connection:
        register_plan(connection, plan)
        finish = apply_event(connection, plan.query_id, Event.FINISH)
        queue = apply_event(connection, plan.query_id, Event.QUEUE, owner="someone")
        queue_again = apply_event(connection, plan.query_id, Event.QUEUE, owner="someone")

    assert finish is None
    assert queue is not None
    assert (queue.old_state, queue.new_state) == (QueryState.KNOWN, QueryState.QUEUED)
    assert queue_again is None
    assert fetch_one(engine, "SELECT owner FROM cache.query_states") == "someone"


# -- scores ------------------------------------------------------------------------------


def test_touch_follows_score_formula(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    execute(engine, "SELECT setval('cache.cache_touches', 1, false)")
    query_id = store(series_plan("scored", rows=1000))

    second = backend.touch(query_id)
    third = backend.touch(query_id)

    # Storing was touch 1; each touch n adds (1 + ln 2 / half-life) ** (n - 2).
    growth = 1 + math.log(2) / HALF_LIFE
    multiplier = sum(growth ** (n - 2) for n in (1, 2, 3))
    with engine.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT cache_score_multiplier, compute_time, size_bytes, access_count "
                "FROM cache.cached WHERE query_id = :id"
            ),
            {"id": query_id},
        ).one()
    assert float(row.cache_score_multiplier) == pytest.approx(multiplier, rel=1e-9)
    assert row.access_count == 3
    expected = multiplier * float(row.compute_time) / 1000 / row.size_bytes
    assert third == pytest.approx(expected, rel=1e-9)
    assert second is not None and second < third


def test_flowdb_names_of_cache_functions(
    engine: sa.Engine, store: Callable[[PlannedQuery], str]
) -> None:
    # FlowMachine calls these without a schema, as FlowDB defines them in public.
    query_id = store(series_plan("touched by name", rows=10))

    with engine.begin() as connection:
        score = connection.execute(sa.text("SELECT touch_cache(:id)"), {"id": query_id}).scalar()
        half_life = connection.execute(sa.text("SELECT cache_half_life()")).scalar()
        cheap = connection.execute(sa.text("SELECT cache_score(2, 3000, 1000)")).scalar()
        size = connection.execute(sa.text("SELECT table_size('cached', 'cache')")).scalar()

    touches = fetch_one(
        engine, "SELECT access_count FROM cache.cached WHERE query_id = :id", id=query_id
    )
    assert touches == 2
    assert score is not None and score > 0
    assert half_life == HALF_LIFE
    # 2 x 3 s / 1000 bytes.
    assert float(cheap) == pytest.approx(0.006)
    assert size > 0


def test_touch_unknown_result_returns_none(backend: PostgresCacheBackend) -> None:
    assert backend.touch(hashlib.md5(b"never stored").hexdigest()) is None


def test_touch_rejects_invalid_id(backend: PostgresCacheBackend) -> None:
    with pytest.raises(ValueError, match="query id 'x' is invalid"):
        backend.touch("x")


def test_entries_list_metadata(
    backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    query_id = store(series_plan("listed", rows=50))

    [entry] = backend.entries()

    assert entry.query_id == query_id
    assert entry.query_kind == "test_series"
    assert entry.state == "completed"
    assert entry.table == f"cache.x{query_id}"
    assert entry.access_count == 1
    assert entry.size_bytes > 0
    assert entry.compute_time_ms > 0
    assert entry.score > 0
    assert backend.total_size() == entry.size_bytes
    assert backend.max_size() == 10 * 1024**3


# -- eviction ----------------------------------------------------------------------------


def test_shrink_evicts_lowest_score_first(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    store: Callable[[PlannedQuery], str],
    recorder: EventRecorder,
) -> None:
    cheap, middle, dear = (store(series_plan(f"score {n}", rows=100)) for n in range(3))
    age_entries(engine, [cheap, middle, dear])
    for query_id, milliseconds in ((cheap, 1), (middle, 100), (dear, 10_000)):
        set_compute_time(engine, query_id, milliseconds)
    sizes = {entry.query_id: entry.size_bytes for entry in backend.entries()}
    total = sum(sizes.values())

    planned = backend.shrink(total - sizes[cheap], dry_run=True)
    assert [eviction.query_id for eviction in planned] == [cheap]
    assert stored_ids(engine) == {cheap, middle, dear}

    evicted = backend.shrink(total - sizes[cheap])
    assert [eviction.query_id for eviction in evicted] == [cheap]
    assert stored_ids(engine) == {middle, dear}

    evicted = backend.shrink(0)
    assert [eviction.query_id for eviction in evicted] == [middle, dear]
    assert stored_ids(engine) == set()
    assert cache_tables(engine) == set()
    assert [query_id for query_id, _ in recorder.of("evicted")] == [cheap, middle, dear]
    assert recorder.of("evicted")[0][1]["size_bytes"] == sizes[cheap]


def test_shrink_resets_state_to_known(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    executor: Executor,
    store: Callable[[PlannedQuery], str],
) -> None:
    query_id = store(series_plan("evicted state"))
    age_entries(engine, [query_id])

    backend.shrink(0)

    assert executor.state(query_id) == "known"
    assert fetch_one(engine, "SELECT count(*) FROM cache.cached") == 0


def test_shrink_stops_under_limit(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    ids = [store(series_plan(f"limit {n}", rows=100)) for n in range(3)]
    age_entries(engine, ids)
    total = backend.total_size()

    assert backend.shrink(total) == []
    assert len(backend.shrink(total - 1)) == 1
    assert len(stored_ids(engine)) == 2


def test_shrink_stops_at_time_limit(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    ids = [store(series_plan(f"time limit {n}", rows=100)) for n in range(2)]
    age_entries(engine, ids)

    assert backend.shrink(0, time_limit=0) == []
    assert stored_ids(engine) == set(ids)
    assert len(backend.shrink(0, time_limit=60)) == 2


def test_shrink_uses_configured_size(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    ids = [store(series_plan(f"configured {n}", rows=100)) for n in range(2)]
    age_entries(engine, ids)
    limit = backend.total_size() - 1
    execute(engine, "UPDATE cache.cache_config SET value = :v WHERE key = 'cache_size'", v=limit)

    evicted = backend.shrink()

    assert len(evicted) == 1
    assert backend.total_size() <= limit


def test_protected_period_blocks_eviction(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    old = store(series_plan("old entry"))
    new = store(series_plan("new entry"))
    age_entries(engine, [old])

    evicted = backend.shrink(0)

    assert [eviction.query_id for eviction in evicted] == [old]
    assert stored_ids(engine) == {new}

    execute(
        engine, "UPDATE cache.cache_config SET value = '-1' WHERE key = 'cache_protected_period'"
    )
    assert [eviction.query_id for eviction in backend.shrink(0)] == [new]


def test_shrink_rejects_negative_target(backend: PostgresCacheBackend) -> None:
    with pytest.raises(ValueError, match="target_bytes -1 is invalid"):
        backend.shrink(-1)


def test_eviction_keeps_dependants(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    executor: Executor,
    store: Callable[[PlannedQuery], str],
) -> None:
    child = series_plan("evicted child", rows=5)
    parent = series_plan("kept parent", rows=1, dependencies=[child])
    store(parent)
    age_entries(engine, [child.query_id])
    set_compute_time(engine, parent.query_id, 1e9)

    evicted = backend.shrink(backend.total_size() - 1)

    assert [eviction.query_id for eviction in evicted] == [child.query_id]
    assert executor.state(parent.query_id) == "completed"
    assert executor.state(child.query_id) == "known"
    assert fetch_one(engine, "SELECT count(*) FROM cache.dependencies") == 0
    assert sorted(row.value for row in backend.iter_rows(parent.query_id)) == [1, 1, 2, 3, 4, 5]


def test_shrink_skips_result_in_use(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    executor: Executor,
    store: Callable[[PlannedQuery], str],
) -> None:
    child = series_plan("read while evicting", rows=5)
    store(child)
    age_entries(engine, [child.query_id])

    def build() -> BuiltQuery:
        table = sa.table(f"x{child.query_id}", sa.column("value"), schema="cache")
        slept = sa.func.pg_sleep(1.5).table_valued("slept")
        source = table.join(slept, sa.true())
        return BuiltQuery(sa.select(sa.func.sum(table.c.value).label("value")).select_from(source))

    parent = PlannedQuery(
        query_id=hashlib.md5(b"slow reader").hexdigest(),
        query_kind="test_series",
        spec={"query_kind": "test_series", "name": "slow reader"},
        dependencies=(child,),
        build=build,
    )
    executor.submit(parent)
    wait_until_executing(executor, parent.query_id)

    assert backend.shrink(0) == []
    assert executor.wait(parent.query_id, timeout=30) == "completed"
    assert fetch_one(engine, f"SELECT value FROM cache.x{parent.query_id}") == 15
    assert [eviction.query_id for eviction in backend.shrink(0)] == [child.query_id]


def _subset_reader(name: str, subset: PlannedQuery, seconds: float) -> PlannedQuery:
    """A query that sleeps, then counts the rows of ``subset``, which it reads as a subset."""

    def build() -> BuiltQuery:
        # The sleep comes first, so the statement reaches the subset's table only at its end.
        slept = sa.select(sa.func.pg_sleep(seconds).label("slept")).cte("slept")
        table = sa.table(f"x{subset.query_id}", sa.column("value"), schema="cache")
        counted = sa.select(sa.func.count().label("value")).select_from(
            slept.join(table, sa.true())
        )
        return BuiltQuery(counted, subsets=(subset.query_id,))

    return PlannedQuery(
        query_id=hashlib.md5(name.encode()).hexdigest(),
        query_kind="test_series",
        spec={"query_kind": "test_series", "name": name},
        dependencies=(),
        build=build,
    )


def test_shrink_skips_subset_in_use(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    executor: Executor,
    store: Callable[[PlannedQuery], str],
) -> None:
    subset = series_plan("subset while evicting", rows=4)
    store(subset)
    age_entries(engine, [subset.query_id])
    reader = _subset_reader("slow subset reader", subset, 1.5)
    executor.submit(reader)
    wait_until_executing(executor, reader.query_id)
    time.sleep(0.3)

    assert backend.shrink(0) == []
    assert executor.wait(reader.query_id, timeout=30) == "completed"
    assert fetch_one(engine, f"SELECT value FROM cache.x{reader.query_id}") == 4


def test_missing_subset_errors_with_reason(
    backend: PostgresCacheBackend, executor: Executor, store: Callable[[PlannedQuery], str]
) -> None:
    subset = series_plan("subset removed before use", rows=4)
    store(subset)
    backend.invalidate(subset.query_id, cascade=False)
    reader = _subset_reader("reader of a removed subset", subset, 0)

    executor.submit(reader)

    assert executor.wait(reader.query_id, timeout=30) == "errored"
    assert executor.error(reader.query_id) == (
        f"the subscriber subset {subset.query_id} is no longer stored; run it again, then "
        f"query {reader.query_id}"
    )


# -- invalidation ------------------------------------------------------------------------


def test_invalidate_cascades_to_dependants(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    executor: Executor,
    store: Callable[[PlannedQuery], str],
    recorder: EventRecorder,
) -> None:
    child = series_plan("base", rows=3)
    parent = series_plan("middle", rows=1, dependencies=[child])
    grandparent = series_plan("top", rows=1, dependencies=[parent])
    unrelated = series_plan("unrelated")
    store(grandparent)
    store(unrelated)

    removed = backend.invalidate(child.query_id)

    assert set(removed) == {child.query_id, parent.query_id, grandparent.query_id}
    assert stored_ids(engine) == {unrelated.query_id}
    assert cache_tables(engine) == {f"x{unrelated.query_id}"}
    for plan in (child, parent, grandparent):
        assert executor.state(plan.query_id) == "known"
    reasons = dict(recorder.of("invalidated"))
    assert reasons[child.query_id]["reason"] == "requested"
    assert reasons[parent.query_id]["reason"] == f"depends on {child.query_id}"
    assert reasons[grandparent.query_id]["reason"] == f"depends on {parent.query_id}"


def test_invalidate_without_cascade(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    child = series_plan("only child", rows=3)
    parent = series_plan("survivor", rows=1, dependencies=[child])
    store(parent)

    assert backend.invalidate(child.query_id, cascade=False) == [child.query_id]
    assert stored_ids(engine) == {parent.query_id}


def test_invalidated_query_reruns(
    backend: PostgresCacheBackend, executor: Executor, store: Callable[[PlannedQuery], str]
) -> None:
    plan = series_plan("rerun after invalidation", rows=4)
    store(plan)
    backend.invalidate(plan.query_id)

    store(plan)

    assert sorted(row.value for row in backend.iter_rows(plan.query_id)) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("event_type", "day", "expected"),
    [
        ("calls", dt.date(2016, 1, 1), {"calls reader", "dependant"}),
        ("calls", dt.date(2016, 1, 2), {"calls reader", "dependant"}),
        ("calls", dt.date(2016, 1, 3), set()),  # the read range is half-open
        ("calls", dt.date(2015, 12, 31), set()),
        ("sms", dt.date(2016, 1, 2), {"sms reader"}),
        ("sms", dt.date(2016, 1, 1), set()),
        ("mds", dt.date(2016, 1, 2), set()),
        (None, dt.date(2016, 1, 2), {"calls reader", "sms reader", "dependant"}),
    ],
)
def test_invalidate_dates(
    engine: sa.Engine,
    backend: PostgresCacheBackend,
    store: Callable[[PlannedQuery], str],
    event_type: str | None,
    day: dt.date,
    expected: set[str],
) -> None:
    plans = {
        "calls reader": series_plan(
            "calls reader", reads=[EventRead("calls", dt.date(2016, 1, 1), dt.date(2016, 1, 3))]
        ),
        "sms reader": series_plan(
            "sms reader", reads=[EventRead("sms", dt.date(2016, 1, 2), dt.date(2016, 1, 3))]
        ),
    }
    plans["dependant"] = series_plan("dependant", dependencies=[plans["calls reader"]])
    for plan in plans.values():
        store(plan)

    removed = backend.invalidate_dates(event_type, day)

    assert set(removed) == {plans[name].query_id for name in expected}
    names_left = {name for name, plan in plans.items() if plan.query_id in stored_ids(engine)}
    assert names_left == set(plans) - expected


def test_invalidate_dates_after_dependency_removed(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    # The dependant keeps the reads of the query it was built on, so it is still found after
    # that query is removed on its own, as eviction does.
    reader = series_plan(
        "calls reader", reads=[EventRead("calls", dt.date(2016, 1, 1), dt.date(2016, 1, 3))]
    )
    dependant = series_plan("dependant", dependencies=[reader])
    store(reader)
    store(dependant)
    backend.invalidate(reader.query_id, cascade=False)
    assert stored_ids(engine) == {dependant.query_id}

    removed = backend.invalidate_dates("calls", dt.date(2016, 1, 2))

    assert removed == [dependant.query_id]
    assert stored_ids(engine) == set()


def test_invalidate_dates_rejects_non_date(backend: PostgresCacheBackend) -> None:
    with pytest.raises(ValueError, match="expected a datetime.date"):
        backend.invalidate_dates("calls", "2016-01-01")  # type: ignore[arg-type]


def test_invalidate_reloaded_day(
    engine: sa.Engine, fresh_dsn: str, store: Callable[[PlannedQuery], str]
) -> None:
    calls = store(
        series_plan(
            "reloaded", reads=[EventRead("calls", dt.date(2016, 1, 2), dt.date(2016, 1, 3))]
        )
    )
    kept = store(series_plan("kept"))

    assert invalidate_reloaded_day(fresh_dsn, "calls", dt.date(2016, 1, 2)) == [calls]
    assert stored_ids(engine) == {kept}


def test_loading_cells_invalidates_every_result(
    engine: sa.Engine, fresh_dsn: str, store: Callable[[PlannedQuery], str], tmp_path: Path
) -> None:
    store(series_plan("reads no events"))
    store(
        series_plan(
            "reads calls", reads=[EventRead("calls", dt.date(2016, 1, 1), dt.date(2016, 1, 8))]
        )
    )
    cells = tmp_path / "infrastructure" / "cells.csv"
    cells.parent.mkdir(parents=True)
    cells.write_text(
        "id,site_id,version,longitude,latitude,date_of_first_service,date_of_last_service\n"
        "c1,s,0,85,27,2016-01-01,\n"
    )

    report = load_directory(fresh_dsn, tmp_path)

    assert not report.rejected
    assert stored_ids(engine) == set()


def test_loading_a_day_invalidates_its_readers(
    engine: sa.Engine, fresh_dsn: str, store: Callable[[PlannedQuery], str], tmp_path: Path
) -> None:
    week = EventRead("calls", dt.date(2016, 1, 1), dt.date(2016, 1, 8))
    store(series_plan("reads the calls of the week", reads=[week]))
    other = store(
        series_plan(
            "reads other calls",
            reads=[EventRead("calls", dt.date(2016, 1, 3), dt.date(2016, 1, 8))],
        )
    )
    day_file = tmp_path / "records" / "calls" / "calls_20160102.csv"
    day_file.parent.mkdir(parents=True)
    day_file.write_text(
        "start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,duration,tac\n"
        "2016-01-02 10:37:08,lAEll9HCSmwAgmGv,LZvq3-cuckQ3KqQrlA,KXD40E0ct3Oq1sIy,UJE4phmX,"
        "True,895.0,18867440.0\n"
    )

    report = load_directory(fresh_dsn, tmp_path)

    assert not report.rejected
    assert stored_ids(engine) == {other}


# -- clearing ----------------------------------------------------------------------------


def test_clear_removes_every_result(
    engine: sa.Engine, backend: PostgresCacheBackend, store: Callable[[PlannedQuery], str]
) -> None:
    store(series_plan("cleared child", dependencies=[series_plan("cleared leaf")]))
    orphan = hashlib.md5(b"orphan").hexdigest()
    execute(engine, f"CREATE TABLE cache.x{orphan} (value integer)")
    execute(engine, "SELECT nextval('cache.cache_touches')")

    assert backend.clear() == 2

    assert stored_ids(engine) == set()
    assert cache_tables(engine) == set()
    assert fetch_one(engine, "SELECT nextval('cache.cache_touches')") == 2
    assert fetch_one(engine, "SELECT count(*) FROM cache.query_states WHERE state <> 'known'") == 0


# -- hooks -------------------------------------------------------------------------------


def test_faulty_observer_does_not_fail_query(engine: sa.Engine) -> None:
    hook = hook_relay(FaultyObserver())
    executor = Executor(
        engine,
        PostgresCacheBackend(engine, hook=hook),
        Settings(max_workers=1, heartbeat_seconds=1),
        hook=hook,
    )
    executor.start()
    try:
        plan = series_plan("observed by a faulty plugin")
        executor.submit(plan)
        assert executor.wait(plan.query_id, timeout=30) == "completed"
        executor.submit(plan)
    finally:
        executor.stop()


def test_plugin_registers_backend(engine: sa.Engine) -> None:
    registered: dict[str, Callable[..., Any]] = {}

    flowcore_register_cache_backends(register=registered.__setitem__)

    assert list(registered) == ["postgresql"]
    backend = registered["postgresql"](engine=engine, settings=Settings())
    assert isinstance(backend, PostgresCacheBackend)


def test_scheduled_pruning_shrinks_cache(fresh_dsn: str) -> None:
    """An executor with a pruning interval shrinks the cache on its own."""
    insert_cells(fresh_dsn, [{"id": "c1", "lon": 85.0, "lat": 27.0}])
    insert_events(
        fresh_dsn,
        "calls",
        [{"msisdn": "a", "datetime": "2016-01-01 10:00:00", "location_id": "c1", "outgoing": True}],
    )
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("UPDATE cache.cache_config SET value = '0' WHERE key = 'cache_size'")
        conn.execute(
            "UPDATE cache.cache_config SET value = '-1' WHERE key = 'cache_protected_period'"
        )
    spec = {
        "query_kind": "first_location",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "lon-lat",
        "event_types": ["calls"],
    }
    with flowcore.connect(fresh_dsn, settings=Settings(cache_pruning_seconds=1)) as session:
        stored = session.run(spec).query_id
        deadline = time.monotonic() + 15
        while session.executor.state(stored) == "completed" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session.executor.state(stored) == "known"
