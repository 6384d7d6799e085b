"""Network object totals (plain and versioned) and their aggregates on hand-made data."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.testing import insert_cells, insert_events, insert_region, insert_sites, square

# Region A contains site S1 with cells c1 and c2 (c2 moves within A on 2016-01-02); region B
# contains site S2 with cells c3 and c4.
CELLS = [
    {"id": "c1", "lon": 80.5, "lat": 27.5, "site_id": "S1"},
    {
        "id": "c2",
        "lon": 80.6,
        "lat": 27.6,
        "site_id": "S1",
        "version": 0,
        "date_of_last_service": "2016-01-01",
    },
    {
        "id": "c2",
        "lon": 80.7,
        "lat": 27.7,
        "site_id": "S1",
        "version": 1,
        "date_of_first_service": "2016-01-02",
    },
    {"id": "c3", "lon": 82.5, "lat": 27.5, "site_id": "S2"},
    {"id": "c4", "lon": 82.6, "lat": 27.6, "site_id": "S2"},
]
SITES = [
    {"id": "S1", "lon": 80.55, "lat": 27.55},
    {"id": "S2", "lon": 82.55, "lat": 27.55},
]
EVENT_TIMES = {
    "c1": [
        "2016-01-01 10:00:00",
        "2016-01-01 10:10:00",
        "2016-01-01 10:20:00",
        "2016-01-01 12:00:00",
        "2016-01-01 15:00:00",
        "2016-01-02 09:00:00",
        "2016-01-02 13:00:00",
    ],
    "c2": ["2016-01-01 10:30:00", "2016-01-02 09:00:00", "2016-01-02 13:00:00"],
    "c3": ["2016-01-01 10:00:00", "2016-01-03 08:00:00"],
    "c4": ["2016-01-03 08:30:00"],
}


@pytest.fixture
def network_dsn(fresh_dsn: str) -> str:
    """A database with two regions, two sites, four cells and calls at them."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_sites(fresh_dsn, SITES)
    insert_cells(fresh_dsn, CELLS)
    rows = [
        {"msisdn": f"s{index}", "datetime": moment, "location_id": cell, "outgoing": True}
        for cell, times in EVENT_TIMES.items()
        for index, moment in enumerate(times)
    ]
    insert_events(fresh_dsn, "calls", rows)
    return fresh_dsn


