"""histogram_aggregate on hand-made event counts: bins and counts against numpy, censoring."""

from __future__ import annotations

from typing import Any

import numpy
import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.scopes import required_scopes
from flowcore.testing import insert_cells, insert_events

# Event counts of the 20 subscribers s0..s19 on 2016-01-01.
COUNTS = list(range(1, 21))


@pytest.fixture
def counts_dsn(fresh_dsn: str) -> str:
    """Subscriber s{i} calls i + 1 times on 2016-01-01."""
    insert_cells(fresh_dsn, [{"id": "c1", "lon": 80.5, "lat": 27.5}])
    events = [
        {
            "msisdn": f"s{index}",
            "datetime": f"2016-01-01 08:{minute:02d}:00",
            "location_id": "c1",
            "outgoing": True,
        }
        for index, count in enumerate(COUNTS)
        for minute in range(count)
    ]
    insert_events(fresh_dsn, "calls", events)
    return fresh_dsn


def histogram_spec(bins: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return a histogram of event counts on 2016-01-01 with ``bins``."""
    return {
        "query_kind": "histogram_aggregate",
        "metric": {
            "query_kind": "event_count",
            "start_date": "2016-01-01",
            "end_date": "2016-01-02",
        },
        "bins": bins,
        **fields,
    }


def sorted_bins(rows: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """Return ``(lower_edge, upper_edge, value)`` of each bin in edge order."""
    return sorted((row["lower_edge"], row["upper_edge"], row["value"]) for row in rows)


@pytest.mark.parametrize("n_bins", [1, 3, 4, 7])
def test_n_bins_match_numpy(run_on: Any, counts_dsn: str, n_bins: int) -> None:
    rows = run_on(counts_dsn)(histogram_spec({"n_bins": n_bins}))
    assert list(rows[0]) == ["value", "lower_edge", "upper_edge"]
    counts, edges = numpy.histogram(COUNTS, bins=n_bins)
    assert sorted_bins(rows) == [(edges[i], edges[i + 1], counts[i]) for i in range(n_bins)]


def test_range_as_list_matches_numpy(run_on: Any, counts_dsn: str) -> None:
    rows = run_on(counts_dsn)(histogram_spec({"n_bins": 3}, range=[0, 10]))
    counts, edges = numpy.histogram(COUNTS, bins=3, range=(0, 10))
    assert sorted_bins(rows) == [(edges[i], edges[i + 1], counts[i]) for i in range(3)]


def test_range_object_equals_list(converter: SpecConverter) -> None:
    as_list = converter.structure(histogram_spec({"n_bins": 3}, range=[0, 10]))
    as_object = converter.structure(
        histogram_spec({"n_bins": 3}, range={"lower_bound": 0, "upper_bound": 10})
    )
    assert as_list == as_object


def test_empty_bins_count_zero(run_on: Any, counts_dsn: str) -> None:
    rows = run_on(counts_dsn)(histogram_spec({"n_bins": 2}, range=[30, 40]))
    assert sorted_bins(rows) == [(30.0, 35.0, 0), (35.0, 40.0, 0)]


def test_bin_list_half_open(run_on: Any, counts_dsn: str) -> None:
    rows = run_on(counts_dsn)(histogram_spec({"bin_list": [0, 5, 10, 20]}))
    # 20 equals the last edge and is left out: every listed bin is [lower, upper).
    assert sorted_bins(rows) == [(0.0, 5.0, 4), (5.0, 10.0, 5), (10.0, 20.0, 10)]


def test_equal_values_widen_range(run_on: Any, fresh_dsn: str) -> None:
    insert_cells(fresh_dsn, [{"id": "c1", "lon": 80.5, "lat": 27.5}])
    insert_events(
        fresh_dsn,
        "calls",
        [
            {"msisdn": name, "datetime": "2016-01-01 08:00:00", "location_id": "c1"}
            for name in ("x", "y")
        ],
    )
    rows = run_on(fresh_dsn)(histogram_spec({"n_bins": 2}))
    counts, edges = numpy.histogram([1, 1], bins=2)
    assert sorted_bins(rows) == [(edges[i], edges[i + 1], counts[i]) for i in range(2)]


def test_censored_when_a_bin_is_small(run_on: Any, counts_dsn: str) -> None:
    spec = histogram_spec({"n_bins": 4})
    assert run_on(counts_dsn)(spec, redact=15) == [
        {"value": None, "lower_edge": None, "upper_edge": None}
    ]


def test_released_in_edge_order(run_on: Any, counts_dsn: str) -> None:
    # Each of the 4 bins contains 5 subscribers, which is not below a threshold of 5.
    rows = run_on(counts_dsn)(histogram_spec({"n_bins": 4}), redact=5)
    assert [row["lower_edge"] for row in rows] == [1.0, 5.75, 10.5, 15.25]
    assert [row["value"] for row in rows] == [5, 5, 5, 5]


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        (
            {"n_bins": 3, "bin_list": [0, 1]},
            "$.bins: Only one of n_bins or bin_list may be provided.",
        ),
        ({}, "$.bins: One of n_bins or bin_list must be provided."),
        ({"n_bins": 0}, "$.bins: n_bins must be at least 1, got 0"),
        ({"n_bins": 10_001}, "$.bins: n_bins must be at most 10000, got 10001"),
        ({"bin_list": [1]}, "$.bins: bin_list needs at least two edges, got [1.0]"),
        (
            {"bin_list": [0, 2, 1]},
            "$.bins: bin_list must be strictly increasing, got [0.0, 2.0, 1.0]",
        ),
    ],
)
def test_bins_validation(converter: SpecConverter, bins: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(histogram_spec(bins))
    assert raised.value.messages == [message]


@pytest.mark.parametrize(
    ("bounds", "fragment"),
    [
        ([5, 1], "lower_bound should be less than upper_bound, got lower_bound 5.0"),
        ({"lower_bound": 2, "upper_bound": 2}, "lower_bound should be less than upper_bound"),
        ([1, 2, 3], "$.range: must be a list of two numbers"),
        ({"lower_bound": 1}, "$.range: must have exactly the fields lower_bound and upper_bound"),
        (["a", 2], "range: lower_bound must be a number, got 'a'"),
    ],
)
def test_range_validation(converter: SpecConverter, bounds: Any, fragment: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(histogram_spec({"n_bins": 2}, range=bounds))
    assert len(raised.value.messages) == 1
    assert fragment in raised.value.messages[0]


def test_scope_unit_is_nonspatial(converter: SpecConverter) -> None:
    spec = histogram_spec({"n_bins": 2})
    spec["metric"] = {
        "query_kind": "unique_location_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin1",
    }
    assert required_scopes(converter.structure(spec)) == {
        "nonspatial:histogram_aggregate:histogram_aggregate",
        "nonspatial:histogram_aggregate:unique_location_counts",
    }


def test_radius_histogram_matches_numpy(run_on: Any, testdata_dsn: str) -> None:
    run = run_on(testdata_dsn)
    metric = {
        "query_kind": "radius_of_gyration",
        "start_date": "2016-01-01",
        "end_date": "2016-01-04",
    }
    radii = [row["value"] for row in run(metric)]
    rows = run({"query_kind": "histogram_aggregate", "metric": metric, "bins": {"n_bins": 8}})
    counts, edges = numpy.histogram(radii, bins=8)
    assert len(radii) > 100
    assert sorted_bins(rows) == [(edges[i], edges[i + 1], counts[i]) for i in range(8)]
