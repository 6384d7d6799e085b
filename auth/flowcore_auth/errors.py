"""Errors of token verification, key loading and grant checks."""

from __future__ import annotations

from flowcore.errors import FlowcoreError, PermissionDeniedError

__all__ = [
    "INVALID_TOKEN_STATUS",
    "MISSING_OR_EXPIRED_STATUS",
    "AuthenticationError",
    "KeyLoadError",
    "PermissionDeniedError",
]


#: HTTP status of a missing header or an expired token, as in FlowAPI.
MISSING_OR_EXPIRED_STATUS = 401
#: HTTP status of a token that is malformed, forged or not for this server, as in FlowAPI.
INVALID_TOKEN_STATUS = 422


class AuthenticationError(FlowcoreError):
    """The request carries no valid token; the server responds with ``status_code`` and ``message``.

    The message is short, safe to return to the caller, and never contains the token. The status
    is 401 for a missing header or an expired token and 422 for any other fault, as in FlowAPI.
    """

    def __init__(self, message: str, status_code: int = INVALID_TOKEN_STATUS) -> None:
        self.message = message
        self.status_code = status_code
        super().__init__(message)


class KeyLoadError(FlowcoreError, ValueError):
    """A signing key could not be loaded; the message names the variable or file it came from."""
