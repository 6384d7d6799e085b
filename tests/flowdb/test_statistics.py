"""Planner statistics of the partitioned parents: refreshed on first load, then by share."""

from __future__ import annotations

import math

import psycopg

from flowdb.statistics import REFRESH_SHARE, refresh_parent_statistics, stale_parents


def _has_inherited_statistics(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_stats "
        "WHERE schemaname = 'events' AND tablename = %s AND inherited)",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def test_loader_analyses_parents(testdata_dsn: str) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        for table in ("calls", "sms", "mds", "subscriber_cell_hours", "subscriber_cell_days"):
            assert _has_inherited_statistics(conn, table), table


def test_parent_without_statistics_is_stale(fresh_dsn: str) -> None:
    with psycopg.connect(fresh_dsn) as conn:
        assert stale_parents(conn, {"events.calls": 1}) == ["events.calls"]
        assert stale_parents(conn, {"events.calls": 0}) == []


def test_parent_stale_from_share_of_days(testdata_dsn: str) -> None:
    with psycopg.connect(testdata_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_partition_tree('events.subscriber_cell_hours') WHERE isleaf"
        ).fetchone()
        assert row is not None
        leaves = int(row[0])
        assert leaves >= 20
        below = math.ceil(leaves * REFRESH_SHARE) - 1
        assert stale_parents(conn, {"events.subscriber_cell_hours": below}) == []
        assert stale_parents(conn, {"events.subscriber_cell_hours": below + 1}) == [
            "events.subscriber_cell_hours"
        ]


def test_every_analyses_fresh_parents(testdata_dsn: str) -> None:
    added = {"events.subscriber_cell_days": 1}

    assert refresh_parent_statistics(testdata_dsn, added) == []
    assert refresh_parent_statistics(testdata_dsn, added, every=True) == [
        "events.subscriber_cell_days"
    ]
