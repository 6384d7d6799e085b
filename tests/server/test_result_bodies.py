"""Encoded result bodies kept in memory: bounds, keys and what a kept body serves.

A kept body must never outlive its stored result: a result computed again is encoded again, and
a removed one is not found even while its old body is still in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import pytest
from api_helpers import access_count
from flowcore_auth import generate_key_pair
from flowcore_server.bodies import ENTRY_OVERHEAD_BYTES, BodyKey, ResultBodies
from flowcore_server.service import QueryService
from flowcore_server.settings import ServerSettings, SettingsError

import flowcore
from flowcore.errors import QueryNotFoundError
from flowcore.testing import insert_cells, insert_events

STORED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: Room for exactly four bodies of 100 bytes.
LIMIT = 4 * (100 + ENTRY_OVERHEAD_BYTES)
SPEC = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": "2016-01-01",
        "method": "last",
        "aggregation_unit": "lon-lat",
    },
}


def _key(query_id: str, form: str = "json") -> BodyKey:
    return BodyKey(query_id=query_id, stored_at=STORED_AT, form=form)


def test_least_recently_used_dropped_first() -> None:
    bodies = ResultBodies(max_bytes=LIMIT)
    bodies.keep(_key("a"), b"a" * 100)
    bodies.keep(_key("b"), b"b" * 100)
    bodies.keep(_key("c"), b"c" * 100)
    assert bodies.get(_key("a")) == b"a" * 100  # now the most recently used

    bodies.keep(_key("d"), b"d" * 100)
    bodies.keep(_key("e"), b"e" * 100)

    assert bodies.get(_key("b")) is None
    assert bodies.get(_key("a")) == b"a" * 100
    assert bodies.size_bytes == LIMIT


def test_oversized_body_not_kept() -> None:
    bodies = ResultBodies(max_bytes=LIMIT)

    assert bodies.keep(_key("small"), b"x" * 100)
    assert not bodies.keep(_key("large"), b"x" * 101)
    assert bodies.get(_key("large")) is None
    assert bodies.size_bytes == 100 + ENTRY_OVERHEAD_BYTES


def test_empty_bodies_count_overhead() -> None:
    bodies = ResultBodies(max_bytes=LIMIT)
    for number in range(10):
        bodies.keep(_key(f"q{number}", "csv"), b"")

    assert bodies.size_bytes <= LIMIT
    assert bodies.get(_key("q0", "csv")) is None
    assert bodies.get(_key("q9", "csv")) == b""


def test_zero_limit_keeps_nothing() -> None:
    bodies = ResultBodies(max_bytes=0)

    assert not bodies.keep(_key("a"), b"{}")
    assert bodies.get(_key("a")) is None


def test_keys_separate_forms_and_times() -> None:
    bodies = ResultBodies()
    bodies.keep(_key("a", "json"), b"json")
    later = BodyKey(query_id="a", stored_at=STORED_AT + dt.timedelta(seconds=1), form="json")

    assert bodies.get(_key("a", "csv")) is None
    assert bodies.get(later) is None
    assert bodies.get(_key("a", "json")) == b"json"


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes must be zero or more, got -1"):
        ResultBodies(max_bytes=-1)


@pytest.mark.parametrize(
    "raw", ["-1", "1.5", "lots", "²", "65537", "99999999999999999999999", "9" * 5000]
)
def test_invalid_body_cache_setting(raw: str) -> None:
    env = {"FLOWCORE_RESULT_BODY_CACHE_MB": raw, **_server_env()}

    with pytest.raises(SettingsError, match="FLOWCORE_RESULT_BODY_CACHE_MB") as raised:
        ServerSettings.from_env(env)
    assert repr(raw) in str(raised.value)


def test_body_cache_setting_in_mebibytes() -> None:
    assert ServerSettings.from_env(_server_env()).body_cache_bytes == 64 * 1024 * 1024
    env = {"FLOWCORE_RESULT_BODY_CACHE_MB": "3", **_server_env()}
    assert ServerSettings.from_env(env).body_cache_bytes == 3 * 1024 * 1024
    env = {"FLOWCORE_RESULT_BODY_CACHE_MB": "0", **_server_env()}
    assert ServerSettings.from_env(env).body_cache_bytes == 0


def _server_env() -> dict[str, str]:
    _, public_pem = generate_key_pair(2048)
    return {
        "PUBLIC_JWT_SIGNING_KEY": public_pem,
        "FLOWAPI_IDENTIFIER": "bodies-test",
        "FLOWDB_DSN": "postgresql://nobody@127.0.0.1:1/none",
    }


# -- reads through QueryService on a small database ------------------------------------------


class CountingEncoder:
    """Encodes each chunk of rows as a JSON array of arrays and counts the rows it encoded."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, rows: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
        for chunk in rows:
            self.rows += len(chunk)
            yield orjson.dumps([list(row) for row in chunk])


