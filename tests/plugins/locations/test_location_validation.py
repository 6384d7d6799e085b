"""Validation of location specs: exact ``$.path: message`` lines and explicit nulls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import flowcore_locations.plugin
import pytest
from flowcore_locations.daily_location import DailyLocation
from location_helpers import daily

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry
from flowcore.settings import Settings

#: Kinds accepted where a subscriber location query is expected, with only this plugin.
LOCATION_KINDS = (
    "coalesced_location, daily_location, majority_location, modal_location, "
    "most_frequent_location, visited_most_days"
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    """A registry with the core and this distribution's kinds only."""
    manager = build_plugin_manager(
        Settings(), discover=False, extra_plugins=[flowcore_locations.plugin]
    )
    return load_registry(manager)


@pytest.fixture(scope="module")
def converter(registry: Registry) -> SpecConverter:
    """The spec converter of that registry."""
    return SpecConverter(registry)


def modal(*locations: Any) -> dict[str, Any]:
    """Return a ``modal_location`` spec of the given location specs."""
    return {"query_kind": "modal_location", "locations": list(locations)}


def visits(*locations: Any) -> dict[str, Any]:
    """Return a ``location_visits`` spec of the given location specs."""
    return {"query_kind": "location_visits", "locations": list(locations)}


def ranged(kind: str, start: str, end: str, unit: str = "admin3") -> dict[str, Any]:
    """Return a spec of a kind with a date range and an aggregation unit."""
    return {"query_kind": kind, "start_date": start, "end_date": end, "aggregation_unit": unit}


BAD_SPECS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "modal empty list",
        modal(),
        ["$: locations must list at least one subscriber location query, got an empty list"],
    ),
    (
        "modal mixed units",
        modal(daily("2016-01-01"), daily("2016-01-02", "admin2"), daily("2016-01-03", "lon-lat")),
        [
            "$: All inputs to modal_location should have the same aggregation unit "
            "(found admin3, admin2, lon-lat)"
        ],
    ),
    (
        "nested modal mixed units",
        {
            "query_kind": "spatial_aggregate",
            "locations": modal(daily("2016-01-01"), daily("2016-01-02", "admin1")),
        },
        [
            "$.locations: All inputs to modal_location should have the same aggregation unit "
            "(found admin3, admin1)"
        ],
    ),
    (
        "nested modal empty list",
        {"query_kind": "spatial_aggregate", "locations": modal()},
        [
            "$.locations: locations must list at least one subscriber location query, "
            "got an empty list"
        ],
    ),
    (
        "modal locations not a list",
        {"query_kind": "modal_location", "locations": daily("2016-01-01")},
        ["$.locations: dict is not a list"],
    ),
    (
        "modal locations null",
        {"query_kind": "modal_location", "locations": None},
        ["$.locations: null is not a list"],
    ),
    (
        "modal incomplete input",
        modal(daily("2016-01-01"), {"query_kind": "daily_location", "date": "2016-01-02"}),
        [
            "$.locations[1].aggregation_unit: missing required field",
            "$.locations[1].method: missing required field; expected one of 'last', 'most-common'",
        ],
    ),
    (
        "modal bad sampling",
        {**modal(daily("2016-01-01")), "sampling": {"seed": 0.1}},
        ["$.sampling: Must provide exactly one of 'size' or 'fraction' for a random sample."],
    ),
    (
        "modal sample too large",
        {**modal(daily("2016-01-01")), "sampling": {"size": 2**31}},
        [f"$.sampling.size: must be between 1 and {2**31 - 1}, got {2**31}"],
    ),
    (
        "modal of an aggregate",
        modal({"query_kind": "spatial_aggregate", "locations": daily("2016-01-01")}),
        [f"$.locations[0].query_kind: 'spatial_aggregate' is not one of {LOCATION_KINDS}"],
    ),
    (
        "aggregate of a location set",
        {
            "query_kind": "spatial_aggregate",
            "locations": ranged("unique_locations", "2016-01-01", "2016-01-02"),
        },
        [f"$.locations.query_kind: 'unique_locations' is not one of {LOCATION_KINDS}"],
    ),
    (
        "aggregate without query kind",
        {"query_kind": "spatial_aggregate", "locations": {"date": "2016-01-01"}},
        [f"$.locations.query_kind: missing required field; expected one of {LOCATION_KINDS}"],
    ),
    (
        "aggregate with own unit",
        {
            "query_kind": "spatial_aggregate",
            "locations": daily("2016-01-01"),
            "aggregation_unit": "admin3",
        },
        ["$.aggregation_unit: unknown field"],
    ),
    (
        "aggregate unknown unit",
        {"query_kind": "spatial_aggregate", "locations": daily("2016-01-01", "admin9")},
        [
            "$.locations.aggregation_unit: 'admin9' is not one of "
            "admin0, admin1, admin2, admin3, lon-lat"
        ],
    ),
    (
        "daily unknown method",
        daily("2016-01-01", method="first"),
        ["$.method: 'first' is not one of last, most-common"],
    ),
    (
        "most frequent reversed range",
        ranged("most_frequent_location", "2016-01-02", "2016-01-01"),
        ["$: start_date (2016-01-02T00:00:00) must be before end_date (2016-01-01T00:00:00)"],
    ),
    (
        "visited most days empty range",
        ranged("visited_most_days", "2016-01-02", "2016-01-02"),
        [
            "$: start_date and end_date are the same (2016-01-02T00:00:00); "
            "the range [start, end) would be empty"
        ],
    ),
    (
        "unique locations bad date",
        ranged("unique_locations", "2016-13-01", "2016-01-02"),
        [
            "$.start_date: '2016-13-01' is not a valid date or datetime "
            "(expected ISO 8601, e.g. 2016-01-01)"
        ],
    ),
    (
        "visits mixed units",
        visits(daily("2016-01-01"), daily("2016-01-02", "admin1")),
        [
            "$: All inputs to location_visits should have the same aggregation unit "
            "(found admin3, admin1)"
        ],
    ),
    (
        "visits empty list",
        visits(),
        ["$: locations must list at least one subscriber location query, got an empty list"],
    ),
    (
        "majority of locations",
        {"query_kind": "majority_location", "subscriber_location_weights": daily("2016-01-01")},
        [
            "$.subscriber_location_weights.query_kind: "
            "'daily_location' is not one of location_visits"
        ],
    ),
    (
        "majority bad types",
        {
            "query_kind": "majority_location",
            "subscriber_location_weights": visits(daily("2016-01-01")),
            "minimum_total_weight": "half",
            "include_unlocatable": "yes",
        },
        [
            "$.include_unlocatable: 'yes' is not a boolean (true or false)",
            "$.minimum_total_weight: 'half' is not a number",
        ],
    ),
    (
        "majority negative minimum weight",
        {
            "query_kind": "majority_location",
            "subscriber_location_weights": visits(daily("2016-01-01")),
            "minimum_total_weight": -1,
        },
        ["$: minimum_total_weight must be 0 or more, got -1.0"],
    ),
    (
        "majority without weights",
        {"query_kind": "majority_location"},
        ["$.subscriber_location_weights: missing required field; expected a query spec object"],
    ),
    (
        "coalesced mixed units",
        {
            "query_kind": "coalesced_location",
            "preferred_location": daily("2016-01-01"),
            "fallback_location": daily("2016-01-02", "admin2"),
            "subscriber_location_weights": visits(daily("2016-01-02", "admin2")),
            "weight_threshold": 2,
        },
        [
            "$: preferred_location, fallback_location and subscriber_location_weights must "
            "have the same aggregation unit (found admin3, admin2)"
        ],
    ),
    (
        "coalesced threshold not integer",
        {
            "query_kind": "coalesced_location",
            "preferred_location": daily("2016-01-01"),
            "fallback_location": daily("2016-01-02"),
            "subscriber_location_weights": visits(daily("2016-01-02")),
            "weight_threshold": 1.5,
        },
        ["$.weight_threshold: 1.5 is not an integer"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "messages"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS]
)
def test_bad_spec_messages(
    converter: SpecConverter, spec: dict[str, Any], messages: list[str]
) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert raised.value.messages == messages


