"""Read the grantable scopes and the audience that a server advertises in its OpenAPI document.

FlowAPI-compatible servers describe their bearer token under
``components.securitySchemes.token``: ``x-security-scopes`` lists every scope a token can
grant and ``x-audience`` is the ``aud`` value the server expects.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx

__all__ = [
    "FETCH_TIMEOUT_SECONDS",
    "ServerSpecError",
    "TokenScheme",
    "fetch_token_scheme",
    "token_scheme_from_document",
]

#: Seconds to wait for the server when fetching its OpenAPI document.
FETCH_TIMEOUT_SECONDS = 10.0


class ServerSpecError(Exception):
    """The OpenAPI document could not be fetched or does not describe the token scheme."""


@attrs.frozen
class TokenScheme:
    """The scopes a server can grant and the audience its tokens must carry."""

    scopes: tuple[str, ...]
    audience: str


def fetch_token_scheme(url: str, *, timeout: float = FETCH_TIMEOUT_SECONDS) -> TokenScheme:
    """Fetch an OpenAPI JSON document over HTTP and read its token scheme.

    ``url`` is the document's own address, such as
    ``http://127.0.0.1:9090/api/0/spec/openapi.json``.
    """
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        raise ServerSpecError(f"cannot fetch the OpenAPI document from {url}: {error}") from None
    if response.status_code != 200:
        raise ServerSpecError(
            f"cannot fetch the OpenAPI document from {url}: HTTP {response.status_code}"
        )
    try:
        document = response.json()
    except ValueError:
        raise ServerSpecError(f"the document at {url} is not valid JSON") from None
    return token_scheme_from_document(document, source=url)


def token_scheme_from_document(document: Any, *, source: str = "the document") -> TokenScheme:
    """Read ``components.securitySchemes.token`` of a parsed OpenAPI document."""
    path = "components.securitySchemes.token"
    scheme: Any = document
    for key in path.split("."):
        if not isinstance(scheme, dict) or key not in scheme:
            raise ServerSpecError(f"{source} has no {path}; is it a flowcore or FlowAPI server?")
        scheme = scheme[key]
    if not isinstance(scheme, dict):
        raise ServerSpecError(f"{source}: {path} must be an object")

    scopes = scheme.get("x-security-scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ServerSpecError(f"{source}: {path}.x-security-scopes must be a list of strings")
    audience = scheme.get("x-audience")
    if not isinstance(audience, str) or not audience:
        raise ServerSpecError(f"{source}: {path}.x-audience must be a non-empty string")
    return TokenScheme(scopes=tuple(scopes), audience=audience)
