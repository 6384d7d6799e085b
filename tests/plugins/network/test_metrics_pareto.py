"""pareto_interactions on hand-made calls: shares of top contacts, ties and exact targets."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.testing import insert_events

# Subscriber -> {counterpart: number of calls}; None is a call with no counterpart recorded.
CONTACTS: dict[str, dict[str | None, int]] = {
    "p0": {"x": 5, "y": 3, "z": 1, "p0": 1},
    "p1": {"x": 1, "y": 1, None: 1},
    "p2": {"a": 4, "b": 1},
}


@pytest.fixture
def contacts_dsn(fresh_dsn: str) -> str:
    """Calls on 2016-01-01 with the counterparts of CONTACTS."""
    events = []
    for subscriber, counterparts in CONTACTS.items():
        for counterpart, calls in counterparts.items():
            events += [
                {
                    "msisdn": subscriber,
                    "msisdn_counterpart": counterpart,
                    "datetime": f"2016-01-01 08:{len(events) + index:02d}:00",
                    "outgoing": True,
                }
                for index in range(calls)
            ]
    insert_events(fresh_dsn, "calls", events)
    return fresh_dsn


def pareto_spec(proportion: float) -> dict[str, Any]:
    """Return a pareto_interactions spec over 2016-01-01."""
    return {
        "query_kind": "pareto_interactions",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "proportion": proportion,
    }


@pytest.mark.parametrize(
    ("proportion", "expected"),
    [
        # p0: target 8 is reached by x and y out of 4 contacts (self included).
        # p1: target 3 needs all 3 contacts. p2: target exactly 4 is reached by a alone.
        (0.8, {"p0": 2 / 4, "p1": 3 / 3, "p2": 1 / 2}),
        # p1: target 2; the missing counterpart ranks first, then y before x.
        (0.5, {"p0": 1 / 4, "p1": 2 / 3, "p2": 1 / 2}),
    ],
)
def test_share_of_top_contacts(
    run_on: Any, contacts_dsn: str, proportion: float, expected: dict[str, float]
) -> None:
    rows = run_on(contacts_dsn)(pareto_spec(proportion))
    values = {row["subscriber"]: row["value"] for row in rows}
    assert values == pytest.approx(expected)


@pytest.mark.parametrize("proportion", [0, 1, 1.5])
def test_proportion_outside_open_interval(converter: SpecConverter, proportion: float) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(pareto_spec(proportion))
    assert raised.value.messages == [
        f"$: proportion must be between 0 and 1 (exclusive), got {float(proportion)}"
    ]
