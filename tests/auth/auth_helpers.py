"""Token-building helpers shared by the flowcore_auth tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import jwt

__all__ = ["AUDIENCE", "b64url", "json_segment", "sign"]

#: Audience the test verifier expects.
AUDIENCE = "flowapi-test"


def b64url(data: bytes) -> str:
    """Encode bytes as unpadded base64url, as JWT segments are."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_segment(value: Mapping[str, Any]) -> str:
    """Encode a JSON object as one JWT segment."""
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def sign(claims: Mapping[str, Any], private_pem: str, algorithm: str = "RS256") -> str:
    """Sign arbitrary claims with PyJWT, bypassing the checks of issue_token."""
    return jwt.encode(dict(claims), private_pem, algorithm=algorithm)
