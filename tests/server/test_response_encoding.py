"""The JSON and GeoJSON encoders of result responses, on rows split into several chunks."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from flowcore_server.formats import feature_collection_chunks, json_result_chunks

UTC = dt.UTC


def test_json_result_joins_chunks_and_keeps_types() -> None:
    chunks = [
        [("NP1", Decimal("0.1000000000000000000001"), dt.datetime(2016, 1, 1, tzinfo=UTC))],
        [],
        [("NP2", 3, dt.date(2016, 1, 2)), ("NP3", None, None)],
    ]
    body = b"".join(json_result_chunks("abc", ["pcod", "value", "when"], chunks))

    assert body.startswith(b'{"query_id":"abc","query_result":[{"pcod":"NP1"')
    # NUMERIC keeps every digit: no float rounding on the way out.
    assert b'"value":0.1000000000000000000001' in body
    assert json.loads(body)["query_result"] == [
        {"pcod": "NP1", "value": 0.1, "when": "2016-01-01T00:00:00+00:00"},
        {"pcod": "NP2", "value": 3, "when": "2016-01-02"},
        {"pcod": "NP3", "value": None, "when": None},
    ]


def test_json_result_without_rows_is_an_empty_list() -> None:
    body = b"".join(json_result_chunks("abc", ["pcod"], [[], []]))
    assert json.loads(body) == {"query_id": "abc", "query_result": []}


def test_features_are_numbered_across_chunks() -> None:
    def feature(number: int, row: tuple[str, int]) -> dict[str, object]:
        return {"type": "Feature", "id": number, "properties": {"pcod": row[0], "value": row[1]}}

    chunks = [[("NP1", 1), ("NP2", 2)], [], [("NP3", 3)]]
    body = b"".join(feature_collection_chunks(chunks, feature))

    document = json.loads(body)
    assert document["type"] == "FeatureCollection"
    assert [(f["id"], f["properties"]["pcod"]) for f in document["features"]] == [
        (1, "NP1"),
        (2, "NP2"),
        (3, "NP3"),
    ]
