"""total_active_periods on hand-made calls: distinct periods with events per subscriber."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.errors import InvalidSpecError, MissingDataError
from flowcore.model.converter import SpecConverter
from flowcore.testing import insert_events

CALLS = [
    ("t0", "2016-01-01 01:00:00"),
    ("t0", "2016-01-01 23:00:00"),
    ("t0", "2016-01-03 10:00:00"),
    ("t1", "2016-01-02 12:00:00"),
    ("t2", "2016-01-05 09:00:00"),
]


@pytest.fixture
def calls_dsn(fresh_dsn: str) -> str:
    """Calls of t0 on 1 and 3 January, t1 on 2 January and t2 on 5 January 2016."""
    insert_events(
        fresh_dsn,
        "calls",
        [
            {"msisdn": who, "datetime": moment, "location_id": None, "outgoing": True}
            for who, moment in CALLS
        ],
    )
    return fresh_dsn


def periods_spec(start: str, total: int, **fields: Any) -> dict[str, Any]:
    """Return a total_active_periods spec."""
    return {
        "query_kind": "total_active_periods",
        "start_date": start,
        "total_periods": total,
        **fields,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (periods_spec("2016-01-01", 3), {"t0": 2, "t1": 1}),
        (periods_spec("2016-01-01", 2, period_length=2), {"t0": 2, "t1": 1}),
        (periods_spec("2016-01-01", 3, period_length=12, period_unit="hours"), {"t0": 2}),
        (periods_spec("2016-01-01 12:00:00", 2), {"t0": 2, "t1": 1}),
        # Each period below overlaps a day with data, although some start before the first
        # day with data or span the day without data, 4 January.
        (periods_spec("2015-12-31 18:00:00", 2), {"t0": 2, "t1": 1}),
        (periods_spec("2016-01-03 12:00:00", 2), {"t2": 1}),
        (periods_spec("2016-01-03", 2, period_length=2), {"t0": 1, "t2": 1}),
    ],
)
def test_active_periods(
    run_on: Any, calls_dsn: str, spec: dict[str, Any], expected: dict[str, int]
) -> None:
    rows = run_on(calls_dsn)(spec)
    assert {row["subscriber"]: row["value"] for row in rows} == expected
    inactive = {row["subscriber"]: row["inactive_periods"] for row in rows}
    assert inactive == {name: spec["total_periods"] - value for name, value in expected.items()}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"total_periods": 0}, "$.total_periods: must be at least 1, got 0"),
        ({"total_periods": 2, "period_length": 0}, "$.period_length: must be at least 1, got 0"),
    ],
)
def test_period_counts_validated(
    converter: SpecConverter, fields: dict[str, Any], message: str
) -> None:
    spec = {"query_kind": "total_active_periods", "start_date": "2016-01-01", **fields}
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages == [message]


def test_end_date_is_unknown(converter: SpecConverter) -> None:
    spec = periods_spec("2016-01-01", 2, end_date="2016-01-03")
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages == ["$.end_date: unknown field"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            periods_spec("2016-01-03", 2),
            "$: no calls, sms data in period 2 of 2, between 2016-01-04T00:00:00 and "
            "2016-01-05T00:00:00; see the available dates",
        ),
        (
            periods_spec("2016-01-05", 3, period_length=12, period_unit="hours"),
            "$: no calls, sms data in period 3 of 3, between 2016-01-06T00:00:00 and "
            "2016-01-06T12:00:00; see the available dates",
        ),
        (
            # Over 500,000 periods: only the days without data are searched.
            periods_spec("2016-01-03", 600_000, period_unit="minutes"),
            "$: no calls, sms data in period 1441 of 600000, between 2016-01-04T00:00:00 and "
            "2016-01-04T00:01:00; see the available dates",
        ),
        (
            periods_spec("2015-12-31", 2),
            "$: no calls, sms data in period 1 of 2, between 2015-12-31T00:00:00 and "
            "2016-01-01T00:00:00; see the available dates",
        ),
        (
            periods_spec("2016-01-04 06:00:00", 1, period_length=12, period_unit="hours"),
            "$: no calls, sms data in period 1 of 1, between 2016-01-04T06:00:00 and "
            "2016-01-04T18:00:00; see the available dates",
        ),
        (
            # The earliest start date accepted.
            periods_spec("0001-01-02", 3),
            "$: no calls, sms data in period 1 of 3, between 0001-01-02T00:00:00 and "
            "0001-01-03T00:00:00; see the available dates",
        ),
        (
            {**periods_spec("2016-01-03", 2), "query_kind": "calendar_activity"},
            "$: no calls, sms data in period 2 of 2, between 2016-01-04T00:00:00 and "
            "2016-01-05T00:00:00; see the available dates",
        ),
    ],
)
def test_period_without_data_rejected(
    run_on: Any, calls_dsn: str, spec: dict[str, Any], message: str
) -> None:
    # FlowKit reads each period with its own events query, which fails when no event table
    # has data on the period's days, even when other periods have data.
    with pytest.raises(MissingDataError) as raised:
        run_on(calls_dsn)(spec)
    assert raised.value.messages == [message]