@pytest.fixture
def service(fresh_dsn: str) -> Iterator[QueryService]:
    """A query service on three subscribers' calls at two cells on 2016-01-01."""
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 85.0, "lat": 27.0}, {"id": "c2", "lon": 86.0, "lat": 28.0}],
    )
    calls = [
        {"msisdn": msisdn, "datetime": f"2016-01-01 {hour:02d}:00:00", "location_id": cell}
        for msisdn, hour, cell in [("a", 9, "c1"), ("b", 10, "c1"), ("c", 11, "c2")]
    ]
    insert_events(fresh_dsn, "calls", calls)
    with flowcore.connect(fresh_dsn) as session:
        yield QueryService(session, ResultBodies())


def _read(service: QueryService, encode: CountingEncoder, form: str = "json") -> bytes:
    query_id = service.session.query_id(SPEC)
    release = service.session.release_select(query_id, "spatial_aggregate", redact=False)
    body = service.read_body(query_id, form, release, encode)
    assert isinstance(body, bytes)
    return body


def test_repeated_read_uses_kept_body(service: QueryService, fresh_dsn: str) -> None:
    service.session.run(SPEC)
    query_id = service.session.query_id(SPEC)
    before = access_count(fresh_dsn, query_id)
    encode = CountingEncoder()

    first = _read(service, encode)
    second = _read(service, encode)

    assert sorted(map(tuple, orjson.loads(first))) == [(85.0, 27.0, 2), (86.0, 28.0, 1)]
    assert second == first
    assert encode.rows == 2  # encoded once
    assert access_count(fresh_dsn, query_id) == before + 2


def test_each_form_is_encoded_once(service: QueryService) -> None:
    service.session.run(SPEC)
    encode = CountingEncoder()

    _read(service, encode, "json")
    _read(service, encode, "csv")
    _read(service, encode, "csv")

    assert encode.rows == 4


def test_recomputed_result_encoded_again(service: QueryService) -> None:
    session = service.session
    session.run(SPEC)
    query_id = session.query_id(SPEC)
    encode = CountingEncoder()
    first = _read(service, encode)

    session.cache.invalidate(query_id)
    session.run(SPEC)
    again = _read(service, encode)

    assert encode.rows == 4
    assert again == first


def test_removed_result_not_found(service: QueryService) -> None:
    session = service.session
    session.run(SPEC)
    query_id = session.query_id(SPEC)
    release = session.release_select(query_id, "spatial_aggregate", redact=False)
    encode = CountingEncoder()
    _read(service, encode)
    assert service.bodies.size_bytes > 0

    session.cache.invalidate(query_id)

    with pytest.raises(QueryNotFoundError):
        service.read_body(query_id, "json", release, encode)
    assert encode.rows == 2


def _stream(service: QueryService, encode: CountingEncoder) -> Iterator[bytes] | bytes:
    query_id = service.session.query_id(SPEC)
    release = service.session.release_select(query_id, "spatial_aggregate", redact=False)
    return service.read_body(query_id, "json", release, encode, chunk_rows=1, one_piece_rows=0)


def test_streamed_body_kept_once_complete(service: QueryService) -> None:
    service.session.run(SPEC)
    encode = CountingEncoder()

    streamed = _stream(service, encode)
    assert not isinstance(streamed, bytes)
    chunks = list(streamed)
    again = _stream(service, encode)

    assert len(chunks) == 2
    assert again == b"".join(chunks)
    assert encode.rows == 2


def test_streamed_body_closed_early_not_kept(service: QueryService) -> None:
    service.session.run(SPEC)
    encode = CountingEncoder()

    streamed = _stream(service, encode)
    assert not isinstance(streamed, bytes)
    next(streamed)
    streamed.close()
    again = _stream(service, encode)

    assert not isinstance(again, bytes)
    assert len(list(again)) == 2
    assert service.bodies.size_bytes > 0  # kept once the second stream ended


def test_streamed_body_too_large_not_kept(fresh_dsn: str, service: QueryService) -> None:
    service.session.run(SPEC)
    small = QueryService(service.session, ResultBodies(max_bytes=4 * (20 + ENTRY_OVERHEAD_BYTES)))
    encode = CountingEncoder()

    body = b"".join(_stream(small, encode))
    again = _stream(small, encode)

    assert len(body) > 20
    assert not isinstance(again, bytes)
    assert b"".join(again) == body
    assert small.bodies.size_bytes == 0


def test_concurrent_streams_collect_once(service: QueryService) -> None:
    service.session.run(SPEC)
    encode = CountingEncoder()
    first = _stream(service, encode)
    second = _stream(service, encode)
    assert not isinstance(first, bytes)
    assert not isinstance(second, bytes)

    # The first stream starts collecting, so the second only passes its chunks through.
    first_chunks = [next(first)]
    second_chunks = list(second)
    assert service.bodies.size_bytes == 0
    first_chunks.extend(first)

    assert second_chunks == first_chunks
    assert service.bodies.size_bytes > 0
    assert _stream(service, encode) == b"".join(first_chunks)


def test_closed_collector_frees_body(service: QueryService) -> None:
    service.session.run(SPEC)
    encode = CountingEncoder()
    first = _stream(service, encode)
    assert not isinstance(first, bytes)
    next(first)
    first.close()

    second = _stream(service, encode)
    assert not isinstance(second, bytes)
    body = b"".join(second)

    assert _stream(service, encode) == body
