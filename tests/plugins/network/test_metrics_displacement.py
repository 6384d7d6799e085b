"""displacement on calls along the equator, where geodesic distances have a closed form."""

from __future__ import annotations

import math
from typing import Any

import pytest

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.testing import insert_cells, insert_events

# Geodesic length of one degree of longitude on the WGS 84 equator (radius 6378.137 km), in km.
EQUATOR_DEGREE_KM = 6378.137 * math.pi / 180


@pytest.fixture
def equator_dsn(fresh_dsn: str) -> str:
    """a calls from lon 0 then 2, b from lon 0 three times then 4, c only on 2016-01-02."""
    insert_cells(
        fresh_dsn,
        [{"id": f"e{lon}", "lon": float(lon), "lat": 0.0} for lon in (0, 2, 4)],
    )
    placed = [
        ("a", "2016-01-01 01:00:00", "e0"),
        ("a", "2016-01-01 02:00:00", "e2"),
        ("b", "2016-01-01 01:00:00", "e0"),
        ("b", "2016-01-01 02:00:00", "e0"),
        ("b", "2016-01-01 03:00:00", "e0"),
        ("b", "2016-01-01 04:00:00", "e4"),
        ("c", "2016-01-02 01:00:00", "e0"),
    ]
    insert_events(
        fresh_dsn,
        "calls",
        [
            {"msisdn": who, "datetime": moment, "location_id": cell, "outgoing": True}
            for who, moment, cell in placed
        ],
    )
    return fresh_dsn


def displacement_spec(statistic: str, unit: str = "lon-lat") -> dict[str, Any]:
    """Return distances over 2016-01-01 and 02 from the last location of 2016-01-01."""
    return {
        "query_kind": "displacement",
        "start_date": "2016-01-01",
        "end_date": "2016-01-03",
        "statistic": statistic,
        "reference_location": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": unit,
        },
    }


@pytest.mark.parametrize(
    ("statistic", "degrees_a", "degrees_b"),
    [("avg", 1.0, 3.0), ("max", 2.0, 4.0), ("min", 0.0, 0.0), ("sum", 2.0, 12.0)],
)
def test_distance_statistic_km(
    run_on: Any, equator_dsn: str, statistic: str, degrees_a: float, degrees_b: float
) -> None:
    rows = run_on(equator_dsn)(displacement_spec(statistic))
    values = {row["subscriber"]: row["value"] for row in rows}
    # c has events but no reference location on 2016-01-01, so c has no row.
    assert set(values) == {"a", "b"}
    assert values["a"] == pytest.approx(degrees_a * EQUATOR_DEGREE_KM, rel=1e-9, abs=1e-9)
    assert values["b"] == pytest.approx(degrees_b * EQUATOR_DEGREE_KM, rel=1e-9, abs=1e-9)


def test_reference_must_be_lon_lat(converter: SpecConverter) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(displacement_spec("avg", unit="admin3"))
    assert raised.value.messages == [
        "$: reference_location must have aggregation_unit 'lon-lat' to measure distances, "
        "got 'admin3'"
    ]
