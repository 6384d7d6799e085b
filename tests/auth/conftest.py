"""Shared keys and a verifier for the flowcore_auth tests (no database needed)."""

from __future__ import annotations

import pytest
from auth_helpers import AUDIENCE
from flowcore_auth import TokenVerifier, generate_key_pair


@pytest.fixture(scope="session")
def key_pair() -> tuple[str, str]:
    """The (private PEM, public PEM) pair the test verifier trusts."""
    # 2048 bits is the smallest accepted size and keeps key generation quick.
    return generate_key_pair(key_size=2048)


@pytest.fixture(scope="session")
def other_key_pair() -> tuple[str, str]:
    """A second key pair that the test verifier does not trust."""
    return generate_key_pair(key_size=2048)


@pytest.fixture
def private_pem(key_pair: tuple[str, str]) -> str:
    """The trusted private key as PEM text."""
    return key_pair[0]


@pytest.fixture
def public_pem(key_pair: tuple[str, str]) -> str:
    """The trusted public key as PEM text."""
    return key_pair[1]


@pytest.fixture
def verifier(public_pem: str) -> TokenVerifier:
    """A verifier for AUDIENCE with the default leeway."""
    return TokenVerifier(public_pem, AUDIENCE)
