"""The verified caller of a request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from flowcore_auth.path_scopes import PathGrants

__all__ = ["Identity"]


def _freeze_roles(roles: Mapping[str, Iterable[str]]) -> Mapping[str, frozenset[str]]:
    return MappingProxyType({name: frozenset(scopes) for name, scopes in roles.items()})


@attrs.frozen
class Identity:
    """Caller of a request as read from a verified token: the user name and its permissions."""

    #: The token's ``sub`` claim: the user name.
    subject: str
    #: Role name to the scopes it holds; read-only.
    roles: Mapping[str, frozenset[str]] = attrs.field(converter=_freeze_roles, hash=False)
    #: The token's ``jti`` claim, or None when the token has none.
    token_id: str | None = None
    #: When the token expires (the ``exp`` claim), timezone-aware UTC.
    expires_at: datetime | None = None
    #: The grants of a token with path scopes (FlowKit 1.10 to 1.17), which then has no roles.
    path_grants: PathGrants | None = attrs.field(default=None, hash=False)
