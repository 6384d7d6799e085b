"""Throwaway query kinds that sleep or fail, and an app factory that installs them.

The state tests start a server with ``uvicorn --app-dir tests/server --factory
state_kinds:create_app`` so that queries can be held in ``executing`` and ``queued`` or made to
error, without installing a plugin distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from flowcore_server import create_app as create_server_app
from litestar import Litestar
from sqlalchemy import Integer, Select, cast, func, literal, select

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore.model.base import Aggregate

__all__ = ["SleepQuery", "FailingQuery", "StateKindsPlugin", "create_app"]


@attrs.frozen(kw_only=True)
class SleepQuery(Aggregate):
    """Sleeps in the database for ``seconds``, then returns one row; ``tag`` varies the id."""

    query_kind: ClassVar[str] = "test_sleep"
    description: ClassVar[str] = "Sleep in the database (tests only)."

    seconds: float
    tag: str


@attrs.frozen(kw_only=True)
class FailingQuery(Aggregate):
    """Fails with a division by zero when executed; ``tag`` varies the id."""

    query_kind: ClassVar[str] = "test_failing"
    description: ClassVar[str] = "Fail when executed (tests only)."

    tag: str


def build_sleep(spec: SleepQuery, _: Any) -> Select[Any]:
    """Select a count of one after ``pg_sleep`` returns."""
    sleeping = select(func.pg_sleep(spec.seconds).label("slept")).subquery("sleeping")
    return select(func.count().label("value")).select_from(sleeping)


def build_failing(spec: FailingQuery, _: Any) -> Select[Any]:
    """Select an integer division by zero, which PostgreSQL rejects at run time."""
    return select((cast(literal(1), Integer) // cast(literal(0), Integer)).label("value"))


class StateKindsPlugin:
    """Registers the two test kinds as top-level kinds."""

    @hookimpl
    def flowcore_register_query_kinds(self, register: Callable[[QueryKind], None]) -> None:
        """Register ``test_sleep`` and ``test_failing``."""
        register(QueryKind(spec=SleepQuery, build=build_sleep, version="1", top_level=True))
        register(QueryKind(spec=FailingQuery, build=build_failing, version="1", top_level=True))


def create_app() -> Litestar:
    """Build the API app from the environment, with the test kinds installed."""
    return create_server_app(plugins=[StateKindsPlugin()])
