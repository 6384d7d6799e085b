"""Fixtures shared by the whole test suite: real PostgreSQL+PostGIS databases.

Server: the session uses ``FLOWCORE_TEST_DSN`` when set (an admin DSN of a server where the
tests may create and drop databases and roles). Otherwise it starts, or reuses, a disposable
local cluster in ``$FLOWCORE_HOME/test`` (default ``./.flowcore/test``). The last session using
that cluster stops it; set ``FLOWCORE_KEEP_TEST_CLUSTER=1`` to keep it running between
sessions, then stop it with ``FLOWCORE_HOME=.flowcore/test flowcore db down``.

Fixtures:

``flowdb_server`` (session)
    The :class:`flowdb.testing.ScratchServer`: ``admin_dsn``, ``create_database(template)``,
    ``drop_database(name)``, and ``roles``, the query engine and API roles that exist in every
    test database (``roles.engine_user``/``engine_password``, ``roles.api_user``/
    ``api_password``).
``flowdb_template`` (session)
    Name of a migrated, empty database used as the template of ``fresh_dsn``.
``fresh_dsn`` (function)
    DSN (``postgresql://`` URL, as the owner) of a new database copied from the template and
    dropped after the test. For tests that insert small hand-made events.
``testdata_path`` (session)
    Path of the test dataset named by ``FLOWCORE_TESTDATA``; tests using it are skipped when
    the variable is unset.
``testdata_dsn`` (session)
    DSN of a database holding the whole test dataset, loaded once and shared by every test of
    the session: tests may add cache tables but must not change the loaded data.
``role_dsn`` (function)
    ``role_dsn(dsn, "engine" | "api")`` returns ``dsn`` with that role's credentials.

To create a database as another role, use :func:`flowdb.testing.dsn_with`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowdb.testing import ScratchServer, database_of, dsn_with

__all__: list[str] = []


@pytest.fixture(scope="session")
def flowdb_server() -> Iterator[ScratchServer]:
    """The PostgreSQL server of this session, with its local cluster started when needed."""
    with ScratchServer.for_session() as server:
        yield server


@pytest.fixture(scope="session")
def flowdb_template(flowdb_server: ScratchServer) -> str:
    """Name of the migrated, empty template database."""
    return flowdb_server.empty_template()


@pytest.fixture
def fresh_dsn(flowdb_server: ScratchServer, flowdb_template: str) -> Iterator[str]:
    """DSN of a new migrated database, dropped after the test."""
    dsn = flowdb_server.create_database(flowdb_template)
    database = database_of(dsn)
    try:
        yield dsn
    finally:
        flowdb_server.drop_database(database)


@pytest.fixture(scope="session")
def testdata_path() -> Path:
    """Path of the test dataset (``FLOWCORE_TESTDATA``)."""
    configured = os.environ.get("FLOWCORE_TESTDATA")
    if not configured:
        pytest.skip("FLOWCORE_TESTDATA is unset: set it to the test dataset's folder")
    path = Path(configured).expanduser().resolve()
    if not path.is_dir():
        pytest.fail(f"FLOWCORE_TESTDATA={configured!r} is not a folder")
    return path


@pytest.fixture(scope="session")
def testdata_dsn(flowdb_server: ScratchServer, testdata_path: Path) -> Iterator[str]:
    """DSN of this session's database holding the whole test dataset."""
    template = flowdb_server.testdata_template(testdata_path)
    dsn = flowdb_server.create_database(template)
    database = database_of(dsn)
    try:
        yield dsn
    finally:
        flowdb_server.drop_database(database)


@pytest.fixture
def role_dsn(flowdb_server: ScratchServer) -> Callable[[str, str], str]:
    """Function returning a DSN with the credentials of the "engine" or "api" role."""
    roles = flowdb_server.roles

    def with_role(dsn: str, role: str) -> str:
        if role == "engine":
            return dsn_with(dsn, user=roles.engine_user, password=roles.engine_password)
        if role == "api":
            return dsn_with(dsn, user=roles.api_user, password=roles.api_password)
        raise ValueError(f"role {role!r} is unknown; allowed: engine, api")

    return with_role
