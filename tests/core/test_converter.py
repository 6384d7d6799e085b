"""Reading JSON into specs: FlowKit's field rules and messages with JSON paths."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import attrs
import pytest

from flowcore.errors import FieldValueError, InvalidSpecError
from flowcore.kinds import QueryKind
from flowcore.model.base import Aggregate
from flowcore.model.converter import SpecConverter
from flowcore.registry import Registry

DAILY = {
    "query_kind": "daily_location",
    "date": "2016-01-01",
    "method": "last",
    "aggregation_unit": "admin3",
}


def messages(converter: SpecConverter, data: Any) -> list[str]:
    with pytest.raises(InvalidSpecError) as caught:
        converter.structure(data)
    return caught.value.messages


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"aggregation_unit": "admin9"},
            ["$.aggregation_unit: 'admin9' is not one of admin0, admin1, admin2, admin3, lon-lat"],
        ),
        ({"method": "first"}, ["$.method: 'first' is not one of last, most-common"]),
        (
            {"date": "2016-13-01"},
            [
                "$.date: '2016-13-01' is not a valid date or datetime "
                "(expected ISO 8601, e.g. 2016-01-01)"
            ],
        ),
        (
            {"event_types": []},
            ["$.event_types: must list at least one event type of calls, sms, mds, topups"],
        ),
        (
            {"event_types": ["calls", "fax"]},
            ["$.event_types: 'fax' is not one of calls, sms, mds, topups"],
        ),
        (
            {"hours": {"start_hour": 25, "end_hour": 3}},
            ["$.hours: start_hour must be between 0 and 24, got 25"],
        ),
        (
            {"hours": {"start_hour": 20, "end_hour": 24}},
            ["$.hours: end_hour 24 is not accepted; use 0 for midnight"],
        ),
        (
            {"hours": {"start_hour": "1", "end_hour": 3}},
            ["$.hours.start_hour: '1' is not an integer"],
        ),
        ({"hours": {"start_hour": 1}}, ["$.hours.end_hour: missing required field"]),
        (
            {"hours": [25, 3]},
            ["$.hours: list is not an object with the fields start_hour, end_hour"],
        ),
        ({"colour": "red"}, ["$.colour: unknown field"]),
        (
            {"mapping_table": "\x001"},
            ["$.mapping_table: '\\x001' contains a NUL character (\\u0000)"],
        ),
        ({"method": None}, ["$.method: null is not one of last, most-common"]),
        (
            {"sampling": {"size": 10, "fraction": 0.5}},
            ["$.sampling: Must provide exactly one of 'size' or 'fraction' for a random sample."],
        ),
        (
            {"sampling": {"fraction": 1.5}},
            ["$.sampling: fraction must be between 0 and 1 (exclusive), got 1.5"],
        ),
    ],
)
def test_daily_location_field_errors(
    converter: SpecConverter, changes: dict[str, Any], expected: list[str]
) -> None:
    assert messages(converter, {**DAILY, **changes}) == expected


def test_missing_fields_listed_each(converter: SpecConverter) -> None:
    assert messages(converter, {"query_kind": "daily_location"}) == [
        "$.aggregation_unit: missing required field",
        "$.date: missing required field",
        "$.method: missing required field; expected one of 'last', 'most-common'",
    ]


def test_unknown_query_kind(converter: SpecConverter) -> None:
    [message] = messages(converter, {"query_kind": "weather"})
    assert message.startswith("$.query_kind: 'weather' is not one of ")
    assert "daily_location" in message


def test_missing_query_kind(converter: SpecConverter) -> None:
    assert messages(converter, {"date": "2016-01-01"}) == ["$.query_kind: missing required field"]


def test_not_an_object(converter: SpecConverter) -> None:
    assert messages(converter, ["daily_location"]) == ["$: expected a JSON object, got list"]


def test_explicit_nulls_accepted(converter: SpecConverter) -> None:
    spec = converter.structure(
        {
            **DAILY,
            "event_types": None,
            "subscriber_subset": None,
            "hours": None,
            "sampling": None,
            "mapping_table": None,
            "geom_table": None,
            "geom_table_join_column": None,
        }
    )
    assert spec.event_types is None
    assert spec.hours is None


def test_event_type_duplicates_removed(converter: SpecConverter) -> None:
    spec = converter.structure({**DAILY, "event_types": ["sms", "calls", "sms"]})
    assert spec.event_types == ("sms", "calls")


def test_datetime_forms_read_alike(converter: SpecConverter) -> None:
    forms = [
        "2016-01-01",
        "2016-01-01T00:00:00",
        "2016-01-01 00:00:00",
        "2016-01-01T00:00:00+00:00",
    ]
    dates = {converter.structure({**DAILY, "date": form}).date for form in forms}
    assert dates == {dt.datetime(2016, 1, 1)}


def test_aware_datetime_converted_to_utc(converter: SpecConverter) -> None:
    spec = converter.structure({**DAILY, "date": "2016-01-01T05:45:00+05:45"})
    assert spec.date == dt.datetime(2016, 1, 1)


def test_unstructure_round_trips(converter: SpecConverter) -> None:
    spec = converter.structure({**DAILY, "hours": {"start_hour": 22, "end_hour": 6}})
    again = converter.structure(converter.unstructure(spec))
    assert again == spec
    assert converter.unstructure(spec)["query_kind"] == "daily_location"


def test_spec_tree_over_node_limit_rejected(converter: SpecConverter) -> None:
    too_many = {"query_kind": "modal_location", "locations": [DAILY] * 25}
    [message] = messages(converter, too_many)
    assert message == "$: the spec nests more than 20 queries; split it into smaller queries"


def test_deeply_nested_json_rejected(converter: SpecConverter) -> None:
    data: dict[str, Any] = {"query_kind": "daily_location"}
    cursor = data
    for _ in range(5000):
        cursor["hours"] = {}
        cursor = cursor["hours"]
    assert messages(converter, data) == ["$: the spec is nested more than 64 levels deep"]


@pytest.mark.parametrize(
    "value", ["9999-12-31", "9999-12-31T12:00:00", "0001-01-01T00:00:00+05:00"]
)
def test_dates_at_calendar_edges_rejected(converter: SpecConverter, value: str) -> None:
    assert messages(converter, {**DAILY, "date": value}) == [
        f"$.date: {value!r} is outside the supported range 0001-01-02 to 9999-12-30"
    ]


def _at_least_one(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise FieldValueError(attribute.name, f"must be 1 or more, got {value}")


@attrs.frozen(kw_only=True)
class _Tally(Aggregate):
    """A top-level kind whose field validator names its field."""

    query_kind: ClassVar[str] = "test_tally"

    min_days: int = attrs.field(validator=_at_least_one)


def test_field_value_error_names_field(registry: Registry) -> None:
    fresh = Registry(units=dict(registry.units))
    fresh.add_kind(
        QueryKind(spec=_Tally, build=lambda spec, context: None, version="1", top_level=True),
        "tests",
    )

    with pytest.raises(InvalidSpecError) as raised:
        SpecConverter(fresh).structure({"query_kind": "test_tally", "min_days": 0})

    assert raised.value.messages == ["$.min_days: must be 1 or more, got 0"]
