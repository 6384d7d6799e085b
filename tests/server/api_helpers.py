"""Running API servers in subprocesses for the tests: start, stop, read their JSON logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

__all__ = [
    "AUDIENCE",
    "CALENDAR_PERIOD_ERRORS",
    "HERE",
    "RunningServer",
    "free_port",
    "serve_command",
    "server_environment",
    "start_server",
]

#: Audience (FLOWAPI_IDENTIFIER) of the test servers.
AUDIENCE = "flowcore-test-api"
#: Seconds a server may take to start answering.
STARTUP_SECONDS = 60
HERE = Path(__file__).resolve().parent
FLOWCORE_COMMAND = str(Path(sys.executable).with_name("flowcore"))


class RunningServer:
    """A server subprocess: its base URL, its process and its log file."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path

    def client(self, token: str | None = None) -> httpx.Client:
        """Return an HTTP client on this server, sending ``token`` as a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log_records(self) -> list[dict[str, Any]]:
        """Return every JSON log record the server wrote so far."""
        records = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def wait_for_records(
        self, matches: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Return the log records that match, waiting up to ``timeout`` s for the first one.

        A request's access record is written just after its response is sent, so a test that
        has read a response may have to wait briefly for the record.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [record for record in self.log_records() if matches(record)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server by its pid: SIGTERM, then SIGKILL after 20 seconds."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(dsn: str, public_pem: str, **extra: str) -> dict[str, str]:
    """Return the environment of a test server process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOWDB_", "FLOWMACHINE_", "FLOWAPI_", "FLOWCORE_"))
    }
    env.update(
        {
            "PUBLIC_JWT_SIGNING_KEY": public_pem,
            "FLOWAPI_IDENTIFIER": AUDIENCE,
            "FLOWDB_DSN": dsn,
            "FLOWAPI_LOG_LEVEL": "info",
            "FLOWCORE_HOME": os.environ.get("FLOWCORE_HOME", str(Path(".flowcore").resolve())),
        }
    )
    env.update(extra)
    return env


def start_server(
    command: Sequence[str], env: Mapping[str, str], log_path: Path, port: int
) -> RunningServer:
    """Start a server command and wait until ``GET /`` answers; fail with its log otherwise."""
    # Standard error only, so the log file holds nothing but the server's JSON log lines.
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            list(command), env=dict(env), stdout=subprocess.DEVNULL, stderr=log_file
        )
    url = f"http://127.0.0.1:{port}"
    server = RunningServer(url, process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"the server did not answer within {STARTUP_SECONDS} s:\n{log_path.read_text()}")


def serve_command(port: int) -> list[str]:
    """Return the ``flowcore serve`` command line for a loopback port."""
    return [FLOWCORE_COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port)]


#: Seconds a test waits for a query to complete.
#: Bad period fields of calendar_activity, with the message naming the field.
CALENDAR_PERIOD_ERRORS = [
    ({"total_periods": 0}, "$.total_periods: must be at least 1, got 0"),
    (
        {"total_periods": 2, "period_unit": "weeks"},
        "$.period_unit: 'weeks' is not one of days, hours, minutes",
    ),
]

COMPLETION_SECONDS = 120


def wait_completed(client: httpx.Client, query_id: str) -> None:
    """Poll a query until the server redirects to its result; fail on any other answer."""
    deadline = time.monotonic() + COMPLETION_SECONDS
    while True:
        response = client.get(f"/api/0/poll/{query_id}")
        if response.status_code == 303:
            return
        if response.status_code != 202 or time.monotonic() > deadline:
            pytest.fail(f"query {query_id} returned {response.status_code} {response.text}")
        time.sleep(0.05)


def run_completed(client: httpx.Client, spec: dict[str, Any]) -> str:
    """Run a spec through the API, wait until it is completed and return its query id."""
    response = client.post("/api/0/run", json=spec)
    assert response.status_code == 202, response.text
    query_id = str(response.json()["query_id"])
    wait_completed(client, query_id)
    return query_id


def access_count(dsn: str, query_id: str) -> int:
    """Return how often a stored result was accessed, from ``cache.cached``."""
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT access_count FROM cache.cached WHERE query_id = %s", (query_id,)
        ).fetchone()
    assert row is not None, f"query {query_id} is not stored"
    return int(row[0])
