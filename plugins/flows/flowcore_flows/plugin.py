"""Entry point of the flowcore-flows distribution: registers its query kinds."""

from __future__ import annotations

from collections.abc import Callable

from flowcore.hookspecs import hookimpl
from flowcore.kinds import QueryKind
from flowcore_flows.flows import FLOWS, INFLOWS, OUTFLOWS
from flowcore_flows.labelled_flows import LABELLED_FLOWS

__all__ = ["KINDS", "flowcore_register_query_kinds"]

#: Every query kind of this distribution.
KINDS: tuple[QueryKind, ...] = (FLOWS, INFLOWS, OUTFLOWS, LABELLED_FLOWS)


@hookimpl
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Register the flow query kinds."""
    for kind in KINDS:
        register(kind)
