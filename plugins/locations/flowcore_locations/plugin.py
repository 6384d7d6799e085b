"""Entry point of the flowcore-locations distribution: registers its query kinds."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore_locations import daily_location

__all__ = ["flowcore_register_query_kinds"]


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register the location query kinds."""
    register(daily_location.KIND)
