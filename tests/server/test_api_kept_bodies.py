"""Kept result bodies seen from outside: real servers, data changed under them, many callers.

A server keeps the encoded body of each small result it sends. These tests change what lies
under a kept body: new events and a recomputed result, a cleared or shrunk cache, a reloaded
geography layer, a changed row estimate. Every download must still send what the database
contains now, only to callers allowed to read it, and count as one read.

The servers run on a scratch database of two cells in two admin3 regions, with a redaction
threshold of 0 so that a few subscribers make visible rows. Each test uses its own day of calls.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from api_helpers import (
    FLOWCORE_COMMAND,
    RunningServer,
    access_count,
    free_port,
    run_completed,
    serve_command,
    server_environment,
    start_server,
)
from flowcore_server.service import ONE_PIECE_ROWS

from flowcore.cache.reload import invalidate_reloaded_day
from flowcore.testing import insert_cells, insert_events, insert_region, square
from flowdb.load_geography import load_layer_file
from flowdb.testing import ScratchServer, database_of, dsn_with

#: Two cells, each in its own admin3 region one degree wide.
CELLS = [{"id": "c1", "lon": 85.5, "lat": 27.5}, {"id": "c2", "lon": 86.5, "lat": 28.5}]
REGIONS = {"R1": (85.0, 27.0), "R2": (86.0, 28.0)}


def _spec(day: dt.date, unit: str = "admin3") -> dict[str, Any]:
    return {
        "query_kind": "spatial_aggregate",
        "locations": {
            "query_kind": "daily_location",
            "date": day.isoformat(),
            "method": "last",
            "aggregation_unit": unit,
            "event_types": ["calls"],
        },
    }


def _scopes(unit: str) -> list[str]:
    return [
        f"{unit}:spatial_aggregate:spatial_aggregate",
        f"{unit}:spatial_aggregate:daily_location",
    ]


def _insert_calls(dsn: str, day: dt.date, calls: list[tuple[str, str]]) -> None:
    """Insert one call at 10:00 per (subscriber, cell) pair."""
    rows = [
        {"msisdn": msisdn, "datetime": f"{day.isoformat()} 10:00:00", "location_id": cell}
        for msisdn, cell in calls
    ]
    insert_events(dsn, "calls", rows)


@pytest.fixture(scope="module")
def bodies_dsn(flowdb_server: ScratchServer, flowdb_template: str) -> Iterator[str]:
    """Create a database of two cells in two admin3 regions. Each test adds its own day of calls."""
    dsn = flowdb_server.create_database(flowdb_template)
    try:
        insert_cells(dsn, CELLS)
        for pcod, (lon, lat) in REGIONS.items():
            insert_region(dsn, 3, pcod, square(lon, lat, 1.0))
        yield dsn
    finally:
        flowdb_server.drop_database(database_of(dsn))


@pytest.fixture(scope="module")
def superuser_dsn(flowdb_server: ScratchServer, bodies_dsn: str) -> str:
    """Return the superuser's DSN on the scratch database, to set row estimates."""
    return dsn_with(flowdb_server.admin_dsn, database=database_of(bodies_dsn))


def _start(
    dsn: str,
    public_pem: str,
    log_dir: Path,
    *,
    workers: int = 1,
    **extra: str,
) -> RunningServer:
    port = free_port()
    env = server_environment(dsn, public_pem, FLOWCORE_REDACTION_THRESHOLD="0", **extra)
    command = serve_command(port)
    if workers > 1:
        command += ["--workers", str(workers)]
    return start_server(command, env, log_dir / "stderr.log", port)


