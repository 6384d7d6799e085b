"""Verify the bearer token of a request and read the caller's identity from it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cachetools
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from flowcore_auth.claims import read_user_claims
from flowcore_auth.errors import MISSING_OR_EXPIRED_STATUS, AuthenticationError, KeyLoadError
from flowcore_auth.identity import Identity
from flowcore_auth.keys import load_public_key, load_public_key_from_environment

__all__ = [
    "AUDIENCE_VARIABLE",
    "DEFAULT_LEEWAY_SECONDS",
    "REMEMBERED_TOKENS",
    "TokenVerifier",
]

#: Environment variable naming this server; tokens must carry it as their ``aud`` claim.
AUDIENCE_VARIABLE = "FLOWAPI_IDENTIFIER"
#: Seconds of clock difference tolerated when checking ``exp`` and ``nbf``.
DEFAULT_LEEWAY_SECONDS = 10
#: Number of accepted tokens a verifier remembers; the least recently used is dropped first.
REMEMBERED_TOKENS = 256

# The server fixes the accepted algorithm. The token's own "alg" header is never trusted,
# which rules out "none" and HMAC tokens keyed with the public key.
_ALGORITHMS = ["RS256"]
_REQUIRED_CLAIMS = ["exp", "aud", "sub"]

_MISSING_HEADER = "Missing Authorization Header"
_MALFORMED_HEADER = "Invalid Authorization header: expected 'Bearer <token>'"


class TokenVerifier:
    """Check RS256 bearer tokens against one public key and one audience.

    A client sends the same token with each request, so an accepted token is remembered with
    its identity: later requests with the identical token skip decoding and the signature
    check, but the token is still rejected once it expires.
    """

    def __init__(
        self,
        public_key: RSAPublicKey | str | bytes,
        audience: str,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        """Set the key (an RSA key object, or PEM or base64 PEM text) and the audience."""
        if not isinstance(audience, str) or not audience:
            raise ValueError(f"audience must be a non-empty string, got {audience!r}")
        if leeway_seconds < 0:
            raise ValueError(f"leeway_seconds must be zero or more, got {leeway_seconds!r}")
        if isinstance(public_key, str | bytes):
            public_key = load_public_key(public_key, source="public_key")
        self._public_key = public_key
        self._audience = audience
        self._leeway_seconds = leeway_seconds
        # Token text to its identity and its "exp" claim.
        self._accepted: cachetools.LRUCache[str, tuple[Identity, int]] = cachetools.LRUCache(
            maxsize=REMEMBERED_TOKENS
        )
        self._accepted_lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TokenVerifier:
        """Build a verifier from PUBLIC_JWT_SIGNING_KEY and FLOWAPI_IDENTIFIER."""
        environ = os.environ if environ is None else environ
        audience = environ.get(AUDIENCE_VARIABLE)
        if not audience:
            raise KeyLoadError(
                f"{AUDIENCE_VARIABLE} is not set; set it to this server's name, "
                "which tokens must carry as their audience"
            )
        return cls(load_public_key_from_environment(environ), audience)

    @property
    def audience(self) -> str:
        """The ``aud`` value every accepted token carries."""
        return self._audience

    @property
    def leeway_seconds(self) -> float:
        """Seconds of clock difference tolerated for ``exp`` and ``nbf``."""
        return self._leeway_seconds

    def verify(self, authorization_header: str | None) -> Identity:
        """Verify an ``Authorization`` header value and return the caller's identity.

        Raises AuthenticationError with a short reason when the header is missing or
        malformed, or the token is not an RS256 token signed by the public key, has
        expired, is not yet valid, or lacks ``exp``, ``sub`` or the right ``aud``.
        """
        token = _bearer_token(authorization_header)
        with self._accepted_lock:
            accepted = self._accepted.get(token)
        if accepted is not None:
            identity, expiry = accepted
            # The check PyJWT makes: expired once "exp" is at least the leeway in the past.
            if time.time() - self._leeway_seconds < expiry:
                return identity
            raise AuthenticationError("Token has expired", MISSING_OR_EXPIRED_STATUS)
        payload = self._decode(token)

        subject = payload["sub"]
        if not subject:
            raise AuthenticationError("Invalid token: claim 'sub' must be a non-empty string")
        # PyJWT also accepts a numeric string, but a JWT NumericDate is a JSON number.
        expiry_claim = payload["exp"]
        if isinstance(expiry_claim, bool) or not isinstance(expiry_claim, int | float):
            raise AuthenticationError("Invalid token: claim 'exp' must be a number")

        claims = read_user_claims(payload.get("user_claims", {}))
        identity = Identity(
            subject=subject,
            roles=claims.roles,
            token_id=payload.get("jti"),
            expires_at=_expiry_time(payload["exp"]),
            path_grants=claims.path_grants,
        )
        with self._accepted_lock:
            self._accepted[token] = (identity, int(payload["exp"]))
        return identity

    def _decode(self, token: str) -> dict[str, Any]:
        # Each PyJWT error becomes a message of our own, so nothing of the token is echoed.
        try:
            return jwt.decode(
                token,
                self._public_key,
                algorithms=_ALGORITHMS,
                audience=self._audience,
                leeway=self._leeway_seconds,
                options={
                    "require": _REQUIRED_CLAIMS,
                    # A list of audiences is rejected even when it contains ours.
                    "strict_aud": True,
                    # "iat" is informational: expiry and "nbf" already bound the validity.
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                "Invalid token: the signing algorithm must be RS256"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("Invalid token: signature verification failed") from None
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("Token has expired", MISSING_OR_EXPIRED_STATUS) from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("Token is not yet valid (nbf)") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthenticationError(
                f"Invalid token: missing required claim '{error.claim}'"
            ) from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"Invalid token: audience must be '{self._audience}'"
            ) from None
        except InvalidSubjectError:
            raise AuthenticationError(
                "Invalid token: claim 'sub' must be a non-empty string"
            ) from None
        except InvalidJTIError:
            raise AuthenticationError("Invalid token: claim 'jti' must be a string") from None
        except jwt.DecodeError:
            raise AuthenticationError(
                "Invalid token: not a well-formed JWT, or 'exp' or 'nbf' is not a number"
            ) from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("Invalid token") from None


def _expiry_time(exp: float) -> datetime:
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # An "exp" beyond the year 9999 passed the expiry check, so it means "never expires".
        return datetime.max.replace(tzinfo=UTC)


def _bearer_token(authorization_header: str | None) -> str:
    if authorization_header is None or not authorization_header.strip():
        raise AuthenticationError(_MISSING_HEADER, MISSING_OR_EXPIRED_STATUS)
    parts = authorization_header.split()
    # The scheme name is case-insensitive (RFC 7235, section 2.1).
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise AuthenticationError(_MALFORMED_HEADER)
    return parts[1]
