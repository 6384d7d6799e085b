"""user_claims encoding and decoding, including property tests over random role maps."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from flowcore_auth import AuthenticationError, decode_user_claims, encode_user_claims
from flowcore_auth.claims import read_user_claims
from hypothesis import given
from hypothesis import strategies as st

role_maps = st.dictionaries(
    keys=st.text(max_size=20),
    values=st.lists(st.text(max_size=40), max_size=10),
    max_size=6,
)


@given(roles=role_maps, compress=st.booleans())
def test_claims_round_trip(roles: dict[str, list[str]], compress: bool) -> None:
    encoded = encode_user_claims(roles, compress=compress)

    decoded = decode_user_claims(encoded)

    assert dict(decoded) == {name: frozenset(scopes) for name, scopes in roles.items()}


@given(roles=role_maps)
def test_claims_round_trip_through_json(roles: dict[str, list[str]]) -> None:
    # A token carries the claim as JSON, so the value must survive a JSON round trip.
    encoded = encode_user_claims(roles)
    carried = json.loads(json.dumps({"user_claims": encoded}))["user_claims"]

    assert dict(decode_user_claims(carried)) == {
        name: frozenset(scopes) for name, scopes in roles.items()
    }


@given(roles=role_maps)
def test_claims_mime_base64_decodes(roles: dict[str, list[str]]) -> None:
    compressed = gzip.compress(json.dumps(roles).encode("utf-8"))
    wrapped = base64.encodebytes(compressed).decode("ascii")

    assert dict(decode_user_claims(wrapped)) == {
        name: frozenset(scopes) for name, scopes in roles.items()
    }


@given(value=st.text(max_size=200))
def test_claims_random_text_fails_cleanly(value: str) -> None:
    try:
        decoded = decode_user_claims(value)
    except AuthenticationError as error:
        assert error.message.startswith("Invalid user_claims: ")
    else:
        # Only text that really is base64 of gzipped JSON may decode.
        assert isinstance(decoded, dict)


def test_claims_compressed_is_text() -> None:
    encoded = encode_user_claims({"viewer": ["run", "get_result", "run"]})

    assert isinstance(encoded, str)
    assert "\n" not in encoded
    document = json.loads(gzip.decompress(base64.b64decode(encoded)))
    assert document == {"viewer": ["get_result", "run"]}


def test_claims_encoding_deterministic() -> None:
    first = encode_user_claims({"b": ["y", "x"], "a": ["z"]})
    second = encode_user_claims({"a": ["z"], "b": ["x", "y"]})

    assert first == second


def test_claims_plain_is_object() -> None:
    encoded = encode_user_claims({"viewer": ["run", "get_result"]}, compress=False)

    assert encoded == {"viewer": ["get_result", "run"]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "Invalid user_claims: the text is not valid base64"),
        (
            base64.b64encode(b"plain bytes").decode("ascii"),
            "Invalid user_claims: the data is not gzip-compressed",
        ),
        (
            base64.b64encode(gzip.compress(b"\xff\xfe")).decode("ascii"),
            "Invalid user_claims: the decompressed data is not UTF-8 JSON",
        ),
        (
            base64.b64encode(gzip.compress(b"{not json")).decode("ascii"),
            "Invalid user_claims: the decompressed data is not UTF-8 JSON",
        ),
        (
            ["run&daily_location.aggregation_unit.admin3"],
            "Invalid user_claims: expected roles, got the path scopes of FlowKit 1.10 to 1.17",
        ),
        (
            {"daily_location": {"permissions": {"run": True}, "spatial_aggregation": ["admin3"]}},
            "Invalid user_claims: the per-query-kind format of FlowKit 1.9 and earlier is not "
            "supported; issue a new token with roles",
        ),
        (
            None,
            "Invalid user_claims: expected an object mapping role names to lists of scopes, "
            "or a list of path scopes, got null",
        ),
        (
            {"viewer": {"run": True}},
            "Invalid user_claims: role 'viewer' must map to a list of scopes, got an object",
        ),
        (
            {"viewer": ["run", 3]},
            "Invalid user_claims: role 'viewer' has a scope that is a number, not a string",
        ),
        (
            {"viewer": ["run", None]},
            "Invalid user_claims: role 'viewer' has a scope that is null, not a string",
        ),
    ],
    ids=[
        "not base64",
        "not gzip",
        "not utf-8",
        "not json",
        "list format",
        "legacy format",
        "null",
        "role an object",
        "scope a number",
        "scope null",
    ],
)
def test_claims_malformed(value: object, message: str) -> None:
    with pytest.raises(AuthenticationError) as raised:
        decode_user_claims(value)

    assert raised.value.message == message


def test_claims_compressed_path_scopes() -> None:
    scopes = ["get_result&available_dates", "run,get_result&daily_location.aggregation_unit.admin3"]
    compressed = gzip.compress(json.dumps(scopes).encode("utf-8"))

    claims = read_user_claims(base64.b64encode(compressed).decode("ascii"))

    assert claims.roles == {}
    assert claims.path_grants == {
        frozenset({"get_result", "available_dates"}),
        frozenset({"run", "daily_location.aggregation_unit.admin3"}),
        frozenset({"get_result", "daily_location.aggregation_unit.admin3"}),
    }


def test_claims_roles_have_no_path_grants() -> None:
    claims = read_user_claims({"viewer": ["get_result"]})

    assert claims.path_grants is None
    assert dict(claims.roles) == {"viewer": frozenset({"get_result"})}


def test_claims_path_scope_not_a_string() -> None:
    with pytest.raises(AuthenticationError) as raised:
        read_user_claims(["get_result&available_dates", 7])

    assert raised.value.message == "Invalid user_claims: a path scope is a number, not a string"
