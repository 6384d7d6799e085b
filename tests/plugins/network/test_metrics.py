"""Per-subscriber metrics on hand-made events, against values computed by hand."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.testing import insert_cells, insert_events, insert_region, square

# Geodesic length of one degree of longitude on the equator of the WGS 84 spheroid, in km: the
# equator is a circle of radius a = 6378.137 km.
EQUATOR_DEGREE_KM = 6378.137 * math.pi / 180


@pytest.fixture
def calls_dsn(fresh_dsn: str) -> str:
    """Calls of s0 and s1 on 2016-01-01 in regions A (cells c1, c2) and B (cell c3)."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_region(fresh_dsn, 3, "B", square(82, 27, 1))
    insert_cells(
        fresh_dsn,
        [
            {"id": "c1", "lon": 80.5, "lat": 27.5},
            {"id": "c2", "lon": 80.2, "lat": 27.2},
            {"id": "c3", "lon": 82.5, "lat": 27.5},
        ],
    )
    rows = [
        ("s0", "01:00", "c1", True, "s1"),
        ("s0", "10:00", "c3", True, "s2"),
        ("s0", "12:00", "c2", True, "s0"),
        ("s0", "22:00", "c1", False, "s1"),
        ("s1", "03:00", "c1", True, "s4"),
        ("s1", "09:00", "c1", False, "s0"),
        ("s1", "23:00", None, True, "s3"),
    ]
    events = [
        {
            "msisdn": subscriber,
            "datetime": f"2016-01-01 {time}:00",
            "location_id": cell,
            "outgoing": outgoing,
            "msisdn_counterpart": counterpart,
        }
        for subscriber, time, cell, outgoing, counterpart in rows
    ]
    # Outside the range [2016-01-01, 2016-01-02).
    events.append(
        {
            "msisdn": "s1",
            "datetime": "2016-01-02 09:00:00",
            "location_id": "c1",
            "outgoing": True,
            "msisdn_counterpart": "s5",
        }
    )
    insert_events(fresh_dsn, "calls", events)
    return fresh_dsn


def metric_spec(kind: str, **fields: Any) -> dict[str, Any]:
    """Return a ``kind`` spec over 2016-01-01 with extra ``fields``."""
    return {"query_kind": kind, "start_date": "2016-01-01", "end_date": "2016-01-02", **fields}