@pytest.fixture(scope="module")
def bodies_server(
    bodies_dsn: str, signing_keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Start one server process with the default body memory."""
    server = _start(bodies_dsn, signing_keys[1], tmp_path_factory.mktemp("bodies-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def full_token(make_token: Callable[..., str]) -> str:
    """Sign a token to run and read lon-lat and admin3 results and both units' geography."""
    scopes = [
        "run",
        "poll",
        "get_result",
        *_scopes("admin3"),
        *_scopes("lon-lat"),
        "admin3:geography:geography",
        "lon-lat:geography:geography",
    ]
    return make_token({"reader": scopes})


@pytest.fixture
def client(bodies_server: RunningServer, full_token: str) -> Iterator[httpx.Client]:
    with bodies_server.client(full_token) as http:
        yield http


def _json_counts(body: bytes) -> dict[str, int]:
    document = orjson.loads(body)
    return {row["pcod"]: row["value"] for row in document["query_result"]}


def _csv_counts(body: bytes) -> dict[str, int]:
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    return {row["pcod"]: int(row["value"]) for row in rows}


def _geojson_counts(body: bytes) -> dict[str, int]:
    document = orjson.loads(body)
    return {f["properties"]["pcod"]: f["properties"]["value"] for f in document["features"]}


COUNTS_OF = {"json": _json_counts, "csv": _csv_counts, "geojson": _geojson_counts}


def _counts(client: httpx.Client, query_id: str, form: str) -> dict[str, int]:
    response = client.get(f"/api/0/get/{query_id}.{form}")
    assert response.status_code == 200, response.text
    return COUNTS_OF[form](response.content)


# -- a result computed again from different events --------------------------------------------


@pytest.mark.parametrize("remove", ["invalidate reloaded day", "cache clear"])
def test_recomputed_result_sends_new_rows(
    client: httpx.Client, bodies_dsn: str, remove: str
) -> None:
    day = dt.date(2016, 1, 1) if remove == "cache clear" else dt.date(2016, 1, 2)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c1"), ("c", "c2")])
    query_id = run_completed(client, _spec(day))
    for form in COUNTS_OF:
        for _ in range(2):  # the second download is the kept body
            assert _counts(client, query_id, form) == {"R1": 2, "R2": 1}

    _insert_calls(bodies_dsn, day, [("d", "c2"), ("e", "c2")])
    if remove == "cache clear":
        command = [FLOWCORE_COMMAND, "cache", "clear", "--yes", "--dsn", bodies_dsn]
        cleared = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert cleared.returncode == 0, cleared.stderr
        assert cleared.stdout.startswith("Removed ")
    else:
        assert query_id in invalidate_reloaded_day(bodies_dsn, "calls", day)

    for form in COUNTS_OF:
        removed = client.get(f"/api/0/get/{query_id}.{form}")
        assert removed.status_code == 404, (form, removed.text)
        assert removed.json()["status"] == "Error"
    assert run_completed(client, _spec(day)) == query_id
    for form in COUNTS_OF:
        assert _counts(client, query_id, form) == {"R1": 2, "R2": 3}


def test_shrunk_cache_then_new_rows(client: httpx.Client, bodies_dsn: str) -> None:
    day = dt.date(2016, 1, 3)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    query_id = run_completed(client, _spec(day))
    assert _counts(client, query_id, "json") == {"R1": 1, "R2": 1}
    assert _counts(client, query_id, "json") == {"R1": 1, "R2": 1}

    _insert_calls(bodies_dsn, day, [("c", "c1")])
    with psycopg.connect(bodies_dsn) as connection:
        connection.execute(
            "UPDATE cache.cache_config SET value = '-1' WHERE key = 'cache_protected_period'"
        )
    try:
        command = [FLOWCORE_COMMAND, "cache", "shrink", "--size", "0", "--dsn", bodies_dsn]
        shrunk = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        with psycopg.connect(bodies_dsn) as connection:
            connection.execute(
                "UPDATE cache.cache_config SET value = '86400' WHERE key = 'cache_protected_period'"
            )
    assert shrunk.returncode == 0, shrunk.stderr
    assert f"Evicted {query_id}" in shrunk.stdout

    assert client.get(f"/api/0/get/{query_id}").status_code == 404
    assert run_completed(client, _spec(day)) == query_id
    assert _counts(client, query_id, "json") == {"R1": 2, "R2": 1}


# -- who may read a kept body -----------------------------------------------------------------


def test_kept_geojson_refused_without_geography_scope(
    bodies_server: RunningServer,
    client: httpx.Client,
    bodies_dsn: str,
    make_token: Callable[..., str],
) -> None:
    day = dt.date(2016, 1, 4)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    query_id = run_completed(client, _spec(day))
    kept_geojson = client.get(f"/api/0/get/{query_id}.geojson")
    kept_json = client.get(f"/api/0/get/{query_id}.json")
    assert kept_geojson.status_code == 200
    token = make_token({"no_geography": ["get_result", *_scopes("admin3")]})
    other_unit = make_token({"lon_lat_only": ["get_result", *_scopes("lon-lat")]})

    with bodies_server.client(token) as narrow, bodies_server.client(other_unit) as stranger:
        geojson = narrow.get(f"/api/0/get/{query_id}.geojson")
        as_json = narrow.get(f"/api/0/get/{query_id}.json")
        strange_json = stranger.get(f"/api/0/get/{query_id}.json")
        strange_geojson = stranger.get(f"/api/0/get/{query_id}.geojson")

    assert geojson.status_code == 403, geojson.text
    assert b"FeatureCollection" not in geojson.content
    assert as_json.status_code == 200
    assert as_json.content == kept_json.content
    assert strange_json.status_code == 403
    assert strange_geojson.status_code == 403
    assert b"query_result" not in strange_json.content


# -- a body's forms ---------------------------------------------------------------------------


def test_forms_never_mix(client: httpx.Client, bodies_dsn: str) -> None:
    day = dt.date(2016, 1, 5)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2"), ("c", "c2")])
    query_id = run_completed(client, _spec(day))
    first = {form: client.get(f"/api/0/get/{query_id}.{form}") for form in COUNTS_OF}
    default = client.get(f"/api/0/get/{query_id}")
    again = {form: client.get(f"/api/0/get/{query_id}.{form}") for form in COUNTS_OF}

    assert first["json"].headers["content-type"].startswith("application/json")
    assert first["csv"].headers["content-type"].startswith("text/csv")
    assert first["geojson"].headers["content-type"].startswith("application/geo+json")
    assert first["csv"].content.startswith(b"pcod,value\r\n")
    assert orjson.loads(first["geojson"].content)["type"] == "FeatureCollection"
    assert orjson.loads(first["json"].content)["query_id"] == query_id
    assert default.content == first["json"].content
    for form, response in again.items():
        assert response.content == first[form].content
        assert response.headers["content-type"] == first[form].headers["content-type"]
        assert COUNTS_OF[form](response.content) == {"R1": 1, "R2": 2}


def test_other_unit_own_body(client: httpx.Client, bodies_dsn: str) -> None:
    day = dt.date(2016, 1, 6)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    admin3 = run_completed(client, _spec(day, "admin3"))
    lon_lat = run_completed(client, _spec(day, "lon-lat"))
    assert admin3 != lon_lat
    client.get(f"/api/0/get/{admin3}")

    rows = orjson.loads(client.get(f"/api/0/get/{lon_lat}").content)["query_result"]

    assert sorted((row["lon"], row["lat"], row["value"]) for row in rows) == [
        (85.5, 27.5, 1),
        (86.5, 28.5, 1),
    ]


# -- a geography layer loaded again -----------------------------------------------------------


@pytest.mark.parametrize("body_mb", ["0", "64"], ids=["memory off", "memory on"])
def test_reloaded_geography_reaches_geojson(
    bodies_dsn: str,
    signing_keys: tuple[str, str],
    full_token: str,
    tmp_path: Path,
    body_mb: str,
) -> None:
    """Check that a result's GeoJSON shows the admin3 boundaries loaded now.

    The geography route shows them too.

    Loading a layer again replaces the boundaries but keeps the stored results, so a GeoJSON
    body depends on more than its stored result.
    """
    day = dt.date(2016, 1, 7) if body_mb == "0" else dt.date(2016, 1, 13)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    server = _start(bodies_dsn, signing_keys[1], tmp_path, FLOWCORE_RESULT_BODY_CACHE_MB=body_mb)
    try:
        with server.client(full_token) as client:
            _reload_layer_between_downloads(client, bodies_dsn, day, tmp_path)
    finally:
        server.stop()


def _reload_layer_between_downloads(
    client: httpx.Client, bodies_dsn: str, day: dt.date, tmp_path: Path
) -> None:
    query_id = run_completed(client, _spec(day))
    before = orjson.loads(client.get(f"/api/0/get/{query_id}.geojson").content)
    assert before["features"][0]["geometry"]["coordinates"][0][0][0] == [85.0, 27.0]

    # The same two codes, each region now two degrees wide: both cells stay where they were.
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"admin3pcod": pcod, "admin3name": pcod},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[lon, lat], [lon + 2, lat], [lon + 2, lat + 1], [lon, lat + 1], [lon, lat]]
                    ],
                },
            }
            for pcod, (lon, lat) in REGIONS.items()
        ],
    }
    path = tmp_path / "admin3.geojson"
    path.write_text(json.dumps(layer), encoding="utf-8")
    try:
        assert load_layer_file(bodies_dsn, path, 3).rows == 2
        after = orjson.loads(client.get(f"/api/0/get/{query_id}.geojson").content)
        geography = orjson.loads(client.get("/api/0/geography/admin3").content)
    finally:
        with psycopg.connect(bodies_dsn) as connection:
            connection.execute("TRUNCATE geography.admin3")
        for pcod, (lon, lat) in REGIONS.items():
            insert_region(bodies_dsn, 3, pcod, square(lon, lat, 1.0))

    east_edge = {feature["properties"]["pcod"]: feature for feature in geography["features"]}
    assert east_edge["R1"]["geometry"]["coordinates"][0][0][1] == [87.0, 27.0]
    # The result's GeoJSON must show the same boundaries as the geography route.
    assert after["features"][0]["geometry"]["coordinates"][0][0][1] == [87.0, 27.0]


