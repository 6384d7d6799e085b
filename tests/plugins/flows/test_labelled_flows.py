"""labelled_flows on hand-made events: join types with labels, validation and redaction."""

from __future__ import annotations

from typing import Any

import pytest
from flows_helpers import SpecRunner, add_calls, daily, flows

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.model.scopes import required_scopes
from flowcore.registry import Registry

FIRST, SECOND = daily("2016-01-01"), daily("2016-01-02")
JOIN_TYPES = "inner, full outer, left, right, left outer, right outer"


def classification(*days: str) -> dict[str, Any]:
    """Return a ``mobility_classification`` of the daily locations of ``days``, threshold 2."""
    return {
        "query_kind": "mobility_classification",
        "locations": [daily(day) for day in days],
        "stay_length_threshold": 2,
    }


#: Labels from the two days of the flow: one region both days is stable, two are mobile, day 2
#: alone is irregular, and day 1 alone gives no label.
LABELS = classification("2016-01-01", "2016-01-02")


def labelled(
    origin: dict[str, Any],
    destination: dict[str, Any],
    join_type: str | None = None,
    labels: dict[str, Any] = LABELS,
) -> dict[str, Any]:
    """Return a ``labelled_flows`` spec."""
    return flows(origin, destination, join_type, query_kind="labelled_flows", labels=labels)


#: Daily locations: day 1 then day 2 (None: no event that day).
MOVES = {
    "alice": ("C1", "C2"),
    "bob": ("C1", "C1"),
    "carol": ("C2", "C2"),
    "dave": ("C3", None),
    "dan": ("C3", None),
    "erin": (None, "C3"),
}

INNER = {("R1", "R2", "mobile"): 1, ("R1", "R1", "stable"): 1, ("R2", "R2", "stable"): 1}
LEFT = {**INNER, ("R3", None, None): 2}
# erin is only in the destination: her label is found through that side's subscriber.
RIGHT = {**INNER, (None, "R3", "irregular"): 1}
FULL = {**LEFT, (None, "R3", "irregular"): 1}


@pytest.fixture
def moves(world_dsn: str) -> None:
    """Insert one call per subscriber and day as listed in ``MOVES``."""
    add_calls(
        world_dsn,
        [
            (subscriber, f"{day} 12:00:00", cell)
            for subscriber, cells in MOVES.items()
            for day, cell in zip(("2016-01-01", "2016-01-02"), cells, strict=True)
            if cell is not None
        ],
    )


@pytest.mark.parametrize(
    ("join_type", "expected"),
    [
        (None, INNER),
        ("inner", INNER),
        ("left", LEFT),
        ("left outer", LEFT),
        ("right", RIGHT),
        ("right outer", RIGHT),
        ("full outer", FULL),
    ],
)
def test_join_types(
    world: SpecRunner, moves: None, join_type: str | None, expected: dict[Any, int]
) -> None:
    assert world.counts(labelled(FIRST, SECOND, join_type)) == expected


def test_columns(world: SpecRunner, moves: None) -> None:
    lon_lat = labelled(daily("2016-01-01", "lon-lat"), daily("2016-01-02", "lon-lat"))

    assert world.columns(labelled(FIRST, SECOND)) == [
        "pcod_from",
        "pcod_to",
        "value_label",
        "value",
    ]
    assert world.columns(lon_lat) == [
        "lon_from",
        "lat_from",
        "lon_to",
        "lat_to",
        "value_label",
        "value",
    ]
    assert world.counts(lon_lat) == {
        (80.5, 27.5, 81.5, 27.5, "mobile"): 1,
        (80.5, 27.5, 80.5, 27.5, "stable"): 1,
        (81.5, 27.5, 81.5, 27.5, "stable"): 1,
    }


def crowd(prefix: str, size: int, cells: tuple[str | None, ...]) -> list[tuple[str, str, str]]:
    """Return calls of ``size`` subscribers, each at ``cells[i]`` on day ``i + 1`` (None: none)."""
    return [
        (f"{prefix}{number}", f"2016-01-0{day} 12:00:00", cell)
        for number in range(size)
        for day, cell in enumerate(cells, start=1)
        if cell is not None
    ]


def test_redaction_withholds_whole_pairs(world: SpecRunner, world_dsn: str) -> None:
    add_calls(
        world_dsn,
        [
            # R1 to R2: 16 stay in R2 on day 3 (stable), 16 move on (mobile).
            *crowd("a", 16, ("C1", "C2", "C2")),
            *crowd("b", 16, ("C1", "C2", "C3")),
            # R2 to R2: 20 stable, but only 15 mobile.
            *crowd("c", 20, ("C2", "C2", "C2")),
            *crowd("d", 15, ("C2", "C2", "C1")),
            # R3 to R1: 16 absent on day 3, so without a label.
            *crowd("e", 16, ("C3", "C1", None)),
            # R1 then absent: a null destination with the left join.
            *crowd("f", 20, ("C1", None, "C1")),
        ],
    )
    spec = labelled(FIRST, SECOND, "left", classification("2016-01-02", "2016-01-03"))

    raw = world.counts(spec)
    released = world.counts(spec, redact=True)

    assert raw == {
        ("R1", "R2", "stable"): 16,
        ("R1", "R2", "mobile"): 16,
        ("R2", "R2", "stable"): 20,
        ("R2", "R2", "mobile"): 15,
        ("R3", "R1", None): 16,
        ("R1", None, "irregular"): 20,
    }
    assert released == {
        ("R1", "R2", "stable"): 16,
        ("R1", "R2", "mobile"): 16,
        ("R3", "R1", None): 16,
    }


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "mixed units",
        labelled(FIRST, daily("2016-01-02", "lon-lat")),
        "$: 'from_location' and 'to_location' parameters must have the same aggregation "
        "unit (found admin3 and lon-lat)",
    ),
    (
        "unknown join type",
        labelled(FIRST, SECOND, "outer"),
        f"$.join_type: 'outer' is not one of {JOIN_TYPES}",
    ),
    (
        "labels missing",
        flows(FIRST, SECOND, query_kind="labelled_flows"),
        "$.labels: missing required field; expected a query spec object",
    ),
    (
        "numeric labels",
        labelled(
            FIRST,
            SECOND,
            labels={
                "query_kind": "event_count",
                "start_date": "2016-01-01",
                "end_date": "2016-01-02",
            },
        ),
        "$.labels.query_kind: 'event_count' is not one of mobility_classification",
    ),
    (
        "bad nested threshold",
        labelled(FIRST, SECOND, labels={**LABELS, "stay_length_threshold": 1.5}),
        "$.labels.stay_length_threshold: 1.5 is not an integer",
    ),
]


@pytest.mark.parametrize(("name", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_rejected(converter: SpecConverter, name: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert raised.value.messages == [message]


def test_null_join_type_means_inner(converter: SpecConverter, registry: Registry) -> None:
    with_null = converter.structure({**labelled(FIRST, SECOND), "join_type": None})
    explicit = converter.structure(labelled(FIRST, SECOND, "inner"))

    assert with_null == explicit
    assert query_id(with_null, registry) == query_id(explicit, registry)


def test_scopes_use_side_unit(converter: SpecConverter) -> None:
    labels = classification("2016-01-01")
    labels["locations"] = [daily("2016-01-01", "admin1")]
    spec = converter.structure(
        labelled(daily("2016-01-01", "admin2"), daily("2016-01-02", "admin2"), labels=labels)
    )

    assert required_scopes(spec) == {
        "admin2:labelled_flows:labelled_flows",
        "admin2:labelled_flows:daily_location",
        "admin2:labelled_flows:mobility_classification",
    }