NULLABLE_FIELDS = {
    "event_types": None,
    "subscriber_subset": None,
    "mapping_table": None,
    "geom_table": None,
    "geom_table_join_column": None,
    "hours": None,
    "sampling": None,
}


@pytest.mark.parametrize(
    "spec",
    [
        daily("2016-01-01"),
        ranged("most_frequent_location", "2016-01-01", "2016-01-03"),
        ranged("visited_most_days", "2016-01-01", "2016-01-03"),
        ranged("unique_locations", "2016-01-01", "2016-01-03"),
    ],
    ids=lambda spec: spec["query_kind"],
)
def test_explicit_nulls_mean_defaults(
    converter: SpecConverter, registry: Registry, spec: dict[str, Any]
) -> None:
    plain = converter.structure(spec)
    with_nulls = converter.structure({**spec, **NULLABLE_FIELDS})

    assert with_nulls == plain
    assert query_id(with_nulls, registry) == query_id(plain, registry)


def test_explicit_nulls_in_nested_kinds(converter: SpecConverter) -> None:
    nested = {**daily("2016-01-01"), **NULLABLE_FIELDS}
    spec = {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "majority_location",
            "subscriber_location_weights": {
                **visits(nested, daily("2016-01-02")),
                "sampling": None,
            },
            "minimum_total_weight": None,
            "include_unlocatable": None,
            "sampling": None,
        },
    }
    modal_spec = {**modal(nested), "sampling": None}

    structured = converter.structure(spec)
    majority = structured.locations  # type: ignore[attr-defined]

    assert majority.minimum_total_weight == 0.0
    assert majority.include_unlocatable is False
    assert majority.sampling is None
    assert majority.subscriber_location_weights.sampling is None
    assert converter.structure(modal_spec) == converter.structure(modal(daily("2016-01-01")))


@pytest.mark.parametrize("date", ["2016-01-02T06:00:00", "2016-01-02 23:59:59", "2016-01-02"])
def test_daily_location_date_is_calendar_day(
    converter: SpecConverter, registry: Registry, date: str
) -> None:
    structured = converter.structure(daily(date))

    assert structured.date.isoformat() == "2016-01-02T00:00:00"  # type: ignore[attr-defined]
    assert query_id(structured, registry) == query_id(
        converter.structure(daily("2016-01-02")), registry
    )


def test_daily_location_from_python_date() -> None:
    spec = DailyLocation(date=dt.date(2016, 1, 2), method="last", aggregation_unit="admin3")

    assert spec.date == dt.datetime(2016, 1, 2)
