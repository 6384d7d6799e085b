"""mobility_classification on hand-made events: each label, its precedence and the threshold."""

from __future__ import annotations

from typing import Any

import pytest
from location_helpers import SpecRunner, add_calls, daily, repeated_locations

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter


def period(first_day: int) -> dict[str, Any]:
    """Return the reference location of the two days from ``first_day`` of January 2016.

    A ``majority_location`` with ``include_unlocatable`` over two daily locations: a subscriber
    seen in two regions on the two days has no majority, so their location is null.
    """
    return {
        "query_kind": "majority_location",
        "subscriber_location_weights": {
            "query_kind": "location_visits",
            "locations": [daily(f"2016-01-0{day}") for day in (first_day, first_day + 1)],
        },
        "include_unlocatable": True,
    }


def classification(locations: list[dict[str, Any]], threshold: int) -> dict[str, Any]:
    """Return a ``mobility_classification`` spec."""
    return {
        "query_kind": "mobility_classification",
        "locations": locations,
        "stay_length_threshold": threshold,
    }


#: Cells of each subscriber on days 1 to 6; None means no call that day. Three periods of two
#: days: (1, 2), (3, 4), (5, 6). A period with two different regions is a null location.
PLACES: dict[str, list[str | None]] = {
    # R1, R2, R2: a stay of 2 periods.
    "sam": ["C1", "C1", "C2", "C2", "C2", "C2"],
    # R1, R2, R1: R1 twice, but never in consecutive periods.
    "mia": ["C1", "C1", "C2", "C2", "C1", "C1"],
    # R1, R1, then null in the last period.
    "uma": ["C1", "C1", "C1", "C1", "C1", "C2"],
    # R1, absent, R1.
    "ian": ["C1", "C1", None, None, "C1", "C1"],
    # null, R1, R1: a stay of 2, but not always locatable.
    "pat": ["C1", "C2", "C1", "C1", "C1", "C1"],
    # R1, R1, absent: not in the last period, so no row.
    "gus": ["C1", "C1", "C1", "C1", None, None],
    # absent, R1, null: unlocated wins over irregular.
    "ada": [None, None, "C1", "C1", "C1", "C3"],
    # absent, null, R1: irregular wins over not_always_locatable.
    "eve": [None, None, "C1", "C2", "C1", "C1"],
    # R3 throughout, the second period from one day only: a stay of 3.
    "tom": ["C3", "C3", "C3", None, "C3", "C3"],
}


@pytest.fixture
def places(world_dsn: str) -> str:
    """Insert one call per subscriber and day of ``PLACES``."""
    add_calls(
        world_dsn,
        [
            (subscriber, f"2016-01-0{day} 10:00:00", cell)
            for subscriber, cells in PLACES.items()
            for day, cell in enumerate(cells, start=1)
            if cell is not None
        ],
    )
    return world_dsn


FIXED = {
    "uma": "unlocated",
    "ada": "unlocated",
    "ian": "irregular",
    "eve": "irregular",
    "pat": "not_always_locatable",
}


@pytest.mark.parametrize(
    ("threshold", "varying"),
    [
        (1, {"sam": "stable", "mia": "stable", "tom": "stable"}),
        (2, {"sam": "stable", "mia": "mobile", "tom": "stable"}),
        (3, {"sam": "mobile", "mia": "mobile", "tom": "stable"}),
        (4, {"sam": "mobile", "mia": "mobile", "tom": "mobile"}),
    ],
)
def test_labels_by_threshold(
    world: SpecRunner, places: str, threshold: int, varying: dict[str, str]
) -> None:
    spec = classification([period(1), period(3), period(5)], threshold)

    runs = repeated_locations(world, spec)

    assert runs[0] == {**FIXED, **varying}
    assert all(run == runs[0] for run in runs)
    assert world.columns(spec) == ["subscriber", "value"]


