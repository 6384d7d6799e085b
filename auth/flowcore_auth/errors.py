"""Errors of token verification, key loading and grant checks."""

from __future__ import annotations

from flowcore.errors import FlowcoreError, PermissionDeniedError

__all__ = ["AuthenticationError", "KeyLoadError", "PermissionDeniedError"]


class AuthenticationError(FlowcoreError):
    """The request carries no valid token; the server responds with 401 and ``message``.

    The message is short, safe to return to the caller, and never contains the token.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class KeyLoadError(FlowcoreError, ValueError):
    """A signing key could not be loaded; the message names the variable or file it came from."""
