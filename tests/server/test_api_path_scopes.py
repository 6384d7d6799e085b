"""Tokens of FlowKit 1.10 to 1.17 against a real server: path scopes grant exactly their paths.

Such tokens carry ``user_claims`` as a compressed list of ``<action>&<path>`` strings instead of
roles. The tests sign them by hand, as FlowAuth of those versions did, and use them through
flowclient and plain HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from collections.abc import Sequence

import flowclient
import jwt
import pytest
from api_helpers import AUDIENCE, RunningServer, run_completed

DAILY = {
    "query_kind": "daily_location",
    "date": "2016-01-03",
    "method": "last",
    "aggregation_unit": "admin2",
}
SPATIAL_ADMIN2 = {"query_kind": "spatial_aggregate", "locations": DAILY}
SPATIAL_PATH = "spatial_aggregate.locations.daily_location.aggregation_unit.admin2"
FLOWS = {
    "query_kind": "flows",
    "from_location": DAILY,
    "to_location": {**DAILY, "date": "2016-01-04"},
}
FLOWS_PATHS = (
    "flows.from_location.daily_location.aggregation_unit.admin2"
    "&flows.to_location.daily_location.aggregation_unit.admin2"
)


def path_token(private_pem: str, scopes: Sequence[object]) -> str:
    """Sign a token whose ``user_claims`` is the compressed list ``scopes``."""
    now = dt.datetime.now(dt.UTC)
    claims = base64.b64encode(gzip.compress(json.dumps(list(scopes)).encode("utf-8")))
    payload = {
        "iat": now,
        "nbf": now,
        "jti": str(uuid.uuid4()),
        "sub": "legacy-user",
        "exp": now + dt.timedelta(hours=1),
        "aud": AUDIENCE,
        "user_claims": claims.decode("ascii"),
    }
    return jwt.encode(payload, private_pem, algorithm="RS256")


@pytest.fixture(scope="module")
def analyst_token(signing_keys: tuple[str, str]) -> str:
    """A path-scope token for daily locations and flows at admin2, dates and the geography."""
    return path_token(
        signing_keys[0],
        [
            f"get_result,run&{SPATIAL_PATH}",
            f"run&{FLOWS_PATHS}",
            "get_result&available_dates",
            "get_result&geography.aggregation_unit.admin2",
        ],
    )


def test_flowclient_runs_granted_query(api_server: RunningServer, analyst_token: str) -> None:
    connection = flowclient.connect(url=api_server.url, token=analyst_token)

    result = flowclient.get_result(
        connection=connection, query_spec=SPATIAL_ADMIN2, disable_progress=True
    )

    assert list(result.columns) == ["pcod", "value"]
    assert len(result) > 0
    assert result["value"].min() > 15


def test_other_unit_is_forbidden(api_server: RunningServer, analyst_token: str) -> None:
    admin3 = {**SPATIAL_ADMIN2, "locations": {**DAILY, "aggregation_unit": "admin3"}}

    with api_server.client(analyst_token) as client:
        response = client.post("/api/0/run", json=admin3)

    assert response.status_code == 403
    assert response.json()["msg"] == "User claims verification failed"


def test_run_only_grant_cannot_read(
    api_server: RunningServer, analyst_token: str, universal_token: str
) -> None:
    with api_server.client(universal_token) as client:
        query_id = run_completed(client, FLOWS)

    with api_server.client(analyst_token) as client:
        polled = client.get(f"/api/0/poll/{query_id}")
        read = client.get(f"/api/0/get/{query_id}")

    assert polled.status_code == 303
    assert read.status_code == 403


def test_available_dates_and_geography(api_server: RunningServer, analyst_token: str) -> None:
    with api_server.client(analyst_token) as client:
        dates = client.get("/api/0/available_dates")
        admin2 = client.get("/api/0/geography/admin2")
        admin3 = client.get("/api/0/geography/admin3")

    assert dates.status_code == 200
    assert dates.json()["available_dates"]["calls"][0] == "2016-01-01"
    assert admin2.status_code == 200
    assert admin2.json()["type"] == "FeatureCollection"
    assert admin3.status_code == 403


def test_no_available_dates_grant(api_server: RunningServer, signing_keys: tuple[str, str]) -> None:
    token = path_token(signing_keys[0], [f"get_result,run&{SPATIAL_PATH}"])

    with api_server.client(token) as client:
        response = client.get("/api/0/available_dates")

    assert response.status_code == 403


def test_malformed_path_scopes_rejected(
    api_server: RunningServer, signing_keys: tuple[str, str]
) -> None:
    token = path_token(signing_keys[0], ["get_result&available_dates", 7])

    with api_server.client(token) as client:
        response = client.get("/api/0/available_dates")

    assert response.status_code == 422
    assert response.json()["msg"] == "Invalid user_claims: a path scope is a number, not a string"


def test_geojson_needs_only_the_query_grant(
    api_server: RunningServer, analyst_token: str, universal_token: str
) -> None:
    with api_server.client(universal_token) as client:
        query_id = run_completed(client, SPATIAL_ADMIN2)

    with api_server.client(analyst_token) as client:
        response = client.get(f"/api/0/get/{query_id}.geojson")

    assert response.status_code == 200
    assert response.json()["type"] == "FeatureCollection"
    assert len(response.json()["features"]) > 0


def test_poll_with_read_grant_only(
    api_server: RunningServer, signing_keys: tuple[str, str], universal_token: str
) -> None:
    with api_server.client(universal_token) as client:
        query_id = run_completed(client, SPATIAL_ADMIN2)
    reader = path_token(signing_keys[0], [f"get_result&{SPATIAL_PATH}"])

    with api_server.client(reader) as client:
        polled = client.get(f"/api/0/poll/{query_id}")
        unknown = client.get(f"/api/0/poll/{'0' * 32}")

    assert polled.status_code == 303
    assert unknown.status_code == 404


def test_quality_checks_follow_dates_grant(
    api_server: RunningServer, analyst_token: str, signing_keys: tuple[str, str]
) -> None:
    without = path_token(signing_keys[0], [f"get_result,run&{SPATIAL_PATH}"])

    with api_server.client(analyst_token) as client:
        granted = client.get("/api/0/qa/")
    with api_server.client(without) as client:
        denied = client.get("/api/0/qa/")

    assert granted.status_code == 200
    assert isinstance(granted.json(), list)
    assert denied.status_code == 403
