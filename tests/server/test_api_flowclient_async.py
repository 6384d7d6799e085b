"""flowclient 1.34's asynchronous client against a real server.

The asynchronous client talks to the API through ``httpx`` instead of ``requests`` and
resolves the ``Location`` headers itself, so it is tested apart from the synchronous client.
Each result is compared with the Python API's redacted result of the same spec.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import flowclient
import flowclient.aggregates as aggregates
import flowclient.async_client as async_client
import pytest
from api_helpers import RunningServer
from test_api_flowclient import _rows

from flowcore.session import Session

pytestmark = pytest.mark.filterwarnings("ignore:Communications with this server are NOT SECURE")

Result = TypeVar("Result")


def _with_connection(
    api_server: RunningServer,
    token: str,
    use: Callable[[Any], Awaitable[Result]],
) -> Result:
    """Open an asynchronous connection, await ``use`` with it and close it."""

    async def session() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            connection = await flowclient.connect_async(url=api_server.url, token=token)
        try:
            return await use(connection)
        finally:
            await connection.session.aclose()

    return asyncio.run(session())


SPATIAL_AGGREGATE = aggregates.spatial_aggregate_spec(
    locations=flowclient.daily_location_spec(
        date="2016-01-03", aggregation_unit="admin2", method="last"
    )
)


def test_async_query_result_matches_python_api(
    api_server: RunningServer, universal_token: str, python_session: Session
) -> None:
    async def fetch(connection: Any) -> Any:
        query = connection.make_api_query(SPATIAL_AGGREGATE)
        await query.run()
        await query.wait_until_ready(poll_interval=0.1, disable_progress=True)
        return await query.get_result(poll_interval=0.1, disable_progress=True)

    frame = _with_connection(api_server, universal_token, fetch)
    expected = python_session.run(SPATIAL_AGGREGATE, redact=True)

    assert list(frame.columns) == expected.columns
    assert len(frame) > 0
    assert _rows(frame.to_dict("records")) == _rows(expected.to_dicts())


def test_async_status_of_finished_query(api_server: RunningServer, universal_token: str) -> None:
    async def status(connection: Any) -> str:
        query_id = await async_client.run_query(connection=connection, query_spec=SPATIAL_AGGREGATE)
        await async_client.wait_for_query_to_be_ready(
            connection=connection, query_id=query_id, poll_interval=0.1, disable_progress=True
        )
        return await async_client.get_status(connection=connection, query_id=query_id)

    assert _with_connection(api_server, universal_token, status) == "completed"


def test_async_geojson_result(api_server: RunningServer, universal_token: str) -> None:
    async def fetch(connection: Any) -> dict[str, Any]:
        return await async_client.get_geojson_result(
            connection=connection, query_spec=SPATIAL_AGGREGATE
        )

    document = _with_connection(api_server, universal_token, fetch)

    assert document["type"] == "FeatureCollection"
    assert document["features"]
    properties = document["features"][0]["properties"]
    assert set(properties) == {"pcod", "value", "centroid"}
    assert properties["value"] > 15


def test_async_geography_and_dates(api_server: RunningServer, universal_token: str) -> None:
    async def fetch(connection: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        geography = await async_client.get_geography(
            connection=connection, aggregation_unit="admin1"
        )
        dates = await async_client.get_available_dates(connection=connection)
        return geography, dates

    geography, dates = _with_connection(api_server, universal_token, fetch)

    assert geography["type"] == "FeatureCollection"
    assert len(geography["features"]) > 0
    assert "2016-01-01" in dates["calls"]
    assert "2016-01-07" in dates["calls"]


def test_async_invalid_spec_names_field(api_server: RunningServer, universal_token: str) -> None:
    bad_spec = {**SPATIAL_AGGREGATE, "locations": {**SPATIAL_AGGREGATE["locations"]}}
    bad_spec["locations"]["method"] = "loudest"

    async def submit(connection: Any) -> str:
        return await async_client.run_query(connection=connection, query_spec=bad_spec)

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        _with_connection(api_server, universal_token, submit)

    assert "method" in str(raised.value)
    assert "loudest" in str(raised.value)
