"""Token checks and grants of the HTTP API: forged or expired tokens and narrow scopes.

Every rejected request must answer 401 (no token or an expired one), 422 (an invalid token) or
403 (valid token, scopes missing) with a ``msg``, and never run anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import jwt
import pytest
from api_helpers import AUDIENCE, RunningServer, run_completed
from flowcore_auth import encode_user_claims, generate_key_pair
from flowcore_meaningful.examples import EXAMPLE_SCORES

from flowcore.session import Session

SPATIAL_ADMIN3 = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": "2016-01-05",
        "method": "last",
        "aggregation_unit": "admin3",
    },
}
SPATIAL_ADMIN0 = {
    "query_kind": "spatial_aggregate",
    "locations": {**SPATIAL_ADMIN3["locations"], "aggregation_unit": "admin0"},
}
MODAL_ADMIN3 = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "modal_location",
        "locations": [
            {**SPATIAL_ADMIN3["locations"], "date": "2016-01-05"},
            {**SPATIAL_ADMIN3["locations"], "date": "2016-01-06"},
        ],
    },
}
FLOWS_ADMIN3 = {
    "query_kind": "flows",
    "from_location": SPATIAL_ADMIN3["locations"],
    "to_location": {**SPATIAL_ADMIN3["locations"], "date": "2016-01-06"},
}
EVENT_COUNTS_ADMIN3 = {
    "query_kind": "location_event_counts",
    "start_date": "2016-01-01",
    "end_date": "2016-01-02",
    "interval": "day",
    "aggregation_unit": "admin3",
}
MEANINGFUL_ADMIN1 = {
    "query_kind": "meaningful_locations_aggregate",
    "start_date": "2016-01-01",
    "end_date": "2016-01-03",
    "aggregation_unit": "admin1",
    "label": "home",
    **EXAMPLE_SCORES,
}
#: The clusters stage that MEANINGFUL_ADMIN1 reads: one row per subscriber and cluster.
MEANINGFUL_CLUSTERS = {
    "query_kind": "meaningful_clusters",
    "start_date": "2016-01-01",
    "end_date": "2016-01-03",
    **{key: value for key, value in EXAMPLE_SCORES.items() if key != "labels"},
}
DAILY_ADMIN3_SCOPES = [
    "admin3:spatial_aggregate:spatial_aggregate",
    "admin3:spatial_aggregate:daily_location",
]


def _segment(value: Mapping[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iat": now,
        "nbf": now,
        "jti": "d1b0a5c4-0000-4000-8000-000000000000",
        "sub": "mallory",
        "exp": now + 600,
        "aud": AUDIENCE,
        "user_claims": encode_user_claims(
            {"universal": ["run", "get_result", *DAILY_ADMIN3_SCOPES]}
        ),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _post_run(server: RunningServer, token: str | None, spec: Mapping[str, Any]) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{server.url}/api/0/run", json=dict(spec), headers=headers, timeout=60)


def _forged_tokens(private_pem: str, public_pem: str) -> dict[str, str]:
    """Tokens that must all be rejected, by the name of their fault."""
    other_private = generate_key_pair(2048)[0]
    hmac_header = _segment({"alg": "HS256", "typ": "JWT"})
    hmac_body = _segment(_claims())
    hmac_signature = hmac.new(
        public_pem.encode(), f"{hmac_header}.{hmac_body}".encode(), hashlib.sha256
    ).digest()
    valid = jwt.encode(_claims(), private_pem, algorithm="RS256")
    header, _, signature = valid.split(".")
    boosted = _claims(user_claims=encode_user_claims({"root": ["run", "get_result", "*"]}))
    now = int(time.time())
    return {
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims())}.",
        "HS256 keyed with the public key": (
            f"{hmac_header}.{hmac_body}."
            + base64.urlsafe_b64encode(hmac_signature).rstrip(b"=").decode()
        ),
        "signed by another key": jwt.encode(_claims(), other_private, algorithm="RS256"),
        "expired": jwt.encode(
            _claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600), private_pem, "RS256"
        ),
        "nbf in the future": jwt.encode(
            _claims(nbf=now + 3600, exp=now + 7200), private_pem, "RS256"
        ),
        "missing aud": jwt.encode(_claims(aud=None), private_pem, "RS256"),
        "wrong aud": jwt.encode(_claims(aud="another-server"), private_pem, "RS256"),
        "missing sub": jwt.encode(_claims(sub=None), private_pem, "RS256"),
        "malformed": "not-a-token",
        "claims tampered after signing": f"{header}.{_segment(boosted)}.{signature}",
    }


@pytest.fixture(scope="module")
def forged_tokens(signing_keys: tuple[str, str]) -> dict[str, str]:
    """Each forged token by the name of its fault."""
    return _forged_tokens(*signing_keys)


FORGERIES = [
    "alg none",
    "HS256 keyed with the public key",
    "signed by another key",
    "expired",
    "nbf in the future",
    "missing aud",
    "wrong aud",
    "missing sub",
    "malformed",
    "claims tampered after signing",
]


@pytest.mark.parametrize("fault", FORGERIES)
def test_forged_token_rejected(
    fault: str, forged_tokens: dict[str, str], api_server: RunningServer
) -> None:
    token = forged_tokens[fault]
    run = _post_run(api_server, token, SPATIAL_ADMIN3)
    dates = httpx.get(
        f"{api_server.url}/api/0/available_dates",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    # FlowAPI's statuses: 401 for an expired token, 422 for every other fault.
    status = 401 if fault == "expired" else 422
    assert run.status_code == status
    assert run.json()["msg"]
    assert token not in run.text
    assert dates.status_code == status


def test_expired_token_message(forged_tokens: dict[str, str], api_server: RunningServer) -> None:
    response = _post_run(api_server, forged_tokens["expired"], SPATIAL_ADMIN3)

    assert response.json() == {"msg": "Token has expired"}


def test_missing_header(api_server: RunningServer) -> None:
    response = _post_run(api_server, None, SPATIAL_ADMIN3)

    assert response.status_code == 401
    assert response.json() == {"msg": "Missing Authorization Header"}


def test_valid_token_is_accepted(make_token: Callable[..., str], api_server: RunningServer) -> None:
    token = make_token({"analyst": ["run", *DAILY_ADMIN3_SCOPES]})

    assert _post_run(api_server, token, SPATIAL_ADMIN3).status_code == 202


def test_admin0_scope_refused_for_admin3(
    make_token: Callable[..., str], api_server: RunningServer
) -> None:
    token = make_token(
        {
            "analyst": [
                "run",
                "admin0:spatial_aggregate:spatial_aggregate",
                "admin0:spatial_aggregate:daily_location",
            ]
        }
    )

    assert _post_run(api_server, token, SPATIAL_ADMIN0).status_code == 202
    refused = _post_run(api_server, token, SPATIAL_ADMIN3)
    assert refused.status_code == 403
    assert refused.json() == {"msg": "User claims verification failed"}


def test_daily_location_scope_refused_for_modal_location(
    make_token: Callable[..., str], api_server: RunningServer
) -> None:
    token = make_token({"analyst": ["run", *DAILY_ADMIN3_SCOPES]})
    refused = _post_run(api_server, token, MODAL_ADMIN3)
    allowed = _post_run(
        api_server,
        make_token(
            {"analyst": ["run", *DAILY_ADMIN3_SCOPES, "admin3:spatial_aggregate:modal_location"]}
        ),
        MODAL_ADMIN3,
    )

    assert refused.status_code == 403
    assert refused.json()["msg"]
    assert allowed.status_code == 202


def test_scopes_split_over_roles_refused(
    make_token: Callable[..., str], api_server: RunningServer
) -> None:
    token = make_token({"runner": ["run"], "viewer": DAILY_ADMIN3_SCOPES})

    assert _post_run(api_server, token, SPATIAL_ADMIN3).status_code == 403


@pytest.fixture(scope="module")
def narrow_client(
    api_server: RunningServer, make_token: Callable[..., str]
) -> Iterator[httpx.Client]:
    """A client whose token grants spatial aggregates of daily locations at admin3 only."""
    token = make_token({"analyst": ["run", "get_result", *DAILY_ADMIN3_SCOPES]})
    with api_server.client(token) as client:
        yield client


def test_narrow_token_runs_and_reads_its_query(narrow_client: httpx.Client) -> None:
    run = narrow_client.post("/api/0/run", json=SPATIAL_ADMIN3)
    query_id = run.json()["query_id"]
    deadline = time.monotonic() + 60
    poll = narrow_client.get(f"/api/0/poll/{query_id}")
    while poll.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.1)
        poll = narrow_client.get(f"/api/0/poll/{query_id}")
    result = narrow_client.get(f"/api/0/get/{query_id}")

    assert run.status_code == 202
    assert poll.status_code == 303
    assert result.status_code == 200
    assert result.json()["query_result"]


@pytest.mark.parametrize(
    "spec",
    [SPATIAL_ADMIN0, MODAL_ADMIN3, FLOWS_ADMIN3, EVENT_COUNTS_ADMIN3],
    ids=["other unit", "other location kind", "flows", "location_event_counts"],
)
def test_narrow_token_refused_other_queries(
    narrow_client: httpx.Client, spec: dict[str, Any]
) -> None:
    response = narrow_client.post("/api/0/run", json=spec)

    assert response.status_code == 403
    assert response.json() == {"msg": "User claims verification failed"}


@pytest.mark.parametrize(
    "path", ["/api/0/geography/admin3", "/api/0/available_dates", "/api/0/qa/"]
)
def test_narrow_token_refused_other_routes(narrow_client: httpx.Client, path: str) -> None:
    response = narrow_client.get(path)

    assert response.status_code == 403
    assert response.json()["msg"]


def test_narrow_token_geojson_needs_geography_scope(narrow_client: httpx.Client) -> None:
    query_id = narrow_client.post("/api/0/run", json=SPATIAL_ADMIN3).json()["query_id"]
    response = narrow_client.get(f"/api/0/get/{query_id}.geojson")

    assert response.status_code == 403


def test_foreign_query_rejected_for_narrow_token(
    narrow_client: httpx.Client, api_server: RunningServer, universal_token: str
) -> None:
    with api_server.client(universal_token) as owner:
        foreign = owner.post("/api/0/run", json=SPATIAL_ADMIN0).json()["query_id"]
    unknown = "f" * 32

    for route in ("poll", "get"):
        rejected = narrow_client.get(f"/api/0/{route}/{foreign}")
        missing = narrow_client.get(f"/api/0/{route}/{unknown}")
        assert rejected.status_code == 403
        assert rejected.json() == {"msg": "User claims verification failed"}
        assert missing.status_code == 404


def test_result_reader_without_run(
    make_token: Callable[..., str], api_server: RunningServer, universal_token: str
) -> None:
    reader = make_token({"viewer": ["get_result", *DAILY_ADMIN3_SCOPES]})
    with api_server.client(universal_token) as owner:
        query_id = owner.post("/api/0/run", json=SPATIAL_ADMIN3).json()["query_id"]
        deadline = time.monotonic() + 60
        while owner.get(f"/api/0/poll/{query_id}").status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.1)

    with api_server.client(reader) as client:
        run = client.post("/api/0/run", json=SPATIAL_ADMIN3)
        poll = client.get(f"/api/0/poll/{query_id}")
        result = client.get(f"/api/0/get/{query_id}")

    assert run.status_code == 403
    assert poll.status_code == 303
    assert result.status_code == 200


def test_runner_without_get_result(
    make_token: Callable[..., str], api_server: RunningServer
) -> None:
    runner = make_token({"runner": ["run", *DAILY_ADMIN3_SCOPES]})
    with api_server.client(runner) as client:
        query_id = client.post("/api/0/run", json=SPATIAL_ADMIN3).json()["query_id"]
        poll = client.get(f"/api/0/poll/{query_id}")
        result = client.get(f"/api/0/get/{query_id}")

    assert poll.status_code in {202, 303}
    assert result.status_code == 403
    assert result.json() == {"msg": "User claims verification failed"}


def test_token_without_actions_refused_on_poll(
    make_token: Callable[..., str], api_server: RunningServer
) -> None:
    token = make_token({"nothing": DAILY_ADMIN3_SCOPES}, lifetime=dt.timedelta(minutes=5))
    response = httpx.get(
        f"{api_server.url}/api/0/poll/{'0' * 32}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert response.status_code == 403
    assert response.json()["msg"]


def test_nested_query_and_stage_ids_unknown(
    make_token: Callable[..., str],
    api_server: RunningServer,
    universal_token: str,
    python_session: Session,
) -> None:
    # A nested daily_location and the clusters stage of a meaningful-locations query are stored
    # per subscriber under ids of their own. FlowAPI looks up only the queries submitted to it,
    # so even a token with the scopes of their kinds, which no server advertises, reads nothing.
    with api_server.client(universal_token) as owner:
        run_completed(owner, SPATIAL_ADMIN3)
        run_completed(owner, MEANINGFUL_ADMIN1)
    inner = [SPATIAL_ADMIN3["locations"], MEANINGFUL_CLUSTERS]
    scopes = [scope for spec in inner for scope in python_session.scopes(spec)]
    insider = make_token({"insider": ["run", "get_result", *scopes]})

    with api_server.client(insider) as client:
        for spec in inner:
            query_id = python_session.query_id(spec)
            poll = client.get(f"/api/0/poll/{query_id}")
            result = client.get(f"/api/0/get/{query_id}")
            csv_result = client.get(f"/api/0/get/{query_id}.csv")

            assert python_session.executor.state(query_id) == "completed"
            assert poll.status_code == 404
            assert poll.json() == {"status": "awol", "msg": f"Unknown query id: '{query_id}'"}
            assert result.status_code == 404
            assert csv_result.status_code == 404
            assert "subscriber" not in result.text
