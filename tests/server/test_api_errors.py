"""Bad input gets a 4xx JSON answer with ``msg``; every request is logged as one JSON line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_helpers import CALENDAR_PERIOD_ERRORS, RunningServer

DAILY = {
    "query_kind": "daily_location",
    "date": "2016-01-01",
    "method": "last",
    "aggregation_unit": "admin3",
}


@pytest.fixture(scope="module")
def client(api_server: RunningServer, universal_token: str) -> Iterator[httpx.Client]:
    """A client with every scope."""
    with api_server.client(universal_token) as http:
        yield http


def test_body_not_json(client: httpx.Client) -> None:
    response = client.post(
        "/api/0/run", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["msg"].startswith("The request body is not valid JSON")


def test_missing_query_kind(client: httpx.Client) -> None:
    response = client.post("/api/0/run", json={"date": "2016-01-01"})

    assert response.status_code == 400
    assert response.json()["msg"] == "Query kind must be specified when running a query."


def test_kind_not_allowed_at_top(client: httpx.Client) -> None:
    response = client.post("/api/0/run", json=DAILY)
    body = response.json()

    assert response.status_code == 400
    assert body["status"] == "Error"
    assert body["msg"].startswith("Parameter validation failed. $.query_kind: 'daily_location'")
    assert body["payload"]["params"] == DAILY
    [message] = body["payload"]["validation_error_messages"]["query_kind"]
    assert message.startswith("'daily_location' is not one of ")
    assert "spatial_aggregate" in message
    assert "flows" in message


def test_field_errors_listed(client: httpx.Client) -> None:
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": {**DAILY, "method": "first", "aggregation_unit": "admin7", "extra": 1},
    }
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "locations": {
            "aggregation_unit": ["'admin7' is not one of admin0, admin1, admin2, admin3, lon-lat"],
            "extra": ["unknown field"],
            "method": ["'first' is not one of last, most-common"],
        }
    }
    assert response.json()["msg"] == (
        "Parameter validation failed. "
        "$.locations.aggregation_unit: 'admin7' is not one of admin0, admin1, admin2, "
        "admin3, lon-lat "
        "$.locations.extra: unknown field "
        "$.locations.method: 'first' is not one of last, most-common"
    )


def test_list_items_nested_by_index(client: httpx.Client) -> None:
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "modal_location",
            "locations": [DAILY, {**DAILY, "method": "first"}],
        },
    }
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "locations": {"locations": {"1": {"method": ["'first' is not one of last, most-common"]}}}
    }


def test_unusual_keys_nested_whole(client: httpx.Client) -> None:
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": {**DAILY, "a.b": 1, "c: d": 2, "[0]": 3},
        "locations.aggregation_unit": "admin3",
    }
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "locations": {
            "[0]": ["unknown field"],
            "a.b": ["unknown field"],
            "c: d": ["unknown field"],
        },
        "locations.aggregation_unit": ["unknown field"],
    }
    assert '$.locations["a.b"]: unknown field' in response.json()["msg"]


def test_wrong_json_types_named(client: httpx.Client) -> None:
    spec = {
        "query_kind": "histogram_aggregate",
        "metric": {
            "query_kind": "event_count",
            "start_date": "2016-01-01",
            "end_date": "2016-01-02",
        },
        "bins": {"n_bins": 2},
        "range": [1, 2, 3],
    }
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "range": ["must be a list of two numbers [lower_bound, upper_bound], got [1, 2, 3]"]
    }


def test_aggregate_by_required(client: httpx.Client) -> None:
    total = {
        "query_kind": "total_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "total_by": "hour",
        "aggregation_unit": "admin3",
    }
    spec = {
        "query_kind": "aggregate_network_objects",
        "statistic": "avg",
        "total_network_objects": total,
    }
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "aggregate_by": [
            "missing required field; expected one of 'second', 'minute', 'hour', "
            "'day', 'month', 'year', 'century'"
        ]
    }


def test_dates_without_data(client: httpx.Client) -> None:
    spec = {"query_kind": "spatial_aggregate", "locations": {**DAILY, "date": "2017-06-01"}}
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert response.json()["msg"] == "Unable to create query object."
    message = response.json()["payload"]["exception"]
    assert message.startswith("$.locations: no ")
    assert message.endswith("; see the available dates")
    # The dates themselves need the get_available_dates scope, so the response leaves them out.
    assert "2016-01-01" not in response.text


def test_unknown_geography_unit(client: httpx.Client) -> None:
    response = client.get("/api/0/geography/versioned-cell")

    assert response.status_code == 400
    assert response.json()["payload"]["validation_error_messages"] == {
        "aggregation_unit": [
            "'versioned-cell' is not one of admin0, admin1, admin2, admin3, lon-lat"
        ]
    }
    # flowclient shows only msg for a failed GET, so msg names the unit and the allowed ones.
    assert response.json()["msg"] == (
        "Parameter validation failed. "
        "$.aggregation_unit: 'versioned-cell' is not one of admin0, admin1, admin2, admin3, lon-lat"
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/0/nothing-here", 404), ("DELETE", "/api/0/run", 405)],
)
def test_framework_errors_have_msg(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)

    assert response.status_code == status
    assert response.json()["msg"]


def test_access_log(client: httpx.Client, api_server: RunningServer, universal_token: str) -> None:
    response = client.get("/api/0/available_dates")
    request_id = response.headers["x-request-id"]
    records = api_server.wait_for_records(
        lambda record: (
            record["logger"] == "flowcore.access" and record.get("request_id") == request_id
        )
    )

    assert len(records) == 1
    record = records[0]
    assert record["user"] == "tester"
    assert record["method"] == "GET"
    assert record["path"] == "/api/0/available_dates"
    assert record["status"] == 200
    assert record["duration_ms"] >= 0
    log_text = api_server.log_path.read_text()
    assert universal_token not in log_text
    assert "Bearer" not in log_text
    assert all(line.startswith("{") for line in log_text.splitlines() if line)


@pytest.mark.parametrize(("fields", "message"), CALENDAR_PERIOD_ERRORS)
def test_calendar_periods_rejected(
    client: httpx.Client, fields: dict[str, Any], message: str
) -> None:
    spec = {"query_kind": "calendar_activity", "start_date": "2016-01-01", **fields}
    response = client.post("/api/0/run", json=spec)

    assert response.status_code == 400
    assert message in response.json()["msg"]
