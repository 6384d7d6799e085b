"""Identical concurrent requests share one execution, in one server process and across two.

Executions are counted from the servers' query logs: each process logs every state change it
makes, so a query executed once has exactly one ``queued -> executing`` record in all logs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import RunningServer, free_port, serve_command, server_environment, start_server

PARALLEL_REQUESTS = 20


def _spec(date: str, hours: tuple[int, int]) -> dict[str, Any]:
    """A spec no other test runs, so its execution happens inside the test."""
    return {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": date,
            "method": "most-common",
            "aggregation_unit": "admin2",
            "event_types": ["sms"],
            "hours": {"start_hour": hours[0], "end_hour": hours[1]},
        },
    }


@pytest.fixture(scope="module")
def second_server(
    testdata_dsn: str, signing_keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Another ``flowcore serve`` process on the same database as ``api_server``."""
    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("second-server") / "stderr.log"
    server = start_server(
        serve_command(port), server_environment(testdata_dsn, signing_keys[1]), log_path, port
    )
    try:
        yield server
    finally:
        server.stop()


def _executions(servers: list[RunningServer], query_id: str) -> int:
    return sum(
        1
        for server in servers
        for record in server.log_records()
        if record["logger"] == "flowcore.query"
        and record.get("query_id") == query_id
        and record.get("new_state") == "executing"
    )


def _wait_completed(server: RunningServer, token: str, query_id: str) -> None:
    deadline = time.monotonic() + 60
    with server.client(token) as client:
        while client.get(f"/api/0/poll/{query_id}").status_code != 303:
            assert time.monotonic() < deadline, f"query {query_id} did not complete"
            time.sleep(0.1)


def _run_in_parallel(
    servers: list[RunningServer], token: str, spec: dict[str, Any]
) -> list[httpx.Response]:
    def post(index: int) -> httpx.Response:
        server = servers[index % len(servers)]
        return httpx.post(
            f"{server.url}/api/0/run",
            json=spec,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        return list(pool.map(post, range(PARALLEL_REQUESTS)))


def test_parallel_identical_runs_execute_once(
    api_server: RunningServer, universal_token: str
) -> None:
    responses = _run_in_parallel([api_server], universal_token, _spec("2016-01-07", (8, 20)))
    ids = {response.json()["query_id"] for response in responses}

    assert [response.status_code for response in responses] == [202] * PARALLEL_REQUESTS
    assert len(ids) == 1
    query_id = ids.pop()
    _wait_completed(api_server, universal_token, query_id)
    assert _executions([api_server], query_id) == 1


def test_two_processes_agree(
    api_server: RunningServer,
    second_server: RunningServer,
    universal_token: str,
) -> None:
    spec = _spec("2016-01-06", (9, 18))
    with (
        api_server.client(universal_token) as first,
        second_server.client(universal_token) as second,
    ):
        query_id = first.post("/api/0/run", json=spec).json()["query_id"]
        _wait_completed(second_server, universal_token, query_id)
        rerun = second.post("/api/0/run", json=spec)
        from_first = first.get(f"/api/0/get/{query_id}").json()
        from_second = second.get(f"/api/0/get/{query_id}").json()

    assert rerun.status_code == 202
    assert rerun.json()["query_id"] == query_id
    assert rerun.json()["progress"] == {"eligible": 0, "queued": 0, "running": 0}
    assert from_first == from_second
    assert from_first["query_result"]
    assert _executions([api_server], query_id) == 1
    assert _executions([second_server], query_id) == 0


def test_parallel_runs_across_processes_execute_once(
    api_server: RunningServer, second_server: RunningServer, universal_token: str
) -> None:
    servers = [api_server, second_server]
    responses = _run_in_parallel(servers, universal_token, _spec("2016-01-05", (10, 16)))
    ids = {response.json()["query_id"] for response in responses}

    assert [response.status_code for response in responses] == [202] * PARALLEL_REQUESTS
    assert len(ids) == 1
    query_id = ids.pop()
    _wait_completed(second_server, universal_token, query_id)
    _wait_completed(api_server, universal_token, query_id)
    assert _executions(servers, query_id) == 1