# -- the row estimate moves between reads -----------------------------------------------------


def _set_row_estimate(superuser_dsn: str, query_id: str, estimate: float) -> float:
    with psycopg.connect(superuser_dsn, autocommit=True) as connection:
        row = connection.execute(
            "UPDATE pg_class AS c SET reltuples = %s FROM pg_class AS old "
            "WHERE c.oid = %s::regclass AND old.oid = c.oid RETURNING old.reltuples",
            (estimate, f"cache.x{query_id}"),
        ).fetchone()
    assert row is not None
    return float(row[0])


def test_estimate_changes_between_reads(
    client: httpx.Client, bodies_dsn: str, superuser_dsn: str
) -> None:
    day = dt.date(2016, 1, 8)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c1"), ("c", "c2")])
    query_id = run_completed(client, _spec(day))
    before = access_count(bodies_dsn, query_id)
    one_piece = client.get(f"/api/0/get/{query_id}.csv").content

    estimate = _set_row_estimate(superuser_dsn, query_id, ONE_PIECE_ROWS + 1)
    try:
        streamed = client.get(f"/api/0/get/{query_id}.csv").content
        unknown = _set_row_estimate(superuser_dsn, query_id, -1)
        without_estimate = client.get(f"/api/0/get/{query_id}.csv").content
    finally:
        _set_row_estimate(superuser_dsn, query_id, estimate)
    again = client.get(f"/api/0/get/{query_id}.csv").content

    assert unknown == ONE_PIECE_ROWS + 1
    assert _csv_counts(one_piece) == {"R1": 2, "R2": 1}
    assert streamed == one_piece
    assert without_estimate == one_piece
    assert again == one_piece
    assert access_count(bodies_dsn, query_id) == before + 4


