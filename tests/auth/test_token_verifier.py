"""TokenVerifier: which tokens are rejected with which message, and what accepted ones yield."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import jwt
import pytest
from auth_helpers import AUDIENCE, b64url, json_segment, sign
from flowcore_auth import (
    AuthenticationError,
    KeyLoadError,
    TokenVerifier,
    encode_user_claims,
    issue_token,
)
from flowcore_auth.verify import DEFAULT_LEEWAY_SECONDS
from hypothesis import given, settings
from hypothesis import strategies as st

_REMOVE = object()


@attrs.frozen
class Keys:
    """Key material a rejection case builds its header from."""

    private_pem: str
    public_pem: str
    other_private_pem: str


def claims(**overrides: Any) -> dict[str, Any]:
    """Return a valid claim set, changed by ``overrides`` (``_REMOVE`` deletes a claim)."""
    now = int(time.time())
    result: dict[str, Any] = {
        "iat": now,
        "nbf": now,
        "jti": "4f1c3a52-0d7e-4c59-9a8e-2b1f4d6c7e80",
        "sub": "alice",
        "exp": now + 3600,
        "aud": AUDIENCE,
        "user_claims": encode_user_claims({"viewer": ["get_result"]}),
    }
    for name, value in overrides.items():
        if value is _REMOVE:
            del result[name]
        else:
            result[name] = value
    return result


def bearer(token: str) -> str:
    """Wrap a token in an Authorization header value."""
    return f"Bearer {token}"


def signed(**overrides: Any) -> Callable[[Keys], str]:
    """Build a header with RS256 claims signed by the trusted key."""
    return lambda keys: bearer(sign(claims(**overrides), keys.private_pem))


def signed_payload(payload: bytes) -> Callable[[Keys], str]:
    """Build a header with raw payload bytes signed by the trusted key."""
    return lambda keys: bearer(jwt.PyJWS().encode(payload, keys.private_pem, algorithm="RS256"))


def alg_none(keys: Keys) -> str:
    """Build an unsigned token that declares the algorithm 'none'."""
    header = json_segment({"alg": "none", "typ": "JWT"})
    return bearer(f"{header}.{json_segment(claims())}.")


def hs256_with_public_key(keys: Keys) -> str:
    """Build an HMAC token keyed with the public key's PEM bytes (key-confusion attack)."""
    # PyJWT refuses PEM text as an HMAC secret, so the token is assembled by hand.
    signing_input = f"{json_segment({'alg': 'HS256', 'typ': 'JWT'})}.{json_segment(claims())}"
    mac = hmac.new(keys.public_pem.encode("ascii"), signing_input.encode("ascii"), hashlib.sha256)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")
    return bearer(f"{signing_input}.{signature}")


def hs256_with_secret(keys: Keys) -> str:
    """Build an ordinary HMAC token with some shared secret."""
    return bearer(sign(claims(), "a-shared-secret-of-at-least-32-bytes!!", algorithm="HS256"))


def rs512(keys: Keys) -> str:
    """Build a token signed by the trusted key, but with RS512 instead of RS256."""
    return bearer(sign(claims(), keys.private_pem, algorithm="RS512"))


def other_key(keys: Keys) -> str:
    """Build an RS256 token signed by a key the verifier does not trust."""
    return bearer(sign(claims(), keys.other_private_pem))


def tampered_claims(keys: Keys) -> str:
    """Build a valid token, then swap in claims naming another subject."""
    header, _, signature = sign(claims(), keys.private_pem).split(".")
    return bearer(f"{header}.{json_segment(claims(sub='mallory'))}.{signature}")


def tampered_header(keys: Keys) -> str:
    """Build a valid token, then rewrite its header to claim RS512."""
    _, payload, signature = sign(claims(), keys.private_pem).split(".")
    return bearer(f"{json_segment({'alg': 'RS512', 'typ': 'JWT'})}.{payload}.{signature}")


def user_claims_text(document: object) -> str:
    """Compress any JSON value the way user_claims is compressed."""
    data = gzip.compress(json.dumps(document).encode("utf-8"))
    return base64.b64encode(data).decode("ascii")


