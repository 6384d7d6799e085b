"""Fixtures shared by the query-kind tests: the registry and a runner that computes specs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import flowcore
from flowcore.model.converter import SpecConverter
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry
from flowcore.session import Session
from flowcore.settings import Settings
from flowdb.testing import ScratchServer, database_of

Runner = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The registry of every installed plugin."""
    return load_registry(build_plugin_manager())


@pytest.fixture(scope="session")
def converter(registry: Registry) -> SpecConverter:
    """The spec converter of the installed registry."""
    return SpecConverter(registry)


@pytest.fixture
def run_on() -> Iterator[Callable[[str], Runner]]:
    """Return ``run_on(dsn)``: a function computing a spec's rows through ``Session.run``.

    ``redact=threshold`` releases the rows as the HTTP API does with that threshold; without it
    the released columns are returned unredacted.
    """
    sessions: dict[tuple[str, int], Session] = {}

    def session_for(dsn: str, threshold: int) -> Session:
        key = (dsn, threshold)
        if key not in sessions:
            settings = Settings(redaction_threshold=threshold)
            sessions[key] = flowcore.connect(dsn, settings=settings)
        return sessions[key]

    def make(dsn: str) -> Runner:
        def run(spec: Mapping[str, Any], *, redact: int | None = None) -> list[dict[str, Any]]:
            session = session_for(dsn, 15 if redact is None else redact)
            result = session.run(spec, redact=redact is not None, timeout=120)
            return result.to_dicts()

        return run

    yield make
    for session in sessions.values():
        session.close()


@pytest.fixture(scope="module")
def counted_dsn(flowdb_server: ScratchServer, testdata_path: Path) -> Iterator[str]:
    """DSN of a private copy of the test dataset, which the tests may change."""
    dsn = flowdb_server.create_database(flowdb_server.testdata_template(testdata_path))
    try:
        yield dsn
    finally:
        flowdb_server.drop_database(database_of(dsn))
