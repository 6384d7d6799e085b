"""Entry point of the flowcore-meaningful distribution: registers its query kinds."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore_meaningful import aggregate, clusters, od_matrix

__all__ = ["flowcore_register_query_kinds"]


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register the meaningful locations query kinds."""
    register(clusters.KIND)
    register(aggregate.KIND)
    register(od_matrix.BETWEEN_LABELS_KIND)
    register(od_matrix.BETWEEN_DATES_KIND)
