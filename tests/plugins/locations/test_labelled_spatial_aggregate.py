"""labelled_spatial_aggregate on hand-made events: counts per label, null labels, redaction."""

from __future__ import annotations

from typing import Any

import pytest
from location_helpers import SpecRunner, add_calls, daily

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.scopes import required_scopes

#: Labels from days 1 and 2 at admin3: the same region both days is stable, two regions are
#: mobile, day 2 alone is irregular, and day 1 alone gives no label.
LABELS = {
    "query_kind": "mobility_classification",
    "locations": [daily("2016-01-01"), daily("2016-01-02")],
    "stay_length_threshold": 2,
}


def labelled(locations: dict[str, Any], labels: dict[str, Any] = LABELS) -> dict[str, Any]:
    """Return a ``labelled_spatial_aggregate`` spec."""
    return {"query_kind": "labelled_spatial_aggregate", "locations": locations, "labels": labels}


def crowd(prefix: str, size: int, cells: tuple[str | None, ...]) -> list[tuple[str, str, str]]:
    """Return calls of ``size`` subscribers, each at ``cells[i]`` on day ``i + 1`` (None: none)."""
    return [
        (f"{prefix}{number}", f"2016-01-0{day} 10:00:00", cell)
        for number in range(size)
        for day, cell in enumerate(cells, start=1)
        if cell is not None
    ]


def counts(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any], int]:
    """Return ``{(pcod, value_label): value}`` of result rows."""
    return {(row["pcod"], row["value_label"]): row["value"] for row in rows}


def test_counts_per_location_and_label(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            *crowd("stable", 1, ("C1", "C1", "C1")),
            *crowd("mobile", 1, ("C1", "C2", "C1")),
            *crowd("irregular", 1, (None, "C1", "C1B")),
            # seen on day 3 only: no label
            *crowd("unlabelled", 1, (None, None, "C1")),
            *crowd("elsewhere", 2, ("C2", "C2", "C2")),
            # not seen on day 3: labelled, but not in the location query
            *crowd("gone", 1, ("C3", "C3", None)),
        ],
    )
    spec = labelled(daily("2016-01-03"))

    assert counts(world.rows(spec)) == {
        ("R1", "stable"): 1,
        ("R1", "mobile"): 1,
        ("R1", "irregular"): 1,
        ("R1", None): 1,
        ("R2", "stable"): 2,
    }
    assert world.columns(spec) == ["pcod", "value_label", "value"]


def test_lon_lat_columns(world: SpecRunner, world_dsn: str) -> None:
    add_calls(world_dsn, crowd("stable", 2, ("C1", "C1", "C1B")))
    spec = labelled(daily("2016-01-03", "lon-lat"))

    assert world.rows(spec) == [
        {"lon": 80.25, "lat": 27.25, "value_label": "stable", "value": 2},
    ]


def test_redaction_withholds_whole_locations(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # R1: 16 stable and 16 mobile, both above 15.
            *crowd("r1s", 16, ("C1", "C1", "C1")),
            *crowd("r1m", 16, ("C2", "C1", "C1")),
            # R2: 20 stable but 15 mobile, which is not above 15.
            *crowd("r2s", 20, ("C2", "C2", "C2")),
            *crowd("r2m", 15, ("C1", "C2", "C2")),
            # R3: 16 stable and 16 without a label.
            *crowd("r3s", 16, ("C3", "C3", "C3")),
            *crowd("r3u", 16, (None, None, "C3")),
        ],
    )
    spec = labelled(daily("2016-01-03"))

    raw = counts(world.rows(spec))
    released = counts(world.rows(spec, redact=True))

    assert raw == {
        ("R1", "stable"): 16,
        ("R1", "mobile"): 16,
        ("R2", "stable"): 20,
        ("R2", "mobile"): 15,
        ("R3", "stable"): 16,
        ("R3", None): 16,
    }
    assert released == {
        ("R1", "stable"): 16,
        ("R1", "mobile"): 16,
        ("R3", "stable"): 16,
        ("R3", None): 16,
    }


def test_null_location_never_released(world: SpecRunner, world_dsn: str) -> None:
    # 20 subscribers split between R1 and R2 on days 1 and 2 have no majority location there.
    add_calls(
        world_dsn,
        [*crowd("split", 20, ("C1", "C2", None)), *crowd("settled", 16, ("C3", "C3", None))],
    )
    locations = {
        "query_kind": "majority_location",
        "subscriber_location_weights": {
            "query_kind": "location_visits",
            "locations": [daily("2016-01-01"), daily("2016-01-02")],
        },
        "include_unlocatable": True,
    }
    spec = labelled(locations)

    assert counts(world.rows(spec)) == {(None, "mobile"): 20, ("R3", "stable"): 16}
    assert counts(world.rows(spec, redact=True)) == {("R3", "stable"): 16}


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "handset labels",
        labelled(
            daily("2016-01-01"),
            {
                "query_kind": "handset",
                "start_date": "2016-01-01",
                "end_date": "2016-01-02",
                "characteristic": "brand",
                "method": "last",
            },
        ),
        "$.labels.query_kind: 'handset' is not one of mobility_classification",
    ),
    (
        "numeric labels",
        labelled(
            daily("2016-01-01"),
            {"query_kind": "event_count", "start_date": "2016-01-01", "end_date": "2016-01-02"},
        ),
        "$.labels.query_kind: 'event_count' is not one of mobility_classification",
    ),
    (
        "labels missing",
        {"query_kind": "labelled_spatial_aggregate", "locations": daily("2016-01-01")},
        "$.labels: missing required field; expected a query spec object",
    ),
    (
        "a location set",
        labelled(
            {
                "query_kind": "unique_locations",
                "start_date": "2016-01-01",
                "end_date": "2016-01-02",
                "aggregation_unit": "admin3",
            }
        ),
        "$.locations.query_kind: 'unique_locations' is not one of ",
    ),
]


@pytest.mark.parametrize(("name", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_rejected(converter: SpecConverter, name: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert any(line.startswith(message) for line in raised.value.messages), raised.value.messages


def test_unit_from_locations(converter: SpecConverter) -> None:
    labels = {**LABELS, "locations": [daily("2016-01-01", "admin1")]}
    spec = converter.structure(labelled(daily("2016-01-03", "admin2"), labels))

    assert spec.spatial_unit() == "admin2"
    assert required_scopes(spec) == {
        "admin2:labelled_spatial_aggregate:labelled_spatial_aggregate",
        "admin2:labelled_spatial_aggregate:mobility_classification",
        "admin2:labelled_spatial_aggregate:daily_location",
    }
