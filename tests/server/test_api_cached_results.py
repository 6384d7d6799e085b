"""Cached results over HTTP: the one-chunk and streamed bodies, grants and removals around a hit.

A result of at most ``ONE_PIECE_ROWS`` rows by its row estimate is read with the cache hit and
sent as one chunk. A larger one, or one without an estimate, is streamed. The tests switch a result
between the two paths by setting its table's row estimate (``pg_class.reltuples``) as the
superuser, so both paths serve the very same rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from api_helpers import RunningServer, access_count, run_completed
from flowcore_server.service import ONE_PIECE_ROWS, QueryService

import flowcore
from flowcore.errors import QueryNotFoundError
from flowcore.hookspecs import hookimpl
from flowcore.session import Session
from flowcore.testing import insert_cells, insert_events
from flowdb.testing import ScratchServer, database_of, dsn_with

SPATIAL_ADMIN3 = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": "2016-01-03",
        "method": "last",
        "aggregation_unit": "admin3",
    },
}
SPATIAL_ADMIN2 = {
    "query_kind": "spatial_aggregate",
    "locations": {**SPATIAL_ADMIN3["locations"], "aggregation_unit": "admin2"},
}
FLOWS_ADMIN1 = {
    "query_kind": "flows",
    "from_location": {**SPATIAL_ADMIN3["locations"], "aggregation_unit": "admin1"},
    "to_location": {
        **SPATIAL_ADMIN3["locations"],
        "date": "2016-01-04",
        "aggregation_unit": "admin1",
    },
}
ADMIN3_SCOPES = [
    "admin3:spatial_aggregate:spatial_aggregate",
    "admin3:spatial_aggregate:daily_location",
]


@pytest.fixture
def client(api_server: RunningServer, universal_token: str) -> Iterator[httpx.Client]:
    """An HTTP client on the test dataset's server with every scope."""
    with api_server.client(universal_token) as http:
        yield http


@pytest.fixture
def superuser_dsn(flowdb_server: ScratchServer, testdata_dsn: str) -> str:
    """The superuser's DSN on the test dataset's database (to set row estimates)."""
    return dsn_with(flowdb_server.admin_dsn, database=database_of(testdata_dsn))


def _set_row_estimate(superuser_dsn: str, query_id: str, estimate: float) -> float:
    """Set the row estimate of a result's table; return the previous one."""
    with psycopg.connect(superuser_dsn, autocommit=True) as connection:
        row = connection.execute(
            "UPDATE pg_class AS c SET reltuples = %s FROM pg_class AS old "
            "WHERE c.oid = %s::regclass AND old.oid = c.oid RETURNING old.reltuples",
            (estimate, f"cache.x{query_id}"),
        ).fetchone()
    assert row is not None
    return float(row[0])


@pytest.mark.parametrize(
    ("spec", "extension"),
    [
        (SPATIAL_ADMIN3, "json"),
        (SPATIAL_ADMIN3, "csv"),
        (SPATIAL_ADMIN3, "geojson"),
        (FLOWS_ADMIN1, "json"),
        (FLOWS_ADMIN1, "geojson"),
    ],
    ids=["json", "csv", "geojson", "flows json", "flows geojson"],
)
def test_one_chunk_and_streamed_bodies_match(
    client: httpx.Client, superuser_dsn: str, spec: dict[str, Any], extension: str
) -> None:
    query_id = run_completed(client, spec)
    path = f"/api/0/get/{query_id}.{extension}"

    one_chunk = client.get(path)
    estimate = _set_row_estimate(superuser_dsn, query_id, -1)
    try:
        streamed = client.get(path)
    finally:
        _set_row_estimate(superuser_dsn, query_id, estimate)

    assert 0 <= estimate <= ONE_PIECE_ROWS
    assert one_chunk.status_code == 200
    assert streamed.status_code == 200
    assert one_chunk.headers["content-type"] == streamed.headers["content-type"]
    assert one_chunk.headers["content-disposition"] == streamed.headers["content-disposition"]
    assert one_chunk.headers.get("transfer-encoding") == "chunked"
    assert streamed.headers.get("transfer-encoding") == "chunked"
    assert len(one_chunk.content) > 100
    assert one_chunk.content == streamed.content


def test_small_cached_result_is_redacted(client: httpx.Client, python_session: Session) -> None:
    query_id = run_completed(client, SPATIAL_ADMIN3)
    raw = python_session.run(SPATIAL_ADMIN3).to_dicts()
    redacted = python_session.run(SPATIAL_ADMIN3, redact=True).to_dicts()

    released = client.get(f"/api/0/get/{query_id}").json()["query_result"]

    # The threshold removes some rows of this result, so redaction is visible.
    assert len(redacted) < len(raw)
    assert sorted(released, key=lambda row: row["pcod"]) == sorted(
        redacted, key=lambda row: row["pcod"]
    )