REJECTIONS: list[tuple[str, Callable[[Keys], str | None], str]] = [
    ("header missing", lambda keys: None, "Missing Authorization Header"),
    ("header empty", lambda keys: "", "Missing Authorization Header"),
    ("header blank", lambda keys: "   ", "Missing Authorization Header"),
    (
        "scheme not bearer",
        lambda keys: "Basic YWxpY2U6c2VjcmV0",
        "Invalid Authorization header: expected 'Bearer <token>'",
    ),
    (
        "bearer without token",
        lambda keys: "Bearer",
        "Invalid Authorization header: expected 'Bearer <token>'",
    ),
    (
        "bearer with two tokens",
        lambda keys: "Bearer abc.def.ghi jkl",
        "Invalid Authorization header: expected 'Bearer <token>'",
    ),
    (
        "token without bearer",
        lambda keys: sign(claims(), keys.private_pem),
        "Invalid Authorization header: expected 'Bearer <token>'",
    ),
    (
        "token not a jwt",
        lambda keys: "Bearer not-a-jwt",
        "Invalid token: not a well-formed JWT, or 'exp' or 'nbf' is not a number",
    ),
    (
        "token two segments",
        lambda keys: "Bearer abc.def",
        "Invalid token: not a well-formed JWT, or 'exp' or 'nbf' is not a number",
    ),
    (
        "payload not an object",
        signed_payload(b"[1, 2, 3]"),
        "Invalid token: not a well-formed JWT, or 'exp' or 'nbf' is not a number",
    ),
    ("alg none", alg_none, "Invalid token: the signing algorithm must be RS256"),
    (
        "hs256 keyed with public key",
        hs256_with_public_key,
        "Invalid token: the signing algorithm must be RS256",
    ),
    (
        "hs256 shared secret",
        hs256_with_secret,
        "Invalid token: the signing algorithm must be RS256",
    ),
    ("rs512", rs512, "Invalid token: the signing algorithm must be RS256"),
    ("signed by other key", other_key, "Invalid token: signature verification failed"),
    ("claims tampered", tampered_claims, "Invalid token: signature verification failed"),
    ("header tampered", tampered_header, "Invalid token: the signing algorithm must be RS256"),
    (
        "expired",
        signed(exp=int(time.time()) - 3600, iat=0, nbf=0),
        "Token has expired",
    ),
    ("nbf in future", signed(nbf=int(time.time()) + 3600), "Token is not yet valid (nbf)"),
    ("exp missing", signed(exp=_REMOVE), "Invalid token: missing required claim 'exp'"),
    (
        "exp not a number",
        signed(exp="tomorrow"),
        "Invalid token: not a well-formed JWT, or 'exp' or 'nbf' is not a number",
    ),
    ("aud missing", signed(aud=_REMOVE), "Invalid token: missing required claim 'aud'"),
    ("aud wrong", signed(aud="another-server"), f"Invalid token: audience must be '{AUDIENCE}'"),
    ("aud list", signed(aud=[AUDIENCE]), f"Invalid token: audience must be '{AUDIENCE}'"),
    ("sub missing", signed(sub=_REMOVE), "Invalid token: missing required claim 'sub'"),
    ("sub empty", signed(sub=""), "Invalid token: claim 'sub' must be a non-empty string"),
    ("sub not a string", signed(sub=42), "Invalid token: claim 'sub' must be a non-empty string"),
    ("jti not a string", signed(jti=7), "Invalid token: claim 'jti' must be a string"),
    (
        "user_claims not base64",
        signed(user_claims="%%% not base64 %%%"),
        "Invalid user_claims: the text is not valid base64",
    ),
    (
        "user_claims not gzip",
        signed(user_claims=base64.b64encode(b'{"viewer": []}').decode("ascii")),
        "Invalid user_claims: the data is not gzip-compressed",
    ),
    (
        "user_claims path scope a number",
        signed(user_claims=user_claims_text(["get_result&available_dates", 3])),
        "Invalid user_claims: a path scope is a number, not a string",
    ),
    (
        "user_claims role not a list",
        signed(user_claims={"viewer": "get_result"}),
        "Invalid user_claims: role 'viewer' must map to a list of scopes, got a string",
    ),
    (
        "user_claims a number",
        signed(user_claims=12),
        "Invalid user_claims: expected an object mapping role names to lists of scopes, "
        "or a list of path scopes, got a number",
    ),
]


@pytest.mark.parametrize(
    ("build_header", "message"),
    [pytest.param(build, message, id=case) for case, build, message in REJECTIONS],
)
def test_verify_rejects(
    verifier: TokenVerifier,
    key_pair: tuple[str, str],
    other_key_pair: tuple[str, str],
    build_header: Callable[[Keys], str | None],
    message: str,
) -> None:
    keys = Keys(
        private_pem=key_pair[0], public_pem=key_pair[1], other_private_pem=other_key_pair[0]
    )
    header = build_header(keys)

    with pytest.raises(AuthenticationError) as raised:
        verifier.verify(header)

    assert raised.value.message == message
    assert str(raised.value) == message
    # FlowAPI's statuses: 401 without a token or with an expired one, 422 for other faults.
    missing_or_expired = message in ("Missing Authorization Header", "Token has expired")
    assert raised.value.status_code == (401 if missing_or_expired else 422)
    # No part of the token may be echoed back to the caller.
    for word in (header or "").split():
        for segment in word.split("."):
            if len(segment) >= 8:
                assert segment not in raised.value.message


