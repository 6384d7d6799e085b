"""Issue RS256 tokens with FlowKit 1.34's claim set, and generate the key pair that signs them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from flowcore_auth.claims import encode_user_claims
from flowcore_auth.keys import (
    MINIMUM_RSA_KEY_SIZE,
    load_private_key,
    private_key_to_pem,
    public_key_to_pem,
)

__all__ = [
    "DEFAULT_KEY_SIZE",
    "DEFAULT_LIFETIME",
    "generate_key_pair",
    "issue_token",
    "parse_lifetime",
]

#: RSA modulus size, in bits, of generated keys (NIST's recommendation for use past 2030).
DEFAULT_KEY_SIZE = 3072
#: Validity period of an issued token when the caller gives none.
DEFAULT_LIFETIME = timedelta(hours=1)

_LIFETIME_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_LIFETIME_PATTERN = re.compile(r"(\d+)([smhd])")


def generate_key_pair(key_size: int = DEFAULT_KEY_SIZE) -> tuple[str, str]:
    """Generate an RSA key pair and return it as (private PEM, public PEM) text."""
    if key_size < MINIMUM_RSA_KEY_SIZE:
        raise ValueError(f"key_size must be at least {MINIMUM_RSA_KEY_SIZE} bits, got {key_size}")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return private_key_to_pem(private_key), public_key_to_pem(private_key.public_key())


def issue_token(
    private_key: RSAPrivateKey | str | bytes,
    subject: str,
    audience: str,
    roles: Mapping[str, Iterable[str]],
    lifetime: timedelta = DEFAULT_LIFETIME,
    compress: bool = True,
    now: datetime | None = None,
) -> str:
    """Sign a token for ``subject`` that grants ``roles`` on the server named ``audience``.

    The claims are ``iat``, ``nbf`` (both ``now``), ``jti`` (a random UUID), ``sub``,
    ``exp`` (``now + lifetime``), ``aud`` and ``user_claims``, which is gzip-compressed
    and base64-encoded unless ``compress`` is false. ``private_key`` is an RSA key object
    or PEM (or base64 PEM) text. ``now`` defaults to the current time and must be
    timezone-aware.
    """
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"subject must be a non-empty string, got {subject!r}")
    if not isinstance(audience, str) or not audience:
        raise ValueError(f"audience must be a non-empty string, got {audience!r}")
    if lifetime <= timedelta(0):
        raise ValueError(f"lifetime must be positive, got {lifetime}")
    if now is None:
        now = datetime.now(tz=UTC)
    elif now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got the naive datetime {now.isoformat()}")
    if isinstance(private_key, str | bytes):
        private_key = load_private_key(private_key, source="private_key")

    issued_at = int(now.timestamp())
    claims = {
        "iat": issued_at,
        "nbf": issued_at,
        "jti": str(uuid.uuid4()),
        "sub": subject,
        "exp": issued_at + int(lifetime.total_seconds()),
        "aud": audience,
        "user_claims": encode_user_claims(roles, compress=compress),
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


def parse_lifetime(text: str) -> timedelta:
    """Parse a lifetime such as ``30m``, ``1h`` or ``2d`` (units s, m, h, d) into a timedelta."""
    match = _LIFETIME_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"invalid lifetime {text!r}: expected a whole number followed by s, m, h or d "
            "(for example 30m, 1h or 2d)"
        )
    amount, unit = match.groups()
    try:
        lifetime = timedelta(**{_LIFETIME_UNITS[unit]: int(amount)})
    except OverflowError:
        raise ValueError(f"invalid lifetime {text!r}: it is too long") from None
    if lifetime <= timedelta(0):
        raise ValueError(f"invalid lifetime {text!r}: it must be longer than zero")
    return lifetime
