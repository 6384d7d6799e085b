"""Fixtures of the HTTP API tests: real uvicorn servers on 127.0.0.1 and tokens for them.

``api_server`` (session)
    ``flowcore serve`` in a subprocess on a free loopback port, on the test dataset's database
    (``testdata_dsn``), verifying tokens with a key pair generated for the session.
``state_server`` (session)
    A server with the throwaway kinds of ``state_kinds`` (sleeping and failing queries) and one
    query worker, on its own scratch database that holds a few quality-check outcomes.
``make_token`` (session)
    ``make_token(roles, **claims)`` signs a token for the session's servers.
``universal_token`` / ``state_token`` (session)
    Tokens with every scope that ``api_server`` / ``state_server`` advertises.
``python_session`` (session)
    A flowcore Python session on the test dataset, for expected values.

Each server's stderr (JSON log lines) goes to a file; ``RunningServer.log_records()`` parses it.
Servers are stopped by their process id at the end of the session.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence

import httpx
import psycopg
import pytest
from api_helpers import (
    AUDIENCE,
    HERE,
    RunningServer,
    free_port,
    serve_command,
    server_environment,
    start_server,
)
from flowcore_auth import generate_key_pair, issue_token
from flowcore_auth.tokens import DEFAULT_LIFETIME

import flowcore
from flowcore.session import Session
from flowcore.testing import insert_events
from flowdb.testing import ScratchServer, database_of


@pytest.fixture(scope="session")
def signing_keys() -> tuple[str, str]:
    """A key pair for the session: (private PEM, public PEM)."""
    return generate_key_pair(2048)


@pytest.fixture(scope="session")
def make_token(signing_keys: tuple[str, str]) -> Callable[..., str]:
    """Function that signs a token granting ``roles`` for the test servers."""
    private_pem, _ = signing_keys

    def sign(
        roles: Mapping[str, Sequence[str]],
        *,
        subject: str = "tester",
        lifetime: dt.timedelta = DEFAULT_LIFETIME,
    ) -> str:
        return issue_token(
            private_pem, subject=subject, audience=AUDIENCE, roles=roles, lifetime=lifetime
        )

    return sign


@pytest.fixture(scope="session")
def api_server(
    testdata_dsn: str, signing_keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """``flowcore serve`` on the test dataset."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("api-server") / "stderr.log"
    env = server_environment(testdata_dsn, signing_keys[1])
    server = start_server(serve_command(port), env, log_path, port)
    try:
        yield server
    finally:
        server.stop()


def _advertised_scopes(server: RunningServer) -> list[str]:
    document = httpx.get(server.url + "/api/0/spec/openapi.json", timeout=30).json()
    scopes: list[str] = document["components"]["securitySchemes"]["token"]["x-security-scopes"]
    return scopes


@pytest.fixture(scope="session")
def universal_token(api_server: RunningServer, make_token: Callable[..., str]) -> str:
    """A token with every scope ``api_server`` advertises, in one role."""
    return make_token({"universal_role": _advertised_scopes(api_server)})


@pytest.fixture(scope="session")
def python_session(testdata_dsn: str) -> Iterator[Session]:
    """A flowcore session on the test dataset."""
    session = flowcore.connect(testdata_dsn)
    try:
        yield session
    finally:
        session.close()


#: Quality-check outcomes in the state server's database: (event type, date, check, outcome).
QA_OUTCOMES = [
    ("calls", dt.date(2016, 1, 1), "count_msisdns", "3"),
    ("calls", dt.date(2016, 1, 2), "count_msisdns", "5"),
    ("calls", dt.date(2016, 1, 2), "max_duration", "120"),
    ("sms", dt.date(2016, 1, 1), "count_msisdns", "7"),
]


def _fill_scratch_database(dsn: str) -> None:
    """Load a few events (which records their dates as ingested) and quality checks."""
    for event_type, day in sorted({(t, d) for t, d, _, _ in QA_OUTCOMES}):
        insert_events(
            dsn,
            event_type,
            [{"msisdn": "AAAA", "datetime": f"{day.isoformat()} 10:00:00", "location_id": "c1"}],
        )
    with psycopg.connect(dsn) as connection:
        connection.cursor().executemany(
            "INSERT INTO etl.post_etl_queries (cdr_type, cdr_date, type_of_query_or_check, "
            "outcome) VALUES (%s, %s, %s, %s)",
            QA_OUTCOMES,
        )
        # An older outcome of the same check and date that the newer row supersedes.
        connection.execute(
            "INSERT INTO etl.post_etl_queries (cdr_type, cdr_date, type_of_query_or_check, "
            "outcome, timestamp) VALUES ('calls', '2016-01-01', 'count_msisdns', '1', "
            "now() - interval '1 day')"
        )


@pytest.fixture(scope="session")
def scratch_dsn(flowdb_server: ScratchServer, flowdb_template: str) -> Iterator[str]:
    """DSN of a migrated database with a few events and quality checks, for the state server."""
    dsn = flowdb_server.create_database(flowdb_template)
    try:
        _fill_scratch_database(dsn)
        yield dsn
    finally:
        flowdb_server.drop_database(database_of(dsn))


@pytest.fixture(scope="session")
def state_server(
    scratch_dsn: str, signing_keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server with the sleeping and failing test kinds and a single query worker."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("state-server") / "stderr.log"
    env = server_environment(scratch_dsn, signing_keys[1], FLOWCORE_MAX_WORKERS="1")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        "--factory",
        "state_kinds:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    server = start_server(command, env, log_path, port)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def state_token(state_server: RunningServer, make_token: Callable[..., str]) -> str:
    """A token with every scope ``state_server`` advertises."""
    return make_token({"universal_role": _advertised_scopes(state_server)})
