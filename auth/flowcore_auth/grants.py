"""Decide whether an identity's roles grant what a request needs.

A request needs one action (or one of several alternatives) and a set of scopes. Actions are
the simple scopes ``run``, ``get_result`` and ``get_available_dates``. The other scopes are
triplets ``<aggregation unit>:<top-level query kind>:<query kind>``, one for the top-level kind
and one for every query kind nested in the spec, with ``nonspatial`` as the unit for queries
that have no aggregation unit. Roles are evaluated one at a time: a single role must hold an
action and every scope, so scopes spread over two roles grant nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flowcore_auth.errors import PermissionDeniedError
from flowcore_auth.identity import Identity

__all__ = [
    "DENIED_MESSAGE",
    "GET_AVAILABLE_DATES",
    "GET_RESULT",
    "RUN",
    "SIMPLE_SCOPES",
    "is_allowed",
    "require",
]

#: Submit a query (POST /run); polling accepts it too.
RUN = "run"
#: Read a result or a geography; polling accepts it too.
GET_RESULT = "get_result"
#: List the dates that have data.
GET_AVAILABLE_DATES = "get_available_dates"
#: The server-wide actions, as opposed to the per-query scope triplets.
SIMPLE_SCOPES = frozenset({RUN, GET_RESULT, GET_AVAILABLE_DATES})

#: Message of every denial; it lists nothing the caller lacks, like FlowAPI's.
DENIED_MESSAGE = "User claims verification failed"

_log = logging.getLogger(__name__)


def is_allowed(identity: Identity, actions: Iterable[str], scopes: Iterable[str]) -> bool:
    """Check whether one of the identity's roles contains one of ``actions`` and all ``scopes``.

    ``actions`` are alternatives (polling passes ``{"run", "get_result"}``) and must name at
    least one. ``scopes`` are the triplets the request needs and may be empty.
    """
    action_set = _as_set(actions, "actions")
    if not action_set:
        raise ValueError("actions must name at least one action, got none")
    required = _as_set(scopes, "scopes")

    for held in identity.roles.values():
        if not action_set.isdisjoint(held) and required <= held:
            return True
    return False


def require(identity: Identity, actions: Iterable[str], scopes: Iterable[str]) -> None:
    """Raise PermissionDeniedError unless ``is_allowed`` grants the request."""
    action_set = _as_set(actions, "actions")
    required = _as_set(scopes, "scopes")
    if is_allowed(identity, action_set, required):
        return

    _log.info(
        "Permission denied: subject=%r token_id=%r actions=%s scopes=%s",
        identity.subject,
        identity.token_id,
        sorted(action_set),
        sorted(required),
    )
    raise PermissionDeniedError(DENIED_MESSAGE)


def _as_set(values: Iterable[str], name: str) -> frozenset[str]:
    # A bare string is iterable too, and would silently become a set of its characters.
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of strings, got the string {values!r}")
    return frozenset(values)
