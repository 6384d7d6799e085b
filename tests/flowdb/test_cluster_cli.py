"""``flowcore db up/status/down/load`` against a local cluster created for this module."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from flowcore.cli import main
from flowdb.cluster import LocalCluster
from flowdb.config import flowcore_home


def _exits_soon(pid: int) -> bool:
    """Return whether a process ends (or is a zombie) within five seconds."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def cluster_home() -> Iterator[Path]:
    """A new cluster folder beside the test cluster, removed with its cluster afterwards."""
    # When the tests run as root, the system user that runs PostgreSQL can reach the test
    # cluster's folder. It cannot reach pytest's tmp_path, whose parent has mode 0700.
    home = flowcore_home() / "test" / f"cli-{os.getpid()}"
    yield home
    LocalCluster(home).remove()


@pytest.fixture
def runner(cluster_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in ("FLOWDB_DSN", "FLOWDB_HOST", "FLOWMACHINE_FLOWDB_USER", "FLOWAPI_FLOWDB_USER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FLOWCORE_HOME", str(cluster_home))
    return CliRunner()


def test_up_down_cycle(runner: CliRunner, cluster_home: Path) -> None:
    first = runner.invoke(main, ["db", "up"])
    assert first.exit_code == 0, first.output
    dsn = first.stdout.strip()
    assert dsn.startswith("postgresql://flowdb:")
    assert "@127.0.0.1:" in dsn

    second = runner.invoke(main, ["db", "up"])
    assert second.exit_code == 0, second.output
    assert "already running" in second.stderr
    assert second.stdout.strip() == dsn

    status = runner.invoke(main, ["db", "status", "--dsn"])
    assert status.exit_code == 0
    assert status.stdout.strip() == dsn
    with psycopg.connect(dsn) as conn:
        tables = conn.execute("SELECT count(*) FROM public.flowcore_migrations").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        cache_size = conn.execute("SELECT cache.cache_max_size()").fetchone()
    assert tables is not None and tables[0] > 0
    assert listen == ("127.0.0.1",)
    # A new cluster's cache may fill a tenth of the free disk; the free space moves a little.
    tenth = shutil.disk_usage(cluster_home).free // 10
    assert cache_size is not None
    assert abs(cache_size[0] - tenth) < max(tenth // 100, 16 * 1024 * 1024)

    pid = LocalCluster(cluster_home).running_pid()
    assert pid is not None
    down = runner.invoke(main, ["db", "down"])
    assert down.exit_code == 0, down.output
    assert "Stopped" in down.stdout
    assert _exits_soon(pid)

    stopped = runner.invoke(main, ["db", "status", "--dsn"])
    assert stopped.exit_code == 1
    assert stopped.stdout == ""
    assert runner.invoke(main, ["db", "down"]).exit_code == 0


def test_secrets_readable_by_owner_only(runner: CliRunner, cluster_home: Path) -> None:
    assert runner.invoke(main, ["db", "up"]).exit_code == 0
    for name in ("dsn", "superuser.password"):
        mode = stat.S_IMODE((cluster_home / name).stat().st_mode)
        assert mode == 0o600, name


def test_password_required_over_tcp(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "up"])
    dsn = result.stdout.strip()
    without_password = dsn.replace(dsn.split("@")[0].split("//")[1], "flowdb")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(without_password, connect_timeout=5)


def test_restart_keeps_data(runner: CliRunner) -> None:
    dsn = runner.invoke(main, ["db", "up"]).stdout.strip()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO etl.etl_records (cdr_type, cdr_date, state) "
            "VALUES ('calls', '2016-01-01', 'ingested')"
        )
    assert runner.invoke(main, ["db", "down"]).exit_code == 0
    dsn = runner.invoke(main, ["db", "up"]).stdout.strip()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT cdr_type FROM etl.available_dates").fetchall()
    assert rows == [("calls",)]


def test_load_command_reports_rejected_file(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["db", "up"]).exit_code == 0
    calls = tmp_path / "records" / "calls"
    calls.mkdir(parents=True)
    (calls / "calls_20160101.csv").write_text(
        "start_time,msisdn,location_id\n2016-01-01 10:00:00,A,c\n2016-01-02 10:00:00,B,c\n"
    )
    (calls / "calls_20160102.csv").write_text(
        "start_time,msisdn,location_id\n2016-01-02 10:00:00,A,c\n"
    )

    result = runner.invoke(main, ["db", "load", str(tmp_path)])

    assert result.exit_code == 1
    assert (
        "calls_20160101.csv line 3: start_time '2016-01-02 10:00:00' is outside the file's day "
        "2016-01-01"
    ) in result.stderr
    assert "events.calls" in result.stdout

    summary = runner.invoke(main, ["db", "summary"])
    assert summary.exit_code == 0
    assert "2016-01-02" in summary.stdout


def test_load_command_missing_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["db", "load", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_up_refuses_when_dsn_configured(runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_DSN", "postgresql://someone@127.0.0.1:1/flowdb")
    result = runner.invoke(main, ["db", "up"])
    assert result.exit_code == 1
    assert "FLOWDB_DSN is set" in result.stderr


def test_unreachable_folder_explained(monkeypatch, tmp_path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands the cluster to another system user")
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    tmp_path.chmod(0o700)
    cluster = LocalCluster(hidden / "home")
    try:
        with pytest.raises(Exception, match="cannot reach"):
            cluster.up()
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
