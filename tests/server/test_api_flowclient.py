"""flowclient 1.34 against a real server: every seed query kind, geography, dates and formats.

Each result is compared with the Python API's redacted result of the same spec, so the server
releases exactly what the library computes.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import warnings
from collections.abc import Iterator
from typing import Any

import flowclient
import flowclient.aggregates as aggregates
import pytest
from api_helpers import CALENDAR_PERIOD_ERRORS, RunningServer
from sqlalchemy import text

from flowcore.session import Session

pytestmark = pytest.mark.filterwarnings("ignore:Communications with this server are NOT SECURE")


def _plain(value: Any) -> Any:
    """Bring a value from either side to the JSON form the API sends."""
    if hasattr(value, "item"):  # numpy scalars in DataFrames
        value = value.item()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = [tuple(sorted((key, _plain(value)) for key, value in row.items())) for row in records]
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def connection(api_server: RunningServer, universal_token: str) -> Iterator[Any]:
    """A flowclient connection with every scope."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield flowclient.connect(url=api_server.url, token=universal_token)


def _daily(date: str, unit: str = "admin3", method: str = "last") -> dict[str, Any]:
    return flowclient.daily_location_spec(date=date, aggregation_unit=unit, method=method)


LABELS = {
    "evening": {
        "type": "Polygon",
        "coordinates": [[[-1.1, -1.1], [-0.25, -1.1], [-0.25, 1.1], [-1.1, 1.1], [-1.1, -1.1]]],
    },
    "day": {
        "type": "Polygon",
        "coordinates": [[[0.25, -1.1], [1.1, -1.1], [1.1, 1.1], [0.25, 1.1], [0.25, -1.1]]],
    },
}
HOUR_SCORES = [-1, -1, -1, -1, -1, -1, -1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, -1, -1, -1, -1, -1]
DAY_SCORES = {
    "monday": 1,
    "tuesday": 1,
    "wednesday": 1,
    "thursday": 1,
    "friday": 1,
    "saturday": 0,
    "sunday": -1,
}
MEANINGFUL = {
    "labels": LABELS,
    "tower_hour_of_day_scores": HOUR_SCORES,
    "tower_day_of_week_scores": DAY_SCORES,
    "aggregation_unit": "admin1",
}


def _coalesced(days: tuple[int, ...], unit: str = "admin1") -> dict[str, Any]:
    """Return a ``coalesced_location`` of the days' majority locations, as FlowKit takes it."""
    visits = flowclient.location_visits_spec(
        locations=[_daily(f"2016-01-0{day}", unit) for day in days]
    )
    return flowclient.coalesced_location_spec(
        preferred_location=flowclient.majority_location_spec(
            subscriber_location_weights=visits, include_unlocatable=True
        ),
        fallback_location=flowclient.majority_location_spec(subscriber_location_weights=visits),
        subscriber_location_weights=visits,
        weight_threshold=2,
    )


MOBILITY = flowclient.mobility_classification_spec(
    locations=[_coalesced((1, 2, 3)), _coalesced((4, 5, 6))], stay_length_threshold=2
)

SEED_SPECS = {
    "spatial_aggregate of daily_location": aggregates.spatial_aggregate_spec(
        locations=_daily("2016-01-03", "admin2")
    ),
    "spatial_aggregate of modal_location": aggregates.spatial_aggregate_spec(
        locations=flowclient.modal_location_from_dates_spec(
            start_date="2016-01-01", end_date="2016-01-04", aggregation_unit="admin2", method="last"
        )
    ),
    "flows": aggregates.flows_spec(
        from_location=_daily("2016-01-01", "admin1"), to_location=_daily("2016-01-02", "admin1")
    ),
    "location_event_counts": aggregates.location_event_counts_spec(
        start_date="2016-01-01",
        end_date="2016-01-03",
        aggregation_unit="admin1",
        count_interval="hour",
    ),
    "total_network_objects": aggregates.total_network_objects_spec(
        start_date="2016-01-01", end_date="2016-01-04", aggregation_unit="admin2"
    ),
    "meaningful_locations_aggregate": aggregates.meaningful_locations_aggregate_spec(
        start_date="2016-01-01", end_date="2016-01-08", label="evening", **MEANINGFUL
    ),
    "meaningful_locations_between_label_od_matrix": (
        aggregates.meaningful_locations_between_label_od_matrix_spec(
            start_date="2016-01-01",
            end_date="2016-01-08",
            label_a="evening",
            label_b="day",
            **MEANINGFUL,
        )
    ),
    "meaningful_locations_between_dates_od_matrix": (
        aggregates.meaningful_locations_between_dates_od_matrix_spec(
            start_date_a="2016-01-01",
            end_date_a="2016-01-04",
            start_date_b="2016-01-04",
            end_date_b="2016-01-08",
            label="evening",
            **MEANINGFUL,
        )
    ),
    "labelled_spatial_aggregate": aggregates.labelled_spatial_aggregate_spec(
        locations=_coalesced((4, 5, 6)), labels=MOBILITY
    ),
    "calendar_activity": aggregates.calendar_activity_spec(
        start_date="2016-01-01", total_periods=7
    ),
    "localised_calendar_activity": aggregates.localised_calendar_activity_spec(
        start_date="2016-01-01",
        total_periods=1,
        hours=(9, 17),
        locations=_daily("2016-01-03", "admin1"),
    ),
    "labelled_flows": aggregates.labelled_flows_spec(
        from_location=_coalesced((1, 2, 3)),
        to_location=_coalesced((4, 5, 6)),
        labels=MOBILITY,
        join_type="full outer",
    ),
}


