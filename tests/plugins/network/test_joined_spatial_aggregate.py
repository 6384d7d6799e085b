"""joined_spatial_aggregate: metric statistics per location, on hand-made and test data."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.scopes import required_scopes
from flowcore.testing import insert_cells, insert_events, insert_region, square

# Event counts of the subscribers whose last location on 2016-01-01 is in A and in B.
COUNTS_A = list(range(1, 21))
COUNTS_B = [1, 2, 2]


@pytest.fixture
def counts_dsn(fresh_dsn: str) -> str:
    """20 subscribers in region A with 1 to 20 calls, 3 in region B with 1, 2 and 2 calls.

    On 2016-01-02 only a0 and a1 call, once each, from A.
    """
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 80.5, "lat": 27.5}, {"id": "c3", "lon": 82.5, "lat": 27.5}],
    )
    placed = [(f"a{i}", "c1", count) for i, count in enumerate(COUNTS_A)]
    placed += [(f"b{i}", "c3", count) for i, count in enumerate(COUNTS_B)]
    events = [
        {
            "msisdn": subscriber,
            "datetime": f"2016-01-01 08:{minute:02d}:00",
            "location_id": cell,
            "outgoing": True,
        }
        for subscriber, cell, count in placed
        for minute in range(count)
    ]
    events += [
        {"msisdn": name, "datetime": "2016-01-02 08:00:00", "location_id": "c1", "outgoing": True}
        for name in ("a0", "a1")
    ]
    insert_events(fresh_dsn, "calls", events)
    return fresh_dsn


def joined_spec(method: str, metric_day: str = "2016-01-01", **metric: Any) -> dict[str, Any]:
    """Return event counts of ``metric_day`` summarised at the last location of 2016-01-01."""
    end = {"2016-01-01": "2016-01-02", "2016-01-02": "2016-01-03"}[metric_day]
    return {
        "query_kind": "joined_spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
        "metric": {
            "query_kind": "event_count",
            "start_date": metric_day,
            "end_date": end,
            **metric,
        },
        "method": method,
    }


def by_pcod(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return ``{pcod: value}`` of result rows."""
    return {row["pcod"]: row["value"] for row in rows}


@pytest.mark.parametrize(
    ("method", "expected_a", "expected_b"),
    [
        ("count", 20, 3),
        ("sum", 210, 5),
        ("avg", 10.5, 5 / 3),
        ("max", 20, 2),
        ("min", 1, 1),
        ("median", 10.5, 2),
        ("stddev", statistics.stdev(COUNTS_A), statistics.stdev(COUNTS_B)),
        ("variance", 35.0, 1 / 3),
        # Every count in A occurs once, so the tie goes to the smallest.
        ("mode", 1, 2),
    ],
)
def test_statistic_per_location(
    run_on: Any, counts_dsn: str, method: str, expected_a: float, expected_b: float
) -> None:
    rows = run_on(counts_dsn)(joined_spec(method))
    assert list(rows[0]) == ["pcod", "value"]
    values = by_pcod(rows)
    assert set(values) == {"A", "B"}
    assert float(values["A"]) == pytest.approx(expected_a)
    assert float(values["B"]) == pytest.approx(expected_b)


def test_redaction_drops_small_locations(run_on: Any, counts_dsn: str) -> None:
    rows = run_on(counts_dsn)(joined_spec("sum"), redact=15)
    assert rows == [{"pcod": "A", "value": 210}]


def test_redaction_counts_location_subscribers(run_on: Any, counts_dsn: str) -> None:
    # Only a0 and a1 have events on 2016-01-02, but the locations put 20 subscribers in A.
    rows = run_on(counts_dsn)(joined_spec("count", metric_day="2016-01-02"), redact=15)
    assert rows == [{"pcod": "A", "value": 2}]
    assert run_on(counts_dsn)(joined_spec("count"), redact=20) == []