def test_one_period(world: SpecRunner, places: str) -> None:
    spec = classification([period(5)], 2)
    located = {"sam", "mia", "ian", "pat", "eve", "tom"}

    assert world.locations(spec) == {
        "uma": "unlocated",
        "ada": "unlocated",
        **dict.fromkeys(located, "mobile"),
    }
    assert world.locations(classification([period(5)], 1)) == {
        "uma": "unlocated",
        "ada": "unlocated",
        **dict.fromkeys(located, "stable"),
    }


def test_order_of_periods_matters(world: SpecRunner, places: str) -> None:
    # Oldest last, so the latest period is days 1-2, where gus is located and ada and eve are
    # absent. Sam's stay in R2 is then periods 1 and 2 of the list.
    spec = classification([period(5), period(3), period(1)], 2)

    assert world.locations(spec) == {
        "sam": "stable",
        "mia": "mobile",
        "uma": "not_always_locatable",
        "ian": "irregular",
        "pat": "unlocated",
        "gus": "irregular",
        "tom": "stable",
    }


def test_lon_lat_stays_per_cell(world: SpecRunner, world_dsn: str) -> None:
    # C1 and C1B are both in R1: one stay of 3 at admin3, three stays of 1 at lon-lat.
    add_calls(
        world_dsn,
        [
            ("kim", "2016-01-01 10:00:00", "C1"),
            ("kim", "2016-01-02 10:00:00", "C1B"),
            ("kim", "2016-01-03 10:00:00", "C1"),
        ],
    )
    days = ("2016-01-01", "2016-01-02", "2016-01-03")

    admin3 = classification([daily(day) for day in days], 3)
    lon_lat = classification([daily(day, "lon-lat") for day in days], 2)

    assert world.locations(admin3) == {"kim": "stable"}
    assert world.locations(lon_lat) == {"kim": "mobile"}


def test_labels_counted_per_location(world: SpecRunner, places: str) -> None:
    # Locations on day 6: sam R2, mia R1, uma R2, ian R1, pat R1, ada R3, eve R1, tom R3.
    spec = {
        "query_kind": "labelled_spatial_aggregate",
        "locations": daily("2016-01-06"),
        "labels": classification([period(1), period(3), period(5)], 2),
    }

    counts = {(row["pcod"], row["value_label"]): row["value"] for row in world.rows(spec)}

    assert counts == {
        ("R1", "mobile"): 1,
        ("R1", "irregular"): 2,
        ("R1", "not_always_locatable"): 1,
        ("R2", "stable"): 1,
        ("R2", "unlocated"): 1,
        ("R3", "unlocated"): 1,
        ("R3", "stable"): 1,
    }


def test_sampling_keeps_labels(world: SpecRunner, places: str) -> None:
    spec = classification([period(1), period(3), period(5)], 2)
    sampled = {**spec, "sampling": {"sampling_method": "random_ids", "size": 3, "seed": 0.5}}

    everyone = world.locations(spec)
    sample = world.locations(sampled)

    assert len(sample) == 3
    assert all(everyone[subscriber] == label for subscriber, label in sample.items())


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "empty list",
        classification([], 2),
        "$: locations must list at least one subscriber location query, got an empty list",
    ),
    (
        "mixed units",
        classification([daily("2016-01-01"), daily("2016-01-02", "admin2")], 2),
        "$: All locations must have the same aggregation unit (found admin3, admin2)",
    ),
    (
        "threshold as text",
        classification([daily("2016-01-01")], "two"),  # type: ignore[arg-type]
        "$.stay_length_threshold: 'two' is not an integer",
    ),
    (
        "threshold missing",
        {"query_kind": "mobility_classification", "locations": [daily("2016-01-01")]},
        "$.stay_length_threshold: missing required field",
    ),
    (
        "a location set as a period",
        classification(
            [
                {
                    "query_kind": "unique_locations",
                    "start_date": "2016-01-01",
                    "end_date": "2016-01-02",
                    "aggregation_unit": "admin3",
                }
            ],
            2,
        ),
        "$.locations[0].query_kind: 'unique_locations' is not one of ",
    ),
]


@pytest.mark.parametrize(("name", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_rejected(converter: SpecConverter, name: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert any(line.startswith(message) for line in raised.value.messages), raised.value.messages
