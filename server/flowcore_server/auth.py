"""Who is calling and what they may do: the identity dependency and the grant checks of routes.

Grants are evaluated per role (``flowcore_auth.grants``): one role must hold the route's action
and every scope the request needs. Tokens of FlowKit 1.10 to 1.17 hold path grants instead, which
must match the route's action and the request's paths (``flowcore_auth.path_scopes``). For
routes that take a query id, the caller must first hold the action at all (else 403). Then, as
in FlowAPI, an unknown id answers 404 and a query outside the caller's grants 403.
"""

from __future__ import annotations

from typing import Any

from flowcore_auth import Identity, TokenVerifier, is_allowed, require
from flowcore_auth.grants import (
    GET_AVAILABLE_DATES,
    GET_RESULT,
    RUN,
    holds_action,
    require_action,
)
from flowcore_auth.path_scopes import geography_paths, request_paths
from litestar import Request
from litestar.datastructures import State

from flowcore_server.logs import set_request_user

__all__ = [
    "RUN",
    "GET_RESULT",
    "GET_AVAILABLE_DATES",
    "POLL_ACTIONS",
    "authenticate",
    "geography_paths",
    "geography_scope",
    "holds_action",
    "request_paths",
    "require",
    "require_action",
    "is_allowed",
]

#: Polling a query is allowed to anyone who may run it or read its result.
POLL_ACTIONS = frozenset({RUN, GET_RESULT})


def authenticate(request: Request[Any, Any, State]) -> Identity:
    """Verify the request's bearer token and return the caller's identity (401 or 422 otherwise)."""
    verifier: TokenVerifier = request.app.state.settings.verifier
    identity = verifier.verify(request.headers.get("Authorization"))
    set_request_user(request.scope, identity.subject)
    return identity


def geography_scope(unit: str) -> str:
    """Return the scope that grants the geography of an aggregation unit."""
    return f"{unit}:geography:geography"
