"""Built-in plugin that registers the core's aggregation units."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.geography.units import AggregationUnit, core_units
from flowcore.hookspecs import hookimpl

__all__ = ["flowcore_register_aggregation_units"]


@hookimpl
def flowcore_register_aggregation_units(register: Callable[[AggregationUnit], None]) -> None:
    """Register admin0–admin3, lon-lat, versioned-cell, versioned-site and cell."""
    for unit in core_units():
        register(unit)