def test_verify_rejection_hides_cause(
    verifier: TokenVerifier, other_key_pair: tuple[str, str]
) -> None:
    header = bearer(sign(claims(), other_key_pair[0]))

    with pytest.raises(AuthenticationError) as raised:
        verifier.verify(header)

    # The PyJWT error is dropped so that tracebacks and logs carry only our message.
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ is True


def test_verify_compressed_claims(verifier: TokenVerifier, private_pem: str) -> None:
    roles = {"viewer": ["get_result", "admin3:geography:geography"], "runner": ["run"]}
    now = datetime.now(tz=UTC)
    token = issue_token(
        private_pem, "alice", AUDIENCE, roles, lifetime=timedelta(minutes=5), now=now
    )

    identity = verifier.verify(bearer(token))

    assert identity.subject == "alice"
    assert dict(identity.roles) == {
        "viewer": frozenset({"get_result", "admin3:geography:geography"}),
        "runner": frozenset({"run"}),
    }
    assert identity.expires_at == datetime.fromtimestamp(int(now.timestamp()) + 300, tz=UTC)
    assert identity.token_id is not None
    assert len(identity.token_id) == 36


def test_verify_plain_claims(verifier: TokenVerifier, private_pem: str) -> None:
    roles = {"viewer": ["get_result"]}
    token = issue_token(private_pem, "bob", AUDIENCE, roles, compress=False)

    identity = verifier.verify(bearer(token))

    assert identity.subject == "bob"
    assert dict(identity.roles) == {"viewer": frozenset({"get_result"})}


def test_verify_mime_wrapped_claims(verifier: TokenVerifier, private_pem: str) -> None:
    scopes = [f"admin3:spatial_aggregate:kind_{index}" for index in range(40)]
    document = json.dumps({"viewer": scopes}).encode("utf-8")
    # encodebytes wraps every 76 characters, as FlowAuth's encoder does.
    wrapped = base64.encodebytes(gzip.compress(document)).decode("ascii")
    assert "\n" in wrapped
    header = bearer(sign(claims(user_claims=wrapped), private_pem))

    identity = verifier.verify(header)

    assert identity.roles["viewer"] == frozenset(scopes)


def test_verify_without_user_claims(verifier: TokenVerifier, private_pem: str) -> None:
    identity = verifier.verify(bearer(sign(claims(user_claims=_REMOVE, jti=_REMOVE), private_pem)))

    assert identity.subject == "alice"
    assert dict(identity.roles) == {}
    assert identity.token_id is None


def test_verify_lowercase_scheme(verifier: TokenVerifier, private_pem: str) -> None:
    identity = verifier.verify("bearer " + sign(claims(), private_pem))

    assert identity.subject == "alice"


def test_verify_base64_public_key(public_pem: str, private_pem: str) -> None:
    encoded_key = base64.b64encode(public_pem.encode("ascii")).decode("ascii")
    verifier = TokenVerifier(encoded_key, AUDIENCE)

    identity = verifier.verify(bearer(sign(claims(), private_pem)))

    assert identity.subject == "alice"


def test_verify_from_environment(public_pem: str, private_pem: str) -> None:
    environ = {"PUBLIC_JWT_SIGNING_KEY": public_pem, "FLOWAPI_IDENTIFIER": AUDIENCE}
    verifier = TokenVerifier.from_environment(environ)

    identity = verifier.verify(bearer(sign(claims(), private_pem)))

    assert verifier.audience == AUDIENCE
    assert verifier.leeway_seconds == DEFAULT_LEEWAY_SECONDS
    assert identity.subject == "alice"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PUBLIC_JWT_SIGNING_KEY": "unused"}, "FLOWAPI_IDENTIFIER"),
        ({"FLOWAPI_IDENTIFIER": AUDIENCE}, "PUBLIC_JWT_SIGNING_KEY"),
        ({"FLOWAPI_IDENTIFIER": AUDIENCE, "PUBLIC_JWT_SIGNING_KEY": ""}, "PUBLIC_JWT_SIGNING_KEY"),
    ],
)
def test_from_environment_missing_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(KeyLoadError) as raised:
        TokenVerifier.from_environment(environ)

    assert str(raised.value).startswith(f"{variable} is not set")


