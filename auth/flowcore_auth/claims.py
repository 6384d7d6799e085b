"""Encode and decode the ``user_claims`` claim: each role's list of scopes.

Tokens of FlowKit 1.34 carry the roles as a JSON object, role name to a list of scope
strings. By default the object is gzip-compressed and base64-encoded into a string (the
base64 text may be wrapped over several lines, MIME style). Uncompressed, ``user_claims``
is the JSON object itself. Tokens of FlowKit 1.10 to 1.17 carry a list of path scopes
instead, compressed the same way (``flowcore_auth.path_scopes``).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Iterable, Mapping

import attrs

from flowcore_auth.errors import AuthenticationError
from flowcore_auth.path_scopes import PathGrants, expand_path_scopes

__all__ = ["UserClaims", "decode_user_claims", "encode_user_claims", "read_user_claims"]


@attrs.frozen
class UserClaims:
    """Permissions read from ``user_claims``: roles, or the path grants of an older token."""

    #: Role name to its scopes; empty for a token with path scopes.
    roles: Mapping[str, frozenset[str]]
    #: The grants of a token with path scopes, or None for a token with roles.
    path_grants: PathGrants | None = None


def encode_user_claims(
    roles: Mapping[str, Iterable[str]], *, compress: bool = True
) -> str | dict[str, list[str]]:
    """Build a ``user_claims`` value: gzip and base64 text, or the plain object.

    Scopes are deduplicated and sorted so that equal roles give equal claims.
    """
    document = {str(name): sorted(set(scopes)) for name, scopes in roles.items()}
    if not compress:
        return document
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    # mtime=0 keeps the gzip header free of the clock, so the same roles encode identically.
    compressed = gzip.compress(text.encode("utf-8"), mtime=0)
    return base64.b64encode(compressed).decode("ascii")


def decode_user_claims(value: object) -> Mapping[str, frozenset[str]]:
    """Decode a ``user_claims`` value of roles into role name to scopes.

    ``value`` is compressed base64 text or the JSON object itself. Raises
    AuthenticationError saying what is malformed, also for a list of path scopes.
    """
    claims = read_user_claims(value)
    if claims.path_grants is not None:
        raise AuthenticationError(
            "Invalid user_claims: expected roles, got the path scopes of FlowKit 1.10 to 1.17"
        )
    return claims.roles


def read_user_claims(value: object) -> UserClaims:
    """Decode a ``user_claims`` value holding roles or a list of path scopes.

    ``value`` is compressed base64 text or the JSON value itself. Raises
    AuthenticationError saying what is malformed.
    """
    document = _decompress(value) if isinstance(value, str) else value
    if isinstance(document, list):
        return UserClaims(roles={}, path_grants=_path_grants_from_document(document))
    return UserClaims(roles=_roles_from_document(document))


def _decompress(text: str) -> object:
    compact = "".join(text.split())
    try:
        compressed = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationError("Invalid user_claims: the text is not valid base64") from None

    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error):
        raise AuthenticationError("Invalid user_claims: the data is not gzip-compressed") from None

    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AuthenticationError(
            "Invalid user_claims: the decompressed data is not UTF-8 JSON"
        ) from None


def _path_grants_from_document(document: list[object]) -> PathGrants:
    for scope in document:
        if not isinstance(scope, str):
            raise AuthenticationError(
                f"Invalid user_claims: a path scope is {_json_type_name(scope)}, not a string"
            )
    return expand_path_scopes(str(scope) for scope in document)


def _roles_from_document(document: object) -> dict[str, frozenset[str]]:
    if not isinstance(document, dict):
        raise AuthenticationError(
            "Invalid user_claims: expected an object mapping role names to lists of scopes, "
            f"or a list of path scopes, got {_json_type_name(document)}"
        )

    roles: dict[str, frozenset[str]] = {}
    for name, scopes in document.items():
        if isinstance(scopes, dict) and "permissions" in scopes:
            raise AuthenticationError(
                "Invalid user_claims: the per-query-kind format of FlowKit 1.9 and earlier "
                "is not supported; issue a new token with roles"
            )
        if not isinstance(scopes, list):
            raise AuthenticationError(
                f"Invalid user_claims: role {name!r} must map to a list of scopes, "
                f"got {_json_type_name(scopes)}"
            )
        for scope in scopes:
            if not isinstance(scope, str):
                raise AuthenticationError(
                    f"Invalid user_claims: role {name!r} has a scope that is "
                    f"{_json_type_name(scope)}, not a string"
                )
        roles[name] = frozenset(scopes)
    return roles


def _json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
