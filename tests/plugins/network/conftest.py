"""Fixtures for the network query kinds: a runner that computes specs on a test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from flowcore.model.converter import SpecConverter
from flowcore.planner import Planner
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry
from flowdb.config import sqlalchemy_url

Runner = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The registry of every installed plugin."""
    return load_registry(build_plugin_manager())


@pytest.fixture(scope="session")
def converter(registry: Registry) -> SpecConverter:
    """The spec converter of the installed registry."""
    return SpecConverter(registry)


def _runner(engine: Engine, registry: Registry, converter: SpecConverter) -> Runner:
    planner = Planner(registry, converter, engine, is_stored=lambda _query_id: False)

    def run(spec: Mapping[str, Any], *, redact: int | None = None) -> list[dict[str, Any]]:
        structured = converter.structure(spec)
        statement = planner.inline_sql(structured)
        kind = registry.kind_of(structured)
        if redact is not None and kind.redactor is not None:
            statement = kind.redactor(statement.subquery("result"), redact)
        with engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return [dict(row) for row in rows]

    return run


@pytest.fixture
def run_on(registry: Registry, converter: SpecConverter) -> Iterator[Callable[[str], Runner]]:
    """Return ``run_on(dsn)``: a function computing a spec's rows (``redact=threshold`` applies
    the kind's release rule)."""
    engines: list[Engine] = []

    def make(dsn: str) -> Runner:
        engine = create_engine(sqlalchemy_url(dsn), connect_args={"options": "-c timezone=UTC"})
        engines.append(engine)
        return _runner(engine, registry, converter)

    yield make
    for engine in engines:
        engine.dispose()