def utc(text: str) -> dt.datetime:
    """Return an aware UTC datetime from ``YYYY-MM-DD[ HH:MM]``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def totals_spec(**overrides: Any) -> dict[str, Any]:
    """Return a total_network_objects spec over 2016-01-01 to 2016-01-03 at admin3."""
    spec: dict[str, Any] = {
        "query_kind": "total_network_objects",
        "start_date": "2016-01-01",
        "end_date": "2016-01-04",
        "aggregation_unit": "admin3",
    }
    spec.update(overrides)
    return spec


def by_location_and_time(rows: list[dict[str, Any]]) -> dict[tuple[str, dt.datetime], Any]:
    """Map (pcod, datetime) of each row to its value."""
    return {(row["pcod"], row["datetime"]): row["value"] for row in rows}


def test_totals_by_day(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(totals_spec())
    assert list(rows[0]) == ["pcod", "value", "datetime"]
    assert by_location_and_time(rows) == {
        ("A", utc("2016-01-01")): 2,
        ("A", utc("2016-01-02")): 2,
        ("B", utc("2016-01-01")): 1,
        ("B", utc("2016-01-03")): 2,
    }


def test_totals_by_hour(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(totals_spec(total_by="hour"))
    # c1 has three events in hour 10 of 2016-01-01 and still counts once there.
    assert by_location_and_time(rows) == {
        ("A", utc("2016-01-01 10:00")): 2,
        ("A", utc("2016-01-01 12:00")): 1,
        ("A", utc("2016-01-01 15:00")): 1,
        ("A", utc("2016-01-02 09:00")): 2,
        ("A", utc("2016-01-02 13:00")): 2,
        ("B", utc("2016-01-01 10:00")): 1,
        ("B", utc("2016-01-03 08:00")): 2,
    }


def test_totals_by_month(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(totals_spec(total_by="month"))
    assert by_location_and_time(rows) == {
        ("A", utc("2016-01-01")): 2,
        ("B", utc("2016-01-01")): 2,
    }


def test_totals_by_minute(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(totals_spec(total_by="minute", end_date="2016-01-02"))
    values = by_location_and_time(rows)
    assert values[("A", utc("2016-01-01 10:00"))] == 1
    assert values[("A", utc("2016-01-01 10:30"))] == 1
    assert len(values) == 7


def test_totals_at_lon_lat(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(totals_spec(aggregation_unit="lon-lat", total_by="month"))
    values = {(row["lon"], row["lat"]): row["value"] for row in rows}
    assert values == {
        (80.5, 27.5): 1,
        (80.6, 27.6): 1,
        (80.7, 27.7): 1,
        (82.5, 27.5): 1,
        (82.6, 27.6): 1,
    }


@pytest.mark.parametrize(
    ("network_object", "expected"),
    [
        # c2 moved on 2016-01-02, so its two versions count separately over the month.
        ("versioned-cell", {"A": 3, "B": 2}),
        ("versioned-site", {"A": 1, "B": 1}),
    ],
)
def test_versioned_objects_by_month(
    run_on: Any, network_dsn: str, network_object: str, expected: dict[str, int]
) -> None:
    spec = totals_spec(
        query_kind="versioned_network_objects", network_object=network_object, total_by="month"
    )
    rows = run_on(network_dsn)(spec)
    assert {row["pcod"]: row["value"] for row in rows} == expected
    assert {row["datetime"] for row in rows} == {utc("2016-01-01")}


def test_versioned_kind_not_top_level(registry: Any) -> None:
    assert not registry.kind("versioned_network_objects").top_level
    assert registry.kind("total_network_objects").top_level


def aggregate_spec(statistic: str, **overrides: Any) -> dict[str, Any]:
    """Return aggregate_network_objects of hourly totals per day."""
    spec: dict[str, Any] = {
        "query_kind": "aggregate_network_objects",
        "total_network_objects": totals_spec(total_by="hour"),
        "statistic": statistic,
        "aggregate_by": "day",
    }
    spec.update(overrides)
    return spec


# Hourly totals per day: A 2016-01-01 -> [2, 1, 1], A 2016-01-02 -> [2, 2],
# B 2016-01-01 -> [1], B 2016-01-03 -> [2].
STATISTIC_CASES = [
    ("count", {"A1": 3, "A2": 2, "B1": 1, "B3": 1}),
    ("sum", {"A1": 4, "A2": 4, "B1": 1, "B3": 2}),
    ("avg", {"A1": 4 / 3, "A2": 2, "B1": 1, "B3": 2}),
    ("max", {"A1": 2, "A2": 2, "B1": 1, "B3": 2}),
    ("min", {"A1": 1, "A2": 2, "B1": 1, "B3": 2}),
    ("median", {"A1": 1, "A2": 2, "B1": 1, "B3": 2}),
    ("stddev", {"A1": math.sqrt(1 / 3), "A2": 0, "B1": None, "B3": None}),
    ("variance", {"A1": 1 / 3, "A2": 0, "B1": None, "B3": None}),
    ("mode", {"A1": 1, "A2": 2, "B1": 1, "B3": 2}),
]
DAY_KEYS = {
    "A1": ("A", utc("2016-01-01")),
    "A2": ("A", utc("2016-01-02")),
    "B1": ("B", utc("2016-01-01")),
    "B3": ("B", utc("2016-01-03")),
}


@pytest.mark.parametrize(("statistic", "expected"), STATISTIC_CASES)
def test_aggregate_each_statistic(
    run_on: Any, network_dsn: str, statistic: str, expected: dict[str, float | None]
) -> None:
    rows = run_on(network_dsn)(aggregate_spec(statistic))
    assert list(rows[0]) == ["pcod", "value", "datetime"]
    values = by_location_and_time(rows)
    assert set(values) == set(DAY_KEYS.values())
    for key, wanted in expected.items():
        got = values[DAY_KEYS[key]]
        if wanted is None:
            assert got is None, key
        else:
            assert float(got) == pytest.approx(wanted), key


def test_aggregate_by_defaults_to_coarser(run_on: Any, converter: Any, network_dsn: str) -> None:
    spec = aggregate_spec("mode", total_network_objects=totals_spec(total_by="day"))
    del spec["aggregate_by"]
    assert converter.structure(spec).aggregate_by == "month"
    rows = run_on(network_dsn)(spec)
    # Daily totals in B are [1, 2]: equally frequent, so mode gives the smaller one.
    assert by_location_and_time(rows) == {("A", utc("2016-01-01")): 2, ("B", utc("2016-01-01")): 1}


def test_aggregate_median_interpolates(run_on: Any, network_dsn: str) -> None:
    spec = aggregate_spec(
        "median", total_network_objects=totals_spec(total_by="day"), aggregate_by="month"
    )
    rows = run_on(network_dsn)(spec)
    assert by_location_and_time(rows) == {
        ("A", utc("2016-01-01")): 2,
        ("B", utc("2016-01-01")): 1.5,
    }


@pytest.mark.parametrize(
    ("total_by", "expected"),
    [
        ("second", "minute"),
        ("minute", "hour"),
        ("hour", "day"),
        ("day", "month"),
        ("month", "year"),
        ("year", "century"),
    ],
)
def test_default_aggregate_by(converter: Any, total_by: str, expected: str) -> None:
    spec = aggregate_spec("avg", total_network_objects=totals_spec(total_by=total_by))
    del spec["aggregate_by"]
    assert converter.structure(spec).aggregate_by == expected


def test_aggregate_by_century(run_on: Any, network_dsn: str) -> None:
    rows = run_on(network_dsn)(aggregate_spec("max", aggregate_by="century"))
    assert by_location_and_time(rows) == {
        ("A", utc("2001-01-01")): 2,
        ("B", utc("2001-01-01")): 2,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (totals_spec(total_by="week"), "$.total_by: 'week' is not one of"),
        (totals_spec(network_object="versioned-site"), "$.network_object: unknown field"),
        (aggregate_spec("mean"), "$.statistic: 'mean' is not one of"),
        (aggregate_spec("avg", aggregate_by="decade"), "$.aggregate_by: 'decade' is not one of"),
    ],
)
def test_invalid_network_specs(converter: Any, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert any(line.startswith(message) for line in raised.value.messages), raised.value.messages