def values_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return ``{subscriber: value}`` of metric rows."""
    return {row["subscriber"]: row["value"] for row in rows}


def test_event_count_columns(run_on: Any, calls_dsn: str) -> None:
    rows = run_on(calls_dsn)(metric_spec("event_count"))
    assert list(rows[0]) == ["subscriber", "value"]


@pytest.mark.parametrize(
    ("direction", "expected"), [("both", {"s0": 4, "s1": 3}), ("out", {"s0": 3, "s1": 2})]
)
def test_event_count_by_direction(
    run_on: Any, calls_dsn: str, direction: str, expected: dict[str, int]
) -> None:
    rows = run_on(calls_dsn)(metric_spec("event_count", direction=direction))
    assert values_of(rows) == expected


def test_event_count_incoming(run_on: Any, calls_dsn: str) -> None:
    rows = run_on(calls_dsn)(metric_spec("event_count", direction="in"))
    assert values_of(rows) == {"s0": 1, "s1": 1}


def test_event_count_hours_window(run_on: Any, calls_dsn: str) -> None:
    spec = metric_spec("event_count", hours={"start_hour": 0, "end_hour": 11})
    assert values_of(run_on(calls_dsn)(spec)) == {"s0": 2, "s1": 2}


def test_subscriber_degree_skips_self(run_on: Any, calls_dsn: str) -> None:
    rows = run_on(calls_dsn)(metric_spec("subscriber_degree"))
    assert values_of(rows) == {"s0": 2, "s1": 3}


def test_subscriber_degree_by_direction(run_on: Any, calls_dsn: str) -> None:
    outgoing = run_on(calls_dsn)(metric_spec("subscriber_degree", direction="out"))
    incoming = run_on(calls_dsn)(metric_spec("subscriber_degree", direction="in"))
    assert values_of(outgoing) == {"s0": 2, "s1": 2}
    assert values_of(incoming) == {"s0": 1, "s1": 1}


def test_nocturnal_events_percentage(run_on: Any, calls_dsn: str) -> None:
    spec = metric_spec("nocturnal_events", night_hours={"start_hour": 20, "end_hour": 4})
    values = values_of(run_on(calls_dsn)(spec))
    # Decimal, with the 20 digits of PostgreSQL's avg() of the night flags times 100.
    assert values["s0"] == Decimal("50")
    assert values["s1"] == Decimal("66.66666666666666666700")


def test_nocturnal_events_rejects_hours(converter: SpecConverter) -> None:
    spec = metric_spec(
        "nocturnal_events",
        night_hours={"start_hour": 20, "end_hour": 4},
        hours={"start_hour": 0, "end_hour": 4},
    )
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert "$.hours: unknown field" in raised.value.messages


def test_nocturnal_events_needs_night_hours(converter: SpecConverter) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(metric_spec("nocturnal_events"))
    assert raised.value.messages == [
        "$.night_hours: missing required field; "
        "expected an object with the fields start_hour, end_hour"
    ]


@pytest.mark.parametrize(("unit", "expected"), [("admin3", 2), ("lon-lat", 3)])
def test_unique_location_counts_per_unit(
    run_on: Any, calls_dsn: str, unit: str, expected: int
) -> None:
    spec = metric_spec("unique_location_counts", aggregation_unit=unit)
    # s1's event with no cell is not located, so s1 visited c1 only.
    assert values_of(run_on(calls_dsn)(spec)) == {"s0": expected, "s1": 1}


def test_radius_of_gyration_single_place(run_on: Any, calls_dsn: str) -> None:
    values = values_of(run_on(calls_dsn)(metric_spec("radius_of_gyration")))
    assert values["s1"] == pytest.approx(0.0, abs=1e-9)
    assert values["s0"] > 0


@pytest.fixture
def equator_dsn(fresh_dsn: str) -> str:
    """Calls at points on the equator, where geodesic distances have a closed form."""
    insert_cells(
        fresh_dsn,
        [{"id": f"e{lon}", "lon": float(lon), "lat": 0.0} for lon in (0, 2, 4)],
    )
    placed = [("a", "e0"), ("a", "e2"), ("b", "e0"), ("b", "e0"), ("b", "e0"), ("b", "e4")]
    events = [
        {
            "msisdn": subscriber,
            "datetime": f"2016-01-01 0{index}:00:00",
            "location_id": cell,
            "outgoing": True,
        }
        for index, (subscriber, cell) in enumerate(placed)
    ]
    insert_events(fresh_dsn, "calls", events)
    return fresh_dsn


def test_radius_of_gyration_geodesic_km(run_on: Any, equator_dsn: str) -> None:
    values = values_of(run_on(equator_dsn)(metric_spec("radius_of_gyration")))
    # a: centre at lon 1, both points one degree away.
    assert values["a"] == pytest.approx(EQUATOR_DEGREE_KM, rel=1e-9)
    # b: centre at lon 1; three points one degree away and one three degrees away.
    assert values["b"] == pytest.approx(EQUATOR_DEGREE_KM * math.sqrt(3), rel=1e-9)


def test_metric_sampling_keeps_size(run_on: Any, calls_dsn: str) -> None:
    sampling = {"sampling_method": "random_ids", "size": 1, "seed": 0.5}
    rows = run_on(calls_dsn)(metric_spec("event_count", sampling=sampling))
    assert len(rows) == 1
    assert rows[0]["value"] == {"s0": 4, "s1": 3}[rows[0]["subscriber"]]


def test_metrics_are_not_top_level(registry: Any) -> None:
    top = {kind.name for kind in registry.top_level_kinds()}
    for name in (
        "radius_of_gyration",
        "event_count",
        "subscriber_degree",
        "nocturnal_events",
        "unique_location_counts",
    ):
        assert name not in top