def test_categorical_method_rejected(converter: SpecConverter) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(joined_spec("distr"))
    message = raised.value.messages[0]
    assert message.startswith("$: method 'distr' does not apply to the numeric metric")
    assert "count, sum, avg" in message


def test_unknown_method_rejected(converter: SpecConverter) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(joined_spec("mean"))
    assert raised.value.messages[0].startswith("$.method:")


def test_metric_must_be_a_metric(converter: SpecConverter) -> None:
    spec = joined_spec("avg")
    spec["metric"] = spec["locations"]
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages[0].startswith("$.metric.query_kind: 'daily_location' is not")


def test_scope_unit_is_locations_unit(converter: SpecConverter) -> None:
    spec = joined_spec("avg")
    spec["metric"] = {
        "query_kind": "unique_location_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin1",
    }
    scopes = required_scopes(converter.structure(spec))
    assert scopes == {
        "admin3:joined_spatial_aggregate:joined_spatial_aggregate",
        "admin3:joined_spatial_aggregate:daily_location",
        "admin3:joined_spatial_aggregate:unique_location_counts",
    }


def test_matches_inputs_on_testdata(run_on: Any, testdata_dsn: str) -> None:
    run = run_on(testdata_dsn)
    locations = {
        "query_kind": "daily_location",
        "date": "2016-01-03",
        "method": "most-common",
        "aggregation_unit": "admin2",
    }
    metric = {
        "query_kind": "radius_of_gyration",
        "start_date": "2016-01-01",
        "end_date": "2016-01-04",
    }
    spec = {
        "query_kind": "joined_spatial_aggregate",
        "locations": locations,
        "metric": metric,
        "method": "avg",
    }
    place = {row["subscriber"]: row["pcod"] for row in run(locations)}
    radii: dict[str, list[float]] = defaultdict(list)
    for row in run(metric):
        if row["subscriber"] in place:
            radii[place[row["subscriber"]]].append(row["value"])
    expected = {pcod: statistics.fmean(values) for pcod, values in radii.items()}

    values = by_pcod(run(spec))
    assert len(values) > 5
    assert set(values) == set(expected)
    for pcod, value in values.items():
        assert value == pytest.approx(expected[pcod])

    located = defaultdict(int)
    for pcod in place.values():
        located[pcod] += 1
    released = by_pcod(run(spec, redact=15))
    assert set(released) == {pcod for pcod in expected if located[pcod] > 15}


def test_lon_lat_locations(run_on: Any, counts_dsn: str) -> None:
    spec = joined_spec("sum")
    spec["locations"]["aggregation_unit"] = "lon-lat"
    rows = run_on(counts_dsn)(spec)
    assert list(rows[0]) == ["lon", "lat", "value"]
    assert {(row["lon"], row["lat"]): row["value"] for row in rows} == {
        (80.5, 27.5): 210,
        (82.5, 27.5): 5,
    }


def test_every_metric_column_summarised(run_on: Any, counts_dsn: str) -> None:
    # total_active_periods has a second column, inactive_periods, which is summarised too.
    spec = joined_spec("sum")
    spec["metric"] = {
        "query_kind": "total_active_periods",
        "start_date": "2016-01-01",
        "total_periods": 2,
    }
    rows = run_on(counts_dsn)(spec)

    assert list(rows[0]) == ["pcod", "value", "inactive_periods"]
    by_region = {row["pcod"]: (row["value"], row["inactive_periods"]) for row in rows}
    # In A, a0 and a1 are active on both days and the 18 others on one.
    assert by_region == {"A": (22, 18), "B": (3, 3)}


def test_labels_are_not_a_metric(converter: SpecConverter) -> None:
    spec = joined_spec("distr")
    spec["metric"] = {
        "query_kind": "mobility_classification",
        "locations": [spec["locations"]],
        "stay_length_threshold": 1,
    }
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages[0].startswith(
        "$.metric.query_kind: 'mobility_classification' is not one of"
    )