@pytest.mark.parametrize("name", sorted(SEED_SPECS))
def test_seed_kind_matches_python_api(name: str, connection: Any, python_session: Session) -> None:
    spec = SEED_SPECS[name]
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    expected = python_session.run(spec, redact=True)

    assert list(result.columns) == expected.columns
    assert len(result) > 0
    assert _rows(result.to_dict("records")) == _rows(expected.to_dicts())


def test_network_objects_in_location_then_period_order(connection: Any) -> None:
    spec = aggregates.total_network_objects_spec(
        start_date="2016-01-01", end_date="2016-01-08", aggregation_unit="admin3"
    )
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    keys = list(zip(result["pcod"], result["datetime"], strict=True))

    assert len(keys) > 100
    assert keys == sorted(keys)


def test_introversion_in_descending_location_order(connection: Any) -> None:
    spec = aggregates.location_introversion_spec(
        start_date="2016-01-01", end_date="2016-01-08", aggregation_unit="admin2"
    )
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    locations = list(result["pcod"])

    assert len(locations) > 5
    assert locations == sorted(locations, reverse=True)


@pytest.mark.parametrize("name", ["spatial_aggregate of daily_location", "flows"])
def test_redaction_drops_small_counts(name: str, connection: Any, python_session: Session) -> None:
    spec = SEED_SPECS[name]
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    raw = python_session.run(spec, redact=False).to_dicts()

    assert all(value > 15 for value in result["value"])
    assert any(row["value"] <= 15 for row in raw)
    assert len(result) == sum(1 for row in raw if row["value"] > 15)


def _smallest_label(rows: list[dict[str, Any]], location: tuple[str, ...]) -> dict[Any, int]:
    """Return the smallest ``value`` of each location's labels."""
    smallest: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(row[column] for column in location)
        smallest[key] = min(smallest.get(key, row["value"]), row["value"])
    return smallest


@pytest.mark.parametrize(
    ("name", "location"),
    [("labelled_spatial_aggregate", ("pcod",)), ("labelled_flows", ("pcod_from", "pcod_to"))],
)
def test_labelled_redaction_whole_locations(
    name: str, location: tuple[str, ...], connection: Any, python_session: Session
) -> None:
    spec = SEED_SPECS[name]
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    raw = python_session.run(spec, redact=False).to_dicts()
    smallest = _smallest_label(raw, location)
    expected = {key for key, value in smallest.items() if value > 15 and None not in key}
    released = result.to_dict("records")

    # The raw result has small labels and rows at a null location, so redaction shows.
    assert any(value <= 15 for value in smallest.values())
    assert any(None in key for key in smallest)
    assert {tuple(row[column] for column in location) for row in released} == expected
    assert _rows(released) == _rows([r for r in raw if tuple(r[c] for c in location) in expected])


def test_labelled_large_labels_withheld(connection: Any, python_session: Session) -> None:
    spec = SEED_SPECS["labelled_spatial_aggregate"]
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    raw = python_session.run(spec, redact=False).to_dicts()
    smallest = _smallest_label(raw, ("pcod",))
    withheld_large = [r for r in raw if r["value"] > 15 and smallest[(r["pcod"],)] <= 15]

    assert withheld_large
    assert not set(result["pcod"]) & {row["pcod"] for row in withheld_large}


