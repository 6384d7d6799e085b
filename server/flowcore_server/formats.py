"""Encoders that turn chunks of result rows into the bytes of a streamed response.

Each encoder takes an iterator over chunks of rows (as the database returns them) and yields
one bytes chunk per row chunk, so a response of any size needs memory for one chunk only. JSON
numbers keep the database's precision: a NUMERIC value is written with all its digits.

A streamed response wraps its encoder in :func:`guarded`: if the database fails part-way, the
error is logged and the server drops the connection before the end of the chunked body. So
every HTTP client reports an incomplete body, where a short CSV would otherwise look complete.
A body encoded whole, before anything is sent, lets the error propagate instead.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flowcore.json_values import csv_value, dumps

__all__ = [
    "TruncatedBodyError",
    "csv_chunks",
    "dumps",
    "feature_collection_chunks",
    "guarded",
    "json_result_chunks",
]

logger = logging.getLogger(__name__)

Rows = Iterable[Sequence[Sequence[Any]]]


def _joined_items(values: list[Any]) -> bytes:
    """Return the JSON of each value, joined by commas, as the inside of a JSON array."""
    # One call for the whole chunk: a call per row took five times as long (18 ms instead of
    # 3.4 ms for the 5,418 rows of a medium total_network_objects result).
    return dumps(values)[1:-1]


class TruncatedBodyError(Exception):
    """A streamed body failed part-way and was logged. Raising it drops the connection."""


def guarded(chunks: Iterator[bytes], description: str) -> Iterator[bytes]:
    """Pass chunks through; at the first error, log it and raise TruncatedBodyError.

    The response has started by then, so the server can only close the connection without
    ending the chunked body, which every client reports as an incomplete read.
    """
    try:
        yield from chunks
    except Exception:
        logger.exception("streaming %s failed part-way; the response is truncated", description)
        raise TruncatedBodyError(description) from None


def json_result_chunks(query_id: str, columns: Sequence[str], rows: Rows) -> Iterator[bytes]:
    """Yield ``{"query_id": ..., "query_result": [{column: value}, ...]}`` in chunks."""
    yield b'{"query_id":' + dumps(query_id) + b',"query_result":['
    first = True
    for chunk in rows:
        if not chunk:
            continue
        body = _joined_items([dict(zip(columns, row, strict=True)) for row in chunk])
        yield body if first else b"," + body
        first = False
    yield b"]}"


def csv_chunks(columns: Sequence[str], rows: Rows) -> Iterator[bytes]:
    """Yield a header row and the rows as CSV with CRLF line ends; nothing for no rows."""
    header_written = False
    for chunk in rows:
        if not chunk:
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if not header_written:
            writer.writerow(columns)
            header_written = True
        writer.writerows([csv_value(v) for v in row] for row in chunk)
        yield buffer.getvalue().encode("utf-8")


def feature_collection_chunks(
    rows: Rows, to_feature: Callable[[int, Sequence[Any]], dict[str, Any]]
) -> Iterator[bytes]:
    """Yield a GeoJSON FeatureCollection with one feature per row, numbered from 1."""
    yield b'{"type":"FeatureCollection","features":['
    number = 0
    for chunk in rows:
        features = []
        for row in chunk:
            number += 1
            features.append(to_feature(number, row))
        if not features:
            continue
        body = _joined_items(features)
        yield body if number == len(features) else b"," + body
    yield b"]}"
