"""calendar_activity and localised_calendar_activity, checked against calendars built in Python.

The expected calendars are computed here from the raw event rows: each event falls in period
``floor((time - start) / period)``, and a subscriber's calendar is the sorted starts of their
periods. Small hand-made datasets check the release rule at exactly 15 and 16 subscribers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import flowcore
from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.scopes import required_scopes
from flowcore.testing import insert_cells, insert_events, insert_region, square

Calendar = tuple[dt.datetime, ...]

SECONDS_PER_UNIT = {"days": 86_400, "hours": 3_600, "minutes": 60}
NIGHT = {"start_hour": 22, "end_hour": 6}
OFFICE = {"start_hour": 9, "end_hour": 17}


def calendar_spec(start: str, total: int, **fields: Any) -> dict[str, Any]:
    """Return a ``calendar_activity`` spec."""
    return {
        "query_kind": "calendar_activity",
        "start_date": start,
        "total_periods": total,
        **fields,
    }


def localised_spec(
    start: str, total: int, reference: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """Return a ``localised_calendar_activity`` spec."""
    return {
        **calendar_spec(start, total, **fields),
        "query_kind": "localised_calendar_activity",
        "reference_location": reference,
    }


def daily(date: str, unit: str = "admin2") -> dict[str, Any]:
    """Return a ``daily_location`` spec (last location of the day)."""
    return {
        "query_kind": "daily_location",
        "date": date,
        "method": "last",
        "aggregation_unit": unit,
    }


def in_window(moment: dt.datetime, hours: dict[str, int] | None) -> bool:
    """Return whether ``moment`` is inside the half-open hour window, which may wrap midnight."""
    if hours is None:
        return True
    start, end, hour = hours["start_hour"], hours["end_hour"], moment.hour
    if start < end:
        return start <= hour < end
    if start > end:
        return hour >= start or hour < end
    return False


def event_times(dsn: str, event_types: Iterable[str]) -> list[tuple[str, dt.datetime]]:
    """Return every ``(subscriber, UTC time)`` of the event tables, naive."""
    rows: list[tuple[str, dt.datetime]] = []
    with psycopg.connect(dsn) as connection:
        connection.execute("SET timezone = 'UTC'")
        for event_type in event_types:
            statement = sql.SQL("SELECT msisdn, datetime FROM {}").format(
                sql.Identifier("events", event_type)
            )
            found = connection.execute(statement).fetchall()
            rows.extend((subscriber, moment.replace(tzinfo=None)) for subscriber, moment in found)
    return rows


def expected_calendars(
    events: list[tuple[str, dt.datetime]], spec: dict[str, Any], subset: set[str] | None = None
) -> dict[str, Calendar]:
    """Return each subscriber's calendar under ``spec``, computed from the event rows."""
    start = dt.datetime.fromisoformat(spec["start_date"])
    length = spec.get("period_length", 1) * SECONDS_PER_UNIT[spec.get("period_unit", "days")]
    period = dt.timedelta(seconds=length)
    periods: dict[str, set[int]] = {}
    for subscriber, moment in events:
        if subset is not None and subscriber not in subset:
            continue
        if not in_window(moment, spec.get("hours")):
            continue
        index = int((moment - start).total_seconds() // length)
        if 0 <= index < spec["total_periods"]:
            periods.setdefault(subscriber, set()).add(index)
    return {
        subscriber: tuple(start + i * period for i in sorted(found))
        for subscriber, found in periods.items()
    }


def groups(rows: list[dict[str, Any]]) -> dict[Calendar, int]:
    """Return ``{grp: value}`` of calendar_activity rows."""
    return {tuple(row["grp"]): row["value"] for row in rows}


def _calendar(value: list[dt.datetime] | None) -> Calendar | None:
    return None if value is None else tuple(value)


@pytest.fixture(scope="module")
def calls_and_sms(testdata_dsn: str) -> list[tuple[str, dt.datetime]]:
    """Calls and SMS of the test dataset, the event types read by default."""
    return event_times(testdata_dsn, ("calls", "sms"))


TESTDATA_CASES = [
    calendar_spec("2016-01-01", 7),
    calendar_spec("2016-01-01", 3, period_length=2),
    calendar_spec("2016-01-01 12:00:00", 3),
    calendar_spec("2016-01-02", 8, period_length=6, period_unit="hours", hours=NIGHT),
    calendar_spec("2016-01-01", 6, period_length=90, period_unit="minutes"),
    calendar_spec("2016-01-03 08:00:00", 5, period_unit="hours", hours=OFFICE),
]


@pytest.mark.parametrize("spec", TESTDATA_CASES, ids=lambda spec: str(sorted(spec.items())))
def test_groups_match_python(
    run_on: Any,
    testdata_dsn: str,
    calls_and_sms: list[tuple[str, dt.datetime]],
    spec: dict[str, Any],
) -> None:
    expected = Counter(expected_calendars(calls_and_sms, spec).values())
    rows = run_on(testdata_dsn)(spec)

    assert len(expected) > 1
    assert groups(rows) == expected
    assert all(list(calendar) == sorted(calendar) for calendar in groups(rows))


def test_event_types_subset(run_on: Any, testdata_dsn: str) -> None:
    spec = calendar_spec("2016-01-01", 7, event_types=["sms", "topups"])
    events = event_times(testdata_dsn, ("sms", "topups"))
    expected = Counter(expected_calendars(events, spec).values())

    assert groups(run_on(testdata_dsn)(spec)) == expected
    assert expected != Counter(
        expected_calendars(event_times(testdata_dsn, ("sms",)), spec).values()
    )


def test_subscriber_subset(
    run_on: Any, testdata_dsn: str, calls_and_sms: list[tuple[str, dt.datetime]]
) -> None:
    with flowcore.connect(testdata_dsn) as session:
        subset_result = session.run(daily("2016-01-02", "admin3"), timeout=120)
        subset_id = subset_result.query_id
        subset = {row["subscriber"] for row in subset_result.to_dicts()}
    spec = calendar_spec("2016-01-01", 4, subscriber_subset=subset_id)
    expected = Counter(expected_calendars(calls_and_sms, spec, subset).values())

    assert 0 < len(subset) < len({subscriber for subscriber, _ in calls_and_sms})
    assert groups(run_on(testdata_dsn)(spec)) == expected


def test_release_keeps_groups_above_15(
    run_on: Any, testdata_dsn: str, calls_and_sms: list[tuple[str, dt.datetime]]
) -> None:
    spec = calendar_spec("2016-01-01", 7)
    expected = Counter(expected_calendars(calls_and_sms, spec).values())
    released = groups(run_on(testdata_dsn)(spec, redact=15))

    assert any(count <= 15 for count in expected.values())
    assert released == {calendar: count for calendar, count in expected.items() if count > 15}


def test_localised_matches_python(
    run_on: Any, testdata_dsn: str, calls_and_sms: list[tuple[str, dt.datetime]]
) -> None:
    reference = daily("2016-01-03", "admin1")
    spec = localised_spec("2016-01-01", 1, reference, period_unit="days", hours=OFFICE)
    with flowcore.connect(testdata_dsn) as session:
        located = {row["subscriber"]: row["pcod"] for row in session.run(reference).to_dicts()}
    calendars = expected_calendars(calls_and_sms, spec)
    expected = Counter((pcod, calendars.get(subscriber)) for subscriber, pcod in located.items())

    rows = run_on(testdata_dsn)(spec)
    found = {(row["pcod"], _calendar(row["value_label"])): row["value"] for row in rows}

    assert list(rows[0]) == ["pcod", "value_label", "value"]
    assert any(calendar is None for _, calendar in expected)
    assert found == expected

    smallest: dict[str, int] = {}
    for (pcod, _), count in expected.items():
        smallest[pcod] = min(smallest.get(pcod, count), count)
    released = run_on(testdata_dsn)(spec, redact=15)
    released_pcods = {pcod for pcod, count in smallest.items() if count > 15}
    assert released_pcods
    assert released_pcods != set(smallest)
    assert {row["pcod"] for row in released} == released_pcods
    assert len(released) == sum(1 for pcod, _ in expected if pcod in released_pcods)


# -- release boundary on hand-made events ------------------------------------------------------


def _calls(
    prefix: str, size: int, days: Iterable[int], cell: str | None = None
) -> list[dict[str, Any]]:
    """Return calls at 10:00 on each of ``days`` of January 2016 by ``size`` subscribers."""
    return [
        {
            "msisdn": f"{prefix}{number}",
            "datetime": f"2016-01-0{day} 10:00:00",
            "location_id": cell,
            "outgoing": True,
        }
        for number in range(size)
        for day in days
    ]


def test_release_boundary_15_and_16(run_on: Any, fresh_dsn: str) -> None:
    insert_events(fresh_dsn, "calls", [*_calls("a", 16, (1, 3)), *_calls("b", 15, (2,))])
    spec = calendar_spec("2016-01-01", 3)
    first_and_third = (dt.datetime(2016, 1, 1), dt.datetime(2016, 1, 3))
    second = (dt.datetime(2016, 1, 2),)

    assert groups(run_on(fresh_dsn)(spec)) == {first_and_third: 16, second: 15}
    assert groups(run_on(fresh_dsn)(spec, redact=15)) == {first_and_third: 16}


def test_sampling_counts_sampled_subscribers(run_on: Any, fresh_dsn: str) -> None:
    insert_events(fresh_dsn, "calls", [*_calls("a", 20, (1, 3)), *_calls("b", 20, (2,))])
    sampling = {"sampling_method": "random_ids", "size": 10, "seed": 0.5}
    rows = run_on(fresh_dsn)(calendar_spec("2016-01-01", 3, sampling=sampling))

    assert sum(groups(rows).values()) == 10


@pytest.fixture
def regions_dsn(fresh_dsn: str) -> str:
    """Two admin3 regions, A (cell cA) and B (cell cB), without events."""
    insert_region(fresh_dsn, 3, "A", square(80.0, 27.0, 1.0))
    insert_region(fresh_dsn, 3, "B", square(81.0, 27.0, 1.0))
    insert_cells(
        fresh_dsn, [{"id": "cA", "lon": 80.5, "lat": 27.5}, {"id": "cB", "lon": 81.5, "lat": 27.5}]
    )
    return fresh_dsn


def test_localised_release_withholds_whole_locations(run_on: Any, regions_dsn: str) -> None:
    insert_events(
        regions_dsn,
        "calls",
        [
            # In A, 16 subscribers are active on days 1 and 3 and 16 on day 3 only, so both
            # calendars count more than 15.
            *_calls("a1", 16, (1, 3), "cA"),
            *_calls("a3", 16, (3,), "cA"),
            # In B, 20 are active on days 1 and 3, but only 15 on day 3 alone.
            *_calls("b1", 20, (1, 3), "cB"),
            *_calls("b3", 15, (3,), "cB"),
        ],
    )
    # The one period is day 1, so the calls of day 3 only locate the subscribers.
    spec = localised_spec("2016-01-01", 1, daily("2016-01-03", "admin3"))
    first = (dt.datetime(2016, 1, 1),)

    def counts(rows: list[dict[str, Any]]) -> dict[tuple[str, Calendar | None], int]:
        return {(row["pcod"], _calendar(row["value_label"])): row["value"] for row in rows}

    assert counts(run_on(regions_dsn)(spec)) == {
        ("A", first): 16,
        ("A", None): 16,
        ("B", first): 20,
        ("B", None): 15,
    }
    assert counts(run_on(regions_dsn)(spec, redact=15)) == {("A", first): 16, ("A", None): 16}


def test_localised_sampling_counts_located_subscribers(run_on: Any, regions_dsn: str) -> None:
    insert_events(
        regions_dsn, "calls", [*_calls("a", 12, (1, 3), "cA"), *_calls("b", 12, (3,), "cB")]
    )
    sampling = {"sampling_method": "random_ids", "size": 10, "seed": 0.5}
    spec = localised_spec("2016-01-01", 1, daily("2016-01-03", "admin3"), sampling=sampling)

    assert sum(row["value"] for row in run_on(regions_dsn)(spec)) == 10


# -- validation and scopes ---------------------------------------------------------------------

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("no periods", calendar_spec("2016-01-01", 0), "$.total_periods: must be at least 1, got 0"),
    (
        "zero length",
        calendar_spec("2016-01-01", 2, period_length=0),
        "$.period_length: must be at least 1, got 0",
    ),
    (
        "weeks",
        calendar_spec("2016-01-01", 2, period_unit="weeks"),
        "$.period_unit: 'weeks' is not one of days, hours, minutes",
    ),
    (
        "periods past year 9999",
        calendar_spec("0369-07-09", 607_473_492),
        "$.total_periods: 607473492 periods of 1 days from 0369-07-09T00:00:00 end after "
        "9999-12-31, the last day a date can name; use fewer or shorter periods",
    ),
    (
        "period too long for a timedelta",
        calendar_spec("2016-01-01", 2, period_length=10**12),
        "$.total_periods: 2 periods of 1000000000000 days from 2016-01-01T00:00:00 end after",
    ),
    (
        "missing periods",
        {"query_kind": "calendar_activity", "start_date": "2016-01-01"},
        "$.total_periods: missing required field",
    ),
    (
        "reference location on calendar_activity",
        calendar_spec("2016-01-01", 2, reference_location=daily("2016-01-01")),
        "$.reference_location: unknown field",
    ),
    (
        "localised without a reference location",
        {
            "query_kind": "localised_calendar_activity",
            "start_date": "2016-01-01",
            "total_periods": 2,
        },
        "$.reference_location: missing required field",
    ),
    (
        "localised with a location set",
        localised_spec(
            "2016-01-01",
            2,
            {
                "query_kind": "unique_locations",
                "start_date": "2016-01-01",
                "end_date": "2016-01-02",
                "aggregation_unit": "admin3",
            },
        ),
        "$.reference_location.query_kind: 'unique_locations' is not one of ",
    ),
]


@pytest.mark.parametrize(("name", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_invalid_calendar_spec_rejected(
    converter: SpecConverter, name: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert any(line.startswith(message) for line in raised.value.messages), raised.value.messages


def test_calendar_scopes(converter: SpecConverter) -> None:
    calendar = converter.structure(calendar_spec("2016-01-01", 2))
    localised = converter.structure(localised_spec("2016-01-01", 2, daily("2016-01-01", "admin1")))

    assert required_scopes(calendar) == {"nonspatial:calendar_activity:calendar_activity"}
    assert localised.spatial_unit() == "admin1"
    assert required_scopes(localised) == {
        "admin1:localised_calendar_activity:localised_calendar_activity",
        "admin1:localised_calendar_activity:daily_location",
    }
