"""Status codes and bodies of run, poll and get for every query state.

The state server has one query worker and the throwaway kinds of ``state_kinds``: a query that
sleeps in the database holds the worker (``executing``) so the next one waits (``queued``), and
a query that divides by zero ends ``errored``. Cancelling and invalidating go through a Python
session's executor and cache on the same database, as another process would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from api_helpers import RunningServer
from sqlalchemy import text
from state_kinds import StateKindsPlugin

import flowcore
from flowcore.session import Session

#: Seconds a test waits for a state before failing.
WAIT_SECONDS = 60


def _sleep_spec(seconds: float) -> dict[str, Any]:
    return {"query_kind": "test_sleep", "seconds": seconds, "tag": uuid.uuid4().hex}


def _failing_spec() -> dict[str, Any]:
    return {"query_kind": "test_failing", "tag": uuid.uuid4().hex}


@pytest.fixture
def client(state_server: RunningServer, state_token: str) -> Iterator[httpx.Client]:
    """An HTTP client on the state server with every scope."""
    with state_server.client(state_token) as http:
        yield http


@pytest.fixture(scope="module")
def state_session(scratch_dsn: str) -> Iterator[Session]:
    """A Python session on the state server's database, with the test kinds."""
    session = flowcore.connect(scratch_dsn, plugins=[StateKindsPlugin()])
    try:
        yield session
    finally:
        session.close()


