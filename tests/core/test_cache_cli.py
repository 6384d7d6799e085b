"""``flowcore cache ls|clear|shrink`` against a real database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flowcore.cache.postgres import PostgresCacheBackend
from flowcore.cli import main
from flowcore.cli.cache import format_bytes
from flowcore.execution.executor import Executor
from flowcore.execution.plan import BuiltQuery, PlannedQuery
from flowcore.settings import Settings
from flowdb.config import sqlalchemy_url


def series_plan(name: str, rows: int) -> PlannedQuery:
    """A query returning ``value`` 1..rows."""
    return PlannedQuery(
        query_id=hashlib.md5(name.encode()).hexdigest(),
        query_kind="test_series",
        spec={"query_kind": "test_series", "name": name},
        dependencies=(),
        build=lambda: BuiltQuery(sa.select(sa.func.generate_series(1, rows).label("value"))),
    )


@pytest.fixture
def engine(fresh_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """An engine on a fresh database that the command line also uses (through FLOWDB_DSN)."""
    monkeypatch.setenv("FLOWDB_DSN", fresh_dsn)
    monkeypatch.delenv("FLOWCORE_CACHE_BACKEND", raising=False)
    engine = sa.create_engine(sqlalchemy_url(fresh_dsn))
    yield engine
    engine.dispose()


@pytest.fixture
def stored(engine: sa.Engine) -> list[str]:
    """Ids of two stored results, both older than the protected period."""
    executor = Executor(
        engine, PostgresCacheBackend(engine), Settings(max_workers=2, heartbeat_seconds=1)
    )
    executor.start()
    try:
        plans = [series_plan("small", 10), series_plan("large", 20_000)]
        for plan in plans:
            executor.submit(plan)
            assert executor.wait(plan.query_id, timeout=30) == "completed"
    finally:
        executor.stop()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE cache.cached SET created = now() - interval '2 days'"))
    return [plan.query_id for plan in plans]


def cached_count(engine: sa.Engine) -> int:
    """Return how many results are stored."""
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM cache.cached")).scalar_one()


def test_ls_lists_results(stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["cache", "ls"])

    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0] == ["query id", "kind", "state", "size", "created", "accesses", "score"]
    assert sorted(line[0] for line in lines[1:]) == sorted(stored)
    assert {line[1] for line in lines[1:]} == {"test_series"}
    assert {line[2] for line in lines[1:]} == {"completed"}
    assert {line[5] for line in lines[1:]} == {"1"}
    assert "2 results" in result.stderr
    assert "of the 10.0 GiB limit" in result.stderr


def test_shrink_dry_run_changes_nothing(engine: sa.Engine, stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["cache", "shrink", "--size", "0", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert result.output.count("Would evict ") == 3
    assert "Would evict 2 results" in result.output
    assert cached_count(engine) == 2


def test_shrink_evicts(engine: sa.Engine, stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["cache", "shrink", "--size", "0"])

    assert result.exit_code == 0, result.output
    assert "Evicted 2 results" in result.output
    assert cached_count(engine) == 0


def test_shrink_explains_protected_results(engine: sa.Engine, stored: list[str]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE cache.cached SET created = now()"))

    result = CliRunner().invoke(main, ["cache", "shrink", "--size", "0"])

    assert result.exit_code == 0, result.output
    assert "Evicted 0 results" in result.output
    assert "above the 0 B target" in result.output
    assert "within the protected period" in result.output
    assert cached_count(engine) == 2


def test_shrink_to_target_says_nothing_more(engine: sa.Engine, stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["cache", "shrink", "--size", "0"])

    assert result.exit_code == 0, result.output
    assert "Evicted 2 results" in result.output
    assert "protected period" not in result.output


def test_shrink_rejects_negative_size(engine: sa.Engine) -> None:
    result = CliRunner().invoke(main, ["cache", "shrink", "--size", "-1"])

    assert result.exit_code == 2
    assert "--size" in result.output


def test_clear_asks_first(engine: sa.Engine, stored: list[str]) -> None:
    declined = CliRunner().invoke(main, ["cache", "clear"], input="n\n")
    assert declined.exit_code == 1
    assert cached_count(engine) == 2

    result = CliRunner().invoke(main, ["cache", "clear", "--yes"])

    assert result.exit_code == 0, result.output
    assert "Removed 2 stored results." in result.output
    assert cached_count(engine) == 0


def test_missing_cache_tables_reported(
    engine: sa.Engine, fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE cache.cached CASCADE"))

    result = CliRunner().invoke(main, ["cache", "ls"])

    assert result.exit_code == 1
    assert "flowcore db migrate" in result.output
    assert "Traceback" not in result.output


def test_unknown_backend_reported(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCORE_CACHE_BACKEND", "redis")

    result = CliRunner().invoke(main, ["cache", "ls"])

    assert result.exit_code == 1
    assert "cache backend 'redis'" in result.output
    assert "postgresql" in result.output


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (81920, "80.0 KiB"),
        (10 * 1024**3, "10.0 GiB"),
    ],
)
def test_format_bytes(size: int, text: str) -> None:
    assert format_bytes(size) == text