def test_geojson_of_labelled_flows_rejected(connection: Any) -> None:
    spec = SEED_SPECS["labelled_flows"]

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.get_geojson_result(connection=connection, query_spec=spec, disable_progress=True)

    assert "pcod_from, pcod_to, value_label, value" in str(raised.value)


def test_labelled_flows_error_names_field(connection: Any) -> None:
    spec = aggregates.labelled_flows_spec(
        from_location=_coalesced((1, 2, 3)),
        to_location=_coalesced((4, 5, 6), "admin2"),
        labels=MOBILITY,
        join_type="outer",
    )

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.run_query(connection=connection, query_spec=spec)

    assert "$.join_type: 'outer' is not one of inner, full outer, left, right" in str(raised.value)


def test_mobility_classification_error_names_field(connection: Any) -> None:
    labels = flowclient.mobility_classification_spec(
        locations=[_coalesced((1, 2, 3)), _coalesced((4, 5, 6), "admin2")],
        stay_length_threshold=2,
    )
    spec = aggregates.labelled_spatial_aggregate_spec(
        locations=_coalesced((4, 5, 6)), labels=labels
    )

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.run_query(connection=connection, query_spec=spec)

    assert (
        "$.labels: All locations must have the same aggregation unit (found admin1, admin2)"
        in str(raised.value)
    )


def test_calendar_activity_periods_as_iso_strings(connection: Any, python_session: Session) -> None:
    spec = SEED_SPECS["calendar_activity"]
    result = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    raw = python_session.run(spec, redact=False).to_dicts()
    every_day = [f"2016-01-0{day}T00:00:00" for day in range(1, 8)]

    # The test dataset has one large group, active every day, and many small ones.
    assert [list(calendar) for calendar in result["grp"]] == [every_day]
    assert any(row["value"] <= 15 for row in raw)
    assert list(result["value"]) == [row["value"] for row in raw if row["value"] > 15]


@pytest.mark.parametrize(("fields", "message"), CALENDAR_PERIOD_ERRORS)
def test_calendar_activity_error_names_field(
    connection: Any, fields: dict[str, Any], message: str
) -> None:
    spec = aggregates.calendar_activity_spec(start_date="2016-01-01", **fields)

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.run_query(connection=connection, query_spec=spec)

    assert message in str(raised.value)


def test_geography_admin3(connection: Any, python_session: Session) -> None:
    collection = flowclient.get_geography(connection=connection, aggregation_unit="admin3")
    features = collection["features"]
    with python_session.engine.connect() as db:
        expected = db.execute(text("SELECT admin3pcod FROM geography.admin3")).scalars().all()

    assert collection["type"] == "FeatureCollection"
    assert sorted(f["properties"]["pcod"] for f in features) == sorted(expected)
    assert [f["id"] for f in features] == list(range(1, len(features) + 1))
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}
    assert all(f["properties"]["centroid"]["type"] == "Point" for f in features)
    assert set(features[0]["properties"]) == {"pcod", "centroid"}


def test_geography_lon_lat(connection: Any, python_session: Session) -> None:
    collection = flowclient.get_geography(connection=connection, aggregation_unit="lon-lat")
    with python_session.engine.connect() as db:
        points = db.execute(
            text(
                "SELECT count(DISTINCT (ST_X(geom_point), ST_Y(geom_point))) "
                "FROM infrastructure.cells WHERE geom_point IS NOT NULL"
            )
        ).scalar_one()

    assert len(collection["features"]) == points
    feature = collection["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == [
        feature["properties"]["lon"],
        feature["properties"]["lat"],
    ]


def test_geography_error_names_units(connection: Any) -> None:
    # flowclient shows only msg when a GET fails, so msg must name the value and the choices.
    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.get_geography(connection=connection, aggregation_unit="admin9")

    assert "'admin9' is not one of admin0, admin1, admin2, admin3, lon-lat" in str(raised.value)


def test_run_error_names_field(connection: Any) -> None:
    spec = aggregates.spatial_aggregate_spec(
        locations={
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "first",
            "aggregation_unit": "admin3",
        }
    )

    with pytest.raises(flowclient.errors.FlowclientConnectionError) as raised:
        flowclient.run_query(connection=connection, query_spec=spec)

    assert "$.locations.method: 'first' is not one of last, most-common" in str(raised.value)