def _run(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/api/0/run", json=spec)
    assert response.status_code == 202, response.text
    return str(response.json()["query_id"])


def _poll_until(
    client: httpx.Client, query_id: str, done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = client.get(f"/api/0/poll/{query_id}")
        if done(response):
            return response
        if time.monotonic() > deadline:
            pytest.fail(f"query {query_id} stayed at {response.status_code} {response.text}")
        time.sleep(0.05)


def _status_is(state: str) -> Callable[[httpx.Response], bool]:
    return lambda response: response.json().get("status") == state


def test_run_answer(client: httpx.Client) -> None:
    response = client.post("/api/0/run", json=_sleep_spec(0))
    body = response.json()

    assert response.status_code == 202
    assert response.headers["location"] == f"/api/0/poll/{body['query_id']}"
    assert len(body["query_id"]) == 32
    assert set(body["progress"]) == {"eligible", "queued", "running"}
    assert all(isinstance(count, int) for count in body["progress"].values())


def test_executing_queued_and_completed(client: httpx.Client) -> None:
    running = _run(client, _sleep_spec(3))
    executing = _poll_until(client, running, _status_is("executing"))
    waiting = _run(client, _sleep_spec(0))
    queued = client.get(f"/api/0/poll/{waiting}")
    result_while_running = client.get(f"/api/0/get/{running}")

    assert executing.status_code == 202
    assert executing.json() == {
        "status": "executing",
        "msg": "",
        "progress": {"eligible": 1, "queued": 0, "running": 1},
    }
    assert queued.status_code == 202
    assert queued.json() == {
        "status": "queued",
        "msg": "",
        "progress": {"eligible": 1, "queued": 1, "running": 0},
    }
    assert result_while_running.status_code == 202
    assert result_while_running.json() == {}

    completed = _poll_until(client, running, lambda response: response.status_code == 303)
    assert completed.json() == {"status": "completed"}
    assert completed.headers["location"] == f"/api/0/get/{running}"
    result = client.get(f"/api/0/get/{running}")
    assert result.status_code == 200
    assert result.json() == {"query_id": running, "query_result": [{"value": 1}]}
    _poll_until(client, waiting, lambda response: response.status_code == 303)


def test_errored(client: httpx.Client) -> None:
    spec = _failing_spec()
    query_id = _run(client, spec)
    errored = _poll_until(client, query_id, lambda response: response.status_code != 202)
    result = client.get(f"/api/0/get/{query_id}")
    rerun = client.post("/api/0/run", json=spec)

    assert errored.status_code == 500
    assert errored.json()["status"] == "errored"
    assert errored.json()["msg"].startswith(f"Query with id '{query_id}' finished with an error")
    assert "division by zero" in errored.json()["msg"]
    assert result.status_code == 403
    assert result.json() == {
        "status": "Error",
        "msg": f"Query with id '{query_id}' finished with an error.",
    }
    # An errored query is not run again by an identical request.
    assert rerun.status_code == 202
    assert rerun.json()["query_id"] == query_id
    assert client.get(f"/api/0/poll/{query_id}").json()["status"] == "errored"


def test_cancelled_then_rerun(client: httpx.Client, state_session: Session) -> None:
    spec = _sleep_spec(30)
    query_id = _run(client, spec)
    _poll_until(client, query_id, _status_is("executing"))

    assert state_session.executor.cancel(query_id)
    cancelled = _poll_until(client, query_id, _status_is("cancelled"))
    result = client.get(f"/api/0/get/{query_id}")

    assert cancelled.status_code == 500
    assert cancelled.json() == {
        "status": "cancelled",
        "msg": f"Query with id '{query_id}' was cancelled.",
    }
    assert result.status_code == 500
    assert result.json() == {"status": "Error", "msg": "Unexpected query state: cancelled"}

    # An identical request runs a cancelled query again.
    assert _run(client, spec) == query_id
    again = client.get(f"/api/0/poll/{query_id}")
    assert again.status_code == 202
    assert again.json()["status"] in {"queued", "executing"}
    assert state_session.executor.cancel(query_id)
    _poll_until(client, query_id, _status_is("cancelled"))


def test_known_after_invalidation(client: httpx.Client, state_session: Session) -> None:
    spec = _sleep_spec(0)
    query_id = _run(client, spec)
    _poll_until(client, query_id, lambda response: response.status_code == 303)

    state_session.cache.invalidate(query_id)
    known = client.get(f"/api/0/poll/{query_id}")
    result = client.get(f"/api/0/get/{query_id}")

    assert known.status_code == 404
    assert known.json() == {
        "status": "known",
        "msg": f"Query with id '{query_id}' is known, but has not yet been run.",
    }
    assert result.status_code == 404
    assert result.json()["msg"] == known.json()["msg"]

    # An identical request runs a known (evicted) query again.
    assert _run(client, spec) == query_id
    _poll_until(client, query_id, lambda response: response.status_code == 303)


def test_cached_run_touches_result(client: httpx.Client, state_session: Session) -> None:
    spec = _sleep_spec(0)
    query_id = _run(client, spec)
    _poll_until(client, query_id, lambda response: response.status_code == 303)
    count = "SELECT access_count FROM cache.cached WHERE query_id = :id"
    with state_session.engine.connect() as connection:
        before = connection.execute(text(count), {"id": query_id}).scalar_one()

    again = client.post("/api/0/run", json=spec)
    result = client.get(f"/api/0/get/{query_id}")

    assert again.status_code == 202
    assert again.json() == {
        "query_id": query_id,
        "progress": {"eligible": 0, "queued": 0, "running": 0},
    }
    assert result.status_code == 200
    assert result.json() == {"query_id": query_id, "query_result": [{"value": 1}]}
    assert result.headers.get("transfer-encoding") == "chunked"
    with state_session.engine.connect() as connection:
        after = connection.execute(text(count), {"id": query_id}).scalar_one()
    # One touch for the run, one for the read.
    assert after == before + 2


def test_resetting(client: httpx.Client, state_session: Session) -> None:
    query_id = _run(client, _sleep_spec(0))
    _poll_until(client, query_id, lambda response: response.status_code == 303)
    # Resetting lasts only while a result is removed, so the test holds it by hand.
    with state_session.engine.begin() as connection:
        connection.execute(
            text("UPDATE cache.query_states SET state = 'resetting' WHERE query_id = :id"),
            {"id": query_id},
        )
    try:
        poll = client.get(f"/api/0/poll/{query_id}")
        result = client.get(f"/api/0/get/{query_id}")
    finally:
        with state_session.engine.begin() as connection:
            connection.execute(
                text("UPDATE cache.query_states SET state = 'completed' WHERE query_id = :id"),
                {"id": query_id},
            )

    assert poll.status_code == 404
    assert poll.json() == {
        "status": "resetting",
        "msg": f"Query with id '{query_id}' is being reset.",
    }
    assert result.status_code == 500
    assert result.json() == {"status": "Error", "msg": "Unexpected query state: resetting"}


@pytest.mark.parametrize("query_id", ["0" * 32, "not-an-id", "x'; DROP TABLE users; --"])
def test_unknown_id(client: httpx.Client, query_id: str) -> None:
    poll = client.get(f"/api/0/poll/{quote(query_id, safe='')}")
    result = client.get(f"/api/0/get/{quote(query_id, safe='')}")

    assert poll.status_code == 404
    assert poll.json()["status"] == "awol"
    assert poll.json()["msg"]
    assert result.status_code == 404
    assert result.json()["msg"]


def test_query_log_names_request_and_user(
    client: httpx.Client, state_server: RunningServer
) -> None:
    response = client.post("/api/0/run", json=_sleep_spec(0))
    query_id = response.json()["query_id"]
    request_id = response.headers["x-request-id"]
    _poll_until(client, query_id, lambda reply: reply.status_code == 303)

    state_server.wait_for_records(
        lambda record: record.get("query_id") == query_id and record.get("new_state") == "completed"
    )
    records = [
        record
        for record in state_server.log_records()
        if record["logger"] == "flowcore.query" and record.get("query_id") == query_id
    ]
    changes = [(r["old_state"], r["new_state"]) for r in records if "new_state" in r]
    assert ("known", "queued") in changes
    assert ("queued", "executing") in changes
    assert ("executing", "completed") in changes
    assert all(record["request_id"] == request_id for record in records)
    assert all(record["user"] == "tester" for record in records)
    assert all(record["query_kind"] == "test_sleep" for record in records)


def test_terminated_connections_replaced(client: httpx.Client, scratch_dsn: str) -> None:
    """Connections that the database dropped moments ago are replaced, not used."""
    spec = _sleep_spec(0)
    query_id = _run(client, spec)
    _poll_until(client, query_id, lambda response: response.status_code == 303)
    assert client.get(f"/api/0/get/{query_id}").status_code == 200
    with psycopg.connect(scratch_dsn, autocommit=True) as admin:
        # Executors' liveness connections hold advisory locks and are spared.
        terminated = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid, 5000)) "
            "FROM pg_stat_activity AS a WHERE a.datname = current_database() "
            "AND a.pid <> pg_backend_pid() AND a.state = 'idle' AND NOT EXISTS ("
            "SELECT 1 FROM pg_locks AS l WHERE l.pid = a.pid AND l.locktype = 'advisory')"
        ).fetchone()

    run = client.post("/api/0/run", json=spec)
    poll = client.get(f"/api/0/poll/{query_id}")
    result = client.get(f"/api/0/get/{query_id}")

    assert terminated is not None
    assert terminated[0] >= 1
    assert run.status_code == 202
    assert poll.status_code == 303
    assert result.status_code == 200
    assert result.json() == {"query_id": query_id, "query_result": [{"value": 1}]}
