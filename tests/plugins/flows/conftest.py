"""Fixtures for the flow kinds' tests: the hand-made world and the test dataset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flows_helpers import SpecRunner, build_world

__all__: list[str] = []


@pytest.fixture
def world_dsn(fresh_dsn: str) -> str:
    """DSN of a new database holding the hand-made regions and cells (no events)."""
    build_world(fresh_dsn)
    return fresh_dsn


@pytest.fixture
def world(world_dsn: str) -> Iterator[SpecRunner]:
    """A spec runner on the hand-made world; add events with ``add_calls(world_dsn, ...)``."""
    runner = SpecRunner(world_dsn)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="session")
def testdata(testdata_dsn: str) -> Iterator[SpecRunner]:
    """A spec runner on the database holding the test dataset."""
    runner = SpecRunner(testdata_dsn)
    try:
        yield runner
    finally:
        runner.close()
