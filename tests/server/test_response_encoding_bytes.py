"""The JSON encoders give the same bytes as encoding one row at a time.

The reference below calls ``dumps`` once per row and joins the pieces with commas. Each case
compares the bytes of whole responses, for values of every type a result can hold.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import orjson
from flowcore_server.formats import dumps, feature_collection_chunks, json_result_chunks

UTC = dt.UTC
KATHMANDU = dt.timezone(dt.timedelta(hours=5, minutes=45))


def per_row_json(query_id: str, columns: Sequence[str], rows: Any) -> Iterator[bytes]:
    """Encode a JSON result with one ``dumps`` call per row (the reference)."""
    yield b'{"query_id":' + dumps(query_id) + b',"query_result":['
    first = True
    for chunk in rows:
        parts = [dumps(dict(zip(columns, row, strict=True))) for row in chunk]
        if not parts:
            continue
        body = b",".join(parts)
        yield body if first else b"," + body
        first = False
    yield b"]}"


def per_row_features(
    rows: Any, to_feature: Callable[[int, Sequence[Any]], dict[str, Any]]
) -> Iterator[bytes]:
    """Encode a GeoJSON collection with one ``dumps`` call per feature (the reference)."""
    yield b'{"type":"FeatureCollection","features":['
    number = 0
    for chunk in rows:
        parts = []
        for row in chunk:
            number += 1
            parts.append(dumps(to_feature(number, row)))
        if not parts:
            continue
        body = b",".join(parts)
        yield body if number == len(parts) else b"," + body
    yield b"]}"


def nested(depth: int) -> Any:
    """Return a list nested ``depth`` levels deep around the number 1."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALUES: list[Any] = [
    Decimal("0.1000000000000000000001"),
    Decimal("-0"),
    Decimal("1E+40"),
    Decimal("1E-40"),
    Decimal("12345678901234567890123456789.5"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    1e308,
    5e-324,
    None,
    True,
    False,
    0,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    dt.date(2016, 1, 1),
    dt.datetime(2016, 1, 1, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2016, 1, 1, 5, 45, tzinfo=KATHMANDU),
    dt.datetime(2016, 1, 1, 12, 0),
    dt.time(12, 30),
    dt.timedelta(hours=1, seconds=1),
    "Kāṭhmāḍauṁ काठमाडौं",
    '\U0001f30d emoji, \u2028 line separator, \x00 nul, " quote, \\ backslash',
    "",
    uuid.UUID(int=7),
    [1, "a", None, Decimal("2.50")],
    {"outflows": {"NP1": Decimal("3"), "NP2": 1.5}},
    orjson.Fragment(b'{"type":"Point","coordinates":[85.3,27.7]}'),
    nested(200),
]


Chunks = list[list[tuple[Any, ...]]]


def chunk_layouts(rows: list[tuple[Any, ...]]) -> list[Chunks]:
    """Return the rows in several chunk layouts, including none at all."""
    return [chunked(rows), [rows], [[row] for row in rows], [[], []], []]


def chunked(rows: list[tuple[Any, ...]]) -> Chunks:
    """Split rows into chunks of varied sizes, with empty chunks at the ends and between."""
    return [[], rows[:1], [], rows[1:4], rows[4:5], [], rows[5:], []]


def test_json_bytes_match_per_row() -> None:
    rows = [(f"NP{index}", value, index) for index, value in enumerate(VALUES)]
    columns = ["pcod", "value", "n"]
    for chunks in chunk_layouts(rows):
        new = b"".join(json_result_chunks("q1", columns, chunks))
        old = b"".join(per_row_json("q1", columns, chunks))
        assert new == old, chunks


def test_geojson_bytes_match_per_row() -> None:
    def feature(number: int, row: Sequence[Any]) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": number,
            "geometry": None if row[2] is None else orjson.Fragment(row[2]),
            "properties": {"pcod": row[0], "value": row[1]},
        }

    point = '{"type":"Point","coordinates":[85.3,27.7]}'
    rows = [
        (f"NP{index}", value, point if index % 3 else None) for index, value in enumerate(VALUES)
    ]
    for chunks in chunk_layouts(rows):
        new = b"".join(feature_collection_chunks(chunks, feature))
        old = b"".join(per_row_features(chunks, feature))
        assert new == old, chunks
