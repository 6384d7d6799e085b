"""issue_token's claim set, generate_key_pair and lifetime parsing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from flowcore_auth import decode_user_claims, generate_key_pair, issue_token, load_private_key
from flowcore_auth.tokens import parse_lifetime

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def unverified_claims(token: str) -> dict[str, object]:
    """Read a token's claims without checking them, as flowclient does."""
    return jwt.decode(token, options={"verify_signature": False})


def test_issue_claim_set(private_pem: str) -> None:
    token = issue_token(
        private_pem,
        subject="alice",
        audience="flowapi",
        roles={"viewer": ["get_result"]},
        lifetime=timedelta(minutes=30),
        now=NOW,
    )

    header = jwt.get_unverified_header(token)
    claims = unverified_claims(token)
    timestamp = int(NOW.timestamp())
    assert header["alg"] == "RS256"
    assert set(claims) == {"iat", "nbf", "jti", "sub", "exp", "aud", "user_claims"}
    assert claims["iat"] == timestamp
    assert claims["nbf"] == timestamp
    assert claims["exp"] == timestamp + 1800
    assert claims["sub"] == "alice"
    assert claims["aud"] == "flowapi"
    assert uuid.UUID(str(claims["jti"])).version == 4
    assert isinstance(claims["user_claims"], str)
    assert dict(decode_user_claims(claims["user_claims"])) == {"viewer": frozenset({"get_result"})}


def test_issue_signature_checks_out(private_pem: str, public_pem: str) -> None:
    token = issue_token(private_pem, "alice", "flowapi", {}, now=NOW)

    # An expired token still proves the signature when expiry checks are off.
    claims = jwt.decode(
        token,
        public_pem,
        algorithms=["RS256"],
        audience="flowapi",
        options={"verify_exp": False},
    )
    assert claims["sub"] == "alice"


def test_issue_uncompressed(private_pem: str) -> None:
    token = issue_token(private_pem, "alice", "flowapi", {"r": ["run", "run"]}, compress=False)

    assert unverified_claims(token)["user_claims"] == {"r": ["run"]}


def test_issue_fresh_token_ids(private_pem: str) -> None:
    key = load_private_key(private_pem)
    first = unverified_claims(issue_token(key, "alice", "flowapi", {}, now=NOW))
    second = unverified_claims(issue_token(key, "alice", "flowapi", {}, now=NOW))

    assert first["jti"] != second["jti"]


def test_issue_default_lifetime(private_pem: str) -> None:
    claims = unverified_claims(issue_token(private_pem, "alice", "flowapi", {}, now=NOW))

    assert claims["exp"] == int(NOW.timestamp()) + 3600


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"subject": ""}, "subject must be a non-empty string, got ''", id="subject"),
        pytest.param(
            {"audience": ""}, "audience must be a non-empty string, got ''", id="audience"
        ),
        pytest.param(
            {"lifetime": timedelta(0)}, "lifetime must be positive, got 0:00:00", id="lifetime"
        ),
        pytest.param(
            {"now": datetime(2024, 3, 1, 12, 0)},
            "now must be timezone-aware, got the naive datetime 2024-03-01T12:00:00",
            id="naive now",
        ),
    ],
)
def test_issue_invalid_arguments(
    private_pem: str, arguments: dict[str, object], message: str
) -> None:
    call: dict[str, object] = {"subject": "alice", "audience": "flowapi", "roles": {}}
    call.update(arguments)

    with pytest.raises(ValueError) as raised:
        issue_token(private_pem, **call)  # type: ignore[arg-type]

    assert str(raised.value) == message


def test_key_pair_default_size() -> None:
    private_pem, public_pem = generate_key_pair()

    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert load_private_key(private_pem).key_size == 3072


def test_key_pair_too_small() -> None:
    with pytest.raises(ValueError) as raised:
        generate_key_pair(key_size=1024)

    assert str(raised.value) == "key_size must be at least 2048 bits, got 1024"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        (" 12h ", timedelta(hours=12)),
    ],
)
def test_parse_lifetime(text: str, expected: timedelta) -> None:
    assert parse_lifetime(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1x",
            "invalid lifetime '1x': expected a whole number followed by s, m, h or d "
            "(for example 30m, 1h or 2d)",
        ),
        (
            "h",
            "invalid lifetime 'h': expected a whole number followed by s, m, h or d "
            "(for example 30m, 1h or 2d)",
        ),
        (
            "1.5h",
            "invalid lifetime '1.5h': expected a whole number followed by s, m, h or d "
            "(for example 30m, 1h or 2d)",
        ),
        (
            "-1h",
            "invalid lifetime '-1h': expected a whole number followed by s, m, h or d "
            "(for example 30m, 1h or 2d)",
        ),
        ("0m", "invalid lifetime '0m': it must be longer than zero"),
        ("99999999999d", "invalid lifetime '99999999999d': it is too long"),
    ],
)
def test_parse_lifetime_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_lifetime(text)

    assert str(raised.value) == message