# -- many callers at once ---------------------------------------------------------------------


def test_concurrent_downloads_count_and_match(
    bodies_server: RunningServer, full_token: str, bodies_dsn: str
) -> None:
    day = dt.date(2016, 1, 9)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2"), ("c", "c2")])
    with bodies_server.client(full_token) as http:
        query_id = run_completed(http, _spec(day))
        before = access_count(bodies_dsn, query_id)
    forms = [form for _ in range(12) for form in COUNTS_OF]  # 36 downloads

    def download(form: str) -> tuple[str, int, bytes]:
        with bodies_server.client(full_token) as http:
            response = http.get(f"/api/0/get/{query_id}.{form}")
            return form, response.status_code, response.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(download, forms))

    assert [status for _, status, _ in answers] == [200] * len(forms)
    for form in COUNTS_OF:
        bodies = {body for answered, _, body in answers if answered == form}
        assert len(bodies) == 1, form
        assert COUNTS_OF[form](bodies.pop()) == {"R1": 1, "R2": 2}
    assert access_count(bodies_dsn, query_id) == before + len(forms)


def test_downloads_racing_recompute(
    bodies_server: RunningServer, full_token: str, bodies_dsn: str
) -> None:
    """Check that downloads racing an invalidation get the old rows, a 202, a 404 or the new rows.

    A download that starts after the new result is stored gets the new rows.
    """
    day = dt.date(2016, 1, 10)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    spec = _spec(day)
    old, new = {"R1": 1, "R2": 1}, {"R1": 1, "R2": 3}
    with bodies_server.client(full_token) as http:
        query_id = run_completed(http, spec)
        assert _counts(http, query_id, "json") == old
    recomputed = threading.Event()

    def download(number: int) -> tuple[bool, int, dict[str, int] | None]:
        with bodies_server.client(full_token) as http:
            after = recomputed.is_set()
            response = http.get(f"/api/0/get/{query_id}.json")
            counts = _json_counts(response.content) if response.status_code == 200 else None
            return after, response.status_code, counts

    with ThreadPoolExecutor(max_workers=6) as pool:
        racing = [pool.submit(download, n) for n in range(12)]
        _insert_calls(bodies_dsn, day, [("c", "c2"), ("d", "c2")])
        assert query_id in invalidate_reloaded_day(bodies_dsn, "calls", day)
        with bodies_server.client(full_token) as http:
            assert run_completed(http, spec) == query_id
        recomputed.set()
        later = [pool.submit(download, n) for n in range(12)]
        answers = [future.result() for future in racing + later]

    for after, status, counts in answers:
        if after:
            assert status == 200
            assert counts == new
        elif status not in (202, 404):
            # 202 while the new result is being computed, 404 while none is stored.
            assert status == 200
            assert counts in (old, new)


