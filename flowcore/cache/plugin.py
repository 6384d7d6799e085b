"""Built-in plugin that registers the PostgreSQL cache backend under the name ``postgresql``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.hookspecs import hookimpl

__all__ = ["flowcore_register_cache_backends"]


@hookimpl
def flowcore_register_cache_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the default backend, which stores results as tables in the ``cache`` schema."""
    register(PostgresCacheBackend.name, PostgresCacheBackend)
