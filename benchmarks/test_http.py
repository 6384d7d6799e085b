"""Each top-level seed query end to end through the HTTP API with a real token.

One ``flowcore serve`` process per dataset, on a loopback port, with a token granting every
scope it advertises. A round is what a client does: ``POST /api/0/run``, poll until the
result is ready, ``GET /api/0/get/<id>``, then parsing the JSON body. Cold rounds clear the
cache first and run on the small dataset only; cached rounds also run once more without
parsing the body.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import record
from flowcore_auth import generate_key_pair, issue_token
from test_queries import _cold_rounds, _run_or_skip

_AUDIENCE = "flowcore-bench-api"
_STARTUP_SECONDS = 60
_POLL_SECONDS = 0.005
_QUERY_TIMEOUT_SECONDS = 3_600


class _Server:
    """A ``flowcore serve`` subprocess and a client holding a token for every scope."""

    def __init__(self, dsn: str, log_path: Path) -> None:
        private_pem, public_pem = generate_key_pair(2048)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FLOWDB_", "FLOWAPI_"))
        }
        environment.update(
            {
                "FLOWDB_DSN": dsn,
                "PUBLIC_JWT_SIGNING_KEY": public_pem,
                "FLOWAPI_IDENTIFIER": _AUDIENCE,
                "FLOWAPI_LOG_LEVEL": "warning",
            }
        )
        command = [str(Path(sys.executable).with_name("flowcore")), "serve"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
        self.url = f"http://127.0.0.1:{port}"
        self._wait_until_up()
        scopes = self._scopes()
        token = issue_token(
            private_pem, subject="bench", audience=_AUDIENCE, roles={"bench": scopes}
        )
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"flowcore serve exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"flowcore serve did not answer in {_STARTUP_SECONDS} s")

    def _scopes(self) -> list[str]:
        document = httpx.get(self.url + "/api/0/spec/openapi.json", timeout=30).json()
        return list(document["components"]["securitySchemes"]["token"]["x-security-scopes"])

    def fetch(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run a spec as a client does and return the result document."""
        document: dict[str, Any] = json.loads(self.fetch_body(spec))
        return document

    def fetch_body(self, spec: dict[str, Any]) -> bytes:
        """Run a spec as a client does and return the result's JSON body unparsed."""
        response = self.client.post("/api/0/run", json=spec)
        assert response.status_code == 202, response.text
        poll_url = response.headers["Location"]
        deadline = time.monotonic() + _QUERY_TIMEOUT_SECONDS
        while True:
            polled = self.client.get(poll_url)
            if polled.status_code == 303:
                break
            assert polled.status_code == 202, polled.text
            assert time.monotonic() < deadline, f"{spec['query_kind']} did not finish"
            time.sleep(_POLL_SECONDS)
        result = self.client.get(polled.headers["Location"])
        assert result.status_code == 200, result.text
        return result.content

    def stop(self) -> None:
        """Stop the server by its process id: SIGTERM, then SIGKILL after 20 seconds."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def api_servers() -> Iterator[dict[str, _Server]]:
    """API servers by dataset name, started on first use and stopped at the end."""
    started: dict[str, _Server] = {}
    try:
        yield started
    finally:
        for server in started.values():
            server.client.close()
            server.stop()


@pytest.fixture
def api_server(bench_dataset, dataset_dsns, api_servers, tmp_path_factory) -> _Server:
    """The API server on the current dataset."""
    if bench_dataset.name not in api_servers:
        log_path = tmp_path_factory.mktemp("api") / "serve.log"
        api_servers[bench_dataset.name] = _Server(dataset_dsns[bench_dataset.name], log_path)
    return api_servers[bench_dataset.name]


def _top_level(bench_query) -> None:
    if not bench_query.top_level:
        pytest.skip(f"{bench_query.spec['query_kind']} is not accepted at the top of the API")


# The client's garbage collector is off during rounds. A collection in this process walks every
# object the suite keeps (sessions, plugins, earlier results) and added 3 to 8 ms to rounds of
# about 10 ms, which is no part of the API's time.
@pytest.mark.benchmark(disable_gc=True)
def test_http_cold(
    benchmark, request, bench_dataset, bench_query, bench_session, api_server, scan_floor
) -> None:
    _top_level(bench_query)
    size = request.config.getoption("--bench-size")
    if size != "small":
        # Computing dominates there, and test_queries already times it cold.
        pytest.skip("cold HTTP rounds run on the small dataset only")
    floor = scan_floor(bench_query)

    def clear_cache() -> None:
        bench_session.cache.clear()

    rounds = _cold_rounds(size)
    document = benchmark.pedantic(
        lambda: api_server.fetch(bench_query.spec), setup=clear_cache, rounds=rounds, iterations=1
    )
    assert document["query_id"]
    record(benchmark, bench_dataset, bench_query.name, "http-c", floor)


def _time_cached_rounds(
    benchmark: Any,
    bench_dataset: Any,
    bench_query: Any,
    bench_session: Any,
    scan_floor: Any,
    fetch: Callable[[dict[str, Any]], Any],
    mode: str,
) -> None:
    """Time ``fetch`` of a stored result, check each round returns the same, and record it."""
    _top_level(bench_query)
    floor = scan_floor(bench_query)
    # Computed through the Python API first, so FLOWCORE_BENCH_TIMEOUT applies.
    _run_or_skip(bench_session, bench_query)
    expected = fetch(bench_query.spec)

    fetched = benchmark(lambda: fetch(bench_query.spec))
    assert fetched == expected
    record(benchmark, bench_dataset, bench_query.name, mode, floor)


@pytest.mark.benchmark(disable_gc=True)
def test_http_warm(
    benchmark, bench_dataset, bench_query, bench_session, api_server, scan_floor
) -> None:
    _time_cached_rounds(
        benchmark, bench_dataset, bench_query, bench_session, scan_floor, api_server.fetch, "http-w"
    )


# The same cached round without parsing the body. Parsing is the client's work, and for a large
# result (location_event_counts: 124,000 rows, 7.5 MB) it takes most of the round, so this
# separates the API's time from the client's.
@pytest.mark.benchmark(disable_gc=True)
def test_http_warm_unparsed(
    benchmark, bench_dataset, bench_query, bench_session, api_server, scan_floor
) -> None:
    _time_cached_rounds(
        benchmark,
        bench_dataset,
        bench_query,
        bench_session,
        scan_floor,
        api_server.fetch_body,
        "http-b",
    )
