"""topup_amount, topup_balance and handset on hand-made events, and handsets per location."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.testing import insert_cells, insert_events, insert_region, square


@pytest.fixture
def topups_dsn(fresh_dsn: str) -> str:
    """Top-ups of 10, 20 and 60 by t0 and one of 5 by t1 on 2016-01-01."""
    rows = [("t0", "08:00", 10), ("t0", "09:00", 20), ("t0", "10:00", 60), ("t1", "08:00", 5)]
    insert_events(
        fresh_dsn,
        "topups",
        [
            {"msisdn": who, "datetime": f"2016-01-01 {time}:00", "recharge_amount": amount}
            for who, time, amount in rows
        ],
    )
    return fresh_dsn


def metric_spec(kind: str, **fields: Any) -> dict[str, Any]:
    """Return a ``kind`` spec over 2016-01-01 with extra ``fields``."""
    return {"query_kind": kind, "start_date": "2016-01-01", "end_date": "2016-01-02", **fields}


def values_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return ``{subscriber: value}`` of metric rows."""
    return {row["subscriber"]: row["value"] for row in rows}


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("sum", {"t0": 90, "t1": 5}), ("avg", {"t0": 30, "t1": 5}), ("median", {"t0": 20, "t1": 5})],
)
def test_topup_amount_statistic(
    run_on: Any, topups_dsn: str, statistic: str, expected: dict[str, float]
) -> None:
    values = values_of(run_on(topups_dsn)(metric_spec("topup_amount", statistic=statistic)))
    assert {who: float(value) for who, value in values.items()} == expected


def test_topup_amount_rejects_event_types(converter: SpecConverter) -> None:
    spec = metric_spec("topup_amount", statistic="avg", event_types=["calls"])
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert "$.event_types: unknown field" in raised.value.messages


# Handsets: subscriber -> list of (time, tac). TAC 1 is brand "Alpha", 2 and 4 are "Beta" and 3
# is "Gamma". TAC 9 is not in the table.
HANDSET_EVENTS = {
    "h0": [("08:00", 1), ("09:00", 1), ("10:00", 2)],
    "h1": [("08:00", 3), ("09:00", None)],
    "h2": [("08:00", 9)],
    # Beta on three events over two TACs outnumbers Alpha, the most frequent and latest TAC.
    "h3": [("07:00", 2), ("08:00", 4), ("08:30", 4), ("09:00", 1), ("10:00", 1)],
    # One event each: the tie goes to the smaller brand, not to the latest TAC.
    "h4": [("08:00", 1), ("09:00", 2)],
}


@pytest.fixture
def handsets_dsn(fresh_dsn: str) -> str:
    """Calls of the subscribers of ``HANDSET_EVENTS``, all at one cell in region A."""
    insert_region(fresh_dsn, 3, "A", square(80, 27, 1))
    insert_cells(fresh_dsn, [{"id": "c1", "lon": 80.5, "lat": 27.5}])
    with psycopg.connect(fresh_dsn) as connection:
        for tac, brand in ((1, "Alpha"), (2, "Beta"), (3, "Gamma"), (4, "Beta")):
            connection.execute(
                "INSERT INTO infrastructure.tacs (id, brand, model) VALUES (%s, %s, %s)",
                (tac, brand, f"{brand} 1"),
            )
    insert_events(
        fresh_dsn,
        "calls",
        [
            {
                "msisdn": who,
                "datetime": f"2016-01-01 {time}:00",
                "location_id": "c1",
                "tac": tac,
                "outgoing": True,
            }
            for who, events in HANDSET_EVENTS.items()
            for time, tac in events
        ],
    )
    return fresh_dsn


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("last", {"h0": "Beta", "h1": "Gamma", "h2": None, "h3": "Alpha", "h4": "Beta"}),
        ("most-common", {"h0": "Alpha", "h1": "Gamma", "h2": None, "h3": "Beta", "h4": "Alpha"}),
    ],
)
def test_handset_brand_by_method(
    run_on: Any, handsets_dsn: str, method: str, expected: dict[str, str]
) -> None:
    spec = metric_spec("handset", characteristic="brand", method=method)
    assert values_of(run_on(handsets_dsn)(spec)) == expected


