"""Loading the whole test dataset: rows per table and day, cell versions, available dates."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from flowdb.schema import EVENT_TYPES

DAYS = [date(2016, 1, 1) + timedelta(days=offset) for offset in range(7)]

# Cells that move on 2016-01-06: version 0 until 2016-01-05, version 1 from 2016-01-06.
MOVED_CELLS = ["UJE4phmX", "hRU1j2q5", "PYTxb352", "aqt4bzQU", "N0tfEoYN", "yPANTB8f", "DJHTx6HD"]


def _data_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _day_file(testdata_path: Path, event_type: str, day: date) -> Path:
    prefix = EVENT_TYPES[event_type].file_prefix
    return testdata_path / "records" / event_type / f"{prefix}_{day:%Y%m%d}.csv"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_rows_per_day_match_files(testdata_dsn, testdata_path, event_type) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        for day in DAYS:
            expected = _data_rows(_day_file(testdata_path, event_type, day))
            partition = f"events.{event_type}_{day:%Y%m%d}"
            count = conn.execute(f"SELECT count(*) FROM {partition}").fetchone()
            assert count == (expected,), partition


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_rows_per_event_table_match_files(testdata_dsn, testdata_path, event_type) -> None:
    expected = sum(_data_rows(_day_file(testdata_path, event_type, day)) for day in DAYS)
    with psycopg.connect(testdata_dsn) as conn:
        count = conn.execute(f"SELECT count(*) FROM events.{event_type}").fetchone()
    assert count == (expected,)


@pytest.mark.parametrize(
    ("table", "file"),
    [
        ("infrastructure.cells", "infrastructure/cells.csv"),
        ("infrastructure.sites", "infrastructure/sites.csv"),
        ("infrastructure.tacs", "tac_database.csv"),
    ],
)
def test_infrastructure_rows_match_files(testdata_dsn, testdata_path, table, file) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert count == (_data_rows(testdata_path / file),)


def test_moved_cells_stored_as_two_versions(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        rows = conn.execute(
            """
            SELECT id, version, date_of_first_service, date_of_last_service
            FROM infrastructure.cells WHERE id = ANY(%s) ORDER BY id, version
            """,
            (MOVED_CELLS,),
        ).fetchall()
    expected = []
    for cell in sorted(MOVED_CELLS):
        expected.append((cell, 0, date(2016, 1, 1), date(2016, 1, 5)))
        expected.append((cell, 1, date(2016, 1, 6), None))
    assert rows == expected


def test_cell_keys_numbered_in_file_order(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        first = conn.execute("SELECT id FROM infrastructure.cells WHERE cell_id = 1").fetchone()
        keys = conn.execute("SELECT min(cell_id), max(cell_id) FROM infrastructure.cells")
        key_range = keys.fetchone()
    assert first == ("llTlNC7E",)
    assert key_range == (1, 62)


def test_cells_fourth_column_is_latitude(testdata_dsn) -> None:
    # cells.csv's row for llTlNC7E reads "26.66999073,87.85779897" under "longitude,latitude".
    with psycopg.connect(testdata_dsn) as conn:
        row = conn.execute(
            "SELECT ST_Y(geom_point), ST_X(geom_point), ST_SRID(geom_point) "
            "FROM infrastructure.cells WHERE id = 'llTlNC7E'"
        ).fetchone()
    assert row is not None
    latitude, longitude, srid = row
    assert latitude == pytest.approx(26.66999073)
    assert longitude == pytest.approx(87.85779897)
    assert srid == 4326


def test_cells_lie_in_nepal(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        outside = conn.execute(
            """
            SELECT count(*) FROM infrastructure.cells AS c
            WHERE NOT EXISTS (
                SELECT 1 FROM geography.admin0 AS a WHERE ST_Intersects(a.geom, c.geom_point)
            )
            """
        ).fetchone()
    assert outside == (0,)


def test_sites_read_by_header_names(testdata_dsn) -> None:
    # sites.csv is labelled correctly: o9yyxY has latitude 28.42698807, longitude 82.86997712.
    with psycopg.connect(testdata_dsn) as conn:
        row = conn.execute(
            "SELECT ST_Y(geom_point), ST_X(geom_point) FROM infrastructure.sites "
            "WHERE id = 'o9yyxY'"
        ).fetchone()
    assert row == (pytest.approx(28.42698807), pytest.approx(82.86997712))


def test_available_dates_lists_seven_days(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        rows = conn.execute(
            "SELECT cdr_type, cdr_date FROM etl.available_dates ORDER BY cdr_type, cdr_date"
        ).fetchall()
    expected = [(event_type, day) for event_type in sorted(EVENT_TYPES) for day in DAYS]
    assert rows == expected


@pytest.mark.parametrize(
    ("level", "count"),
    [(0, 1), (1, 7), (2, 77), (3, 775)],
)
def test_admin_levels_loaded(testdata_dsn, level, count) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT admin{level}pcod), "
            f"bool_and(ST_GeometryType(geom) = 'ST_MultiPolygon' AND ST_SRID(geom) = 4326) "
            f"FROM geography.admin{level}"
        ).fetchone()
    assert row == (count, count, True)


def test_admin3_carries_parent_codes(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        missing = conn.execute(
            "SELECT count(*) FROM geography.admin3 "
            "WHERE admin0pcod IS NULL OR admin1pcod IS NULL OR admin2pcod IS NULL"
        ).fetchone()
    assert missing == (0,)


def test_timestamps_are_utc(testdata_dsn, testdata_path) -> None:
    with _day_file(testdata_path, "calls", DAYS[0]).open(newline="") as handle:
        first = next(csv.DictReader(handle))
    with psycopg.connect(testdata_dsn) as conn:
        conn.execute("SET timezone TO 'Asia/Kathmandu'")
        row = conn.execute(
            "SELECT to_char(datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM events.calls WHERE id = %s AND msisdn = %s",
            (first["id"], first["msisdn"]),
        ).fetchone()
    assert row == (first["start_time"],)


def test_self_call_present(testdata_dsn) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        rows = conn.execute(
            "SELECT msisdn_counterpart, location_id, outgoing FROM events.calls "
            "WHERE msisdn = 'self_caller' ORDER BY outgoing"
        ).fetchall()
    assert rows == [("self_caller", "JxDglNVk", False), ("self_caller", "JxDglNVk", True)]
