"""Distinct subscribers and cells counted on a loaded day's counts equal those of its events.

The loader counts ``count_msisdns`` and ``count_location_ids`` on the day's
``events.subscriber_cell_days`` table. The loaded file contains null and empty cells,
case and space variants, composed and decomposed non-ASCII text, and times at both ends of the
day, one of them with an offset.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from flowdb.loader import load_directory

HEADER = "start_time,msisdn_counterpart,id,msisdn,location_id,outgoing,duration,tac\n"

LINES = [
    "2016-01-01 00:00:00,B,1,A,C1,True,10,1",
    "2016-01-01 00:00:00,B,2,a,c1,True,10,1",
    "2016-01-01 05:00:00,B,3,A ,C1 ,True,10,1",
    "2016-01-01 06:00:00,B,4,Ä,Ç1,True,10,1",
    "2016-01-01 06:00:00,B,5,A\u0308,C\u03271,True,10,1",
    "2016-01-01 07:00:00,,6,E,,False,10,1",
    '2016-01-01 08:00:00,,7,F,"",False,10,1',
    "2016-01-02 05:44:59+05:45,,8,G,C9,False,10,1",
    "2016-01-01 23:59:59.999999,,9,H,C10,False,10,1",
]

DISTINCT = "SELECT count(DISTINCT msisdn)::text, count(DISTINCT location_id)::text FROM events.{} "

RECORDED = (
    "SELECT type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries "
    "WHERE cdr_type = %s AND cdr_date = %s::date "
    "AND type_of_query_or_check IN ('count_msisdns', 'count_location_ids')"
)


def test_loaded_day_distinct_counts(fresh_dsn: str, tmp_path: Path) -> None:
    calls = tmp_path / "records" / "calls"
    calls.mkdir(parents=True)
    (calls / "calls_20160101.csv").write_text(
        HEADER + "".join(f"{line}\n" for line in LINES), encoding="utf-8"
    )
    report = load_directory(fresh_dsn, tmp_path)
    assert report.ok, report.rejected

    with psycopg.connect(fresh_dsn) as conn:
        expected = conn.execute(DISTINCT.format("calls_20160101")).fetchone()
        recorded: dict[str, str] = dict(conn.execute(RECORDED, ("calls", "2016-01-01")).fetchall())
    assert expected is not None
    assert int(expected[0]) >= 8
    assert (recorded["count_msisdns"], recorded["count_location_ids"]) == expected
