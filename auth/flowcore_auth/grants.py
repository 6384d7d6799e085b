"""Decide whether an identity's roles grant what a request needs.

A request needs one action (or one of several alternatives) and a set of scopes. Actions are
the simple scopes ``run``, ``get_result`` and ``get_available_dates``. The other scopes are
triplets ``<aggregation unit>:<top-level query kind>:<query kind>``, one for the top-level kind
and one for every query kind nested in the spec, with ``nonspatial`` as the unit for queries
that have no aggregation unit. Roles are evaluated one at a time: a single role must hold an
action and every scope, so scopes spread over two roles grant nothing.

A token of FlowKit 1.10 to 1.17 holds path grants instead of roles (``flowcore_auth.path_scopes``).
For it, the request's action and its paths must equal one grant, and the action
``get_available_dates`` is the action ``get_result`` on the path ``available_dates``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NoReturn

from flowcore_auth import path_scopes
from flowcore_auth.errors import PermissionDeniedError
from flowcore_auth.identity import Identity

__all__ = [
    "DENIED_MESSAGE",
    "GET_AVAILABLE_DATES",
    "GET_RESULT",
    "RUN",
    "SIMPLE_SCOPES",
    "holds_action",
    "is_allowed",
    "require",
    "require_action",
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


def is_allowed(
    identity: Identity,
    actions: Iterable[str],
    scopes: Iterable[str],
    *,
    paths: Iterable[str] = (),
) -> bool:
    """Check whether one of the identity's roles contains one of ``actions`` and all ``scopes``.

    ``actions`` are alternatives (polling passes ``{"run", "get_result"}``) and must name at
    least one. ``scopes`` are the triplets the request needs and may be empty. ``paths`` are
    the request's paths (``path_scopes.request_paths``), which only path grants read.
    """
    action_set = _as_set(actions, "actions")
    if not action_set:
        raise ValueError("actions must name at least one action, got none")
    required = _as_set(scopes, "scopes")
    if identity.path_grants is not None:
        path_set = _as_set(paths, "paths")
        # Every request names at least one path, so a call without paths is denied.
        return bool(path_set) and path_scopes.allows(identity.path_grants, action_set, path_set)

    for held in identity.roles.values():
        if not action_set.isdisjoint(held) and required <= held:
            return True
    return False


def require(
    identity: Identity,
    actions: Iterable[str],
    scopes: Iterable[str],
    *,
    paths: Iterable[str] = (),
) -> None:
    """Raise PermissionDeniedError unless ``is_allowed`` grants the request."""
    action_set = _as_set(actions, "actions")
    required = _as_set(scopes, "scopes")
    path_set = _as_set(paths, "paths")
    if is_allowed(identity, action_set, required, paths=path_set):
        return
    _deny(identity, action_set, required if identity.path_grants is None else path_set)


def holds_action(identity: Identity, actions: Iterable[str]) -> bool:
    """Check whether the identity has one of ``actions`` for some request at all."""
    action_set = _as_set(actions, "actions")
    if identity.path_grants is None:
        return any(not action_set.isdisjoint(held) for held in identity.roles.values())
    if GET_AVAILABLE_DATES in action_set and path_scopes.allows(
        identity.path_grants, {GET_RESULT}, frozenset({path_scopes.AVAILABLE_DATES_PATH})
    ):
        return True
    return path_scopes.holds_action(identity.path_grants, action_set - {GET_AVAILABLE_DATES})


def require_action(identity: Identity, actions: Iterable[str]) -> None:
    """Raise PermissionDeniedError unless ``holds_action`` finds one of ``actions``."""
    action_set = _as_set(actions, "actions")
    if not holds_action(identity, action_set):
        _deny(identity, action_set, frozenset())


def _deny(identity: Identity, actions: frozenset[str], needed: frozenset[str]) -> NoReturn:
    _log.info(
        "Permission denied: subject=%r token_id=%r actions=%s scopes=%s",
        identity.subject,
        identity.token_id,
        sorted(actions),
        sorted(needed),
    )
    raise PermissionDeniedError(DENIED_MESSAGE)


def _as_set(values: Iterable[str], name: str) -> frozenset[str]:
    # A bare string is iterable too, and would silently become a set of its characters.
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of strings, got the string {values!r}")
    return frozenset(values)
