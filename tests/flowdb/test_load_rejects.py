"""Loading small hand-made files: rejected rows, replaced days and tables, nothing half-loaded."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest

from flowdb.loader import LoadError, load_directory

CALLS_HEADER = "start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,duration,tac"


def _calls_row(time: str, msisdn: str = "AAAAAAAAAAAAAAAA", outgoing: str = "True") -> str:
    return f"{time},BBBBBBBBBBBBBBBB,call-1,{msisdn},JxDglNVk,{outgoing},60.0,92380772.0"


def _write(folder: Path, relative: str, lines: list[str]) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _partition_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"events.{name}",)).fetchone()
    return row is not None and row[0] is not None


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _good_calls(count: int) -> list[str]:
    return [CALLS_HEADER] + [
        _calls_row(f"2016-01-03 10:00:{second:02d}") for second in range(count)
    ]


def test_bad_rows_reported_with_line_numbers(fresh_dsn, tmp_path) -> None:
    lines = [
        CALLS_HEADER,
        _calls_row("2016-01-03 00:00:01"),  # line 2: good
        _calls_row("2016-01-03 25:61:00"),  # line 3: invalid time
        _calls_row("2016-01-03 09:00:00", msisdn=""),  # line 4: msisdn missing
        _calls_row("2016-01-04 00:00:01"),  # line 5: next day
        _calls_row("2016-01-03 09:00:00") + ",surplus",  # line 6: extra field
        _calls_row("2016-01-03 09:00:00", outgoing="maybe"),  # line 7: not a boolean
        _calls_row("2016-01-03 23:59:59"),  # line 8: good
    ]
    _write(tmp_path, "records/calls/calls_20160103.csv", lines)

    report = load_directory(fresh_dsn, tmp_path)

    assert len(report.rejected) == 1
    rejected = report.rejected[0]
    assert rejected.path.name == "calls_20160103.csv"
    assert [str(error) for error in rejected.errors] == [
        "line 3: start_time '2016-01-03 25:61:00' is not a valid timestamp "
        "(YYYY-MM-DD HH:MM:SS, UTC unless an offset is given)",
        "line 4: msisdn is missing",
        "line 5: start_time '2016-01-04 00:00:01' is outside the file's day 2016-01-03",
        "line 6: has 9 fields, expected 8 (one per column of the header)",
        "line 7: outgoing 'maybe' is not a boolean (True or False)",
    ]
    assert rejected.messages()[2] == (
        "calls_20160103.csv line 5: start_time '2016-01-04 00:00:01' is outside the file's day "
        "2016-01-03"
    )
    assert report.table_rows == {}
    assert not _partition_exists(fresh_dsn, "calls_20160103")
    with psycopg.connect(fresh_dsn) as conn:
        records = conn.execute("SELECT count(*) FROM etl.etl_records").fetchone()
    assert records == (0,)


def test_bad_file_keeps_other_files_loading(fresh_dsn, tmp_path) -> None:
    _write(tmp_path, "records/calls/calls_20160103.csv", [CALLS_HEADER, _calls_row("bad")])
    _write(
        tmp_path,
        "records/calls/calls_20160104.csv",
        [CALLS_HEADER, _calls_row("2016-01-04 08:00:00")],
    )

    report = load_directory(fresh_dsn, tmp_path)

    assert [rejected.path.name for rejected in report.rejected] == ["calls_20160103.csv"]
    assert report.day_rows["calls"] == {date(2016, 1, 4): 1}
    assert _partition_exists(fresh_dsn, "calls_20160104")
    assert not _partition_exists(fresh_dsn, "calls_20160103")


def test_bad_reload_keeps_previous_day(fresh_dsn, tmp_path) -> None:
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    _write(good, "records/calls/calls_20160103.csv", _good_calls(5))
    _write(
        bad, "records/calls/calls_20160103.csv", [CALLS_HEADER, _calls_row("2016-01-05 00:00:00")]
    )

    assert load_directory(fresh_dsn, good).ok
    report = load_directory(fresh_dsn, bad)

    assert not report.ok
    assert _count(fresh_dsn, "events.calls_20160103") == 5


def test_reload_replaces_day(fresh_dsn, tmp_path) -> None:
    _write(tmp_path, "records/calls/calls_20160103.csv", _good_calls(5))

    first = load_directory(fresh_dsn, tmp_path)
    second = load_directory(fresh_dsn, tmp_path)

    assert first.day_rows["calls"] == {date(2016, 1, 3): 5}
    assert second.day_rows["calls"] == {date(2016, 1, 3): 5}
    assert _count(fresh_dsn, "events.calls") == 5
    with psycopg.connect(fresh_dsn) as conn:
        states = conn.execute(
            "SELECT state FROM etl.etl_records WHERE cdr_type = 'calls' AND cdr_date = '2016-01-03'"
        ).fetchall()
        available = conn.execute("SELECT cdr_type, cdr_date FROM etl.available_dates").fetchall()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'calls_20160103' ORDER BY 1"
        ).fetchall()
    assert states == [("ingested",), ("ingested",)]
    assert available == [("calls", date(2016, 1, 3))]
    assert [name for (name,) in indexes] == [
        "calls_20160103_datetime_idx",
        "calls_20160103_location_id_idx",
        "calls_20160103_msisdn_counterpart_idx",
        "calls_20160103_msisdn_idx",
        "calls_20160103_tac_idx",
    ]


def test_reload_with_fewer_rows_shrinks_day(fresh_dsn, tmp_path) -> None:
    _write(tmp_path / "a", "records/calls/calls_20160103.csv", _good_calls(6))
    _write(tmp_path / "b", "records/calls/calls_20160103.csv", _good_calls(2))

    load_directory(fresh_dsn, tmp_path / "a")
    load_directory(fresh_dsn, tmp_path / "b")

    assert _count(fresh_dsn, "events.calls") == 2


def test_gzipped_day_file_loads(fresh_dsn, tmp_path) -> None:
    path = tmp_path / "records" / "sms" / "sms_20160102.csv.gz"
    path.parent.mkdir(parents=True)
    rows = ["start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,tac"] + [
        f"2016-01-02 12:00:0{second},B,sms-{second},A,JxDglNVk,True,1" for second in range(3)
    ]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))

    report = load_directory(fresh_dsn, tmp_path)

    assert report.ok
    assert _count(fresh_dsn, "events.sms_20160102") == 3


def test_two_files_of_one_day_rejected(fresh_dsn, tmp_path) -> None:
    _write(tmp_path, "records/calls/calls_20160103.csv", _good_calls(3))
    packed = tmp_path / "records" / "calls" / "calls_20160103.csv.gz"
    packed.write_bytes(gzip.compress(("\n".join(_good_calls(5)) + "\n").encode()))
    _write(tmp_path, "records/calls/calls_20160104.csv", [CALLS_HEADER])

    report = load_directory(fresh_dsn, tmp_path)

    assert sorted(rejected.path.name for rejected in report.rejected) == [
        "calls_20160103.csv",
        "calls_20160103.csv.gz",
    ]
    message = report.rejected[0].errors[0].message
    assert message == (
        "calls_20160103.csv, calls_20160103.csv.gz hold calls of 2016-01-03; keep one file per day"
    )
    assert not _partition_exists(fresh_dsn, "calls_20160103")
    assert _partition_exists(fresh_dsn, "calls_20160104")


def test_header_only_file_loads_empty_day(fresh_dsn, tmp_path) -> None:
    _write(tmp_path, "records/calls/calls_20160103.csv", [CALLS_HEADER])

    report = load_directory(fresh_dsn, tmp_path)

    assert report.ok
    assert _partition_exists(fresh_dsn, "calls_20160103")
    assert _count(fresh_dsn, "events.calls_20160103") == 0


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "start_time,msisdn,location_id,colour",
            "line 1: column 'colour' is unknown; allowed: ",
        ),
        ("start_time,location_id", "line 1: required column 'msisdn' is missing from the header"),
        (
            "msisdn,location_id",
            "line 1: required column 'datetime' or 'start_time' is missing from the header",
        ),
    ],
)
def test_bad_header_rejected(fresh_dsn, tmp_path, header, message) -> None:
    _write(tmp_path, "records/calls/calls_20160103.csv", [header])

    report = load_directory(fresh_dsn, tmp_path)

    assert len(report.rejected) == 1
    assert str(report.rejected[0].errors[0]).startswith(message)


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("records/calls/calls_2016-01-03.csv", "file name 'calls_2016-01-03.csv' is invalid"),
        ("records/calls/calls_20161303.csv", "contains an invalid date '20161303'"),
        ("records/calls/calls_20160103.CSV", "file name 'calls_20160103.CSV' is invalid"),
        ("records/forwards/forwards_20160103.csv", "folder records/forwards is not an event type"),
    ],
)
def test_misnamed_file_rejected(fresh_dsn, tmp_path, relative, message) -> None:
    _write(tmp_path, relative, _good_calls(1))

    report = load_directory(fresh_dsn, tmp_path)

    assert len(report.rejected) == 1
    assert message in str(report.rejected[0].errors[0])


def test_topups_use_singular_file_prefix(fresh_dsn, tmp_path) -> None:
    header = "id,msisdn,tac,datetime,location_id,recharge_amount"
    _write(
        tmp_path, "records/topups/topup_20160101.csv", [header, "t1,A,1,2016-01-01 01:00:00,c,5"]
    )

    report = load_directory(fresh_dsn, tmp_path)

    assert report.ok
    assert report.day_rows["topups"] == {date(2016, 1, 1): 1}


def test_missing_folder_raises(fresh_dsn, tmp_path) -> None:
    with pytest.raises(LoadError, match="is not a folder"):
        load_directory(fresh_dsn, tmp_path / "absent")


def test_folder_without_data_raises(fresh_dsn, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(LoadError, match="contains no loadable data"):
        load_directory(fresh_dsn, tmp_path)


CELLS_HEADER = "id,site_id,version,longitude,latitude,date_of_first_service,date_of_last_service"


def test_overlapping_cell_versions_rejected(fresh_dsn, tmp_path, testdata_path) -> None:
    shutil.copy(testdata_path / "infrastructure" / "cells.csv", tmp_path / "cells.csv")
    infrastructure = tmp_path / "dataset" / "infrastructure"
    infrastructure.mkdir(parents=True)
    shutil.copy(tmp_path / "cells.csv", infrastructure / "cells.csv")
    assert load_directory(fresh_dsn, tmp_path / "dataset").ok

    _write(
        tmp_path / "bad",
        "infrastructure/cells.csv",
        [
            CELLS_HEADER,
            "aaaa0001,s1,0,27.1,85.3,2016-01-01,2016-01-05",
            "aaaa0001,s1,1,27.2,85.4,2016-01-05,",
            "aaaa0002,s1,0,27.1,85.3,2016-01-01,",
            "aaaa0002,s1,0,27.1,85.3,2016-01-01,",
            "aaaa0003,s1,0,95.0,85.3,2016-01-01,",
            "aaaa0004,s1,0,27.0,85.0,2016-01-09,2016-01-02",
        ],
    )
    report = load_directory(fresh_dsn, tmp_path / "bad")

    assert [str(error) for error in report.rejected[0].errors] == [
        "line 3: cell 'aaaa0001' version 1 is in service on dates that overlap the version on "
        "line 2",
        "line 5: cell 'aaaa0002' version 0 repeats line 4",
        "line 6: latitude 95.0 is outside -90 to 90",
        "line 7: date_of_first_service 2016-01-09 is after date_of_last_service 2016-01-02",
    ]
    # The earlier cells stay in place.
    assert _count(fresh_dsn, "infrastructure.cells") == 62


def test_database_rejects_overlapping_versions(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute(
            "INSERT INTO infrastructure.cells (id, version, date_of_first_service, "
            "date_of_last_service) VALUES ('c', 0, '2016-01-01', '2016-01-05')"
        )
        # Inclusive bounds: a version starting on the previous one's last day overlaps it.
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute(
                "INSERT INTO infrastructure.cells (id, version, date_of_first_service) "
                "VALUES ('c', 1, '2016-01-05')"
            )
        conn.rollback()
        conn.execute(
            "INSERT INTO infrastructure.cells (id, version, date_of_first_service, "
            "date_of_last_service) VALUES ('c', 0, '2016-01-01', '2016-01-05')"
        )
        conn.execute(
            "INSERT INTO infrastructure.cells (id, version, date_of_first_service) "
            "VALUES ('c', 1, '2016-01-06')"
        )
        count = conn.execute("SELECT count(*) FROM infrastructure.cells").fetchone()
    assert count == (2,)


def test_reload_cells_replaces_rows(fresh_dsn, tmp_path) -> None:
    _write(tmp_path / "a", "infrastructure/cells.csv", [CELLS_HEADER, "c1,s,0,27,85,2016-01-01,"])
    _write(
        tmp_path / "b",
        "infrastructure/cells.csv",
        [CELLS_HEADER, "c2,s,0,27,85,2016-01-01,", "c3,s,0,27,85,2016-01-01,"],
    )

    load_directory(fresh_dsn, tmp_path / "a")
    load_directory(fresh_dsn, tmp_path / "b")

    with psycopg.connect(fresh_dsn) as conn:
        rows = conn.execute("SELECT cell_id, id FROM infrastructure.cells ORDER BY 1").fetchall()
    assert rows == [(1, "c2"), (2, "c3")]


def test_cell_with_bad_date_rejected(fresh_dsn, tmp_path) -> None:
    _write(tmp_path, "infrastructure/cells.csv", [CELLS_HEADER, "c1,s,0,27,85,2016-02-30,"])

    report = load_directory(fresh_dsn, tmp_path)

    assert [str(error) for error in report.rejected[0].errors] == [
        "line 2: date_of_first_service '2016-02-30' is not a valid date (YYYY-MM-DD)"
    ]


def _layer(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


SQUARE = {"type": "Polygon", "coordinates": [[[85, 27], [86, 27], [86, 28], [85, 28], [85, 27]]]}


def test_geography_layer_loads_polygon_as_multipolygon(fresh_dsn, tmp_path) -> None:
    feature = {"type": "Feature", "properties": {"admin0pcod": "NP", "admin0name": "Nepal"}}
    (tmp_path / "geography").mkdir()
    (tmp_path / "geography" / "admin0.geojson").write_text(
        json.dumps(_layer([feature | {"geometry": SQUARE}]))
    )

    report = load_directory(fresh_dsn, tmp_path)

    assert report.table_rows == {"geography.admin0": 1}
    with psycopg.connect(fresh_dsn) as conn:
        row = conn.execute(
            "SELECT admin0pcod, admin0name, ST_GeometryType(geom), ST_Area(geom) "
            "FROM geography.admin0"
        ).fetchone()
    assert row == ("NP", "Nepal", "ST_MultiPolygon", 1.0)


def test_geography_feature_without_pcode_rejected(fresh_dsn, tmp_path) -> None:
    features = [
        {"type": "Feature", "properties": {"admin1pcod": "P1"}, "geometry": SQUARE},
        {"type": "Feature", "properties": {"admin1name": "no code"}, "geometry": SQUARE},
        {
            "type": "Feature",
            "properties": {"admin1pcod": "P3"},
            "geometry": {"type": "Point", "coordinates": [85, 27]},
        },
    ]
    (tmp_path / "geography").mkdir()
    (tmp_path / "geography" / "admin1.geojson").write_text(json.dumps(_layer(features)))

    report = load_directory(fresh_dsn, tmp_path)

    assert [str(error) for error in report.rejected[0].errors] == [
        "feature 2: property admin1pcod is missing",
        "feature 3: geometry 'Point' is not a (multi)polygon",
    ]
    assert _count(fresh_dsn, "geography.admin1") == 0
