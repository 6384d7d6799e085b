"""flowcore_auth: verify bearer tokens, check grants, and issue FlowKit-compatible tokens."""

from __future__ import annotations

from flowcore_auth.claims import decode_user_claims, encode_user_claims
from flowcore_auth.errors import AuthenticationError, KeyLoadError, PermissionDeniedError
from flowcore_auth.grants import is_allowed, require
from flowcore_auth.identity import Identity
from flowcore_auth.keys import load_private_key, load_public_key, load_public_key_from_environment
from flowcore_auth.tokens import generate_key_pair, issue_token
from flowcore_auth.verify import TokenVerifier

__all__ = [
    "AuthenticationError",
    "Identity",
    "KeyLoadError",
    "PermissionDeniedError",
    "TokenVerifier",
    "decode_user_claims",
    "encode_user_claims",
    "generate_key_pair",
    "is_allowed",
    "issue_token",
    "load_private_key",
    "load_public_key",
    "load_public_key_from_environment",
    "require",
]