@pytest.mark.parametrize(
    ("audience", "leeway", "message"),
    [
        ("", 10, "audience must be a non-empty string, got ''"),
        (AUDIENCE, -1, "leeway_seconds must be zero or more, got -1"),
    ],
)
def test_verifier_invalid_settings(
    public_pem: str, audience: str, leeway: int, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        TokenVerifier(public_pem, audience, leeway_seconds=leeway)

    assert str(raised.value) == message


# Leeway edge: offsets sit 3 s inside or outside the 10 s leeway, a margin for slow test runs.
@pytest.mark.parametrize(
    ("exp_offset", "accepted"),
    [(-7, True), (-13, False)],
)
def test_leeway_exp_edge(
    verifier: TokenVerifier, private_pem: str, exp_offset: int, accepted: bool
) -> None:
    now = int(time.time())
    header = bearer(sign(claims(iat=now - 60, nbf=now - 60, exp=now + exp_offset), private_pem))

    if accepted:
        assert verifier.verify(header).subject == "alice"
    else:
        with pytest.raises(AuthenticationError) as raised:
            verifier.verify(header)
        assert raised.value.message == "Token has expired"


@pytest.mark.parametrize(
    ("nbf_offset", "accepted"),
    [(7, True), (13, False)],
)
def test_leeway_nbf_edge(
    verifier: TokenVerifier, private_pem: str, nbf_offset: int, accepted: bool
) -> None:
    now = int(time.time())
    header = bearer(sign(claims(iat=now + nbf_offset, nbf=now + nbf_offset), private_pem))

    if accepted:
        assert verifier.verify(header).subject == "alice"
    else:
        with pytest.raises(AuthenticationError) as raised:
            verifier.verify(header)
        assert raised.value.message == "Token is not yet valid (nbf)"


def test_leeway_zero_rejects_just_expired(public_pem: str, private_pem: str) -> None:
    verifier = TokenVerifier(public_pem, AUDIENCE, leeway_seconds=0)
    now = int(time.time())
    header = bearer(sign(claims(iat=now - 60, nbf=now - 60, exp=now - 2), private_pem))

    with pytest.raises(AuthenticationError) as raised:
        verifier.verify(header)

    assert raised.value.message == "Token has expired"


def test_leeway_custom_accepts_late_token(public_pem: str, private_pem: str) -> None:
    verifier = TokenVerifier(public_pem, AUDIENCE, leeway_seconds=60)
    now = int(time.time())
    header = bearer(sign(claims(iat=now - 600, nbf=now - 600, exp=now - 30), private_pem))

    assert verifier.verify(header).subject == "alice"


def test_expiry_beyond_year_9999(verifier: TokenVerifier, private_pem: str) -> None:
    identity = verifier.verify(bearer(sign(claims(exp=10**15), private_pem)))

    assert identity.expires_at == datetime.max.replace(tzinfo=UTC)


def test_signed_token_with_string_exp(verifier: TokenVerifier, private_pem: str) -> None:
    with pytest.raises(AuthenticationError, match="claim 'exp' must be a number"):
        verifier.verify(bearer(sign(claims(exp="9999999999"), private_pem)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(header=st.dictionaries(st.text(), json_values), payload=json_values, signature=st.binary())
def test_verify_random_tokens_fail_cleanly(
    key_pair: tuple[str, str], header: dict[str, Any], payload: object, signature: bytes
) -> None:
    verifier = TokenVerifier(key_pair[1], AUDIENCE)
    token = ".".join(
        [
            b64url(json.dumps(header).encode("utf-8")),
            b64url(json.dumps(payload).encode("utf-8")),
            b64url(signature),
        ]
    )

    # Whatever the content, an unsigned token ends in AuthenticationError and nothing else.
    with pytest.raises(AuthenticationError):
        verifier.verify(bearer(token))


@settings(max_examples=200, deadline=None)
@given(header=st.text(max_size=300))
def test_verify_random_headers_fail_cleanly(key_pair: tuple[str, str], header: str) -> None:
    verifier = TokenVerifier(key_pair[1], AUDIENCE)

    with pytest.raises(AuthenticationError):
        verifier.verify(header)


def test_remembered_token_still_expires(public_pem: str, private_pem: str) -> None:
    verifier = TokenVerifier(public_pem, AUDIENCE, leeway_seconds=0)
    now = int(time.time())
    header = bearer(sign(claims(iat=now - 60, nbf=now - 60, exp=now + 2), private_pem))
    first = verifier.verify(header)
    again = verifier.verify(header)

    time.sleep(max(0.0, now + 2.1 - time.time()))
    with pytest.raises(AuthenticationError) as raised:
        verifier.verify(header)

    assert again == first
    assert raised.value.message == "Token has expired"


def test_remembered_token_keeps_others_checked(
    verifier: TokenVerifier, private_pem: str, other_key_pair: tuple[str, str]
) -> None:
    good = sign(claims(), private_pem)
    assert verifier.verify(bearer(good)).subject == "alice"
    forged = sign(claims(sub="mallory"), other_key_pair[0])
    header, _, signature = good.split(".")
    # The accepted token's signature under another payload.
    swapped = ".".join([header, forged.split(".")[1], signature])

    for token in (forged, swapped):
        with pytest.raises(AuthenticationError) as raised:
            verifier.verify(bearer(token))
        assert raised.value.message == "Invalid token: signature verification failed"
    assert verifier.verify(bearer(good)).subject == "alice"
