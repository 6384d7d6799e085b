"""Fixtures for core tests that need no database: the installed registry and converter."""

from __future__ import annotations

import pytest

from flowcore.model.converter import SpecConverter
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The registry of every installed plugin."""
    return load_registry(build_plugin_manager())


@pytest.fixture(scope="session")
def converter(registry: Registry) -> SpecConverter:
    """A converter over the installed registry with a small node limit for limit tests."""
    return SpecConverter(registry, max_spec_nodes=20)
