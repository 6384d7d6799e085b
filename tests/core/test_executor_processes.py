"""Executors in separate processes share one database: single execution and crash recovery.

The module is also the script the tests start as child processes:
``python test_executor_processes.py run|hang DSN NAME SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.execution.executor import Executor
from flowcore.execution.plan import BuiltQuery, PlannedQuery
from flowcore.settings import Settings
from flowdb.config import sqlalchemy_url

RUNS_SEQUENCE = "public.test_query_runs"
SCRIPT = Path(__file__).resolve()


def sleep_plan(name: str, seconds: float) -> PlannedQuery:
    """A query that bumps the runs sequence, then sleeps ``seconds`` inside its SQL."""

    def build() -> BuiltQuery:
        # The sequence is bumped while the sleep's argument is computed, before the sleep.
        duration = sa.cast(seconds, sa.Float) + 0 * sa.func.nextval(RUNS_SEQUENCE)
        slept = sa.func.pg_sleep(duration).table_valued("slept")
        return BuiltQuery(sa.select(sa.literal(1).label("value")).select_from(slept))

    return PlannedQuery(
        query_id=hashlib.md5(name.encode()).hexdigest(),
        query_kind="test_sleep",
        spec={"query_kind": "test_sleep", "name": name},
        dependencies=(),
        build=build,
    )


class ExecutionCounter:
    """A hook relay stand-in that counts transitions to executing."""

    def __init__(self) -> None:
        self.executions = 0
        self.lock = threading.Lock()

    def flowcore_query_state_changed(self, new_state: str, **_: Any) -> None:
        if new_state == "executing":
            with self.lock:
                self.executions += 1

    def flowcore_cache_event(self, **_: Any) -> None:
        pass


def start_executor(engine: sa.Engine, hook: Any = None) -> Executor:
    """Start an executor with two workers on ``engine``."""
    executor = Executor(
        engine,
        PostgresCacheBackend(engine),
        Settings(max_workers=2, heartbeat_seconds=1),
        hook=hook,
    )
    executor.start()
    return executor


def runs(engine: sa.Engine) -> int:
    """Return how many sleep queries started running."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {RUNS_SEQUENCE}")
        ).scalar_one()


def main(mode: str, dsn: str, name: str, seconds: str) -> None:
    """Run as a child process: submit a sleep query, then report or hang."""
    engine = sa.create_engine(sqlalchemy_url(dsn))
    counter = ExecutionCounter()
    executor = start_executor(engine, hook=counter)
    plan = sleep_plan(name, float(seconds))
    print(json.dumps({"event": "started"}), flush=True)
    executor.submit(plan)
    if mode == "hang":
        # The SQL has started once it bumped the runs sequence.
        while runs(engine) == 0:
            time.sleep(0.02)
        print(json.dumps({"event": "executing"}), flush=True)
        time.sleep(600)  # killed by the test long before
        return
    state = executor.wait(plan.query_id, timeout=60)
    executor.stop()
    print(json.dumps({"event": "done", "state": state, "executions": counter.executions}))


def spawn(mode: str, dsn: str, name: str, seconds: float) -> subprocess.Popen[str]:
    """Start this module as a child process."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), mode, dsn, name, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def read_event(child: subprocess.Popen[str]) -> dict[str, Any]:
    """Read the next JSON line a child printed."""
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        pytest.fail(f"child process exited with {child.wait()} before reporting")
    return dict(json.loads(line))


@pytest.fixture
def engine(fresh_dsn: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database with the runs sequence."""
    engine = sa.create_engine(sqlalchemy_url(fresh_dsn), pool_size=10)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SEQUENCE {RUNS_SEQUENCE}"))
    yield engine
    engine.dispose()


def test_processes_run_shared_query_once(fresh_dsn: str, engine: sa.Engine) -> None:
    name = "shared by processes"
    children = [spawn("run", fresh_dsn, name, 1.5) for _ in range(3)]
    for child in children:
        assert read_event(child)["event"] == "started"
    counter = ExecutionCounter()
    executor = start_executor(engine, hook=counter)
    try:
        plan = sleep_plan(name, 1.5)
        executor.submit(plan)
        assert executor.wait(plan.query_id, timeout=60) == "completed"
        reports = [read_event(child) for child in children]
        for child in children:
            assert child.wait(timeout=60) == 0
    finally:
        executor.stop()

    assert [report["state"] for report in reports] == ["completed"] * 3
    assert counter.executions + sum(report["executions"] for report in reports) == 1
    assert runs(engine) == 1


def test_killed_process_query_recovered(fresh_dsn: str, engine: sa.Engine) -> None:
    name = "left by a killed process"
    child = spawn("hang", fresh_dsn, name, 60)
    try:
        assert read_event(child)["event"] == "started"
        assert read_event(child)["event"] == "executing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    plan = sleep_plan(name, 0)
    with engine.connect() as connection:
        stale = connection.execute(
            sa.text("SELECT state FROM cache.query_states WHERE query_id = :id"),
            {"id": plan.query_id},
        ).scalar_one()
    assert stale == "executing"

    started = time.monotonic()
    executor = start_executor(engine)
    try:
        assert executor.state(plan.query_id) == "known"
        # Recovery stopped the orphaned SQL instead of waiting out its minute of sleep.
        assert time.monotonic() - started < 30
        with engine.connect() as connection:
            workers = connection.execute(sa.text("SELECT count(*) FROM cache.workers")).scalar()
            table = connection.execute(
                sa.text("SELECT to_regclass(:name)"), {"name": f"cache.x{plan.query_id}"}
            ).scalar()
        assert workers == 1
        assert table is None

        executor.submit(plan)
        assert executor.wait(plan.query_id, timeout=30) == "completed"
    finally:
        executor.stop()
    assert runs(engine) == 2


def test_submit_recovers_abandoned_query(fresh_dsn: str, engine: sa.Engine) -> None:
    executor = Executor(
        engine, PostgresCacheBackend(engine), Settings(max_workers=2, heartbeat_seconds=3600)
    )
    executor.start()
    try:
        name = "resubmitted after a crash"
        child = spawn("hang", fresh_dsn, name, 60)
        try:
            assert read_event(child)["event"] == "started"
            assert read_event(child)["event"] == "executing"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        plan = sleep_plan(name, 0)
        assert executor.state(plan.query_id) == "executing"

        executor.submit(plan)

        assert executor.wait(plan.query_id, timeout=30) == "completed"
    finally:
        executor.stop()
    assert runs(engine) == 2


if __name__ == "__main__":
    main(*sys.argv[1:])
