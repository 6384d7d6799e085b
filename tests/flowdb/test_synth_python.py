"""The python generator: byte-identical tables for the same seeds, FlowKit's call layout."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from flowdb.synth import SynthParams, generate

SMALL = {
    "generator": "python",
    "n_days": 3,
    "n_subscribers": 200,
    "n_cells": 40,
    "n_calls": 1_500,
    "geography": "grid",
}

# Each table's rows in physical order, partition by partition: equal digests mean equal bytes
# as far as SQL can see them.
_DIGEST = "SELECT md5(string_agg(t::text, E'\\n' ORDER BY {order})) FROM {table} AS t"
CHECKSUMS = {
    "calls": _DIGEST.format(order="t.tableoid::regclass::text, t.ctid", table="events.calls"),
    "cells": _DIGEST.format(order="t.ctid", table="infrastructure.cells"),
    "sites": _DIGEST.format(order="t.ctid", table="infrastructure.sites"),
}


def _checksums(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {name: conn.execute(query).fetchone()[0] for name, query in CHECKSUMS.items()}


@pytest.fixture
def second_dsn(flowdb_server, flowdb_template):
    """DSN of a second fresh database, for comparing two runs."""
    dsn = flowdb_server.create_database(flowdb_template)
    try:
        yield dsn
    finally:
        flowdb_server.drop_database(dsn.rsplit("/", 1)[1])


def test_same_seeds_give_identical_tables(fresh_dsn, second_dsn) -> None:
    generate(fresh_dsn, SynthParams(**SMALL))
    generate(second_dsn, SynthParams(**SMALL))
    first, second = _checksums(fresh_dsn), _checksums(second_dsn)
    assert all(first.values())
    assert first == second


def test_other_calls_seed_changes_calls_only(fresh_dsn, second_dsn) -> None:
    generate(fresh_dsn, SynthParams(**SMALL))
    generate(second_dsn, SynthParams(**SMALL, calls_seed=5))
    first, second = _checksums(fresh_dsn), _checksums(second_dsn)
    assert first["calls"] != second["calls"]
    assert first["cells"] == second["cells"]


def test_calls_are_two_line_and_counted(fresh_dsn) -> None:
    report = generate(fresh_dsn, SynthParams(**SMALL))
    assert report.rows == {"calls": 2 * 1_500 * 3}
    with psycopg.connect(fresh_dsn) as conn:
        per_day = conn.execute(
            "SELECT datetime::date, count(*) FROM events.calls GROUP BY 1 ORDER BY 1"
        ).fetchall()
        unpaired = conn.execute(
            """
            SELECT count(*) FROM (
                SELECT id FROM events.calls GROUP BY id
                HAVING count(*) <> 2 OR bool_and(outgoing) = bool_or(outgoing)
                    OR count(DISTINCT datetime) <> 1 OR count(DISTINCT duration) <> 1
            ) AS odd
            """
        ).fetchone()
        swapped = conn.execute(
            """
            SELECT count(*) FROM events.calls AS a
            JOIN events.calls AS b ON b.id = a.id AND a.outgoing AND NOT b.outgoing
            WHERE a.msisdn = b.msisdn_counterpart AND a.msisdn_counterpart = b.msisdn
                AND a.msisdn <> a.msisdn_counterpart
            """
        ).fetchone()
        durations = conn.execute("SELECT min(duration), max(duration) FROM events.calls").fetchone()
    assert per_day == [(date(2016, 1, day), 3_000) for day in (1, 2, 3)]
    assert unpaired == (0,)
    assert swapped == (1_500 * 3,)
    assert durations[0] >= 0
    assert durations[1] <= 2_600


def test_cells_lie_in_regions_and_days_available(fresh_dsn) -> None:
    generate(fresh_dsn, SynthParams(**SMALL))
    with psycopg.connect(fresh_dsn) as conn:
        outside = conn.execute(
            """
            SELECT count(*) FROM infrastructure.cells AS c
            WHERE NOT EXISTS (
                SELECT 1 FROM geography.admin3 AS a WHERE ST_Within(c.geom_point, a.geom)
            )
            """
        ).fetchone()
        cells = conn.execute(
            "SELECT count(*), count(DISTINCT id), min(length(id)), max(length(id)), "
            "min(version), max(version) FROM infrastructure.cells"
        ).fetchone()
        unknown_cells = conn.execute(
            "SELECT count(*) FROM events.calls AS e "
            "WHERE NOT EXISTS (SELECT 1 FROM infrastructure.cells AS c WHERE c.id = e.location_id)"
        ).fetchone()
        dates = conn.execute(
            "SELECT cdr_type, cdr_date FROM etl.available_dates ORDER BY 2"
        ).fetchall()
    assert outside == (0,)
    assert cells[:4] == (40, 40, 8, 8)
    assert cells[4] >= 0
    assert cells[5] <= 2
    assert unknown_cells == (0,)
    assert dates == [("calls", date(2016, 1, day)) for day in (1, 2, 3)]