def joined_handsets(method: str) -> dict[str, Any]:
    """Return the most common brand per admin3 region of the last location on 2016-01-01."""
    return {
        "query_kind": "joined_spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
        "metric": metric_spec("handset", characteristic="brand", method="most-common"),
        "method": method,
    }


def test_joined_distr_shares(run_on: Any, handsets_dsn: str) -> None:
    rows = run_on(handsets_dsn)(joined_handsets("distr"))
    assert list(rows[0]) == ["pcod", "metric", "key", "value"]
    shares = {(row["pcod"], row["metric"], row["key"]): row["value"] for row in rows}
    # h2's unknown TAC gives a null brand, which is a category of its own. Shares are decimal.
    assert shares == {
        ("A", "value", "Alpha"): Decimal("0.4"),
        ("A", "value", "Beta"): Decimal("0.2"),
        ("A", "value", "Gamma"): Decimal("0.2"),
        ("A", "value", None): Decimal("0.2"),
    }


def test_joined_mode_of_brand(run_on: Any, handsets_dsn: str) -> None:
    rows = run_on(handsets_dsn)(joined_handsets("mode"))
    assert rows == [{"pcod": "A", "value": "Alpha"}]


def test_joined_handset_rejects_avg(converter: SpecConverter) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(joined_handsets("avg"))
    assert raised.value.messages == [
        "$: method 'avg' does not apply to the categorical metric handset; use one of distr, mode"
    ]


def test_histogram_rejects_handset(converter: SpecConverter) -> None:
    spec = {
        "query_kind": "histogram_aggregate",
        "metric": metric_spec("handset", characteristic="brand", method="last"),
        "bins": {"n_bins": 2},
    }
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages == [
        "$: metric handset is categorical; a histogram needs a numeric metric"
    ]


@pytest.fixture
def balances_dsn(fresh_dsn: str) -> str:
    """u0 tops up at 06:00 (10 -> 60) and 18:00 (20 -> 70); u1 at 12:00 (5 -> 25)."""
    rows = [("u0", "06:00", 10, 60), ("u0", "18:00", 20, 70), ("u1", "12:00", 5, 25)]
    insert_events(
        fresh_dsn,
        "topups",
        [
            {
                "id": f"{who}-{time}",
                "msisdn": who,
                "datetime": f"2016-01-01 {time}:00",
                "pre_event_balance": pre,
                "post_event_balance": post,
            }
            for who, time, pre, post in rows
        ],
    )
    return fresh_dsn


# u0 has 10 for 6 h, (60 + 20) / 2 = 40 for 12 h and 70 for 6 h of the 24 h range;
# u1 has 5 for 12 h and 25 for 12 h. Weights are in seconds.
U0_WEIGHTS = {10: 21_600, 40: 43_200, 70: 21_600}
U0_SUM = sum(balance * seconds for balance, seconds in U0_WEIGHTS.items())
U0_VARIANCE = (
    sum(balance**2 * seconds for balance, seconds in U0_WEIGHTS.items()) - U0_SUM**2 / 86_400
) / (86_400 - 1)


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [
        ("count", {"u0": 2, "u1": 1}),
        ("max", {"u0": 70, "u1": 25}),
        ("min", {"u0": 10, "u1": 5}),
        ("sum", {"u0": U0_SUM, "u1": 5 * 43_200 + 25 * 43_200}),
        ("avg", {"u0": 40, "u1": 15}),
        ("variance", {"u0": U0_VARIANCE, "u1": 200 * 43_200 / (86_400 - 1)}),
        ("median", {"u0": 40, "u1": 5}),
        ("mode", {"u0": 40, "u1": 5}),
    ],
)
def test_topup_balance_statistic(
    run_on: Any, balances_dsn: str, statistic: str, expected: dict[str, float]
) -> None:
    values = values_of(run_on(balances_dsn)(metric_spec("topup_balance", statistic=statistic)))
    assert {who: float(value) for who, value in values.items()} == pytest.approx(expected)