def test_cached_query_refused_without_scope(
    api_server: RunningServer,
    client: httpx.Client,
    make_token: Callable[..., str],
    testdata_dsn: str,
) -> None:
    query_id = run_completed(client, SPATIAL_ADMIN2)
    before = access_count(testdata_dsn, query_id)
    token = make_token({"analyst": ["run", "get_result", *ADMIN3_SCOPES]})

    with api_server.client(token) as narrow:
        run = narrow.post("/api/0/run", json=SPATIAL_ADMIN2)
        poll = narrow.get(f"/api/0/poll/{query_id}")
        result = narrow.get(f"/api/0/get/{query_id}")
        geojson = narrow.get(f"/api/0/get/{query_id}.geojson")

    assert run.status_code == 403
    assert run.json() == {"msg": "User claims verification failed"}
    assert poll.status_code == 403
    assert poll.json() == {"msg": "User claims verification failed"}
    assert result.status_code == 403
    assert geojson.status_code == 403
    # A refused request leaves the cache statistics alone.
    assert access_count(testdata_dsn, query_id) == before


def test_cached_rounds_count_accesses(client: httpx.Client, testdata_dsn: str) -> None:
    query_id = run_completed(client, SPATIAL_ADMIN3)
    before = access_count(testdata_dsn, query_id)

    run = client.post("/api/0/run", json=SPATIAL_ADMIN3)
    poll = client.get(f"/api/0/poll/{query_id}")
    result = client.get(f"/api/0/get/{query_id}")
    geojson = client.get(f"/api/0/get/{query_id}.geojson")
    # Served from the body kept by the first read.
    result_again = client.get(f"/api/0/get/{query_id}")

    assert run.status_code == 202
    assert run.json() == {
        "query_id": query_id,
        "progress": {"eligible": 0, "queued": 0, "running": 0},
    }
    assert run.headers["location"] == f"/api/0/poll/{query_id}"
    assert poll.status_code == 303
    assert poll.headers["location"] == f"/api/0/get/{query_id}"
    assert result.status_code == 200
    assert geojson.status_code == 200
    assert result_again.status_code == 200
    assert result_again.content == result.content
    assert result_again.headers["content-disposition"] == result.headers["content-disposition"]
    # One touch for the run and one per read; a poll touches nothing.
    assert access_count(testdata_dsn, query_id) == before + 4


# -- removals around a hit, on QueryService in this process ----------------------------------

DAY = dt.date(2016, 1, 1)
LON_LAT_SPEC = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": DAY.isoformat(),
        "method": "last",
        "aggregation_unit": "lon-lat",
        "event_types": ["calls"],
    },
}


def _encode_rows(rows: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """Encode each chunk of rows as one JSON array of arrays."""
    for chunk in rows:
        yield orjson.dumps([list(row) for row in chunk])


class RemoveOnHit:
    """A plugin that runs an action once, on the next cache hit of a given access."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.access: str | None = None
        self.action: Callable[[str], object] | None = None

    @hookimpl
    def flowcore_cache_event(
        self, event: str, query_id: str, query_kind: str, details: dict[str, Any]
    ) -> None:
        """Run the pending action on a hit of the awaited access."""
        if event != "hit":
            return
        with self.lock:
            if self.action is None or details.get("access") != self.access:
                return
            action, self.action = self.action, None
        action(query_id)


@pytest.fixture
def remover() -> RemoveOnHit:
    """The plugin of one test."""
    return RemoveOnHit()


@pytest.fixture
def service(fresh_dsn: str, remover: RemoveOnHit) -> Iterator[QueryService]:
    """A query service on two cells and three subscribers' calls on DAY."""
    insert_cells(
        fresh_dsn,
        [{"id": "c1", "lon": 85.0, "lat": 27.0}, {"id": "c2", "lon": 86.0, "lat": 28.0}],
    )
    calls = [
        {"msisdn": msisdn, "datetime": f"{DAY} {hour:02d}:00:00", "location_id": cell}
        for msisdn, hour, cell in [("a", 9, "c1"), ("b", 10, "c1"), ("c", 11, "c2")]
    ]
    insert_events(fresh_dsn, "calls", calls)
    with flowcore.connect(fresh_dsn, plugins=[remover]) as session:
        yield QueryService(session)


@pytest.mark.parametrize("one_piece_rows", [0, ONE_PIECE_ROWS], ids=["streamed", "one chunk"])
def test_result_removed_after_read_hit(
    service: QueryService, remover: RemoveOnHit, one_piece_rows: int
) -> None:
    """A result removed between the read's hit and its first row is not found, not truncated."""
    session = service.session
    session.run(LON_LAT_SPEC)
    query_id = session.query_id(LON_LAT_SPEC)
    # Unredacted, because redaction would release none of these few subscribers.
    release = session.release_select(query_id, "spatial_aggregate", redact=False)
    remover.access = "read"
    remover.action = session.cache.invalidate

    with pytest.raises(QueryNotFoundError):
        body = service.read_body(
            query_id, "rows", release, _encode_rows, one_piece_rows=one_piece_rows
        )
        list(body)

    assert remover.action is None
    assert session.executor.state(query_id) == "known"


def test_streamed_result_rows(service: QueryService) -> None:
    """A result larger than one chunk streams every row, in chunks of ``chunk_rows``."""
    session = service.session
    expected = sorted(session.run(LON_LAT_SPEC).rows())
    query_id = session.query_id(LON_LAT_SPEC)
    release = session.release_select(query_id, "spatial_aggregate", redact=False)

    body = service.read_body(
        query_id, "rows", release, _encode_rows, chunk_rows=1, one_piece_rows=0
    )
    chunks = [orjson.loads(chunk) for chunk in body]

    assert len(expected) == 2
    assert [len(chunk) for chunk in chunks] == [1, 1]
    assert sorted(tuple(row) for chunk in chunks for row in chunk) == expected