# -- the body memory turned off, and several worker processes ---------------------------------


@pytest.mark.parametrize(
    ("workers", "body_mb"), [(1, "0"), (2, "64")], ids=["memory off", "two workers"]
)
def test_other_servers_send_new_rows(
    bodies_dsn: str,
    signing_keys: tuple[str, str],
    full_token: str,
    tmp_path: Path,
    workers: int,
    body_mb: str,
) -> None:
    day = dt.date(2016, 1, 11) if workers == 1 else dt.date(2016, 1, 12)
    _insert_calls(bodies_dsn, day, [("a", "c1"), ("b", "c2")])
    server = _start(
        bodies_dsn,
        signing_keys[1],
        tmp_path,
        workers=workers,
        FLOWCORE_RESULT_BODY_CACHE_MB=body_mb,
    )
    try:
        with server.client(full_token) as http:
            query_id = run_completed(http, _spec(day))
            before = access_count(bodies_dsn, query_id)
            # A new connection per download, so both workers serve some of them.
            http.headers["Connection"] = "close"
            first = [_counts(http, query_id, form) for form in COUNTS_OF for _ in range(4)]
            _insert_calls(bodies_dsn, day, [("c", "c1")])
            assert query_id in invalidate_reloaded_day(bodies_dsn, "calls", day)
            assert run_completed(http, _spec(day)) == query_id
            after_run = access_count(bodies_dsn, query_id)
            second = [_counts(http, query_id, form) for form in COUNTS_OF for _ in range(4)]
            after_reads = access_count(bodies_dsn, query_id)
    finally:
        server.stop()

    assert first == [{"R1": 1, "R2": 1}] * 12
    assert second == [{"R1": 2, "R2": 1}] * 12
    assert before >= 1
    assert after_reads - after_run == 12


def test_dropped_table_not_served(
    client: httpx.Client, bodies_dsn: str, superuser_dsn: str
) -> None:
    """Check that a result whose table was dropped under its metadata row is not found."""
    day = dt.date(2016, 1, 14)
    _insert_calls(bodies_dsn, day, [("a", "c1")])
    query_id = run_completed(client, _spec(day))
    assert _counts(client, query_id, "json") == {"R1": 1}
    with psycopg.connect(superuser_dsn, autocommit=True) as connection:
        connection.execute(f"DROP TABLE cache.x{query_id}")

    removed = client.get(f"/api/0/get/{query_id}.json")

    assert removed.status_code == 404, removed.text
    assert b"query_result" not in removed.content
