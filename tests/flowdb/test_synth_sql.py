"""The sql generator: counts, two-line calls, home regions, relocation and the disaster."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from flowdb.synth import SynthError, SynthParams, generate
from flowdb.synth.geography import ensure_geography
from flowdb.testing import database_of

DAYS = [date(2016, 1, 1) + timedelta(days=offset) for offset in range(5)]

BASE = {
    "n_days": 3,
    "n_subscribers": 300,
    "n_cells": 80,
    "n_sites": 60,
    "n_tacs": 20,
    "n_calls": 3_000,
    "n_sms": 2_000,
    "n_mds": 1_000,
    "geography": "grid",
}

# Share of a day's events at a cell of the party's home region on that day.
HOME_SHARE = """
SELECT avg((e.cell_no = ANY (n.cells))::int)::float8, count(*)
FROM (
    SELECT msisdn, datetime::date AS day, substr(location_id, 2)::int AS cell_no
    FROM events.{table}
) AS e
JOIN synth.subscribers AS s ON s.msisdn = e.msisdn
JOIN synth.homes AS h ON h.sub_no = s.sub_no AND h.day = e.day
JOIN synth.neighbourhoods AS n ON n.cell_no = h.cell_no
"""

# Expected share: home-region events plus out-of-area events that land in the region anyway.
EXPECTED_HOME_SHARE = """
SELECT avg(cardinality(n.cells))::float8 / (SELECT count(*) FROM synth.cells)
FROM synth.homes AS h JOIN synth.neighbourhoods AS n USING (cell_no)
"""


# The tables of a partition tree that contain rows, with whether they have statistics: their
# own for a partition, inherited ones for a parent.
ANALYSED = """
SELECT t.relid::regclass::text, EXISTS (
    SELECT 1 FROM pg_stats AS s
    WHERE s.schemaname || '.' || s.tablename = t.relid::regclass::text
        AND s.inherited = NOT t.isleaf
)
FROM pg_partition_tree(%s::regclass) AS t
WHERE EXISTS (
    SELECT 1 FROM pg_partition_tree(t.relid) AS leaf
    JOIN pg_class AS c ON c.oid = leaf.relid
    WHERE leaf.isleaf AND c.relpages > 0
)
"""


def _one(conn: psycopg.Connection, query: str, *params: object):
    return conn.execute(query, params).fetchone()


def test_counts_match_parameters(fresh_dsn) -> None:
    report = generate(fresh_dsn, SynthParams(**BASE))
    assert report.rows == {"calls": 2 * 3_000 * 3, "sms": 2 * 2_000 * 3, "mds": 1_000 * 3}
    with psycopg.connect(fresh_dsn) as conn:
        for table, per_day in (("calls", 6_000), ("sms", 4_000), ("mds", 1_000)):
            for day in DAYS[:3]:
                partition = f"events.{table}_{day:%Y%m%d}"
                assert _one(conn, f"SELECT count(*) FROM {partition}") == (per_day,), partition
        assert _one(conn, "SELECT count(*) FROM infrastructure.cells") == (80,)
        assert _one(conn, "SELECT count(*) FROM infrastructure.sites") == (60,)
        assert _one(conn, "SELECT count(*) FROM infrastructure.tacs") == (20,)
        assert _one(conn, "SELECT count(DISTINCT msisdn) FROM events.mds")[0] <= 300
        available = conn.execute(
            "SELECT cdr_type, count(*) FROM etl.available_dates GROUP BY 1 ORDER BY 1"
        ).fetchall()
        added_rows = conn.execute(
            "SELECT cdr_type, cdr_date, outcome FROM etl.deduped_post_etl_queries "
            "WHERE type_of_query_or_check = 'count_added_rows' AND cdr_date = %s "
            "ORDER BY cdr_type",
            (DAYS[0],),
        ).fetchall()
    assert available == [("calls", 3), ("mds", 3), ("sms", 3)]
    assert added_rows == [
        ("calls", DAYS[0], "6000"),
        ("mds", DAYS[0], "1000"),
        ("sms", DAYS[0], "4000"),
    ]


def test_partitions_and_parents_analysed(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        calls = conn.execute(ANALYSED, ("events.calls",)).fetchall()
        hour_counts = conn.execute(ANALYSED, ("events.subscriber_cell_hours",)).fetchall()
    assert len(calls) == 1 + 3
    # The parent, one sub-parent per generated event type, and their 3 days each.
    assert len(hour_counts) == 1 + 3 + 3 * 3
    for name, analysed in calls + hour_counts:
        assert analysed, name


@pytest.mark.parametrize("table", ["calls", "sms"])
def test_calls_and_sms_are_two_line(fresh_dsn, table) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        odd = _one(
            conn,
            f"""
            SELECT count(*) FROM (
                SELECT id FROM events.{table} GROUP BY id
                HAVING count(*) <> 2 OR bool_and(outgoing) = bool_or(outgoing)
                    OR count(DISTINCT datetime) <> 1
            ) AS ids
            """,
        )
        swapped = _one(
            conn,
            f"""
            SELECT count(*) FROM events.{table} AS a
            JOIN events.{table} AS b ON b.id = a.id AND a.outgoing AND NOT b.outgoing
            WHERE a.msisdn = b.msisdn_counterpart AND a.msisdn_counterpart = b.msisdn
                AND a.msisdn <> a.msisdn_counterpart
            """,
        )
        ids = _one(conn, f"SELECT count(DISTINCT id) FROM events.{table}")
    calls_per_day = BASE["n_calls"] if table == "calls" else BASE["n_sms"]
    assert odd == (0,)
    assert swapped == (calls_per_day * 3,)
    assert ids == (calls_per_day * 3,)


def test_subscribers_keep_one_handset(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        changing = _one(
            conn,
            """
            SELECT count(*) FROM (
                SELECT msisdn FROM (
                    SELECT msisdn, tac, imei FROM events.calls
                    UNION ALL SELECT msisdn, tac, imei FROM events.mds
                ) AS e
                GROUP BY msisdn HAVING count(DISTINCT (tac, imei)) > 1
            ) AS m
            """,
        )
        unknown_tacs = _one(
            conn,
            "SELECT count(*) FROM events.calls AS e WHERE NOT EXISTS "
            "(SELECT 1 FROM infrastructure.tacs AS t WHERE t.id = e.tac)",
        )
    assert changing == (0,)
    assert unknown_tacs == (0,)


def test_home_region_share(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**{**BASE, "n_calls": 10_000, "p_relocate": 0.0}))
    with psycopg.connect(fresh_dsn) as conn:
        region_share = _one(conn, EXPECTED_HOME_SHARE)[0]
        expected = 0.95 + 0.05 * region_share
        for table in ("calls", "sms", "mds"):
            share, events = _one(conn, HOME_SHARE.format(table=table))
            # Binomial standard deviation is under 0.005 at these counts; allow four of them.
            assert abs(share - expected) < 0.02, (table, share, expected, events)


def test_every_event_uses_a_cell_in_service(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        for table in ("calls", "sms", "mds"):
            unlocated = _one(
                conn,
                f"""
                SELECT count(*) FROM events.{table} AS e
                WHERE NOT EXISTS (
                    SELECT 1 FROM infrastructure.cells AS c
                    WHERE c.id = e.location_id AND c.date_of_first_service <= e.datetime::date
                )
                """,
            )
            assert unlocated == (0,), table


def test_relocation_moves_homes_and_events(fresh_dsn) -> None:
    params = SynthParams(**{**BASE, "n_days": 5, "n_subscribers": 1_000, "p_relocate": 0.2})
    generate(fresh_dsn, params)
    with psycopg.connect(fresh_dsn) as conn:
        moves = conn.execute(
            """
            SELECT h.day, count(*) FILTER (WHERE h.cell_no <> p.cell_no)
            FROM synth.homes AS h
            JOIN synth.homes AS p ON p.sub_no = h.sub_no AND p.day = h.day - 1
            GROUP BY h.day ORDER BY h.day
            """
        ).fetchall()
        region_share = _one(conn, EXPECTED_HOME_SHARE)[0]
        share, _ = _one(conn, HOME_SHARE.format(table="calls"))
    assert [day for day, _ in moves] == DAYS[1:5]
    for day, moved in moves:
        # 1,000 subscribers at 0.2: mean 200, standard deviation about 13; a move to the same
        # cell (1 in 80) does not count.
        assert 140 <= moved <= 260, (day, moved)
    # Events follow the day's home, not the first day's.
    assert abs(share - (0.95 + 0.05 * region_share)) < 0.02


def test_disaster_region_is_empty_during_window(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        ensure_geography(conn, "grid")
    region = "G2-1-1"
    sizes = {"n_days": 5, "n_subscribers": 1_000, "n_cells": 320, "n_sites": 320}
    params = SynthParams(
        # The grid is already installed, so the generator uses the loaded boundaries.
        **{**BASE, **sizes, "geography": "auto"},
        disaster_region=region,
        disaster_start=DAYS[2],
        disaster_end=DAYS[3],
    )
    generate(fresh_dsn, params)
    in_region = """
        SELECT e.datetime::date, count(*)
        FROM events.{table} AS e
        JOIN infrastructure.cells AS c ON c.id = e.location_id
        JOIN geography.admin2 AS a ON ST_Within(c.geom_point, a.geom)
        WHERE a.admin2pcod = %s
        GROUP BY 1
    """
    homes_in_region = """
        SELECT h.day, count(*)
        FROM synth.homes AS h JOIN synth.cells AS c USING (cell_no)
        WHERE c.off_limits
        GROUP BY 1
    """
    with psycopg.connect(fresh_dsn) as conn:
        region_cells = _one(conn, "SELECT count(*) FROM synth.cells WHERE off_limits")[0]
        homes = dict(conn.execute(homes_in_region).fetchall())
        for table in ("calls", "sms", "mds"):
            events = dict(conn.execute(in_region.format(table=table), (region,)).fetchall())
            assert events.get(DAYS[0], 0) > 0, table
            assert events.get(DAYS[2], 0) == 0, table
            assert events.get(DAYS[3], 0) == 0, table
            # Afterwards the region's cells are reachable again (out-of-area events).
            assert events.get(DAYS[4], 0) > 0, table
    assert region_cells > 0
    assert homes.get(DAYS[1], 0) > 0
    assert DAYS[2] not in homes
    assert DAYS[3] not in homes


def test_unknown_disaster_region_is_rejected(fresh_dsn) -> None:
    params = SynthParams(
        **BASE, disaster_region="NOWHERE", disaster_start=DAYS[0], disaster_end=DAYS[1]
    )
    with pytest.raises(SynthError, match="disaster_region 'NOWHERE' is not an admin2 p-code"):
        generate(fresh_dsn, params)
    with psycopg.connect(fresh_dsn) as conn:
        assert _one(conn, "SELECT count(*) FROM infrastructure.cells") == (0,)


def test_database_without_schema_is_rejected(flowdb_server) -> None:
    dsn = flowdb_server.create_database()
    try:
        with pytest.raises(SynthError, match="run `flowcore db migrate` on it first"):
            generate(dsn, SynthParams(**{**BASE, "n_days": 1}))
    finally:
        flowdb_server.drop_database(database_of(dsn))


def test_database_with_events_is_rejected(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**{**BASE, "n_days": 1}))
    with pytest.raises(SynthError, match="infrastructure.cells already holds 80 rows"):
        generate(fresh_dsn, SynthParams(**{**BASE, "n_days": 1}))


def test_failed_day_leaves_nothing_behind(fresh_dsn, monkeypatch) -> None:
    from flowdb.synth import sql as sql_generator

    original = sql_generator.fill_sql_day

    def fail_on_sms(params, conn, table):
        if table.event_type == "sms" and table.day == DAYS[1]:
            conn.execute("SELECT 1 / 0")
        return original(params, conn, table)

    monkeypatch.setattr(sql_generator, "fill_sql_day", fail_on_sms)
    with pytest.raises(SynthError, match="generating events.sms_20160102 failed"):
        generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        leftovers = conn.execute(
            "SELECT relname FROM pg_class JOIN pg_namespace AS n ON n.oid = relnamespace "
            "WHERE n.nspname = 'events' AND relkind = 'r'"
        ).fetchall()
        counts = _one(
            conn,
            "SELECT (SELECT count(*) FROM events.subscriber_cell_hours) "
            "+ (SELECT count(*) FROM events.subscriber_cell_days)",
        )
        cells = _one(conn, "SELECT count(*) FROM infrastructure.cells")
        dates = _one(conn, "SELECT count(*) FROM etl.available_dates")
        checks = _one(conn, "SELECT count(*) FROM etl.post_etl_queries")
    assert leftovers == []
    assert counts == (0,)
    assert cells == (0,)
    assert dates == (0,)
    assert checks == (0,)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_days": 0}, "n_days is 0; it must be at least 1"),
        ({"p_relocate": 1.5}, "p_relocate is 1.5; it must be between 0 and 1"),
        ({"generator": "java"}, "generator is 'java'; allowed: sql, python"),
        ({"disaster_region": "NP101"}, "disaster_start or disaster_end is missing"),
        ({"disaster_start": DAYS[1]}, "disaster_region is missing"),
        ({"disaster_end": DAYS[1]}, "disaster_region is missing"),
        (
            {"disaster_region": "NP101", "disaster_start": DAYS[2], "disaster_end": DAYS[1]},
            "disaster_end 2016-01-02 is before disaster_start 2016-01-03",
        ),
    ],
)
def test_invalid_parameters_are_rejected(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        SynthParams(**values)


def test_environment_variables_set_parameters() -> None:
    params = SynthParams.from_env(
        {
            "N_DAYS": "2",
            "N_CALLS": "1_000",
            "P_RELOCATE": "0.05",
            "DISASTER_REGION_PCOD": "NP101",
            "DISASTER_START": "2016-01-02",
            "DISASTER_END": "2016-01-02",
        },
        n_cells=7,
    )
    assert (params.n_days, params.n_calls, params.p_relocate) == (2, 1_000, 0.05)
    assert params.disaster_start == date(2016, 1, 2)
    assert params.n_cells == 7
    with pytest.raises(ValueError, match="N_SUBSCRIBERS='many' is invalid"):
        SynthParams.from_env({"N_SUBSCRIBERS": "many"})


def test_event_times_follow_event_numbers(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        for table in ("calls", "sms", "mds"):
            # Ids are '<type letter><YYYYMMDD>-<event number>'.
            backwards, first, last = _one(
                conn,
                f"""
                SELECT count(*) FILTER (WHERE datetime < previous), min(datetime)::time,
                    max(datetime)::time
                FROM (
                    SELECT datetime, lag(datetime) OVER (
                        PARTITION BY datetime::date
                        ORDER BY split_part(id, '-', 2)::int
                    ) AS previous
                    FROM events.{table}
                ) AS ordered
                """,
            )
            assert backwards == 0, table
            # Spread over the whole day: each slice is under two minutes wide here.
            assert first.hour == 0, (table, first)
            assert last.hour == 23, (table, last)


def test_quality_checks_match_generated_rows(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**BASE))
    with psycopg.connect(fresh_dsn) as conn:
        for table in ("calls", "sms", "mds"):
            for day in DAYS[:3]:
                partition = f"events.{table}_{day:%Y%m%d}"
                expected = _one(
                    conn,
                    f"SELECT count(DISTINCT msisdn)::text, count(DISTINCT location_id)::text, "
                    f"count(DISTINCT imei)::text FROM {partition}",
                )
                recorded = dict(
                    conn.execute(
                        "SELECT type_of_query_or_check, outcome FROM etl.deduped_post_etl_queries "
                        "WHERE cdr_type = %s AND cdr_date = %s",
                        (table, day),
                    ).fetchall()
                )
                names = ("count_msisdns", "count_location_ids", "count_imeis")
                assert tuple(recorded[name] for name in names) == expected, partition
