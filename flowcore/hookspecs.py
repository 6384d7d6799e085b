"""Every hook a flowcore plugin may implement (pluggy project name ``flowcore``).

Registration hooks receive a ``register`` callback instead of returning values, so the host
checks each contribution as it arrives and rejects duplicates at start-up with both names.
Event hooks are notifications: their return values are ignored and an exception raised in one
is logged and does not stop the query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flowcore.geography.units import AggregationUnit
    from flowcore.kinds import QueryKind

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "flowcore"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def flowcore_register_query_kinds(register: Callable[[QueryKind], None]) -> None:
    """Contribute query kinds by calling ``register(kind)`` once per kind.

    Called once per plugin manager, after every plugin is loaded. ``register`` raises
    ``PluginError`` when another plugin already registered a kind with the same name, naming
    both distributions; the error stops start-up.
    """


@hookspec
def flowcore_register_aggregation_units(register: Callable[[AggregationUnit], None]) -> None:
    """Contribute aggregation units (spatial units) by calling ``register(unit)`` per unit.

    Called once per plugin manager. A unit maps a located event's cell version to its output
    columns and returns its geometry as GeoJSON. Duplicate unit names stop start-up.
    """


@hookspec
def flowcore_register_cache_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Contribute cache backend drivers by calling ``register(name, factory)``.

    The executor builds the backend named by the ``FLOWCORE_CACHE_BACKEND`` setting (default
    ``postgresql``) by calling ``factory(engine=..., settings=..., hook=...)``, where ``hook``
    is the plugin manager's hook relay the backend announces cache events through. Duplicate
    names stop start-up.
    """


@hookspec
def flowcore_cache_event(
    event: str, query_id: str, query_kind: str, details: Mapping[str, Any]
) -> None:
    """Observe the cache: ``event`` is ``stored``, ``hit``, ``evicted`` or ``invalidated``.

    ``details`` carries event-specific values (for ``stored``: ``table``, ``compute_time_ms``,
    ``size_bytes``; for ``evicted``: ``size_bytes``, ``score``; for ``invalidated``: ``reason``).
    Called in the thread that caused the event; implementations must return quickly.
    """


@hookspec
def flowcore_query_state_changed(
    query_id: str, query_kind: str, old_state: str, new_state: str
) -> None:
    """Observe a query's state transition (for example ``queued`` to ``executing``).

    Called after the transition is stored in the database, in the thread that made it. Only
    the process that made a transition is notified of it.
    """