def test_available_dates(connection: Any) -> None:
    dates = flowclient.get_available_dates(connection=connection)
    week = [f"2016-01-0{day}" for day in range(1, 8)]

    assert dates == {"calls": week, "mds": week, "sms": week, "topups": week}
    assert flowclient.get_available_dates(connection=connection, event_types=["sms"]) == {
        "sms": week
    }


def test_geojson_of_spatial_aggregate(connection: Any) -> None:
    spec = SEED_SPECS["spatial_aggregate of daily_location"]
    rows = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    collection = flowclient.get_geojson_result(
        connection=connection, query_spec=spec, disable_progress=True
    )
    by_pcod = {f["properties"]["pcod"]: f for f in collection["features"]}

    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(rows)
    for pcod, value in zip(rows["pcod"], rows["value"], strict=True):
        assert by_pcod[pcod]["properties"]["value"] == value
        assert by_pcod[pcod]["geometry"]["type"] in {"Polygon", "MultiPolygon"}
        assert by_pcod[pcod]["properties"]["centroid"]["type"] == "Point"


def test_geojson_of_flows(connection: Any) -> None:
    spec = SEED_SPECS["flows"]
    rows = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    collection = flowclient.get_geojson_result(
        connection=connection, query_spec=spec, disable_progress=True
    )
    by_pcod = {f["properties"]["pcod"]: f["properties"] for f in collection["features"]}

    locations = set(rows["pcod_from"]) | set(rows["pcod_to"])
    assert set(by_pcod) == locations
    for origin, destination, value in rows[["pcod_from", "pcod_to", "value"]].itertuples(
        index=False
    ):
        assert by_pcod[origin]["outflows"][destination] == value
        assert by_pcod[destination]["inflows"][origin] == value


@pytest.mark.parametrize(
    "name",
    [
        "meaningful_locations_between_label_od_matrix",
        "meaningful_locations_between_dates_od_matrix",
    ],
)
def test_geojson_of_meaningful_od_matrix(name: str, connection: Any) -> None:
    spec = SEED_SPECS[name]
    rows = flowclient.get_result(connection=connection, query_spec=spec, disable_progress=True)
    collection = flowclient.get_geojson_result(
        connection=connection, query_spec=spec, disable_progress=True
    )
    by_pcod = {f["properties"]["pcod"]: f["properties"] for f in collection["features"]}

    assert len(rows) > 0
    assert set(by_pcod) == set(rows["pcod_from"]) | set(rows["pcod_to"])
    for origin, destination, value in rows[["pcod_from", "pcod_to", "value"]].itertuples(
        index=False
    ):
        assert by_pcod[origin]["outflows"][destination] == pytest.approx(value)
        assert by_pcod[destination]["inflows"][origin] == pytest.approx(value)
    for properties in by_pcod.values():
        assert "label_from" not in properties
        assert properties["centroid"]["type"] == "Point"


def test_csv_result(api_server: RunningServer, universal_token: str, connection: Any) -> None:
    spec = SEED_SPECS["location_event_counts"]
    query_id = flowclient.run_query(connection=connection, query_spec=spec)
    rows = flowclient.get_result_by_query_id(
        connection=connection, query_id=query_id, disable_progress=True
    )
    with api_server.client(universal_token) as client:
        response = client.get(f"/api/0/get/{query_id}.csv")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f"attachment;filename={query_id}.csv"
    assert response.text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(response.text)))
    assert parsed[0] == list(rows.columns)
    assert len(parsed) == len(rows) + 1
    first = dict(zip(parsed[0], parsed[1], strict=True))
    match = rows[(rows["pcod"] == first["pcod"]) & (rows["date"] == first["date"])]
    assert str(match[match["hour"] == int(first["hour"])]["value"].item()) == first["value"]


def test_csv_calendar_as_json_array(
    api_server: RunningServer, universal_token: str, connection: Any
) -> None:
    query_id = flowclient.run_query(
        connection=connection, query_spec=SEED_SPECS["calendar_activity"]
    )
    flowclient.get_result_by_query_id(
        connection=connection, query_id=query_id, disable_progress=True
    )
    with api_server.client(universal_token) as client:
        response = client.get(f"/api/0/get/{query_id}.csv")
    parsed = list(csv.reader(io.StringIO(response.text)))
    every_day = [f"2016-01-0{day}T00:00:00" for day in range(1, 8)]

    assert response.status_code == 200
    assert parsed[0] == ["grp", "value"]
    assert [json.loads(row[0]) for row in parsed[1:]] == [every_day]


def test_json_result_headers(
    api_server: RunningServer, universal_token: str, connection: Any
) -> None:
    spec = SEED_SPECS["spatial_aggregate of daily_location"]
    query_id = flowclient.run_query(connection=connection, query_spec=spec)
    flowclient.get_result_by_query_id(
        connection=connection, query_id=query_id, disable_progress=True
    )
    with api_server.client(universal_token) as client:
        plain = client.get(f"/api/0/get/{query_id}")
        suffixed = client.get(f"/api/0/get/{query_id}.json")

    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.headers["content-disposition"] == f"attachment;filename={query_id}.json"
    assert plain.headers.get("transfer-encoding") == "chunked"
    assert plain.json() == suffixed.json()
    assert plain.json()["query_id"] == query_id


def test_unknown_result_format(
    api_server: RunningServer, universal_token: str, connection: Any
) -> None:
    query_id = flowclient.run_query(
        connection=connection, query_spec=SEED_SPECS["spatial_aggregate of daily_location"]
    )
    with api_server.client(universal_token) as client:
        response = client.get(f"/api/0/get/{query_id}.xml")

    assert response.status_code == 400
    assert "Invalid file format" in response.json()["msg"]


def test_quality_checks(state_server: RunningServer, state_token: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        connection = flowclient.connect(url=state_server.url, token=state_token)

    checks = flowclient.get_available_qa_checks(connection=connection)
    outcome = flowclient.get_qa_check_outcome(
        connection=connection,
        event_type="calls",
        check_type="count_msisdns",
        event_date="2016-01-01",
    )
    outcomes = flowclient.get_qa_check_outcomes(
        connection=connection,
        event_type="calls",
        check_type="count_msisdns",
        start_date="2016-01-01",
        end_date="2016-01-02",
    )

    assert checks == [
        {"cdr_type": "calls", "type_of_query_or_check": "count_msisdns"},
        {"cdr_type": "calls", "type_of_query_or_check": "max_duration"},
        {"cdr_type": "sms", "type_of_query_or_check": "count_msisdns"},
    ]
    assert flowclient.get_available_qa_checks(connection=connection, event_types=["sms"]) == [
        {"cdr_type": "sms", "type_of_query_or_check": "count_msisdns"}
    ]
    # The newer of the two outcomes recorded for that date wins.
    assert outcome == "3"
    assert outcomes == [
        {"cdr_date": "2016-01-01", "type_of_query_or_check": "count_msisdns", "outcome": "3"},
        {"cdr_date": "2016-01-02", "type_of_query_or_check": "count_msisdns", "outcome": "5"},
    ]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/0/qa/calls/count_msisdns/2016-13-01", 400),
        ("/api/0/qa/calls/count_msisdns/2016-1-1", 400),
        ("/api/0/qa/calls/count_msisdns/20160101", 400),
        ("/api/0/qa/calls/count_msisdns?start_date=2016-1-1&end_date=2016-01-07", 400),
        ("/api/0/qa/calls/count_msisdns?start_date=2016-01-01", 400),
        ("/api/0/qa/calls/count_msisdns?start_date=2016-01-03&end_date=2016-01-01", 400),
        ("/api/0/qa/calls/count_msisdns/2016-01-05", 404),
        ("/api/0/qa/mds/count_msisdns?start_date=2016-01-01&end_date=2016-01-07", 404),
    ],
)
def test_quality_check_errors(
    path: str, status: int, state_server: RunningServer, state_token: str
) -> None:
    with state_server.client(state_token) as client:
        response = client.get(path)

    assert response.status_code == status
    assert response.json()["msg"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/0/qa/callz/count_msisdns/2016-01-01", "No quality checks on event type 'callz'"),
        ("/api/0/qa/calls%00/count_msisdns/2016-01-01", "No quality checks on event type"),
        ("/api/0/qa/calls/count%00/2016-01-01", "its checks are: count_msisdns"),
        ("/api/0/qa/calls/count_msisdnz/2016-01-01", "its checks are: count_msisdns"),
        ("/api/0/qa/calls/count_msisdns/2016-01-05", "between 2016-01-05 and 2016-01-05"),
    ],
)
def test_quality_check_not_found_says_why(
    path: str, expected: str, state_server: RunningServer, state_token: str
) -> None:
    with state_server.client(state_token) as client:
        response = client.get(path)

    assert response.status_code == 404
    assert expected in response.json()["msg"]
